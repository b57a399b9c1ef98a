"""The Android app's sources against the contracts the host relies on (no Android SDK here).

The app module cannot be compiled on these machines, so what can be checked from its files is:
the benchmark extras `python -m benchmark android` sends are the ones BenchmarkActivity reads,
with the right types; the component `am start` names exists; the manifest asks for no network;
every control of the Compose UI carries an accessibility label; the runtimes are pinned to the
versions of the Python packages that export their model files.
"""

import re
import shlex
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

from benchmark.android import DEFAULT_ACTIVITY, DEFAULT_PACKAGE, AndroidOptions, start_command

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "android_demo" / "app"
SOURCES = APP / "src" / "main" / "kotlin" / "org" / "vizwiz" / "vqa"
ANDROID = "{http://schemas.android.com/apk/res/android}"
CONTROLS = ("Button", "OutlinedButton", "IconButton", "Slider", "OutlinedTextField", "TextField",
            "Switch", "Checkbox")


def _manifest() -> ET.Element:
    return ET.parse(APP / "src" / "main" / "AndroidManifest.xml").getroot()


def test_benchmark_extras_are_the_ones_the_activity_reads():
    argv = start_command(AndroidOptions(), "/b", "/o.json", "/samples", "/p.json")
    extras = {argv[i + 1]: argv[i] for i, a in enumerate(argv) if a in ("--es", "--ei")}
    assert set(extras) == {"bundle", "runs", "warmup", "threads", "out", "samples", "predictions"}
    source = (SOURCES / "BenchmarkActivity.kt").read_text("utf-8")
    for key, kind in extras.items():
        getter = "getString" if kind == "--es" else "getInt"
        assert re.search(rf'{getter}\("{key}"', source), f"no {getter}({key!r}) in the activity"


def test_the_started_component_is_declared():
    build = (APP / "build.gradle.kts").read_text("utf-8")
    assert f'applicationId = "{DEFAULT_PACKAGE}"' in build
    activities = {a.get(f"{ANDROID}name"): a for a in _manifest().iter("activity")}
    benchmark = activities[DEFAULT_ACTIVITY]
    assert benchmark.get(f"{ANDROID}exported") == "true"
    class_file = SOURCES / (DEFAULT_ACTIVITY.lstrip(".") + ".kt")
    assert f"class {DEFAULT_ACTIVITY.lstrip('.')}" in class_file.read_text("utf-8")
    assert shlex.join(start_command(AndroidOptions(), "/b", "/o")).count(
        f"{DEFAULT_PACKAGE}/{DEFAULT_ACTIVITY}") == 1


def test_offline_and_speech_visibility():
    manifest = _manifest()
    permissions = {p.get(f"{ANDROID}name") for p in manifest.iter("uses-permission")}
    assert "android.permission.INTERNET" not in permissions
    assert {"android.permission.CAMERA", "android.permission.RECORD_AUDIO"} <= permissions
    actions = {a.get(f"{ANDROID}name") for q in manifest.iter("queries") for a in q.iter("action")}
    assert "android.speech.RecognitionService" in actions


def _calls(source: str, name: str) -> list[str]:
    """The argument text of every call `name(...)` (balanced parentheses)."""
    calls = []
    for match in re.finditer(rf"(?<![\w.]){name}\(", source):
        depth, i = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(source[i], 0)
            i += 1
        calls.append(source[match.end(): i - 1])
    return calls


def test_every_control_has_an_accessibility_label():
    checked = 0
    for path in sorted((SOURCES / "ui").glob("*.kt")):
        source = path.read_text("utf-8")
        for name in CONTROLS:
            for arguments in _calls(source, name):
                assert "contentDescription" in arguments, f"{path.name}: a {name} has no label"
                checked += 1
        for arguments in _calls(source, "RadioButton"):
            assert "onClick = null" in arguments  # the labelled, selectable row takes the click
    assert checked >= 8


def test_runtimes_match_the_exporting_python_packages():
    catalog = tomllib.loads((ROOT / "android_demo" / "gradle" / "libs.versions.toml").read_text())
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = dict(d.split("==") for d in pyproject["project"]["dependencies"] if "==" in d)
    assert catalog["versions"]["onnxruntime"] == pins["onnxruntime"]
    assert catalog["versions"]["executorch"] == pins["executorch"]
    assert catalog["versions"]["pytorchLite"] == "1.13.1"

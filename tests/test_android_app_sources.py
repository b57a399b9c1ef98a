"""The Android app's sources against the contracts the host relies on (no Android SDK here).

The app module cannot be compiled on these machines, so what can be checked from its files is:
the benchmark extras `python -m benchmark android` sends are the ones BenchmarkActivity reads,
with the right types; the component `am start` names exists; the manifest asks for no network;
every control of the Compose UI carries an accessibility label (text fields a label instead);
the runtimes are pinned to the versions of the Python packages that export their model files;
and the build defects a first review found, each as a check that needs no SDK: no variant holds
both ExecuTorch and PyTorch Lite, the library the app packages references no javax.*/java.awt,
no JDK toolchain is demanded, the emulator's ABI is built, the Gradle wrapper comes from a
documented command with a pinned distribution checksum, and every manifest key the app reads is
one the exporter writes.
"""

import json
import re
import shlex
import shutil
import subprocess
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from benchmark.android import DEFAULT_ACTIVITY, DEFAULT_PACKAGE, AndroidOptions, start_command

ROOT = Path(__file__).resolve().parents[1]
ANDROID_DEMO = ROOT / "android_demo"
APP = ANDROID_DEMO / "app"
SOURCES = APP / "src" / "main" / "kotlin" / "org" / "vizwiz" / "vqa"
CORE = ANDROID_DEMO / "core" / "src" / "main" / "kotlin"
CORE_CLASSES = ANDROID_DEMO / "core" / "build" / "core-classes"
GOLDEN_BUNDLE = ANDROID_DEMO / "core" / "build" / "golden-bundle"
TEXT_FIELDS = ("OutlinedTextField", "TextField")
ANDROID = "{http://schemas.android.com/apk/res/android}"
CONTROLS = ("Button", "OutlinedButton", "IconButton", "Slider", "Switch", "Checkbox")


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
        # A text field is named by its label; a contentDescription would hide the typed text.
        for name in TEXT_FIELDS:
            for arguments in _calls(source, name):
                assert "label = " in arguments and "contentDescription" not in arguments, path.name
                checked += 1
        for arguments in _calls(source, "RadioButton"):
            assert "onClick = null" in arguments  # the labelled, selectable row takes the click
    assert checked >= 10


def test_runtimes_match_the_exporting_python_packages():
    catalog = tomllib.loads((ROOT / "android_demo" / "gradle" / "libs.versions.toml").read_text())
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pins = dict(d.split("==") for d in pyproject["project"]["dependencies"] if "==" in d)
    assert catalog["versions"]["onnxruntime"] == pins["onnxruntime"]
    assert catalog["versions"]["executorch"] == pins["executorch"]
    assert catalog["versions"]["pytorchLite"] == "1.13.1"


def _kotlin_files(*roots: Path) -> list[Path]:
    return sorted(p for root in roots for p in root.rglob("*.kt"))


def test_no_variant_holds_both_executorch_and_pytorch_lite():
    build = (APP / "build.gradle.kts").read_text("utf-8")
    configurations = {
        lib: re.findall(rf'^\s*"?(\w+)"?\(libs\.{re.escape(lib)}\)', build, re.M)
        for lib in ("executorch.android", "pytorch.android.lite")
    }
    executorch, lite = configurations["executorch.android"], configurations["pytorch.android.lite"]
    assert executorch and lite, configurations
    assert not {"implementation", "api"} & (set(executorch) | set(lite)), "one in every variant"
    flavors = {c.removesuffix("Implementation") for c in executorch + lite}
    assert len(flavors) == 2 and not set(executorch) & set(lite), configurations
    assert "isDefault = true" in build.split('create("standard")')[1].split("}")[0]
    # no pickFirst between two incompatible fbjni libraries
    assert "libfbjni" not in "".join(re.findall(r"pickFirsts \+= listOf\(([^)]*)\)", build))
    # each runtime's classes are used only in its flavor's source set
    for path in _kotlin_files(APP / "src"):
        text = path.read_text("utf-8")
        flavor = path.relative_to(APP / "src").parts[0]
        if "import org.pytorch.executorch" in text:
            assert flavor == "standard", path
        if re.search(r"import org\.pytorch\.(?!executorch)", text):
            assert flavor == "pytorchLite", path
    for flavor in ("standard", "pytorchLite"):
        assert list((APP / "src" / flavor).rglob("FlavorEngines.kt")), flavor


def test_the_packaged_library_references_no_desktop_classes():
    for path in _kotlin_files(CORE):
        text = path.read_text("utf-8")
        assert not re.search(r"\bjavax\.|\bjava\.awt\b", text), f"{path.name} uses desktop classes"
    if not (CORE_CLASSES / ".built").is_file() or shutil.which("javap") is None:
        pytest.skip("core classes not compiled here (make android-core) or no javap")
    classes = sorted(str(p) for p in CORE_CLASSES.rglob("*.class"))
    dump = subprocess.run(["javap", "-v", *classes], capture_output=True, text=True, check=True)
    assert len(classes) > 10
    assert not re.search(r"javax/|java/awt/", dump.stdout)


def test_the_build_needs_no_toolchain_download_and_builds_the_emulator_abi():
    for path in ANDROID_DEMO.rglob("*.gradle.kts"):
        assert "jvmToolchain" not in path.read_text("utf-8"), path
    build = (APP / "build.gradle.kts").read_text("utf-8")
    abis = re.search(r"abiFilters \+= listOf\(([^)]*)\)", build).group(1)
    assert {"arm64-v8a", "x86_64"} <= set(re.findall(r'"([^"]+)"', abis))
    assert 'include(":core", ":cli", ":app")' in (ANDROID_DEMO / "settings.gradle.kts").read_text()


def test_the_gradle_wrapper_comes_from_a_documented_command():
    properties = (ANDROID_DEMO / "gradle" / "wrapper" / "gradle-wrapper.properties").read_text()
    assert re.search(r"^distributionSha256Sum=[0-9a-f]{64}$", properties, re.M)
    assert re.search(r"^distributionUrl=.*gradle-[\d.]+-bin\.zip$", properties, re.M)
    makefile = (ROOT / "Makefile").read_text("utf-8")
    assert re.search(r"^android-wrapper:", makefile, re.M)
    assert re.search(r"^WRAPPER_JAR_SHA256 := [0-9a-f]{64}$", makefile, re.M)
    tracked = subprocess.run(["git", "ls-files", "android_demo"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    assert not {"android_demo/gradlew", "android_demo/gradlew.bat",
                "android_demo/gradle/wrapper/gradle-wrapper.jar"} & set(tracked)
    assert "make android-wrapper" in (ANDROID_DEMO / "README.md").read_text("utf-8")


def _keys(value) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_every_manifest_key_the_apps_read_is_one_the_exporter_writes():
    if not (GOLDEN_BUNDLE / "manifest.json").is_file():
        pytest.skip(f"{GOLDEN_BUNDLE} is not exported: run `make android-test`")
    written = _keys(json.loads((GOLDEN_BUNDLE / "manifest.json").read_text("utf-8")))
    getter = re.compile(r'\b(\w+)\.(?:get|opt)'
                        r'(?:String|Int|Double|Long|Boolean|JSONObject|JSONArray)?\("(\w+)"')
    manifest_source = (CORE / "org" / "vizwiz" / "vqa" / "core" / "Manifest.kt").read_text("utf-8")
    read = {key for _, key in getter.findall(manifest_source)}
    assert {"model_file", "ort_file", "image_size", "max_len", "unanswerable_index"} <= read
    assert read <= written, f"read but never written: {sorted(read - written)}"
    # runtime entries of the other formats (their bundles are slow to export here): the key must
    # be one the exporter's source writes
    exporter = "".join(p.read_text("utf-8") for p in (ROOT / "export").glob("*.py"))
    for path in _kotlin_files(APP / "src"):
        for owner, key in getter.findall(path.read_text("utf-8")):
            if owner == "runtime":
                assert f'"{key}"' in exporter, f"{path.name} reads runtime.{key}, never written"
        assert '"xnnpack"' not in path.read_text("utf-8"), path


def test_benchmark_mode_reports_errors_thermal_status_and_times_only_the_engine():
    source = (SOURCES / "BenchmarkActivity.kt").read_text("utf-8")
    assert "catch (err: Throwable)" in source and "catch (err: Exception)" not in source
    assert "FLAG_KEEP_SCREEN_ON" in source
    assert "currentThermalStatus" in source and "thermalEnd = thermalStatus()" in source
    assert "engineOpenMs" in source and "Manifest.read(request.bundle)" in source
    model = (SOURCES / "VqaModel.kt").read_text("utf-8")
    opened = model.split("val start = System.nanoTime()")[1].split("openMs")[0]
    assert "InferenceEngine.open" in opened and "Manifest.read" not in opened


def test_the_app_says_no_readme_and_keeps_speech_on_the_phone():
    for path in _kotlin_files(APP / "src"):
        for literal in re.findall(r'"((?:[^"\\]|\\.)*)"', path.read_text("utf-8")):
            assert "README" not in literal, f"{path.name}: a message points to the README"
    speech = (SOURCES / "speech" / "SpeechInput.kt").read_text("utf-8")
    assert "createOnDeviceSpeechRecognizer" in speech
    assert not re.search(r"\bcreateSpeechRecognizer\(", speech)
    screen = (SOURCES / "ui" / "VqaScreen.kt").read_text("utf-8")
    assert "setResolutionSelector" in screen and "takePicture(\n            executor" in screen

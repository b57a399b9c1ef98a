"""Phone results: `benchmark android` (adb commands, latency and accuracy modes) and `ingest`.

adb is never run: a fake phone answers the adb calls with files the Android core wrote (its
result writer and predictions writer, `java -jar vqa-core.jar row|predictions`). The committed
fixture tests/data/benchmark_android_result.json is the core's row for MEASUREMENT below, a
made-up measurement: no phone produced it, and its notes say so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark import android
from benchmark.__main__ import build_parser, main
from benchmark.results import read_rows, validate_row
from vqa.bundle import describe_files, read_bundle, write_manifest
from vqa.checkpoint import save_checkpoint, tokenizer_record
from vqa.data import easy_vqa_answers, load_easy_vqa
from vqa.model import create_model
from vqa.tokenizer import Tokenizer
from vqa.transforms import eval_transform

ROOT = Path(__file__).resolve().parents[1]
RECORDED = Path(__file__).parent / "data" / "benchmark_android_result.json"
JAR = ROOT / "android_demo" / "core" / "build" / "vqa-core.jar"
SMALL_SPM = ROOT / "tests" / "golden" / "tokenizer_small.model"
REMOTE = "/data/local/tmp/vqa_bench"
RESULTS = "/sdcard/Android/data/org.vizwiz.vqa/files"
PROPS = {"ro.product.model": "Pixel 8", "ro.build.version.release": "15",
         "ro.product.cpu.abi": "arm64-v8a"}
FIXTURE_BUNDLE_PATH = f"{REMOTE}/student-torchscript-int8"
MEASUREMENT = {
    "runtime": {"name": "pytorch-lite", "version": "1.13.1",
                "details": {"bytecode_version": 8, "backend": "qnnpack"}},
    "device": {"name": "made-up phone (test fixture)", "os": "Android 15", "arch": "arm64-v8a",
               "cpu_count": 8},
    "threads": 4, "load_ms": 1412.3, "first_inference_ms": 1203.8, "warmup": 3,
    "samples_ms": [812.4, 799.1, 805.7, 821.9, 797.3, 803.2, 810.8, 845.6, 801.5, 806.0],
    "peak_rss_bytes": 412000256, "load_rss_bytes": 236519424,
    "notes": ["test fixture: written by the core's result writer (java -jar vqa-core.jar row) "
              "from a made-up measurement; no phone produced it"],
}


def core(*args: str, stdin: str = "") -> None:
    done = subprocess.run(["java", "-jar", str(JAR), *args], input=stdin, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def make_bundle(folder: Path, answers: list[str] | None = None, spm: Path | None = None) -> Path:
    """A small but valid TorchScript bundle (the phone runs it, so its bytes do not matter)."""
    answers = answers or ["yes", "no", "unanswerable"]
    folder.mkdir(parents=True)
    (folder / "model.ptl").write_bytes(b"\0" * 4096)
    (folder / "tokenizer.spm").write_bytes(spm.read_bytes() if spm else b"spm")
    (folder / "answers.txt").write_text("".join(a + "\n" for a in answers), "utf-8")
    tensor = {"name": "image", "shape": ["batch", 3, 32, 32], "dtype": "float32"}
    sha = hashlib.sha256((folder / "tokenizer.spm").read_bytes()).hexdigest()
    write_manifest(folder, {
        "schema_version": 1, "format": "torchscript", "precision": "int8",
        "quantization": {"scheme": "dynamic-int8"}, "target": "arm64",
        "model_file": "model.ptl", "files": describe_files(folder),
        "inputs": [tensor, {"name": "question", "shape": ["batch", 16], "dtype": "int64"},
                   {"name": "padding_mask", "shape": ["batch", 16], "dtype": "int64"}],
        "outputs": [{"name": "logits", "shape": ["batch", len(answers)], "dtype": "float32"}],
        "preprocessing": {"image_size": 32, "resize": "squash", "interpolation": "bicubic",
                          "mean": [0.5] * 3, "std": [0.5] * 3, "scale": 1 / 255,
                          "layout": "NCHW", "channel_order": "RGB"},
        "tokenizer": {"kind": "sentencepiece-fairseq", "file": "tokenizer.spm",
                      "sha256": sha, "max_len": 16, "bos_id": 0, "pad_id": 1, "eos_id": 2,
                      "unk_id": 3, "id_offset": 1},
        "answers": {"file": "answers.txt", "count": len(answers),
                    "unanswerable_index": answers.index("unanswerable")},
        "postprocessing": {"answer": "argmax",
                           "answerable": "1 - sigmoid(logits[unanswerable_index])"},
        "source": {"checkpoint": "student.pth", "sha256": "1" * 64,
                   "config": {"name": "beit3_tiny"}, "macs": 123456},
        "parity": {"status": "pending-target", "reference": "pytorch-fp32", "n_inputs": 4},
        "runtime": {"bytecode_version": 8},
        "created": "2026-11-27T00:00:00Z",
    })
    return folder


def _without_created(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "created"} for row in rows]


@pytest.mark.skipif(shutil.which("java") is None or not JAR.is_file(),
                    reason="the core is not built (make android-core) or java is missing")
def test_the_fixture_is_what_the_core_writes(tmp_path):
    """VQA_REWRITE_FIXTURES=1 rewrites the fixture with the core instead of comparing."""
    bundle = make_bundle(tmp_path / "student-torchscript-int8")
    out = tmp_path / "row.json"
    core("row", "--manifest", str(bundle / "manifest.json"), "--bundle-path",
         FIXTURE_BUNDLE_PATH, "--out", str(out), stdin=json.dumps(MEASUREMENT))
    written = json.loads(out.read_text("utf-8"))
    for row in written:
        validate_row(row, str(out))
    if os.environ.get("VQA_REWRITE_FIXTURES") == "1":
        shutil.copyfile(out, RECORDED)
    assert _without_created(written) == _without_created(json.loads(RECORDED.read_text()))
    (row,) = written
    # by hand from MEASUREMENT's ten samples: sorted 797.3 ... 845.6
    ms = sorted(MEASUREMENT["samples_ms"])
    assert row["latency_ms"]["mean"] == pytest.approx(sum(ms) / 10)
    assert row["latency_ms"]["p50"] == pytest.approx((ms[4] + ms[5]) / 2)
    assert row["latency_ms"]["trimmed_mean"] == pytest.approx(sum(ms[1:9]) / 8)
    assert "no phone produced it" in row["notes"][0]


class FakePhone:
    """Answers adb commands; the result file appears after `ready_after` polls."""

    def __init__(self, result: Path | None = RECORDED, ready_after: int = 2,
                 fail: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.result = result
        self.ready_after = ready_after
        self.fail = fail
        self.polls = 0
        self.files: dict[str, Path] = {}  # remote path -> local file the phone "wrote"

    def __call__(self, command, timeout):
        command = list(command)
        self.calls.append(command)
        args = command[3:]  # after: adb -s SERIAL
        if self.fail and args[0] == self.fail:
            return subprocess.CompletedProcess(command, 1, "", "error: no devices/emulators found")
        out = ""
        if args[0] == "shell" and args[1].startswith("getprop "):
            out = PROPS[args[1].split()[1]] + "\n"
        elif args[0] == "shell" and args[1].startswith("test -f "):
            self.polls += 1
            ready = self.result is not None and self.polls >= self.ready_after
            return subprocess.CompletedProcess(command, 0 if ready else 1,
                                               "ready\n" if ready else "", "")
        elif args[0] == "pull":
            shutil.copyfile(self.files.get(args[1], self.result), args[2])
        return subprocess.CompletedProcess(command, 0, out, "")


class AccuracyPhone(FakePhone):
    """Runs the app's accuracy mode: `predict` gives logits, the core writes both files."""

    def __init__(self, predict, work: Path) -> None:
        super().__init__(result=None)
        self.predict = predict
        self.work = work
        self.pushed: dict[str, Path] = {}

    def __call__(self, command, timeout):
        args = list(command)[3:]
        if args[0] == "push":
            self.pushed[args[2]] = Path(args[1])
        elif args[0] == "shell" and args[1].startswith("am start"):
            argv = shlex.split(args[1])
            extras = {argv[i + 1]: argv[i + 2] for i, a in enumerate(argv) if a in ("--es", "--ei")}
            bundle, samples = self.pushed[extras["bundle"]], self.pushed[extras["samples"]]
            predictions, row = self.work / "predictions.json", self.work / "row.json"
            lines = "".join(json.dumps(line) + "\n" for line in self.predict(samples))
            core("predictions", "--manifest", str(bundle / "manifest.json"), "--samples",
                 str(samples), "--out", str(predictions), stdin=lines)
            core("row", "--manifest", str(bundle / "manifest.json"), "--bundle-path",
                 extras["bundle"], "--out", str(row), stdin=json.dumps(MEASUREMENT))
            self.files[extras["predictions"]] = predictions
            self.result = row
        return super().__call__(command, timeout)


def _args(bundle: Path, results: Path, *extra: str):
    return build_parser().parse_args([
        "android", str(bundle), "--serial", "emu-5554", "--runs", "10", "--warmup", "3",
        "--threads", "4", "--results", str(results), *extra,
    ])


def test_commands_and_rows(tmp_path):
    bundle = make_bundle(tmp_path / "student-torchscript-int8")
    phone, results = FakePhone(), tmp_path / "results.jsonl"
    slept = []
    assert android.run(_args(bundle, results), runner=phone, sleep=slept.append) == 0
    adb = ["adb", "-s", "emu-5554"]
    remote = f"{REMOTE}/student-torchscript-int8"
    out = "/sdcard/Android/data/org.vizwiz.vqa/files/student-torchscript-int8.result.json"
    probe = adb + ["shell", f"test -f {out} && echo ready"]
    assert phone.calls == [
        adb + ["shell", "getprop ro.product.model"],
        adb + ["shell", "getprop ro.build.version.release"],
        adb + ["shell", "getprop ro.product.cpu.abi"],
        adb + ["shell", f"mkdir -p {REMOTE}"],
        adb + ["shell", f"rm -rf {remote} {out}"],
        adb + ["push", str(bundle), remote],
        adb + ["shell", "am start -W -S -n org.vizwiz.vqa/.BenchmarkActivity --es bundle "
               f"{remote} --ei runs 10 --ei warmup 3 --ei threads 4 --es out {out}"],
        probe,
        probe,
        adb + ["pull", out, str(tmp_path / "results_files" / "android"
                                 / "student-torchscript-int8.android.json")],
    ]
    assert slept == [2.0]
    (row,) = read_rows(results)
    recorded = json.loads(RECORDED.read_text("utf-8"))[0]
    assert row["device"] == recorded["device"] and row["latency_ms"] == recorded["latency_ms"]
    opened = read_bundle(bundle)
    assert row["memory"]["model_file_bytes"] == opened.model_bytes() == 4096
    assert row["memory"]["bundle_bytes"] == opened.bundle_bytes()
    assert row["memory"]["peak_rss_bytes"] == recorded["memory"]["peak_rss_bytes"]
    assert row["bundle"]["path"] == str(bundle) and row["bundle"]["device_path"] == remote
    assert row["model"]["macs"] == 123456 and row["model"]["checkpoint_sha256"] == "1" * 64


def test_paths_with_spaces_are_quoted_for_the_phone(tmp_path):
    bundle = make_bundle(tmp_path / "my bundle")
    phone = FakePhone()
    android.run(_args(bundle, tmp_path / "r.jsonl", "--remote-dir", "/sdcard/vqa bench"),
                runner=phone, sleep=lambda s: None)
    assert ["adb", "-s", "emu-5554", "shell", "mkdir -p '/sdcard/vqa bench'"] in phone.calls
    assert ["adb", "-s", "emu-5554", "push", str(bundle), "/sdcard/vqa bench/my bundle"] in (
        phone.calls
    )


def test_no_result_file_times_out(tmp_path, capsys):
    bundle = make_bundle(tmp_path / "b")
    phone, results = FakePhone(result=None), tmp_path / "r.jsonl"
    code = android.run(_args(bundle, results, "--timeout", "0"), runner=phone,
                       sleep=lambda s: None)
    assert code == 1 and read_rows(results) == []
    expected = "/sdcard/Android/data/org.vizwiz.vqa/files/b.result.json within 0 s"
    assert f"the app wrote no {expected}" in capsys.readouterr().err


def test_adb_failure_is_reported(tmp_path, capsys):
    bundle = make_bundle(tmp_path / "b")
    code = android.run(_args(bundle, tmp_path / "r.jsonl"), runner=FakePhone(fail="push"))
    err = capsys.readouterr().err
    assert code == 1
    assert "adb -s emu-5554 push" in err and "failed (1): error: no devices" in err


def test_a_bad_app_file_is_refused(tmp_path, capsys):
    bundle = make_bundle(tmp_path / "b")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{**json.loads(RECORDED.read_text())[0], "threads": "four"}]))
    code = android.run(_args(bundle, tmp_path / "r.jsonl"), runner=FakePhone(result=bad),
                       sleep=lambda s: None)
    assert code == 1 and "threads: 'four' is not of type" in capsys.readouterr().err


def test_ingest_command(tmp_path, capsys):
    bundle = make_bundle(tmp_path / "b")
    results = tmp_path / "r.jsonl"
    assert main(["ingest", str(RECORDED), "--results", str(results), "--bundle", str(bundle),
                 "--report", str(tmp_path / "rep")]) == 0
    (row,) = read_rows(results)
    assert row["source"] == "android-app" and row["memory"]["model_file_bytes"] == 4096
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "| student-torchscript-int8 | made-up phone (test fixture) |" in report
    assert main(["ingest", str(RECORDED), "--results", str(results)]) == 0
    assert len(read_rows(results)) == 2  # appended
    missing = tmp_path / "absent.json"
    assert main(["ingest", str(missing), "--results", str(results)]) == 2
    assert "absent.json: file not found" in capsys.readouterr().err
    assert len(read_rows(results)) == 2


@pytest.mark.parametrize("bad", [{"kind": "watch", "name": "x", "os": "y"}, None])
def test_ingest_rejects_rows_outside_the_schema(tmp_path, bad, capsys):
    row = {**json.loads(RECORDED.read_text("utf-8"))[0], "device": bad}
    path = tmp_path / "row.json"
    path.write_text(json.dumps(row), "utf-8")
    assert main(["ingest", str(path), "--results", str(tmp_path / "r.jsonl")]) == 2
    assert "row.json, row 0: does not follow the results schema: device" in (
        capsys.readouterr().err
    )


@pytest.mark.skipif(shutil.which("java") is None or not JAR.is_file(),
                    reason="the core is not built (make android-core) or java is missing")
def test_accuracy_mode_scores_the_apps_predictions(tmp_path):
    answers = [*easy_vqa_answers(), "unanswerable"]
    bundle = make_bundle(tmp_path / "student-torchscript-int8", answers, SMALL_SPM)
    tokenizer = Tokenizer(SMALL_SPM, 16)
    torch.manual_seed(0)
    model = create_model("beit3_tiny", num_answers=len(answers),
                         vocab_size=tokenizer.vocab_size).eval()
    checkpoint = tmp_path / "student.pth"
    save_checkpoint(checkpoint, model, answers=answers,
                    tokenizer=tokenizer_record(tokenizer.model_bytes, 16))
    truth = {s.key: s.answers[0] for s in load_easy_vqa("test", limit=6)}
    expected_answers = {}

    def predict(samples: Path) -> list[dict]:
        """fp32 logits, then every second sample moved to another answer (disagreeing)."""
        listed = json.loads((samples / "samples.json").read_text("utf-8"))["samples"]
        lines = []
        for i, entry in enumerate(listed):
            image = Image.open(samples / entry["image"]).convert("RGB")
            ids, mask = tokenizer.encode(entry["question"])
            with torch.inference_mode():
                logits = model(eval_transform(32)(image)[None], torch.tensor([ids]),
                               torch.tensor([mask]))[0].numpy().copy()
            if i % 2:
                logits[(int(logits.argmax()) + 1) % len(answers)] = logits.max() + 5
            expected_answers[entry["key"]] = answers[int(np.argmax(logits))]
            lines.append({"key": entry["key"], "logits": logits.tolist()})
        return lines

    phone, results = AccuracyPhone(predict, tmp_path), tmp_path / "results.jsonl"
    args = _args(bundle, results, "--data", "easy-vqa", "--data-split", "test", "--limit", "6",
                 "--checkpoint", str(checkpoint))
    assert android.run(args, runner=phone, sleep=lambda s: None) == 0
    adb = ["adb", "-s", "emu-5554"]
    samples_remote = f"{REMOTE}/samples"
    predictions_remote = f"{RESULTS}/student-torchscript-int8.predictions.json"
    assert adb + ["push", str(tmp_path / "results_files" / "android" / "samples"),
                  samples_remote] in phone.calls
    start = next(c for c in phone.calls if c[3] == "shell" and c[4].startswith("am start"))
    assert start[4].endswith(f"--es samples {samples_remote} --es predictions "
                             f"{predictions_remote}")
    (row,) = read_rows(results)
    accuracy = row["accuracy"]
    assert list(expected_answers) == list(truth) and accuracy["n"] == 6
    right = [expected_answers[k] == truth[k] for k in truth]
    assert accuracy["overall"] == pytest.approx(100.0 * sum(right) / 6)
    assert accuracy["agreement_fp32"] == pytest.approx(50.0)
    assert accuracy["data"] == "easy-vqa" and accuracy["split"] == "test"
    assert set(accuracy["per_answer_type"]) <= {"yes/no", "other"}
    written = json.loads(Path(accuracy["predictions_file"]).read_text("utf-8"))
    assert [p["answer"] for p in written] == list(expected_answers.values())
    assert all(0.0 <= p["answerable"] <= 1.0 for p in written)


def test_checkpoint_without_data_is_refused(tmp_path, capsys):
    bundle = make_bundle(tmp_path / "b")
    code = android.run(_args(bundle, tmp_path / "r.jsonl", "--checkpoint", str(bundle)),
                       runner=FakePhone())
    assert code == 2 and "--checkpoint needs --data" in capsys.readouterr().err


def test_bad_data_spec_is_refused(tmp_path, capsys):
    bundle = make_bundle(tmp_path / "b")
    code = android.run(_args(bundle, tmp_path / "r.jsonl", "--data", "mnist"),
                       runner=FakePhone())
    assert code == 2 and "--data mnist" in capsys.readouterr().err


class HotPhone(FakePhone):
    """A phone whose `dumpsys thermalservice` reports `statuses` in turn (PowerManager's
    numbers; the last one from then on), or nothing at all when `statuses` is empty."""

    def __init__(self, statuses: list[int], result: Path = RECORDED) -> None:
        super().__init__(result=result)
        self.statuses = list(statuses)

    def __call__(self, command, timeout):
        if list(command)[3:] == ["shell", "dumpsys thermalservice"]:
            self.calls.append(list(command))
            if not self.statuses:
                return subprocess.CompletedProcess(command, 0, "", "")
            status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
            text = f"IsStatusOverride: false\nThermal Status: {status}\nCached temperatures:\n"
            return subprocess.CompletedProcess(command, 0, text, "")
        return super().__call__(command, timeout)


def _hot_result(tmp_path: Path, start: str, end: str) -> Path:
    """The recorded app result with the thermal states the app would add."""
    rows = json.loads(RECORDED.read_text("utf-8"))
    path = tmp_path / "hot_result.json"
    path.write_text(json.dumps([{**row, "thermal_start": start, "thermal_end": end}
                                for row in rows]), "utf-8")
    return path


def test_the_driver_waits_for_a_cool_phone_between_bundles(tmp_path):
    """moderate, moderate, then none: 30 s of cool-down, then two polls of 2 s each."""
    first = make_bundle(tmp_path / "a-onnx-int8")
    second = make_bundle(tmp_path / "b-onnx-int8")
    phone = HotPhone([2, 2, 0], result=_hot_result(tmp_path, "none", "moderate"))
    results, slept = tmp_path / "results.jsonl", []
    args = build_parser().parse_args([
        "android", str(first), str(second), "--serial", "emu-5554", "--results", str(results),
        "--cool-down", "30", "--cool-down-max", "300",
    ])
    assert android.run(args, runner=phone, sleep=slept.append) == 0
    assert slept[slept.index(30.0):][:3] == [30.0, 2.0, 2.0]
    dumpsys = [c for c in phone.calls if c[3:] == ["shell", "dumpsys thermalservice"]]
    assert len(dumpsys) == 3
    before, after = read_rows(results)
    assert before["thermal_start"] == "none" and before["thermal_end"] == "moderate"
    assert not any("cool-down" in note for note in before["notes"])
    assert "started after a cool-down of 34 s; phone thermal status then: none" in after["notes"]
    from benchmark.report import write_report

    text = write_report([before, after], tmp_path / "report").read_text("utf-8")
    assert "throttled means anything but none (Android) or nominal (iOS)" in text
    assert f"throttled rows: {before['label']}, {after['label']}" in text


def test_without_dumpsys_the_apps_word_decides_the_wait(tmp_path):
    """No thermal service to read: after a row that ended severe the longest cool-down is
    waited; after a row that ended none only the shortest."""
    bundles = [make_bundle(tmp_path / f"{name}-onnx-int8") for name in "ab"]
    for end, waited in (("severe", [20.0, 100.0]), ("none", [20.0])):
        phone = HotPhone([], result=_hot_result(tmp_path, "none", end))
        slept: list[float] = []
        args = build_parser().parse_args([
            "android", *map(str, bundles), "--serial", "emu-5554", "--results",
            str(tmp_path / f"{end}.jsonl"), "--cool-down", "20", "--cool-down-max", "100",
        ])
        assert android.run(args, runner=phone, sleep=slept.append) == 0
        assert [s for s in slept if s != 2.0] == [20.0, 80.0][: len(waited)], end
        note = read_rows(tmp_path / f"{end}.jsonl")[1]["notes"][-1]
        assert f"cool-down of {waited[-1]:g} s" in note and "unknown" in note

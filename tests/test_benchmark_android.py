"""Phone results: `benchmark android` (adb commands and parsing) and `benchmark ingest`.

adb is never run: a recorder stands in for the command runner and answers as a phone would,
handing back a result file recorded from the demo app's benchmark mode.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from benchmark import android
from benchmark.__main__ import build_parser, main
from benchmark.results import read_rows
from vqa.bundle import describe_files, read_bundle, write_manifest

RECORDED = Path(__file__).parent / "data" / "benchmark_android_result.json"
REMOTE = "/data/local/tmp/vqa_bench"
PROPS = {"ro.product.model": "Pixel 8", "ro.build.version.release": "15",
         "ro.product.cpu.abi": "arm64-v8a"}


def make_bundle(folder: Path) -> Path:
    """A small but valid TorchScript bundle (the phone runs it, so its bytes do not matter)."""
    folder.mkdir(parents=True)
    (folder / "model.ptl").write_bytes(b"\0" * 4096)
    (folder / "tokenizer.spm").write_bytes(b"spm")
    (folder / "answers.txt").write_text("yes\nno\nunanswerable\n", "utf-8")
    tensor = {"name": "image", "shape": ["batch", 3, 32, 32], "dtype": "float32"}
    write_manifest(folder, {
        "schema_version": 1, "format": "torchscript", "precision": "int8",
        "quantization": {"scheme": "dynamic-int8"}, "target": "arm64",
        "model_file": "model.ptl", "files": describe_files(folder),
        "inputs": [tensor, {"name": "question", "shape": ["batch", 16], "dtype": "int64"},
                   {"name": "padding_mask", "shape": ["batch", 16], "dtype": "int64"}],
        "outputs": [{"name": "logits", "shape": ["batch", 3], "dtype": "float32"}],
        "preprocessing": {"image_size": 32, "resize": "squash", "interpolation": "bicubic",
                          "mean": [0.5] * 3, "std": [0.5] * 3, "scale": 1 / 255,
                          "layout": "NCHW", "channel_order": "RGB"},
        "tokenizer": {"kind": "sentencepiece-fairseq", "file": "tokenizer.spm",
                      "sha256": "0" * 64, "max_len": 16, "bos_id": 0, "pad_id": 1, "eos_id": 2,
                      "unk_id": 3, "id_offset": 1},
        "answers": {"file": "answers.txt", "count": 3, "unanswerable_index": 2},
        "postprocessing": {"answer": "argmax",
                           "answerable": "1 - sigmoid(logits[unanswerable_index])"},
        "source": {"checkpoint": "student.pth", "sha256": "1" * 64,
                   "config": {"name": "beit3_tiny"}, "macs": 123456},
        "parity": {"status": "passed", "reference": "pytorch-fp32", "n_inputs": 4},
        "created": "2026-11-27T00:00:00Z",
    })
    return folder


class FakePhone:
    """Answers adb commands; the result file appears after `ready_after` polls."""

    def __init__(self, result: Path | None = RECORDED, ready_after: int = 2,
                 fail: str | None = None) -> None:
        self.calls: list[list[str]] = []
        self.result = result
        self.ready_after = ready_after
        self.fail = fail
        self.polls = 0

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
            shutil.copyfile(self.result, args[2])
        return subprocess.CompletedProcess(command, 0, out, "")


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
    assert "| student-torchscript-int8 | Pixel 8 |" in (tmp_path / "rep" / "report.md").read_text()
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

"""arm64 bundles on emulated arm64 kernels (vqa.runtimes.emulated, `make arm64-runtime`).

The oracles: the host's own runtimes on the same bundle and inputs (ARM and x86 int8 kernels
must agree on most answers of a trained model, and their differences are printed), the PyTorch
fp32 model, and ARM's documentation of the emulated CPUs' features (Cortex-A76: Armv8.2 with
dotprod, no i8mm; QEMU's `max`: i8mm as well). Tests that need the userland skip where it is
absent; the ones that export or train are slow (`.ci/run` runs them in a step of their own).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from easy_vqa_tiny import encode, train_tiny

from export import ExportRequest, export_bundles
from vqa import runtimes
from vqa.bundle import read_bundle
from vqa.checkpoint import save_checkpoint, tokenizer_record
from vqa.data import easy_vqa_answers, load_easy_vqa
from vqa.runtimes.emulated import ROOT_ENV, ArmRuntime, missing_reason
from vqa.tokenizer import Tokenizer, train_sentencepiece

REPO = Path(__file__).resolve().parent.parent
TEST_SAMPLES = 100
MIN_SAME_ANSWER = 0.95
MIN_TOP1 = 0.85
"""The export's gate against PyTorch fp32 on 8 inputs: one flip of the tiny model's nearly tied
answers passes; the tests' own check is the emulated answers against the host's."""
"""Stated tolerance: ARM and x86 int8 kernels give the same answer on 95 % of the samples."""
MIN_FP32_AGREEMENT = 0.95

needs_runtime = pytest.mark.skipif(
    missing_reason() is not None, reason=f"no emulated arm64 runtime: {missing_reason()}"
)


def _one_line_error(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_benchmark_without_qemu_is_one_line_naming_it(tmp_path):
    env = {**os.environ, "PATH": str(tmp_path), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "benchmark", str(tmp_path / "bundle"), "--data", "easy-vqa",
         "--kernels", "arm64", "--out", str(tmp_path / "rows.jsonl")],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )
    line = _one_line_error(result)
    assert "qemu-aarch64-static not found" in line and "qemu-user-static" in line


def test_benchmark_without_the_userland_names_the_folder(tmp_path):
    if missing_reason(tmp_path) is not None and "not found" in missing_reason(tmp_path):
        pytest.skip("this machine has no qemu-aarch64-static: the folder is never looked at")
    env = {**os.environ, ROOT_ENV: str(tmp_path / "nothing"), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "benchmark", str(tmp_path / "bundle"), "--data", "easy-vqa",
         "--kernels", "arm64", "--out", str(tmp_path / "rows.jsonl")],
        env=env, capture_output=True, text=True, cwd=tmp_path,
    )
    assert f"no arm64 runtime at {tmp_path / 'nothing'}" in _one_line_error(result)


def test_build_without_root_or_qemu_is_one_line(tmp_path, monkeypatch, capsys, load_script):
    build = load_script("build_arm64_runtime")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    from vqa.errors import run_main

    assert run_main(build.main, ["--root", str(tmp_path / "rt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "qemu-user-static" in err[0] and "root" in err[0]


def test_report_sets_arm64_kernels_beside_host_kernels(tmp_path):
    from test_benchmark_results import make_row

    from benchmark.report import write_report
    from benchmark.results import validate_row

    bundle = {"path": "/b/student-onnx-int8-arm64", "model_file": "model.onnx", "target": "arm64"}
    accuracy = {"data": "easy-vqa", "split": "test", "n": 500}
    host = make_row("student-onnx-int8-arm64", role="bundle", run_id="r", bundle=bundle,
                    accuracy={**accuracy, "overall": 91.2, "agreement_fp32": 98.0})
    emulated = make_row(
        "student-onnx-int8-arm64 [arm64 max, emulated]", role="bundle", run_id="r",
        bundle=bundle, latency_ms=None, threads=1,
        kernels={"isa": "arm64", "emulated": True, "qemu_cpu": "max",
                 "features": ["asimddp", "i8mm"]},
        accuracy={**accuracy, "overall": 92.4, "agreement_fp32": 99.6,
                  "agreement_host_kernels": 98.4, "max_abs_logit_diff_host_kernels": 7.31},
    )
    for row in (host, emulated):
        validate_row(row)
    report = write_report([host, emulated], tmp_path).read_text()
    section = report.split("## arm64 bundles: host kernels and emulated arm64 kernels")[1]
    line = next(x for x in section.splitlines() if x.startswith("| student-onnx-int8-arm64 |"))
    assert [c.strip() for c in line.strip("|").split("|")] == [
        "student-onnx-int8-arm64", "91.20", "98.0", "max (asimddp, i8mm)", "92.40", "99.6",
        "98.4", "7.310",
    ]


@needs_runtime
@pytest.mark.parametrize("cpu,has,lacks", [("cortex-a76", {"asimddp"}, {"i8mm", "sve"}),
                                           ("max", {"asimddp", "i8mm"}, set())])
def test_the_emulated_cpu_model_decides_the_features(cpu, has, lacks):
    runtime = ArmRuntime()
    code = ("import json; from vqa.runtimes.emulated import cpu_features; "
            "print(json.dumps(cpu_features()))")
    features = set(json.loads(runtime.python(["-c", code], cpu).strip().splitlines()[-1]))
    assert has <= features and not (lacks & features), features


# a tiny trained model, its arm64 bundles, host and emulated logits ------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """beit3_tiny trained for a few hundred steps on easy-VQA (random weights tie their logits,
    so any int8 kernel would flip their answers)."""
    folder = tmp_path_factory.mktemp("arm64_tiny")
    questions = [s.question for s in load_easy_vqa("train")]
    tokenizer = Tokenizer(train_sentencepiece(questions, folder / "easy.spm"), max_len=16)
    model = train_tiny(tokenizer)
    path = folder / "student.pth"
    save_checkpoint(path, model, answers=easy_vqa_answers(),
                    tokenizer=tokenizer_record(tokenizer.model_bytes, tokenizer.max_len))
    return path


@pytest.fixture(scope="module")
def inputs(checkpoint):
    """easy-VQA test questions the exporter did not use, as numpy batches of one."""
    tokenizer = Tokenizer(checkpoint.parent / "easy.spm", max_len=16)
    samples = load_easy_vqa("test")[:TEST_SAMPLES]
    images, ids, mask = encode(samples, tokenizer)
    return [[images[i : i + 1].numpy(), ids[i : i + 1].numpy(), mask[i : i + 1].numpy()]
            for i in range(len(samples))]


def _export(checkpoint: Path, fmt: str, out: Path):
    request = ExportRequest(checkpoint, formats=[fmt], precision="int8", target="arm64",
                            out_dir=out, data="easy-vqa", parity_inputs=8, min_top1=MIN_TOP1)
    (result,) = export_bundles(request, log=lambda message: None)
    assert result.ok, result.message
    return read_bundle(result.path)


def _compare(bundle, inputs, fmt: str, checkpoint: Path) -> None:
    """Host and emulated logits of every input: the same answer on most, differences printed."""
    manifest = bundle.manifest
    options = runtimes.RuntimeOptions.from_manifest(manifest, threads=1)
    host_model = runtimes.load(fmt, bundle.model_path, options)
    host = np.concatenate([host_model(*call) for call in inputs])
    emulated, run = ArmRuntime().run(
        fmt, bundle.model_path,
        {"input_names": options.input_names, "input_dtypes": options.input_dtypes,
         "output_name": options.output_name, "threads": 1},
        inputs,
    )
    emulated = np.concatenate(emulated)
    assert emulated.shape == host.shape and "asimddp" in run.features
    differ = np.flatnonzero(emulated.argmax(1) != host.argmax(1))
    gaps = np.abs(emulated - host).max(axis=1)
    print(f"\n{fmt} int8 arm64, {len(host)} samples: emulated arm64 vs host "
          f"{run.runtime['name']} {run.runtime['version']}: same answer on "
          f"{len(host) - len(differ)}; max |logit diff| {gaps.max():.3f}, median "
          f"{np.median(gaps):.3f}")
    for i in differ:
        print(f"  sample {i}: host answer {host[i].argmax()}, arm64 answer "
              f"{emulated[i].argmax()}, max |logit diff| {gaps[i]:.3f}")
    assert 1 - len(differ) / len(host) >= MIN_SAME_ANSWER
    with torch.no_grad():
        from vqa.checkpoint import load_model

        model = load_model(checkpoint)
        reference = np.concatenate([model(*map(torch.from_numpy, call)).numpy()
                                    for call in inputs])
    assert (emulated.argmax(1) == reference.argmax(1)).mean() >= MIN_FP32_AGREEMENT


@needs_runtime
@pytest.mark.slow
def test_onnx_int8_arm64_bundle_on_emulated_kernels(checkpoint, inputs, tmp_path, monkeypatch):
    # what an x86 CPU without VNNI reports: its kernels cannot judge full-range int8 weights
    monkeypatch.setattr("export.onnx_runtime.runs_signed_int8_matmul_exactly", lambda: False)
    bundle = _export(checkpoint, "onnx", tmp_path)
    parity = bundle.manifest["parity"]
    assert parity["status"] == "passed" and parity["top1_agreement"] >= MIN_TOP1
    assert parity["kernels"]["emulated"] and parity["kernels"]["qemu_cpu"] == "cortex-a76"
    assert "x86 kernels" in parity["note"]
    _compare(bundle, inputs, "onnx", checkpoint)


@needs_runtime
@pytest.mark.slow
def test_executorch_int8_arm64_bundle_on_emulated_kernels(checkpoint, inputs, tmp_path):
    bundle = _export(checkpoint, "executorch", tmp_path)
    _compare(bundle, inputs, "executorch", checkpoint)

"""`python -m export`: bad input, official checkpoints, outputs, and bundles that must not appear.

TorchScript is the fastest format, so it carries the tests that are about the command, not the
format. The checkpoints here have random weights: fp32 parity is exact on them anyway.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from export.__main__ import main
from export.pipeline import ExportRequest, plan
from vqa.bundle import read_bundle
from vqa.checkpoint import save_checkpoint, tokenizer_record
from vqa.model import create_model
from vqa.tokenizer import Tokenizer, train_sentencepiece

ROOT = Path(__file__).resolve().parents[1]
ANSWERS = ["yes", "no", "red", "unanswerable"]
QUESTIONS = ["what color is it", "is this a circle", "how many shapes are there"]


@pytest.fixture(scope="module")
def spm(tmp_path_factory):
    return train_sentencepiece(QUESTIONS * 20, tmp_path_factory.mktemp("spm") / "q.spm", 80)


def _model(spm):
    torch.manual_seed(0)
    return create_model("beit3_tiny", num_answers=len(ANSWERS),
                        vocab_size=Tokenizer(spm).vocab_size)


@pytest.fixture()
def checkpoint(tmp_path, spm):
    path = tmp_path / "student.pth"
    save_checkpoint(path, _model(spm), answers=ANSWERS,
                    tokenizer=tokenizer_record(Tokenizer(spm).model_bytes, 64))
    return path


def _run(capsys, *argv):
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:  # argparse's own errors (a flag's value)
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_export_writes_a_bundle_and_prints_progress_and_a_table(capsys, checkpoint, tmp_path):
    code, out, err = _run(capsys, checkpoint, "--format", "torchscript", "--parity-inputs", 4)
    assert code == 0, err
    bundle = read_bundle(tmp_path / "student-torchscript-fp32")  # default: beside the checkpoint
    assert bundle.manifest["parity"]["status"] == "passed"
    assert "[1/1] torchscript fp32: exporting" in out
    assert "parity of model.ptl in its runtime" in out
    header = next(line for line in out.splitlines() if line.startswith("format"))
    assert header.split()[:3] == ["format", "precision", "model"]
    row = out.splitlines()[-1].split()
    assert row[:3] == ["torchscript", "fp32", f"{bundle.model_bytes() / 1e6:.1f}"]


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["--format", "tflite"], "unknown format 'tflite'"),
        (["--format", "onnx", "--fp16"], "onnx cannot export fp16: onnxruntime's CPU"),
        (["--format", "torchscript,executorch", "--fp16"], "executorch cannot export fp16"),
        (["--format", "onnx", "--parity-inputs", "0"], "--parity-inputs: must be >= 1, got 0"),
        (["--format", "onnx", "--img-size", "0"], "--img-size: must be >= 1, got 0"),
        (["--format", "onnx", "--img-size", "-32"], "--img-size: must be >= 1, got -32"),
        (["--format", "onnx", "--img-size", "40"], "not a multiple of the patch size"),
        (["--format", "onnx", "--data", "mnist"], "--data 'mnist': expected 'easy-vqa'"),
        (["--format", "onnx", "--arch", "beit3_base"], "the requested architecture is beit3_base"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(capsys, checkpoint, argv, expected):
    before = sorted(checkpoint.parent.iterdir())
    code, out, err = _run(capsys, checkpoint, *argv)
    assert code == 2
    assert expected in err and "Traceback" not in err
    assert sorted(checkpoint.parent.iterdir()) == before


def test_missing_and_non_model_checkpoints_are_named(capsys, tmp_path):
    code, _, err = _run(capsys, tmp_path / "nope.pth", "--format", "onnx")
    assert code == 2 and f"{tmp_path / 'nope.pth'}: no such checkpoint file" in err
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    code, _, err = _run(capsys, text, "--format", "onnx")
    assert code == 2 and str(text) in err and "not a readable PyTorch checkpoint" in err
    other = tmp_path / "other.pth"
    torch.save({"optimizer": {"lr": 0.1}}, other)
    code, _, err = _run(capsys, other, "--format", "onnx")
    assert code == 2 and str(other) in err and "no state dict" in err


def test_all_with_fp16_keeps_the_formats_that_have_it(checkpoint):
    said = []
    jobs = plan(ExportRequest(checkpoint, formats=["all"], precision="fp16"), said.append)
    assert [(job.spec.name, job.precision) for job in jobs] == [("coreml", "fp16")]
    assert len(said) == 3 and all("left out, no fp16" in line for line in said)


def test_existing_output_needs_overwrite_and_only_a_bundle_is_replaced(
    capsys, checkpoint, tmp_path
):
    out = tmp_path / "out"
    argv = [checkpoint, "--format", "torchscript", "--out", out, "--parity-inputs", 2]
    assert _run(capsys, *argv)[0] == 0
    first = read_bundle(out / "student-torchscript-fp32").manifest["created"]
    code, _, err = _run(capsys, *argv)
    assert code == 2 and "already exists; pass --overwrite" in err
    time.sleep(1.1)
    assert _run(capsys, *argv, "--overwrite")[0] == 0
    assert read_bundle(out / "student-torchscript-fp32").manifest["created"] != first
    assert _hidden(out) == []
    mine = out / "student-onnx-fp32-x86_64"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    code, _, err = _run(capsys, checkpoint, "--format", "onnx", "--out", out, "--overwrite",
                        "--target", "x86_64")
    assert code == 2 and "is not a bundle" in err
    assert (mine / "thesis.tex").read_text() == "precious"


def test_official_checkpoint_needs_arch_tokenizer_and_answers(capsys, tmp_path, spm):
    official = tmp_path / "official.pth"
    torch.save({"model": _model(spm).state_dict()}, official)
    answers = tmp_path / "answers.txt"
    answers.write_text("".join(a + "\n" for a in ANSWERS))
    base = [official, "--format", "torchscript", "--parity-inputs", 2]
    steps = [
        ([], "pass arch (--arch) (its shapes match beit3_tiny)"),
        (["--arch", "beit3_tiny"], "holds no tokenizer (official checkpoints do not): pass "
                                   "--tokenizer SPM"),
        (["--arch", "beit3_tiny", "--tokenizer", spm], "holds no answer list"),
        (["--arch", "beit3_tiny", "--tokenizer", spm, "--answers", tmp_path / "missing.txt"],
         "missing.txt: answers file not found"),
    ]
    for extra, expected in steps:
        code, _, err = _run(capsys, *base, *extra)
        assert code == 2 and expected in err, err
    code, _, err = _run(capsys, *base, "--arch", "beit3_tiny", "--tokenizer", spm,
                        "--answers", answers)
    assert code == 0, err
    manifest = read_bundle(tmp_path / "official-torchscript-fp32").manifest
    assert manifest["source"]["kind"] == "official"
    assert manifest["answers"]["count"] == len(ANSWERS)
    assert manifest["tokenizer"]["sha256"] == Tokenizer(spm).sha256


def test_wrong_answer_count_is_refused(capsys, checkpoint, tmp_path):
    answers = tmp_path / "three.txt"
    answers.write_text("a\nb\nc\n")
    code, _, err = _run(capsys, checkpoint, "--format", "onnx", "--answers", answers)
    assert code == 2 and "3 answers, but the model has 4 outputs" in err


def test_other_image_size_interpolates_positions(capsys, checkpoint, tmp_path):
    code, _, err = _run(capsys, checkpoint, "--format", "torchscript", "--img-size", 48,
                        "--parity-inputs", 3)
    assert code == 0, err
    manifest = read_bundle(tmp_path / "student-torchscript-fp32-48px").manifest
    assert manifest["preprocessing"]["image_size"] == 48
    assert manifest["inputs"][0]["shape"] == ["batch", 3, 48, 48]
    assert manifest["source"]["config"]["img_size"] == 48


def test_parity_inputs_from_easy_vqa(capsys, checkpoint, tmp_path):
    code, out, err = _run(capsys, checkpoint, "--format", "torchscript", "--data", "easy-vqa",
                          "--parity-inputs", 5)
    assert code == 0, err
    parity = read_bundle(tmp_path / "student-torchscript-fp32").manifest["parity"]
    assert parity["inputs_from"] == "easy-vqa (val)" and parity["n_inputs"] == 5


def test_failed_parity_exits_nonzero_with_figures_and_leaves_no_bundle(
    capsys, checkpoint, tmp_path
):
    code, out, err = _run(capsys, checkpoint, "--format", "torchscript", "--int8",
                          "--parity-inputs", 4, "--max-abs-diff", 0)
    assert code == 1
    assert "parity failed against the PyTorch fp32 model on 4 inputs: max |diff|" in out
    assert "failed" in out.splitlines()[-1]
    assert not (tmp_path / "student-torchscript-int8").exists()
    assert _hidden(tmp_path) == []


def test_killed_export_leaves_no_bundle_and_the_next_run_cleans_up(capsys, checkpoint, tmp_path):
    out = tmp_path / "out"
    final = out / "student-executorch-fp32"
    process = subprocess.Popen(
        [sys.executable, "-m", "export", str(checkpoint), "--format", "executorch",
         "--out", str(out), "--parity-inputs", "2"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while not (out.is_dir() and any(".partial-" in p.name for p in out.iterdir())):
            assert process.poll() is None, "the export ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)  # well inside the executorch lowering, which takes many seconds
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    assert process.returncode == -signal.SIGKILL
    assert not final.exists()
    (partial,) = _hidden(out)
    assert partial.startswith(".student-executorch-fp32.partial-")
    code, printed, err = _run(capsys, checkpoint, "--format", "torchscript", "--out", out,
                              "--parity-inputs", 2)
    assert code == 0, err
    assert f"removed {partial}" in printed
    assert _hidden(out) == [] and not final.exists()
    assert (out / "student-torchscript-fp32" / "manifest.json").is_file()


def test_command_line_errors_carry_no_traceback(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "export", str(tmp_path / "missing.pth"), "--format", "coreml"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "missing.pth: no such checkpoint file" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_full_disk_is_named_and_leaves_no_bundle(capsys, checkpoint, tmp_path, monkeypatch):
    import errno

    import export.manifest

    def disk_full(path, answers):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(export.manifest, "write_answers", disk_full)
    code, _, err = _run(capsys, checkpoint, "--format", "torchscript", "--parity-inputs", 2)
    assert code == 2  # a full disk is the user's to fix: exit 2 and one error line
    assert err == f"error: no space left on {tmp_path}\n"
    assert not (tmp_path / "student-torchscript-fp32").exists() and _hidden(tmp_path) == []


def test_name_prefixes_the_bundle_folder_and_must_be_a_plain_name(capsys, checkpoint, tmp_path):
    out = tmp_path / "named"
    base = (checkpoint, "--format", "torchscript", "--parity-inputs", 2, "--out", out)
    code, _, err = _run(capsys, *base, "--name", "tiny-teacher")
    assert code == 0, err
    assert [p.name for p in out.iterdir()] == ["tiny-teacher-torchscript-fp32"]
    code, _, err = _run(capsys, *base, "--name", "../elsewhere")
    assert code == 2 and "--name '../elsewhere'" in err and "Traceback" not in err

"""Faults a user meets outside the happy path: runs at once, files that point outside, sizes the
machine cannot hold. Each test sets the fault up for real (processes, symlinks, limits)."""

from __future__ import annotations

import json
import multiprocessing
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from test_benchmark_results import make_row

from benchmark.results import ResultsFile, read_rows
from vqa.checkpoint import save_checkpoint, tokenizer_record
from vqa.model import create_model
from vqa.tokenizer import Tokenizer, train_sentencepiece

WRITERS, ROWS_EACH = 4, 6


def _append_rows(path: Path, writer: int, start: multiprocessing.synchronize.Barrier) -> None:
    start.wait()  # every writer has started: their appends overlap
    results = ResultsFile(path, append=True)
    for i in range(ROWS_EACH):
        results.add(make_row(f"w{writer}-{i}"))


def test_runs_appending_to_one_results_file_at_once_keep_every_row(tmp_path):
    path = tmp_path / "same.jsonl"
    ResultsFile(path).add(make_row("before"))
    spawn = multiprocessing.get_context("spawn")
    start = spawn.Barrier(WRITERS)
    writers = [spawn.Process(target=_append_rows, args=(path, w, start)) for w in range(WRITERS)]
    for process in writers:
        process.start()
    for process in writers:
        process.join(timeout=120)
    assert [p.exitcode for p in writers] == [0] * WRITERS
    labels = [row["label"] for row in read_rows(path)]
    expected = {"before"} | {f"w{w}-{i}" for w in range(WRITERS) for i in range(ROWS_EACH)}
    assert len(labels) == len(expected) and set(labels) == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same.jsonl"]  # no lock file, no temp


# --- the exit-code contract: 2 for the user's input, 1 for a failed check, 130 interrupted ------

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ["what color is it", "is this a circle", "how many shapes are there"]


def _python(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "VQA_DEBUG": ""}
    return subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=env)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("checkpoint")
    spm = train_sentencepiece(QUESTIONS * 20, folder / "q.spm", 80)
    torch.manual_seed(0)
    model = create_model("beit3_tiny", num_answers=4, vocab_size=Tokenizer(spm).vocab_size)
    path = folder / "student.pth"
    save_checkpoint(path, model, answers=["yes", "no", "red", "unanswerable"],
                    tokenizer=tokenizer_record(Tokenizer(spm).model_bytes, 64))
    return path


def test_a_failed_parity_check_exits_1_with_one_failed_line_and_keeps_the_files(
    checkpoint, tmp_path
):
    done = _python("-m", "export", str(checkpoint), "--format", "torchscript", "--int8",
                   "--parity-inputs", "2", "--max-abs-diff", "0", "--out", str(tmp_path))
    assert done.returncode == 1, done.stderr
    kept = tmp_path / "student-torchscript-int8.parity-failed"
    assert done.stderr.splitlines() == [
        f"failed: 1 of 1 bundles: torchscript int8: parity failed against the PyTorch fp32 model "
        f"on 2 inputs: max |diff| {done.stderr.split('max |diff| ')[1].split(' ')[0]} > 0; "
        f"the exported files are kept in {kept}"
    ]
    assert (kept / "model.ptl").is_file() or any(kept.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == [kept.name]  # nothing under the name


def _read_only(folder: Path) -> list[str]:
    """A shell prefix that runs a command with `folder` mounted read-only (a private mount
    namespace: nothing outside the command sees it)."""
    return ["unshare", "-rm", "sh", "-c",
            f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}" '
            '&& exec "$@"', "sh"]


def test_an_export_to_a_read_only_file_system_is_an_input_error(checkpoint, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    probe = subprocess.run([*_read_only(folder), "touch", str(folder / "x")],
                           capture_output=True, text=True)
    if "Read-only file system" not in probe.stderr:
        pytest.skip(f"cannot mount a read-only folder here: {probe.stderr.strip()}")
    env = {**os.environ, "VQA_DEBUG": ""}
    done = subprocess.run(
        [*_read_only(folder), sys.executable, "-m", "export", str(checkpoint), "--format", "onnx",
         "--out", str(folder / "bundles")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"error: --out {folder / 'bundles'}: cannot write in {folder} (Read-only file system)\n"
    )
    assert done.stdout == ""  # refused before the checkpoint was read


def test_sigterm_ends_a_command_as_ctrl_c_does():
    started = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom vqa.errors import run_main\n"
         "def main(argv):\n    print('ready', flush=True)\n    time.sleep(60)\n"
         "sys.exit(run_main(main, []))"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert started.stdout.readline() == "ready\n"
    started.send_signal(signal.SIGTERM)
    _, err = started.communicate(timeout=60)
    assert started.returncode == 130 and err == "interrupted\n"


def test_a_killed_fixture_run_leaves_nothing_that_refuses_the_rerun(tmp_path):
    out = tmp_path / "fixture"
    process = subprocess.Popen(
        [sys.executable, "-m", "vqa.data.fixtures", str(out), "--n-train", "100000"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        images = out.glob("*/VizWizTrainImages/*.jpg")
        while next(images, None) is None:  # killed while it writes train images
            assert process.poll() is None, "the fixture run ended before it could be killed"
            images = out.glob("*/VizWizTrainImages/*.jpg")
        process.kill()
    finally:
        process.wait()
    assert not (out / "VizWiz").exists()
    done = _python("-m", "vqa.data.fixtures", str(out), "--n-train", "5")
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["VizWiz"]  # the killed run's folder is gone
    train = json.loads((out / "VizWiz" / "VizWizAnnotations" / "train.json").read_text())
    assert len(train) == 5


def test_a_diverged_run_names_the_command_that_starts_it_again(tmp_path):
    out = tmp_path / "run"
    argv = ["-m", "train", "finetune", "--data", "easy-vqa", "--arch", "beit3_tiny",
            "--img-size", "32", "--limit-train", "32", "--limit-val", "8", "--batch-size", "8",
            "--lr", "1e12", "--warmup-steps", "0", "--num-workers", "0", "--no-progress",
            "--out", str(out)]
    first = _python(*argv)
    assert first.returncode == 2 and "loss is not finite" in first.stderr, first.stderr
    command = first.stderr.split("to start again with half the learning rate: ")[1].strip()
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "train"] and words[-3:] == ["--lr", "5e+11", "--overwrite"]
    assert words[3:-3] == [w for w in argv[2:] if w not in ("--lr", "1e12")]
    again = _python(*words[1:])  # accepted: it trains (and diverges again at this rate)
    assert "holds another run" not in again.stderr and "loss is not finite" in again.stderr

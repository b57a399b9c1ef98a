"""Exact resume after SIGKILL, and a 2-process torchrun (gloo) run equal to a 1-process run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from train.cli import main
from vqa.checkpoint import CheckpointError, read_checkpoint
from vqa.data import load_vizwiz
from vqa.data.fixtures import write_vizwiz_fixture
from vqa.model import create_model
from vqa.tokenizer import train_sentencepiece

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def common(tmp_path_factory) -> list[str]:
    root = tmp_path_factory.mktemp("vizwiz")
    write_vizwiz_fixture(root, n_train=16, n_val=5, n_test=0, seed=2)
    spm = train_sentencepiece(
        [s.question for s in load_vizwiz(root, "train")], root / "q.spm", vocab_size=100
    )
    # Augmentation on: each sample's RandAugment draw must survive the kill and the rank split.
    return ["finetune", "--data", f"vizwiz:{root}", "--tokenizer", str(spm), "--arch",
            "beit3_tiny", "--text-len", "16", "--lr", "2e-3", "--warmup-steps", "2",
            "--no-progress", "--log-every", "1"]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path).state_dict


def _train(args: list[str]) -> None:
    """`python -m train` in a fresh interpreter: runs to be compared share no process state
    (thread counts or backend flags other tests may have set in this one)."""
    result = subprocess.run([sys.executable, "-m", "train", *args], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def _state(path: Path) -> dict | None:
    try:
        return read_checkpoint(path).extra["train_state"]
    except (CheckpointError, FileNotFoundError):
        return None


def test_sigkill_mid_epoch_then_resume_is_bitwise_exact(common, tmp_path):
    # Drop path draws from the global RNG in the training process: its state must be restored.
    args = [*common, "--epochs", "2", "--batch-size", "2", "--save-every", "2",
            "--drop-path", "0.2"]
    _train([*args, "--out", str(tmp_path / "ref"), "--num-workers", "0"])

    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "train", *args, "--out", str(run), "--num-workers", "0"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            state = _state(run / "last.pth")
            if state is not None and state["position"]["micro"] > 0:
                os.kill(process.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    position = _state(run / "last.pth")["position"]
    assert 0 < position["micro"] and position["step"] < 16  # mid-epoch, unfinished

    # Workers may change on resume: augmentation is seeded per sample, not per process.
    _train(["finetune", "--resume", str(run), "--num-workers", "1"])
    ref, resumed = _weights(tmp_path / "ref" / "last.pth"), _weights(run / "last.pth")
    assert ref.keys() == resumed.keys()
    assert all(torch.equal(ref[k], resumed[k]) for k in ref)
    ref_opt = _state(tmp_path / "ref" / "last.pth")["optimizer"]["state"]
    opt = _state(run / "last.pth")["optimizer"]["state"]
    assert all(torch.equal(ref_opt[i]["exp_avg_sq"], opt[i]["exp_avg_sq"]) for i in ref_opt)
    log = (run / "log.jsonl").read_text().splitlines()
    assert len(log) == len((tmp_path / "ref" / "log.jsonl").read_text().splitlines())


def test_two_processes_with_gloo_match_one_process(common, tmp_path):
    """Same global batch: 4 x 1 process against 1 x 2 processes x 2 accumulated micro-steps."""
    args = [*common, "--max-steps", "4", "--drop-path", "0", "--num-workers", "0"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    assert main([*args, "--batch-size", "4", "--out", str(tmp_path / "one")]) == 0
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         "-m", "train", *args, "--batch-size", "1", "--accum-steps", "2",
         "--out", str(tmp_path / "two")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "global batch 4 (1 x 2 process(es) x 2 accumulation)" in result.stdout
    one, two = read_checkpoint(tmp_path / "one" / "last.pth"), read_checkpoint(
        tmp_path / "two" / "last.pth"
    )
    for key, value in one.state_dict.items():
        assert torch.allclose(value, two.state_dict[key], rtol=1e-4, atol=5e-5), key
    torch.manual_seed(0)  # the run's seed: its initial weights
    start = create_model(one.config).state_dict()
    moved = max((one.state_dict[k] - start[k]).abs().max().item() for k in start)
    assert moved > 1e-3  # it did train, so equality means the same updates
    assert two.meta["step"] == 4
    assert one.meta["val"]["accuracy"]["overall"] == pytest.approx(
        two.meta["val"]["accuracy"]["overall"]
    )

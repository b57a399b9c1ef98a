"""scripts/sweep_easy_vqa.py: its fast loop does the arithmetic of `python -m train`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from vqa.checkpoint import read_checkpoint
from vqa.configs import get_config
from vqa.model import create_model, reinit_for_scratch

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "sweep_easy_vqa.py"



def test_two_steps_match_the_trainers(tmp_path: Path, load_script) -> None:
    """The student's recipe file (one process, batch 16), two optimizer steps on the first 64
    training questions: the weights the trainer writes (with its own data loader, tokenizer and
    schedule) are the sweep's with the same learning rate and warm-up. Both run on one thread:
    sums split over another number of threads round differently, and Adam's first steps turn
    that into whole learning-rate steps where a gradient is near zero."""
    recipe = {"arch": "beit3_easyvqa_student", "lr": 2e-3, "warmup": 1, "batch": 16}
    out = tmp_path / "trainer"
    subprocess.run(
        [sys.executable, "-m", "train", "finetune", "--config", "recipes/easy_vqa_student.toml",
         "--limit-train", "64", "--limit-val", "8", "--max-steps", "2", "--lr", "2e-3",
         "--warmup-steps", "1", "--device", "cpu", "--no-progress", "--out", str(out)],
        cwd=ROOT, check=True, capture_output=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    trained = read_checkpoint(out / "last.pth").state_dict

    script = load_script("sweep_easy_vqa")
    base = script.recipe("students")
    data = script.load_data(tmp_path, base, limit_train=64, limit_test=8)
    # 64 questions in batches of 16: 4 steps an epoch, and the trainer stopped after 2
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        row, model = script.train_run({**recipe, "name": "same", "epochs": 0.5}, base, data, None)
    finally:
        torch.set_num_threads(threads)
    assert row["steps"] == 2
    swept = model.state_dict()
    assert swept.keys() == trained.keys()
    for name, value in trained.items():
        torch.testing.assert_close(swept[name], value, rtol=0, atol=1e-6, msg=name)
    torch.manual_seed(0)  # the initialisation both started from: the steps did move it
    start = create_model(get_config(recipe["arch"], img_size=64, num_answers=13,
                                    vocab_size=data["vocab_size"]))
    reinit_for_scratch(start)
    assert (start.state_dict()["head.3.weight"] - swept["head.3.weight"]).abs().max() > 1e-4


def test_an_unknown_grid_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--grid", "teachers,pupils", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "--grid: unknown grid(s) pupils" in done.stderr

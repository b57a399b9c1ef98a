"""scripts/sweep_easy_vqa.py: a grid run is `python -m train` on the demo's recipe with the run's
keys, scored on test by `python -m train evaluate` with the official metric."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from train.cli import resolve
from vqa.checkpoint import read_checkpoint
from vqa.data.easy_vqa import load_easy_vqa

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "sweep_easy_vqa.py"


def test_a_run_changes_only_the_recipe_keys_it_names(tmp_path: Path, load_script) -> None:
    script = load_script("sweep_easy_vqa")
    path = script.write_recipe(tmp_path / "r.toml", script.run_recipe(
        "teachers", {"name": "x", "lr": 1e-3, "clip": 0.0, "batch": 64, "epochs": 1}))
    swept = resolve(["finetune", "--config", str(path)])
    demo = resolve(["finetune", "--config", str(ROOT / "recipes" / "easy_vqa_teacher.toml")])
    assert (swept.lr, swept.clip_grad, swept.batch_size) == (1e-3, None, 64)
    changed = {k for k, v in vars(swept).items() if vars(demo)[k] != v}
    assert changed == {"lr", "clip_grad", "batch_size", "config"}


def test_a_run_trains_and_is_scored_by_the_official_metric(tmp_path: Path, load_script) -> None:
    """Two optimizer steps of the teacher's recipe (64 questions, global batch 32) through the
    trainer; the test figure is checked against exact matches counted here: easy-VQA gives each
    question one answer ten times, so the official metric scores a prediction 100 or 0."""
    script = load_script("sweep_easy_vqa")
    out = tmp_path / "sweep"
    script.main(["--grid", "teachers", "--runs", "t-1e-3", "--scale", str(2 / 5.5),
                 "--limit-train", "64", "--limit-val", "8", "--limit-test", "24",
                 "--device", "cpu", "--num-workers", "0", "--out", str(out)])
    row = json.loads((out / "results.jsonl").read_text(encoding="utf-8"))
    assert row["steps"] == 2 == read_checkpoint(out / "t-1e-3" / "last.pth").meta["step"]
    predictions = json.loads((out / "t-1e-3" / "test_predictions.json").read_text("utf-8"))
    truth = {s.key: s for s in load_easy_vqa("test", limit=24)}
    right = [p["answer"] == truth[p["image"]].answers[0] for p in predictions]
    assert len(right) == 24
    assert row["test"] == pytest.approx(100 * sum(right) / 24, abs=1e-9)
    yesno = [r for r, p in zip(right, predictions, strict=True)
             if truth[p["image"]].answer_type == "yes/no"]
    assert row["test_yesno"] == pytest.approx(100 * sum(yesno) / len(yesno), abs=1e-9)
    assert [point[0] for point in row["val_curve"]] == [0.5, 1.0]  # every quarter epoch: 2 steps


def test_an_unknown_grid_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--grid", "teachers,pupils", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "--grid: unknown grid(s) pupils" in done.stderr

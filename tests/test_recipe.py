"""Recipe files (`--config`): values as defaults, command-line flags override single keys,
unknown keys and bad values are errors naming the file and key, every shipped recipe is valid,
and a run stores the values in force for `--resume`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from train.cli import resolve
from train.errors import TrainError

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted(p for p in (ROOT / "recipes").glob("*.toml") if not p.stem.endswith("_targets"))
"""Training recipes; *_targets.toml files hold a run's targets (benchmark.targets)."""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_recipe_values_replace_defaults_and_flags_override_them(tmp_path):
    recipe = _write(tmp_path, 'arch = "beit3_tiny"\nlr = 0.002\nbatch_size = 8\n'
                    'augment = false\nbalance = "answer-type"\nwarmup-steps = 5\n')
    base = ["finetune", "--data", "easy-vqa", "--out", str(tmp_path / "run")]
    defaults = resolve(base)
    args = resolve([*base, "--config", str(recipe), "--batch-size", "4"])
    assert (args.arch, args.lr, args.augment, args.balance, args.warmup_steps) == (
        "beit3_tiny", 0.002, False, "answer-type", 5)
    assert args.batch_size == 4  # the command line wins over the recipe
    assert args.epochs == defaults.epochs  # keys the recipe leaves out keep their defaults
    # A flag given after --config or before it overrides alike.
    before = resolve([*base[:1], "--lr", "0.1", *base[1:], "--config", str(recipe)])
    assert before.lr == 0.1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("learning_rate = 0.1\n", "unknown key 'learning_rate'"),
        ("batch-sise = 4\n", "did you mean 'batch-size'?"),
        ("teacher = 'x.pth'\n", "unknown key 'teacher'"),  # a distill option, not finetune's
        ("resume = 'runs/x'\n", "unknown key 'resume'"),
        ("lr = -1\n", "lr: must be > 0.0, got -1"),
        ("epochs = 'many'\n", "epochs: expected a number, got 'many'"),
        ("augment = 'no'\n", "augment: expected true or false"),
        ("balance = 'colour'\n", "balance: 'colour' is not one of none, answer-type"),
        ("lr = [1, 2]\n", "lr: a recipe holds plain values"),
        ("lr = = 1\n", "not valid TOML"),
    ],
)
def test_bad_recipes_name_file_and_key(tmp_path, text, message):
    recipe = _write(tmp_path, text)
    with pytest.raises(TrainError) as err:
        resolve(["finetune", "--config", str(recipe)])
    assert str(recipe) in str(err.value) and message in str(err.value)


def test_unknown_key_on_the_command_line_exits_2_with_one_line(tmp_path):
    recipe = _write(tmp_path, "learning_rate = 0.1\n")
    result = subprocess.run(
        [sys.executable, "-m", "train", "finetune", "--config", str(recipe), "--data",
         "easy-vqa", "--arch", "beit3_tiny", "--out", str(tmp_path / "run")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown key 'learning_rate'" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipes_are_valid(path):
    command = "distill" if "student" in path.stem else "finetune"
    args = resolve([command, "--config", str(path)])
    assert args.arch and args.lr > 0
    if path.stem.startswith("vizwiz"):
        assert args.data is None  # the data folder is the user's, given on the command line


def test_run_stores_the_recipe_and_resume_keeps_it(tmp_path):
    recipe = _write(tmp_path, 'arch = "beit3_easyvqa_student"\nimg-size = 32\ntext-len = 22\n'
                    'lr = 0.002\nbatch-size = 8\nepochs = 1\nmax-steps = 2\nlimit-train = 32\n'
                    'limit-val = 8\naugment = false\nnum-workers = 0\nwarmup-steps = 1\n')
    out = tmp_path / "run"
    base = [sys.executable, "-m", "train", "finetune"]
    first = subprocess.run(
        [*base, "--config", str(recipe), "--data", "easy-vqa", "--out", str(out),
         "--no-progress", "--lr", "0.001"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert first.returncode == 0, first.stderr
    settings = json.loads((out / "run.json").read_text())["settings"]
    assert (settings["lr"], settings["batch_size"], settings["img_size"]) == (0.001, 8, 32)
    assert settings["config"] == str(recipe)
    # The recipe file changes afterwards; --resume continues with the values stored in run.json.
    recipe.write_text('lr = 0.5\n', encoding="utf-8")
    again = subprocess.run([*base, "--resume", str(out), "--no-progress"], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "run.json").read_text())["settings"]["lr"] == 0.001

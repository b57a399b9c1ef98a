"""How far easy-VQA recipes get within a fixed training budget: a grid of runs, on a GPU or CPU.

Each run is `python -m train finetune` (teachers) or `distill` (students), run in this process
through the trainer's own command, on the demo's recipe files (recipes/easy_vqa_teacher.toml,
easy_vqa_student.toml) of which a grid run changes only the keys it names: its recipe is written
to OUT/NAME/recipe.toml. fp32 throughout (--amp off, no TF32). Epochs in the grids are the share
of an epoch each recipe gets in the demo's budget on 2 CPU cores (about 8 minutes for the
teacher, 4.5 for the student), from each model's training speed on such a machine; a run stops
after that many optimizer steps (--max-steps) on the schedule of that length.

The trainer scores the first 1,000 val questions every quarter epoch, then `python -m train
evaluate` scores the run's last weights on the whole test split; both with the official VizWiz
metric (all questions / yes-no). Rows go to OUT/results.jsonl. Students of the `students` grid
are distilled from the last weights of the `teachers` run (within the budget) with the best
final val accuracy.

    python scripts/sweep_easy_vqa.py --grid teachers,students --device cuda --out DIR
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

from train.cli import main as train_main
from train.recipe import read_recipe
from train.sampler import EpochOrder
from vqa.checkpoint import load_model
from vqa.configs import BEiT3Config, list_configs, register_config
from vqa.data.easy_vqa import load_easy_vqa
from vqa.io import atomic_write_text
from vqa.model import count_parameters

ROOT = Path(__file__).resolve().parents[1]
RECIPES = {
    "teachers": ("finetune", ROOT / "recipes" / "easy_vqa_teacher.toml"),
    "students": ("distill", ROOT / "recipes" / "easy_vqa_student.toml"),
}
"""The recipe behind each grid: what a run does not name is the recipe's."""
DEMO_PROCESSES = 2
"""Training processes of `make demo`: a recipe's batch size is per process."""
EXTRA_ARCHS = {
    "sweep_192x3": {"embed_dim": 192, "depth": 3, "num_heads": 6, "mlp_dim": 768},
    "sweep_128x4h8": {"embed_dim": 128, "depth": 4, "num_heads": 8, "mlp_dim": 512},
}
"""Wider teachers tried beside the recipe's (at least 4x the student's parameters)."""
GRIDS: dict[str, list[dict[str, Any]]] = {
    "teachers": [
        {"name": "t-3e-4", "lr": 3e-4, "warmup": 100, "epochs": 2.75},
        {"name": "t-3e-4-seed1", "lr": 3e-4, "warmup": 100, "epochs": 2.75,
         "seed": 1},
        {"name": "t-6e-4", "lr": 6e-4, "warmup": 100, "epochs": 2.75},
        {"name": "t-1e-3", "lr": 1e-3, "warmup": 300, "epochs": 2.75},
        {"name": "t-1e-3-seed1", "lr": 1e-3, "warmup": 300, "epochs": 2.75,
         "seed": 1},
        {"name": "t-1.5e-3", "lr": 1.5e-3, "warmup": 300, "epochs": 2.75},
        {"name": "t-2e-3", "lr": 2e-3, "warmup": 500, "epochs": 2.75},
        {"name": "t-1e-3-wd0", "lr": 1e-3, "warmup": 300, "epochs": 2.75,
         "wd": 0.0},
        {"name": "t-1e-3-wd0.2", "lr": 1e-3, "warmup": 300, "epochs": 2.75,
         "wd": 0.2},
        {"name": "t-1e-3-noclip", "lr": 1e-3, "warmup": 300, "epochs": 2.75,
         "clip": 0.0},
        {"name": "t-1e-3-batch64", "lr": 1e-3, "warmup": 150, "epochs": 2.9,
         "batch": 64},
        {"name": "t-6e-4-batch16", "lr": 6e-4, "warmup": 200, "epochs": 2.4,
         "batch": 16},
        {"name": "t-3e-4-4ep", "lr": 3e-4, "warmup": 100, "epochs": 4.0},
        {"name": "t-1e-3-4ep", "lr": 1e-3, "warmup": 300, "epochs": 4.0},
        {"name": "t-8heads-3e-4", "arch": "sweep_128x4h8", "lr": 3e-4, "warmup": 100,
         "epochs": 2.6},
        {"name": "t-192x3-6e-4", "arch": "sweep_192x3", "lr": 6e-4, "warmup": 300,
         "epochs": 2.0},
        {"name": "t-192x3-6e-4-seed1", "arch": "sweep_192x3", "lr": 6e-4, "warmup": 300,
         "epochs": 2.0, "seed": 1},
    ],
    "students": [
        {"name": "s-1e-3-batch64", "lr": 1e-3, "warmup": 150, "epochs": 5.5,
         "batch": 64},
        {"name": "s-1e-3-3.5ep", "lr": 1e-3, "warmup": 300, "epochs": 3.5},
    ],
}


RUN_KEYS = {"arch": "arch", "lr": "lr", "warmup": "warmup-steps", "wd": "weight-decay",
            "clip": "clip-grad", "seed": "seed", "batch": "batch-size"}
"""A grid run's keys and the recipe keys they replace (batch: the global batch, one process)."""
VAL_QUESTIONS = 1000


def register_archs() -> None:
    for name, dims in EXTRA_ARCHS.items():
        if name not in list_configs():
            register_config(
                BEiT3Config(name, img_size=64, patch_size=8, max_text_positions=32, **dims)
            )


def run_recipe(grid: str, run: dict[str, Any]) -> dict[str, Any]:
    """The grid's recipe with the keys `run` names; clip 0 is no clipping."""
    table = read_recipe(RECIPES[grid][1])
    table["batch-size"] = table.get("batch-size", 16) * DEMO_PROCESSES
    for key, recipe_key in RUN_KEYS.items():
        if key in run:
            table[recipe_key] = run[key]
    if not table.get("clip-grad"):
        table.pop("clip-grad", None)
    return table


def write_recipe(path: Path, table: dict[str, Any]) -> Path:
    """A recipe file of plain values (TOML: JSON's numbers, strings and booleans are TOML's)."""
    return atomic_write_text(path, "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items()))


def _train_size(limit: int | None) -> int:
    return len(load_easy_vqa("train", limit=limit))


def _train(argv: list[str]) -> None:
    if (code := train_main(argv)) != 0:
        raise SystemExit(f"python -m train {' '.join(argv)}: exit status {code}")


def _curve(run_dir: Path, steps_per_epoch: int) -> list[list[float]]:
    """[epoch, val accuracy, val yes/no accuracy] of every evaluation in the run's log."""
    curve = []
    for line in (run_dir / "log.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        if entry.get("kind") == "eval":
            accuracy = entry["accuracy"]
            curve.append([round(entry["step"] / steps_per_epoch, 2), accuracy["overall"],
                          accuracy["per_answer_type"].get("yes/no")])
    return curve


def train_run(
    grid: str, run: dict[str, Any], args: argparse.Namespace, teacher: Path | None
) -> dict[str, Any]:
    """One run through the trainer, then its last weights scored on test."""
    run_dir = args.out / run["name"]
    recipe = run_recipe(grid, run)
    config = write_recipe(run_dir.parent / f"{run['name']}.toml", recipe)
    order = EpochOrder(_train_size(args.limit_train), recipe["batch-size"], seed=0)
    steps_per_epoch = order.steps_per_epoch
    total = max(1, round(run["epochs"] * steps_per_epoch))
    argv = [RECIPES[grid][0], "--config", str(config), "--data", "easy-vqa",
            "--out", str(run_dir), "--epochs", str(math.ceil(total / steps_per_epoch)),
            "--max-steps", str(total), "--eval-every", str(max(1, steps_per_epoch // 4)),
            "--limit-val", str(args.limit_val), "--device", args.device, "--amp", "off",
            "--no-progress", "--num-workers", str(args.num_workers)]
    if args.limit_train:
        argv += ["--limit-train", str(args.limit_train)]
    if teacher is not None:
        argv += ["--teacher", str(teacher)]
    start = time.perf_counter()
    _train(argv)
    seconds = time.perf_counter() - start
    evaluate = ["evaluate", str(run_dir / "last.pth"), "--data", "easy-vqa", "--split", "test",
                "--out", str(run_dir / "test_predictions.json"), "--device", args.device,
                "--amp", "off", "--no-progress", "--num-workers", str(args.num_workers)]
    if args.limit_test:
        evaluate += ["--limit", str(args.limit_test)]
    _train(evaluate)
    metrics = json.loads((run_dir / "test_predictions.metrics.json").read_text("utf-8"))
    return {"name": run["name"], "run": run, "recipe": recipe,
            "parameters": count_parameters(load_model(run_dir / "last.pth")), "steps": total,
            "test": metrics["accuracy"]["overall"],
            "test_yesno": metrics["accuracy"]["per_answer_type"].get("yes/no"),
            "val_curve": _curve(run_dir, steps_per_epoch), "seconds": round(seconds, 1)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", default="teachers,students",
                        help=f"comma-separated grids: {', '.join(GRIDS)}")
    parser.add_argument("--runs", help="comma-separated run names: only these (default: all)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every run's epochs (a small value tries the script out)")
    parser.add_argument("--limit-train", type=int, help="train on the first N questions")
    parser.add_argument("--limit-val", type=int, default=VAL_QUESTIONS,
                        help="val questions of the curve")
    parser.add_argument("--limit-test", type=int, help="score the first N test questions")
    parser.add_argument("--num-workers", type=int, default=4, help="data loading processes")
    args = parser.parse_args(argv)
    grids = args.grid.split(",")
    if unknown := [g for g in grids if g not in GRIDS]:
        parser.error(f"--grid: unknown grid(s) {', '.join(unknown)}; expected {', '.join(GRIDS)}")
    if "students" in grids and "teachers" not in grids[: grids.index("students")]:
        parser.error("--grid students distils from the teachers grid's best run: "
                     "give --grid teachers,students")
    chosen = set(args.runs.split(",")) if args.runs else None
    known = {run["name"] for grid in grids for run in GRIDS[grid]}
    if chosen and (unknown := sorted(chosen - known)):
        parser.error(f"--runs: unknown run(s) {', '.join(unknown)}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device}: no CUDA device is available here")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out {args.out}: exists and is not empty")
    args.out.mkdir(parents=True, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    register_archs()
    teacher: tuple[float, Path] | None = None
    with (args.out / "results.jsonl").open("w", encoding="utf-8") as results:
        for grid in grids:
            for run in GRIDS[grid]:
                if chosen and run["name"] not in chosen:
                    continue
                budget = run["epochs"] <= 3  # the 4-epoch runs show the curve past the budget
                scaled = {**run, "epochs": run["epochs"] * args.scale}
                if grid == "students" and teacher is None:
                    raise SystemExit("no run of the teachers grid within the budget to distil "
                                     "the students from")
                row = train_run(grid, scaled, args,
                                teacher[1] if grid == "students" and teacher else None)
                results.write(json.dumps(row) + "\n")
                results.flush()
                curve = " ".join(f"{e}:{a}/{y}" for e, a, y in row["val_curve"])
                print(f"{row['name']:<20} test {row['test']:6.2f} % (yes/no "
                      f"{row['test_yesno']:6.2f} %)  val by epoch {curve}", flush=True)
                val = row["val_curve"][-1][1]
                if grid == "teachers" and budget and (teacher is None or val > teacher[0]):
                    teacher = (val, args.out / run["name"] / "last.pth")


if __name__ == "__main__":
    main()

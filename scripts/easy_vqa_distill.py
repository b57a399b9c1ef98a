"""Teacher, distilled student and undistilled student trained on easy-VQA on a CPU.

Three runs of `python -m train` on easy-VQA (from PyPI; no download), then each model scored on
the easy-VQA test split (9,673 questions) with the official VizWiz metric:

1. the teacher (beit3_easyvqa_teacher), finetuned from scratch;
2. a student (beit3_easyvqa_student, at most 1/4 of the teacher's parameters) distilled from
   the teacher's cached logits (sigmoid KD, hard-loss weight 0.5, T = 1: the `distill` defaults);
3. the same student trained on the ground truth alone, with the same steps, batch and schedule.

No augmentation: a crop can cut the shape a question asks about out of the image, and colour
operations change the answer to "what color is ...", so augmented labels would be wrong. With the
eval transform for training, the cached teacher logits are those of the exact images the student
sees.

    python scripts/easy_vqa_distill.py [--out runs/easy_vqa_distill] [--quick]

The recipes are recipes/easy_vqa_teacher.toml and recipes/easy_vqa_student.toml (those of
`make demo`); the student without a teacher runs the student's recipe through `finetune`. Each
training run goes through torchrun with --processes one-thread processes (DDP, gloo); the
recipes' batch size is per process. --quick is a smoke run of a few minutes (small subsets, low
accuracy). Runs in OUT are replaced each time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

from train.cli import main as train_main
from train.recipe import resolve
from vqa.checkpoint import load_model
from vqa.model import count_parameters

RECIPES = Path(__file__).resolve().parent.parent / "recipes"


def _run(argv: list[str], processes: int = 1) -> float:
    """Run `python -m train ...`, through torchrun when `processes` > 1; its wall time in seconds.

    Models this small split poorly over threads: one-thread processes (DDP, gloo) keep the
    cores busier than one process with as many threads.
    """
    start = time.perf_counter()
    if processes > 1:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
                   "--nproc-per-node", str(processes), "-m", "train", *argv]
        code = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}).returncode
    else:
        code = train_main(argv)
    if code != 0:
        raise SystemExit(f"python -m train {argv[0]} failed (exit status {code})")
    return time.perf_counter() - start


def _test_accuracy(run: Path, args: argparse.Namespace) -> tuple[float, float]:
    """Official accuracy of run/best.pth on easy-VQA test, and the evaluation's wall time."""
    argv = ["evaluate", str(run / "best.pth"), "--data", "easy-vqa", "--split", "test",
            "--out", str(run / "test_predictions.json"), "--batch-size", "256",
            "--num-workers", str(args.num_workers)]
    if args.quick:
        argv += ["--limit", "500"]
    seconds = _run(argv)
    metrics = json.loads((run / "test_predictions.metrics.json").read_text(encoding="utf-8"))
    return metrics["accuracy"]["overall"], seconds


def _minutes(seconds: float) -> str:
    return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/easy_vqa_distill"))
    parser.add_argument("--teacher-recipe", type=Path, default=RECIPES / "easy_vqa_teacher.toml")
    parser.add_argument("--student-recipe", type=Path, default=RECIPES / "easy_vqa_student.toml")
    parser.add_argument("--processes", type=int, default=2,
                        help="training processes (torchrun, one thread each)")
    parser.add_argument("--num-workers", type=int, default=0,
                        help="data loading processes per training process")
    parser.add_argument("--quick", action="store_true", help="a smoke run on small subsets")
    args = parser.parse_args()
    if args.processes < 1:
        parser.error(f"--processes must be at least 1, got {args.processes}")

    common = ["--num-workers", str(args.num_workers), "--overwrite", "--no-progress"]
    if args.quick:
        common += ["--limit-train", "2000", "--limit-val", "200", "--warmup-steps", "10"]
    out = args.out
    teacher_dir, student_dir, baseline_dir = out / "teacher", out / "student_kd", out / "student"
    teacher = ["--config", str(args.teacher_recipe), *common]
    student = ["--config", str(args.student_recipe), *common]

    times = {}
    times["teacher"] = _run(["finetune", *teacher, "--out", str(teacher_dir)], args.processes)
    times["student_kd"] = _run(["distill", *student, "--teacher", str(teacher_dir / "best.pth"),
                                "--teacher-cache", str(out / "teacher_logits"),
                                "--out", str(student_dir)], args.processes)
    times["student"] = _run(["finetune", *student, "--tokenizer",
                             str(teacher_dir / "tokenizer.spm"), "--out", str(baseline_dir)],
                            args.processes)
    arch = {
        run: resolve(["finetune", "--config", str(recipe)]).arch
        for run, recipe in ((teacher_dir, args.teacher_recipe),
                            (student_dir, args.student_recipe),
                            (baseline_dir, args.student_recipe))
    }

    rows = []
    for name, run in (
        ("teacher", teacher_dir),
        ("student, distilled", student_dir),
        ("student, no teacher", baseline_dir),
    ):
        accuracy, eval_seconds = _test_accuracy(run, args)
        params = count_parameters(load_model(run / "best.pth")) / 1e6
        rows.append((name, arch[run], params, accuracy, times[run.name], eval_seconds))

    split = "test (first 500 questions)" if args.quick else "test (9,673 questions)"
    print(f"\neasy-VQA {split}, official VizWiz accuracy; {torch.get_num_threads()} CPU threads")
    print(f"{'model':<22} {'arch':<24} {'params':>8} {'accuracy':>9} {'train wall':>11} "
          f"{'eval wall':>10}")
    for name, arch, params, accuracy, train_s, eval_s in rows:
        print(f"{name:<22} {arch:<24} {params:>6.2f} M {accuracy:>8.2f}% "
              f"{_minutes(train_s):>11} {_minutes(eval_s):>10}")
    ratio = rows[1][2] / rows[0][2]
    print(f"student / teacher parameters: {ratio:.3f}; the distilled student's train wall time "
          "includes computing the teacher's logits once")
    print(f"total wall time: {_minutes(sum(times.values()) + sum(r[5] for r in rows))}")


if __name__ == "__main__":
    main()

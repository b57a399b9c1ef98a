"""`make demo`: the main job on easy-VQA, end to end on a CPU, checking its own targets.

1. teacher    `python -m train finetune --config recipes/easy_vqa_teacher.toml`
2. student    `python -m train distill --config recipes/easy_vqa_student.toml`, from the teacher's
              cached logits
3. export     the student to every format, the teacher to ONNX; each at the format's reference
              precision (fp32; Core ML fp16) and int8, every bundle parity-checked
4. benchmark  every bundle and the PyTorch baselines on the whole easy-VQA test split (latency,
              memory, size, official VizWiz accuracy); report with plots
5. checks     `python -m benchmark report RESULTS --targets recipes/easy_vqa_targets.toml`:
              the trade-off table, then teacher >= 92 %, distilled student with at most 1/4 of
              the teacher's parameters >= 90 %, every int8 bundle within 0.5 points of its fp32
              bundle on the same questions (--min-teacher etc. change a target for this run)

Training runs through torchrun with --processes one-thread processes (the recipes' batch size is
per process). Each finished step is recorded in OUT/demo_state.json under a key made of its
inputs (the resolved recipe, the data, the upstream models' hashes): a rerun reuses a step whose
key is unchanged, continues an interrupted training run, and says so when it starts a step
over. Every file is written under a temporary name and renamed, so Ctrl-C leaves nothing
half-written under a final name.

Exit status: 0 when every target is met, 1 when one is missed (each named, with the gap) or a
step failed, 2 on bad input, 130 on Ctrl-C.

    python scripts/easy_vqa_demo.py [--out runs/demo] [--processes 2] [--targets FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmark.targets import read_targets
from train.cli import resolve
from train.recipe import recipe_of
from vqa.cli import NON_NEG_FLOAT, NON_NEG_INT, POS_FLOAT, POS_INT, HelpFormatter, add_debug_flag
from vqa.errors import UserError, run_main
from vqa.io import atomic_path, atomic_write_json, atomic_write_text, file_sha256

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "recipes"
STATE = "demo_state.json"
STEPS = ("teacher", "student", "export", "benchmark")
TARGET_FLAGS = {
    "min_teacher": "min-teacher-accuracy",
    "min_student": "min-student-accuracy",
    "max_param_ratio": "max-param-ratio",
    "max_int8_drop": "max-int8-drop",
}
"""The demo's target flags and the keys of the targets file they replace."""


class StepFailed(Exception):
    """A step's command failed; its own output above says why."""


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _key(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _data_version() -> str:
    try:
        return importlib.metadata.version("easy-vqa")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class Progress:
    """Prints, every `every` seconds, how far a training run is (from its log.jsonl)."""

    def __init__(self, name: str, log: Path, total_epochs: int, max_steps: int | None,
                 every: float) -> None:
        self.name, self.log, self.epochs, self.max_steps = name, log, total_epochs, max_steps
        self.every, self.start = every, time.perf_counter()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Progress:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()

    def _last_train_entry(self) -> dict[str, Any] | None:
        try:
            lines = self.log.read_text(encoding="utf-8").splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("kind") == "train":
                return entry
        return None

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start
        entry = self._last_train_entry()
        if entry is None or not entry.get("epoch"):
            return f"  {self.name}: preparing (data, tokenizer, model), {_minutes(elapsed)} in"
        step, epoch = entry["step"], entry["epoch"]
        total = round(step / epoch * self.epochs)
        if self.max_steps:
            total = min(total, self.max_steps)
        text = (f"  {self.name}: step {step} of {total} ({100 * step / total:.0f} %), "
                f"loss {entry['loss']:.3f}, {_minutes(elapsed)} in")
        rate = entry.get("samples_per_s")
        if step < total and rate:
            text += f", {entry['samples_per_s']:.0f} samples/s"
        return text

    def _loop(self) -> None:
        while not self.stop.wait(self.every):
            print(self.line(), flush=True)


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.out: Path = args.out
        self.state_path = self.out / STATE
        self.state: dict[str, Any] = {}
        if self.state_path.is_file():
            try:
                self.state = json.loads(self.state_path.read_text(encoding="utf-8"))
            except json.JSONDecodeError:
                print(f"{self.state_path}: unreadable; every step starts over", flush=True)
        self.models = self.out / "models"
        self.bundles = self.out / "bundles"
        self.results = self.out / "results.jsonl"
        self.report = self.out / "report"
        self.timings: dict[str, str] = {}

    # bookkeeping ------------------------------------------------------------------------------

    def _save_state(self) -> None:
        atomic_write_json(self.state_path, self.state)

    def _done(self, step: str, key: str, outputs: Sequence[Path]) -> bool:
        return self.state.get(step, {}).get("key") == key and all(p.exists() for p in outputs)

    def _begin(self, number: int, step: str, what: str, key: str) -> float:
        previous = self.state.get(step, {}).get("key")
        why = ""
        if previous is not None and previous != key:
            why = " (its inputs changed since the last run: starting it over)"
        print(f"\n== [{number}/{len(STEPS)}] {step}: {what}{why}", flush=True)
        return time.perf_counter()

    def _finish(self, step: str, key: str, start: float, **extra: Any) -> None:
        seconds = time.perf_counter() - start
        self.state[step] = {"key": key, "seconds": round(seconds, 1), **extra}
        self._save_state()
        self.timings[step] = _minutes(seconds)
        print(f"== {step}: done in {_minutes(seconds)}", flush=True)

    def _reuse(self, number: int, step: str, key: str) -> None:
        seconds = self.state[step].get("seconds", 0.0)
        self.timings[step] = f"reused ({_minutes(seconds)} when made)"
        print(f"\n== [{number}/{len(STEPS)}] {step}: done in an earlier run with the same inputs "
              f"(key {key}); reused", flush=True)

    def _command(self, argv: Sequence[str], env: dict[str, str] | None = None,
                 cwd: Path | None = None) -> int:
        child = subprocess.Popen([sys.executable, *argv], cwd=cwd, env=env)
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.wait()  # Ctrl-C reached it too; let it finish its cleanup
            raise

    def _run(self, argv: Sequence[str], what: str, ok: Sequence[int] = (0,),
             cwd: Path | None = None) -> int:
        code = self._command(argv, cwd=cwd)
        if code not in ok:
            raise StepFailed(f"{what} failed (exit status {code})")
        return code

    # steps ------------------------------------------------------------------------------------

    def train(self, number: int, step: str, command: str, recipe: Path,
              extra: Sequence[str], upstream: str) -> Path:
        run_dir = self.out / step
        model = self.models / f"{step}.pth"
        argv = [command, "--config", str(recipe), "--out", str(run_dir), *extra]
        settings = vars(resolve(argv))
        key = _key(recipe_of(settings), self.args.processes, _data_version(), upstream)
        if self._done(step, key, [model]):
            self._reuse(number, step, key)
            return model
        shown = recipe.relative_to(ROOT) if recipe.is_relative_to(ROOT) else recipe
        what = (f"{command} {settings['arch']} at {settings['img_size'] or 'its'} px, "
                f"{settings['epochs']} epoch(s), recipe {shown}")
        start = self._begin(number, step, what, key)
        started = self.state.get(f"{step}-started") == key and (run_dir / "run.json").is_file()
        if started:
            print(f"  continuing the interrupted run in {run_dir}", flush=True)
            argv = [command, "--resume", str(run_dir)]
        else:
            if (run_dir / "run.json").is_file():
                print(f"  {run_dir} holds a run with other settings: starting over", flush=True)
            argv = [*argv, "--overwrite"]
            self.state[f"{step}-started"] = key
            self._save_state()
        argv += ["--no-progress"]
        if self.args.processes > 1:
            argv = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                    str(self.args.processes), "-m", "train", *argv]
        else:
            argv = ["-m", "train", *argv]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        with Progress(step, run_dir / "log.jsonl", settings["epochs"], settings["max_steps"],
                      self.args.progress_every):
            code = self._command(argv, env)
        if code != 0:
            raise StepFailed(f"training the {step} failed (exit status {code})")
        with atomic_path(model) as tmp:
            shutil.copyfile(run_dir / "best.pth", tmp)
        self._finish(step, key, start)
        return model

    def export(self, number: int, models: dict[str, Path]) -> None:
        plan = {"student": self.args.formats, "teacher": self.args.teacher_formats}
        parity = ["--data", "easy-vqa", "--data-split", "val",
                  "--parity-inputs", str(self.args.parity_inputs)]
        if self.args.min_top1 is not None:
            parity += ["--min-top1", str(self.args.min_top1)]
        key = _key({name: file_sha256(path) for name, path in models.items()}, plan, parity)
        if self._done("export", key, [self.bundles]):
            self._reuse(number, "export", key)
            return
        jobs = list(plan.items())
        start = self._begin(number, "export", ", ".join(
            f"{name} to {fmt}" for name, fmt in jobs) + ", reference precision and int8", key)
        if self.bundles.exists():
            print(f"  {self.bundles} holds bundles of an unfinished or older export: replacing "
                  "them", flush=True)
            shutil.rmtree(self.bundles)
        count = 2 * len(jobs)
        done = 0
        for name, formats in jobs:
            for precision in ([], ["--int8"]):
                done += 1
                label = precision[0][2:] if precision else "fp32 (Core ML fp16)"
                print(f"  [{done}/{count}] {name} -> {formats}, {label}", flush=True)
                self._run(["-m", "export", str(models[name]), "--format", formats, *precision,
                           "--name", name, "--out", str(self.bundles), *parity],
                          f"export of the {name}")
        self._finish("export", key, start)

    def benchmark(self, number: int) -> None:
        bundles = sorted(p for p in self.bundles.iterdir() if (p / "manifest.json").is_file())
        options = ["--data", "easy-vqa", "--split", "test", "--runs", str(self.args.runs),
                   "--warmup", str(self.args.warmup)]
        if self.args.test_questions:
            options += ["--limit", str(self.args.test_questions)]
        key = _key(self.state["export"]["key"], options)
        if self._done("benchmark", key, [self.results, self.report]):
            self._reuse(number, "benchmark", key)
            return
        split = (f"the first {self.args.test_questions} test questions"
                 if self.args.test_questions else "the whole test split")
        start = self._begin(number, "benchmark", f"{len(bundles)} bundles and the PyTorch "
                            f"baselines, easy-VQA {split}", key)
        partial = self.out / ".results.partial.jsonl"
        partial.unlink(missing_ok=True)
        # A manifest names its source checkpoint by file name; from models/ the benchmark finds
        # teacher.pth and student.pth for the PyTorch baselines.
        self._run(["-m", "benchmark", "run", *(str(b.resolve()) for b in bundles), *options,
                   "--out", str(partial.resolve()),
                   "--work-dir", str((self.out / "benchmark_files").resolve())],
                  "the benchmark", ok=(0, 1), cwd=self.models)
        os.replace(partial, self.results)
        self._write_report()
        self._finish("benchmark", key, start)

    def _write_report(self) -> None:
        staged = self.out / ".report.partial"
        shutil.rmtree(staged, ignore_errors=True)
        self._run(["-m", "benchmark", "report", str(self.results), "--out", str(staged)],
                  "the report")
        old = self.out / ".report.old"
        shutil.rmtree(old, ignore_errors=True)
        if self.report.exists():
            os.replace(self.report, old)
        os.replace(staged, self.report)
        shutil.rmtree(old, ignore_errors=True)

    def _targets(self) -> Path:
        """The targets file, or a copy in OUT with the values of the target flags given."""
        given = {key: getattr(self.args, flag) for flag, key in TARGET_FLAGS.items()
                 if getattr(self.args, flag) is not None}
        if not given:
            return self.args.targets
        with self.args.targets.open("rb") as stream:
            table = {**tomllib.load(stream), **given}
        path = self.out / "targets.toml"
        atomic_write_text(path, "".join(f"{k} = {json.dumps(v)}\n" for k, v in table.items()))
        return path

    def run(self) -> int:
        start = time.perf_counter()
        resolve(["finetune", "--config", str(self.args.teacher_recipe)])  # bad recipes: stop now
        resolve(["distill", "--config", str(self.args.student_recipe)])
        self.out.mkdir(parents=True, exist_ok=True)
        teacher = self.train(1, "teacher", "finetune", self.args.teacher_recipe, [], "")
        student = self.train(2, "student", "distill", self.args.student_recipe,
                             ["--teacher", str(teacher)],
                             file_sha256(teacher))
        self.export(3, {"teacher": teacher, "student": student})
        self.benchmark(4)
        print(f"\nsteps: {', '.join(f'{k} {v}' for k, v in self.timings.items())}; "
              f"this run {_minutes(time.perf_counter() - start)}")
        print(f"report:      {self.report / 'report.md'} (plots: {self.report}/*.png)")
        print(f"checkpoints: {self.models}/teacher.pth, {self.models}/student.pth "
              f"(runs: {self.out}/teacher, {self.out}/student)")
        print(f"bundles:     {self.bundles}/")
        print(f"results:     {self.results}\n", flush=True)
        return self._run(["-m", "benchmark", "report", str(self.results),
                          "--targets", str(self._targets())], "the target checks", ok=(0, 1))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/easy_vqa_demo.py",
        description="The main job on easy-VQA (teacher, distilled student, export, benchmark), "
        "checking its own targets.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=Path("runs/demo"), help="demo folder")
    parser.add_argument("--teacher-recipe", type=Path, default=RECIPES / "easy_vqa_teacher.toml",
                        help="recipe of the teacher")
    parser.add_argument("--student-recipe", type=Path, default=RECIPES / "easy_vqa_student.toml",
                        help="recipe of the student")
    parser.add_argument("--processes", type=POS_INT, default=2,
                        help="training processes (torchrun), one thread each")
    parser.add_argument("--formats", default="all", help="export formats of the student")
    parser.add_argument("--teacher-formats", default="onnx",
                        help="export formats of the teacher (its accuracy and size are checked "
                        "on the PyTorch baselines the benchmark runs beside its bundles)")
    parser.add_argument("--parity-inputs", type=POS_INT, default=200,
                        help="easy-VQA val questions of the exporter's parity check")
    parser.add_argument("--min-top1", type=float,
                        help="the exporter's top-1 agreement threshold (default: its own)")
    parser.add_argument("--test-questions", type=POS_INT,
                        help="benchmark on the first N test questions (default: all 9,673)")
    parser.add_argument("--runs", type=POS_INT, default=20, help="timed runs per model")
    parser.add_argument("--warmup", type=NON_NEG_INT, default=3, help="untimed runs per model")
    parser.add_argument("--progress-every", type=POS_FLOAT, default=30.0,
                        help="seconds between progress lines of a training step")
    target = parser.add_argument_group(
        "targets (a missed one ends with exit status 1); a flag replaces the file's value")
    target.add_argument("--targets", type=Path, default=RECIPES / "easy_vqa_targets.toml",
                        help="targets file (python -m benchmark report --targets)")
    target.add_argument("--min-teacher", type=NON_NEG_FLOAT,
                        help="teacher accuracy on the test questions (%%)")
    target.add_argument("--min-student", type=NON_NEG_FLOAT,
                        help="distilled student accuracy on the test questions (%%)")
    target.add_argument("--max-param-ratio", type=POS_FLOAT,
                        help="student parameters / teacher parameters")
    target.add_argument("--max-int8-drop", type=float,
                        help="points an int8 bundle may lose against its fp32 bundle")
    return parser


def _main(argv: list[str]) -> int:
    parser = build_parser()
    add_debug_flag(parser)
    args = parser.parse_args(argv)
    if not args.formats.strip() or not args.teacher_formats.strip():
        raise UserError("--formats and --teacher-formats need at least one format")
    for path in (args.teacher_recipe, args.student_recipe):
        if not path.is_file():
            raise UserError(f"recipe {path}: no such file")
    read_targets(args.targets)  # a bad targets file: stop now
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: exists and is not a folder")
    try:
        return Demo(args).run()
    except StepFailed as err:
        print(f"\nerror: {err}; fix the cause and rerun: finished steps are reused",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted: nothing half-written is left under a final name; rerun to "
              "continue (finished steps are reused, training resumes from its last save)",
              file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    """Recipe and flag mistakes end with one line and exit code 2 (vqa.errors.run_main)."""
    return run_main(_main, argv)


if __name__ == "__main__":
    sys.exit(main())

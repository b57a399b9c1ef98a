"""`python -m benchmark [run] BUNDLE...`: latency, memory, size and accuracy on this host."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

from vqa.cli import NON_NEG_INT, POS_FLOAT, POS_INT, HelpFormatter
from vqa.errors import CHECK_FAILED_EXIT, INTERRUPTED_EXIT, UserError, check_failed
from vqa.progress import PROGRESS_ENV
from vqa.runtimes.emulated import CPUS as EMULATED_CPUS
from vqa.runtimes.emulated import DEFAULT_CPU

EPILOG = (
    "exit status: 0 every target measured (or skipped, said in its row); 2 bad input (a flag, "
    "a bundle that is missing, does not match its manifest or holds a bad tokenizer or answer "
    "list, --data, --out): one 'error: ...' line on stderr naming the file, nothing measured; "
    f"{CHECK_FAILED_EXIT} a target failed while measured (its runtime could not load or run the "
    "model): one 'failed: ...' line on stderr, every row kept in --out; "
    f"{INTERRUPTED_EXIT} interrupted (Ctrl-C or SIGTERM), the rows finished so far kept. "
    "See docs/errors.md."
)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `run` subcommand (also what `python -m benchmark BUNDLE...` means)."""
    parser = subparsers.add_parser(
        "run",
        help="benchmark bundles on this host (the default command)",
        description="Measure each bundle in its own process: load time, first inference, "
        "warm-up, timed runs (mean, p50, p90, p99, std, trimmed mean), peak RSS, RSS added by "
        "loading, file sizes; with --data also accuracy through the runtime (official VizWiz "
        "metric, agreement with PyTorch fp32). PyTorch eager fp32 and dynamic-int8 baselines "
        "come from each bundle's source checkpoint. Rows go to a JSON-lines file.",
        epilog=EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("bundles", type=Path, nargs="*", metavar="BUNDLE",
                        help="bundle folders written by `python -m export`")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        help="source checkpoint for the PyTorch baselines (default: the one the manifest names)",
    )
    parser.add_argument("--no-baselines", action="store_true", help="skip the PyTorch rows")
    parser.add_argument(
        "--data",
        help="easy-vqa or vizwiz:DIR: run every sample through each model and score "
        "it (without it, latency inputs are the first easy-VQA test samples, no accuracy)",
    )
    parser.add_argument("--split", default="val", choices=("train", "val", "test"),
                        help="data split")
    parser.add_argument("--limit", type=POS_INT, help="only the first N samples of the split")
    parser.add_argument(
        "--skip-bad", action="store_true",
        help="leave out (and count) bad entries, empty questions and undecodable images of "
        "--data instead of stopping at the first",
    )
    parser.add_argument("--runs", type=POS_INT, default=50, help="timed runs")
    parser.add_argument("--warmup", type=NON_NEG_INT, default=10,
                        help="untimed runs after the first")
    parser.add_argument("--threads", type=POS_INT,
                        help="threads of every runtime, at most the CPUs this process may run "
                        "on (default: all of them)")
    parser.add_argument(
        "--eval-batch", type=POS_INT, default=8,
        help="batch of the accuracy pass where the format allows",
    )
    parser.add_argument(
        "--latency-inputs", type=POS_INT, default=8,
        help="distinct samples the timed runs cycle through",
    )
    parser.add_argument(
        "--timeout", type=POS_FLOAT, default=3600.0,
        help="seconds one model may take, accuracy pass included",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("results.jsonl"), help="JSON-lines results file",
    )
    keep = parser.add_mutually_exclusive_group()
    keep.add_argument("--append", action="store_true",
                      help="keep the rows already in --out and add the new ones")
    keep.add_argument("--overwrite", action="store_true",
                      help="replace the rows already in --out")
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="predictions, logs, input cache (default: OUT without suffix + _files)",
    )
    parser.add_argument("--report", type=Path, metavar="DIR", help="write report.md and plots")
    parser.add_argument(
        "--no-roofline", action="store_true", help="do not measure the matmul ceiling"
    )
    interleave = parser.add_argument_group(
        "interleaved mode",
        "every target loaded at once (where memory is short: in groups that each hold the first "
        "target and both sides of each --targets ratio), each in its own process, then timed in "
        "rounds: in each "
        "round every target, in a fresh random order, runs --per-round inferences; rows keep "
        "their time per round (per_round_ms) for ratios with intervals",
    )
    interleave.add_argument("--interleave", action="store_true",
                            help="measure in interleaved rounds (--runs is not used)")
    interleave.add_argument("--rounds", type=POS_INT, default=20, help="rounds at least")
    interleave.add_argument(
        "--trials", type=POS_INT, default=3,
        help="the rounds are split into this many trials, each with freshly started measuring "
        "processes, so that a state one process holds for its life (memory placement, thread "
        "placement) is not taken for the target's speed",
    )
    interleave.add_argument("--per-round", type=POS_INT, default=3,
                            help="timed inferences of each target in a round")
    interleave.add_argument(
        "--targets", type=Path, metavar="FILE",
        help="JSON list of ratio targets {name, slower, faster, target, at_most}: labels of two "
        "rows; while one is undecided, further trials run up to --budget",
    )
    interleave.add_argument("--budget", type=POS_FLOAT, metavar="SECONDS",
                            help="time a group's trials (their loading included) may take while a "
                            "--targets verdict is open: further trials start until it has passed")
    interleave.add_argument("--seed", type=NON_NEG_INT, help="seed of the round orders")
    parser.add_argument(
        "--kernels", choices=("host", "arm64"), default="host",
        help="arm64: also score each arm64 ONNX/ExecuTorch bundle on emulated arm64 kernels "
        "(qemu-user; `make arm64-runtime` first): accuracy and agreement only, no latency",
    )
    parser.add_argument(
        "--cpu", choices=EMULATED_CPUS, default=DEFAULT_CPU,
        help="the emulated CPU model of --kernels arm64 (its features pick the kernels: "
        "cortex-a76 and cortex-a55 have dotprod, max has i8mm too)",
    )
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bars (they are off anyway when stderr is not a terminal)")
    parser.add_argument(
        "--coreml-units",
        choices=("all", "cpu", "cpu-gpu", "cpu-ne"),
        default="all",
        help="Core ML compute units on macOS",
    )
    parser.set_defaults(run=run)
    return parser


def _ratio_targets(path: Path | None) -> list:
    from benchmark.stats import RatioTarget

    if path is None:
        return []
    try:
        return [RatioTarget(**entry) for entry in json.loads(path.read_text("utf-8"))]
    except (OSError, ValueError, TypeError) as err:
        raise UserError(f"--targets {path}: not a JSON list of ratio targets ({err})") from None


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace) -> int:
    """0 when every bundle row is ok or skipped, 1 when a row is an error, 2 on bad input (one
    line, see vqa.errors), 130 on ^C or SIGTERM (rows kept, measuring processes stopped)."""
    from benchmark.arm64 import add_emulated_rows, check_request
    from benchmark.device import available_cpus
    from benchmark.harness import Harness, RunOptions
    from benchmark.inputs import DataSelection
    from benchmark.report import markdown_table, write_report
    from benchmark.results import ResultsFile
    from vqa.bundle import read_bundle
    from vqa.limits import check_threads

    if not args.bundles and args.checkpoint is None:
        raise UserError("give bundle folders, or --checkpoint for baselines alone")
    arm64_runtime = check_request(args.kernels, args.data)
    out: Path = args.out
    if out.is_dir():
        raise UserError(f"--out {out}: is a folder; give a results file (e.g. results.jsonl)")
    if out.is_file() and out.stat().st_size > 0 and not (args.append or args.overwrite):
        raise UserError(
            f"--out {out}: holds results already; pass --append to add rows to it or "
            "--overwrite to replace them"
        )
    if args.threads is not None:
        check_threads(args.threads, available_cpus())
    if args.no_progress:
        os.environ[PROGRESS_ENV] = "0"
    data = (
        DataSelection.parse(args.data, args.split, args.limit, args.skip_bad) if args.data else None
    )
    for path in args.bundles:  # a broken bundle is the user's: named before anything runs
        read_bundle(path).check_contents()
    options = RunOptions(
        bundles=args.bundles,
        work_dir=args.work_dir or out.with_name(out.stem + "_files"),
        checkpoint=args.checkpoint,
        baselines=not args.no_baselines,
        data=data,
        runs=args.runs,
        warmup=args.warmup,
        threads=args.threads or available_cpus(),
        eval_batch=args.eval_batch,
        timeout=args.timeout,
        latency_inputs=args.latency_inputs,
        roofline=not args.no_roofline,
        coreml_units=args.coreml_units,
        interleave=args.interleave,
        rounds=args.rounds,
        trials=args.trials,
        per_round=args.per_round,
        budget_s=args.budget,
        ratio_targets=_ratio_targets(args.targets),
        seed=args.seed,
    )
    results = ResultsFile(out, append=args.append)
    code = 0
    previous = signal.signal(signal.SIGTERM, _interrupt)  # ended as by ^C: rows kept
    try:
        Harness(options, results).run()
        if arm64_runtime is not None:
            add_emulated_rows(arm64_runtime, args.cpu, data, options.work_dir, results)
    except KeyboardInterrupt:
        print(f"\ninterrupted: {len(results.added)} rows kept in {out}", file=sys.stderr)
        code = INTERRUPTED_EXIT
    finally:
        signal.signal(signal.SIGTERM, previous)
    if results.added:
        print(markdown_table(results.added))
    if args.report and results.added:
        print(f"report: {write_report(results.added, args.report)}", file=sys.stderr)
    failed = [row for row in results.added if row["status"] == "error"]
    if code == 0 and failed:
        code = check_failed(
            f"{len(failed)} of {len(results.added)} targets: "
            + "; ".join(f"{row['label']}: {row['error'].splitlines()[0]}" for row in failed)
            + f" (rows in {out})"
        )
    return code

"""`python -m benchmark android BUNDLE`: the Android demo app's benchmark mode, driven over adb.

Pushes the bundle, starts the app's benchmark activity with intent extras, waits for the result
file the app writes, pulls it and adds its rows (results schema, device = the phone) to a
results file. The app contract (extras and result file) is in docs/ios_benchmark.md, beside the
iOS flow. Every adb call goes through one injectable function, so the command building and
parsing are tested without a phone.

With `--data`, the accuracy mode: N samples (images, questions, keys in `samples.json`) are
pushed once, the app predicts each (extras `samples` and `predictions`) and writes a
predictions file, which is pulled and scored here with the official metric; with
`--checkpoint`, also the agreement with PyTorch fp32 on the same samples. The figures go into
the phone's row as its `accuracy`.

Heat: a phone's speed moves by tens of per cent when it throttles. The app writes the thermal
state at the start and end of its measurement into each row (`thermal_start`, `thermal_end`:
PowerManager's status names in lower case); between bundles this driver waits for a cool phone:
`--cool-down` seconds at least, then, while the phone reports a throttled status (the app's last
row, or `dumpsys thermalservice`), up to `--cool-down-max` seconds. The next bundle's rows say
how long it waited and in which state it started.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmark.compare import UNTHROTTLED
from benchmark.inputs import DataSelection

DEFAULT_PACKAGE = "org.vizwiz.vqa"
DEFAULT_ACTIVITY = ".BenchmarkActivity"
REMOTE_DIR = "/data/local/tmp/vqa_bench"
"""Where bundles go: adb can write it and apps can read it (as ExecuTorch's demo apps do)."""
RESULT_DIR = "/sdcard/Android/data/{package}/files"
"""Where the app writes its result: its own external files folder, which adb can read."""
READY = "ready"
THERMAL_STATUSES = ("none", "light", "moderate", "severe", "critical", "emergency", "shutdown")
"""PowerManager.THERMAL_STATUS_* 0..6, the number `dumpsys thermalservice` prints."""

CommandRunner = Callable[[Sequence[str], float], subprocess.CompletedProcess]


class AdbError(RuntimeError):
    """An adb step that failed; the message has the command and adb's output."""


def run_command(command: Sequence[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), capture_output=True, text=True, timeout=timeout)


class Adb:
    """adb for one device; `runner` executes a command (tests pass a recorder)."""

    def __init__(
        self, adb: str = "adb", serial: str | None = None, runner: CommandRunner = run_command
    ) -> None:
        self.prefix = [adb, *(["-s", serial] if serial else [])]
        self.runner = runner

    def __call__(self, *args: str, timeout: float = 120, check: bool = True):
        command = [*self.prefix, *args]
        try:
            done = self.runner(command, timeout)
        except FileNotFoundError:
            raise AdbError(f"{command[0]} not found: install Android platform-tools") from None
        except subprocess.TimeoutExpired:
            raise AdbError(f"{shlex.join(command)}: no answer in {timeout:g} s") from None
        if check and done.returncode != 0:
            raise AdbError(
                f"{shlex.join(command)} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout or '').strip()}"
            )
        return done

    def shell(self, *argv: str, timeout: float = 120, check: bool = True):
        """One remote command; arguments are quoted, since adb joins them for the phone's sh."""
        return self("shell", shlex.join(argv), timeout=timeout, check=check)

    def shell_line(self, line: str, timeout: float = 120, check: bool = True):
        """A remote shell line as written (operators such as && kept); quote its parts yourself."""
        return self("shell", line, timeout=timeout, check=check)


@dataclass
class AndroidOptions:
    package: str = DEFAULT_PACKAGE
    activity: str = DEFAULT_ACTIVITY
    remote_dir: str = REMOTE_DIR
    result_dir: str = RESULT_DIR
    runs: int = 50
    warmup: int = 10
    threads: int = 4
    timeout: float = 900.0
    poll_seconds: float = 2.0
    cool_down: float = 60.0
    cool_down_max: float = 600.0


@dataclass
class AccuracyData:
    """Samples staged for the phone (a `benchmark samples` folder) and where they go."""

    spec: DataSelection
    samples: list
    local_dir: Path
    remote_dir: str
    checkpoint: Path | None = None
    references: dict[tuple[int, int, str], Path] = field(default_factory=dict)


def stage_samples(spec: DataSelection, folder: Path, remote_dir: str) -> AccuracyData:
    """The samples of `spec` as a samples folder (benchmark.samples' layout) at `folder`."""
    import shutil

    from benchmark.samples import write_samples

    samples = spec.load()
    shutil.rmtree(folder, ignore_errors=True)  # this tool's own staging folder, from a past run
    write_samples(samples, folder, spec.name, spec.split)
    return AccuracyData(spec, samples, folder, remote_dir)


def start_command(
    options: AndroidOptions,
    remote_bundle: str,
    remote_out: str,
    remote_samples: str | None = None,
    remote_predictions: str | None = None,
) -> list[str]:
    """The `am start` argv of the app's benchmark mode (-W waits for launch, -S restarts it)."""
    accuracy = []
    if remote_samples is not None:
        accuracy = ["--es", "samples", remote_samples, "--es", "predictions", remote_predictions]
    return [
        "am",
        "start",
        "-W",
        "-S",
        "-n",
        f"{options.package}/{options.activity}",
        "--es",
        "bundle",
        remote_bundle,
        "--ei",
        "runs",
        str(options.runs),
        "--ei",
        "warmup",
        str(options.warmup),
        "--ei",
        "threads",
        str(options.threads),
        "--es",
        "out",
        remote_out,
        *accuracy,
    ]


def phone_facts(adb: Adb) -> dict[str, str]:
    """Model, Android version and ABI, for messages and for rows that leave them blank."""
    props = {
        "name": "ro.product.model",
        "os": "ro.build.version.release",
        "arch": "ro.product.cpu.abi",
    }
    return {key: adb.shell("getprop", prop).stdout.strip() for key, prop in props.items()}


def benchmark_bundle(
    bundle_path: Path,
    adb: Adb,
    options: AndroidOptions,
    local_dir: Path,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
    data: AccuracyData | None = None,
) -> list[dict[str, Any]]:
    """Run the app's benchmark on one bundle; returns its validated, completed rows."""
    from benchmark.ingest import complete_from_bundle, score_app_predictions
    from benchmark.results import load_row_file, validate_row
    from vqa.bundle import read_bundle

    bundle = read_bundle(bundle_path)
    phone = phone_facts(adb)
    progress(f"phone: {phone['name']} (Android {phone['os']}, {phone['arch']})")
    name = bundle.path.resolve().name
    remote_bundle = f"{options.remote_dir}/{name}"
    result_dir = options.result_dir.format(package=options.package)
    remote_out = f"{result_dir}/{name}.result.json"
    remote_predictions = f"{result_dir}/{name}.predictions.json" if data else None
    adb.shell("mkdir", "-p", options.remote_dir)
    adb.shell("rm", "-rf", remote_bundle, remote_out, *([remote_predictions] if data else []))
    progress(f"pushing {bundle.path} ({bundle.bundle_bytes() / 1e6:.1f} MB)")
    adb("push", str(bundle.path), remote_bundle, timeout=options.timeout)
    adb.shell(*start_command(options, remote_bundle, remote_out,
                             data.remote_dir if data else None, remote_predictions))
    deadline = time.monotonic() + options.timeout
    while True:
        probe = adb.shell_line(f"test -f {shlex.quote(remote_out)} && echo {READY}", check=False)
        if READY in probe.stdout:
            break
        if time.monotonic() > deadline:
            raise AdbError(
                f"the app wrote no {remote_out} within {options.timeout:g} s "
                f"(is {options.package} installed with its benchmark mode?)"
            )
        sleep(options.poll_seconds)
    local_dir.mkdir(parents=True, exist_ok=True)
    local = local_dir / f"{name}.android.json"
    adb("pull", remote_out, str(local))
    accuracy = None
    if data is not None:
        local_predictions = local_dir / f"{name}.predictions.json"
        adb("pull", remote_predictions, str(local_predictions))
        reference = fp32_reference(data, bundle, local_dir) if data.checkpoint else None
        accuracy = score_app_predictions(local_predictions, data.local_dir, reference)
    rows = []
    for row in load_row_file(local):
        if accuracy is not None and row["status"] == "ok":
            row = {**row, "accuracy": accuracy[0], "notes": [*row.get("notes", []), *accuracy[1]]}
        row = complete_from_bundle(row, bundle)
        device = dict(row["device"])
        for key in ("name", "os", "arch"):
            if not device.get(key):
                device[key] = phone[key]
        row["device"] = device
        validate_row(row, f"{local} (completed)")
        rows.append(row)
    return rows


def thermal_status(adb: Adb) -> str | None:
    """The phone's thermal status name (`dumpsys thermalservice`, Android 10+), None if unknown."""
    try:
        text = adb.shell("dumpsys", "thermalservice", check=False).stdout or ""
    except AdbError:
        return None
    found = re.search(r"^\s*Thermal Status:\s*(\d+)", text, re.MULTILINE)
    if found is None or int(found.group(1)) >= len(THERMAL_STATUSES):
        return None
    return THERMAL_STATUSES[int(found.group(1))]


def cool_down(
    adb: Adb,
    last_rows: Sequence[dict[str, Any]],
    options: AndroidOptions,
    sleep: Callable[[float], None] = time.sleep,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> str:
    """Wait for a cool phone before the next bundle; returns the note its rows get.

    options.cool_down seconds at least; then, polling every poll_seconds, while the phone's
    status is throttled, up to options.cool_down_max seconds in all. Where the phone does not
    say (no dumpsys thermalservice), the app's word is taken: after a row that ended throttled
    the whole cool_down_max is waited.
    """
    ended = sorted({str(r["thermal_end"]) for r in last_rows if r.get("thermal_end")})
    app_hot = any(state not in UNTHROTTLED for state in ended)
    progress(f"cooling down ({options.cool_down:g} s at least, {options.cool_down_max:g} s at "
             f"most; the last bundle ended {', '.join(ended) or 'without a thermal state'})")
    sleep(options.cool_down)
    waited = options.cool_down
    status = thermal_status(adb)
    while waited < options.cool_down_max and (
        status not in UNTHROTTLED if status is not None else app_hot
    ):
        step = min(options.poll_seconds if status is not None else options.cool_down_max,
                   options.cool_down_max - waited)
        sleep(step)
        waited += step
        status = thermal_status(adb)
    state = status or "unknown (no dumpsys thermalservice)"
    if status is not None and status not in UNTHROTTLED:
        state += f", still throttled after the longest cool-down ({options.cool_down_max:g} s)"
    return f"started after a cool-down of {waited:g} s; phone thermal status then: {state}"


def fp32_reference(data: AccuracyData, bundle, work: Path) -> Path:
    """PyTorch fp32 predictions of the source checkpoint on the samples, at the bundle's inputs.

    Written once per image size, text length and tokenizer, in the predictions format, as the
    reference that `benchmark ingest --reference` also takes.
    """
    import numpy as np
    import torch

    from benchmark.inputs import build_input_cache
    from vqa.checkpoint import load_model, read_checkpoint
    from vqa.io import atomic_write_json

    pre = bundle.manifest["preprocessing"]
    tokenizer = bundle.manifest["tokenizer"]
    key = (pre["image_size"], tokenizer["max_len"], tokenizer["sha256"])
    if key in data.references:
        return data.references[key]
    cache = build_input_cache(data.samples, pre["image_size"], bundle.tokenizer_path(),
                              tokenizer["max_len"], work / "inputs", progress=False)
    model = load_model(data.checkpoint, img_size=pre["image_size"])
    answers = read_checkpoint(data.checkpoint).answers or bundle.answers()
    predictions = []
    with torch.inference_mode():
        for start in range(0, len(cache), 16):
            index = list(range(start, min(start + 16, len(cache))))
            image, question, mask = cache.batch(index, pre["mean"], pre["std"], pre["scale"])
            logits = model(torch.from_numpy(image), torch.from_numpy(question),
                           torch.from_numpy(mask)).float().numpy()
            predictions += [{"image": cache.keys[i], "answer": answers[int(j)]}
                            for i, j in zip(index, np.argmax(logits, axis=1), strict=True)]
    path = work / f"fp32_{key[0]}px_{key[1]}_{key[2][:12]}.predictions.json"
    atomic_write_json(path, predictions)
    data.references[key] = path
    return path


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register the `android` subcommand."""
    parser = subparsers.add_parser(
        "android",
        help="benchmark bundles on an Android phone through the demo app (adb)",
        description="Push each bundle, start the demo app's benchmark activity with intent "
        "extras (bundle, runs, warmup, threads, out), wait for its result file, pull it and add "
        "its rows to the results file.",
    )
    parser.add_argument("bundles", type=Path, nargs="+", metavar="BUNDLE",
                        help="bundle folders written by `python -m export`")
    parser.add_argument("--adb", default="adb", help="adb executable (adb)")
    parser.add_argument("--serial", help="device serial (adb -s), when several are attached")
    parser.add_argument("--package", default=DEFAULT_PACKAGE, help=f"app id ({DEFAULT_PACKAGE})")
    parser.add_argument(
        "--activity", default=DEFAULT_ACTIVITY, help=f"benchmark activity ({DEFAULT_ACTIVITY})"
    )
    parser.add_argument(
        "--remote-dir", default=REMOTE_DIR, help=f"bundle folder on the phone ({REMOTE_DIR})"
    )
    parser.add_argument(
        "--result-dir",
        default=RESULT_DIR,
        help=f"where the app writes its result file ({RESULT_DIR})",
    )
    parser.add_argument("--runs", type=int, default=50,
                        help="timed runs on the phone (default: 50)")
    parser.add_argument("--warmup", type=int, default=10,
                        help="untimed runs after the first (default: 10)")
    parser.add_argument("--threads", type=int, default=4, help="threads the app uses (4)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per bundle (900)")
    parser.add_argument(
        "--cool-down", type=float, default=60.0, metavar="SECONDS",
        help="wait between bundles at least this long (60), then while the phone reports a "
        "throttled thermal status",
    )
    parser.add_argument("--cool-down-max", type=float, default=600.0, metavar="SECONDS",
                        help="the longest wait between bundles (600)")
    parser.add_argument(
        "--data", metavar="SPEC",
        help="accuracy mode: easy-vqa or vizwiz:DIR; the app predicts --limit samples of it",
    )
    parser.add_argument("--data-split", default="val", help="split of --data (val)")
    parser.add_argument("--limit", type=int, default=100, help="samples for --data (100)")
    parser.add_argument(
        "--checkpoint", type=Path,
        help="source checkpoint: with --data, agreement with its PyTorch fp32 answers",
    )
    parser.add_argument("--results", type=Path, default=Path("results.jsonl"),
                        help="JSON-lines results file the rows are added to "
                        "(default: results.jsonl)")
    parser.add_argument("--report", type=Path, metavar="DIR")
    parser.set_defaults(run=run)
    return parser


def run(
    args: argparse.Namespace,
    runner: CommandRunner = run_command,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Each bundle in turn; 1 when one failed (the others still run), 0 otherwise."""
    from benchmark.report import write_report
    from benchmark.results import ResultsFile
    from vqa.errors import UserError

    adb = Adb(args.adb, args.serial, runner)
    options = AndroidOptions(
        package=args.package,
        activity=args.activity,
        remote_dir=args.remote_dir,
        result_dir=args.result_dir,
        runs=args.runs,
        warmup=args.warmup,
        threads=args.threads,
        timeout=args.timeout,
        cool_down=args.cool_down,
        cool_down_max=max(args.cool_down, args.cool_down_max),
    )
    results = ResultsFile(args.results, append=True)
    local_dir = args.results.with_name(args.results.stem + "_files") / "android"
    data = None
    if args.data is not None:
        if args.checkpoint is not None and not args.checkpoint.is_file():
            print(f"error: --checkpoint {args.checkpoint}: file not found", file=sys.stderr)
            return 2
        try:
            spec = DataSelection.parse(args.data, args.data_split, args.limit)
            data = stage_samples(spec, local_dir / "samples", f"{options.remote_dir}/samples")
        except UserError as err:
            print(f"error: --data {args.data}: {err}", file=sys.stderr)
            return 2
        data.checkpoint = args.checkpoint
        try:
            adb.shell("mkdir", "-p", options.remote_dir)
            adb.shell("rm", "-rf", data.remote_dir)
            adb("push", str(data.local_dir), data.remote_dir, timeout=options.timeout)
        except AdbError as err:
            print(f"error: pushing the samples: {err}", file=sys.stderr)
            return 1
    elif args.checkpoint is not None:
        print("error: --checkpoint needs --data (it is the accuracy reference)", file=sys.stderr)
        return 2
    failed = 0
    last_rows: list[dict[str, Any]] | None = None
    for bundle in args.bundles:
        try:
            cooled = cool_down(adb, last_rows, options, sleep) if last_rows is not None else None
            rows = benchmark_bundle(bundle, adb, options, local_dir, sleep=sleep, data=data)
        except (AdbError, UserError) as err:
            print(f"error: {bundle}: {err}", file=sys.stderr)
            failed += 1
            last_rows = []  # the phone may be hot all the same
            continue
        if cooled:
            rows = [{**row, "notes": [*row.get("notes", []), cooled]} for row in rows]
        last_rows = rows
        results.extend(rows)
        print(f"{bundle}: {len(rows)} rows added to {args.results}", file=sys.stderr)
    if args.report and results.rows:
        print(f"report: {write_report(results.rows, args.report)}", file=sys.stderr)
    return 1 if failed else 0

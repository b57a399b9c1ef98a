"""The host benchmark run: each target measured in its own process, each outcome a result row.

A crash, an error or a hang (past the timeout) of one measuring process becomes an error row and
the run goes on; rows are written one by one, so Ctrl-C (or SIGTERM) keeps every row finished
before it. Measuring processes end with the run, however it ends (benchmark.parent).

Sequential (the default): one target after another, each loaded, warmed up and timed in a fresh
process. Interleaved (`interleave=True`): every target is loaded once in its own long-lived
process, then timed in randomized rounds (benchmark.interleave), and each row keeps its time per
round (`per_round_ms`) so that a ratio between two rows is taken round by round with an interval
(benchmark.stats.paired_ratio). Targets whose estimated memory does not fit the machine at once
are interleaved in groups that each hold the reference target (the first one).

The machine is probed (matmul ceiling, a reference run and an int8 run) before the first target,
between measured targets (sequential runs) and after the last; every row gets the probes and
whether they moved (`machine_check`): the verdict of a sequential run, a diagnostic beside the
paired intervals of an interleaved one.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

import benchmark
from benchmark.device import available_cpus, host_device
from benchmark.inputs import DataSelection, InputCache, build_input_cache
from benchmark.interleave import SessionError, plan_groups, run_trials
from benchmark.parent import WATCH_ENV, die_with_parent
from benchmark.plan import Target, baseline_targets, bundle_target, fill_model_figures
from benchmark.probe import achieved, machine_check
from benchmark.results import ResultsFile, now_iso
from benchmark.runners import unavailable_reason
from benchmark.runners.base import RunnerSpec
from benchmark.stats import INTERVAL_METHOD, RatioTarget, format_ratio, summarize
from benchmark.worker import REPLY_FD_ENV, write_json
from vqa.progress import progress_enabled

WORKER = (sys.executable, "-m", "benchmark.worker")
PROBE = (sys.executable, "-m", "benchmark.probe")
LOG_TAIL_LINES = 12
POLL_S = 0.5
"""How often a waiting run reads its child's progress file."""


@dataclass
class RunOptions:
    bundles: Sequence[Path]
    work_dir: Path
    checkpoint: Path | None = None
    baselines: bool = True
    data: DataSelection | None = None
    runs: int = 50
    warmup: int = 10
    threads: int = field(default_factory=available_cpus)
    eval_batch: int = 8
    timeout: float = 3600.0
    latency_inputs: int = 8
    roofline: bool = True
    coreml_units: str = "all"
    interleave: bool = False
    rounds: int = 20
    trials: int = 3
    per_round: int = 3
    budget_s: float | None = None
    ratio_targets: Sequence[RatioTarget] = ()
    seed: int | None = None
    memory_available: int | None = None
    """Bytes the interleaved targets may hold at once (default: what the machine has free)."""


@dataclass
class Reference:
    """The fp32 PyTorch predictions of one source, for agreement and logit error."""

    answers: list[str]
    logits: Path


def _child_env(threads: int) -> dict[str, str]:
    env = dict(os.environ)
    root = str(Path(benchmark.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[name] = str(threads)
    env[WATCH_ENV] = str(os.getpid())  # children end with us (benchmark.parent)
    return env


def run_process(
    command: Sequence[str], log: Path, timeout: float, env: dict[str, str],
    progress: tuple[Path, str] | None = None,
) -> tuple[int | None, str]:
    """Run in a new session, output to `log`; (exit code or None on timeout, last log lines).

    The whole process group is killed on a timeout or on Ctrl-C, so no runtime thread lingers.
    `progress` (a file the child writes `{"done", "total"}` into, and a label) is drawn as a bar
    while waiting: the child's own output goes to the log, not to the terminal.
    """
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            list(command), stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            preexec_fn=die_with_parent,
        )
        try:
            code: int | None = _wait(proc, timeout, progress)
        except subprocess.TimeoutExpired:
            _kill(proc)
            code = None
        except BaseException:
            _kill(proc)
            raise
    lines = log.read_text("utf-8", errors="replace").splitlines()
    return code, "\n".join(lines[-LOG_TAIL_LINES:])


def _wait(
    proc: subprocess.Popen, timeout: float, progress: tuple[Path, str] | None
) -> int:
    if progress is None or not progress_enabled():
        return proc.wait(timeout=timeout)
    path, label = progress
    deadline = time.monotonic() + timeout
    with tqdm(desc=label, unit="sample", leave=False, dynamic_ncols=True, file=sys.stderr) as bar:
        while True:
            try:
                return proc.wait(timeout=min(POLL_S, max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    raise
            state = _read_result(path)
            if state:
                bar.total = state["total"]
                bar.update(state["done"] - bar.n)


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


class WorkerSession:
    """A target loaded in a long-lived `benchmark.worker --serve` process (interleaved mode).

    Commands go to its standard input, replies come as JSON lines on a pipe of their own, so the
    runtime's own output stays in the log.
    """

    def __init__(
        self, label: str, command: Sequence[str], spec: Path, log: Path, env: dict[str, str],
        timeout: float,
    ) -> None:
        self.label = label
        self.log = log
        self.timeout = timeout
        self.rss_bytes = 0
        self.times_s: list[float] = []
        self._buffer = b""
        read_end, write_end = os.pipe()
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(
                [*command, "--serve", str(spec)], stdin=subprocess.PIPE, stdout=out,
                stderr=subprocess.STDOUT, env={**env, REPLY_FD_ENV: str(write_end)},
                start_new_session=True, pass_fds=(write_end,), preexec_fn=die_with_parent,
            )
        os.close(write_end)
        self._replies = read_end

    def _reply(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SessionError(f"timed out after {self.timeout:g} s")
            ready, _, _ = select.select([self._replies], [], [], left)
            if ready:
                chunk = os.read(self._replies, 65536)
                if not chunk:
                    raise SessionError("the measuring process ended")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        reply = json.loads(line)
        self.rss_bytes = reply.get("rss_bytes", self.rss_bytes)
        return reply

    def _send(self, command: dict[str, Any]) -> dict[str, Any]:
        try:
            self.proc.stdin.write(json.dumps(command).encode() + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            raise SessionError("the measuring process ended") from None
        return self._reply()

    def ready(self) -> None:
        """Wait until the model is loaded and warmed up (SessionError if it never is)."""
        self._reply()

    def time(self, n: int) -> list[float]:
        taken = self._send({"run": n})["times_s"]
        self.times_s += taken
        return taken

    def finish(self) -> int | None:
        """End the timed runs (the accuracy pass runs then, when asked); the exit code, or None
        when the process had to be killed (a timeout)."""
        try:
            self._send({"finish": True})
            code: int | None = self.proc.wait(timeout=self.timeout)
        except (SessionError, subprocess.TimeoutExpired):
            code = self.proc.poll()
            if code is None:
                self.kill()
        self.close()
        return code

    def kill(self) -> None:
        _kill(self.proc)
        self.close()

    def close(self) -> None:
        if self._replies is not None:
            os.close(self._replies)
            self._replies = None
        if not self.proc.stdin.closed:
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass

    def tail(self) -> str:
        lines = self.log.read_text("utf-8", errors="replace").splitlines()
        return "\n".join(lines[-LOG_TAIL_LINES:])


class Harness:
    """Plans the targets of a run, measures each, scores it and writes its row."""

    def __init__(
        self,
        options: RunOptions,
        results: ResultsFile,
        progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
        worker_command: Sequence[str] = WORKER,
    ) -> None:
        self.options = options
        self.results = results
        self.progress = progress
        self.worker_command = tuple(worker_command)
        self.run_id = uuid.uuid4().hex[:12]
        self.work = options.work_dir
        for sub in ("logs", "specs", "predictions", "inputs"):
            (self.work / sub).mkdir(parents=True, exist_ok=True)
        self.env = _child_env(options.threads)
        self.ceiling: dict | None = None
        self.start_probe: dict | None = None
        self.references: dict[str, Reference] = {}
        self.samples: list | None = None
        self.annotations: Path | None = None

    # planning -------------------------------------------------------------------------------

    def plan(self) -> list[Target]:
        taken: set[str] = set()
        bundles = [bundle_target(Path(p), taken) for p in self.options.bundles]
        baselines = []
        if self.options.baselines:
            baselines = baseline_targets(bundles, self.options.checkpoint, taken, self.work)
        targets = baselines + bundles
        for t in targets:
            if t.error is None:
                fill_model_figures(t)
        return targets

    def _load_samples(self) -> list:
        if self.samples is None:
            if self.options.data is not None:
                data = self.options.data
                self.samples = data.load()
                if not self.samples:
                    raise ValueError(f"{data.name} {data.split}: no samples")
                self._write_annotations()
            else:
                from vqa.data import load_easy_vqa

                self.samples = load_easy_vqa("test", limit=self.options.latency_inputs)
        return self.samples

    def _write_annotations(self) -> None:
        from vqa.data import write_annotations

        if all(s.answers for s in self.samples):
            data = self.options.data
            name = "easy-vqa" if data.root is None else data.root.name
            self.annotations = (
                self.work / f"annotations_{name}_{data.split}_{len(self.samples)}.json"
            )
            write_annotations(self.samples, self.annotations)

    def _inputs(self, t: Target) -> InputCache:
        return build_input_cache(
            self._load_samples(), t.image_size, t.tokenizer_path, t.max_len, self.work / "inputs"
        )

    # running --------------------------------------------------------------------------------

    def run(self) -> list[dict[str, Any]]:
        """Measure every target and return the rows; each row is in the results file already.

        Bad --data fails here, before anything is measured; a target that fails is a row.
        """
        if self.options.interleave:
            return self.run_interleaved()
        targets = self.plan()
        self._load_samples()
        if self.options.roofline:
            self.start_probe = self.ceiling = self._probe("start")
        written = []
        between: list[dict | None] = []
        measured = False  # since the last probe: a skipped target leaves the machine as it was
        for i, t in enumerate(targets, start=1):
            if self.options.roofline and measured:
                between.append(self._probe(f"before {i}"))
            self.progress(f"[{i}/{len(targets)}] {t.label}: measuring")
            row = self.measure(t)
            measured = row["status"] != "skipped"
            if self.options.roofline:
                row["machine_check"] = machine_check(self.start_probe, None, between=between)
            self.results.add(row)
            written.append(row)
            self.progress(f"[{i}/{len(targets)}] {t.label}: {_summary(row)}")
        if self.options.roofline:
            check = machine_check(self.start_probe, self._probe("end"), between=between)
            self.results.update_run(self.run_id, {"machine_check": check})
            for row in written:
                row["machine_check"] = check
            verdict = "DISTURBED, rerun on a quiet machine" if check["disturbed"] else "steady"
            self.progress(f"machine {verdict}: {check['reason']}")
        return written

    def _probe(self, when: str) -> dict | None:
        """Matmul ceiling, reference run and int8 run in a fresh process; None when that fails."""
        name = when.replace(" ", "_")
        log = self.work / "logs" / f"probe_{name}.log"
        out = self.work / "specs" / f"probe_{name}.json"
        out.unlink(missing_ok=True)
        command = [
            *PROBE, "--threads", str(self.options.threads), "--reference", "--out", str(out)
        ]
        code, tail = run_process(command, log, self.options.timeout, self.env)
        probe = _read_result(out)
        if code != 0 or not probe:
            self.progress(f"machine probe ({when}) failed (log: {log}): {tail}")
            return None
        self.progress(
            f"machine probe ({when}): matmul fp32 {probe['gflops']:.1f} GFLOP/s, reference run "
            f"{probe['reference']['ms_median']:.2f} ms, int8 run {probe['int8']['ms_median']:.2f} "
            f"ms ({self.options.threads} threads)"
        )
        return probe

    def _unmeasurable_row(self, t: Target) -> dict[str, Any] | None:
        """The row of a target that cannot be measured here (planning error, runtime missing)."""
        row = self._base_row(t)
        if t.error:
            return {**row, "status": "error", "error": t.error}
        reason = unavailable_reason(t.format)
        if reason:
            return {**row, "status": "skipped", "error": reason}
        return None

    # interleaved ------------------------------------------------------------------------------

    def run_interleaved(self) -> list[dict[str, Any]]:
        """Every target loaded at once (or in groups that fit the memory), timed in rounds."""
        import psutil

        options = self.options
        targets = self.plan()
        self._load_samples()
        if options.roofline:
            self.start_probe = self.ceiling = self._probe("start")
        written: list[dict[str, Any]] = []
        ready = []
        for t in targets:
            row = self._unmeasurable_row(t)
            if row is None:
                ready.append(t)
            else:
                self._write_row(row, written)
        available = options.memory_available or int(0.9 * psutil.virtual_memory().available)
        index = {t.label: i for i, t in enumerate(ready)}
        pairs = [(index[r.slower], index[r.faster]) for r in options.ratio_targets
                 if r.slower in index and r.faster in index]
        needs = [_memory_need(t) for t in ready]
        groups = plan_groups(needs, available, pairs=pairs) if ready else []
        if len(groups) > 1:
            self.progress(f"{len(ready)} targets need more than {available / 2**30:.1f} GiB "
                          f"at once: {len(groups)} groups, each with {ready[0].label}")
        rng = np.random.default_rng(options.seed)
        for number, group in enumerate(groups, start=1):
            self._interleave_group([ready[i] for i in group], (number, len(groups)), rng,
                                   written)
        if options.roofline:
            check = machine_check(self.start_probe, self._probe("end"))
            self.results.update_run(self.run_id, {"machine_check": check})
            for row in written:
                row["machine_check"] = check
            self.progress(f"machine probes (a diagnostic here: verdicts come from the paired "
                          f"rounds): {check['reason']}")
        return written

    def _write_row(self, row: dict[str, Any], written: list[dict[str, Any]]) -> None:
        self.results.add(row)
        written.append(row)
        self.progress(f"{row['label']}: {_summary(row)}")

    def _interleave_group(
        self, targets: list[Target], group: tuple[int, int], rng: np.random.Generator,
        written: list[dict[str, Any]],
    ) -> None:
        """Time the group's targets in rounds, in trials of freshly started processes; finish
        the last trial's processes and write each target's row."""
        options = self.options
        suffix = f"_group{group[0]}" if group[1] > 1 else ""
        prepared: dict[str, tuple[Target, dict, Path, dict[str, Path]]] = {}
        for t in targets:
            row = self._base_row(t)
            try:
                cache = self._inputs(t)
            except (OSError, ValueError, RuntimeError) as err:
                self._write_row({**row, "status": "error",
                                 "error": f"preparing inputs: {err}"}, written)
                continue
            spec_path, _, paths = self._write_spec(t, cache)
            prepared[t.label] = (t, row, spec_path, paths)
        trial: dict[str, WorkerSession] = {}
        earlier_s: dict[str, list[float]] = {label: [] for label in prepared}
        peak_rss = [0]

        def leave(session: WorkerSession, code: int | None) -> None:
            t, row, _, paths = prepared[session.label]
            result = self._result(session.label, earlier_s[session.label])
            self._write_row(self._finish_row(t, row, code, result, session.tail(), session.log,
                                             paths), written)

        def start(number: int, labels: list[str]) -> list[WorkerSession]:
            trial.clear()
            for label in labels:
                t, _, spec_path, _ = prepared[label]
                name = f"{_file_name(label)}{suffix}" + (f"_trial{number}" if number > 1 else "")
                log = self.work / "logs" / f"{name}.log"
                self.progress(f"{label}: loading (trial {number})")
                session = WorkerSession(label, self.worker_command, spec_path, log, self.env,
                                        options.timeout)
                try:
                    session.ready()
                except SessionError as err:
                    code = None if "timed out" in str(err) else _exit_code(session.proc)
                    session.kill()
                    leave(session, code)
                    continue
                trial[label] = session
            rss = sum(s.rss_bytes for s in trial.values())
            peak_rss[0] = max(peak_rss[0], rss)
            self.progress(f"group {group[0]}/{group[1]}, trial {number}: {len(trial)} targets "
                          f"loaded, {rss / 2**30:.2f} GiB resident in their processes")
            return list(trial.values())

        def failed(session: WorkerSession, err: SessionError) -> None:
            self.progress(f"{session.label}: left the rounds ({err})")
            session.kill()
            leave(session, None if "timed out" in str(err) else session.proc.returncode)

        def after_round(done: int, times: dict[str, list[float]]) -> None:
            peak_rss[0] = max(peak_rss[0], sum(trial[label].rss_bytes for label in times))
            if done % 10 and done != 1:
                return
            self.progress(f"round {done}: " + ", ".join(
                f"{label} {ms[-1]:.1f} ms" for label, ms in times.items()))

        def end(sessions: list[WorkerSession], last: bool) -> None:
            for session in sessions:
                if not last:
                    earlier_s[session.label] += session.times_s
                    session.kill()
                    continue
                code = session.finish()
                t, row, _, paths = prepared[session.label]
                result = self._result(session.label, earlier_s[session.label])
                finished[session.label] = self._finish_row(t, row, code, result, session.tail(),
                                                           session.log, paths)

        finished: dict[str, dict[str, Any]] = {}
        undecided = self._undecided if options.ratio_targets else None
        try:
            times, trial_rounds = run_trials(
                start, end, list(prepared), options.rounds, options.trials, options.per_round,
                rng, undecided, options.budget_s, failed, after_round,
            )
        finally:
            for session in trial.values():
                session.kill()
        for label, row in finished.items():
            if row["status"] == "ok" and label in times:
                row["per_round_ms"] = times[label]
                row["interleave"] = {
                    "group": group[0], "groups": group[1], "rounds": len(times[label]),
                    "trials": trial_rounds, "inferences_per_round": options.per_round,
                    "order": "random per round", "targets": sorted(times),
                    "peak_resident_bytes": peak_rss[0],
                }
            self._write_row(row, written)
        self._print_verdicts(times)

    def _result(self, label: str, earlier_s: list[float]) -> dict[str, Any]:
        """A measuring process's result file, its timed inferences after those of the earlier
        trials' processes (load and first inference: its own)."""
        result = _read_result(self.work / "specs" / f"{_file_name(label)}.result.json")
        if earlier_s and result.get("latency"):
            latency = result["latency"]
            result["latency"] = {**latency, "times_s": earlier_s + latency["times_s"]}
        return result

    def _undecided(self, times: dict[str, list[float]]) -> bool:
        judged = (target.judge(times) for target in self.options.ratio_targets)
        return any(j is not None and j[1] == "undecided" for j in judged)

    def _print_verdicts(self, times: dict[str, list[float]]) -> None:
        for target in self.options.ratio_targets:
            judged = target.judge(times)
            if judged is not None:
                sign = "<=" if target.at_most else ">="
                self.progress(f"{target.name}: {format_ratio(judged[0])} (target {sign} "
                              f"{target.target:g}x): {judged[1]}")
        if self.options.ratio_targets:
            self.progress(f"intervals: {INTERVAL_METHOD}")

    def measure(self, t: Target) -> dict[str, Any]:
        unmeasurable = self._unmeasurable_row(t)
        if unmeasurable is not None:
            return unmeasurable
        row = self._base_row(t)
        try:
            cache = self._inputs(t)
        except (OSError, ValueError, RuntimeError) as err:
            return {**row, "status": "error", "error": f"preparing inputs: {err}"}
        spec_path, result_path, paths = self._write_spec(t, cache)
        log = self.work / "logs" / f"{_file_name(t.label)}.log"
        watch = (paths["progress"], f"{t.label}: accuracy pass") if self.options.data else None
        code, tail = run_process(
            [*self.worker_command, str(spec_path)], log, self.options.timeout, self.env, watch
        )
        return self._finish_row(t, row, code, _read_result(result_path), tail, log, paths)

    def _finish_row(
        self, t: Target, row: dict[str, Any], code: int | None, result: dict[str, Any],
        tail: str, log: Path, paths: dict[str, Path],
    ) -> dict[str, Any]:
        """The row of a measuring process that ended with `code` (None: killed on a timeout)."""
        row = self._fill(row, t, result)
        if code == 3 and result.get("phase") == "unavailable":
            return {**row, "status": "skipped", "error": result["reason"]}
        if code is None:
            phase = "the accuracy pass" if "latency" in result else "measuring latency"
            return {
                **row,
                "status": "error",
                "error": f"timed out after {self.options.timeout:g} s in {phase} (log: {log})",
            }
        if code != 0:
            return {**row, "status": "error", "error": _crash_message(code, result, tail, log)}
        if self.options.data is not None:
            row["accuracy"] = self._accuracy(t, result, paths, row["notes"])
        return {**row, "status": "ok"}

    def _write_spec(self, t: Target, cache: InputCache) -> tuple[Path, Path, dict[str, Path]]:
        name = _file_name(t.label)
        paths = {
            "predictions": self.work / "predictions" / f"{name}.json",
            "logits": self.work / "predictions" / f"{name}.logits.npy",
            "progress": self.work / "specs" / f"{name}.progress.json",
        }
        for stale in paths.values():
            stale.unlink(missing_ok=True)
        result_path = self.work / "specs" / f"{name}.result.json"
        result_path.unlink(missing_ok=True)
        runner = RunnerSpec(
            format=t.format,
            precision=t.precision,
            model_path=str(t.model_path),
            threads=self.options.threads,
            manifest=t.manifest,
            arch=(t.config or {}).get("name"),
            image_size=t.image_size,
            options={"coreml_units": self.options.coreml_units},
        )
        spec = {
            "runner": asdict(runner),
            "inputs": str(cache.folder),
            "preprocessing": {"mean": list(t.mean), "std": list(t.std), "scale": t.scale},
            "latency_inputs": self.options.latency_inputs,
            "warmup": self.options.warmup,
            "runs": self.options.runs,
            "result": str(result_path),
            "eval": None,
        }
        if self.options.data is not None:
            spec["eval"] = {
                "batch_size": self.options.eval_batch,
                "answers": str(t.answers_path),
                "unanswerable_index": t.unanswerable_index,
                "predictions": str(paths["predictions"]),
                "logits": str(paths["logits"]),
                "progress": str(paths["progress"]),
            }
        spec_path = self.work / "specs" / f"{name}.json"
        write_json(spec_path, spec)
        return spec_path, result_path, paths

    # rows -----------------------------------------------------------------------------------

    def _base_row(self, t: Target) -> dict[str, Any]:
        bundle = None
        memory = {"model_file_bytes": None, "bundle_bytes": None}
        if t.bundle is not None:
            bundle = {
                "path": str(t.bundle.path),
                "model_file": t.bundle.manifest["model_file"],
                "target": t.bundle.manifest["target"],
            }
            memory = {
                "model_file_bytes": t.bundle.model_bytes(),
                "bundle_bytes": t.bundle.bundle_bytes(),
            }
        elif t.bundle_dir is not None:
            bundle = {"path": str(t.bundle_dir)}
        elif t.checkpoint is not None and t.checkpoint.is_file() and t.precision == "fp32":
            size = t.checkpoint.stat().st_size
            memory = {"model_file_bytes": size, "bundle_bytes": size}
        return {
            "schema_version": 1,
            "run_id": self.run_id,
            "created": now_iso(),
            "source": "host",
            "role": t.role,
            "label": t.label,
            "format": t.format,
            "precision": t.precision,
            "quantization": t.quantization,
            "bundle": bundle,
            "model": {
                "checkpoint": str(t.checkpoint) if t.checkpoint else None,
                "checkpoint_sha256": t.checkpoint_sha256,
                "config": (t.config or {}).get("name"),
                "image_size": t.image_size,
                "text_len": t.max_len,
                "params": t.params,
                "macs": t.macs,
            },
            "runtime": None,
            "device": host_device(),
            "threads": None if t.format == "coreml" else self.options.threads,
            "batch_size": 1,
            "latency_ms": None,
            "memory": memory,
            "accuracy": None,
            "roofline": None,
            "notes": list(t.notes),
        }

    def _fill(self, row: dict[str, Any], t: Target, result: dict[str, Any]) -> dict[str, Any]:
        """Latency, memory and roofline from a result file (what exists of it)."""
        row = dict(row)
        if "runtime" in result:
            row["runtime"] = result["runtime"]
        latency = result.get("latency")
        if latency:
            row["latency_ms"] = summarize(
                latency["times_s"],
                load_s=latency["load_s"],
                first_s=latency["first_s"],
                warmup=self.options.warmup,
            )
            row["memory"] = {**(row["memory"] or {}), **result["memory"]}
            row["roofline"] = achieved(t.macs, row["latency_ms"]["p50"], self.ceiling)
        return row

    def _accuracy(
        self, t: Target, result: dict[str, Any], paths: dict[str, Path], notes: list[str]
    ) -> dict:
        """Scores with the official metric; agreement and logit error against PyTorch fp32."""
        from benchmark.score import row_accuracy
        from vqa.metrics import load_annotations, load_predictions

        data = self.options.data
        predictions = load_predictions(paths["predictions"])
        accuracy: dict[str, Any] = {
            "data": data.name,
            "split": data.split,
            "n": len(predictions),
            "overall": None,
            "predictions_file": str(paths["predictions"]),
            "annotations_file": str(self.annotations) if self.annotations else None,
            "batch_size": result["eval"]["batch_size"],
            "seconds": result["eval"]["seconds"],
            "agreement_fp32": None,
            "max_abs_logit_diff_fp32": None,
        }
        if self.annotations is not None:
            fields, warned = row_accuracy(predictions, load_annotations(self.annotations))
            accuracy.update(fields)
            notes.extend(warned)
        else:
            notes.append(f"{data.name} {data.split} has no answers: predictions not scored")
        answers = [p["answer"] for p in predictions]
        if t.role == "baseline" and t.precision == "fp32":
            self.references[t.source_key] = Reference(answers, paths["logits"])
        reference = self.references.get(t.source_key)
        if reference is not None and len(reference.answers) == len(answers):
            same = sum(a == b for a, b in zip(answers, reference.answers, strict=True))
            accuracy["agreement_fp32"] = 100.0 * same / len(answers)
            ours, theirs = np.load(paths["logits"]), np.load(reference.logits)
            if ours.shape == theirs.shape:
                accuracy["max_abs_logit_diff_fp32"] = float(np.abs(ours - theirs).max())
        return accuracy


def _exit_code(proc: subprocess.Popen) -> int | None:
    """The code of a process that closed its reply pipe (None if it does not end soon)."""
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        return None


MODEL_FACTOR = {"fp32": 2.0, "fp16": 2.0}
"""Resident bytes a loaded model holds per byte of its file, by precision (int8 and int4: 3).
Measured in interleaved runs on this project's machine (2026-12-07, beit3_small at 240 px and its
6-layer student): fp32 0.8 (PyTorch eager) to 1.6 (onnxruntime); int8 1.9 to 2.6
(onnxruntime: prepacked weights beside the graph), PyTorch's dynamic int8 2.2 of the fp32
checkpoint it quantizes; rounded up."""
PROCESS_BYTES = {"onnx": 100 * 2**20}
"""A measuring process before its model, by format: onnxruntime's 0.06 GB measured; every other
runtime imports torch (0.54-0.76 GB measured): 0.8 GB."""


def _memory_need(t: Target) -> int:
    """Bytes a loaded target is expected to hold: its model file times MODEL_FACTOR (a PyTorch
    int8 baseline quantizes the fp32 checkpoint) and the measuring process (PROCESS_BYTES)."""
    size = 0
    if t.bundle is not None:
        size = t.bundle.model_bytes()
    elif t.checkpoint is not None and t.checkpoint.is_file():
        size = t.checkpoint.stat().st_size
    factor = MODEL_FACTOR.get(t.precision, 3.0)
    return int(factor * size) + PROCESS_BYTES.get(t.format, 800 * 2**20)


def _file_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)


def _read_result(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text("utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def _crash_message(code: int, result: dict[str, Any], tail: str, log: Path) -> str:
    if result.get("phase") == "error":
        return f"{result['error']} (while {result.get('failed_in')}; log: {log})"
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        what = f"the measuring process died from signal {name}"
    else:
        what = f"the measuring process exited with code {code}"
    return f"{what} (log: {log}); last output:\n{tail}" if tail else f"{what} (log: {log})"


def _summary(row: dict[str, Any]) -> str:
    if row["status"] != "ok":
        return f"{row['status']}: {row['error'].splitlines()[0]}"
    text = f"ok, p50 {row['latency_ms']['p50']:.1f} ms"
    accuracy = row.get("accuracy") or {}
    if accuracy.get("overall") is not None:
        text += f", accuracy {accuracy['overall']:.2f}"
    return text

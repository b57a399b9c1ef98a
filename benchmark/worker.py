"""The measuring process: one model, one fresh process (`python -m benchmark.worker SPEC.json`).

A fresh process a model keeps runtimes from sharing thread pools, allocators or caches, and lets
the parent survive a runtime that crashes or hangs. The process writes its result file after the
latency phase and again after the accuracy pass, so a timeout during the accuracy pass still
leaves the latency figures.

Memory that belongs to the model is measured against a baseline taken in this process after the
runtime is imported (torch alone is hundreds of MB): the RSS that loading adds, and the peak RSS
above the baseline while loading and running (the kernel's high-water mark, reset at the
baseline where Linux allows it). The process's own peak RSS is kept beside them.

`python -m benchmark.worker --serve SPEC.json` is the interleaved mode's long-lived process: it
loads the model once (memory measured as above), says so on its reply pipe, then times as many
inferences as each command line on standard input asks for, until `finish` (then the accuracy
pass, when asked) or until its standard input closes because the parent is gone.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.inputs import InputCache
from benchmark.parent import end_now, exit_with_parent
from benchmark.runners import RuntimeUnavailable, runner_class
from benchmark.runners.base import Runner, RunnerSpec
from vqa.io import atomic_write_json

PROGRESS_EVERY_S = 1.0
"""How often the accuracy pass tells the waiting parent how far it is."""
REPLY_FD_ENV = "BENCHMARK_REPLY_FD"
"""The file descriptor a serving worker writes its JSON-line replies to."""


def write_json(path: str | Path, data: Any) -> None:
    """JSON written atomically (vqa.io: temporary file, fsync, rename)."""
    atomic_write_json(path, data, indent=None)


def _rss() -> int:
    import psutil

    return psutil.Process().memory_info().rss


def _reset_peak_rss() -> bool:
    """Restart the peak-RSS high-water mark from the current RSS (Linux); False if impossible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss() -> int:
    """Peak RSS of this process image.

    On Linux getrusage's ru_maxrss survives exec, so it would report the (large) parent that
    forked us; VmHWM belongs to the current address space only.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text("utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS


class ModelMemory:
    """The memory a model adds to its process, from a baseline taken when it is created."""

    def __init__(self) -> None:
        gc.collect()
        self.process_peak_before = _peak_rss()
        self.baseline = _rss()
        self.peak_reset = _reset_peak_rss()
        self.loaded: int | None = None

    def after_load(self) -> None:
        self.loaded = _rss()

    def figures(self) -> dict[str, Any]:
        peak = _peak_rss()
        return {
            "peak_rss_bytes": max(peak, self.process_peak_before),
            "baseline_rss_bytes": self.baseline,
            "load_rss_bytes": None if self.loaded is None else self.loaded - self.baseline,
            "model_peak_rss_bytes": max(peak - self.baseline, 0),
            "model_peak_method": "VmHWM reset at baseline" if self.peak_reset
            else "process peak minus baseline (the peak could not be reset: an upper bound)",
        }


def load_runner(
    runner: Runner, samples: list[tuple[np.ndarray, ...]], warmup: int
) -> tuple[ModelMemory, dict[str, Any]]:
    """Import, memory baseline, load, first inference and warm-up; the memory and its latency."""
    runner.import_runtime()
    memory = ModelMemory()
    start = time.perf_counter()
    runner.load()
    load_s = time.perf_counter() - start
    memory.after_load()
    start = time.perf_counter()
    logits = runner.predict(*samples[0])
    first_s = time.perf_counter() - start
    if logits.ndim != 2 or logits.shape[0] != 1:
        raise ValueError(f"expected logits of shape [1, answers], got {list(logits.shape)}")
    for i in range(warmup):
        runner.predict(*samples[(i + 1) % len(samples)])
    return memory, {"load_s": load_s, "first_s": first_s, "times_s": []}


def timed_runs(
    runner: Runner, samples: list[tuple[np.ndarray, ...]], runs: int, first: int = 0
) -> list[float]:
    """Seconds of each of `runs` inferences, cycling through the samples from `first`."""
    times = []
    for i in range(first, first + runs):
        inputs = samples[i % len(samples)]
        start = time.perf_counter()
        runner.predict(*inputs)
        times.append(time.perf_counter() - start)
    return times


def time_runner(
    runner: Runner, samples: list[tuple[np.ndarray, ...]], warmup: int, runs: int
) -> dict[str, Any]:
    """Load (after the memory baseline), first inference, warm-up, timed runs."""
    memory, latency = load_runner(runner, samples, warmup)
    latency["times_s"] = timed_runs(runner, samples, runs)
    return {"latency": latency, "memory": memory.figures()}


def _prepare(spec: dict[str, Any]):
    """The runner, the latency samples and the batch function the spec describes."""
    runner_spec = RunnerSpec(**spec["runner"])
    runner = runner_class(runner_spec.format)(runner_spec)
    cache = InputCache(spec["inputs"])
    prep = spec["preprocessing"]

    def batch(indices):
        return cache.batch(indices, prep["mean"], prep["std"], prep["scale"])

    samples = [batch([i]) for i in range(min(spec["latency_inputs"], len(cache)))]
    return runner, cache, batch, samples


def measure(spec: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    """Load, first inference, warm-up, timed runs; then the accuracy pass when asked.

    `result` fills in as phases finish, so a caller that catches an error still has them.
    """
    result["phase"] = "starting"
    runner, cache, batch, latency_samples = _prepare(spec)
    result["phase"] = "loading and running"
    timed = time_runner(runner, latency_samples, spec["warmup"], spec["runs"])
    result.update(phase="latency measured", runtime=runner.runtime_info(), batch_size=1, **timed)
    write_json(spec["result"], result)
    _accuracy_pass(spec, result, runner, cache, batch)
    return result


def _accuracy_pass(spec: dict[str, Any], result: dict[str, Any], runner, cache, batch) -> None:
    evaluation = spec.get("eval")
    if evaluation:
        result["phase"] = "accuracy pass"
        result["eval"] = _evaluate(runner, cache, batch, evaluation)
        result["phase"] = "done"
        write_json(spec["result"], result)


def serve(
    spec: dict[str, Any], result: dict[str, Any], commands, reply
) -> dict[str, Any]:
    """Load once, then answer `{"run": N}` lines with `{"times_s": [...]}` until `{"finish"}`.

    `commands` is a text stream of JSON lines (standard input); `reply` sends one JSON object.
    At end of input without `finish` the parent is gone: the process ends at once.
    """
    result["phase"] = "starting"
    runner, cache, batch, samples = _prepare(spec)
    result["phase"] = "loading"
    memory, latency = load_runner(runner, samples, spec["warmup"])
    result.update(phase="loaded", runtime=runner.runtime_info(), batch_size=1, latency=latency,
                  memory=memory.figures())
    write_json(spec["result"], result)
    reply({"ready": True, "rss_bytes": _rss()})
    result["phase"] = "timed runs"
    for line in commands:
        command = json.loads(line)
        if command.get("finish"):
            break
        times = timed_runs(runner, samples, int(command["run"]), len(latency["times_s"]))
        latency["times_s"].extend(times)
        reply({"times_s": times, "rss_bytes": _rss()})
    else:
        end_now()
    result.update(phase="latency measured", memory=memory.figures())
    write_json(spec["result"], result)
    _accuracy_pass(spec, result, runner, cache, batch)
    reply({"done": True})
    return result


def _evaluate(runner, cache: InputCache, batch, evaluation: dict[str, Any]) -> dict[str, Any]:
    """Every cached sample through the runner: predictions file (VizWiz format) and logits."""
    from vqa.predictions import to_predictions, write_predictions  # imports torch: not at start

    answers = Path(evaluation["answers"]).read_text("utf-8").splitlines()
    unanswerable = evaluation.get("unanswerable_index")
    size = runner.max_batch() or evaluation["batch_size"]
    size = min(size, evaluation["batch_size"])
    all_logits = np.lib.format.open_memmap(
        evaluation["logits"], mode="w+", dtype=np.float32, shape=(len(cache), len(answers))
    )
    predictions = []
    start = reported = time.perf_counter()
    for first in range(0, len(cache), size):
        indices = list(range(first, min(first + size, len(cache))))
        logits = runner.predict(*batch(indices))
        if logits.shape != (len(indices), len(answers)):
            raise ValueError(
                f"expected logits of shape {[len(indices), len(answers)]}, got {list(logits.shape)}"
            )
        all_logits[first : first + len(indices)] = logits
        predictions += to_predictions(logits, [cache.keys[i] for i in indices], answers,
                                      unanswerable)
        if evaluation.get("progress") and time.perf_counter() - reported >= PROGRESS_EVERY_S:
            write_json(evaluation["progress"], {"done": len(predictions), "total": len(cache)})
            reported = time.perf_counter()
    seconds = time.perf_counter() - start
    all_logits.flush()
    write_predictions(evaluation["predictions"], predictions)
    return {"n": len(predictions), "seconds": seconds, "batch_size": size}


def _serve_main(spec: dict[str, Any], result: dict[str, Any]) -> None:
    replies = os.fdopen(int(os.environ[REPLY_FD_ENV]), "w", encoding="utf-8")

    def reply(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    serve(spec, result, sys.stdin, reply)


def main(argv: list[str] | None = None) -> int:
    """Exit 0 with a result file; 3 when the runtime is unavailable here; 1 on an error."""
    argv = sys.argv[1:] if argv is None else argv
    serving = argv[:1] == ["--serve"]
    if serving:
        argv = argv[1:]
    if len(argv) != 1:
        print("usage: python -m benchmark.worker [--serve] SPEC.json", file=sys.stderr)
        return 2
    exit_with_parent()
    spec = json.loads(Path(argv[0]).read_text("utf-8"))
    result: dict[str, Any] = {}
    try:
        _serve_main(spec, result) if serving else measure(spec, result)
    except RuntimeUnavailable as err:
        write_json(spec["result"], {"phase": "unavailable", "reason": str(err)})
        return 3
    except Exception as err:  # reported to the parent as an error row
        result.update(
            failed_in=result.get("phase"), phase="error", error=f"{type(err).__name__}: {err}"
        )
        write_json(spec["result"], result)
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

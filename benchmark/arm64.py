"""`python -m benchmark BUNDLE... --data ... --kernels arm64`: arm64 bundles on a phone's kernels.

After the host run, every arm64 ONNX or ExecuTorch bundle that ran is scored once more on
emulated arm64 kernels (vqa.runtimes.emulated: qemu-user, the CPU model QEMU_CPU names), on the
same preprocessed inputs and batches as its host row. The new row says so (`kernels`), has no
latency (emulated time means nothing for a phone) and compares its answers with PyTorch fp32
and with the host row's (x86 kernels).
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.inputs import DataSelection, InputCache, build_input_cache
from benchmark.plan import bundle_target
from benchmark.results import ResultsFile, now_iso
from vqa.errors import UserError
from vqa.io import atomic_write_json
from vqa.runtimes.emulated import FORMATS, ArmRuntime, EmulatedRun

KERNELS = ("host", "arm64")
CHUNK_BYTES = 256 * 2**20
"""Input bytes one emulated process gets at most (each process pays the runtime's import)."""
NOTE = (
    "accuracy on emulated arm64 kernels (qemu-user): the kernels a phone picks for this CPU "
    "model; no latency, emulated time says nothing about a phone's"
)


def check_request(kernels: str, data: str | None) -> ArmRuntime | None:
    """The emulated runtime `--kernels arm64` needs, or a one-line error; None for host."""
    if kernels != "arm64":
        return None
    if data is None:
        raise UserError("--kernels arm64 measures accuracy only: give --data")
    return ArmRuntime.checked()


def wanted(row: dict[str, Any]) -> bool:
    """Whether a host row is an arm64 bundle whose runtime the emulated userland has."""
    return (
        row.get("role") == "bundle"
        and row.get("format") in FORMATS
        and (row.get("bundle") or {}).get("target") == "arm64"
    )


def add_emulated_rows(
    runtime: ArmRuntime,
    cpu: str,
    data: DataSelection,
    work_dir: Path,
    results: ResultsFile,
    progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> list[dict[str, Any]]:
    """One emulated row for each arm64 bundle row of this run; returns them (also in results)."""
    host_rows = [row for row in results.added if wanted(row)]
    if not host_rows:
        progress("--kernels arm64: no arm64 ONNX or ExecuTorch bundle among the rows")
        return []
    samples = data.load()
    added = []
    for row in host_rows:
        progress(f"{row['label']}: accuracy pass on emulated arm64 kernels ({cpu})")
        emulated = emulated_row(runtime, cpu, row, results.added, samples, work_dir, progress)
        results.add(emulated)
        added.append(emulated)
        accuracy = emulated.get("accuracy") or {}
        progress(f"{emulated['label']}: {emulated['status']}"
                 + (f", accuracy {accuracy['overall']:.2f}" if accuracy.get("overall") else ""))
    return added


def emulated_row(
    runtime: ArmRuntime,
    cpu: str,
    host_row: dict[str, Any],
    rows: list[dict[str, Any]],
    samples: list,
    work_dir: Path,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """The row of `host_row`'s bundle on emulated `cpu`, scored like the host row."""
    row = _blank(host_row, cpu)
    if host_row["status"] != "ok" or not host_row.get("accuracy"):
        return {**row, "status": "skipped",
                "error": "its host row has no accuracy pass to compare with"}
    target = bundle_target(Path(host_row["bundle"]["path"]), set())
    cache = build_input_cache(
        samples, target.image_size, target.tokenizer_path, target.max_len, work_dir / "inputs"
    )
    batch = host_row["accuracy"]["batch_size"] or 1
    options = {
        "input_names": [t["name"] for t in target.manifest["inputs"]],
        "input_dtypes": [t["dtype"] for t in target.manifest["inputs"]],
        "output_name": target.manifest["outputs"][0]["name"],
        "threads": 1,
    }
    start = time.perf_counter()
    try:
        logits, run = _logits(runtime, cpu, target, cache, batch, options, progress)
    except UserError as err:
        return {**row, "status": "error", "error": str(err)}
    seconds = time.perf_counter() - start
    answers = target.bundle.answers()
    host_file = Path(host_row["accuracy"]["predictions_file"])
    out = host_file.with_name(f"{host_file.stem}.arm64-{cpu}.json")
    predictions = _predictions(logits, answers, cache.keys, target.unanswerable_index)
    atomic_write_json(out, predictions, indent=None)
    np.save(_logits_file(out), logits)
    row["runtime"] = run.runtime
    row["kernels"] = run.kernels()
    row["accuracy"] = _accuracy(host_row, rows, logits, predictions, out, batch, seconds)
    row["notes"].append(
        f"emulated in {seconds:.0f} s for {len(predictions)} samples (load "
        f"{run.load_seconds:.0f} s a process); features {', '.join(run.features) or 'none'}"
    )
    return {**row, "status": "ok"}


def _blank(host_row: dict[str, Any], cpu: str) -> dict[str, Any]:
    row = copy.deepcopy(host_row)
    for key in ("machine_check", "per_round_ms", "interleave", "thermal_start", "thermal_end"):
        row.pop(key, None)
    device = row["device"]
    row.update(
        created=now_iso(),
        label=f"{host_row['label']} [arm64 {cpu}, emulated]",
        device={**device, "name": f"emulated arm64 {cpu} (qemu-user on {device['name']})",
                "arch": "aarch64 (emulated)", "cpu_count": 1},
        threads=1,
        latency_ms=None,
        roofline=None,
        accuracy=None,
        runtime=None,
        error=None,
        memory={k: (host_row.get("memory") or {}).get(k)
                for k in ("model_file_bytes", "bundle_bytes")},
        kernels={"isa": "arm64", "emulated": True, "qemu_cpu": cpu},
        notes=[NOTE],
    )
    return row


def _logits(
    runtime: ArmRuntime,
    cpu: str,
    target,
    cache: InputCache,
    batch: int,
    options: dict[str, Any],
    progress: Callable[[str], None],
) -> tuple[np.ndarray, EmulatedRun]:
    """Logits of every cached sample, in batches of `batch`, a few emulated processes long."""
    per_sample = cache.images[0].nbytes * 4 + cache.questions[0].nbytes * 2
    per_chunk = max(batch, CHUNK_BYTES // per_sample // batch * batch)
    outputs, run = [], None
    for first in range(0, len(cache), per_chunk):
        last = min(first + per_chunk, len(cache))
        calls = [
            cache.batch(range(i, min(i + batch, last)), target.mean, target.std, target.scale)
            for i in range(first, last, batch)
        ]
        chunk, run = runtime.run(target.format, target.model_path, options, calls, cpu)
        outputs.extend(chunk)
        progress(f"  {last}/{len(cache)} samples on emulated {cpu}")
    return np.concatenate(outputs).astype(np.float32), run


def _predictions(
    logits: np.ndarray, answers: list[str], keys: list[str], unanswerable: int | None
) -> list[dict[str, Any]]:
    predictions = []
    for key, row in zip(keys, logits, strict=True):
        entry: dict[str, Any] = {"image": key, "answer": answers[int(row.argmax())]}
        if unanswerable is not None:
            entry["answerable"] = float(1.0 - 1.0 / (1.0 + np.exp(-float(row[unanswerable]))))
        predictions.append(entry)
    return predictions


def _accuracy(
    host_row: dict[str, Any],
    rows: list[dict[str, Any]],
    logits: np.ndarray,
    predictions: list[dict[str, Any]],
    out: Path,
    batch: int,
    seconds: float,
) -> dict[str, Any]:
    """The host row's accuracy fields recomputed for these predictions, with agreement and logit
    error against PyTorch fp32 (same run) and against the host row (its x86 kernels)."""
    from benchmark.score import row_accuracy
    from vqa.metrics import load_annotations

    host = host_row["accuracy"]
    accuracy: dict[str, Any] = {
        "data": host["data"], "split": host["split"], "n": len(predictions), "overall": None,
        "predictions_file": str(out),
        "annotations_file": host.get("annotations_file"),
        "batch_size": batch, "seconds": seconds,
        "agreement_fp32": None, "max_abs_logit_diff_fp32": None,
    }
    if host.get("annotations_file"):
        fields, _ = row_accuracy(predictions, load_annotations(host["annotations_file"]))
        accuracy.update(fields)
    fp32 = next((r for r in rows if r.get("role") == "baseline" and r["precision"] == "fp32"
                 and r["status"] == "ok" and r.get("accuracy")
                 and r["model"]["checkpoint_sha256"] == host_row["model"]["checkpoint_sha256"]),
                None)
    for name, other in (("fp32", fp32), ("host_kernels", host_row)):
        if other is None:
            continue
        theirs = np.load(_logits_file(other["accuracy"]["predictions_file"]))
        if theirs.shape == logits.shape:
            same = int((theirs.argmax(axis=1) == logits.argmax(axis=1)).sum())
            accuracy[f"agreement_{name}"] = 100.0 * same / len(logits)  # as the host rows'
            accuracy[f"max_abs_logit_diff_{name}"] = float(np.abs(theirs - logits).max())
    return accuracy


def _logits_file(predictions: str | Path) -> Path:
    """The logits saved beside a predictions file (the harness's naming)."""
    return Path(predictions).with_suffix(".logits.npy")

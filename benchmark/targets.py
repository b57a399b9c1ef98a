"""Targets a run must meet, and the trade-off table they are judged beside:
`python -m benchmark report RESULTS --targets FILE`.

A targets file (TOML, e.g. recipes/easy_vqa_targets.toml) names a teacher and a student by the
file name of their checkpoint, as the result rows record it, and sets four targets: each model's
accuracy with PyTorch fp32, the student's share of the teacher's parameters, and the points an
int8 bundle may lose against its own format's reference-precision bundle (fp32; Core ML fp16) of
the same model. A missed target is one line saying by how much.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TextIO

from benchmark.compare import accuracy_change, disturbed, fp32_reference, speedup
from vqa.errors import UserError
from vqa.toml_file import read_flat_toml

MODELS = ("teacher", "student")
CORE_ML_NOTE = "not runnable off macOS (spec checked at export)"
COLUMN_MEANINGS = (
    "Δ PyTorch fp32: accuracy points against PyTorch fp32 of the same model on the same questions",
    "int8 Δ own fp32: accuracy points of an int8 bundle against the reference-precision bundle "
    "(fp32; Core ML fp16) of its format and model",
    "speed-up: PyTorch fp32 p50 / p50, within one undisturbed run",
)


class TargetsError(UserError):
    """A targets file that cannot be read; the message names the file and the key."""


@dataclass(frozen=True)
class Targets:
    teacher: str
    """The teacher's checkpoint file name."""
    student: str
    min_teacher_accuracy: float
    min_student_accuracy: float
    max_param_ratio: float
    """Student parameters / teacher parameters."""
    max_int8_drop: float
    """Points an int8 bundle may lose against its own format's reference-precision bundle."""


def targets_from(table: Mapping[str, Any], where: str) -> Targets:
    """Targets from a table of `key = value` (keys as in the file, with dashes)."""
    names = {f.name.replace("_", "-"): f for f in fields(Targets)}
    unknown = sorted(set(table) - set(names))
    if unknown:
        raise TargetsError(f"{where}: unknown key {unknown[0]!r}; known: {', '.join(names)}")
    missing = [key for key in names if key not in table]
    if missing:
        raise TargetsError(f"{where}: {missing[0]!r} is missing")
    values = {}
    for key, field in names.items():
        value = table[key]
        if field.type == "str" and not (isinstance(value, str) and value):
            raise TargetsError(f"{where}: {key}: expected a checkpoint file name, got {value!r}")
        if field.type == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TargetsError(f"{where}: {key}: expected a number, got {value!r}")
            value = float(value)
        values[field.name] = value
    return Targets(**values)


def read_targets(path: str | Path) -> Targets:
    return targets_from(read_flat_toml(path, "--targets", "a targets file", TargetsError),
                        str(path))


# rows --------------------------------------------------------------------------------------------


def _sha(row: dict[str, Any]) -> str | None:
    return (row.get("model") or {}).get("checkpoint_sha256")


def model_names(rows: Sequence[dict[str, Any]], targets: Targets) -> dict[str, str]:
    """{checkpoint sha256: "teacher" or "student"}, from the checkpoint file names of the rows."""
    wanted = {targets.teacher: "teacher", targets.student: "student"}
    names = {}
    for row in rows:
        checkpoint = (row.get("model") or {}).get("checkpoint")
        if checkpoint and _sha(row) and Path(checkpoint).name in wanted:
            names[_sha(row)] = wanted[Path(checkpoint).name]
    return names


def _accuracy(row: dict[str, Any] | None) -> float | None:
    if row is None or row["status"] != "ok":
        return None
    return (row.get("accuracy") or {}).get("overall")


def own_reference(row: dict[str, Any], rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The reference-precision bundle (not int8) of an int8 bundle's format and model."""
    if row["role"] != "bundle" or row["precision"] != "int8":
        return None
    partner = [r for r in rows if r is not row and _sha(r) == _sha(row) and r["role"] == "bundle"
               and r["format"] == row["format"] and r["precision"] != "int8"]
    return partner[0] if partner else None


def int8_change(row: dict[str, Any], rows: Sequence[dict[str, Any]]) -> float | None:
    """An int8 bundle's accuracy minus that of its own format's reference-precision bundle."""
    acc, ref = _accuracy(row), _accuracy(own_reference(row, rows))
    return None if acc is None or ref is None else acc - ref


def tradeoff_table(rows: Sequence[dict[str, Any]], names: Mapping[str, str]) -> str:
    """A line a row, teacher first, PyTorch baselines before bundles, fp32 before int8."""
    header = ("model", "format", "precision", "size MB", "p50 ms", "model mem MB", "accuracy",
              "Δ PyTorch fp32", "int8 Δ own fp32", "speed-up", "bundle / note")
    lines = [header]
    precisions = {"fp32": 0, "fp16": 1, "int8": 2}

    def name(row: dict[str, Any]) -> str:
        return names.get(_sha(row) or "", "?")

    def points(value: float | None) -> str:
        return "-" if value is None else f"{value:+.2f}"

    def mb(value: float | None) -> str:
        return "-" if value is None else f"{value / 1e6:.2f}"

    order = sorted(rows, key=lambda r: (name(r) != "teacher", r["format"] != "pytorch",
                                        r["format"], precisions.get(r["precision"], 3)))
    for row in order:
        lat, mem = row.get("latency_ms") or {}, row.get("memory") or {}
        acc = _accuracy(row)
        up = speedup(row, rows)
        note = row["label"]
        if row["status"] == "skipped" and row["format"] == "coreml":
            note += f": {CORE_ML_NOTE}"
        elif row["status"] != "ok":
            note += f": {row['status']}: {(row.get('error') or '').splitlines()[0][:80]}"
        lines.append((
            name(row), row["format"], row["precision"],
            mb(mem.get("model_file_bytes")),
            "-" if lat.get("p50") is None else f"{lat['p50']:.2f}",
            mb(mem.get("model_peak_rss_bytes", mem.get("load_rss_bytes"))),
            "-" if acc is None else f"{acc:.2f} %",
            points(accuracy_change(row, rows)
                   if acc is not None and fp32_reference(row, rows) is not row else None),
            points(int8_change(row, rows)),
            "-" if up is None else f"{up:.2f}x",
            note,
        ))
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(line[:-1], widths, strict=True)) + "  "
        + line[-1] for line in lines
    )


def check_targets(rows: Sequence[dict[str, Any]], names: Mapping[str, str],
                  targets: Targets) -> list[str]:
    """One line a missed target, saying by how much; empty when all are met."""
    missed = []
    fp32 = {}
    for model in MODELS:
        row = next((r for r in rows if names.get(_sha(r) or "") == model
                    and r["format"] == "pytorch" and r["precision"] == "fp32"), None)
        fp32[model] = row
        goal = getattr(targets, f"min_{model}_accuracy")
        acc = _accuracy(row)
        if acc is None:
            missed.append(f"{model} accuracy: no PyTorch fp32 result "
                          f"({row['status'] if row else 'no row'})")
        elif acc < goal:
            missed.append(f"{model} accuracy {acc:.2f} % < {goal:g} %: missed by "
                          f"{goal - acc:.2f} points")
    params = {k: (r.get("model") or {}).get("params") if r else None for k, r in fp32.items()}
    if params["teacher"] and params["student"]:
        ratio = params["student"] / params["teacher"]
        if ratio > targets.max_param_ratio:
            missed.append(f"student size {ratio:.3f} of the teacher's parameters > "
                          f"{targets.max_param_ratio:g}: over by "
                          f"{ratio - targets.max_param_ratio:.3f}")
    else:
        missed.append("student size: parameter counts missing from the results")
    for row in rows:
        if row["status"] == "error":
            missed.append(f"{row['label']}: the benchmark failed: "
                          f"{(row.get('error') or '').splitlines()[0][:120]}")
        if row["role"] != "bundle" or row["precision"] != "int8" or row["status"] != "ok":
            continue
        ref = own_reference(row, rows)
        acc, ref_acc = _accuracy(row), _accuracy(ref)
        if acc is None or ref_acc is None:
            missed.append(f"{row['label']}: no accuracy of its reference bundle to compare with")
        elif ref_acc - acc > targets.max_int8_drop:
            missed.append(f"{row['label']} {acc:.2f} % is {ref_acc - acc:.2f} points below "
                          f"{ref['label']} ({ref_acc:.2f} %); allowed {targets.max_int8_drop:g}: "
                          f"missed by {ref_acc - acc - targets.max_int8_drop:.2f} points")
    return missed


def print_verdict(rows: Sequence[dict[str, Any]], targets: Targets, out: TextIO | None = None,
                  err: TextIO | None = None) -> int:
    """The trade-off table, what its columns mean, and the targets: 0 all met, 1 one missed."""
    out, err = out or sys.stdout, err or sys.stderr
    names = model_names(rows, targets)
    data = sorted({f"{r['accuracy']['data']} {r['accuracy']['split']}"
                   for r in rows if r.get("accuracy")})
    threads = sorted({str(r["threads"]) for r in rows if r.get("threads")})
    print(f"== trade-off table ({', '.join(data) or 'no accuracy data'}, official VizWiz "
          f"accuracy; {', '.join(threads) or '?'} threads, batch 1)", file=out)
    print(tradeoff_table(rows, names), file=out)
    for meaning in COLUMN_MEANINGS:
        print(meaning, file=out)
    if any(disturbed(r) for r in rows):
        print("speed-ups left out: the machine was busy while the benchmark ran (rerun it on "
              "a quiet machine for latency figures)", file=out)
    missed = check_targets(rows, names, targets)
    if missed:
        print("\nmissed targets:", file=err)
        for line in missed:
            print(f"  {line}", file=err)
        return 1
    print("\nall targets met", file=out)
    return 0

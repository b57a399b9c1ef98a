"""How result rows compare: each row's PyTorch fp32 reference, its accuracy change and speed-up
against it, and whether its run was disturbed; read by the report and the target checks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def value_at(row: dict[str, Any], *keys: str) -> Any:
    """The value under `keys` in nested dicts; None where a level is missing."""
    value: Any = row
    for key in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _same_source(a: dict[str, Any], b: dict[str, Any]) -> bool:
    sha = value_at(a, "model", "checkpoint_sha256")
    return sha is not None and sha == value_at(b, "model", "checkpoint_sha256")


def fp32_reference(row: dict[str, Any], rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The PyTorch fp32 row of the same source checkpoint: on the same device when there is one."""
    candidates = [
        r
        for r in rows
        if r["status"] == "ok"
        and r["format"] == "pytorch"
        and r["precision"] == "fp32"
        and _same_source(r, row)
    ]
    same_run = [r for r in candidates if r.get("run_id") and r.get("run_id") == row.get("run_id")]
    same_device = [r for r in candidates if r["device"] == row["device"]]
    return (same_run or same_device or candidates or [None])[-1]


def accuracy_change(row: dict[str, Any], rows: Sequence[dict[str, Any]]) -> float | None:
    """Accuracy minus that of PyTorch fp32 on the same data, in percentage points."""
    ours = value_at(row, "accuracy", "overall")
    ref = fp32_reference(row, rows)
    if ours is None or ref is None:
        return None
    theirs = value_at(ref, "accuracy", "overall")
    same_data = all(
        value_at(ref, "accuracy", k) == value_at(row, "accuracy", k) for k in ("data", "split", "n")
    )
    return ours - theirs if theirs is not None and same_data else None


def disturbed(row: dict[str, Any]) -> bool | None:
    """Whether the row's run was disturbed; None when unknown (no probes: phone rows, old rows)."""
    return (row.get("machine_check") or {}).get("disturbed")


UNTHROTTLED = ("none", "nominal")
"""Phone thermal states that are not throttled: Android's none, iOS's nominal."""


def throttled(row: dict[str, Any]) -> bool | None:
    """Whether a phone row's thermal state was other than none / nominal at its start or end;
    None when the row has no thermal state (host rows, older apps)."""
    states = [row.get(key) for key in ("thermal_start", "thermal_end") if row.get(key)]
    return any(state not in UNTHROTTLED for state in states) if states else None


def _paired_rounds(ref: dict[str, Any], row: dict[str, Any]) -> bool:
    """Both rows timed in the same interleaved rounds (one run, one group)."""
    return bool(ref.get("per_round_ms") and row.get("per_round_ms")) and (
        ref.get("run_id") == row.get("run_id")
        and (ref.get("interleave") or {}).get("group") == (row.get("interleave") or {}).get("group")
    )


def speedup(row: dict[str, Any], rows: Sequence[dict[str, Any]]) -> float | None:
    """PyTorch fp32 p50 / this row's p50, only where both ran on the same device, and for host
    rows with machine probes only within one undisturbed run; rows timed in the same
    interleaved rounds give the median of their per-round ratios instead, disturbed or not."""
    ref = fp32_reference(row, rows)
    if ref is None or ref["device"] != row["device"] or row["status"] != "ok":
        return None
    if _paired_rounds(ref, row):
        from benchmark.stats import paired_ratio

        return paired_ratio(ref["per_round_ms"], row["per_round_ms"])["ratio"]
    if row.get("machine_check") is not None and (
        disturbed(row) is not False or ref.get("run_id") != row.get("run_id")
    ):
        return None
    return ref["latency_ms"]["p50"] / row["latency_ms"]["p50"]

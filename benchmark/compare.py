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


def speedup(row: dict[str, Any], rows: Sequence[dict[str, Any]]) -> float | None:
    """PyTorch fp32 p50 / this row's p50, only where both ran on the same device, and for host
    rows with machine probes only within one undisturbed run."""
    ref = fp32_reference(row, rows)
    if ref is None or ref["device"] != row["device"] or row["status"] != "ok":
        return None
    if row.get("machine_check") is not None and (
        disturbed(row) is not False or ref.get("run_id") != row.get("run_id")
    ):
        return None
    return ref["latency_ms"]["p50"] / row["latency_ms"]["p50"]

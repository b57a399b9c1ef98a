"""Latency statistics as the usual mobile benchmark tools report them, in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import trim_mean

TRIM = 0.1
"""Cut from each end for the trimmed mean: the middle 80 % of the runs remain."""


def summarize(
    times_s: Sequence[float],
    *,
    load_s: float | None,
    first_s: float | None,
    warmup: int,
    keep_samples: bool = True,
) -> dict:
    """The `latency_ms` object of a result row from timed runs given in seconds."""
    if len(times_s) == 0:
        raise ValueError("no timed runs to summarize")
    ms = np.asarray(times_s, dtype=np.float64) * 1e3
    summary = {
        "load": None if load_s is None else load_s * 1e3,
        "first_inference": None if first_s is None else first_s * 1e3,
        "warmup": warmup,
        "runs": int(ms.size),
        "mean": float(ms.mean()),
        "p50": float(np.percentile(ms, 50)),
        "p90": float(np.percentile(ms, 90)),
        "p99": float(np.percentile(ms, 99)),
        "std": float(ms.std(ddof=1)) if ms.size > 1 else 0.0,
        "trimmed_mean": float(trim_mean(ms, TRIM)),
        "min": float(ms.min()),
        "max": float(ms.max()),
    }
    if keep_samples:
        summary["samples"] = [float(x) for x in ms]
    return summary

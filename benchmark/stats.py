"""Latency statistics as the usual mobile benchmark tools report them, in milliseconds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


CONFIDENCE = 0.95
INTERVAL_METHOD = (
    "order-statistics 95 % interval of the median of per-round ratios "
    "(distribution-free, scipy.stats.quantile_test)"
)
"""How a paired ratio's interval is made: said in every printout that shows one."""


def paired_ratio(slower_ms: Sequence[float], faster_ms: Sequence[float]) -> dict:
    """How many times faster `faster_ms` is than `slower_ms`, from times taken in the same rounds.

    Each round gives one ratio (slower / faster, both measured seconds apart, under the same
    machine weather); the estimate is the median of those ratios and its interval is the
    distribution-free order-statistics interval of the median (two order statistics chosen from
    the binomial distribution; scipy.stats.quantile_test), which needs no assumption on how the
    machine's noise is distributed. Below 6 rounds no interval reaches 95 %: low and high are
    None then.
    """
    from scipy.stats import quantile_test

    slower = np.asarray(slower_ms, dtype=np.float64)
    faster = np.asarray(faster_ms, dtype=np.float64)
    if slower.shape != faster.shape or slower.ndim != 1 or slower.size == 0:
        raise ValueError(
            f"paired times need one time per round on both sides, got {slower.shape} and "
            f"{faster.shape}"
        )
    ratios = slower / faster
    interval = quantile_test(ratios, p=0.5).confidence_interval(CONFIDENCE)
    low, high = float(interval.low), float(interval.high)
    if not (np.isfinite(low) and np.isfinite(high)):
        low = high = None
    return {"ratio": float(np.median(ratios)), "low": low, "high": high,
            "rounds": int(ratios.size), "confidence": CONFIDENCE}


def verdict(ratio: dict, target: float, at_most: bool = False) -> str:
    """"met", "missed" or "undecided" for a ratio's interval against a target.

    At least (a speed-up): met when the interval's lower bound clears the target, missed when
    its upper bound is below it. At most: the mirror image.
    """
    low, high = ratio["low"], ratio["high"]
    if low is None or high is None:
        return "undecided"
    if at_most:
        low, high = high, low
        return "met" if low <= target else "missed" if high > target else "undecided"
    return "met" if low >= target else "missed" if high < target else "undecided"


def format_ratio(ratio: dict) -> str:
    """`2.01x [1.98, 2.05]`, or `2.01x [interval needs >= 6 rounds]`."""
    if ratio["low"] is None:
        return f"{ratio['ratio']:.2f}x [interval needs >= 6 rounds]"
    return f"{ratio['ratio']:.2f}x [{ratio['low']:.2f}, {ratio['high']:.2f}]"


@dataclass(frozen=True)
class RatioTarget:
    """A speed target between two rows of one run: `slower` / `faster` at least (or at most)
    `target`, in per-round times of the rows labelled so."""

    name: str
    slower: str
    faster: str
    target: float
    at_most: bool = False

    def judge(self, per_round_ms: dict[str, Sequence[float]]) -> tuple[dict, str] | None:
        """The paired ratio and its verdict; None when a row is missing from the rounds."""
        if self.slower not in per_round_ms or self.faster not in per_round_ms:
            return None
        ratio = paired_ratio(per_round_ms[self.slower], per_round_ms[self.faster])
        return ratio, verdict(ratio, self.target, self.at_most)

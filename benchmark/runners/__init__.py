"""The runners: PyTorch eager for the baselines, one generic bundle runner for every format.

A bundle runner loads its runtime (through `vqa.runtimes`) only when used. `unavailable_reason`
answers without importing any runtime, so the parent process can write a skipped row (Core ML
off macOS) without starting a measuring process.
"""

from __future__ import annotations

from benchmark.runners.base import BundleRunner, Runner
from vqa.formats import BASELINE_FORMAT, bundle_format
from vqa.runtimes import RuntimeUnavailable, unavailable_reason

__all__ = ["Runner", "RuntimeUnavailable", "runner_class", "unavailable_reason"]


def runner_class(fmt: str) -> type[Runner]:
    """The runner of a row format: the eager baseline's, or the bundle runner of a registered
    bundle format (a ValueError names the known ones)."""
    if fmt == BASELINE_FORMAT:
        from benchmark.runners.pytorch_eager import EagerRunner

        return EagerRunner
    bundle_format(fmt)
    return BundleRunner

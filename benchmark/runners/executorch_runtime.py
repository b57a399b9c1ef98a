"""ExecuTorch bundles (XNNPACK delegate) in the ExecuTorch runtime, on its own thread pool."""

from __future__ import annotations

from benchmark.runners.base import BundleRunner


class ExecuTorchRunner(BundleRunner):
    """`model.pte`; the runtime's thread pool is sized to the run's threads."""

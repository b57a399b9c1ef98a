"""TorchScript-mobile bundles in PyTorch's lite interpreter, on the quantized engine the bundle
was made for (the manifest's runtime.quantized_engine), which the row's runtime details name."""

from __future__ import annotations

from benchmark.runners.base import BundleRunner


class LiteInterpreterRunner(BundleRunner):
    """`model.ptl`; int8 bundles run on the engine their manifest records."""

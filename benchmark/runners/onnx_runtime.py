"""ONNX bundles in ONNX Runtime's CPU provider, with the thread count fixed."""

from __future__ import annotations

from benchmark.runners.base import BundleRunner


class OnnxRuntimeRunner(BundleRunner):
    """`model.onnx` as the manifest names it (the `.ort` twin runs the same graph)."""

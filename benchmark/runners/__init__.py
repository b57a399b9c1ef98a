"""One runner a format, each importing its runtime only when it is used.

`unavailable_reason` answers without importing any runtime, so the parent process can write a
skipped row (Core ML off macOS) without starting a measuring process.
"""

from __future__ import annotations

import sys
from importlib import import_module

from benchmark.runners.base import Runner, RunnerUnavailable

__all__ = ["RUNNERS", "Runner", "RunnerUnavailable", "runner_class", "unavailable_reason"]

RUNNERS = {
    "pytorch": "benchmark.runners.pytorch_eager:EagerRunner",
    "torchscript": "benchmark.runners.lite_interpreter:LiteInterpreterRunner",
    "onnx": "benchmark.runners.onnx_runtime:OnnxRuntimeRunner",
    "executorch": "benchmark.runners.executorch_runtime:ExecuTorchRunner",
    "coreml": "benchmark.runners.coreml:CoreMLRunner",
}


def runner_class(fmt: str) -> type[Runner]:
    try:
        module, name = RUNNERS[fmt].split(":")
    except KeyError:
        raise ValueError(f"no runner for format {fmt!r}; known: {', '.join(RUNNERS)}") from None
    return getattr(import_module(module), name)


def unavailable_reason(fmt: str) -> str | None:
    """Why this host cannot run `fmt` at all, or None."""
    if fmt == "coreml" and sys.platform != "darwin":
        return (
            f"Core ML predictions need macOS (this host is {sys.platform}); coremltools reads "
            "the model spec elsewhere but cannot run it"
        )
    return None

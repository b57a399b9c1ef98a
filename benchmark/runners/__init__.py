"""One runner a format, each loading its runtime (through `vqa.runtimes`) only when used.

`unavailable_reason` answers without importing any runtime, so the parent process can write a
skipped row (Core ML off macOS) without starting a measuring process.
"""

from __future__ import annotations

from importlib import import_module

from benchmark.runners.base import Runner
from vqa.runtimes import RuntimeUnavailable, unavailable_reason

__all__ = ["RUNNERS", "Runner", "RuntimeUnavailable", "runner_class", "unavailable_reason"]

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

"""The bundle formats: one row a format, read by the exporter, the runtimes and the benchmark.

A format's code lives in two modules of one name, named after the runtime that runs it (none
shadows the package it imports): `export/<module>.py` writes the bundle, `vqa/runtimes/<module>.py`
loads it. The benchmark measures every format through one runner (benchmark.runners.base), with
the per-format settings below; the JSON schemas' format and precision enums are checked against
this table by the tests.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

BASELINE_FORMAT = "pytorch"
"""The benchmark's PyTorch eager baselines: a row format, not a bundle format."""
PRECISIONS = ("fp32", "fp16", "int8", "int4")


@dataclass(frozen=True)
class BundleFormat:
    name: str
    module: str
    """The module name in export/ and vqa/runtimes/."""
    threads: bool = True
    """Whether the benchmark sets the runtime's thread count (Core ML chooses its own)."""
    run_options: tuple[str, ...] = ()
    """Benchmark run options handed to the runtime (RuntimeOptions.extra)."""
    platform: str | None = None
    """The only sys.platform its runtime can predict on (None: any)."""
    platform_note: str = ""
    """Why, said to a user on another platform."""


FORMATS = (
    BundleFormat("torchscript", "lite_interpreter"),
    BundleFormat("onnx", "onnx_runtime"),
    BundleFormat(
        "coreml", "coreml", threads=False, run_options=("coreml_units",), platform="darwin",
        platform_note="Core ML predictions need macOS; coremltools reads the model spec "
        "elsewhere but cannot run it",
    ),
    BundleFormat("executorch", "executorch_runtime"),
)
FORMAT_NAMES = tuple(f.name for f in FORMATS)
_BY_NAME = {f.name: f for f in FORMATS}


def bundle_format(name: str) -> BundleFormat:
    """The registry row of `name`; a ValueError names the known formats."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ValueError(
            f"unknown bundle format {name!r}; known: {', '.join(FORMAT_NAMES)}"
        ) from None


def unavailable_reason(name: str) -> str | None:
    """Why this host cannot run format `name` at all, or None; imports no runtime."""
    fmt = _BY_NAME.get(name)
    if fmt is None or fmt.platform is None or sys.platform == fmt.platform:
        return None
    return f"{fmt.platform_note} (this host is {sys.platform})"

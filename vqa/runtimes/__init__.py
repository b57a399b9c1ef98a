"""One loader a runtime: a bundle's model file in, a model that maps numpy inputs to logits out.

The exporter's parity check and the benchmark's runner load every format through these modules,
so both measure the very same runtime calls. A module is named after its runtime, as the format
registry (vqa.formats) says, and imports that runtime only when a model is loaded.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from vqa.formats import bundle_format
from vqa.formats import unavailable_reason as unavailable_reason

INPUT_NAMES = ("image", "question", "padding_mask")
OUTPUT_NAME = "logits"
NUMPY_DTYPES = {
    "float32": np.float32,
    "float16": np.float16,
    "int32": np.int32,
    "int64": np.int64,
    "bool": np.bool_,
}


class RuntimeUnavailable(RuntimeError):
    """The runtime cannot run on this host (Core ML off macOS): skip, do not fail."""


@dataclass(frozen=True)
class RuntimeOptions:
    """How to load a model: its inputs and output as the manifest names them, and knobs."""

    input_names: tuple[str, ...] = INPUT_NAMES
    input_dtypes: tuple[str, ...] = ("float32", "int64", "int64")
    output_name: str = OUTPUT_NAME
    threads: int | None = None
    """Intra-op threads; None leaves the runtime's default (and process-wide pools) alone."""
    quantized_engine: str | None = None
    """torch's quantized engine for the lite interpreter (qnnpack, x86, fbgemm)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Runtime-specific settings, e.g. Core ML's compute units."""

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], **knobs: Any) -> RuntimeOptions:
        runtime = manifest.get("runtime") or {}
        knobs.setdefault("quantized_engine", runtime.get("quantized_engine"))
        return cls(
            input_names=tuple(t["name"] for t in manifest["inputs"]),
            input_dtypes=tuple(t["dtype"] for t in manifest["inputs"]),
            output_name=manifest["outputs"][0]["name"],
            **knobs,
        )


class LoadedModel(ABC):
    """A model file loaded in its runtime; `predict` takes (image, question, padding_mask)."""

    runtime_name = "unknown"

    def __init__(self, path: Path, options: RuntimeOptions) -> None:
        self.path = Path(path)
        self.options = options
        self.details: dict[str, Any] = {}

    @abstractmethod
    def predict(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Logits [B, num_answers] as float32."""

    @abstractmethod
    def version(self) -> str | None:
        """The runtime's version."""

    def __call__(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.predict(image, question, mask)

    def info(self) -> dict[str, Any]:
        return {"name": self.runtime_name, "version": self.version(), "details": self.details}

    def cast(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """The arrays, contiguous, in the dtypes the model's inputs have, in their order."""
        return [
            np.ascontiguousarray(a, dtype=NUMPY_DTYPES[dtype])
            for a, dtype in zip(arrays, self.options.input_dtypes, strict=True)
        ]

    def feed(self, *arrays: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(self.options.input_names, self.cast(*arrays), strict=True))


def runtime_module(fmt: str) -> ModuleType:
    """The loader module of `fmt`, imported with its runtime."""
    return import_module(f"vqa.runtimes.{bundle_format(fmt).module}")


def load(fmt: str, path: str | Path, options: RuntimeOptions | None = None) -> LoadedModel:
    """Load `path` (a bundle's model file) in the runtime of `fmt`."""
    return runtime_module(fmt).load(Path(path), options or RuntimeOptions())


def output_logits(outputs: Sequence[Any] | Any) -> np.ndarray:
    """The first output of a runtime call as float32 numpy."""
    if isinstance(outputs, (tuple, list)):
        outputs = outputs[0]
    if hasattr(outputs, "detach"):
        outputs = outputs.detach().float().numpy()
    return np.asarray(outputs, dtype=np.float32)

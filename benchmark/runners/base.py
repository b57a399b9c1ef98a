"""What every runner offers the measuring process: load once, then logits for numpy inputs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

NUMPY_DTYPES = {
    "float32": np.float32,
    "float16": np.float16,
    "int32": np.int32,
    "int64": np.int64,
    "bool": np.bool_,
}


class RunnerUnavailable(RuntimeError):
    """The runtime cannot run on this host: the row is skipped, not failed."""


@dataclass
class RunnerSpec:
    """Everything a runner needs; JSON-friendly so the parent can hand it to a child process."""

    format: str
    precision: str
    model_path: str
    threads: int
    manifest: dict[str, Any] | None = None
    arch: str | None = None
    image_size: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


class Runner(ABC):
    """One model in one runtime. `predict` takes (image, question, padding_mask) as numpy."""

    runtime_name = "unknown"

    def __init__(self, spec: RunnerSpec) -> None:
        self.spec = spec
        self.path = Path(spec.model_path)
        self.details: dict[str, Any] = {}

    @abstractmethod
    def load(self) -> None:
        """Read the model and make it ready to run (what the load time measures)."""

    @abstractmethod
    def predict(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Logits [B, num_answers] as float32."""

    def runtime_version(self) -> str | None:
        return None

    def max_batch(self) -> int | None:
        """The largest batch the model takes: None when the batch is dynamic without a limit."""
        if self.spec.manifest is None:
            return None
        first = self.spec.manifest["inputs"][0]["shape"][0]
        if isinstance(first, int):
            return first
        return self.spec.manifest.get("runtime", {}).get("max_batch")

    def runtime_info(self) -> dict[str, Any]:
        return {
            "name": self.runtime_name,
            "version": self.runtime_version(),
            "details": self.details,
        }

    def cast_inputs(self, *arrays: np.ndarray) -> list[np.ndarray]:
        """The arrays in the dtypes the manifest gives for the inputs, in its order."""
        if self.spec.manifest is None:
            return list(arrays)
        return [
            np.ascontiguousarray(a, dtype=NUMPY_DTYPES[t["dtype"]])
            for a, t in zip(arrays, self.spec.manifest["inputs"], strict=True)
        ]

    def input_names(self) -> list[str]:
        assert self.spec.manifest is not None
        return [t["name"] for t in self.spec.manifest["inputs"]]

"""What every runner offers the measuring process: load once, then logits for numpy inputs.

Every bundle format runs through `BundleRunner`, which loads the model file through `vqa.runtimes`
(the loaders the exporter's parity check uses too) with the format's settings from the registry
(vqa.formats): whether the run's thread count applies, which run options reach the runtime.
The PyTorch baselines load the source checkpoint instead.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vqa import runtimes
from vqa.formats import bundle_format
from vqa.runtimes import RuntimeOptions


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

    def __init__(self, spec: RunnerSpec) -> None:
        self.spec = spec
        self.path = Path(spec.model_path)

    @abstractmethod
    def import_runtime(self) -> None:
        """Import the runtime, so that the memory baseline taken after it holds it."""

    @abstractmethod
    def load(self) -> None:
        """Read the model and make it ready to run (what the load time measures)."""

    @abstractmethod
    def predict(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Logits [B, num_answers] as float32."""

    @abstractmethod
    def runtime_info(self) -> dict[str, Any]:
        """The row's `runtime` object: name, version, details."""

    def max_batch(self) -> int | None:
        """The largest batch the model takes: None when the batch is dynamic without a limit."""
        if self.spec.manifest is None:
            return None
        first = self.spec.manifest["inputs"][0]["shape"][0]
        if isinstance(first, int):
            return first
        return self.spec.manifest.get("runtime", {}).get("max_batch")


class BundleRunner(Runner):
    """A bundle's model file in the runtime of its format, through `vqa.runtimes`."""

    def runtime_options(self) -> RuntimeOptions:
        """The manifest's inputs and outputs, with the knobs the format's registry row allows:
        the run's threads (not Core ML's, which chooses its own) and its run options."""
        assert self.spec.manifest is not None
        fmt = bundle_format(self.spec.format)
        extra = {k: self.spec.options[k] for k in fmt.run_options if k in self.spec.options}
        return RuntimeOptions.from_manifest(
            self.spec.manifest, threads=self.spec.threads if fmt.threads else None, extra=extra
        )

    def import_runtime(self) -> None:
        runtimes.runtime_module(self.spec.format)

    def load(self) -> None:
        self.model = runtimes.load(self.spec.format, self.path, self.runtime_options())

    def predict(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return self.model.predict(image, question, mask)

    def runtime_info(self) -> dict[str, Any]:
        return self.model.info()

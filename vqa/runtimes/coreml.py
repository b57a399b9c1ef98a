"""Core ML `.mlpackage` models through coremltools, which can predict on macOS only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vqa.formats import unavailable_reason
from vqa.runtimes import LoadedModel, RuntimeOptions, RuntimeUnavailable, output_logits

COMPUTE_UNITS = {"all": "ALL", "cpu": "CPU_ONLY", "cpu-gpu": "CPU_AND_GPU", "cpu-ne": "CPU_AND_NE"}


class CoreMLModel(LoadedModel):
    runtime_name = "coreml"

    def __init__(self, path: Path, options: RuntimeOptions) -> None:
        super().__init__(path, options)
        if reason := unavailable_reason("coreml"):
            raise RuntimeUnavailable(reason)
        import coremltools as ct

        units = COMPUTE_UNITS[options.extra.get("coreml_units", "all")]
        self.model = ct.models.MLModel(str(path), compute_units=ct.ComputeUnit[units])
        self.details["compute_units"] = units
        self.details["threads"] = "chosen by Core ML"

    def predict(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        outputs = self.model.predict(self.feed(image, question, mask))
        return output_logits(outputs[self.options.output_name])

    def version(self) -> str:
        import coremltools as ct

        return ct.__version__


def load(path: Path, options: RuntimeOptions) -> CoreMLModel:
    return CoreMLModel(path, options)

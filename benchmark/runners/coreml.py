"""Core ML `.mlpackage` models through coremltools, which can predict on macOS only."""

from __future__ import annotations

import sys

import numpy as np

from benchmark.runners.base import Runner, RunnerUnavailable

COMPUTE_UNITS = {"all": "ALL", "cpu": "CPU_ONLY", "cpu-gpu": "CPU_AND_GPU", "cpu-ne": "CPU_AND_NE"}


class CoreMLRunner(Runner):
    runtime_name = "coreml"

    def load(self) -> None:
        if sys.platform != "darwin":
            raise RunnerUnavailable(f"Core ML predictions need macOS; this host is {sys.platform}")
        import coremltools as ct

        units = COMPUTE_UNITS[self.spec.options.get("coreml_units", "all")]
        self.model = ct.models.MLModel(str(self.path), compute_units=ct.ComputeUnit[units])
        self.output = self.spec.manifest["outputs"][0]["name"]
        self.details["compute_units"] = units
        self.details["threads"] = "chosen by Core ML"

    def predict(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = dict(zip(self.input_names(), self.cast_inputs(image, question, mask), strict=True))
        return np.asarray(self.model.predict(feed)[self.output], dtype=np.float32)

    def runtime_version(self) -> str:
        import coremltools as ct

        return ct.__version__

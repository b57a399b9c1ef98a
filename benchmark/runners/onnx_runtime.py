"""ONNX models in ONNX Runtime's CPU provider, with the thread count fixed."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from benchmark.runners.base import Runner


class OnnxRuntimeRunner(Runner):
    runtime_name = "onnxruntime"

    def load(self) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.spec.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(self.path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        declared = self.input_names()
        actual = [i.name for i in self.session.get_inputs()]
        if sorted(declared) != sorted(actual):
            raise ValueError(
                f"{self.path}: the model's inputs {actual} differ from the manifest's {declared}"
            )
        self.output = self.spec.manifest["outputs"][0]["name"]
        self.details["providers"] = self.session.get_providers()
        self.details["intra_op_threads"] = self.spec.threads

    def predict(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        feed = dict(zip(self.input_names(), self.cast_inputs(image, question, mask), strict=True))
        (logits,) = self.session.run([self.output], feed)
        return np.asarray(logits, dtype=np.float32)

    def runtime_version(self) -> str:
        return ort.__version__

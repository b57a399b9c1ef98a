"""ONNX (`.onnx`) and ONNX Runtime Mobile (`.ort`) models in ONNX Runtime's CPU provider."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from vqa.runtimes import LoadedModel, RuntimeOptions, output_logits


class OnnxRuntimeModel(LoadedModel):
    runtime_name = "onnxruntime"

    def __init__(self, path: Path, options: RuntimeOptions) -> None:
        super().__init__(path, options)
        session_options = ort.SessionOptions()
        if options.threads:
            session_options.intra_op_num_threads = options.threads
            session_options.inter_op_num_threads = 1
            session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            self.details["intra_op_threads"] = options.threads
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            str(path), sess_options=session_options, providers=["CPUExecutionProvider"]
        )
        actual = [i.name for i in self.session.get_inputs()]
        if sorted(actual) != sorted(options.input_names):
            raise ValueError(
                f"{path}: the model's inputs {actual} differ from the manifest's "
                f"{list(options.input_names)}"
            )
        self.details["providers"] = self.session.get_providers()

    def predict(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return output_logits(
            self.session.run([self.options.output_name], self.feed(image, question, mask))
        )

    def version(self) -> str:
        return ort.__version__


def load(path: Path, options: RuntimeOptions) -> OnnxRuntimeModel:
    return OnnxRuntimeModel(path, options)

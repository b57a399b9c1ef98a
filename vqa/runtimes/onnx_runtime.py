"""ONNX (`.onnx`) and ONNX Runtime Mobile (`.ort`) models in ONNX Runtime's CPU provider."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from vqa.runtimes import LoadedModel, RuntimeOptions, output_logits


def session_options(threads: int | None) -> ort.SessionOptions:
    """Every graph optimization; with `threads`, that many intra-op threads and no inter-op
    parallelism, so that one figure means one thread count. The thread pool stops spinning when
    a run returns: an app asks one question at a time, and a pool left spinning takes CPU from
    whatever runs next (in an interleaved benchmark, the next target)."""
    options = ort.SessionOptions()
    options.add_session_config_entry("session.force_spinning_stop", "1")
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


class OnnxRuntimeModel(LoadedModel):
    runtime_name = "onnxruntime"

    def __init__(self, path: Path, options: RuntimeOptions) -> None:
        super().__init__(path, options)
        if options.threads:
            self.details["intra_op_threads"] = options.threads
        self.session = ort.InferenceSession(
            str(path), sess_options=session_options(options.threads),
            providers=["CPUExecutionProvider"],
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

"""ExecuTorch `.pte` programs (XNNPACK delegate) in the ExecuTorch runtime's Python bindings."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import executorch.kernels.quantized  # noqa: F401  (int8 programs use its embedding_byte kernel)
import numpy as np
import torch
from executorch.extension.pybindings import portable_lib
from executorch.runtime import Runtime

from vqa.runtimes import LoadedModel, RuntimeOptions, output_logits


class ExecuTorchModel(LoadedModel):
    runtime_name = "executorch"

    def __init__(self, path: Path, options: RuntimeOptions) -> None:
        super().__init__(path, options)
        if options.threads:
            # XNNPACK runs on ExecuTorch's own thread pool, not torch's.
            portable_lib._unsafe_reset_threadpool(options.threads)
        self.method = Runtime.get().load_program(path).load_method("forward")
        if self.method is None:
            raise ValueError(f"{path}: the program has no 'forward' method")
        self.details["threadpool_threads"] = portable_lib._threadpool_get_thread_count()

    def predict(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        inputs = [torch.from_numpy(a) for a in self.cast(image, question, mask)]
        return output_logits(self.method.execute(inputs))

    def version(self) -> str:
        return version("executorch")


def load(path: Path, options: RuntimeOptions) -> ExecuTorchModel:
    return ExecuTorchModel(path, options)

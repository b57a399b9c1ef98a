"""ExecuTorch `.pte` programs (XNNPACK delegate) in the ExecuTorch runtime's Python bindings."""

from __future__ import annotations

from importlib.metadata import version

import executorch.kernels.quantized  # noqa: F401  (int8 programs use its embedding_byte kernel)
import numpy as np
import torch
from executorch.extension.pybindings import portable_lib
from executorch.runtime import Runtime

from benchmark.runners.base import Runner


class ExecuTorchRunner(Runner):
    runtime_name = "executorch"

    def load(self) -> None:
        # XNNPACK runs on ExecuTorch's own thread pool, not torch's.
        portable_lib._unsafe_reset_threadpool(self.spec.threads)
        program = Runtime.get().load_program(self.path)
        self.method = program.load_method("forward")
        if self.method is None:
            raise ValueError(f"{self.path}: the program has no 'forward' method")
        self.details["threadpool_threads"] = portable_lib._threadpool_get_thread_count()

    def predict(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        inputs = [torch.from_numpy(a) for a in self.cast_inputs(image, question, mask)]
        (logits,) = self.method.execute(inputs)[:1]
        return logits.float().numpy()

    def runtime_version(self) -> str:
        return version("executorch")

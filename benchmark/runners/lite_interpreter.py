"""TorchScript-mobile `.ptl` files in PyTorch's lite interpreter (what the Android app runs)."""

from __future__ import annotations

import numpy as np
import torch
from torch.jit.mobile import _load_for_lite_interpreter

from benchmark.runners.base import Runner


class LiteInterpreterRunner(Runner):
    runtime_name = "torch-lite-interpreter"

    def load(self) -> None:
        torch.set_num_threads(self.spec.threads)
        engine = (self.spec.manifest or {}).get("runtime", {}).get("quantized_engine")
        if engine:
            torch.backends.quantized.engine = engine
        self.module = _load_for_lite_interpreter(str(self.path))
        self.details["intra_op_threads"] = torch.get_num_threads()
        self.details["quantized_engine"] = torch.backends.quantized.engine

    def predict(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        inputs = [torch.from_numpy(a) for a in self.cast_inputs(image, question, mask)]
        with torch.inference_mode():
            out = self.module(*inputs)
        if isinstance(out, (tuple, list)):
            out = out[0]
        return out.float().numpy()

    def runtime_version(self) -> str:
        return torch.__version__

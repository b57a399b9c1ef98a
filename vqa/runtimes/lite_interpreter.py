"""TorchScript-mobile `.ptl` files in PyTorch's lite interpreter (what the Android app runs).

int8 models run on the quantized engine the bundle was made for (qnnpack on arm64, x86 on
x86_64): packed weights are re-packed for the engine that is current when the file is loaded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.jit.mobile import _load_for_lite_interpreter

from vqa.runtimes import LoadedModel, RuntimeOptions, output_logits
from vqa.runtimes.quantized_engine import use_quantized_engine


class LiteInterpreterModel(LoadedModel):
    runtime_name = "torch-lite-interpreter"

    def __init__(self, path: Path, options: RuntimeOptions) -> None:
        super().__init__(path, options)
        if options.threads:
            torch.set_num_threads(options.threads)
        self.engine = options.quantized_engine or torch.backends.quantized.engine
        with use_quantized_engine(self.engine):
            self.module = _load_for_lite_interpreter(str(path))
        self.details["intra_op_threads"] = torch.get_num_threads()
        self.details["quantized_engine"] = self.engine

    def predict(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        inputs = [torch.from_numpy(a) for a in self.cast(image, question, mask)]
        with torch.inference_mode(), use_quantized_engine(self.engine):
            return output_logits(self.module(*inputs))

    def version(self) -> str:
        return torch.__version__


def load(path: Path, options: RuntimeOptions) -> LiteInterpreterModel:
    return LiteInterpreterModel(path, options)

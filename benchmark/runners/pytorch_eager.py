"""PyTorch eager from the source checkpoint: the fp32 reference and the dynamic-int8 baseline."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from benchmark.runners.base import Runner
from vqa.checkpoint import load_model


class EagerRunner(Runner):
    """`vqa.load_model`, optionally with torch's dynamic int8 quantization of Linear layers."""

    runtime_name = "pytorch-eager"

    def load(self) -> None:
        torch.set_num_threads(self.spec.threads)
        model = load_model(self.path, arch=self.spec.arch, img_size=self.spec.image_size)
        if self.spec.precision == "int8":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated, still works
                model = torch.ao.quantization.quantize_dynamic(
                    model, {torch.nn.Linear}, dtype=torch.qint8
                )
            self.details["quantization"] = "torch.ao dynamic int8 (Linear)"
            self.details["engine"] = torch.backends.quantized.engine
        elif self.spec.precision != "fp32":
            raise ValueError(f"PyTorch eager baselines are fp32 or int8, not {self.spec.precision}")
        self.model = model.eval()
        self.details["intra_op_threads"] = torch.get_num_threads()

    def predict(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            logits = self.model(
                torch.from_numpy(image), torch.from_numpy(question), torch.from_numpy(mask)
            )
        return logits.float().numpy()

    def runtime_version(self) -> str:
        return torch.__version__

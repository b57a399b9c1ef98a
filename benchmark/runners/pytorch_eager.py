"""PyTorch eager from the source checkpoint: the fp32 reference and the dynamic-int8 baseline.

The int8 baseline quantizes Linear layers dynamically on this host's quantized engine (x86 on
x86-64, qnnpack on arm64), chosen as the exporter chooses it, and the row names the engine.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch

from benchmark.runners.base import Runner
from vqa.checkpoint import load_model
from vqa.runtimes.host import host_target
from vqa.runtimes.quantized_engine import engine_for, use_quantized_engine


class EagerRunner(Runner):
    """`vqa.load_model`, optionally with torch's dynamic int8 quantization of Linear layers."""

    def import_runtime(self) -> None:
        """torch and torchscale (imported with this module), and torch's thread pool started."""
        torch.set_num_threads(self.spec.threads)
        torch.zeros(1).add_(1)

    def load(self) -> None:
        self.details: dict[str, Any] = {}
        self.engine = torch.backends.quantized.engine
        model = load_model(self.path, arch=self.spec.arch, img_size=self.spec.image_size)
        if self.spec.precision == "int8":
            self.engine = engine_for(host_target())
            with warnings.catch_warnings(), use_quantized_engine(self.engine):
                warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated, still works
                model = torch.ao.quantization.quantize_dynamic(
                    model, {torch.nn.Linear}, dtype=torch.qint8
                )
            self.details["quantization"] = "torch.ao dynamic int8 (Linear)"
            self.details["quantized_engine"] = self.engine
        elif self.spec.precision != "fp32":
            raise ValueError(f"PyTorch eager baselines are fp32 or int8, not {self.spec.precision}")
        self.model = model.eval()
        self.details["intra_op_threads"] = torch.get_num_threads()

    def predict(self, image: np.ndarray, question: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode(), use_quantized_engine(self.engine):
            logits = self.model(
                torch.from_numpy(image), torch.from_numpy(question), torch.from_numpy(mask)
            )
        return logits.float().numpy()

    def runtime_info(self) -> dict[str, Any]:
        return {"name": "pytorch-eager", "version": torch.__version__, "details": self.details}

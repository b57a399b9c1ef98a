"""TorchScript-mobile (`.ptl`, the lite interpreter of PyTorch Mobile).

`torch.jit.trace` (scripting fails on torchscale's `**kwargs`). int8 is torch's dynamic
quantization: Linear layers with per-channel int8 weights and activations quantized at run time,
and the text embedding (a fifth of a base model) with int8 weights, one scale a row. The quantized
engine is the target's (qnnpack on arm64, as PyTorch Mobile runs it; x86 on x86_64), set while
quantizing and tracing, and recorded in the manifest so that runtimes load the file on it.
`optimize_for_mobile` needs a torch built with XNNPACK; the x86 wheels here are not, so there the
model is saved without it and the manifest says so.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.ao.nn.quantized import Embedding as QuantizedEmbedding
from torch.ao.quantization import (
    float_qparams_weight_only_qconfig,
    per_channel_dynamic_qconfig,
    quantize_dynamic,
)
from torch.utils.mobile_optimizer import optimize_for_mobile

from export.formats import Artifact, ExportSettings, FormatSpec, Inputs
from vqa.runtimes.quantized_engine import engine_for, use_quantized_engine

MODEL_FILE = "model.ptl"


def quantize(model: nn.Module) -> nn.Module:
    """A dynamically quantized copy: int8 Linear weights (per channel) and text embedding."""
    quantized = copy.deepcopy(model)
    text = quantized.beit3.text_embed
    plain = nn.Embedding(text.num_embeddings, text.embedding_dim, _weight=text.weight.detach())
    plain.qconfig = float_qparams_weight_only_qconfig
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning, UserWarning))
        quantized.beit3.text_embed = QuantizedEmbedding.from_float(plain)
        return quantize_dynamic(quantized, {nn.Linear: per_channel_dynamic_qconfig}, torch.qint8)


def export(model: nn.Module, example: Inputs, folder: Path, settings: ExportSettings) -> Artifact:
    int8 = settings.precision == "int8"
    engine = engine_for(settings.target) if int8 else torch.backends.quantized.engine
    with use_quantized_engine(engine):
        return _export(quantize(model) if int8 else model, example, folder, settings)


def _export(module: nn.Module, example: Inputs, folder: Path, settings: ExportSettings) -> Artifact:
    runtime: dict[str, Any] = {
        "interpreter": "lite",
        "traced": True,
        "optimize_for_mobile": torch._C._is_xnnpack_enabled(),
        "torch_version": torch.__version__,
    }
    with torch.no_grad(), warnings.catch_warnings():
        # torchscale's shape arithmetic warns on every layer; trace and lite are "deprecated".
        warnings.simplefilter("ignore", (torch.jit.TracerWarning, FutureWarning))
        traced = torch.jit.trace(module, example, check_trace=False)
        if runtime["optimize_for_mobile"]:
            traced = optimize_for_mobile(traced)
        else:
            runtime["optimize_for_mobile_note"] = (
                "skipped: this torch build has no XNNPACK (x86 wheels); the model runs as traced"
            )
        traced._save_for_lite_interpreter(str(folder / MODEL_FILE))
    quantization: dict[str, Any] = {"scheme": "none"}
    if settings.precision == "int8":
        runtime["quantized_engine"] = torch.backends.quantized.engine
        quantization = {
            "scheme": "dynamic-int8",
            "weight_dtype": "int8",
            "per_channel": True,
            "ops": ["Linear (dynamic activations)", "Embedding (text, weight-only, per row)"],
            "tool": "torch.ao.quantization.quantize_dynamic",
        }
    return Artifact(MODEL_FILE, quantization=quantization, runtime=runtime)


FORMAT = FormatSpec(
    name="torchscript",
    default_precision="fp32",
    unsupported={
        "fp16": "the lite interpreter's CPU kernels compute in fp32 (and int8); use fp32 or "
        "--int8",
    },
    export=export,
)

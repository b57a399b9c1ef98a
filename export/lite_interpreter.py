"""TorchScript-mobile (`.ptl`, the lite interpreter of PyTorch Mobile).

`torch.jit.trace` (scripting fails on torchscale's `**kwargs`). int8 is torch's dynamic
quantization: Linear layers with per-channel int8 weights and activations quantized at run time,
and the text embedding (a fifth of a base model) with int8 weights, one scale a row. The quantized
engine is the target's (qnnpack on arm64, as PyTorch Mobile runs it; x86 on x86_64), set while
quantizing and tracing, and recorded in the manifest so that runtimes load the file on it.
`optimize_for_mobile` needs a torch built with XNNPACK; the x86 wheels here are not, so there the
model is saved without it and the manifest says so.

The file must load in PyTorch Android Lite 1.13.1, the last release of PyTorch Mobile for Android:
attention is traced head by head through `baddbmm`, `softmax` and `bmm`
(`vqa.model.HeadwiseMultiheadAttention`; `scaled_dot_product_attention` arrived in torch 2.0, so
that release has no such operator), and the bytecode is backported to v8, the newest that release
writes (its loader reads v4-v9), should this torch write a newer one. The manifest records the
bytecode version and the operators the file needs.
"""

from __future__ import annotations

import copy
import tempfile
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
from torch.jit.mobile import (
    _backport_for_mobile,
    _export_operator_list,
    _get_model_bytecode_version,
    _load_for_lite_interpreter,
)
from torch.utils.mobile_optimizer import optimize_for_mobile

from export.formats import Artifact, ExportSettings, FormatSpec, Inputs
from vqa.model import attention_as
from vqa.runtimes.quantized_engine import engine_for, use_quantized_engine

MODEL_FILE = "model.ptl"
ATTENTION = "headwise"
"""vqa.model.ATTENTION's forward traced: PyTorch Android Lite 1.13 has no fused attention op."""
LITE_1_13_BYTECODE = 8
"""Bytecode PyTorch Android Lite 1.13.1 writes (caffe2/serialize/versions.h); it reads v4-v9."""


def save_for_lite_1_13(traced: torch.jit.ScriptModule, path: Path) -> dict[str, Any]:
    """Save for the lite interpreter at bytecode <= v8; the version and operators it needs."""
    traced._save_for_lite_interpreter(str(path))
    version = _get_model_bytecode_version(str(path))
    if version > LITE_1_13_BYTECODE:
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            older = Path(tmp) / path.name
            if not _backport_for_mobile(str(path), str(older), LITE_1_13_BYTECODE):
                raise RuntimeError(f"cannot backport {path} from bytecode v{version} to "
                                   f"v{LITE_1_13_BYTECODE} (PyTorch Android Lite 1.13.1)")
            older.replace(path)
        version = _get_model_bytecode_version(str(path))
    operators = sorted(_export_operator_list(_load_for_lite_interpreter(str(path))))
    return {"bytecode_version": version, "operators": operators}


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
    module = quantize(model) if int8 else model
    with use_quantized_engine(engine), attention_as(module, ATTENTION):
        return _export(module, example, folder, settings)


def _export(module: nn.Module, example: Inputs, folder: Path, settings: ExportSettings) -> Artifact:
    runtime: dict[str, Any] = {
        "interpreter": "lite",
        "attention": ATTENTION,
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
        runtime.update(save_for_lite_1_13(traced, folder / MODEL_FILE))
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
        "int4": "--int4: TorchScript-mobile has no 4-bit path (the lite interpreter has no 4-bit "
        "kernels); use --int8, or --int4 with onnx, executorch or coreml",
    },
    export=export,
)

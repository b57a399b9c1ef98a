"""ONNX (`model.onnx`) and the ONNX Runtime Mobile format (`model.ort`).

torch's TorchScript-based exporter (`dynamo=False`, opset 17) with a dynamic batch axis; the
dynamo exporter writes external data and defeats onnxruntime's quantization pre-processing.
int8 is onnxruntime's dynamic quantization of MatMul and Gather (the embeddings), per channel.
The weight type depends on the CPU: QInt8 is the fast choice on ARM but onnxruntime computes it
wrongly on x86 without VNNI (saturating u8s8 sums), so --target x86_64 uses QUInt8 weights.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import warnings
from pathlib import Path
from typing import Any

import onnx
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.shape_inference import quant_pre_process
from torch import nn

from export.errors import ExportError
from export.formats import (
    INPUT_NAMES,
    OUTPUT_NAME,
    Artifact,
    ExportSettings,
    FormatSpec,
    Inputs,
    ParityPlan,
    Runner,
)
from export.host import runs_signed_int8_matmul_exactly

MODEL_FILE = "model.onnx"
ORT_FILE = "model.ort"
ORT_OPERATORS_FILE = "ort_required_operators.config"
OPSET = 17
QUANTIZED_OPS = ["MatMul", "Gather"]
_ORT_PLATFORM = {"arm64": "arm", "x86_64": None}
"""converter target_platform: "amd64" would add NCHWc layouts tied to this very CPU's vector width,
so x86_64 gets the portable optimizations."""


def _weight_type(target: str) -> QuantType:
    return QuantType.QInt8 if target == "arm64" else QuantType.QUInt8


def _torch_export(model: nn.Module, example: Inputs, path: Path) -> None:
    axes = {name: {0: "batch"} for name in (*INPUT_NAMES, OUTPUT_NAME)}
    with torch.no_grad(), warnings.catch_warnings():
        for category in (torch.jit.TracerWarning, DeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", category)
        torch.onnx.export(
            model,
            example,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=list(INPUT_NAMES),
            output_names=[OUTPUT_NAME],
            dynamic_axes=axes,
        )


def _quantize(fp32: Path, out: Path, work: Path, target: str) -> None:
    prepared = work / "prepared.onnx"
    with contextlib.redirect_stdout(io.StringIO()):
        quant_pre_process(str(fp32), str(prepared))
        quantize_dynamic(
            str(prepared),
            str(out),
            weight_type=_weight_type(target),
            per_channel=True,
            reduce_range=False,
            op_types_to_quantize=QUANTIZED_OPS,
        )


def _to_ort(model: Path, folder: Path, work: Path, target: str) -> None:
    """Convert to the ORT format with fixed optimizations for the target's CPU."""
    # Imported here: importing it configures the root logger (logging.basicConfig).
    from onnxruntime.tools.convert_onnx_models_to_ort import (
        OptimizationStyle,
        convert_onnx_models_to_ort,
    )

    out = work / "ort"
    # The converter's logger is set to DEBUG when imported; its INFO lines only repeat file names.
    logging.getLogger("ort_format_model.utils").setLevel(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()):
        convert_onnx_models_to_ort(
            model,
            output_dir=out,
            optimization_styles=[OptimizationStyle.Fixed],
            target_platform=_ORT_PLATFORM[target],
        )
    shutil.move(out / f"{model.stem}.ort", folder / ORT_FILE)
    shutil.move(out / f"{model.stem}.required_operators.config", folder / ORT_OPERATORS_FILE)


def export(model: nn.Module, example: Inputs, folder: Path, settings: ExportSettings) -> Artifact:
    work = folder / ".work"
    work.mkdir()
    try:
        if settings.precision == "int8":
            fp32 = work / "fp32.onnx"
            _torch_export(model, example, fp32)
            _quantize(fp32, folder / MODEL_FILE, work, settings.target)
        else:
            _torch_export(model, example, folder / MODEL_FILE)
        _to_ort(folder / MODEL_FILE, folder, work, settings.target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    quantization: dict[str, Any] = {"scheme": "none"}
    if settings.precision == "int8":
        weight = _weight_type(settings.target)
        quantization = {
            "scheme": "dynamic-int8",
            "weight_dtype": "int8" if weight == QuantType.QInt8 else "uint8",
            "activation_dtype": "uint8",
            "per_channel": True,
            "reduce_range": False,
            "ops": QUANTIZED_OPS,
            "tool": "onnxruntime.quantization.quantize_dynamic",
        }
    runtime = {
        "opset": OPSET,
        "ort_file": ORT_FILE,
        "ort_optimization": "fixed",
        "ort_target_platform": _ORT_PLATFORM[settings.target] or "any",
        "ort_required_operators": ORT_OPERATORS_FILE,
        "onnxruntime_version": ort.__version__,
    }
    return Artifact(MODEL_FILE, quantization=quantization, runtime=runtime)


def check(folder: Path, artifact: Artifact, settings: ExportSettings) -> dict[str, Any]:
    path = folder / artifact.model_file
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as err:
        raise ExportError(f"{path}: onnx.checker rejects the model: {err}") from None
    graph = onnx.load(str(path), load_external_data=False).graph
    names = [i.name for i in graph.input], [o.name for o in graph.output]
    if names != (list(INPUT_NAMES), [OUTPUT_NAME]):
        raise ExportError(f"{path}: inputs/outputs are {names}, expected {INPUT_NAMES} -> logits")
    return {"onnx_checker": "passed"}


def runners(folder: Path, model_file: str) -> list[tuple[str, Runner]]:
    found = []
    for name in (model_file, ORT_FILE):
        session = ort.InferenceSession(str(folder / name), providers=["CPUExecutionProvider"])

        def run(image, question, mask, session=session):
            arrays = (image.numpy(), question.numpy(), mask.numpy())
            feed = dict(zip(INPUT_NAMES, arrays, strict=True))
            return session.run([OUTPUT_NAME], feed)[0]

        found.append((name, run))
    return found


def parity_plan(settings: ExportSettings) -> ParityPlan:
    if settings.precision == "int8" and settings.target == "arm64":
        if not runs_signed_int8_matmul_exactly():
            return ParityPlan(
                "pending-target",
                "QInt8 weights for arm64: onnxruntime computes them wrongly on this x86 CPU "
                "(no VNNI: saturating u8s8 sums), so parity must be measured on an arm64 device",
            )
    return ParityPlan()


FORMAT = FormatSpec(
    name="onnx",
    default_precision="fp32",
    unsupported={
        "fp16": "onnxruntime's CPU execution provider (the one ONNX Runtime Mobile runs) lacks "
        "fp16 kernels for most operators; use fp32 or --int8",
    },
    export=export,
    runners=runners,
    check=check,
    parity_plan=parity_plan,
    target_dependent=lambda precision: True,
)

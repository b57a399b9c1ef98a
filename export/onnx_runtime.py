"""ONNX (`model.onnx`) and the ONNX Runtime Mobile format (`model.ort`).

torch's TorchScript-based exporter (`dynamo=False`, opset 17) with a dynamic batch axis; the
dynamo exporter writes external data and defeats onnxruntime's quantization pre-processing.
int8 is onnxruntime's dynamic quantization of MatMul and Gather (the embeddings), per channel,
with int8 weights (QInt8: the u8s8 kernels; uint8 weights run the u8u8 ones, no faster than fp32),
and then attention's two matmuls a layer (scores and weighted sum), which quantize_dynamic leaves
in fp32 (`export.onnx_attention`). Every precision starts from the exported graph without the
multiway split's copies (`export.onnx_multiway`).
On x86 without VNNI the u8s8 kernels sum pairs in saturating 16 bits, which full-range weights
overflow; so --target x86_64 quantizes weights to 7 bits (reduce_range) unless --x86-vnni says
the target has VNNI. ARM targets get full-range weights.
--int4: 4-bit symmetric weights in blocks of 128 inputs for every MatMul and Gemm (MatMulNBits,
int8 activations at run time); the embedding and position tables 8-bit as for int8. MatMulNBits
keeps an fp32 scale a block: blocks of 128 cost 4.25 bits a weight (blocks of 32: 5), which is what
brings the 6-layer student's int4 bundle with the easy-VQA vocabulary cut under 0.10x of fp32.
Models narrower than 512 get blocks of 32 (ExportSettings.int4_block). The answer classifier keeps
int8 weights: with 4 bits there, the easy-VQA model of scripts/bench_small_bundles.py failed the
agreement gate (its near-tied yes/no logits flip).
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
)
from export.host import runs_signed_int8_matmul_exactly
from export.onnx_attention import AttentionRewrite, quantize_attention
from export.onnx_multiway import shapes_without_concat, split_streams

MODEL_FILE = "model.onnx"
ORT_FILE = "model.ort"
ORT_OPERATORS_FILE = "ort_required_operators.config"
OPSET = 17
QUANTIZED_OPS = ["MatMul", "Gather"]
INT4_BLOCK_SIZE = 128
"""Inputs a weight scale covers in a model wide enough (onnxruntime's default block size)."""
INT4_ACCURACY_LEVEL = 4
"""MatMulNBits computes with int8 activations (the fast kernels on ARM and x86; 4-bit weights
times int8 cannot overflow the 16-bit pair sums of x86 without VNNI)."""
_ORT_PLATFORM = {"arm64": "arm", "x86_64": None}
"""converter target_platform: "amd64" would add NCHWc layouts tied to this very CPU's vector width,
so x86_64 gets the portable optimizations."""


def reduce_range(settings: ExportSettings) -> bool:
    """7-bit weights: needed on x86 CPUs without VNNI, where u8s8 sums saturate."""
    return settings.target == "x86_64" and not settings.x86_vnni


def _torch_export(model: nn.Module, example: Inputs, path: Path, *, final: bool) -> int:
    """The traced graph with the multiway streams apart (`split_streams`), and with final (no
    quantization follows) without the concatenations kept for their shape; returns how many
    slices now read a concatenation's input."""
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
    graph = onnx.load(str(path))
    bypassed = split_streams(graph)
    if final:
        shapes_without_concat(graph)
    onnx.save(graph, str(path))
    return bypassed


def _classifier(model: onnx.ModelProto) -> str:
    """The name of the answer classifier's MatMul, the last one before the logits."""
    producer = {output: node for node in model.graph.node for output in node.output}
    node = producer[model.graph.output[0].name]
    while node.op_type != "MatMul":
        node = producer[node.input[0]]
    return node.name


def _quantize_dynamic(
    fp32: Path, out: Path, work: Path, op_types: list[str], *, seven_bit: bool
) -> None:
    """onnxruntime's dynamic int8 quantization (per channel) of op_types, after its pre-pass."""
    prepared = work / "prepared.onnx"
    with contextlib.redirect_stdout(io.StringIO()):
        quant_pre_process(str(fp32), str(prepared))
        quantize_dynamic(
            str(prepared),
            str(out),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=seven_bit,
            op_types_to_quantize=op_types,
        )


def _quantize_int4(fp32: Path, out: Path, work: Path, block: int) -> None:
    """4-bit MatMul weights (MatMulNBits), the tables read by Gather and the answer classifier
    in 8 bits.

    quantize_dynamic runs first, on Gather alone: it also rewrites Gemm (torchscale's FFN runs on
    2-D input) as MatMul, so the 4-bit pass reaches the FFN; then MatMulNBits on every MatMul but
    the classifier, and quantize_dynamic on the classifier alone. The embeddings stay 8-bit
    because the ORT format cannot store the int4 tensors of GatherBlockQuantized; the classifier
    because 4 bits there flip near-tied answers (see the module docstring).
    """
    from onnxruntime.quantization import QuantFormat
    from onnxruntime.quantization.matmul_nbits_quantizer import (
        DefaultWeightOnlyQuantConfig,
        MatMulNBitsQuantizer,
    )

    gathered = work / "gather_int8.onnx"
    _quantize_dynamic(fp32, gathered, work, ["Gather"], seven_bit=False)
    classifier = _classifier(onnx.load(str(gathered)))
    logging.getLogger("onnxruntime.quantization.matmul_nbits_quantizer").setLevel(logging.WARNING)
    config = DefaultWeightOnlyQuantConfig(
        block_size=block,
        is_symmetric=True,
        accuracy_level=INT4_ACCURACY_LEVEL,
        quant_format=QuantFormat.QOperator,
        op_types_to_quantize=("MatMul",),
        bits=4,
    )
    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(gathered)), nodes_to_exclude=[classifier], algo_config=config
    )
    quantizer.process()
    four_bit = work / "int4.onnx"
    quantizer.model.save_model_to_file(str(four_bit), use_external_data_format=False)
    with contextlib.redirect_stdout(io.StringIO()):
        quantize_dynamic(
            str(four_bit), str(out), weight_type=QuantType.QInt8, per_channel=True,
            op_types_to_quantize=["MatMul"], nodes_to_quantize=[classifier],
        )


def _int4_quantization(block: int) -> dict[str, Any]:
    return {
        "scheme": "weight-int4",
        "weight_dtype": "int4",
        "bits": 4,
        "block_size": block,
        "symmetric": True,
        "accuracy_level": INT4_ACCURACY_LEVEL,
        "ops": [
            "MatMul and Gemm (MatMulNBits: 4-bit weights, an fp32 scale a block of "
            f"{block} inputs), except the answer classifier",
            "the answer classifier's MatMul (int8 weights per channel, dynamic quantization)",
            "Gather (embedding and position tables: uint8, one scale a table, as onnxruntime's "
            "quantize_dynamic quantizes Gather data; the ORT format has no int4 tensors)",
        ],
        "tool": "onnxruntime.quantization.matmul_nbits_quantizer.MatMulNBitsQuantizer",
    }


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


def _after_quantization(path: Path, *, attention: bool, seven_bit: bool) -> AttentionRewrite:
    """The passes that follow quantization, in one load and save: with attention, int8
    attention (`quantize_attention`); then `shapes_without_concat`, which the quantizer's shape
    inference could not have followed."""
    model = onnx.load(str(path))
    rewrite = quantize_attention(model, seven_bit=seven_bit) if attention else AttentionRewrite()
    shapes_without_concat(model)
    onnx.save(model, str(path))
    return rewrite


def _attention_entry(rewrite: AttentionRewrite, seven_bit: bool) -> dict[str, Any]:
    return {
        "matmuls": rewrite.matmuls,
        "left": "uint8 per tensor at run time (DynamicQuantizeLinear)",
        "right": f"int8 symmetric per tensor at run time ({'7' if seven_bit else '8'} bits)",
        "kernel": "MatMulInteger",
        "mask_as_bias": f"{rewrite.masks_as_bias} padding masks added by the scores kernel "
        "(DynamicQuantizeMatMul bias) when the mask is one row (always at batch 1)",
    }


def export(model: nn.Module, example: Inputs, folder: Path, settings: ExportSettings) -> Artifact:
    work = folder / ".work"
    work.mkdir()
    seven_bit = reduce_range(settings)
    try:
        if settings.precision == "int8":
            fp32 = work / "fp32.onnx"
            bypassed = _torch_export(model, example, fp32, final=False)
            _quantize_dynamic(fp32, folder / MODEL_FILE, work, QUANTIZED_OPS, seven_bit=seven_bit)
            attention = _after_quantization(folder / MODEL_FILE, attention=True,
                                            seven_bit=seven_bit)
        elif settings.precision == "int4":
            fp32 = work / "fp32.onnx"
            bypassed = _torch_export(model, example, fp32, final=False)
            _quantize_int4(fp32, folder / MODEL_FILE, work, settings.int4_block(INT4_BLOCK_SIZE))
            _after_quantization(folder / MODEL_FILE, attention=False, seven_bit=seven_bit)
        else:
            bypassed = _torch_export(model, example, folder / MODEL_FILE, final=True)
        _to_ort(folder / MODEL_FILE, folder, work, settings.target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    quantization: dict[str, Any] = {"scheme": "none"}
    if settings.precision == "int8":
        quantization = {
            "scheme": "dynamic-int8",
            "weight_dtype": "int8",
            "activation_dtype": "uint8",
            "per_channel": True,
            "reduce_range": seven_bit,
            "x86_vnni": settings.x86_vnni,
            "gather_weight_dtype": "uint8 per tensor (onnxruntime quantizes Gather data as an "
            "activation)",
            "ops": QUANTIZED_OPS,
            "tool": "onnxruntime.quantization.quantize_dynamic",
            "attention": _attention_entry(attention, seven_bit),
        }
    elif settings.precision == "int4":
        quantization = _int4_quantization(settings.int4_block(INT4_BLOCK_SIZE))
    runtime = {
        "opset": OPSET,
        "ort_file": ORT_FILE,
        "ort_optimization": "fixed",
        "ort_target_platform": _ORT_PLATFORM[settings.target] or "any",
        "ort_required_operators": ORT_OPERATORS_FILE,
        "onnxruntime_version": ort.__version__,
        "multiway_slices_bypassed": bypassed,
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


def parity_plan(settings: ExportSettings) -> ParityPlan:
    if settings.precision == "int8" and not reduce_range(settings):
        if not runs_signed_int8_matmul_exactly():
            where = "an arm64 device" if settings.target == "arm64" else "a CPU with VNNI"
            return ParityPlan(
                "pending-target",
                f"full-range int8 weights for {settings.target}: onnxruntime computes them "
                "wrongly on this x86 CPU (no VNNI: saturating u8s8 sums), so parity must be "
                f"measured on {where}",
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
    runtime_files=lambda model_file: [model_file, ORT_FILE],
    check=check,
    parity_plan=parity_plan,
    target_dependent=lambda precision: True,
)

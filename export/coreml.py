"""Core ML (`model.mlpackage`, an ML program) for iPhone and iPad apps.

Converted from a `torch.export` program (coremltools cannot convert torch's dynamically quantized
ops, and its traced-TorchScript path rejects flexible shapes). Question ids and padding mask are
int32 inputs, which Swift's MLMultiArray holds natively; the model casts them inside. The batch is
fixed at 1, which the Neural Engine needs. fp16 by default; --int8 stores the weights as int8
(`linear_quantize_weights`, symmetric, per channel) and computes in fp16; --int4 stores them as
int4 with an fp16 scale a block of 128 inputs (per-block, which needs iOS18; 4.125 bits a weight;
blocks of 32 for models narrower than 512) and computes in fp16; --fp32 computes in fp32.
Predictions need macOS: elsewhere the saved spec is checked instead and numeric parity is left to
a Mac.
"""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import torch
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
from export.host import is_macos

MODEL_FILE = "model.mlpackage"
WEIGHT_MIN_ELEMENTS = 2048
"""Constants at least this large count as weights (coremltools' own quantization threshold)."""
WEIGHT_SHARE = 0.9
_SPEC_WEIGHT_DTYPE = {"fp32": "FLOAT32", "fp16": "FLOAT16", "int8": "INT8", "int4": "INT4"}
INT4_BLOCK_SIZE = 128
"""Inputs a weight scale covers in a model wide enough; every weight matrix of the 768-wide models
splits into whole blocks."""


class Int32Inputs(nn.Module):
    """Takes int32 ids and mask (what Swift feeds) and gives the model the int64 it expects."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, image: torch.Tensor, question: torch.Tensor, padding_mask: torch.Tensor
    ) -> torch.Tensor:
        return self.model(image, question.long(), padding_mask.long())


def export(model: nn.Module, example: Inputs, folder: Path, settings: ExportSettings) -> Artifact:
    import coremltools as ct
    from coremltools.optimize.coreml import (
        OpLinearQuantizerConfig,
        OptimizationConfig,
        linear_quantize_weights,
    )

    image, question, mask = (tensor[:1] for tensor in example)
    int_example = (image, question.to(torch.int32), mask.to(torch.int32))
    with torch.no_grad():
        program = torch.export.export(Int32Inputs(model).eval(), int_example)
        program = program.run_decompositions({})
    length = settings.text_len
    fp32 = settings.precision == "fp32"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (UserWarning, DeprecationWarning, FutureWarning))
        # a value-range pass of coremltools casts int64 bounds to int32; harmless here
        warnings.filterwarnings("ignore", "overflow encountered in cast", RuntimeWarning)
        mlmodel = ct.convert(
            program,
            inputs=[
                ct.TensorType(name=INPUT_NAMES[0], shape=tuple(image.shape), dtype=np.float32),
                ct.TensorType(name=INPUT_NAMES[1], shape=(1, length), dtype=np.int32),
                ct.TensorType(name=INPUT_NAMES[2], shape=(1, length), dtype=np.int32),
            ],
            outputs=[ct.TensorType(name=OUTPUT_NAME, dtype=np.float32)],
            convert_to="mlprogram",
            minimum_deployment_target=getattr(ct.target, settings.coreml_deployment_target),
            compute_precision=ct.precision.FLOAT32 if fp32 else ct.precision.FLOAT16,
            skip_model_load=not is_macos(),
        )
        quantization: dict[str, Any] = {"scheme": "none"}
        if settings.precision == "int8":
            config = OptimizationConfig(
                global_config=OpLinearQuantizerConfig(
                    mode="linear_symmetric", dtype="int8", granularity="per_channel"
                )
            )
            mlmodel = linear_quantize_weights(mlmodel, config)
            quantization = {
                "scheme": "weight-int8",
                "weight_dtype": "int8",
                "per_channel": True,
                "tool": "coremltools.optimize.coreml.linear_quantize_weights (linear_symmetric)",
            }
        elif settings.precision == "int4":
            mlmodel, quantization = _int4_weights(mlmodel, settings.int4_block(INT4_BLOCK_SIZE))
    mlmodel.save(str(folder / MODEL_FILE))
    runtime = {
        "model_type": "mlprogram",
        "minimum_deployment_target": settings.coreml_deployment_target,
        "compute_precision": "fp32" if fp32 else "fp16",
        "coremltools_version": ct.__version__,
    }
    return Artifact(
        MODEL_FILE, ids_dtype="int32", dynamic_batch=False, quantization=quantization,
        runtime=runtime,
    )


def _int4_weights(mlmodel: Any, block: int) -> tuple[Any, dict[str, Any]]:
    """Weights as int4 with an fp16 scale a block of `block` inputs
    (constexpr_blockwise_shift_scale, iOS18); computed in fp16. The patch projection (3 input
    channels: no whole block) gets int8 with a scale per output channel instead of staying fp16,
    and so does the answer classifier: 4 bits there flip near-tied answers (see
    export/onnx_runtime.py)."""
    from coremltools.optimize.coreml import (
        OpLinearQuantizerConfig,
        OptimizationConfig,
        linear_quantize_weights,
    )

    config = OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int4", granularity="per_block", block_size=block
    )
    patch = OpLinearQuantizerConfig(
        mode="linear_symmetric", dtype="int8", granularity="per_channel"
    )
    quantization = {
        "scheme": "weight-int4",
        "weight_dtype": "int4",
        "bits": 4,
        "block_size": block,
        "symmetric": True,
        "ops": [
            f"every weight: int4 per block of {block}",
            "conv (patch projection) and the answer classifier: int8 per channel",
        ],
        "tool": "coremltools.optimize.coreml.linear_quantize_weights (linear_symmetric, int4, "
        "per_block)",
    }
    optimization = OptimizationConfig(
        global_config=config, op_type_configs={"conv": patch},
        op_name_configs={_classifier_weight(mlmodel): patch},
    )
    return linear_quantize_weights(mlmodel, optimization), quantization


def _classifier_weight(mlmodel: Any) -> str:
    """The name of the answer classifier's weight constant: the last linear op's weight."""
    ops = mlmodel._mil_program.functions["main"].operations
    last = [op for op in ops if op.op_type == "linear"][-1]
    return last.weight.op.name


def _weight_dtypes(function: Any) -> Counter[str]:
    """Elements of weight-sized constants by storage dtype, over the main function's ops."""
    from coremltools.proto import MIL_pb2

    counts: Counter[str] = Counter()
    for op in function.block_specializations[function.opset].operations:
        if op.type != "const" and not op.type.startswith("constexpr"):
            continue
        inline = [b.value for a in op.inputs.values() for b in a.arguments if b.HasField("value")]
        for value in [*op.attributes.values(), *inline]:  # iOS18 constexpr ops take inline data
            if not value.type.HasField("tensorType"):
                continue
            size = int(np.prod([d.constant.size for d in value.type.tensorType.dimensions]))
            if size >= WEIGHT_MIN_ELEMENTS:
                counts[MIL_pb2.DataType.Name(value.type.tensorType.dataType)] += size
    return counts


def check(folder: Path, artifact: Artifact, settings: ExportSettings) -> dict[str, Any]:
    """The saved spec: input/output names, shapes and dtypes, and how the weights are stored."""
    import coremltools as ct
    from coremltools.proto import FeatureTypes_pb2

    path = folder / artifact.model_file
    spec = ct.utils.load_spec(str(path))
    dtype_name = FeatureTypes_pb2.ArrayFeatureType.ArrayDataType.Name
    found = [
        (f.name, list(f.type.multiArrayType.shape), dtype_name(f.type.multiArrayType.dataType))
        for f in spec.description.input
    ]
    size, length = settings.img_size, settings.text_len
    expected = [
        (INPUT_NAMES[0], [1, 3, size, size], "FLOAT32"),
        (INPUT_NAMES[1], [1, length], "INT32"),
        (INPUT_NAMES[2], [1, length], "INT32"),
    ]
    outputs = [
        (f.name, dtype_name(f.type.multiArrayType.dataType)) for f in spec.description.output
    ]
    problems = []
    if found != expected:
        problems.append(f"inputs {found}, expected {expected}")
    if outputs != [(OUTPUT_NAME, "FLOAT32")]:
        problems.append(f"outputs {outputs}, expected [('logits', 'FLOAT32')]")
    function = spec.mlProgram.functions["main"]
    counts = _weight_dtypes(function)
    total = sum(counts.values())
    want = _SPEC_WEIGHT_DTYPE[settings.precision]
    share = counts[want] / total if total else 0.0
    if settings.precision == "int4" and counts["INT4"] > counts["INT8"]:
        share += counts["INT8"] / total  # the patch projection: int8, see _int4_weights
    if share < WEIGHT_SHARE:
        problems.append(f"{100 * share:.1f} % of weight elements are {want}: {dict(counts)}")
    if problems:
        raise ExportError(f"{path}: the Core ML spec is not as exported: " + "; ".join(problems))
    return {
        "spec_check": {
            "inputs": [list(entry) for entry in found],
            "outputs": [list(entry) for entry in outputs],
            "opset": function.opset,
            "specification_version": spec.specificationVersion,
            "weight_share": {name: round(n / total, 4) for name, n in counts.items()},
        }
    }


def parity_plan(settings: ExportSettings) -> ParityPlan:
    if is_macos():
        return ParityPlan()
    return ParityPlan(
        "pending-macos",
        "Core ML predictions need macOS; on this host the spec was checked instead (input and "
        "output names, shapes and dtypes, weight storage dtype, see runtime.spec_check)",
    )


FORMAT = FormatSpec(
    name="coreml",
    default_precision="fp16",
    unsupported={},
    export=export,
    check=check,
    parity_plan=parity_plan,
)

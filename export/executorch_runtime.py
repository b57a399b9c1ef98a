"""ExecuTorch (`model.pte`), PyTorch's supported successor of TorchScript-mobile.

`torch.export` with a dynamic batch, lowered to the XNNPACK delegate. int8: PT2E quantization
with XNNPACKQuantizer (dynamic activations, per-channel int8 weights) for the Linear layers, and
the text embedding stored as int8 rows with one scale each, looked up by ExecuTorch's quantized
`embedding_byte` kernel (an app must link the quantized kernels library besides XNNPACK).
int4: torchao's 8-bit dynamic activations with 4-bit weights in groups of 64 inputs for the
Linear layers (XNNPACK), the text embedding as for int8 and the position tables as int8 rows.
Groups of 64 (not 32) halve the scales' share of the bundle; with the int8 position tables they
bring the 6-layer student's int4 bundle with the easy-VQA vocabulary cut under 0.10x of fp32
(scripts/bench_small_bundles.py). Models narrower than 256 get groups of 32
(ExportSettings.int4_block). The answer classifier keeps int8 weights per channel.
Attention is exported head by head (`vqa.model.HeadwiseMultiheadAttention`: XNNPACK runs each
head's batched matmuls and softmax): `scaled_dot_product_attention`'s decomposition leaves mask
guards outside the delegate in every layer and ran much slower (figures in the README).
A dynamic batch needs the relaxed IR check and constraint-based shape evaluation; memory is
planned for the largest batch, so that is kept small. The manifest's runtime.delegation counts
the ops inside and outside the XNNPACK delegate (export/xnnpack_delegation.py).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.export import Dim

from export.formats import Artifact, ExportSettings, FormatSpec, Inputs
from export.xnnpack_delegation import delegation
from vqa.model import attention_as

MODEL_FILE = "model.pte"
ATTENTION = "headwise"
"""vqa.model.ATTENTION's forward exported (see the module docstring)."""
MAX_BATCH = 8
INT8_MAX = 127
INT4_GROUP_SIZE = 64
"""Inputs a weight scale covers (see the module docstring)."""


class ByteEmbedding(nn.Module):
    """An embedding table stored as int8 rows with a float scale per row (symmetric)."""

    def __init__(self, embedding: nn.Embedding) -> None:
        super().__init__()
        import executorch.kernels.quantized  # noqa: F401  (registers quantized_decomposed ops)

        weight = embedding.weight.detach().float()
        scales = weight.abs().amax(dim=1).clamp(min=torch.finfo(torch.float32).tiny) / INT8_MAX
        rows = torch.round(weight / scales[:, None]).clamp(-INT8_MAX - 1, INT8_MAX)
        self.register_buffer("weight", rows.to(torch.int8))
        self.register_buffer("scales", scales)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized_decomposed.embedding_byte.default(
            self.weight, self.scales, None, -INT8_MAX - 1, INT8_MAX, ids
        )


class BytePositions(ByteEmbedding):
    """torchscale's PositionalEmbedding as int8 rows: left in fp32 they would be the largest
    tables of a 4-bit bundle with a cut vocabulary (579 + 1,024 rows of 768 floats at 384 px)."""

    def forward(
        self, x: torch.Tensor, positions: torch.Tensor | None = None, **kwargs: Any
    ) -> torch.Tensor:
        if positions is None:  # as torchscale: fairseq's positions start at 2
            positions = torch.arange(2, x.size(1) + 2, device=x.device).unsqueeze(0)
        return super().forward(positions)


def _dynamic_shapes() -> dict[str, dict[int, Dim]]:
    batch = Dim("batch", min=1, max=MAX_BATCH)
    return {"image": {0: batch}, "question": {0: batch}, "padding_mask": {0: batch}}


def _quantized_program(model: nn.Module, example: Inputs) -> torch.export.ExportedProgram:
    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import (
        XNNPACKQuantizer,
        get_symmetric_quantization_config,
    )
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    quantized = copy.deepcopy(model)
    quantized.beit3.text_embed = ByteEmbedding(quantized.beit3.text_embed)
    quantizer = XNNPACKQuantizer().set_global(
        get_symmetric_quantization_config(is_per_channel=True, is_dynamic=True)
    )
    graph = torch.export.export(quantized, example, dynamic_shapes=_dynamic_shapes()).module()
    graph = prepare_pt2e(graph, quantizer)
    graph(*example)
    graph = convert_pt2e(graph)
    return torch.export.export(graph, example, dynamic_shapes=_dynamic_shapes())


def _int4_program(model: nn.Module, example: Inputs, group: int) -> torch.export.ExportedProgram:
    """torchao's 8-bit dynamic activations with 4-bit grouped weights (XNNPACK's qd8-f32-qb4w
    linear) for every Linear whose inputs split into whole groups; the text embedding as int8
    rows, as for int8, and the position tables as int8 rows too. The answer classifier gets int8
    weights per channel: 4 bits there flip near-tied answers (see export/onnx_runtime.py)."""
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig, quantize_
    from torchao.quantization.granularity import PerAxis, PerGroup

    quantized = copy.deepcopy(model)
    quantized.beit3.text_embed = ByteEmbedding(quantized.beit3.text_embed)
    positions = quantized.beit3.encoder.embed_positions
    positions.A, positions.B = BytePositions(positions.A), BytePositions(positions.B)
    classifier = quantized.head[-1]
    quantize_(
        quantized,
        Int8DynamicActivationIntxWeightConfig(
            weight_dtype=torch.int4, weight_granularity=PerGroup(group)
        ),
        filter_fn=lambda module, name: isinstance(module, nn.Linear)
        and module is not classifier and module.in_features % group == 0,
    )
    quantize_(
        quantized,
        Int8DynamicActivationIntxWeightConfig(
            weight_dtype=torch.int8, weight_granularity=PerAxis(0)
        ),
        filter_fn=lambda module, name: module is classifier,
    )
    return torch.export.export(quantized, example, dynamic_shapes=_dynamic_shapes())


def export(model: nn.Module, example: Inputs, folder: Path, settings: ExportSettings) -> Artifact:
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import (
        EdgeCompileConfig,
        ExecutorchBackendConfig,
        to_edge_transform_and_lower,
    )
    from executorch.exir.passes.sym_shape_eval_pass import ConstraintBasedSymShapeEvalPass
    from executorch.version import __version__

    with torch.no_grad(), warnings.catch_warnings(), attention_as(model, ATTENTION):
        warnings.simplefilter("ignore", (UserWarning, DeprecationWarning, FutureWarning))
        if settings.precision == "int8":
            program = _quantized_program(model, example)
        elif settings.precision == "int4":
            program = _int4_program(model, example, settings.int4_block(INT4_GROUP_SIZE))
        else:
            program = torch.export.export(model, example, dynamic_shapes=_dynamic_shapes())
        edge = to_edge_transform_and_lower(
            program,
            partitioner=[XnnpackPartitioner()],
            compile_config=EdgeCompileConfig(_check_ir_validity=False),
        )
        delegated = delegation(edge.exported_program())
        executorch_program = edge.to_executorch(
            ExecutorchBackendConfig(sym_shape_eval_pass=ConstraintBasedSymShapeEvalPass())
        )
    with open(folder / MODEL_FILE, "wb") as f:
        executorch_program.write_to_file(f)
    runtime: dict[str, Any] = {
        "backend": "XnnpackBackend",
        "attention": ATTENTION,
        "kernel_libraries": ["portable", "xnnpack"],
        "max_batch": MAX_BATCH,
        "method": "forward",
        "executorch_version": __version__,
        "delegation": delegated,
    }
    quantization: dict[str, Any] = {"scheme": "none"}
    if settings.precision == "int8":
        runtime["kernel_libraries"].append("quantized")
        quantization = {
            "scheme": "dynamic-int8",
            "weight_dtype": "int8",
            "per_channel": True,
            "ops": [
                "linear (XNNPACK, dynamic activations)",
                "embedding (text, weight-only per row, quantized_decomposed::embedding_byte)",
            ],
            "tool": "torchao PT2E + XNNPACKQuantizer (symmetric, per channel, dynamic)",
        }
    elif settings.precision == "int4":
        runtime["kernel_libraries"].append("quantized")
        group = settings.int4_block(INT4_GROUP_SIZE)
        quantization = {
            "scheme": "dynamic-int8-weight-int4",
            "weight_dtype": "int4",
            "activation_dtype": "int8 (dynamic, per token)",
            "bits": 4,
            "block_size": group,
            "symmetric": True,
            "ops": [
                "linear (XNNPACK, 8-bit dynamic activations, 4-bit weights in groups of "
                f"{group}), except the answer classifier",
                "the answer classifier's linear (XNNPACK, 8-bit dynamic activations, int8 "
                "weights per channel)",
                "embedding (text and position tables, weight-only int8 per row, "
                "quantized_decomposed::embedding_byte)",
            ],
            "tool": "torchao quantize_ Int8DynamicActivationIntxWeightConfig(int4, "
            f"PerGroup({group}); int8, PerAxis(0) for the classifier)",
        }
    return Artifact(MODEL_FILE, quantization=quantization, runtime=runtime)


FORMAT = FormatSpec(
    name="executorch",
    default_precision="fp32",
    unsupported={
        "fp16": "not offered: XNNPACK runs fp16 only on ARM CPUs with fp16 arithmetic, and an "
        "export is verified where it is made; use fp32 or --int8",
    },
    export=export,
)

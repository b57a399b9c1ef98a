"""int8 attention for ONNX Runtime: the matmuls of two computed tensors, which quantize_dynamic
leaves in fp32 (it quantizes only matmuls with a constant weight), two a layer in BEiT-3.

- The left operand is uint8 per tensor, quantized at run time (DynamicQuantizeLinear). Softmax
  probabilities too: a fixed scale of 1/255 would save a pass but rounds the near-uniform
  attention of an untrained model (about 1/1000 a key at 480 px) to zero.
- The right operand is int8, symmetric per tensor, scaled at run time by its largest magnitude
  (to 127, or to 64 where the weights are 7-bit for x86 without VNNI), and quantized before the
  Reshape, Transpose and constant scaling that lead to it (see `_scaled_source`).
- MatMulInteger and the product of both scales; onnxruntime fuses these into one kernel.
- An additive mask after the scores (the padding mask) that is one row for every head and query,
  as it always is at batch 1, becomes that kernel's bias (DynamicQuantizeMatMul), which saves a
  pass over the scores; an If on the mask's shape keeps the Add for any other shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from export.onnx_graph import constants, drop_unread, readers

_TOP, _TINY, _ZERO, _FLAT, _LAST = (
    f"attention_int8/{name}" for name in ("top", "tiny", "zero", "flat", "last")
)


@dataclass
class AttentionRewrite:
    matmuls: int = 0
    masks_as_bias: int = 0


def _positive_scalar(values: dict[str, np.ndarray], name: str) -> float | None:
    value = values.get(name)
    if value is None or value.size != 1 or not value.reshape(-1)[0] > 0:
        return None
    return float(value.reshape(-1)[0])


def _scaled_source(
    name: str, producer: dict[str, onnx.NodeProto], reads: dict[str, list[onnx.NodeProto]],
    values: dict[str, np.ndarray], *, moves: bool,
) -> tuple[str, list[onnx.NodeProto], float]:
    """Walk up from name through Mul by a positive constant (and, with moves, Transpose and
    Reshape), each output read by nothing else: (the tensor above, the moves top-down, the
    product of the constants). Quantizing commutes with these, and int8 moves a quarter of the
    bytes (BEiT-3's keys: Reshape, Transpose and a Mul by sqrt(scaling) after the projection)."""
    chain: list[onnx.NodeProto] = []
    factor = 1.0
    while (node := producer.get(name)) is not None and len(reads.get(name, [])) == 1:
        if moves and node.op_type in ("Transpose", "Reshape"):
            chain.append(node)
            name = node.input[0]
        elif node.op_type == "Mul" and (c := _positive_scalar(values, node.input[1])):
            factor *= c
            name = node.input[0]
        elif node.op_type == "Mul" and (c := _positive_scalar(values, node.input[0])):
            factor *= c
            name = node.input[1]
        else:
            break
    return name, chain[::-1], factor


def _right_operand(
    source: str, moves: list[onnx.NodeProto], factor: str, p: str
) -> list[onnx.NodeProto]:
    """source -> f"{p}/b" (int8, symmetric per tensor from its largest magnitude, then moves
    replayed) and f"{p}/b_scale" (its scale times factor)."""
    nodes = [
        helper.make_node("ReduceMax", [source], [f"{p}/b_max"], keepdims=0, name=f"{p}/max_b"),
        helper.make_node("ReduceMin", [source], [f"{p}/b_min"], keepdims=0, name=f"{p}/min_b"),
        helper.make_node("Neg", [f"{p}/b_min"], [f"{p}/b_neg"], name=f"{p}/neg_b"),
        helper.make_node("Max", [f"{p}/b_max", f"{p}/b_neg"], [f"{p}/b_abs"], name=f"{p}/abs_b"),
        helper.make_node("Div", [f"{p}/b_abs", _TOP], [f"{p}/b_step"], name=f"{p}/step_b"),
        helper.make_node("Max", [f"{p}/b_step", _TINY], [f"{p}/b_unit"], name=f"{p}/unit_b"),
        helper.make_node("QuantizeLinear", [source, f"{p}/b_unit", _ZERO], [f"{p}/b_0"],
                         name=f"{p}/quantize_b"),
        helper.make_node("Mul", [f"{p}/b_unit", factor], [f"{p}/b_scale"], name=f"{p}/scale_b"),
    ]
    for i, move in enumerate(moves, start=1):
        replay = onnx.NodeProto()
        replay.CopyFrom(move)
        replay.input[0], replay.output[0] = f"{p}/b_{i - 1}", f"{p}/b_{i}"
        replay.name = f"{p}/{move.op_type.lower()}_{i}"
        nodes.append(replay)
    nodes.append(helper.make_node("Identity", [f"{p}/b_{len(moves)}"], [f"{p}/b"],
                                  name=f"{p}/b"))
    return nodes


def _integer_product(a: str, p: str, out: str) -> list[onnx.NodeProto]:
    """The product of a (quantized here) and f"{p}/b", in float, as `out`."""
    return [
        helper.make_node("DynamicQuantizeLinear", [a], [f"{p}/a", f"{p}/a_scale", f"{p}/a_zero"],
                         name=f"{p}/quantize_a"),
        helper.make_node("MatMulInteger", [f"{p}/a", f"{p}/b", f"{p}/a_zero", _ZERO],
                         [f"{p}/int32"], name=f"{p}/matmul"),
        helper.make_node("Cast", [f"{p}/int32"], [f"{p}/float"], to=TensorProto.FLOAT,
                         name=f"{p}/cast"),
        helper.make_node("Mul", [f"{p}/a_scale", f"{p}/b_scale"], [f"{p}/scale"],
                         name=f"{p}/scale"),
        helper.make_node("Mul", [f"{p}/float", f"{p}/scale"], [out], name=f"{p}/dequantize"),
    ]


def _row_mask_branch(a: str, mask: str, p: str, out: str) -> list[onnx.NodeProto]:
    """If mask is one row of the scores' width: the product with the mask as the kernel's bias;
    else the product and an Add."""
    checks = [
        helper.make_node("Shape", [mask], [f"{p}/mask_shape"], name=f"{p}/mask_shape"),
        helper.make_node("Shape", [f"{p}/b"], [f"{p}/b_shape"], name=f"{p}/b_shape"),
        helper.make_node("Size", [mask], [f"{p}/mask_size"], name=f"{p}/mask_size"),
        helper.make_node("Size", [f"{p}/mask_shape"], [f"{p}/mask_rank"], name=f"{p}/mask_rank"),
        helper.make_node("Size", [f"{p}/b_shape"], [f"{p}/b_rank"], name=f"{p}/b_rank"),
        helper.make_node("Gather", [f"{p}/mask_shape", _LAST], [f"{p}/mask_width"],
                         name=f"{p}/mask_width"),
        helper.make_node("Gather", [f"{p}/b_shape", _LAST], [f"{p}/width"], name=f"{p}/width"),
        helper.make_node("Equal", [f"{p}/mask_size", f"{p}/width"], [f"{p}/one_row"],
                         name=f"{p}/one_row"),
        helper.make_node("Equal", [f"{p}/mask_width", f"{p}/width"], [f"{p}/full_width"],
                         name=f"{p}/full_width"),
        helper.make_node("Equal", [f"{p}/mask_rank", f"{p}/b_rank"], [f"{p}/same_rank"],
                         name=f"{p}/same_rank"),
        helper.make_node("And", [f"{p}/one_row", f"{p}/full_width"], [f"{p}/row_wide"],
                         name=f"{p}/row_wide"),
        helper.make_node("And", [f"{p}/row_wide", f"{p}/same_rank"], [f"{p}/as_bias"],
                         name=f"{p}/as_bias"),
    ]
    fused = helper.make_graph(
        [
            helper.make_node("Reshape", [mask, _FLAT], [f"{p}/bias"], name=f"{p}/bias"),
            helper.make_node("DynamicQuantizeMatMul", [a, f"{p}/b", f"{p}/b_scale", _ZERO,
                             f"{p}/bias"], [f"{p}/fused"], domain="com.microsoft",
                             name=f"{p}/matmul_bias"),
        ],
        f"{p}/mask_as_bias", [], [helper.make_tensor_value_info(f"{p}/fused", TensorProto.FLOAT,
                                                                None)],
    )
    general = helper.make_graph(
        [*_integer_product(a, p, f"{p}/product"),
         helper.make_node("Add", [f"{p}/product", mask], [f"{p}/masked"], name=f"{p}/add_mask")],
        f"{p}/mask_added", [], [helper.make_tensor_value_info(f"{p}/masked", TensorProto.FLOAT,
                                                              None)],
    )
    branch = helper.make_node("If", [f"{p}/as_bias"], [out], then_branch=fused,
                              else_branch=general, name=f"{p}/mask")
    return [*checks, branch]


def quantize_attention(model: onnx.ModelProto, *, seven_bit: bool) -> AttentionRewrite:
    """Rewrite every MatMul of two computed tensors in model as described in the module
    docstring; returns what it rewrote."""
    graph = model.graph
    values = constants(graph)
    producer = {out: node for node in graph.node for out in node.output}
    reads = readers(graph)
    outputs = {o.name for o in graph.output}
    graph.initializer.extend([
        numpy_helper.from_array(np.array(64.0 if seven_bit else 127.0, np.float32), _TOP),
        numpy_helper.from_array(np.array(np.finfo(np.float32).tiny, np.float32), _TINY),
        numpy_helper.from_array(np.array(0, np.int8), _ZERO),
        numpy_helper.from_array(np.array([-1], np.int64), _FLAT),
        numpy_helper.from_array(np.array(-1, np.int64), _LAST),
    ])
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    done = AttentionRewrite()
    folded: dict[str, list[onnx.NodeProto]] = {}  # Add node name -> what replaces it
    nodes: list[onnx.NodeProto] = []
    for node in graph.node:
        if node.name in folded:
            nodes += folded[node.name]
            continue
        if node.op_type != "MatMul" or any(name in values for name in node.input):
            nodes.append(node)
            continue
        p = f"{node.name or node.output[0]}/int8"
        done.matmuls += 1
        a, a_factor = node.input[0], 1.0
        if node.input[0] not in outputs:
            a, _, a_factor = _scaled_source(node.input[0], producer, reads, values, moves=False)
        b, moves, b_factor = node.input[1], [], 1.0
        if node.input[1] not in outputs:
            b, moves, b_factor = _scaled_source(node.input[1], producer, reads, values,
                                                moves=True)
        graph.initializer.append(
            numpy_helper.from_array(np.array(a_factor * b_factor, np.float32), f"{p}/factor")
        )
        nodes += _right_operand(b, moves, f"{p}/factor", p)
        add = reads.get(node.output[0], [])
        if len(add) == 1 and add[0].op_type == "Add" and add[0].name:
            mask = next(i for i in add[0].input if i != node.output[0])
            if mask not in values and node.output[0] not in outputs:
                folded[add[0].name] = _row_mask_branch(a, mask, p, add[0].output[0])
                done.masks_as_bias += 1
                continue
        nodes += _integer_product(a, p, node.output[0])
    del graph.node[:]
    graph.node.extend(nodes)
    drop_unread(graph)
    return done

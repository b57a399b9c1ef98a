"""The ONNX export's graph passes on hand-built graphs, against numpy.

`split_streams` and `shapes_without_concat` must leave the function unchanged (checked by
running the graph before and after in onnxruntime and against numpy) while removing the copies
they target; the int8 attention's mask-as-bias branch must give the hand-quantized product plus
the mask at batch 1 (the fused kernel) and at batch 2 (the Add).
"""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from export.onnx_attention import quantize_attention
from export.onnx_multiway import shapes_without_concat, split_streams

IMAGE, TEXT, DIM = 5, 3, 4


def _run(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feed)


def _multiway_model() -> onnx.ModelProto:
    """Two layers of torchscale's multiway pattern, as the exporter traces it: each expert
    reads a slice of the concatenated tokens (bounds computed from shapes), the experts'
    outputs are concatenated (and their shape read), a residual addition follows, and the
    first token is pooled."""
    nodes, inits = [], []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    split = const("split", np.array([IMAGE], np.int64))
    zero, axis = const("zero", np.array([0], np.int64)), const("axis", np.array([1], np.int64))
    nodes.append(helper.make_node("Concat", ["image", "text"], ["x0"], axis=1))
    x = "x0"
    for layer in range(2):
        p = f"l{layer}"
        nodes += [
            helper.make_node("Shape", [x], [f"{p}/shape"]),
            helper.make_node("Gather", [f"{p}/shape", const(f"{p}/i1", np.array([1], np.int64))],
                             [f"{p}/len"]),
            helper.make_node("Slice", [x, zero, split, axis], [f"{p}/a_in"]),
            helper.make_node("Slice", [x, split, f"{p}/len", axis], [f"{p}/b_in"]),
            helper.make_node("Mul", [f"{p}/a_in", const(f"{p}/wa", np.float32(2.0))], [f"{p}/a"]),
            helper.make_node("Add", [f"{p}/b_in", const(f"{p}/wb", np.float32(1.5))], [f"{p}/b"]),
            helper.make_node("Concat", [f"{p}/a", f"{p}/b"], [f"{p}/cat"], axis=1),
            helper.make_node("Shape", [f"{p}/cat"], [f"{p}/cat_shape"]),
            helper.make_node("Mul", [x, const(f"{p}/alpha", np.float32(1.0))], [f"{p}/res"]),
            helper.make_node("Add", [f"{p}/res", f"{p}/cat"], [f"{p}/out"]),
        ]
        x = f"{p}/out"
    nodes.append(helper.make_node("Gather", [x, const("first", np.array(0, np.int64))],
                                  ["pooled"], axis=1))
    graph = helper.make_graph(
        nodes, "multiway",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", IMAGE, DIM]),
         helper.make_tensor_value_info("text", TensorProto.FLOAT, ["batch", TEXT, DIM])],
        [helper.make_tensor_value_info("pooled", TensorProto.FLOAT, ["batch", DIM]),
         *(helper.make_tensor_value_info(f"l{i}/cat_shape", TensorProto.INT64, [3])
           for i in range(2))],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_split_streams_keeps_the_function_and_drops_the_round_trips():
    rng = np.random.default_rng(0)
    feed = {"image": rng.standard_normal((2, IMAGE, DIM), dtype=np.float32),
            "text": rng.standard_normal((2, TEXT, DIM), dtype=np.float32)}
    image, text = feed["image"], feed["text"]  # numpy: each layer x + [2 x_image, x_text + 1.5]
    for _ in range(2):
        image, text = image + 2 * image, text + (text + 1.5)
    model = _multiway_model()
    before = _run(model, feed)
    np.testing.assert_allclose(before[0], image[:, 0], rtol=1e-6)
    assert [list(shape) for shape in before[1:]] == [[2, IMAGE + TEXT, DIM]] * 2

    # read from a concatenation's input: layer 0's two slices, layer 1's two (after the residual
    # addition is split), the pooled token's part of layer 1
    assert split_streams(model) == 5
    assert shapes_without_concat(model) == 2  # both layers' concats were read only by Shape
    after = _run(model, feed)
    for got, want in zip(after, before, strict=True):
        np.testing.assert_array_equal(got, want)
    # no copy is left: image and text are added apart, and the first token is read from image
    experts = {f"l{i}/{part}" for i in range(2) for part in "ab"}
    assert not [n.output[0] for n in model.graph.node if n.op_type == "Concat"
                and set(n.input) & experts]
    floats = {"image", "text", *(n.output[0] for n in model.graph.node if n.op_type != "Shape")}
    assert not [n.output[0] for n in model.graph.node if n.op_type == "Slice"
                and n.input[0] in floats and "/shape/" not in n.output[0]]


def _attention_scores(batch: int, seven_bit: bool) -> tuple[onnx.ModelProto, dict]:
    """q [B,2,6,8] times a key tensor that reaches the MatMul through Reshape, Transpose and a
    Mul by a constant (BEiT-3's keys), then the padding mask [B,1,1,6] added."""
    rng = np.random.default_rng(batch)
    feed = {
        "q": (rng.standard_normal((batch, 2, 6, 8)) + 0.3).astype(np.float32),
        "k": rng.standard_normal((batch, 6, 16)).astype(np.float32),
        "mask": np.where(rng.random((batch, 1, 1, 6)) < 0.3, -1e9, 0.0).astype(np.float32),
    }
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["k", "heads"], ["k_heads"]),
            helper.make_node("Transpose", ["k_heads"], ["k_t"], perm=[0, 2, 3, 1]),
            helper.make_node("Mul", ["k_t", "root_scale"], ["k_scaled"]),
            helper.make_node("MatMul", ["q", "k_scaled"], ["scores"], name="scores"),
            helper.make_node("Add", ["scores", "mask"], ["masked"], name="add_mask"),
        ],
        "attention",
        [helper.make_tensor_value_info("q", TensorProto.FLOAT, ["batch", 2, 6, 8]),
         helper.make_tensor_value_info("k", TensorProto.FLOAT, ["batch", 6, 16]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["batch", 1, 1, 6])],
        [helper.make_tensor_value_info("masked", TensorProto.FLOAT, ["batch", 2, 6, 6])],
        [numpy_helper.from_array(np.array([0, 6, 2, 8], np.int64), "heads"),
         numpy_helper.from_array(np.float32(0.5), "root_scale")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    rewrite = quantize_attention(model, seven_bit=seven_bit)
    assert (rewrite.matmuls, rewrite.masks_as_bias) == (1, 1)
    return model, feed


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("seven_bit", [False, True])
def test_int8_scores_take_the_mask_as_bias_at_any_batch(batch, seven_bit):
    model, feed = _attention_scores(batch, seven_bit)
    (masked,) = _run(model, feed)
    (branch,) = [n for n in model.graph.node if n.op_type == "If"]
    then = {a.name: a.g for a in branch.attribute}["then_branch"]
    assert [n.op_type for n in then.node] == ["Reshape", "DynamicQuantizeMatMul"]
    # the keys are quantized where they come in; Reshape and Transpose move int8
    readers_of_k = {n.op_type for n in model.graph.node if "k" in n.input}
    assert readers_of_k == {"ReduceMax", "ReduceMin", "QuantizeLinear"}
    assert not [n for n in model.graph.node if n.op_type == "Mul" and "k_t" in n.input]

    q = feed["q"]
    low, high = min(0.0, float(q.min())), max(0.0, float(q.max()))
    q_scale = np.float32((high - low) / 255)
    q_zero = np.clip(np.rint(-low / q_scale), 0, 255)
    q_int = np.clip(np.rint(q / q_scale) + q_zero, 0, 255) - q_zero
    keys = feed["k"].reshape(batch, 6, 2, 8).transpose(0, 2, 3, 1)
    k_scale = np.float32(np.abs(keys).max() / (64 if seven_bit else 127))
    k_int = np.clip(np.rint(keys / k_scale), -128, 127)
    expected = (q_int @ k_int) * (q_scale * k_scale * 0.5) + feed["mask"]
    np.testing.assert_allclose(masked, expected, rtol=1e-5, atol=1e-4)
    exact = (q @ (keys * 0.5)) + feed["mask"]
    kept = feed["mask"].repeat(6, axis=2).repeat(2, axis=1) == 0
    assert np.abs(masked - exact)[kept].max() < 0.05 * np.abs(exact[kept]).max()


def test_split_streams_counts_negative_starts_from_the_end():
    """x[:, -TEXT:] of Concat(image, text) is text, however the bound is written."""
    graph = helper.make_graph(
        [helper.make_node("Concat", ["image", "text"], ["x"], axis=1),
         helper.make_node("Slice", ["x", "start", "end", "axis"], ["tail"]),
         helper.make_node("Mul", ["tail", "two"], ["out"])],
        "tail",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", IMAGE, DIM]),
         helper.make_tensor_value_info("text", TensorProto.FLOAT, ["batch", TEXT, DIM])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", TEXT, DIM])],
        [numpy_helper.from_array(np.array([-TEXT], np.int64), "start"),
         numpy_helper.from_array(np.array([2**62], np.int64), "end"),
         numpy_helper.from_array(np.array([1], np.int64), "axis"),
         numpy_helper.from_array(np.float32(2.0), "two")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert split_streams(model) == 1
    assert [(n.op_type, list(n.input)) for n in model.graph.node] == [("Mul", ["text", "two"])]
    rng = np.random.default_rng(1)
    feed = {"image": rng.standard_normal((2, IMAGE, DIM), dtype=np.float32),
            "text": rng.standard_normal((2, TEXT, DIM), dtype=np.float32)}
    np.testing.assert_array_equal(_run(model, feed)[0], 2 * feed["text"])

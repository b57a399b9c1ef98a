"""The multiway split's copies out of an exported ONNX graph.

torchscale's MultiwayNetwork splits the tokens into image and text, runs each part through its
own expert and concatenates the two again; the next multiway module splits that concatenation
at the same place. torch.split returns views, but ONNX Slice copies, so an exported BEiT-3
copies its activations back and forth a few times a layer for nothing. `split_streams` keeps
the two streams apart; `shapes_without_concat` drops concatenations kept only for their shape.
"""

from __future__ import annotations

import contextlib
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper
from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

from export.onnx_graph import constants, drop_unread, readers, topological_sort


def _shapes(model: onnx.ModelProto) -> dict[str, list[int | str]] | None:
    """Every tensor's shape as symbolic shape inference works it out (dims: ints or names), or
    None where it cannot (it then saves the model in the working directory: a temporary one)."""
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        try:
            inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=True)
        except Exception:  # onnxruntime raises a bare Exception for incomplete inference
            return None
    graph = inferred.graph
    shapes: dict[str, list[int | str]] = {t.name: list(t.dims) for t in graph.initializer}
    for info in (*graph.value_info, *graph.input, *graph.output):
        shapes[info.name] = [d.dim_value if d.HasField("dim_value") else d.dim_param
                             for d in info.type.tensor_type.shape.dim]
    return shapes


def _scalar(values: dict[str, np.ndarray], name: str) -> int | None:
    value = values.get(name)
    return int(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


ELEMENTWISE = ("Add", "Sub", "Mul", "Div")


class _Streams:
    """Slices rewritten as the parts they select, memoized by (tensor, axis, start, end)."""

    def __init__(self, model: onnx.ModelProto, shapes: dict[str, list[int | str]]) -> None:
        self.graph = model.graph
        self.values = constants(self.graph)
        self.shapes = shapes
        self.producer = {out: node for node in self.graph.node for out in node.output}
        self.starts: dict[str, tuple[int, int]] = {}  # a slice bound -> (its value, of length)
        self.memo: dict[tuple[str, int, int, int], str] = {}
        self.added: list[onnx.NodeProto] = []
        self.bypassed = 0

    def length(self, name: str, axis: int) -> int | None:
        shape = self.shapes.get(name)
        dim = shape[axis] if shape and axis < len(shape) else None
        return dim if isinstance(dim, int) and dim > 0 else None

    def axis(self, node: onnx.NodeProto) -> int | None:
        """The one axis a step-1 Slice cuts (non-negative), else None."""
        rank = len(self.shapes.get(node.input[0], []))
        axes = _scalar(self.values, node.input[3]) if len(node.input) > 3 and node.input[3] else 0
        steps = _scalar(self.values, node.input[4]) if len(node.input) > 4 and node.input[4] else 1
        if not rank or axes is None or steps != 1:
            return None
        return axes % rank

    def learn_bounds(self) -> None:
        """A slice from the constant 0 shorter than its input ends exactly at its length."""
        for node in self.graph.node:
            if node.op_type != "Slice" or (axis := self.axis(node)) is None:
                continue
            out, full = self.length(node.output[0], axis), self.length(node.input[0], axis)
            if _scalar(self.values, node.input[1]) == 0 and out and full and out < full:
                self.starts[node.input[2]] = (out, full)

    def span(self, node: onnx.NodeProto, axis: int) -> tuple[int, int] | None:
        """Where a slice starts and ends, from a constant start or one learned on an axis of the
        same length (a negative end is the same place counted from the end)."""
        start = _scalar(self.values, node.input[1])
        learned = self.starts.get(node.input[1])
        if start is None and learned and learned[1] == self.length(node.input[0], axis):
            start = learned[0]
        full = self.length(node.input[0], axis)
        if start is not None and start < 0 and full:
            start = max(start + full, 0)
        length = self.length(node.output[0], axis)
        return None if start is None or length is None else (start, start + length)

    def part(self, tensor: str, axis: int, span: tuple[int, int], top: str | None = None) -> str:
        """A tensor equal to tensor[span] along axis; top names a Slice output in the graph that
        is that part, which this looks past its memo entry to replace (or returns)."""
        key = (tensor, axis, *span)
        if key in self.memo and not top:
            return self.memo[key]
        if span == (0, self.length(tensor, axis)) and not top:
            return tensor
        node = self.producer.get(tensor)
        result = None
        if node is not None and node.op_type == "Concat" and len(node.input) == 2:
            rank = len(self.shapes.get(tensor, []))
            cat_axis = next(a.i for a in node.attribute if a.name == "axis") % max(rank, 1)
            first = self.length(node.input[0], axis)
            second = self.length(node.input[1], axis)
            if cat_axis == axis and first and second:
                if span[1] <= first:
                    result = self.part(node.input[0], axis, span)
                elif span[0] >= first:
                    result = self.part(node.input[1], axis, (span[0] - first, span[1] - first))
        elif node is not None and node.op_type in ELEMENTWISE and self._sinkable(node, axis):
            full = self.length(tensor, axis)
            operands = [
                self.part(x, axis, span) if self._full(x, tensor, axis, full) else x
                for x in node.input
            ]
            result = f"{tensor}/part{span[0]}_{span[1]}"
            self.added.append(onnx.helper.make_node(node.op_type, operands, [result],
                                                    name=result))
            self._shape_of(result, tensor, axis, span)
        if result is None and top:
            result = top
        elif result is None:
            result = f"{tensor}/slice{span[0]}_{span[1]}"
            bounds = [self.constant(np.array([v], np.int64)) for v in (*span, axis)]
            self.added.append(onnx.helper.make_node("Slice", [tensor, *bounds], [result],
                                                    name=result))
            self._shape_of(result, tensor, axis, span)
        elif result != top:
            self.bypassed += node.op_type == "Concat"
        self.memo[key] = result
        return result

    def constant(self, value: np.ndarray) -> str:
        """An initializer holding value (one a value), for the bounds of new slices."""
        name = f"split_streams/{value.dtype}{list(value.shape)}/{'_'.join(map(str, value.flat))}"
        if name not in self.values:
            self.graph.initializer.append(numpy_helper.from_array(value, name))
            self.values[name] = value
        return name

    def _full(self, operand: str, tensor: str, axis: int, full: int | None) -> bool:
        """Whether operand spans tensor's whole axis (else it broadcasts along it)."""
        shape, out = self.shapes.get(operand), self.shapes.get(tensor, [])
        offset = len(out) - len(shape or [])
        return bool(shape) and axis >= offset and shape[axis - offset] == full

    def _sinkable(self, node: onnx.NodeProto, axis: int) -> bool:
        """Every operand spans the axis fully (known length) or is 1 along it."""
        out = self.shapes.get(node.output[0], [])
        full = self.length(node.output[0], axis)
        for operand in node.input:
            shape = self.shapes.get(operand)
            if shape is None or full is None:
                return False
            offset = len(out) - len(shape)
            if offset < 0 or (axis >= offset and shape[axis - offset] not in (1, full)):
                return False
        return True

    def _shape_of(self, name: str, tensor: str, axis: int, span: tuple[int, int]) -> None:
        shape = list(self.shapes[tensor])
        shape[axis] = span[1] - span[0]
        self.shapes[name] = shape


def split_streams(model: onnx.ModelProto) -> int:
    """Rewrite every Slice of the multiway split as the part it selects; returns how many
    slices now read a concatenation's input directly.

    A slice of Concat(a, b) along the concatenation axis that lies within `a` or `b` is that
    slice of it (`a` or `b` itself when its bounds are theirs); a slice of an elementwise op
    (the residual additions) is that op on slices of its operands, so the image and text
    streams stay apart from one layer to the next, and the last layer's first token is read
    from the image stream. Bounds come from constants and from slices that start at 0 (they
    end at their length); lengths from symbolic shape inference, and must be fixed numbers.
    """
    shapes = _shapes(model)
    if shapes is None:
        return 0
    streams = _Streams(model, shapes)
    streams.learn_bounds()
    graph = model.graph
    outputs = {o.name for o in graph.output}
    cuts = []
    for node in graph.node:
        axis = streams.axis(node) if node.op_type == "Slice" else None
        span = streams.span(node, axis) if axis is not None else None
        if span is not None and node.output[0] not in outputs:
            cuts.append((node, axis, span))
            streams.memo[(node.input[0], axis, *span)] = node.output[0]
    replace = {}
    for node, axis, span in cuts:
        part = streams.part(node.input[0], axis, span, top=node.output[0])
        if part != node.output[0]:
            replace[node.output[0]] = part
    spans = {(axis, streams.length(node.input[0], axis), span) for node, axis, span in cuts}
    for node in graph.node:
        if node.op_type == "Gather":
            _read_gathered(streams, node, spans)

    def resolve(name: str) -> str:
        while name in replace:
            name = replace[name]
        return name

    graph.node.extend(streams.added)
    for node in graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = resolve(name)
    topological_sort(graph)
    drop_unread(graph)
    return streams.bypassed


def _read_gathered(
    streams: _Streams, gather: onnx.NodeProto, spans: set[tuple[int, int | None, tuple[int, int]]]
) -> None:
    """A Gather of one constant index (the pooler's first token) from a concatenation or an
    elementwise op reads it from the part of the split that holds it."""
    index = streams.values.get(gather.input[1])
    producer = streams.producer.get(gather.input[0])
    rank = len(streams.shapes.get(gather.input[0], []))
    if index is None or index.ndim != 0 or producer is None or not rank or (
        producer.op_type not in ("Concat", *ELEMENTWISE)
    ):
        return
    axis = next((a.i for a in gather.attribute if a.name == "axis"), 0) % rank
    full = streams.length(gather.input[0], axis)
    i = int(index) % full if full else None
    for span_axis, length, (start, end) in spans:
        if i is not None and span_axis == axis and length == full and start <= i < end:
            gather.input[0] = streams.part(gather.input[0], axis, (start, end))
            gather.input[1] = streams.constant(np.array(i - start, index.dtype))
            return


def _cut(source: str, p: str, start: str, end: str, out: str) -> onnx.NodeProto:
    return helper.make_node("Slice", [source, f"{p}/{start}", f"{p}/{end}"], [f"{p}/{out}"],
                            name=f"{p}/{out}")


def _read_shape(graph: onnx.GraphProto, shape: onnx.NodeProto, computed: str) -> None:
    """Turn a Shape node (with its optional start and end) into a read of a computed shape."""
    bounds = {a.name: a.i for a in shape.attribute}
    del shape.attribute[:]
    if not bounds:
        shape.op_type, shape.input[0] = "Identity", computed
        return
    out = shape.output[0]
    start = numpy_helper.from_array(np.array([bounds.get("start", 0)], np.int64), f"{out}/start")
    end = numpy_helper.from_array(
        np.array([bounds.get("end", np.iinfo(np.int64).max)], np.int64), f"{out}/end"
    )
    graph.initializer.extend([start, end])
    shape.op_type = "Slice"
    del shape.input[:]
    shape.input.extend([computed, start.name, end.name])


def shapes_without_concat(model: onnx.ModelProto) -> int:
    """A two-input Concat read only by Shape (torchscale's attention reads its input's size) is
    copied for nothing: its shape is Shape(a) with Shape(b)'s size added on the concatenation
    axis, which this computes instead; returns how many Concats went.

    Run after quantization: onnxruntime's symbolic shape inference, which the quantizer's
    pre-processing runs, loses track of shapes computed this way.
    """
    graph = model.graph
    reads = readers(graph)
    ahead: dict[str, list[onnx.NodeProto]] = {}  # the first Shape's output -> nodes before it
    for concat in graph.node:
        shape_readers = reads.get(concat.output[0], [])
        if concat.op_type != "Concat" or len(concat.input) != 2 or not shape_readers or any(
            r.op_type != "Shape" for r in shape_readers
        ):
            continue
        axis = next(a.i for a in concat.attribute if a.name == "axis")
        if axis < 0:
            continue
        p = f"{concat.output[0]}/shape"
        bounds = {"0": 0, "axis": axis, "next": axis + 1, "end": np.iinfo(np.int64).max}
        graph.initializer.extend(
            numpy_helper.from_array(np.array([v], np.int64), f"{p}/{k}") for k, v in bounds.items()
        )

        ahead[shape_readers[0].output[0]] = [
            helper.make_node("Shape", [concat.input[0]], [f"{p}/a"], name=f"{p}/a"),
            helper.make_node("Shape", [concat.input[1]], [f"{p}/b"], name=f"{p}/b"),
            _cut(f"{p}/a", p, "0", "axis", "before"),
            _cut(f"{p}/a", p, "axis", "next", "a_axis"),
            _cut(f"{p}/b", p, "axis", "next", "b_axis"),
            _cut(f"{p}/a", p, "next", "end", "after"),
            helper.make_node("Add", [f"{p}/a_axis", f"{p}/b_axis"], [f"{p}/axis_sum"],
                             name=f"{p}/axis_sum"),
            helper.make_node("Concat", [f"{p}/before", f"{p}/axis_sum", f"{p}/after"],
                             [f"{p}/sum"], axis=0, name=f"{p}/sum"),
        ]
        for reader in shape_readers:
            _read_shape(graph, reader, f"{p}/sum")
    nodes = []
    for node in graph.node:
        nodes += ahead.get(node.output[0], [])
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    drop_unread(graph)
    return len(ahead)

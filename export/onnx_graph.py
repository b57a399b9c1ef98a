"""Small ONNX graph utilities the export passes share."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import numpy_helper


def constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Values of the initializers and Constant nodes, by tensor name."""
    values = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return values


def readers(graph: onnx.GraphProto) -> dict[str, list[onnx.NodeProto]]:
    """The nodes that read each tensor, by tensor name."""
    found: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            found.setdefault(name, []).append(node)
    return found


def drop_unread(graph: onnx.GraphProto) -> None:
    """Remove nodes none of whose outputs is read (until none is left), then unread initializers."""
    while True:
        read = {name for node in graph.node for name in node.input}
        read |= {o.name for o in graph.output}
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    read |= {name for sub in attr.g.node for name in sub.input}
        dead = [node for node in graph.node if not any(out in read for out in node.output)]
        if not dead:
            unread = [t for t in graph.initializer if t.name not in read]
            for tensor in unread:
                graph.initializer.remove(tensor)
            return
        for node in dead:
            graph.node.remove(node)


def topological_sort(graph: onnx.GraphProto) -> None:
    """Order nodes so that each comes after the producers of its inputs (stable otherwise)."""
    produced = {o for node in graph.node for o in node.output}
    ready = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    pending = list(graph.node)
    ordered: list[onnx.NodeProto] = []
    while pending:
        left = []
        for node in pending:
            needs = [name for name in node.input if name and name in produced]
            if all(name in ready for name in needs):
                ordered.append(node)
                ready.update(node.output)
            else:
                left.append(node)
        if len(left) == len(pending):
            raise ValueError(f"graph has a cycle through {left[0].name or left[0].op_type}")
        pending = left
    del graph.node[:]
    graph.node.extend(ordered)

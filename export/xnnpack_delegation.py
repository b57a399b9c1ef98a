"""What of a lowered ExecuTorch program runs in the XNNPACK delegate and what stays outside.

Every op the delegate cannot take splits the graph: XNNPACK then runs several smaller partitions
with copies between them, and the op itself runs on ExecuTorch's portable (reference) kernels.
For BEiT-3 with a dynamic batch these are LayerNorm (XNNPACK has no such op), the multiway split
of image and text tokens, reshapes involving the batch (XNNPACK takes no symbolic reshape), the
selection of each head in the head-by-head attention, and the embedding lookups.
"""

from __future__ import annotations

import operator
from collections import Counter
from typing import Any

import torch


def _op_name(target: Any) -> str:
    return getattr(target, "__name__", str(target))


def delegation(program: torch.export.ExportedProgram) -> dict[str, Any]:
    """Ops run by the delegate and ops left outside it, in a lowered edge program (before
    `to_executorch`, which turns the ops into out-variants and memory planning)."""
    inside: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    calls = 0
    for node in program.graph.nodes:
        if node.op != "call_function" or node.target is operator.getitem:
            continue
        if "executorch_call_delegate" in _op_name(node.target):
            calls += 1
            lowered = getattr(program.graph_module, node.args[0].target)
            for inner in lowered.original_module.graph.nodes:
                if inner.op == "call_function" and inner.target is not operator.getitem:
                    inside[_op_name(inner.target)] += 1
        else:
            outside[_op_name(node.target)] += 1
    return {
        "delegate_calls": calls,
        "delegated_ops": sum(inside.values()),
        "non_delegated_ops": sum(outside.values()),
        "non_delegated": dict(outside.most_common()),
    }

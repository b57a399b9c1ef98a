"""torch's quantized engine for a target CPU: the kernels dynamic-int8 Linear layers run on.

qnnpack is what PyTorch Mobile uses on ARM phones; x86 (fbgemm with oneDNN for some shapes) is
torch's default on x86-64. Packed weights are made for the engine current when a model is
quantized or loaded, so the engine is set around both.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

ENGINES = {"arm64": "qnnpack", "x86_64": "x86"}


def engine_for(target: str) -> str:
    """The quantized engine for `target` (arm64 or x86_64), if this torch build has it."""
    engine = ENGINES[target]
    if engine not in torch.backends.quantized.supported_engines:
        raise RuntimeError(
            f"this torch build lacks the {engine} quantized engine needed for {target} "
            f"(it has {', '.join(torch.backends.quantized.supported_engines)})"
        )
    return engine


@contextlib.contextmanager
def use_quantized_engine(engine: str) -> Iterator[str]:
    """torch.backends.quantized.engine set to `engine` inside the block, restored after."""
    before = torch.backends.quantized.engine
    torch.backends.quantized.engine = engine
    try:
        yield engine
    finally:
        torch.backends.quantized.engine = before

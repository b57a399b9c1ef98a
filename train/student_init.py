"""Initialising a model from a checkpoint of another depth or resolution.

A shallower student takes a subset of the source's encoder layers (by default evenly spaced and
ending with the last layer, e.g. layers 1, 3, ..., 11 of 12: the top layer feeds the pooler and
head); a different image size interpolates the vision position table (done by
vqa.checkpoint). Width must match: a narrower student has no layer to copy and starts fresh.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import torch

from train.errors import TrainError
from vqa.checkpoint import HEAD_KEYS, Checkpoint, model_from_state_dict, state_shape
from vqa.configs import BEiT3Config
from vqa.model import BEiT3ForVQA

_LAYER = re.compile(r"^beit3\.encoder\.layers\.(\d+)\.")
MODEL_PREFIXES = ("beit3.", "pooler.", "head.")


def evenly_spaced(source_depth: int, depth: int) -> list[int]:
    """`depth` layer indices out of `source_depth`, evenly spread, the last one included."""
    if not 1 <= depth <= source_depth:
        raise TrainError(f"cannot pick {depth} layers out of {source_depth}")
    return [round((i + 1) * source_depth / depth) - 1 for i in range(depth)]


def parse_layers(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise TrainError(
            f"--init-layers {text!r}: expected comma-separated layer numbers"
        ) from None


def select_layers(
    state_dict: dict[str, torch.Tensor], keep: Sequence[int]
) -> dict[str, torch.Tensor]:
    """Encoder layers `keep` of the source, renumbered 0 .. len(keep) - 1; other keys unchanged."""
    position = {old: new for new, old in enumerate(keep)}
    out = {}
    for key, value in state_dict.items():
        match = _LAYER.match(key)
        if match is None:
            out[key] = value
        elif int(match.group(1)) in position:
            new = position[int(match.group(1))]
            out[f"beit3.encoder.layers.{new}.{key[match.end():]}"] = value
    return out


def init_from_checkpoint(
    config: BEiT3Config,
    ckpt: Checkpoint,
    *,
    answers: Sequence[str],
    layers: Sequence[int] | None = None,
    init_answers: Sequence[str] | None = None,
) -> BEiT3ForVQA:
    """`config` built from `ckpt`: layers selected, positions interpolated, head adapted.

    Backbone-only checkpoints (pretrained BEiT-3) leave pooler and head freshly initialised;
    keys outside the VQA model (pretraining heads) are ignored. The answer layer's rows are
    moved by answer string when the checkpoint's answer list is known (ours carry it; for
    official VQAv2 weights give `init_answers`); otherwise that layer starts fresh, since equal
    answer counts do not mean equal answers.
    """
    shape = state_shape(ckpt.state_dict, ckpt.path)
    if shape.embed_dim != config.embed_dim or shape.mlp_dim != config.mlp_dim:
        raise TrainError(
            f"{ckpt.path}: width {shape.embed_dim} (FFN {shape.mlp_dim}) cannot initialise "
            f"{config.describe()}: layer selection needs equal widths; leave out --init to "
            "start from scratch"
        )
    if layers is None:
        layers = evenly_spaced(shape.depth, config.depth) if shape.depth != config.depth else None
    if layers is not None:
        if len(layers) != config.depth or not all(0 <= i < shape.depth for i in layers):
            raise TrainError(
                f"--init-layers {','.join(map(str, layers))}: need {config.depth} distinct "
                f"layers in 0..{shape.depth - 1}"
            )
        if len(set(layers)) != len(layers):
            raise TrainError(f"--init-layers {','.join(map(str, layers))}: layers repeat")
    state_dict = {k: v for k, v in ckpt.state_dict.items() if k.startswith(MODEL_PREFIXES)}
    ignored = len(ckpt.state_dict) - len(state_dict)
    if ignored:
        warnings.warn(f"{ckpt.path}: {ignored} keys outside the VQA model ignored", stacklevel=2)
    if layers is not None:
        state_dict = select_layers(state_dict, layers)
    source_answers = ckpt.answers if ckpt.answers is not None else init_answers
    if source_answers is None:
        state_dict = {k: v for k, v in state_dict.items() if k not in HEAD_KEYS}
    elif "head.3.weight" in state_dict and len(source_answers) != len(state_dict["head.3.weight"]):
        raise TrainError(
            f"{ckpt.path}: {len(source_answers)} answers given for its "
            f"{len(state_dict['head.3.weight'])} outputs"
        )
    model = model_from_state_dict(
        config.replace(vocab_size=shape.vocab_size),
        state_dict,
        source=ckpt.path,
        answers=list(source_answers) if source_answers is not None else None,
        target_answers=list(answers) if source_answers is not None else None,
        allow_missing=("pooler.", "head."),
    )
    with torch.no_grad():  # own the memory: loading may have assigned memory-mapped file pages
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.data = tensor.data.clone()
    return model

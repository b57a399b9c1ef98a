"""Layer freezing and progressive unfreezing (the original project trained only large's top layers).

With `freeze_layers` = k, the embeddings and the first k encoder layers are frozen; with
`unfreeze_every` = e, one more layer (the highest frozen one) is released every e epochs, and the
embeddings once no layer is frozen. The frozen set is a function of the epoch, so a resumed run
freezes exactly what the interrupted one did.
"""

from __future__ import annotations

from vqa.model import BEiT3ForVQA

EMBEDDING_PREFIXES = ("beit3.text_embed.", "beit3.vision_embed.", "beit3.encoder.embed_positions.")


def frozen_layers(freeze_layers: int, unfreeze_every: int, epoch: int) -> int:
    """How many of the bottom encoder layers are frozen during `epoch`."""
    if freeze_layers <= 0:
        return 0
    if unfreeze_every <= 0:
        return freeze_layers
    return max(0, freeze_layers - epoch // unfreeze_every)


def apply_freeze(model: BEiT3ForVQA, num_frozen: int) -> list[str]:
    """Freeze `num_frozen` bottom layers (+ embeddings), train the rest; returns frozen names.

    The parameters forward never reads are always frozen, so DDP sees no unused parameters.
    """
    prefixes = [*model.unread_parameters(),
                *(f"beit3.encoder.layers.{i}." for i in range(num_frozen))]
    if num_frozen > 0:
        prefixes += list(EMBEDDING_PREFIXES)
    frozen = []
    for name, param in model.named_parameters():
        param.requires_grad_(not name.startswith(tuple(prefixes)))
        if not param.requires_grad:
            frozen.append(name)
    return frozen

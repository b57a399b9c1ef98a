"""The export's source: the fp32 PyTorch model, with the tokenizer and answers it was trained with.

Read by vqa.checkpoint_model (as `train evaluate` and the benchmark read checkpoints), with what
the manifest needs besides: the file's hash and the image size it was trained at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vqa.checkpoint import state_shape
from vqa.checkpoint_model import load_checkpoint_model
from vqa.io import file_sha256
from vqa.model import BEiT3ForVQA
from vqa.tokenizer import Tokenizer


@dataclass
class Source:
    checkpoint: Path
    sha256: str
    kind: str
    model: BEiT3ForVQA
    tokenizer: Tokenizer
    answers: list[str]
    native_img_size: int
    """The image size the checkpoint was trained at (its position table's grid)."""
    vocab_cut: dict[str, Any] | None = None
    """What `--vocab-from` cut (export.vocab), for the manifest; None for the full vocabulary."""

    @property
    def img_size(self) -> int:
        return self.model.config.img_size


def load_source(
    checkpoint: str | Path,
    *,
    arch: str | None = None,
    img_size: int | None = None,
    tokenizer: str | Path | None = None,
    answers: str | Path | None = None,
    trust_checkpoint: bool = False,
) -> Source:
    """Read the checkpoint and build the eval-mode fp32 model at `img_size` (positions resized)."""
    path = Path(checkpoint)
    loaded = load_checkpoint_model(
        path, arch=arch, img_size=img_size, tokenizer=tokenizer, answers=answers,
        trust_checkpoint=trust_checkpoint,
    )
    assert loaded.model is not None
    for parameter in loaded.model.parameters():
        parameter.requires_grad_(False)
    return Source(
        checkpoint=path,
        sha256=file_sha256(path),
        kind=loaded.checkpoint.kind,
        model=loaded.model,
        tokenizer=loaded.tokenizer,
        answers=loaded.answers,
        native_img_size=state_shape(loaded.checkpoint.state_dict, path).img_size,
    )

"""The export's source: the fp32 PyTorch model, with the tokenizer and answers it was trained with.

Our checkpoints carry the tokenizer and answers; official ones carry neither (and no architecture),
so they come from --tokenizer, --answers and --arch. Every problem is reported naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from export.errors import ExportError
from vqa.checkpoint import model_from_checkpoint, read_checkpoint, state_shape
from vqa.checkpoint_vocab import checkpoint_answers, checkpoint_tokenizer
from vqa.errors import UserError
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
    try:
        ckpt = read_checkpoint(path, trust_pickle=trust_checkpoint)
        model = model_from_checkpoint(ckpt, arch=arch, img_size=img_size).eval()
    except UserError:
        raise
    except ValueError as err:  # e.g. an image size that is not a multiple of the patch size
        raise ExportError(f"{path}: {err}") from None
    text_model = checkpoint_tokenizer(ckpt, tokenizer)
    if text_model.vocab_size > model.config.vocab_size:
        raise ExportError(
            f"{tokenizer or path}: the tokenizer has {text_model.vocab_size} ids but the model's "
            f"text embedding only {model.config.vocab_size}: not the tokenizer of this model"
        )
    answer_list = checkpoint_answers(ckpt, answers)
    if len(answer_list) != model.config.num_answers:
        raise ExportError(
            f"{answers or path}: {len(answer_list)} answers, but the model has "
            f"{model.config.num_answers} outputs"
        )
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return Source(
        checkpoint=path,
        sha256=file_sha256(path),
        kind=ckpt.kind,
        model=model,
        tokenizer=text_model,
        answers=answer_list,
        native_img_size=state_shape(ckpt.state_dict, path).img_size,
    )



"""A checkpoint file to the eval-mode model, the tokenizer and the answers it was trained with.

One reading for `train evaluate`, the exporter and the benchmark's baselines: our checkpoints
carry the tokenizer and answers; official ones carry neither (nor an architecture), so they come
from --tokenizer, --answers and --arch. The tokenizer must fit the text embedding and the answers
the head: every problem is a `CheckpointError` naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vqa.checkpoint import Checkpoint, CheckpointError, model_from_checkpoint, read_checkpoint
from vqa.checkpoint_vocab import checkpoint_answers, checkpoint_tokenizer
from vqa.configs import BEiT3Config
from vqa.model import BEiT3ForVQA
from vqa.tokenizer import Tokenizer


@dataclass
class CheckpointModel:
    checkpoint: Checkpoint
    model: BEiT3ForVQA | None
    """None when read with `build_model=False` (tokenizer and answers only)."""
    tokenizer: Tokenizer
    answers: list[str]


def load_checkpoint_model(
    path: str | Path | Checkpoint,
    *,
    arch: str | None = None,
    img_size: int | None = None,
    tokenizer: str | Path | None = None,
    text_len: int | None = None,
    answers: str | Path | None = None,
    trust_checkpoint: bool = False,
    build_model: bool = True,
) -> CheckpointModel:
    """Read `path` (or take a checkpoint read already); build the eval-mode fp32 model at
    `img_size` (positions resized) unless `build_model` is False; take the tokenizer (`text_len`
    with an override) and the answers from the overrides or the checkpoint, and check both
    against the model's config."""
    if isinstance(path, Checkpoint):
        ckpt = path
    else:
        ckpt = read_checkpoint(path, trust_pickle=trust_checkpoint)
    path = ckpt.path
    model = None
    config: BEiT3Config | None = ckpt.config
    if build_model:
        try:
            model = model_from_checkpoint(ckpt, arch=arch, img_size=img_size).eval()
        except CheckpointError:
            raise
        except ValueError as err:  # e.g. an image size that is not a multiple of the patch size
            raise CheckpointError(f"{path}: {err}") from None
        config = model.config
    text_model = checkpoint_tokenizer(ckpt, tokenizer, max_len=text_len if tokenizer else None)
    if config is not None and text_model.vocab_size > config.vocab_size:
        raise CheckpointError(
            f"{tokenizer or path}: the tokenizer has {text_model.vocab_size} ids but the model's "
            f"text embedding only {config.vocab_size}: not the tokenizer of this model"
        )
    answer_list = checkpoint_answers(ckpt, answers)
    if config is not None and len(answer_list) != config.num_answers:
        raise CheckpointError(
            f"{answers or path}: {len(answer_list)} answers, but the model has "
            f"{config.num_answers} outputs"
        )
    return CheckpointModel(ckpt, model, text_model, answer_list)

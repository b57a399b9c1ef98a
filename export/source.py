"""The export's source: the fp32 PyTorch model, with the tokenizer and answers it was trained with.

Our checkpoints carry the tokenizer and answers; official ones carry neither (and no architecture),
so they come from --tokenizer, --answers and --arch. Every problem is reported naming the file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from export.errors import ExportError
from vqa.answers import AnswerVocab, AnswerVocabError
from vqa.bundle import file_digest
from vqa.checkpoint import (
    CheckpointError,
    model_from_checkpoint,
    read_checkpoint,
    state_shape,
)
from vqa.configs import DEFAULT_TEXT_LEN, UnknownArchError
from vqa.model import BEiT3ForVQA
from vqa.tokenizer import Tokenizer, TokenizerError


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
    except (CheckpointError, UnknownArchError) as err:
        raise ExportError(str(err)) from None
    except ValueError as err:  # e.g. an image size that is not a multiple of the patch size
        raise ExportError(f"{path}: {err}") from None
    text_model = _tokenizer(path, ckpt.tokenizer, tokenizer)
    if text_model.vocab_size > model.config.vocab_size:
        raise ExportError(
            f"{tokenizer or path}: the tokenizer has {text_model.vocab_size} ids but the model's "
            f"text embedding only {model.config.vocab_size}: not the tokenizer of this model"
        )
    answer_list = _answers(path, ckpt.answers, answers)
    if len(answer_list) != model.config.num_answers:
        raise ExportError(
            f"{answers or path}: {len(answer_list)} answers, but the model has "
            f"{model.config.num_answers} outputs"
        )
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return Source(
        checkpoint=path,
        sha256=file_digest(path)["sha256"],
        kind=ckpt.kind,
        model=model,
        tokenizer=text_model,
        answers=answer_list,
        native_img_size=state_shape(ckpt.state_dict, path).img_size,
    )


def _tokenizer(path: Path, record: dict | None, override: str | Path | None) -> Tokenizer:
    max_len = (record or {}).get("max_len", DEFAULT_TEXT_LEN)
    try:
        if override is not None:
            return Tokenizer(override, max_len=max_len)
        if record is None:
            raise ExportError(
                f"{path}: the checkpoint holds no tokenizer (official checkpoints do not): pass "
                "--tokenizer SPM (BEiT-3's SentencePiece model, beit3.spm)"
            )
        if "model" in record:
            return Tokenizer.from_bytes(record["model"], max_len=max_len)
        stored = Path(record["path"])
        if not stored.is_file():
            raise ExportError(
                f"{path}: the checkpoint's tokenizer is the file {stored}, which does not exist: "
                "pass --tokenizer SPM"
            )
        text_model = Tokenizer(stored, max_len=max_len)
    except TokenizerError as err:
        raise ExportError(str(err)) from None
    expected = record.get("sha256")
    if expected and hashlib.sha256(text_model.model_bytes).hexdigest() != expected:
        raise ExportError(
            f"{path}: the tokenizer file {stored} is not the one the model was trained with "
            "(sha256 differs): pass the right one with --tokenizer SPM"
        )
    return text_model


def _answers(path: Path, stored: list[str] | None, override: str | Path | None) -> list[str]:
    if override is not None:
        try:
            return AnswerVocab.load(override).answers
        except AnswerVocabError as err:
            raise ExportError(str(err)) from None
    if stored is None:
        raise ExportError(
            f"{path}: the checkpoint holds no answer list (official checkpoints do not): pass "
            "--answers FILE (one answer a line, in the order of the model's outputs)"
        )
    return list(stored)

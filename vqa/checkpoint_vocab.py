"""The tokenizer and the answer list a checkpoint carries, read once for train, export, benchmark.

Our checkpoints carry both (the tokenizer as bytes, or as a path checked by sha256); official
ones carry neither, so the command's --tokenizer / --answers must name them. Every problem is a
`CheckpointError` naming the checkpoint and what to pass instead.
"""

from __future__ import annotations

from pathlib import Path

from vqa.answers import AnswerVocab
from vqa.checkpoint import Checkpoint, CheckpointError
from vqa.configs import DEFAULT_TEXT_LEN
from vqa.tokenizer import Tokenizer


def checkpoint_tokenizer(
    ckpt: Checkpoint, override: str | Path | None = None, max_len: int | None = None
) -> Tokenizer:
    """`override` if given, else the checkpoint's tokenizer (sha256-checked when by path).

    `max_len` defaults to the checkpoint's own (64 without a record).
    """
    record = ckpt.tokenizer or {}
    max_len = max_len or int(record.get("max_len", DEFAULT_TEXT_LEN))
    if override is not None:
        return Tokenizer(override, max_len=max_len)
    if not record:
        raise CheckpointError(
            f"{ckpt.path}: the checkpoint holds no tokenizer (official checkpoints do not): "
            "pass --tokenizer SPM (BEiT-3's SentencePiece model, beit3.spm)"
        )
    if record.get("model") is not None:
        return Tokenizer.from_bytes(record["model"], max_len=max_len)
    stored = record.get("path")
    if not stored:
        raise CheckpointError(f"{ckpt.path}: its tokenizer record has neither bytes nor path")
    if not Path(stored).is_file():
        raise CheckpointError(
            f"{ckpt.path}: the checkpoint's tokenizer is the file {stored}, which does not "
            "exist: pass --tokenizer SPM"
        )
    tokenizer = Tokenizer(stored, max_len=max_len)
    if record.get("sha256") and tokenizer.sha256 != record["sha256"]:
        raise CheckpointError(
            f"{ckpt.path}: the tokenizer file {stored} is not the one the model was trained "
            "with (sha256 differs): pass the right one with --tokenizer SPM"
        )
    return tokenizer


def checkpoint_answers(ckpt: Checkpoint, override: str | Path | None = None) -> list[str]:
    """The answer list of `override` (a file, one answer a line) or of the checkpoint."""
    if override is not None:
        return AnswerVocab.load(override).answers
    if not ckpt.answers:
        raise CheckpointError(
            f"{ckpt.path}: the checkpoint holds no answer list (official checkpoints do not): "
            "pass --answers FILE (one answer a line, in the order of the model's outputs)"
        )
    return list(ckpt.answers)

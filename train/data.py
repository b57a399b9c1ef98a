"""Where training data comes from (easy-vqa or vizwiz:DIR), its answers and its tokenizer."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from train.errors import TrainError
from vqa.answers import AnswerVocab
from vqa.data import VQASample, easy_vqa_answers, load_easy_vqa, load_vizwiz
from vqa.tokenizer import Tokenizer

EASY_VQA = "easy-vqa"


@dataclass(frozen=True)
class DataSpec:
    """A parsed `--data` value."""

    kind: str
    root: Path | None = None

    def __str__(self) -> str:
        return EASY_VQA if self.kind == EASY_VQA else f"vizwiz:{self.root}"


def parse_data(text: str) -> DataSpec:
    if text == EASY_VQA:
        return DataSpec(EASY_VQA)
    kind, sep, root = text.partition(":")
    if kind == "vizwiz" and sep and root:
        return DataSpec("vizwiz", Path(root))
    raise TrainError(f"--data {text!r}: expected 'easy-vqa' or 'vizwiz:DIR'")


def load_split(
    spec: DataSpec, split: str, *, limit: int | None = None, skip_bad: bool = False
) -> list[VQASample]:
    """One split's samples (the first `limit` of them); an empty split is an error."""
    if spec.kind == EASY_VQA:
        samples = load_easy_vqa(split)
    else:
        assert spec.root is not None
        samples = load_vizwiz(spec.root, split, skip_bad=skip_bad)
    samples = list(samples[:limit] if limit is not None else samples)
    if not samples:
        raise TrainError(f"{spec}: the {split} split holds no samples")
    return samples


def labelled(samples: Sequence[VQASample], spec: DataSpec, split: str) -> Sequence[VQASample]:
    """`samples` when all carry answers (needed to train or score), else an error."""
    missing = sum(1 for s in samples if not s.answers)
    if missing:
        raise TrainError(
            f"{spec}: {missing} of {len(samples)} {split} samples have no answers; "
            "training and validation need ground truth"
        )
    return samples


def fingerprint(samples: Sequence[VQASample]) -> str:
    """sha256 of what a model sees of each sample: key, question, image file path, size, mtime.

    Samples are taken in key order, so the same data in another order has the same fingerprint.
    """
    digest = hashlib.sha256()
    for s in sorted(samples, key=lambda sample: sample.key):
        stat = s.image_path.stat()
        entry = [s.key, s.question, str(s.image_path), stat.st_size, stat.st_mtime_ns]
        digest.update(json.dumps(entry, ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def build_vocab(
    spec: DataSpec,
    train: Sequence[VQASample],
    *,
    num_answers: int,
    answers_file: Path | None = None,
) -> AnswerVocab:
    """The answer list: a given file, easy-VQA's 13 answers, or VizWiz train's most frequent."""
    if answers_file is not None:
        return AnswerVocab.load(answers_file)
    if spec.kind == EASY_VQA:
        return AnswerVocab.from_list(easy_vqa_answers())
    return AnswerVocab.build((s.answers for s in train), top_k=num_answers)


def tokenizer_from_record(record: dict[str, Any], source: Path | str) -> Tokenizer:
    """The tokenizer a checkpoint carries, by bytes or by a path checked against its sha256."""
    max_len = int(record.get("max_len", 64))
    if record.get("model") is not None:
        return Tokenizer.from_bytes(record["model"], max_len=max_len)
    path = record.get("path")
    if not path:
        raise TrainError(f"{source}: the checkpoint's tokenizer record has neither bytes nor path")
    tokenizer = Tokenizer(path, max_len=max_len)
    if record.get("sha256") and tokenizer.sha256 != record["sha256"]:
        raise TrainError(
            f"{source}: the tokenizer file {path} differs from the one the checkpoint was "
            "trained with (sha256 mismatch)"
        )
    return tokenizer


def answer_type_weights(samples: Sequence[VQASample]) -> torch.Tensor:
    """Sampling weights that give every answer type the same share of the draws.

    Without them the common type dominates the loss: easy-VQA's training questions are 74 %
    yes/no.
    """
    counts = Counter(s.answer_type for s in samples)
    return torch.tensor([1.0 / counts[s.answer_type] for s in samples], dtype=torch.float64)

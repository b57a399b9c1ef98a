"""Training data: a split of `--data` (see vqa.data.spec), its answer list and fingerprint."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import torch

from train.errors import TrainError
from vqa.answers import AnswerVocab
from vqa.data import VQASample, easy_vqa_answers
from vqa.data.spec import EASY_VQA, DataSpec


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


def answer_type_weights(samples: Sequence[VQASample]) -> torch.Tensor:
    """Sampling weights that give every answer type the same share of the draws.

    Without them the common type dominates the loss: easy-VQA's training questions are 74 %
    yes/no.
    """
    counts = Counter(s.answer_type for s in samples)
    return torch.tensor([1.0 / counts[s.answer_type] for s in samples], dtype=torch.float64)

"""Logits to a predictions file: the VizWiz format, written alike by training and the benchmark.

A prediction is {"image": key, "answer": str, "answerable": p}. `answerable` is
1 - sigmoid(logit of "unanswerable"): the head is trained with per-answer BCE on soft scores, so
that sigmoid estimates the share of annotators who would say "unanswerable". Models whose answer
list has no "unanswerable" (easy-VQA) get no `answerable` field: they carry no signal for it, and
a constant would score as a prediction in the answerability metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vqa.answers import UNANSWERABLE
from vqa.io import atomic_write_json


def unanswerable_index(answers: Sequence[str]) -> int | None:
    """Where "unanswerable" is in the answer list, or None."""
    return list(answers).index(UNANSWERABLE) if UNANSWERABLE in answers else None


def answerable_scores(logits: np.ndarray, unanswerable: int | None) -> np.ndarray | None:
    """P(answerable) per row (float64), or None without an "unanswerable" answer."""
    if unanswerable is None:
        return None
    return 1.0 / (1.0 + np.exp(np.asarray(logits, dtype=np.float64)[:, unanswerable]))


def to_predictions(
    logits: np.ndarray, keys: Sequence[str], answers: Sequence[str], unanswerable: int | None
) -> list[dict[str, Any]]:
    """One prediction a row of `logits` [N, len(answers)]: the top answer and, where defined,
    `answerable`."""
    logits = np.asarray(logits)
    if logits.shape != (len(keys), len(answers)):
        raise ValueError(
            f"expected logits of shape {[len(keys), len(answers)]}, got {list(logits.shape)}"
        )
    top = logits.argmax(axis=1)
    answerable = answerable_scores(logits, unanswerable)
    predictions = []
    for i, key in enumerate(keys):
        entry: dict[str, Any] = {"image": key, "answer": answers[int(top[i])]}
        if answerable is not None:
            entry["answerable"] = float(answerable[i])
        predictions.append(entry)
    return predictions


def write_predictions(path: str | Path, predictions: Sequence[dict[str, Any]]) -> Path:
    """The predictions file, written atomically (one JSON list)."""
    return atomic_write_json(path, list(predictions), indent=1)

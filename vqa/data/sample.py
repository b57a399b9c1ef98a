"""The record every loader yields, so training and scoring never care where data came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class VQASample:
    """One question about one image, with its ground truth when the split has it.

    ``key`` is unique within a data set and is the ``image`` field of prediction and annotation
    files. ``answers`` holds the raw annotator strings (``''`` allowed) and is ``()`` when the
    split has no ground truth (VizWiz test), as are ``answer_type`` and ``answerable`` ``None``.
    """

    key: str
    image_path: Path
    question: str
    answers: tuple[str, ...] = ()
    answer_type: str | None = None
    answerable: int | None = None

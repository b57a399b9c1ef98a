"""The record every loader yields, so training and scoring never care where data came from."""

from __future__ import annotations

import unicodedata
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


def is_blank_question(question: str) -> bool:
    """True for a question with nothing but spaces and invisible (format) characters.

    Such a question tokenizes to nothing; catching it when the data is loaded lets the error
    name the file and entry instead of failing mid-run.
    """
    return all(ch.isspace() or unicodedata.category(ch) == "Cf" for ch in question)

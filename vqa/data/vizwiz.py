"""VizWiz-VQA annotations in the original project's layout, checked entry by entry.

Layout: ``VizWiz/VizWizAnnotations/{train,val,test}.json`` and
``VizWiz/VizWiz{Train,Val,Test}Images/*.jpg``. Loading reads only the JSON and stats the image
files; images are decoded later, one at a time, by ``vqa.data.dataset`` (so a corrupt image is
reported there, naming its file).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vqa.data.sample import VQASample, is_blank_question
from vqa.errors import UserError

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
ANSWERS_PER_QUESTION = 10
ANSWER_CONFIDENCES = ("yes", "maybe", "no")
ANNOTATIONS_DIR = "VizWizAnnotations"


class VizWizFormatError(UserError):
    """An annotation file or entry that breaks the VizWiz format; the message names where."""


class VizWizSplit(list[VQASample]):
    """The samples of one split, plus ``skipped``: one reason per entry left out.

    A plain list of samples otherwise, so it goes wherever ``list[VQASample]`` does.
    ``skipped`` is empty unless ``load_vizwiz(..., skip_bad=True)`` dropped entries.
    """

    def __init__(self, samples: Iterable[VQASample] = (), skipped: Iterable[str] = ()) -> None:
        super().__init__(samples)
        self.skipped: list[str] = list(skipped)


class _BadEntry(Exception):
    """One entry's problem, before the file name and entry index are added."""


def find_vizwiz_dir(root: str | os.PathLike[str]) -> Path:
    """The ``VizWiz`` folder, given it or the folder that contains it."""
    root = Path(root)
    for candidate in (root / "VizWiz", root):
        if (candidate / ANNOTATIONS_DIR).is_dir():
            return candidate
    raise FileNotFoundError(
        f"no VizWiz data at {root}: expected {root / 'VizWiz' / ANNOTATIONS_DIR} "
        f"or {root / ANNOTATIONS_DIR}"
    )


def split_paths(vizwiz_dir: str | os.PathLike[str], split: str) -> tuple[Path, Path]:
    """(annotation file, image folder) of ``split`` inside a ``VizWiz`` folder."""
    if split not in SPLITS:
        raise ValueError(f"unknown VizWiz split {split!r}; expected one of {', '.join(SPLITS)}")
    vizwiz_dir = Path(vizwiz_dir)
    return (
        vizwiz_dir / ANNOTATIONS_DIR / f"{split}.json",
        vizwiz_dir / f"VizWiz{split.capitalize()}Images",
    )


def load_vizwiz(root: str | os.PathLike[str], split: str, skip_bad: bool = False) -> VizWizSplit:
    """Load one split's samples, rejecting (or with ``skip_bad``, skipping) bad entries.

    Bad entries: malformed fields, an empty question, a duplicate image, an image name that
    leads outside the image folder, an image file that does not exist. Each error names the
    file, entry index and image.
    """
    annotation_file, image_dir = split_paths(find_vizwiz_dir(root), split)
    entries = _read_entries(annotation_file)
    if not image_dir.is_dir():
        raise FileNotFoundError(f"VizWiz {split} image folder not found: {image_dir}")
    folder = image_dir.resolve()
    result = VizWizSplit()
    first_seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        image = entry.get("image") if isinstance(entry, dict) else None
        try:
            sample = _parse_entry(entry, folder, answers_required=split != "test")
            if sample.key in first_seen:
                raise _BadEntry(f"duplicate image, first at entry {first_seen[sample.key]}")
            first_seen[sample.key] = index
        except _BadEntry as problem:
            message = f"{annotation_file}: entry {index} (image {image!r}): {problem}"
            if not skip_bad:
                raise VizWizFormatError(message) from None
            result.skipped.append(message)
            continue
        result.append(sample)
    if result.skipped:
        log.warning("skipped %d bad entries of %s", len(result.skipped), annotation_file)
    return result


def _read_entries(annotation_file: Path) -> list[Any]:
    if not annotation_file.is_file():
        raise FileNotFoundError(f"VizWiz annotation file not found: {annotation_file}")
    try:
        entries = json.loads(annotation_file.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VizWizFormatError(f"{annotation_file}: not valid JSON: {exc}") from None
    if not isinstance(entries, list):
        raise VizWizFormatError(
            f"{annotation_file}: expected a JSON list of entries, got {type(entries).__name__}"
        )
    return entries


def _parse_entry(entry: Any, folder: Path, answers_required: bool) -> VQASample:
    if not isinstance(entry, dict):
        raise _BadEntry(f"expected an object, got {type(entry).__name__}")
    image = entry.get("image")
    if not isinstance(image, str) or not image:
        raise _BadEntry("'image' must be a non-empty string")
    question = entry.get("question")
    if not isinstance(question, str):
        raise _BadEntry("'question' must be a string")
    if is_blank_question(question):
        raise _BadEntry(f"the question is empty ({question!r})")
    answers: tuple[str, ...] = ()
    if answers_required or "answers" in entry:
        answers = _parse_answers(entry.get("answers"))
    answer_type = entry.get("answer_type")
    if (answers_required or answer_type is not None) and not isinstance(answer_type, str):
        raise _BadEntry("'answer_type' must be a string")
    answerable = entry.get("answerable")
    if (answers_required or answerable is not None) and not (
        type(answerable) is int and answerable in (0, 1)
    ):
        raise _BadEntry(f"'answerable' must be 0 or 1, got {answerable!r}")
    return VQASample(
        key=image,
        image_path=_image_path(folder, image),
        question=question,
        answers=answers,
        answer_type=answer_type,
        answerable=answerable,
    )


def _parse_answers(answers: Any) -> tuple[str, ...]:
    if not isinstance(answers, list) or not answers:
        raise _BadEntry("'answers' must be a non-empty list")
    if len(answers) != ANSWERS_PER_QUESTION:
        raise _BadEntry(
            f"{len(answers)} answers; VizWiz has {ANSWERS_PER_QUESTION} a question, which the "
            "official metric averages over"
        )
    texts = []
    for j, answer in enumerate(answers):
        if not isinstance(answer, dict) or not isinstance(answer.get("answer"), str):
            raise _BadEntry(f"answers[{j}] must be an object with a string 'answer'")
        confidence = answer.get("answer_confidence", "yes")
        if confidence not in ANSWER_CONFIDENCES:
            raise _BadEntry(
                f"answers[{j}].answer_confidence must be one of "
                f"{', '.join(ANSWER_CONFIDENCES)}, got {confidence!r}"
            )
        texts.append(answer["answer"])
    return tuple(texts)


def _image_path(folder: Path, image: str) -> Path:
    """The image's resolved path, which must lie inside ``folder`` (``folder`` is resolved)."""
    try:
        path = (folder / image).resolve()
    except (OSError, RuntimeError, ValueError) as exc:
        raise _BadEntry(f"image name cannot be resolved: {exc}") from None
    if path == folder or not path.is_relative_to(folder):
        raise _BadEntry(f"image name leads outside the image folder {folder}")
    if not os.path.isfile(path):
        raise _BadEntry(f"image file not found: {path}")
    return path

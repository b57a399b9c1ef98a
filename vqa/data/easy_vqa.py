"""easy-VQA from PyPI as ``VQASample`` lists: the embedded data set that needs no download.

The package has a train and a test set. "val" is carved out of its train set by image (no image
lies in both), ranked by a SHA-256 of the image id, so the carve is the same on every machine
and run, and a larger ``val_fraction`` only moves more images into val.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import easy_vqa as package

from vqa.data.sample import VQASample

SPLITS = ("train", "val", "test")
NUM_ANSWERS = 10
YES_NO = frozenset({"yes", "no"})


def easy_vqa_answers() -> list[str]:
    """The package's answer list (13 answers), in its own order."""
    return package.get_answers()


def load_easy_vqa(
    split: str, val_fraction: float = 0.1, limit: int | None = None
) -> list[VQASample]:
    """The samples of ``split`` ("train", "val" or "test"), in the package's question order.

    Keys are ``easyvqa_{split}_{i:06d}`` with ``i`` the question's index in the package file it
    comes from (train or test), so a key names one question whatever ``val_fraction`` is. The
    one answer is repeated for the 10 annotators the VizWiz metric expects; answer types use
    the VizWiz names: "yes/no" for yes and no, "other" for colours and shapes. ``limit`` keeps
    the first ``limit`` samples.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown easy-VQA split {split!r}; expected one of {', '.join(SPLITS)}")
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    return list(islice(_samples(split, val_fraction), limit))


def val_image_ids(image_ids: set[int], val_fraction: float) -> set[int]:
    """The ``round(len * val_fraction)`` image ids with the smallest SHA-256: the val images."""
    ranked = sorted(image_ids, key=lambda i: hashlib.sha256(f"easy-vqa/{i}".encode()).digest())
    return set(ranked[: round(len(ranked) * val_fraction)])


def _samples(split: str, val_fraction: float) -> Iterator[VQASample]:
    if split == "test":
        questions, answers, image_ids = package.get_test_questions()
        paths = package.get_test_image_paths()
    else:
        questions, answers, image_ids = package.get_train_questions()
        paths = package.get_train_image_paths()
    val_images = val_image_ids(set(image_ids), val_fraction) if split != "test" else set()
    for index, (question, answer, image_id) in enumerate(
        zip(questions, answers, image_ids, strict=True)
    ):
        if split != "test" and (image_id in val_images) != (split == "val"):
            continue
        if image_id not in paths:
            raise FileNotFoundError(
                f"easy-VQA {split} question {index}: image {image_id}.png is missing from the "
                f"package folder {Path(package.__file__).parent / 'data'}"
            )
        yield VQASample(
            key=f"easyvqa_{split}_{index:06d}",
            image_path=Path(paths[image_id]),
            question=question,
            answers=(answer,) * NUM_ANSWERS,
            answer_type="yes/no" if answer in YES_NO else "other",
            answerable=1,
        )

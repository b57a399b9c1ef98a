"""The official VizWiz-VQA evaluation, reproduced so that our numbers equal the leaderboard's.

Accuracy: the prediction is normalized (punctuation, digits, articles, contractions) and compared
with the ground-truth answers as they are; per question, the mean over the annotators of
min(1, matches among the other annotators / 3). Answerability: average precision and F1 of the
"unanswerable" class. Figures are percentages, unrounded (the official code rounds to 2 places).
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vqa._contractions import CONTRACTIONS
from vqa.errors import UserError

# In the official order (the order does not change results, but keeps the code comparable).
PUNCTUATION: tuple[str, ...] = tuple(';/[]"{}()=+\\_-><@`,?!')
NUMBER_WORDS: dict[str, str] = {
    "none": "0",
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
}
ARTICLES: frozenset[str] = frozenset({"a", "an", "the"})

_DIGIT_COMMA = re.compile(r"(\d)(\,)(\d)")
# The official pattern means "a period not followed by a digit": "(?!<=\d)" is a lookahead for
# the literal text "<=digit", not the lookbehind "(?<!\d)" it was meant to be.
_PERIOD = re.compile(r"(?!<=\d)(\.)(?!\d)")
# The official call is periodStrip.sub("", text, re.UNICODE): the flag lands in the `count`
# parameter, so at most 32 periods are removed from one answer.
_PERIOD_LIMIT = int(re.UNICODE)


class MetricInputError(UserError):
    """Predictions or annotations that cannot be scored; the message names the file or image."""


def _process_punctuation(text: str) -> str:
    """Drop or blank each punctuation mark, deciding from the text as it was before any edit."""
    digit_comma = _DIGIT_COMMA.search(text) is not None
    out = text
    for mark in PUNCTUATION:
        if mark + " " in text or " " + mark in text or digit_comma:
            out = out.replace(mark, "")
        else:
            out = out.replace(mark, " ")
    return _PERIOD.sub("", out, count=_PERIOD_LIMIT)


def _process_digits_articles(text: str) -> str:
    """Lowercase, spell numbers as digits, drop articles, then expand known contractions."""
    words = [NUMBER_WORDS.get(word, word) for word in text.lower().split()]
    words = [word for word in words if word not in ARTICLES]
    return " ".join(CONTRACTIONS.get(word, word) for word in words)


def normalize_answer(text: str) -> str:
    """Normalize a predicted answer exactly as the official evaluator does."""
    text = text.replace("\n", " ").replace("\t", " ").strip()
    return _process_digits_articles(_process_punctuation(text))


def vqa_accuracy(prediction: str, gt_answers: Sequence[str]) -> float:
    """Official accuracy of one question in [0, 1]; the prediction is normalized, GT is not.

    Each annotator in turn is left out and the prediction earns min(1, matches among the
    others / 3); the question scores the mean over annotators.
    """
    if not gt_answers:
        raise MetricInputError("a question without ground-truth answers cannot be scored")
    answer = normalize_answer(prediction)
    matches = [gt == answer for gt in gt_answers]
    total = sum(matches)
    return sum(min(1.0, (total - own) / 3) for own in matches) / len(matches)


def _load_json_list(path: str | Path, what: str) -> list[Any]:
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        raise MetricInputError(f"{path}: {what} file not found") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MetricInputError(f"{path}: not valid JSON ({e})") from None
    except OSError as e:
        raise MetricInputError(f"{path}: cannot read {what} file ({e.strerror})") from None
    if not isinstance(data, list):
        raise MetricInputError(
            f"{path}: {what} must be a JSON list of objects, got {type(data).__name__}"
        )
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise MetricInputError(
                f"{path}: {what} entry {i} must be an object, got {type(item).__name__}"
            )
    return data


def load_predictions(path: str | Path) -> list[dict]:
    """Read a prediction file: a JSON list of {"image", "answer", "answerable"?}."""
    return _load_json_list(path, "predictions")


def load_annotations(path: str | Path) -> list[dict]:
    """Read a VizWiz annotation file: a JSON list of entries with their answers."""
    return _load_json_list(path, "annotations")


def _image_of(entry: Any, i: int, what: str) -> str:
    if not isinstance(entry, dict):
        raise MetricInputError(f"{what} {i} must be an object, got {type(entry).__name__}")
    image = entry.get("image")
    if not isinstance(image, str):
        raise MetricInputError(f"{what} {i} has no string 'image'")
    return image


def _index_predictions(predictions: Sequence[dict]) -> dict[str, dict]:
    by_image: dict[str, dict] = {}
    for i, pred in enumerate(predictions):
        image = _image_of(pred, i, "prediction")
        if image in by_image:
            raise MetricInputError(f"duplicate predictions for image {image}")
        if not isinstance(pred.get("answer"), str):
            raise MetricInputError(f"prediction for image {image} has no string 'answer'")
        by_image[image] = pred
    return by_image


def _gt_answers(entry: dict, image: str) -> list[str]:
    answers = entry.get("answers")
    if not answers:
        raise MetricInputError(
            f"annotation for image {image} has no answers (a test split cannot be scored)"
        )
    if not isinstance(answers, list) or not all(
        isinstance(a, dict) and isinstance(a.get("answer"), str) for a in answers
    ):
        raise MetricInputError(
            f"annotation for image {image}: 'answers' must be a list of {{'answer': str}}"
        )
    return [a["answer"] for a in answers]


def _answer_type(entry: dict, image: str) -> str | None:
    answer_type = entry.get("answer_type")
    if answer_type is not None and not isinstance(answer_type, str):
        raise MetricInputError(f"annotation for image {image}: 'answer_type' must be a string")
    return answer_type


def _answerability(
    annotations: Sequence[dict], by_image: dict[str, dict]
) -> dict[str, float | None]:
    """AP and F1 of the unanswerable class, or None where predictions or classes are lacking."""
    # Imported here: scikit-learn takes seconds to load, and only answerability needs it.
    from sklearn.metrics import average_precision_score, f1_score

    images = [entry["image"] for entry in annotations]
    with_prob = [image for image in images if "answerable" in by_image[image]]
    if not with_prob:
        return {"average_precision": None, "f1": None}
    if len(with_prob) != len(images):
        missing = next(image for image in images if "answerable" not in by_image[image])
        raise MetricInputError(
            f"prediction for image {missing} has no 'answerable' while others have one"
        )
    labels, probs = [], []
    for entry in annotations:
        image = entry["image"]
        label = entry.get("answerable")
        if label not in (0, 1) or isinstance(label, float):
            raise MetricInputError(f"annotation for image {image}: 'answerable' must be 0 or 1")
        prob = by_image[image]["answerable"]
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0.0 <= prob <= 1.0:
            raise MetricInputError(
                f"prediction for image {image}: 'answerable' must be a probability in [0, 1]"
            )
        labels.append(int(label))
        probs.append(float(prob))
    unanswerable = 1 - np.asarray(labels)
    score = 1.0 - np.asarray(probs)
    result: dict[str, float | None] = {"average_precision": None, "f1": None}
    if unanswerable.min() == unanswerable.max():
        kind = "unanswerable" if unanswerable[0] else "answerable"
        warnings.warn(
            f"every annotated question is {kind}: answerability average precision is undefined",
            stacklevel=3,
        )
    else:
        result["average_precision"] = 100.0 * float(average_precision_score(unanswerable, score))
    f1 = float(f1_score(unanswerable, score > 0.5, zero_division=np.nan))
    if math.isnan(f1):
        warnings.warn(
            "no question is unanswerable, in truth or prediction: answerability F1 is undefined",
            stacklevel=3,
        )
    else:
        result["f1"] = 100.0 * f1
    return result


def score(predictions: list[dict], annotations: list[dict]) -> dict:
    """Score predictions against VizWiz annotations: accuracy overall and per answer type.

    Every annotated question needs exactly one prediction and every prediction an annotated
    question. Answerability is scored when predictions carry "answerable" (the probability that
    the question can be answered); None where they do not or where it is undefined.
    """
    by_image = _index_predictions(predictions)
    seen: set[str] = set()
    accuracies: list[float] = []
    by_type: dict[str, list[float]] = {}
    for i, entry in enumerate(annotations):
        image = _image_of(entry, i, "annotation")
        if image in seen:
            raise MetricInputError(f"duplicate annotations for image {image}")
        seen.add(image)
        gt = _gt_answers(entry, image)
        if image not in by_image:
            raise MetricInputError(f"missing prediction for image {image}")
        accuracy = vqa_accuracy(by_image[image]["answer"], gt)
        accuracies.append(accuracy)
        answer_type = _answer_type(entry, image)
        if answer_type is not None:
            by_type.setdefault(answer_type, []).append(accuracy)
    unknown = [image for image in by_image if image not in seen]
    if unknown:
        raise MetricInputError(
            f"prediction for image {unknown[0]} is not in the annotations"
            + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else "")
        )
    if not accuracies:
        raise MetricInputError("no annotated questions to score")
    return {
        "accuracy": {
            "overall": 100.0 * sum(accuracies) / len(accuracies),
            "per_answer_type": {
                t: 100.0 * sum(accs) / len(accs) for t, accs in sorted(by_type.items())
            },
        },
        "answerability": _answerability(annotations, by_image),
        "n": len(accuracies),
    }

"""Accuracy by quality verdict (vqa.quality_scores) on photos made to fail and pass the check."""

import numpy as np
import pytest
from PIL import Image

from vqa.errors import UserError
from vqa.quality_scores import score_by_verdict, verdicts_of


def _annotation(image: str, answer: str) -> dict:
    return {"image": image, "question": "what?", "answer_type": "other",
            "answers": [{"answer": answer, "answer_confidence": "yes"}] * 10}


@pytest.fixture()
def photos(tmp_path):
    rng = np.random.default_rng(0)
    sharp = rng.integers(60, 200, (64, 64, 3), dtype=np.uint8)  # mean luma ~130, noisy
    made = {
        "dark.png": np.full((64, 64, 3), 10, np.uint8),
        "bright.png": np.full((64, 64, 3), 250, np.uint8),
        "flat.png": np.full((64, 64, 3), 120, np.uint8),  # no edges at all: blurred
        "sharp1.png": sharp,
        "sharp2.png": sharp[::-1].copy(),
    }
    for name, pixels in made.items():
        Image.fromarray(pixels, "RGB").save(tmp_path / name)
    return {name: tmp_path / name for name in made}


def test_each_verdict_is_scored_on_its_own_questions(photos):
    verdicts = verdicts_of(photos)
    assert verdicts == {"dark.png": "too_dark", "bright.png": "too_bright",
                        "flat.png": "blurred", "sharp1.png": "ok", "sharp2.png": "ok"}
    annotations = [_annotation(image, "red") for image in photos]
    right = {"dark.png", "sharp1.png"}
    predictions = [{"image": image, "answer": "red" if image in right else "blue"}
                   for image in photos]
    result = score_by_verdict(predictions, annotations, verdicts)
    # by hand: all 10 annotators say "red": a right answer scores 100, a wrong one 0
    assert result["too_dark"]["accuracy"]["overall"] == 100.0
    assert result["too_bright"]["accuracy"]["overall"] == 0.0
    assert result["ok"]["accuracy"]["overall"] == 50.0 and result["ok"]["n"] == 2
    assert result["all"]["accuracy"]["overall"] == 40.0 and result["all"]["n"] == 5
    assert list(result) == ["too_dark", "too_bright", "blurred", "ok", "all"]


def test_an_image_without_a_verdict_is_named(photos):
    with pytest.raises(UserError, match="no quality verdict for image other.png"):
        score_by_verdict([], [_annotation("other.png", "red")], verdicts_of(photos))

"""vqa.checkpoint_model (checkpoint -> model, tokenizer, answers) and vqa.predictions (logits ->
predictions file), the one reading and the one writer of train, export and benchmark."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from export.inputs import QUESTIONS
from vqa.checkpoint import CheckpointError, save_checkpoint, tokenizer_record
from vqa.checkpoint_model import load_checkpoint_model
from vqa.model import create_model
from vqa.predictions import to_predictions, unanswerable_index, write_predictions
from vqa.tokenizer import Tokenizer, train_sentencepiece

ANSWERS = ["red", "green", "unanswerable"]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    tokenizer = Tokenizer(train_sentencepiece(list(QUESTIONS) * 10, folder / "t.spm", 100))
    torch.manual_seed(0)
    model = create_model("beit3_tiny", num_answers=len(ANSWERS), vocab_size=tokenizer.vocab_size)
    path = folder / "tiny.pth"
    save_checkpoint(path, model, answers=ANSWERS,
                    tokenizer=tokenizer_record(tokenizer.model_bytes, 24))
    return path, model, tokenizer, folder


def test_the_model_tokenizer_and_answers_are_those_saved(checkpoint) -> None:
    path, model, tokenizer, _ = checkpoint
    loaded = load_checkpoint_model(path)
    assert loaded.answers == ANSWERS
    assert loaded.tokenizer.sha256 == tokenizer.sha256 and loaded.tokenizer.max_len == 24
    assert not loaded.model.training
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], value, rtol=0, atol=0)
    light = load_checkpoint_model(path, build_model=False)
    assert light.model is None and light.answers == ANSWERS


def test_answers_that_do_not_fit_the_head_name_the_file(checkpoint) -> None:
    path, _, _, folder = checkpoint
    four = folder / "four.txt"
    four.write_text("a\nb\nc\nd\n", encoding="utf-8")
    for build in (True, False):
        with pytest.raises(CheckpointError, match=f"{four}: 4 answers, but the model has 3"):
            load_checkpoint_model(path, answers=four, build_model=build)


def test_predictions_by_hand(tmp_path) -> None:
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 1.0, 3.0]], np.float32)
    keys = ["a.png", "b.png"]
    assert unanswerable_index(ANSWERS) == 2 and unanswerable_index(["x"]) is None
    predictions = to_predictions(logits, keys, ANSWERS, 2)
    # 1 - sigmoid(x) = 1 / (1 + e^x)
    assert predictions == [
        {"image": "a.png", "answer": "red", "answerable": pytest.approx(1 / (1 + math.exp(-1)))},
        {"image": "b.png", "answer": "unanswerable",
         "answerable": pytest.approx(1 / (1 + math.exp(3)))},
    ]
    assert to_predictions(logits, keys, ANSWERS, None)[1] == {"image": "b.png",
                                                             "answer": "unanswerable"}
    with pytest.raises(ValueError, match=r"expected logits of shape \[3, 3\], got \[2, 3\]"):
        to_predictions(logits, [*keys, "c.png"], ANSWERS, 2)
    path = write_predictions(tmp_path / "p.json", predictions)
    assert json.loads(path.read_text(encoding="utf-8"))[0]["answer"] == "red"

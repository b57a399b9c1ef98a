"""The answer vocabulary: building, soft targets, and the answers file."""

import pytest
import torch

from vqa.answers import AnswerVocab, AnswerVocabError, soft_score
from vqa.metrics import vqa_accuracy


def test_soft_scores():
    assert [soft_score(c) for c in range(7)] == [0.0, 0.3, 0.6, 0.9, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError):
        soft_score(-1)


@pytest.mark.parametrize("count", range(11))
def test_soft_score_is_the_official_accuracy_of_10_annotators(count):
    answers = ["cat"] * count + ["dog"] * (10 - count)
    assert soft_score(count) == pytest.approx(vqa_accuracy("cat", answers), abs=1e-12)


QUESTIONS = [
    ["yes"] * 6 + ["no"] * 4,
    ["no"] * 3 + ["unanswerable"] * 5 + ["", ""],
    ["red"] * 2 + ["blue"] * 2 + ["green"] * 2 + ["", "", "", ""],
]
# Counts: yes 6, no 7, unanswerable 5, red 2, blue 2, green 2 ('' is never a candidate).


def test_build_ranks_by_count_then_alphabetically():
    vocab = AnswerVocab.build(QUESTIONS)
    assert vocab.answers == ["no", "yes", "unanswerable", "blue", "green", "red"]
    assert len(vocab) == 6


def test_build_keeps_top_k():
    assert AnswerVocab.build(QUESTIONS, top_k=4).answers == ["no", "yes", "unanswerable", "blue"]
    with pytest.raises(ValueError):
        AnswerVocab.build(QUESTIONS, top_k=0)


def test_build_raw_answers_are_kept_apart():
    vocab = AnswerVocab.build([["Two", "two", "2", "2", " "]])
    assert vocab.answers == ["2", "Two", "two"]


def test_build_with_normalization_merges_spellings():
    # "Two", "two", "2" and "2." all normalize to "2"; "The dog" to "dog"; "a" to "".
    vocab = AnswerVocab.build([["Two", "two", "2", "2.", "The dog", "dog", "a"]], normalize=True)
    assert vocab.answers == ["2", "dog"]
    assert vocab.normalize


def test_build_without_candidates_is_an_error():
    with pytest.raises(AnswerVocabError):
        AnswerVocab.build([["", ""], []])


def test_index_and_unanswerable_index():
    vocab = AnswerVocab.from_list(["yes", "no", "unanswerable"])
    assert vocab.index("no") == 1
    assert vocab.index("maybe") is None
    assert vocab.unanswerable_index == 2
    assert AnswerVocab.from_list(["yes", "no"]).unanswerable_index is None


def test_targets_are_soft_scores_of_answer_counts():
    vocab = AnswerVocab.from_list(["yes", "no", "unanswerable", "red"])
    target = vocab.targets(["yes"] * 3 + ["no"] + ["maybe"] * 4 + ["", ""])
    assert target.dtype == torch.float32
    assert target.shape == (4,)
    assert target.tolist() == pytest.approx([0.9, 0.3, 0.0, 0.0])
    assert vocab.targets(["red"] * 10).tolist() == pytest.approx([0, 0, 0, 1.0])


def test_targets_normalize_when_the_vocab_does():
    answers = ["Yes!", "yes", "YES", "no"]
    raw = AnswerVocab.from_list(["yes", "no"])
    assert raw.targets(answers).tolist() == pytest.approx([0.3, 0.3])
    normalized = AnswerVocab.from_list(["yes", "no"], normalize=True)
    assert normalized.targets(answers).tolist() == pytest.approx([0.9, 0.3])


@pytest.mark.parametrize(
    ("answers", "message"),
    [
        ([], "at least one answer"),
        (["yes", "no", "yes"], "entry 2: duplicate answer 'yes'"),
        (["yes", ""], "entry 1: an answer cannot be empty"),
        (["yes", "   "], "entry 1: an answer cannot be empty"),
        (["two\nlines"], "entry 0: answer 'two\\\\nlines' contains a line break"),
    ],
)
def test_invalid_answer_lists(answers, message):
    with pytest.raises(AnswerVocabError, match=message):
        AnswerVocab.from_list(answers)


def test_save_and_load_round_trip(tmp_path):
    answers = ["yes", "don\u2019t know", "caf\u00e9 ", "unanswerable", "1.5"]
    path = tmp_path / "answers.txt"
    AnswerVocab.from_list(answers).save(path)
    assert path.read_bytes() == ("\n".join(answers) + "\n").encode("utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["answers.txt"]
    loaded = AnswerVocab.load(path, normalize=True)
    assert loaded.answers == answers
    assert loaded.normalize
    assert loaded.unanswerable_index == 3


def test_save_replaces_an_existing_file(tmp_path):
    path = tmp_path / "answers.txt"
    path.write_text("old\n", encoding="utf-8")
    AnswerVocab.from_list(["new"]).save(path)
    assert AnswerVocab.load(path).answers == ["new"]


def test_load_accepts_a_missing_final_newline(tmp_path):
    path = tmp_path / "answers.txt"
    path.write_text("yes\nno", encoding="utf-8")
    assert AnswerVocab.load(path).answers == ["yes", "no"]


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("yes\nno\nmaybe\nno\n", r"vocab\.txt, line 4: duplicate answer 'no' \(first on line 2\)"),
        ("yes\n\nno\n", r"vocab\.txt, line 2: empty or blank line"),
        ("yes\nno\n\n", r"vocab\.txt, line 3: empty or blank line"),
        ("yes\n  \n", r"vocab\.txt, line 2: empty or blank line"),
        ("", r"vocab\.txt: holds no answers"),
    ],
)
def test_load_errors_name_file_and_line(tmp_path, content, pattern):
    path = tmp_path / "vocab.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AnswerVocabError, match=pattern):
        AnswerVocab.load(path)


def test_load_missing_file(tmp_path):
    with pytest.raises(AnswerVocabError, match=r"absent\.txt: answers file not found"):
        AnswerVocab.load(tmp_path / "absent.txt")

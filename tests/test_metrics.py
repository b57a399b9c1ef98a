"""The official VizWiz-VQA metric: every normalization rule, accuracy and scoring by hand."""

import json
import warnings

import pytest

from vqa.metrics import (
    MetricInputError,
    load_annotations,
    load_predictions,
    normalize_answer,
    score,
    vqa_accuracy,
)

# --- normalization -------------------------------------------------------------------------


def test_newline_and_tab_become_spaces_and_ends_are_stripped():
    assert normalize_answer("  red\tcar\nkeys \n") == "red car keys"


def test_punctuation_without_adjacent_space_becomes_a_space():
    assert normalize_answer("co-op") == "co op"
    assert normalize_answer("red/blue") == "red blue"
    assert normalize_answer("red,blue") == "red blue"


def test_punctuation_next_to_a_space_is_removed_everywhere():
    # " -" occurs, so every "-" is deleted, the one inside "co-op" too.
    assert normalize_answer("co-op -") == "coop"
    # ", " occurs, so every comma is deleted: "red,blue" fuses.
    assert normalize_answer("red,blue, green") == "redblue green"
    # "! " then " !" ... the mark before a space and the one after a space both count.
    assert normalize_answer("yes! no!no") == "yes nono"
    assert normalize_answer("what ?why?") == "what why"


def test_a_comma_between_digits_removes_every_punctuation_mark():
    assert normalize_answer("1,000") == "1000"
    # The digit-comma test applies to all marks, so "-" is deleted too (no space inserted).
    assert normalize_answer("1,000-2") == "10002"


def test_punctuation_decisions_read_the_original_text():
    # ';' becomes a space first, giving "x -y-z" in the working text; the '-' decision still
    # reads "x;-y-z", where no '-' touches a space, so every '-' becomes a space ("x y z"),
    # not deleted (which would fuse "yz").
    assert normalize_answer("x;-y-z") == "x y z"


def test_every_listed_mark_is_handled():
    marks = ';/[]"{}()=+\\_->< @`,?!'.replace(" ", "")
    assert len(marks) == 21
    assert normalize_answer("".join(mark + "x" for mark in marks)) == " ".join("x" * 21)
    # Marks outside the list stay.
    assert normalize_answer("50% & #1 $2 *") == "50% & #1 $2 *"


def test_periods_not_followed_by_a_digit_are_removed():
    assert normalize_answer("end.") == "end"
    assert normalize_answer("3.5") == "3.5"
    assert normalize_answer("e.g. this") == "eg this"
    # Official quirk: "(?!<=\d)" is no lookbehind, so a period after a digit goes as well.
    assert normalize_answer("3.") == "3"
    assert normalize_answer(".5") == ".5"


def test_at_most_32_periods_are_removed():
    # re.UNICODE (32) is passed where `count` goes: 40 - 32 = 8 periods stay.
    assert normalize_answer("." * 40) == "." * 8
    assert normalize_answer("x" + ". " * 33 + "y") == "x . y"
    assert normalize_answer("." * 32) == ""


def test_lowercase():
    assert normalize_answer("YES Sir") == "yes sir"


def test_number_words_become_digits():
    assert normalize_answer("none") == "0"
    assert normalize_answer("zero one two three four five") == "0 1 2 3 4 5"
    assert normalize_answer("Six seven EIGHT nine ten") == "6 7 8 9 10"
    # Only whole words, and only up to ten.
    assert normalize_answer("eleven someone") == "eleven someone"


def test_articles_are_dropped():
    assert normalize_answer("The dog and a cat, an owl") == "dog and cat owl"
    assert normalize_answer("a") == ""


def test_contractions_use_the_official_apostrophes():
    assert normalize_answer("dont") == "don\u2019t"
    assert normalize_answer("Its not, it isnt") == "its not it isn\u2019t"
    # A few values use the straight apostrophe.
    assert normalize_answer("weve") == "we've"
    assert normalize_answer("cant") == "can't"
    # Keys with capitals never match: lookup happens after lowercasing.
    assert normalize_answer("Im") == "im"


# --- accuracy of one question ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("matches", "expected"),
    [
        # 0 matches: every annotator sees 0 others -> 0.
        (0, 0.0),
        # 1: the matching annotator sees 0 (acc 0), nine see 1 (1/3): 9/3/10 = 0.3.
        (1, 0.3),
        # 2: two see 1 (1/3), eight see 2 (2/3): (2/3 + 16/3)/10 = 0.6.
        (2, 0.6),
        # 3: three see 2 (2/3), seven see 3 (1): (2 + 7)/10 = 0.9.
        (3, 0.9),
        # 4: four see 3 (1), six see 4 (1): 1.0.
        (4, 1.0),
        (7, 1.0),
        (10, 1.0),
    ],
)
def test_vqa_accuracy_by_number_of_matches(matches, expected):
    answers = ["cat"] * matches + ["dog"] * (10 - matches)
    assert vqa_accuracy("cat", answers) == pytest.approx(expected, abs=1e-12)


def test_leave_one_out_is_by_position_not_by_value():
    # Identical answers are distinct annotators: leaving one out still counts the other.
    # (An evaluator that dropped every equal answer would give 8 * (2/3) / 10 = 0.533.)
    answers = [{"answer": "cat", "answer_confidence": "yes"}] * 2
    answers += [{"answer": "dog", "answer_confidence": "yes"}] * 8
    assert vqa_accuracy("cat", [a["answer"] for a in answers]) == pytest.approx(0.6)


def test_ground_truth_answers_are_not_normalized():
    # The prediction "Two" becomes "2"; the GT "Two" stays "Two", so they never match.
    assert vqa_accuracy("Two", ["Two"] * 10) == 0.0
    assert vqa_accuracy("two", ["two"] * 10) == 0.0
    assert vqa_accuracy("Two", ["2"] * 10) == 1.0
    assert vqa_accuracy("yes", ["Yes"] * 10) == 0.0


def test_accuracy_needs_answers():
    with pytest.raises(MetricInputError):
        vqa_accuracy("yes", [])


# --- scoring a set ------------------------------------------------------------------------


def _entry(image, answers, answer_type="other", answerable=1):
    return {
        "image": image,
        "question": "What is this?",
        "answers": [{"answer": a, "answer_confidence": "yes"} for a in answers],
        "answer_type": answer_type,
        "answerable": answerable,
    }


ANNOTATIONS = [
    _entry("q1.jpg", ["yes"] * 10, "yes/no"),
    _entry("q2.jpg", ["2"] * 2 + ["3"] * 8, "other"),
    _entry("q3.jpg", ["red"] + ["blue"] * 9, "other"),
    _entry("q4.jpg", ["unanswerable"] * 3 + ["unsuitable"] * 7, "unanswerable", 0),
]
PREDICTIONS = [
    {"image": "q1.jpg", "answer": "Yes!"},  # "yes": 10 matches -> 1.0
    {"image": "q2.jpg", "answer": "two"},  # "2": 2 matches -> 0.6
    {"image": "q3.jpg", "answer": "red"},  # 1 match -> 0.3
    {"image": "q4.jpg", "answer": "Unanswerable."},  # "unanswerable": 3 matches -> 0.9
]


def test_score_overall_and_per_answer_type():
    result = score(PREDICTIONS, ANNOTATIONS)
    # overall: (1.0 + 0.6 + 0.3 + 0.9) / 4 = 0.7; other: (0.6 + 0.3) / 2 = 0.45.
    assert result["accuracy"]["overall"] == pytest.approx(70.0)
    assert result["accuracy"]["per_answer_type"] == pytest.approx(
        {"other": 45.0, "unanswerable": 90.0, "yes/no": 100.0}
    )
    assert result["answerability"] == {"average_precision": None, "f1": None}
    assert result["n"] == 4


def test_score_does_not_depend_on_prediction_order():
    assert score(PREDICTIONS[::-1], ANNOTATIONS) == score(PREDICTIONS, ANNOTATIONS)


def _with_answerable(probs, labels):
    annotations = [_entry(f"a{i}.jpg", ["x"] * 10, answerable=y) for i, y in enumerate(labels)]
    predictions = [
        {"image": f"a{i}.jpg", "answer": "x", "answerable": p} for i, p in enumerate(probs)
    ]
    return predictions, annotations


def test_answerability_average_precision_and_f1_by_hand():
    # Unanswerable class: y = 1 - answerable = [1, 0, 1, 0]; s = 1 - p = [.9, .6, .35, .2].
    # Ranked by s: pos, neg, pos, neg -> precision at the positives 1/1 and 2/3:
    # AP = (1 + 2/3) / 2 = 5/6.  At s > 0.5: TP = 1 (a0), FP = 1 (a1), FN = 1 (a2):
    # precision = recall = 1/2, F1 = 1/2.
    predictions, annotations = _with_answerable([0.1, 0.4, 0.65, 0.8], [0, 1, 0, 1])
    result = score(predictions, annotations)["answerability"]
    assert result["average_precision"] == pytest.approx(100 * 5 / 6)
    assert result["f1"] == pytest.approx(50.0)


def test_answerability_threshold_is_strict():
    # y = [1, 0], s = [0.5, 0.1]: the ranking is perfect (AP = 1), but 0.5 is not > 0.5, so
    # nothing is predicted unanswerable: TP = 0, FN = 1 -> F1 = 0.
    predictions, annotations = _with_answerable([0.5, 0.9], [0, 1])
    result = score(predictions, annotations)["answerability"]
    assert result == {"average_precision": pytest.approx(100.0), "f1": pytest.approx(0.0)}


def test_answerability_with_one_class_reports_none_with_a_warning():
    # All answerable; one question predicted unanswerable: AP undefined, F1 = 0 (TP 0, FP 1).
    predictions, annotations = _with_answerable([0.9, 0.2], [1, 1])
    with pytest.warns(UserWarning, match="average precision is undefined"):
        result = score(predictions, annotations)["answerability"]
    assert result == {"average_precision": None, "f1": 0.0}
    # Nothing unanswerable in truth or prediction: F1 = 0/0 as well.
    predictions, annotations = _with_answerable([0.9, 0.8], [1, 1])
    with pytest.warns(UserWarning) as caught:
        result = score(predictions, annotations)["answerability"]
    assert result == {"average_precision": None, "f1": None}
    assert any("F1 is undefined" in str(w.message) for w in caught)
    # All unanswerable: F1 is defined (TP 1, FN 1 -> 2/3), AP still reported as None.
    predictions, annotations = _with_answerable([0.1, 0.7], [0, 0])
    with pytest.warns(UserWarning, match="every annotated question is unanswerable"):
        result = score(predictions, annotations)["answerability"]
    assert result == {"average_precision": None, "f1": pytest.approx(100 * 2 / 3)}


def test_answerability_without_predictions_is_none_and_quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = score(PREDICTIONS, ANNOTATIONS)
    assert result["answerability"] == {"average_precision": None, "f1": None}


def test_answerability_on_some_predictions_only_is_an_error():
    predictions, annotations = _with_answerable([0.1, 0.4], [0, 1])
    del predictions[1]["answerable"]
    with pytest.raises(MetricInputError, match="a1.jpg"):
        score(predictions, annotations)


def test_answerability_must_be_a_probability():
    predictions, annotations = _with_answerable([0.1, "high"], [0, 1])
    with pytest.raises(MetricInputError, match="a1.jpg"):
        score(predictions, annotations)


# --- errors -------------------------------------------------------------------------------


def test_unknown_image_is_named():
    predictions = PREDICTIONS + [{"image": "stray.jpg", "answer": "yes"}]
    with pytest.raises(MetricInputError, match=r"stray\.jpg.*not in the annotations"):
        score(predictions, ANNOTATIONS)


def test_missing_prediction_is_named():
    with pytest.raises(MetricInputError, match=r"missing prediction for image q3\.jpg"):
        score([p for p in PREDICTIONS if p["image"] != "q3.jpg"], ANNOTATIONS)


def test_duplicate_predictions_are_named():
    with pytest.raises(MetricInputError, match=r"duplicate predictions for image q2\.jpg"):
        score(PREDICTIONS + [{"image": "q2.jpg", "answer": "3"}], ANNOTATIONS)


def test_duplicate_annotations_are_named():
    with pytest.raises(MetricInputError, match=r"duplicate annotations for image q1\.jpg"):
        score(PREDICTIONS, ANNOTATIONS + ANNOTATIONS[:1])


@pytest.mark.parametrize("bad", [{"image": "q1.jpg"}, {"image": "q1.jpg", "answer": 2}])
def test_prediction_needs_a_string_answer(bad):
    with pytest.raises(MetricInputError, match=r"q1\.jpg.*'answer'"):
        score([bad] + PREDICTIONS[1:], ANNOTATIONS)


def test_prediction_must_be_an_object():
    with pytest.raises(MetricInputError, match="prediction 0 must be an object"):
        score(["yes"] + PREDICTIONS[1:], ANNOTATIONS)


def test_annotations_without_answers_cannot_be_scored():
    test_split = [{k: v for k, v in e.items() if k != "answers"} for e in ANNOTATIONS]
    with pytest.raises(MetricInputError, match=r"q1\.jpg has no answers"):
        score(PREDICTIONS, test_split)


# --- files --------------------------------------------------------------------------------


def test_load_round_trip(tmp_path):
    pred_path, ann_path = tmp_path / "pred.json", tmp_path / "ann.json"
    pred_path.write_text(json.dumps(PREDICTIONS), encoding="utf-8")
    ann_path.write_text(json.dumps(ANNOTATIONS), encoding="utf-8")
    assert load_predictions(pred_path) == PREDICTIONS
    assert load_annotations(ann_path) == ANNOTATIONS


def test_missing_file_is_named(tmp_path):
    with pytest.raises(MetricInputError, match=r"nope\.json: predictions file not found"):
        load_predictions(tmp_path / "nope.json")


def test_invalid_json_is_named(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('[{"image": "q1.jpg",', encoding="utf-8")
    with pytest.raises(MetricInputError, match=r"broken\.json: not valid JSON"):
        load_annotations(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"image": "q1.jpg"}, "must be a JSON list of objects, got dict"),
        (["q1.jpg"], "entry 0 must be an object, got str"),
    ],
)
def test_wrong_structure_is_named(tmp_path, content, message):
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(MetricInputError, match=rf"odd\.json: predictions {message}"):
        load_predictions(path)

"""`python -m benchmark score`, run as users run it."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.__main__ import main
from benchmark.score import format_table
from vqa.metrics import score

REPO = Path(__file__).resolve().parents[1]


def _entry(image, answers, answer_type, answerable):
    return {
        "image": image,
        "question": "What is it?",
        "answers": [{"answer": a, "answer_confidence": "yes"} for a in answers],
        "answer_type": answer_type,
        "answerable": answerable,
    }


ANNOTATIONS = [
    _entry("VizWiz_val_00000000.jpg", ["yes"] * 10, "yes/no", 1),
    _entry("VizWiz_val_00000001.jpg", ["soup"] * 2 + ["can"] * 8, "other", 1),
    _entry("VizWiz_val_00000002.jpg", ["unanswerable"] * 9 + ["dark"], "unanswerable", 0),
]
PREDICTIONS = [
    {"image": "VizWiz_val_00000000.jpg", "answer": "yes", "answerable": 0.9},
    {"image": "VizWiz_val_00000001.jpg", "answer": "Soup.", "answerable": 0.3},
    {"image": "VizWiz_val_00000002.jpg", "answer": "dark", "answerable": 0.2},
]


@pytest.fixture
def files(tmp_path):
    pred, ann = tmp_path / "pred.json", tmp_path / "val.json"
    pred.write_text(json.dumps(PREDICTIONS), encoding="utf-8")
    ann.write_text(json.dumps(ANNOTATIONS), encoding="utf-8")
    return pred, ann


def _run(*args):
    return subprocess.run(
        [sys.executable, "-m", "benchmark", *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_json_output_equals_score(files):
    pred, ann = files
    done = _run("score", pred, "--annotations", ann, "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == score(PREDICTIONS, ANNOTATIONS)
    # By hand: 1.0, 0.6 ("soup": 2 of 10), 0.3 ("dark": 1 of 10) -> 100 * 1.9 / 3.
    assert result["accuracy"]["overall"] == pytest.approx(100 * 1.9 / 3)
    assert result["n"] == 3
    # Unanswerable class: y = [0, 0, 1], s = 1 - p = [.1, .7, .8]: the positive ranks first
    # (AP = 1); at s > 0.5, TP = 1 and FP = 1: precision 1/2, recall 1, F1 = 2/3.
    assert result["answerability"] == {
        "average_precision": pytest.approx(100.0),
        "f1": pytest.approx(100 * 2 / 3),
    }


def test_table_output(files):
    pred, ann = files
    done = _run("score", pred, "--annotations", ann)
    assert done.returncode == 0, done.stderr
    assert "overall" in done.stdout
    assert "63.33" in done.stdout
    assert "accuracy, yes/no" in done.stdout


def test_error_names_the_image_with_exit_code_2(files, tmp_path):
    pred, ann = files
    stray = tmp_path / "stray.json"
    stray.write_text(
        json.dumps(PREDICTIONS + [{"image": "VizWiz_val_00000099.jpg", "answer": "x"}]),
        encoding="utf-8",
    )
    done = _run("score", stray, "--annotations", ann, "--json")
    assert done.returncode == 2
    assert "VizWiz_val_00000099.jpg" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


def test_missing_file_is_named(files, tmp_path, capsys):
    pred, _ = files
    assert main(["score", str(pred), "--annotations", str(tmp_path / "absent.json")]) == 2
    err = capsys.readouterr().err
    assert "absent.json" in err and "not found" in err


def test_missing_prediction_is_named(files, tmp_path, capsys):
    _, ann = files
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(PREDICTIONS[:2]), encoding="utf-8")
    assert main(["score", str(partial), "--json", "--annotations", str(ann)]) == 2
    captured = capsys.readouterr()
    assert "missing prediction for image VizWiz_val_00000002.jpg" in captured.err
    assert captured.out == ""


def test_undefined_answerability_warns_on_stderr_and_keeps_json_clean(tmp_path, capsys):
    pred, ann = tmp_path / "pred.json", tmp_path / "ann.json"
    pred.write_text(json.dumps(PREDICTIONS[:2]), encoding="utf-8")
    ann.write_text(json.dumps(ANNOTATIONS[:2]), encoding="utf-8")
    assert main(["score", str(pred), "--annotations", str(ann), "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["answerability"]["average_precision"] is None
    assert "warning: every annotated question is answerable" in captured.err


def test_table_says_why_answerability_is_missing(tmp_path, capsys):
    pred, ann = tmp_path / "pred.json", tmp_path / "ann.json"
    pred.write_text(json.dumps([{"image": "VizWiz_val_00000000.jpg", "answer": "yes"}]))
    ann.write_text(json.dumps(ANNOTATIONS[:1]))
    assert main(["score", str(pred), "--annotations", str(ann), "--digits", "1"]) == 0
    out = capsys.readouterr().out
    assert "100.0" in out
    assert "n/a (no 'answerable' in predictions)" in out


def test_format_table_rounds_only_for_display():
    result = score(PREDICTIONS, ANNOTATIONS)
    table = format_table(result, digits=3)
    assert "63.333" in table
    assert result["accuracy"]["overall"] == pytest.approx(63.333333333333)


def test_a_subcommand_is_required():
    done = _run()
    assert done.returncode == 2
    assert "score" in done.stderr


def test_by_quality_scores_each_verdict_on_its_own_images(files, tmp_path, capsys):
    pred, ann = files
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(1)
    made = {  # sharp noise: ok; a flat grey: no edges, blurred; near black: too dark
        "VizWiz_val_00000000.jpg": rng.integers(60, 200, (64, 64, 3), dtype=np.uint8),
        "VizWiz_val_00000001.jpg": np.full((64, 64, 3), 120, np.uint8),
        "VizWiz_val_00000002.jpg": np.full((64, 64, 3), 8, np.uint8),
    }
    for name, pixels in made.items():
        Image.fromarray(pixels, "RGB").save(images / name, format="PNG")
    assert main(["score", str(pred), "--annotations", str(ann), "--json",
                 "--by-quality", str(images)]) == 0
    by_quality = json.loads(capsys.readouterr().out)["by_quality"]
    assert list(by_quality) == ["too_dark", "blurred", "ok", "all"]
    # by hand: image 0 "yes" for 10 x "yes" scores 100; image 1 "soup" matches 2 of 10
    # annotators (each sees 1 or 2 among the other 9: mean of min(1, k / 3) = 0.6); image 2
    # "dark" matches 1 (mean 0.3).
    assert by_quality["ok"]["accuracy"]["overall"] == pytest.approx(100.0)
    assert by_quality["blurred"]["accuracy"]["overall"] == pytest.approx(60.0)
    assert by_quality["too_dark"]["accuracy"]["overall"] == pytest.approx(30.0)
    assert by_quality["all"]["n"] == 3


def test_by_quality_names_a_missing_image(files, tmp_path):
    pred, ann = files
    (tmp_path / "images").mkdir()
    done = _run("score", pred, "--annotations", ann, "--by-quality", tmp_path / "images")
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and "VizWiz_val_00000000.jpg" in done.stderr
    assert "Traceback" not in done.stderr

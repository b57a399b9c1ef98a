"""`benchmark samples` (a samples folder for a phone) and `benchmark ingest` with an app's
predictions: real easy-VQA samples, an iOS app row, accuracy scored by the official metric."""

import json

import pytest

from benchmark.__main__ import main
from benchmark.results import read_rows
from benchmark.samples import SamplesError, read_samples_index
from vqa.data import load_easy_vqa

N = 5


def ios_row(**changes) -> dict:
    """A row as the iOS app's ResultRow writes it (docs/ios_benchmark.md)."""
    row = {
        "schema_version": 1,
        "created": "2026-11-29T10:15:04Z",
        "status": "ok",
        "source": "ios-app",
        "label": "student-coreml-int8",
        "format": "coreml",
        "precision": "int8",
        "device": {"kind": "phone", "name": "iPhone16,1", "os": "iOS 18.1", "arch": "arm64"},
        "threads": None,
        "batch_size": 1,
        "runtime": {"name": "coreml", "version": "iOS 18.1", "details": {"compute_units": "all"}},
        "latency_ms": {"load": 412.0, "first_inference": 95.1, "warmup": 2, "runs": 3,
                       "mean": 41.0, "p50": 41.0, "p90": 41.8, "p99": 41.98, "std": 1.0,
                       "trimmed_mean": 41.0, "samples": [40.0, 41.0, 42.0]},
        "memory": {"peak_rss_bytes": 301989888, "load_rss_bytes": None,
                   "model_file_bytes": None, "bundle_bytes": None},
    }
    row.update(changes)
    return row


@pytest.fixture()
def samples_dir(tmp_path):
    out = tmp_path / "samples"
    assert main(["samples", "--data", "easy-vqa", "--split", "test", "--limit", str(N),
                 "--out", str(out)]) == 0
    return out


def test_samples_folder_holds_images_questions_keys_and_ground_truth(samples_dir):
    expected = load_easy_vqa("test", limit=N)
    index = read_samples_index(samples_dir)
    assert (index["data"], index["split"], index["n"]) == ("easy-vqa", "test", N)
    assert [e["key"] for e in index["samples"]] == [s.key for s in expected]
    assert [e["question"] for e in index["samples"]] == [s.question for s in expected]
    for entry, sample in zip(index["samples"], expected, strict=True):
        assert (samples_dir / entry["image"]).read_bytes() == sample.image_path.read_bytes()
    annotations = json.loads((samples_dir / "annotations.json").read_text("utf-8"))
    assert [a["image"] for a in annotations] == [s.key for s in expected]
    assert [a["answers"][0]["answer"] for a in annotations] == [s.answers[0] for s in expected]
    assert not [p for p in samples_dir.parent.iterdir() if p.name.startswith(".")]


def test_samples_never_overwrites_and_rejects_bad_input(samples_dir, tmp_path, capsys):
    before = (samples_dir / "samples.json").read_text("utf-8")
    assert main(["samples", "--data", "easy-vqa", "--limit", "2", "--out", str(samples_dir)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (samples_dir / "samples.json").read_text("utf-8") == before
    assert main(["samples", "--data", "mnist", "--limit", "2", "--out", str(tmp_path / "x")]) == 2
    assert "--data 'mnist'" in capsys.readouterr().err
    assert main(["samples", "--data", "easy-vqa", "--limit", "0",
                 "--out", str(tmp_path / "y")]) == 2
    assert "--limit must be at least 1" in capsys.readouterr().err
    with pytest.raises(SamplesError, match="not a samples folder"):
        read_samples_index(tmp_path)


def _predictions(samples_dir, wrong: set[int], answerable: float | None = 0.9) -> list[dict]:
    """An app's predictions: the ground truth, except a wrong answer at the `wrong` positions."""
    annotations = json.loads((samples_dir / "annotations.json").read_text("utf-8"))
    out = []
    for i, entry in enumerate(annotations):
        truth = entry["answers"][0]["answer"]
        answer = ("no" if truth != "no" else "yes") if i in wrong else truth
        pred = {"image": entry["image"], "answer": answer}
        if answerable is not None:
            pred["answerable"] = answerable
        out.append(pred)
    return out


def test_ingest_scores_the_app_predictions_beside_the_row(samples_dir, tmp_path, capsys):
    row_file = tmp_path / "row.json"
    row_file.write_text(json.dumps(ios_row()), "utf-8")
    predictions = tmp_path / "pred.json"
    predictions.write_text(json.dumps(_predictions(samples_dir, wrong={1})), "utf-8")
    reference = tmp_path / "ref.json"
    reference.write_text(json.dumps(_predictions(samples_dir, wrong={1, 3})), "utf-8")
    results = tmp_path / "r.jsonl"
    assert main(["ingest", str(row_file), "--results", str(results), "--predictions",
                 str(predictions), "--samples", str(samples_dir), "--reference",
                 str(reference)]) == 0, capsys.readouterr().err
    (row,) = read_rows(results)
    accuracy = row["accuracy"]
    # easy-VQA repeats its one answer for the 10 annotators: a right answer scores 100, a wrong 0.
    assert accuracy["overall"] == pytest.approx(100.0 * (N - 1) / N)
    assert (accuracy["data"], accuracy["split"], accuracy["n"]) == ("easy-vqa", "test", N)
    assert accuracy["agreement_fp32"] == pytest.approx(100.0 * (N - 1) / N)  # differ at 3 only
    assert row["source"] == "ios-app"


def test_ingest_refuses_predictions_that_miss_a_sample(samples_dir, tmp_path, capsys):
    row_file = tmp_path / "row.json"
    row_file.write_text(json.dumps(ios_row()), "utf-8")
    predictions = tmp_path / "pred.json"
    predictions.write_text(json.dumps(_predictions(samples_dir, wrong=set())[1:]), "utf-8")
    results = tmp_path / "r.jsonl"
    code = main(["ingest", str(row_file), "--results", str(results), "--predictions",
                 str(predictions), "--samples", str(samples_dir)])
    err = capsys.readouterr().err
    assert code == 2
    assert "pred.json against" in err and "missing prediction for image easyvqa_test_000000" in err
    assert not results.exists() or read_rows(results) == []
    assert main(["ingest", str(row_file), "--predictions", str(predictions)]) == 2
    assert "--predictions and --samples go together" in capsys.readouterr().err


def test_ingest_scores_one_row_only(samples_dir, tmp_path, capsys):
    rows = tmp_path / "rows.json"
    rows.write_text(json.dumps([ios_row(), ios_row(label="other")]), "utf-8")
    predictions = tmp_path / "pred.json"
    predictions.write_text(json.dumps(_predictions(samples_dir, wrong=set())), "utf-8")
    code = main(["ingest", str(rows), "--results", str(tmp_path / "r.jsonl"), "--predictions",
                 str(predictions), "--samples", str(samples_dir)])
    assert code == 2 and "scores one row, but 2 rows were given" in capsys.readouterr().err

"""`--data` parsing and loading, shared by train, export and benchmark (vqa.data.spec)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from vqa.data.fixtures import write_vizwiz_fixture
from vqa.data.spec import DataSpec, DataSpecError, is_blank_question
from vqa.data.vizwiz import VizWizFormatError


@pytest.mark.parametrize("text", ["easy", "vizwiz:", "vizwiz", "coco:/data", ""])
def test_bad_specs_are_named(text):
    with pytest.raises(DataSpecError, match=f"--data {text!r}: expected 'easy-vqa' or"):
        DataSpec.parse(text)


def test_specs_round_trip():
    assert DataSpec.parse("easy-vqa").name == "easy-vqa" and DataSpec.parse("easy-vqa").root is None
    spec = DataSpec.parse("vizwiz:/data/x")
    assert spec.root == Path("/data/x") and str(spec) == "vizwiz:/data/x"


@pytest.mark.parametrize(
    "question,blank",
    [("", True), ("   ", True), ("\u200b \u200d\ufeff", True), ("\t\n", True), ("a", False),
     (" what? ", False), ("\u00e9", False)],
)
def test_blank_questions(question, blank):
    # Blank: only whitespace and Unicode "format" characters (category Cf: zero-width space
    # U+200B, zero-width joiner U+200D, byte-order mark U+FEFF); any letter is a question.
    assert is_blank_question(question) is blank


@pytest.fixture()
def damaged(tmp_path):
    """A VizWiz copy of 8 train entries with 4 bad ones, each bad in its own way."""
    vizwiz = write_vizwiz_fixture(tmp_path, n_train=8, n_val=0, n_test=0)
    images = vizwiz / "VizWizTrainImages"
    (images / "VizWiz_train_00000001.jpg").write_bytes(b"")  # 0 bytes
    whole = (images / "VizWiz_train_00000002.jpg").read_bytes()
    (images / "VizWiz_train_00000002.jpg").write_bytes(whole[: len(whole) // 2])  # truncated
    (images / "VizWiz_train_00000003.jpg").write_bytes(b"\xff\xd8 not a jpeg at all")
    annotations = vizwiz / "VizWizAnnotations" / "train.json"
    entries = json.loads(annotations.read_text())
    entries[5]["question"] = " \u200b "
    annotations.write_text(json.dumps(entries))
    return tmp_path


def test_skip_bad_leaves_out_and_counts_every_kind_of_bad_sample(damaged):
    samples = DataSpec.parse(f"vizwiz:{damaged}").load("train", skip_bad=True)
    assert [s.key[-5:-4] for s in samples] == ["0", "4", "6", "7"]
    assert len(samples.skipped) == 4
    skipped = " | ".join(samples.skipped)
    assert "entry 5 (image 'VizWiz_train_00000005.jpg'): the question is empty" in skipped
    assert "VizWiz_train_00000001.jpg: empty file (0 bytes)" in skipped
    for name in ("VizWiz_train_00000002.jpg", "VizWiz_train_00000003.jpg"):
        assert f"{name}: " in skipped and "cannot decode image" in skipped


def test_without_skip_bad_the_first_bad_entry_stops_the_load(damaged):
    with pytest.raises(VizWizFormatError, match=r"train.json: entry 5 .*the question is empty"):
        DataSpec.parse(f"vizwiz:{damaged}").load("train")


def test_limit_counts_usable_samples_and_decompression_bombs_are_skipped(tmp_path, monkeypatch):
    vizwiz = write_vizwiz_fixture(tmp_path, n_train=6, n_val=0, n_test=0)
    Image.new("RGB", (400, 400)).save(vizwiz / "VizWizTrainImages" / "VizWiz_train_00000000.jpg")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100 * 100 // 2)  # 400 x 400 > 2 x limit
    samples = DataSpec.parse(f"vizwiz:{tmp_path}").load("train", limit=3, skip_bad=True)
    assert len(samples) == 2 and len(samples.skipped) == 1  # the first 3, one of them a bomb
    assert "VizWiz_train_00000000.jpg" in samples.skipped[0]


def test_an_empty_split_is_an_error(tmp_path):
    write_vizwiz_fixture(tmp_path, n_train=0, n_val=1, n_test=0)
    with pytest.raises(DataSpecError, match="the train split holds no usable samples"):
        DataSpec.parse(f"vizwiz:{tmp_path}").load("train")
    with pytest.raises(DataSpecError, match="--limit must be at least 1"):
        DataSpec.parse(f"vizwiz:{tmp_path}").load("val", limit=0)

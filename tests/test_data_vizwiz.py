"""VizWiz loading: the fixture round trip and every kind of bad entry, on generated data."""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from vqa.data.fixtures import main as fixtures_main
from vqa.data.fixtures import write_vizwiz_fixture
from vqa.data.sample import VQASample
from vqa.data.vizwiz import (
    VizWizFormatError,
    VizWizSplit,
    find_vizwiz_dir,
    load_vizwiz,
    split_paths,
)
from vqa.errors import UserError


@pytest.fixture()
def vizwiz(tmp_path: Path) -> Path:
    return write_vizwiz_fixture(tmp_path / "data", n_train=12, n_val=8, n_test=4)


def rewrite(vizwiz: Path, split: str, change: Callable[[list[Any]], None]) -> Path:
    """Apply ``change`` to a split's entries in place; return the annotation file."""
    annotation_file, _ = split_paths(vizwiz, split)
    entries = json.loads(annotation_file.read_text())
    change(entries)
    annotation_file.write_text(json.dumps(entries))
    return annotation_file


def test_fixture_round_trip(vizwiz: Path) -> None:
    counts = {"train": 12, "val": 8, "test": 4}
    for split, count in counts.items():
        annotation_file, image_dir = split_paths(vizwiz, split)
        entries = json.loads(annotation_file.read_text())
        samples = load_vizwiz(vizwiz.parent, split)
        assert isinstance(samples, VizWizSplit) and isinstance(samples, list)
        assert len(samples) == count and samples.skipped == []
        assert [s.key for s in samples] == [e["image"] for e in entries]
        assert [s.question for s in samples] == [e["question"] for e in entries]
        for sample in samples:
            assert isinstance(sample, VQASample)
            assert sample.image_path == (image_dir / sample.key).resolve()
            assert sample.image_path.is_file()
    for split in ("train", "val"):
        samples = load_vizwiz(vizwiz, split)
        assert all(len(s.answers) == 10 for s in samples)
        assert {s.answer_type for s in samples} == {"other", "yes/no", "number", "unanswerable"}
        assert any("" in s.answers for s in samples)
        for s in samples:
            assert s.answerable == (0 if s.answer_type == "unanswerable" else 1)
    test = load_vizwiz(vizwiz, "test")
    assert all(s.answers == () and s.answer_type is None and s.answerable is None for s in test)
    entries = json.loads(split_paths(vizwiz, "test")[0].read_text())
    assert all(set(e) == {"image", "question"} for e in entries)


def test_fixture_confidences_and_images(vizwiz: Path) -> None:
    entries = json.loads(split_paths(vizwiz, "train")[0].read_text())
    confidences = {a["answer_confidence"] for e in entries for a in e["answers"]}
    assert confidences <= {"yes", "maybe", "no"} and len(confidences) >= 2
    sizes = set()
    for sample in load_vizwiz(vizwiz, "train"):
        with Image.open(sample.image_path) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            sizes.add(image.size)
    assert len(sizes) > 1 and any(w != h for w, h in sizes)


def test_fixture_is_deterministic(tmp_path: Path) -> None:
    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    a = write_vizwiz_fixture(tmp_path / "a", n_train=6, n_val=2, n_test=2, seed=3)
    b = write_vizwiz_fixture(tmp_path / "b", n_train=6, n_val=2, n_test=2, seed=3)
    c = write_vizwiz_fixture(tmp_path / "c", n_train=6, n_val=2, n_test=2, seed=4)
    assert files(a) == files(b)
    assert files(a) != files(c)
    assert not [p for p in a.rglob("*.tmp")]


def test_fixture_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixtures_main([str(tmp_path), "--n-train", "5", "--n-val", "1", "--n-test", "0"])
    assert capsys.readouterr().out.strip() == str(tmp_path / "VizWiz")
    assert [len(load_vizwiz(tmp_path, s)) for s in ("train", "val", "test")] == [5, 1, 0]


def test_root_forms_and_missing_paths(vizwiz: Path, tmp_path: Path) -> None:
    assert find_vizwiz_dir(vizwiz) == vizwiz == find_vizwiz_dir(vizwiz.parent)
    with pytest.raises(FileNotFoundError, match="VizWizAnnotations"):
        load_vizwiz(tmp_path / "nowhere", "train")
    annotation_file, _ = split_paths(vizwiz, "val")
    annotation_file.unlink()
    with pytest.raises(FileNotFoundError, match=str(annotation_file)):
        load_vizwiz(vizwiz, "val")
    with pytest.raises(ValueError, match="unknown VizWiz split 'dev'"):
        load_vizwiz(vizwiz, "dev")


def test_missing_image_folder(vizwiz: Path) -> None:
    _, image_dir = split_paths(vizwiz, "test")
    image_dir.rename(image_dir.with_name("elsewhere"))
    with pytest.raises(FileNotFoundError, match="VizWizTestImages"):
        load_vizwiz(vizwiz, "test")


@pytest.mark.parametrize("content", [b"{not json", b'{"image": "a.jpg"}', b"\xff\xfe\x00garbage"])
def test_unreadable_annotation_file(vizwiz: Path, content: bytes) -> None:
    annotation_file, _ = split_paths(vizwiz, "train")
    annotation_file.write_bytes(content)
    with pytest.raises(VizWizFormatError, match=str(annotation_file)):
        load_vizwiz(vizwiz, "train")


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    return lambda entry: entry.__setitem__(key, value)


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda entry: entry.pop(key)


def _set_answer(j: int, answer: Any) -> Callable[[dict[str, Any]], None]:
    return lambda entry: entry["answers"].__setitem__(j, answer)


MALFORMED = {
    "no question": (_drop("question"), "'question' must be a string"),
    "int question": (_set("question", 7), "'question' must be a string"),
    "empty image": (_set("image", ""), "'image' must be a non-empty string"),
    "list image": (_set("image", ["a.jpg"]), "'image' must be a non-empty string"),
    "no answers": (_drop("answers"), "'answers' must be a non-empty list"),
    "string answers": (_set("answers", "yes"), "'answers' must be a non-empty list"),
    "empty answers": (_set("answers", []), "'answers' must be a non-empty list"),
    "bare answer": (_set_answer(4, "yes"), r"answers\[4\] must be an object"),
    "int answer": (_set_answer(2, {"answer": 3}), r"answers\[2\] must be an object"),
    "no answer key": (_set_answer(0, {"answer_confidence": "yes"}), r"answers\[0\]"),
    "bad confidence": (
        _set_answer(1, {"answer": "x", "answer_confidence": "sure"}),
        r"answers\[1\]\.answer_confidence must be one of yes, maybe, no, got 'sure'",
    ),
    "no answer_type": (_drop("answer_type"), "'answer_type' must be a string"),
    "answerable 2": (_set("answerable", 2), "'answerable' must be 0 or 1, got 2"),
    "answerable str": (_set("answerable", "1"), "'answerable' must be 0 or 1, got '1'"),
    "answerable bool": (_set("answerable", True), "'answerable' must be 0 or 1, got True"),
    "no answerable": (_drop("answerable"), "'answerable' must be 0 or 1, got None"),
}


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_entry(vizwiz: Path, name: str) -> None:
    change, problem = MALFORMED[name]
    annotation_file = rewrite(vizwiz, "val", lambda entries: change(entries[3]))
    image = json.loads(annotation_file.read_text())[3].get("image")
    with pytest.raises(VizWizFormatError) as caught:
        load_vizwiz(vizwiz, "val")
    message = str(caught.value)
    assert message.startswith(f"{annotation_file}: entry 3 (image {image!r}): ")
    assert re.search(problem, message)


def test_entry_not_an_object(vizwiz: Path) -> None:
    annotation_file = rewrite(vizwiz, "train", lambda es: es.__setitem__(6, ["x.jpg", "q"]))
    with pytest.raises(VizWizFormatError) as caught:
        load_vizwiz(vizwiz, "train")
    expected = f"{annotation_file}: entry 6 (image None): expected an object, got list"
    assert str(caught.value) == expected


def test_test_split_entries_are_checked_too(vizwiz: Path) -> None:
    rewrite(vizwiz, "test", lambda es: es[1].__setitem__("question", None))
    with pytest.raises(VizWizFormatError, match=r"test\.json: entry 1 .*'question'"):
        load_vizwiz(vizwiz, "test")


def test_duplicate_image(vizwiz: Path) -> None:
    entries = json.loads(split_paths(vizwiz, "train")[0].read_text())
    image = entries[2]["image"]
    rewrite(vizwiz, "train", lambda es: es[7].__setitem__("image", image))
    with pytest.raises(
        VizWizFormatError,
        match=rf"train\.json: entry 7 \(image '{image}'\): duplicate image, first at entry 2",
    ):
        load_vizwiz(vizwiz, "train")


def test_missing_image_file(vizwiz: Path) -> None:
    samples = load_vizwiz(vizwiz, "val")
    samples[5].image_path.unlink()
    with pytest.raises(
        VizWizFormatError, match=rf"entry 5 \(image '{samples[5].key}'\): image file not found"
    ):
        load_vizwiz(vizwiz, "val")


def _outside_names(vizwiz: Path) -> list[str]:
    """Names of a real file outside the train image folder, so only its location is wrong."""
    outside = vizwiz / "outside.jpg"
    shutil.copy(load_vizwiz(vizwiz, "train")[0].image_path, outside)
    return ["../outside.jpg", str(outside), "sub/../../outside.jpg", "."]


@pytest.mark.parametrize("index", range(4))
def test_names_leading_outside_are_rejected(vizwiz: Path, index: int) -> None:
    name = _outside_names(vizwiz)[index]
    rewrite(vizwiz, "train", lambda es: es[4].__setitem__("image", name))
    with pytest.raises(
        VizWizFormatError,
        match=re.escape(f"entry 4 (image '{name}'): image name leads outside the image folder"),
    ):
        load_vizwiz(vizwiz, "train")


def test_symlink_leading_outside_is_rejected(vizwiz: Path) -> None:
    _, image_dir = split_paths(vizwiz, "train")
    (image_dir / "link.jpg").symlink_to(Path(_outside_names(vizwiz)[1]))
    rewrite(vizwiz, "train", lambda es: es[0].__setitem__("image", "link.jpg"))
    with pytest.raises(VizWizFormatError, match="leads outside the image folder"):
        load_vizwiz(vizwiz, "train")


def test_names_in_a_subfolder_are_allowed(vizwiz: Path) -> None:
    _, image_dir = split_paths(vizwiz, "train")
    (image_dir / "sub").mkdir()
    (image_dir / "VizWiz_train_00000004.jpg").rename(image_dir / "sub" / "moved.jpg")
    rewrite(vizwiz, "train", lambda es: es[4].__setitem__("image", "sub/moved.jpg"))
    samples = load_vizwiz(vizwiz, "train")
    assert samples[4].key == "sub/moved.jpg"
    assert samples[4].image_path == (image_dir / "sub" / "moved.jpg").resolve()


def test_skip_bad(vizwiz: Path, caplog: pytest.LogCaptureFixture) -> None:
    good = load_vizwiz(vizwiz, "train")
    good[9].image_path.unlink()

    def spoil(entries: list[Any]) -> None:
        entries[1]["answerable"] = 5
        entries[3]["image"] = "../../escape.jpg"
        entries[6]["image"] = entries[0]["image"]

    annotation_file = rewrite(vizwiz, "train", spoil)
    with caplog.at_level(logging.WARNING, logger="vqa.data.vizwiz"):
        result = load_vizwiz(vizwiz, "train", skip_bad=True)
    assert [s.key for s in result] == [s.key for i, s in enumerate(good) if i not in (1, 3, 6, 9)]
    assert len(result.skipped) == 4
    for index, reason in zip((1, 3, 6, 9), result.skipped, strict=True):
        assert reason.startswith(f"{annotation_file}: entry {index} (image ")
    assert "skipped 4 bad entries" in caplog.text
    with pytest.raises(VizWizFormatError, match="entry 1 "):
        load_vizwiz(vizwiz, "train")


def test_loading_does_not_decode_images(vizwiz: Path) -> None:
    samples = load_vizwiz(vizwiz, "val")
    samples[0].image_path.write_bytes(b"not an image at all")
    assert load_vizwiz(vizwiz, "val") == samples


def test_fixture_refuses_a_folder_with_data_unless_overwrite(tmp_path: Path) -> None:
    vizwiz = write_vizwiz_fixture(tmp_path, n_train=2, n_val=1, n_test=0)
    annotations = vizwiz / "VizWizAnnotations" / "train.json"
    annotations.write_text("[]")  # stands for a real data set's annotations
    with pytest.raises(UserError, match="holds files already .* --overwrite"):
        write_vizwiz_fixture(tmp_path, n_train=2, n_val=1, n_test=0)
    assert annotations.read_text() == "[]"
    write_vizwiz_fixture(tmp_path, n_train=2, n_val=1, n_test=0, overwrite=True)
    assert len(load_vizwiz(tmp_path, "train")) == 2

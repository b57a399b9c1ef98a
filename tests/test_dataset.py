"""VQADataset items and batches, bad images named by file, samples as VizWiz annotations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision.transforms import v2

from vqa.data.dataset import (
    BadImageError,
    VQADataset,
    collate,
    collate_trimmed,
    load_image,
    samples_to_annotations,
    trim_padding,
    write_annotations,
)
from vqa.data.easy_vqa import easy_vqa_answers, load_easy_vqa
from vqa.data.fixtures import write_vizwiz_fixture
from vqa.data.sample import VQASample
from vqa.data.vizwiz import load_vizwiz, split_paths

SIZE, LENGTH = 32, 8


class WordTokenizer:
    """A stand-in with the Tokenizer's ``encode`` contract: ids and a padding mask (1 on pads)."""

    def __init__(self) -> None:
        self.words: dict[str, int] = {}

    def encode(self, text: str) -> tuple[list[int], list[int]]:
        ids = [0] + [self.words.setdefault(w, len(self.words) + 4) for w in text.split()]
        ids = (ids[: LENGTH - 1] + [2])[:LENGTH]
        pads = LENGTH - len(ids)
        return ids + [1] * pads, [0] * len(ids) + [1] * pads


class CountVocab:
    """A stand-in with the AnswerVocab's ``targets`` contract: min(1, count / 3) per answer."""

    def __init__(self, answers: Sequence[str]) -> None:
        self.answers = list(answers)

    def __len__(self) -> int:
        return len(self.answers)

    def targets(self, answers: Sequence[str]) -> torch.Tensor:
        return torch.tensor([min(1.0, answers.count(a) / 3) for a in self.answers])


transform = v2.Compose(
    [v2.Resize((SIZE, SIZE)), v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]
)


@pytest.fixture()
def vizwiz(tmp_path: Path) -> Path:
    return write_vizwiz_fixture(tmp_path / "data", n_train=10, n_val=5, n_test=3)


def make_dataset(samples: Sequence[VQASample], vocab: CountVocab | None = None) -> VQADataset:
    return VQADataset(samples, WordTokenizer(), transform, vocab)


def test_item_shapes_and_types(vizwiz: Path) -> None:
    vocab = CountVocab(["yes", "no", "red", "unanswerable", ""])
    samples = load_vizwiz(vizwiz, "train")
    dataset = make_dataset(samples, vocab)
    assert len(dataset) == 10
    for index in range(len(dataset)):
        item = dataset[index]
        assert set(item) == {"image", "question", "padding_mask", "targets", "index"}
        assert item["image"].shape == (3, SIZE, SIZE) and item["image"].dtype == torch.float32
        assert item["question"].shape == (LENGTH,) and item["question"].dtype == torch.long
        assert item["padding_mask"].shape == (LENGTH,)
        assert item["padding_mask"].dtype == torch.long
        assert item["targets"].shape == (len(vocab),) and item["targets"].dtype == torch.float32
        assert torch.equal(item["targets"], vocab.targets(samples[index].answers))
        assert item["index"] == index
    unanswerable = next(i for i, s in enumerate(samples) if s.answerable == 0)
    assert dataset[unanswerable]["targets"][3] == 1.0


def test_no_targets_without_vocab_or_answers(vizwiz: Path) -> None:
    assert "targets" not in make_dataset(load_vizwiz(vizwiz, "val"))[0]
    test_item = make_dataset(load_vizwiz(vizwiz, "test"), CountVocab(["yes"]))[0]
    assert set(test_item) == {"image", "question", "padding_mask", "index"}


def test_batches(vizwiz: Path) -> None:
    vocab = CountVocab(["yes", "no"])
    train = make_dataset(load_vizwiz(vizwiz, "train"), vocab)
    batch = next(iter(DataLoader(train, batch_size=4)))
    assert batch["image"].shape == (4, 3, SIZE, SIZE)
    assert batch["targets"].shape == (4, 2)
    assert batch["index"].tolist() == [0, 1, 2, 3]

    mixed = make_dataset(load_vizwiz(vizwiz, "val")[:2] + load_vizwiz(vizwiz, "test")[:2], vocab)
    batch = next(iter(DataLoader(mixed, batch_size=4, collate_fn=collate)))
    assert batch["has_targets"].tolist() == [True, True, False, False]
    assert batch["targets"].shape == (4, 2) and not batch["targets"][2:].any()
    assert "has_targets" not in collate([train[0], train[1]])


def test_trimmed_batches_keep_the_longest_question_and_the_logits() -> None:
    questions = torch.tensor([[0, 7, 8, 2, 1, 1, 1, 1], [0, 9, 2, 1, 1, 1, 1, 1]])
    mask = (questions == 1).long()  # right padding: the longest question has 4 tokens
    batch = trim_padding({"question": questions, "padding_mask": mask, "index": [0, 1]})
    assert batch["question"].tolist() == [[0, 7, 8, 2], [0, 9, 2, 1]]
    assert batch["padding_mask"].tolist() == [[0, 0, 0, 0], [0, 0, 0, 1]]
    assert batch["index"] == [0, 1]
    full = {"question": questions[:, :4], "padding_mask": torch.zeros(2, 4, dtype=torch.long)}
    assert trim_padding(full) == full  # nothing to trim: the same batch

    from vqa.model import create_model

    torch.manual_seed(0)
    model = create_model("beit3_tiny", img_size=32, vocab_size=16, num_answers=5).eval()
    image = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        untrimmed = model(image, questions, mask)
        trimmed = model(image, batch["question"], batch["padding_mask"])
    assert torch.allclose(trimmed, untrimmed, atol=1e-5)


def test_training_batches_are_trimmed(vizwiz: Path) -> None:
    items = list(make_dataset(load_vizwiz(vizwiz, "train")))
    longest = max(int((item["padding_mask"] == 0).sum()) for item in items[:4])
    batch = collate_trimmed(items[:4])
    assert batch["question"].shape == batch["padding_mask"].shape == (4, longest)
    assert torch.equal(batch["question"], collate(items[:4])["question"][:, :longest])


def test_easy_vqa_samples_load() -> None:
    samples = load_easy_vqa("test", limit=3)
    item = make_dataset(samples, CountVocab(easy_vqa_answers()))[2]
    assert item["image"].shape == (3, SIZE, SIZE)
    assert item["targets"].sum() == 1.0


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_image_names_the_file(vizwiz: Path, damage: str) -> None:
    samples = load_vizwiz(vizwiz, "train")
    path = samples[2].image_path
    data = path.read_bytes()
    path.write_bytes(
        {"truncate": data[: len(data) // 2], "garbage": b"\x00junk" * 50, "empty": b""}[damage]
    )
    dataset = make_dataset(load_vizwiz(vizwiz, "train"))  # loading still succeeds: lazy decode
    assert dataset[1]["image"].shape == (3, SIZE, SIZE)
    with pytest.raises(BadImageError, match=f"^{path}: cannot decode image"):
        dataset[2]
    assert issubclass(BadImageError, ValueError)


def test_decompression_bomb_is_a_bad_image(vizwiz: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = load_vizwiz(vizwiz, "val")[0].image_path
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # undone by monkeypatch after the test
    with pytest.raises(BadImageError, match=f"^{path}: .*decompression bomb"):
        load_image(path)


def test_load_image_gives_rgb(tmp_path: Path) -> None:
    for mode in ("L", "RGBA", "P", "CMYK"):
        path = tmp_path / f"{mode}.{'jpg' if mode == 'CMYK' else 'png'}"
        Image.new(mode, (5, 3)).save(path)
        image = load_image(path)
        assert image.mode == "RGB" and image.size == (5, 3)
    with pytest.raises(BadImageError, match="missing.png"):
        load_image(tmp_path / "missing.png")


def test_annotations_round_trip_through_the_vizwiz_loader(vizwiz: Path) -> None:
    for split in ("train", "test"):
        samples = load_vizwiz(vizwiz, split)
        annotation_file, _ = split_paths(vizwiz, split)
        annotation_file.unlink()
        assert write_annotations(samples, annotation_file) == annotation_file
        assert load_vizwiz(vizwiz, split) == samples
    names = sorted(p.name for p in annotation_file.parent.iterdir())
    assert names == ["test.json", "train.json", "val.json"]  # no temporary files left


def test_annotation_format_for_easy_vqa(tmp_path: Path) -> None:
    samples = load_easy_vqa("val", limit=4)
    entries = samples_to_annotations(samples)
    for sample, entry in zip(samples, entries, strict=True):
        assert entry == {
            "image": sample.key,
            "question": sample.question,
            "answers": [{"answer": sample.answers[0], "answer_confidence": "yes"}] * 10,
            "answer_type": sample.answer_type,
            "answerable": 1,
        }
    path = tmp_path / "out" / "val.json"
    path.parent.mkdir()
    path.write_text("old")
    write_annotations(samples, path)
    assert json.loads(path.read_text()) == entries
    assert [p.name for p in path.parent.iterdir()] == ["val.json"]

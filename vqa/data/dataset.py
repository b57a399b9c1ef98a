"""The torch Dataset over ``VQASample`` lists, and the samples' ground truth as VizWiz annotations.

Images are decoded lazily, one per ``__getitem__``, so a split of any size loads instantly and a
corrupt file is reported by name when it is reached. Pillow's decompression-bomb guard stays on.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from PIL import Image
from torch.utils.data import Dataset, default_collate

from vqa.data.sample import VQASample
from vqa.errors import UserError
from vqa.io import atomic_write_bytes


class BadImageError(UserError):
    """An image file that cannot be decoded (corrupt, truncated, too large); names the file."""


class TextEncoder(Protocol):
    """What the dataset needs of a tokenizer (``vqa.tokenizer.Tokenizer`` is one)."""

    def encode(self, text: str) -> tuple[list[int], list[int]]: ...


class TargetVocab(Protocol):
    """What the dataset needs of an answer vocabulary (``vqa.answers.AnswerVocab`` is one)."""

    def __len__(self) -> int: ...

    def targets(self, answers: Sequence[str]) -> torch.Tensor: ...


def load_image(
    path: str | os.PathLike[str], draft: tuple[int, int] | None = None
) -> Image.Image:
    """Decode an image as RGB, turning every decoding failure into a ``BadImageError``.

    ``draft`` lets a JPEG decoder scale down while decoding (to check a file cheaply).
    """
    try:
        with Image.open(path) as image:
            if draft is not None:
                image.draft("RGB", draft)
            return image.convert("RGB")
    # Pillow reports broken files with any of these, depending on the format and the damage.
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise BadImageError(f"{path}: cannot decode image: {exc}") from exc


class VQADataset(Dataset[dict[str, Any]]):
    """Samples as model inputs: image, question ids, padding mask, soft targets, index.

    ``targets`` (a FloatTensor over ``vocab``) is present only with a vocab and only for samples
    with answers; ``collate`` batches a mix of both. ``index`` is the sample's position, so a
    prediction can be traced back to ``samples[index].key``.
    """

    def __init__(
        self,
        samples: Sequence[VQASample],
        tokenizer: TextEncoder,
        transform: Callable[[Image.Image], torch.Tensor],
        vocab: TargetVocab | None = None,
    ) -> None:
        self.samples = samples
        self.tokenizer = tokenizer
        self.transform = transform
        self.vocab = vocab

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.samples[index]
        ids, padding_mask = self.tokenizer.encode(sample.question)
        item: dict[str, Any] = {
            "image": self.transform(load_image(sample.image_path)),
            "question": torch.tensor(ids, dtype=torch.long),
            "padding_mask": torch.tensor(padding_mask, dtype=torch.long),
            "index": index,
        }
        if self.vocab is not None and sample.answers:
            item["targets"] = self.vocab.targets(sample.answers)
        return item


def collate(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``default_collate``, except when only some items have ``targets``.

    Then the missing targets become zeros and ``has_targets`` (BoolTensor[B]) says which rows
    are real, so a mixed batch still stacks.
    """
    with_targets = [("targets" in item) for item in items]
    if any(with_targets) and not all(with_targets):
        zeros = torch.zeros_like(next(item["targets"] for item in items if "targets" in item))
        items = [item if "targets" in item else {**item, "targets": zeros} for item in items]
        batch = default_collate(items)
        batch["has_targets"] = torch.tensor(with_targets)
        return batch
    return default_collate(items)


def trim_padding(batch: dict[str, Any]) -> dict[str, Any]:
    """The batch with the trailing question columns that are padding in every row removed.

    Padding is masked out of attention and sits after every real token, so the logits are
    those of the full-length batch, and a batch pays only for its longest question instead of
    the text length a recipe allows.
    """
    mask = batch["padding_mask"]
    real = int((mask == 0).sum(dim=1).max()) if mask.numel() else 0
    if real >= mask.shape[1]:
        return batch
    keep = max(real, 1)
    return {
        **batch,
        "question": batch["question"][:, :keep],
        "padding_mask": mask[:, :keep],
    }


def collate_trimmed(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """``collate``, then ``trim_padding``: the batches a PyTorch model trains and predicts on."""
    return trim_padding(collate(items))


def samples_to_annotations(samples: Sequence[VQASample]) -> list[dict[str, Any]]:
    """The samples' ground truth as VizWiz annotation entries, so the official metric scores it.

    ``image`` is the sample key; every answer gets confidence "yes". Samples without answers
    become test-style entries (image and question only).
    """
    entries = []
    for sample in samples:
        entry: dict[str, Any] = {"image": sample.key, "question": sample.question}
        if sample.answers:
            entry["answers"] = [
                {"answer": answer, "answer_confidence": "yes"} for answer in sample.answers
            ]
            entry["answer_type"] = sample.answer_type
            entry["answerable"] = sample.answerable
        entries.append(entry)
    return entries


def write_annotations(samples: Sequence[VQASample], path: str | os.PathLike[str]) -> Path:
    """Write ``samples_to_annotations(samples)`` as a JSON file, atomically."""
    text = json.dumps(samples_to_annotations(samples), ensure_ascii=False, indent=1)
    return atomic_write_bytes(path, text.encode("utf-8"))

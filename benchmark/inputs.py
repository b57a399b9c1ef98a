"""Real preprocessed inputs, prepared once a run and shared by every measuring process.

The parent decodes and resizes each image with `vqa.transforms.eval_transform` (the one
definition of preprocessing) and tokenizes each question with the bundle's tokenizer; it stores
the resized images as 8-bit arrays (what the resize produces, 4x smaller than floats) in `.npy`
files. Each measuring process memory-maps them and normalizes with its manifest's mean, std and
scale, so no runtime's process needs torch for preprocessing and a split of any size fits.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vqa.data.spec import DataSpec as SharedSpec
from vqa.data.spec import DataSpecError
from vqa.io import atomic_write_json


@dataclass(frozen=True)
class DataSelection:
    """Which samples to run: a `--data` value (vqa.data.spec), a split and the first `limit`."""

    source: SharedSpec
    split: str
    limit: int | None
    skip_bad: bool = False

    @classmethod
    def parse(
        cls, text: str, split: str = "val", limit: int | None = None, skip_bad: bool = False
    ) -> DataSelection:
        if limit is not None and limit < 1:
            raise DataSpecError(f"--limit must be at least 1, got {limit}")
        return cls(SharedSpec.parse(text), split, limit, skip_bad)

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def root(self) -> Path | None:
        """The VizWiz folder, None for easy-VQA."""
        return self.source.root

    def load(self, progress: bool = True) -> list:
        """The samples (vqa.data.VQASample): the first `limit` usable ones of the split."""
        return list(
            self.source.load(
                self.split, limit=self.limit, skip_bad=self.skip_bad, progress=progress
            )
        )


def normalize(images: np.ndarray, mean: Sequence[float], std: Sequence[float], scale: float):
    """8-bit NCHW images -> float32 as the manifest says: (x * scale - mean) / std."""
    mean_a = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
    std_a = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
    return (images.astype(np.float32) * np.float32(scale) - mean_a) / std_a


class InputCache:
    """Preprocessed samples in a folder: images.npy (uint8), questions.npy, masks.npy, meta.json."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        meta_path = self.folder / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{self.folder}: not an input cache (no meta.json)")
        self.meta = json.loads(meta_path.read_text("utf-8"))
        self.keys: list[str] = self.meta["keys"]
        self.images = np.load(self.folder / "images.npy", mmap_mode="r")
        self.questions = np.load(self.folder / "questions.npy")
        self.masks = np.load(self.folder / "masks.npy")

    def __len__(self) -> int:
        return len(self.keys)

    def batch(
        self, indices: Sequence[int], mean: Sequence[float], std: Sequence[float], scale: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(image float32 [B,3,S,S], question int64 [B,L], padding_mask int64 [B,L])."""
        index = np.asarray(indices)
        images = normalize(np.asarray(self.images[index]), mean, std, scale)
        return images, self.questions[index], self.masks[index]


def cache_key(samples: Sequence, image_size: int, tokenizer_sha256: str, max_len: int) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([image_size, tokenizer_sha256, max_len]).encode())
    for sample in samples:
        digest.update(f"{sample.key}\0{sample.image_path}\0{sample.question}\n".encode())
    return digest.hexdigest()[:16]


def build_input_cache(
    samples: Sequence,
    image_size: int,
    tokenizer_path: Path,
    max_len: int,
    root: Path,
    progress: bool = True,
) -> InputCache:
    """Preprocess `samples` into `root/<key>` unless that cache exists already; open it."""
    from vqa.tokenizer import Tokenizer

    if not samples:
        raise ValueError("no samples to preprocess")
    tokenizer = Tokenizer(tokenizer_path, max_len=max_len)
    folder = (
        root / f"inputs_{image_size}px_{cache_key(samples, image_size, tokenizer.sha256, max_len)}"
    )
    if (folder / "meta.json").is_file():
        return InputCache(folder)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".inputs.", dir=root))
    try:
        _write_cache(samples, image_size, tokenizer, tmp, progress)
        try:
            os.replace(tmp, folder)
        except OSError:  # built meanwhile by another run: keep that one
            shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return InputCache(folder)


def _write_cache(
    samples: Sequence, image_size: int, tokenizer, folder: Path, progress: bool
) -> None:
    import torch

    from vqa.data import load_image
    from vqa.progress import progress_bar
    from vqa.transforms import IMAGE_MEAN, IMAGE_STD, eval_transform

    transform = eval_transform(image_size)
    mean = torch.tensor(IMAGE_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGE_STD).view(3, 1, 1)
    images = np.lib.format.open_memmap(
        folder / "images.npy",
        mode="w+",
        dtype=np.uint8,
        shape=(len(samples), 3, image_size, image_size),
    )
    ids, masks = [], []
    bar = progress_bar(samples, desc="preprocessing inputs", enabled=progress, unit="image")
    for i, sample in enumerate(bar):
        pixels = transform(load_image(sample.image_path))
        as_uint8 = torch.round((pixels * std + mean) * 255).clamp(0, 255).to(torch.uint8).numpy()
        restored = normalize(as_uint8[None], IMAGE_MEAN, IMAGE_STD, 1 / 255)[0]
        if not np.allclose(restored, pixels.numpy(), atol=1e-6, rtol=0):
            raise RuntimeError(
                f"{sample.image_path}: vqa.transforms.eval_transform no longer yields 8-bit "
                "images, which the benchmark's input cache stores"
            )
        images[i] = as_uint8
        question, mask = tokenizer.encode(sample.question)
        ids.append(question)
        masks.append(mask)
    images.flush()
    del images
    np.save(folder / "questions.npy", np.asarray(ids, dtype=np.int64))
    np.save(folder / "masks.npy", np.asarray(masks, dtype=np.int64))
    meta = {
        "keys": [s.key for s in samples],
        "image_size": image_size,
        "max_len": tokenizer.max_len,
        "tokenizer_sha256": tokenizer.sha256,
    }
    atomic_write_json(folder / "meta.json", meta, indent=None)

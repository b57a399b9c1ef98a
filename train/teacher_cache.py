"""Teacher logits computed once and kept on disk, memory-mapped, for distillation.

A cache folder holds `logits.npy` (float32 [samples, answers]), `keys.json` (the sample key of
each row) and `meta.json` (written last: its presence marks a complete cache). The folder name
is derived from the teacher checkpoint's sha256 and from the data: the samples' fingerprint, the
tokenizer, the teacher's image size and the answer list. A different teacher or data set gets
another folder; the same ones reuse it across epochs and runs. Rows are looked up by sample key.

The logits come from the eval transform (no augmentation): one fixed view per sample. A student
trained on augmented views then matches the teacher's opinion of the unaugmented image; that is
the price of computing the teacher once. `--online-teacher` runs the teacher on the very batch
the student sees instead.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from train.data import fingerprint
from train.distributed import Dist, barrier
from train.errors import TrainError
from train.predict import predict_logits
from vqa.data import VQASample
from vqa.errors import NoSpaceError
from vqa.io import atomic_path, atomic_write_json, file_sha256
from vqa.tokenizer import Tokenizer

CACHE_VERSION = 1


class TeacherCache:
    """Read-only memory-mapped teacher logits, addressed by sample key."""

    def __init__(self, folder: Path, samples: Sequence[VQASample]) -> None:
        self.folder = folder
        try:
            self.meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
            keys = json.loads((folder / "keys.json").read_text(encoding="utf-8"))
            self.logits = np.load(folder / "logits.npy", mmap_mode="r")
        except (OSError, ValueError) as err:
            raise TrainError(f"{folder}: unreadable teacher cache ({err}); delete it") from None
        if list(self.logits.shape) != self.meta.get("shape") or len(keys) != len(self.logits):
            raise TrainError(
                f"{folder}: teacher cache holds {list(self.logits.shape)} logits for "
                f"{len(keys)} keys, meta.json says {self.meta.get('shape')}; delete it"
            )
        row_of = {key: i for i, key in enumerate(keys)}
        missing = [s.key for s in samples if s.key not in row_of]
        if missing:
            raise TrainError(f"{folder}: no teacher logits for sample {missing[0]!r}")
        self.rows = torch.tensor([row_of[s.key] for s in samples], dtype=torch.long)

    def __call__(self, indices: torch.Tensor) -> torch.Tensor:
        """Teacher logits of the samples at these positions of the training list."""
        rows = self.rows[indices.cpu()].numpy()
        return torch.from_numpy(np.ascontiguousarray(self.logits[rows]))


def cache_folder(
    root: Path,
    teacher_sha: str,
    samples: Sequence[VQASample],
    tokenizer: Tokenizer,
    img_size: int,
    answers: Sequence[str],
) -> tuple[Path, dict[str, Any]]:
    """Where the cache for this teacher and data lives, and the facts it is tied to."""
    facts = {
        "version": CACHE_VERSION,
        "teacher_sha256": teacher_sha,
        "data_sha256": fingerprint(samples),
        "tokenizer_sha256": tokenizer.sha256,
        "text_len": tokenizer.max_len,
        "img_size": img_size,
        "answers_sha256": hashlib.sha256("\n".join(answers).encode("utf-8")).hexdigest(),
    }
    data_key = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    return root / f"{teacher_sha[:16]}-{data_key[:16]}", facts


def _write(folder: Path, logits: torch.Tensor, keys: list[str], facts: dict[str, Any]) -> None:
    """Logits and keys first, meta.json last: a cache without meta.json is incomplete."""
    shape = tuple(logits.shape)
    with atomic_path(folder / "logits.npy") as tmp:
        array = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
        array[:] = logits.numpy()
        array.flush()
        del array
    atomic_write_json(folder / "keys.json", keys, indent=None)
    atomic_write_json(folder / "meta.json", {**facts, "shape": list(shape)})


def _complete(folder: Path, facts: dict[str, Any]) -> bool:
    meta_path = folder / "meta.json"
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return all(meta.get(k) == v for k, v in facts.items())


def load_or_build(
    teacher: nn.Module,
    teacher_path: Path,
    samples: Sequence[VQASample],
    tokenizer: Tokenizer,
    answers: Sequence[str],
    root: Path,
    ctx: Dist,
    *,
    batch_size: int,
    num_workers: int,
    amp_dtype: torch.dtype | None,
    log: Any = print,
    progress: bool = True,
) -> TeacherCache:
    """Open the matching cache, computing it first (sharded over ranks) when there is none."""
    folder, facts = cache_folder(
        root, file_sha256(teacher_path), samples, tokenizer, teacher.config.img_size, answers
    )
    if not _complete(folder, facts):
        if ctx.is_main:
            log(f"computing teacher logits for {len(samples)} samples into {folder}")
        try:
            logits = predict_logits(
                teacher, samples, tokenizer, ctx, batch_size=batch_size,
                num_workers=num_workers, amp_dtype=amp_dtype,
                progress="teacher logits" if progress else None,
            )
            keys = [s.key for s in samples]
            if ctx.is_main:
                _write(folder, logits, keys, facts)
            barrier(ctx)
            if ctx.local_rank == 0 and not _complete(folder, facts):
                _write(folder, logits, keys, facts)  # this node does not share rank 0's disk
            barrier(ctx)
        except (OSError, NoSpaceError) as err:
            reason = err if isinstance(err, NoSpaceError) else err.strerror or err
            raise TrainError(
                f"{folder}: cannot write the teacher cache ({reason}); "
                "choose another folder with --teacher-cache"
            ) from None
    elif ctx.is_main:
        log(f"reusing teacher logits from {folder}")
    return TeacherCache(folder, samples)

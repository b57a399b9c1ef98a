"""Resumable training state: RNG streams, data position and the run folder's files.

A run folder holds `run.json` (the command and its settings), `last.pth` (our checkpoint format;
its `extra["train_state"]` holds optimizer, scheduler, scaler, RNG states and the data position)
and `best.pth`. Every file is written under a temporary name and renamed, so a kill or a full
disk during a save leaves the previous file in place.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from train.errors import TrainError
from vqa.io import atomic_write_text

RUN_FILE = "run.json"
LAST = "last.pth"
BEST = "best.pth"
LOG = "log.jsonl"
TOKENIZER = "tokenizer.spm"
# What a run writes into its folder; validation predictions are predictions_{split}.json.
RUN_FILES = (RUN_FILE, LAST, BEST, LOG, TOKENIZER)
PREDICTIONS = "predictions_*.json"


def rng_state() -> dict[str, Any]:
    """The RNG streams this process draws from, in tensors and plain types (weights_only-safe)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def run_files(out: Path) -> list[Path]:
    """The files of a run that exist in `out`."""
    return [out / name for name in RUN_FILES if (out / name).exists()] + sorted(
        out.glob(PREDICTIONS)
    )


def remove_stale_temporaries(out: Path) -> None:
    """Temporary files a killed save left behind (never under a final name)."""
    for name in (*RUN_FILES, PREDICTIONS):
        for tmp in out.glob(f".{name}.*.tmp"):
            tmp.unlink(missing_ok=True)


def remove_run_files(out: Path, *, remove_folder: bool) -> None:
    """Delete a run's files (and `out` itself when asked and left empty)."""
    for path in run_files(out):
        path.unlink(missing_ok=True)
    remove_stale_temporaries(out)
    if remove_folder and out.is_dir() and not any(out.iterdir()):
        out.rmdir()


def prepare_out_dir(out: Path, *, resume: bool, overwrite: bool) -> None:
    """Refuse to mix two runs in one folder unless told to continue or replace it."""
    if out.exists() and not out.is_dir():
        raise TrainError(f"{out}: exists and is not a folder")
    has_run = out.is_dir() and bool(run_files(out))
    if resume:
        if not (out / RUN_FILE).is_file():
            raise TrainError(f"{out}: no run to resume (no {RUN_FILE})")
        remove_stale_temporaries(out)
        return
    if has_run and not overwrite:
        raise TrainError(
            f"{out}: holds another run; pass --resume {out} to continue it or --overwrite "
            "to replace it"
        )
    if has_run:
        remove_run_files(out, remove_folder=False)
    out.mkdir(parents=True, exist_ok=True)


def read_run(out: Path) -> dict[str, Any]:
    path = out / RUN_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise TrainError(f"{path}: cannot read the run's settings ({err})") from None


def truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after `step`: the resumed run writes them again."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except json.JSONDecodeError:
            continue
    atomic_write_text(path, "".join(line + "\n" for line in kept))

"""What a run reports: JSON lines in OUT/log.jsonl, TensorBoard when installed, a progress bar.

Only rank 0 reports. The progress bar goes to stderr and switches itself off when stderr is not
a terminal, so logs of batch jobs stay readable.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from vqa.progress import progress_enabled

try:
    from torch.utils.tensorboard import SummaryWriter
except ImportError:  # tensorboard is optional
    SummaryWriter = None


class Tracker:
    def __init__(self, out: Path, *, enabled: bool, progress: bool) -> None:
        self.enabled = enabled
        self.progress = progress and enabled
        self.log_path = out / "log.jsonl"
        self.writer = SummaryWriter(str(out / "tensorboard")) if enabled and SummaryWriter else None
        self.bar: tqdm | None = None

    def print(self, message: str) -> None:
        if self.enabled:
            if self.bar is not None:
                self.bar.write(message)
            else:
                print(message, flush=True)

    def record(self, kind: str, step: int, **values: Any) -> None:
        """One JSON line (and TensorBoard scalars for the numbers)."""
        if not self.enabled:
            return
        entry = {"kind": kind, "step": step, "time": round(time.time(), 3), **values}
        with self.log_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        if self.writer is not None:
            for key, value in _flatten(values).items():
                self.writer.add_scalar(f"{kind}/{key}", value, step)

    def start_epoch(self, epoch: int, total: int, done: int) -> None:
        if self.progress:
            self.bar = tqdm(
                total=total, initial=done, desc=f"epoch {epoch + 1}", unit="step",
                file=sys.stderr, dynamic_ncols=True, leave=False, disable=not progress_enabled(),
            )

    def advance(self, **postfix: Any) -> None:
        if self.bar is not None:
            self.bar.set_postfix(postfix, refresh=False)
            self.bar.update(1)

    def end_epoch(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def close(self) -> None:
        self.end_epoch()
        if self.writer is not None:
            self.writer.close()


def _flatten(values: dict[str, Any], prefix: str = "") -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            flat[f"{prefix}{key}"] = float(value)
    return flat

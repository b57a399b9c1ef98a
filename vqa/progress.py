"""One progress style for every loop a user waits for: tqdm on stderr, off when not a terminal.

Commands switch it off with `--no-progress` (or VQA_PROGRESS=0); it is also off when stderr is
not a terminal, so the logs of batch jobs stay readable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")
PROGRESS_ENV = "VQA_PROGRESS"


def progress_enabled(wanted: bool = True) -> bool:
    """True when a bar should be drawn: wanted, stderr is a terminal, and PROGRESS_ENV is not
    "0" (how a command's --no-progress reaches code it does not call directly)."""
    return wanted and os.environ.get(PROGRESS_ENV, "1") != "0" and sys.stderr.isatty()


def progress_bar(
    items: Iterable[T], *, desc: str, total: int | None = None, enabled: bool = True,
    unit: str = "it",
) -> Iterator[T]:
    """`items`, with a tqdm bar on stderr when `enabled` and stderr is a terminal."""
    return iter(
        tqdm(
            items, desc=desc, total=total, unit=unit, leave=False, dynamic_ncols=True,
            disable=not progress_enabled(enabled), file=sys.stderr,
        )
    )

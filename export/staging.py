"""Bundles appear whole or not at all.

A bundle is built in a hidden sibling folder `.NAME.partial-PID-XXXX` and renamed to NAME only
once it is complete and verified. A process killed mid-way leaves only that hidden folder; the
next export into the same folder removes it (its PID no longer runs). Replacing a bundle
(--overwrite) moves the old one aside first, since a rename cannot replace a non-empty folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from export.errors import ExportError
from vqa.bundle import MANIFEST_NAME
from vqa.io import process_running

_TEMP = re.compile(r"^\.(?P<name>.+)\.(?:partial|replaced)-(?P<pid>\d+)-[0-9a-f]+$")


def _temp_name(final: Path, kind: str) -> Path:
    return final.with_name(f".{final.name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}")


def clean_stale(parent: Path) -> list[Path]:
    """Remove temporary folders left in `parent` by exports that no longer run."""
    removed = []
    if not parent.is_dir():
        return removed
    for entry in parent.iterdir():
        match = _TEMP.match(entry.name)
        if match and entry.is_dir() and not process_running(int(match["pid"])):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def check_replaceable(final: Path, overwrite: bool) -> None:
    """Refuse an existing output unless --overwrite, and never replace what is not a bundle."""
    if not final.exists() and not final.is_symlink():
        return
    if not overwrite:
        raise ExportError(f"{final}: already exists; pass --overwrite to replace it")
    if not final.is_dir() or not (
        (final / MANIFEST_NAME).is_file() or not any(final.iterdir())
    ):
        raise ExportError(
            f"{final}: exists and is not a bundle (no {MANIFEST_NAME}); refusing to replace it"
        )


@contextlib.contextmanager
def staged(final: Path) -> Iterator[Path]:
    """A fresh temporary folder beside `final`, removed if the block fails."""
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = _temp_name(final, "partial")
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def publish(stage: Path, final: Path, overwrite: bool) -> None:
    """Rename the finished `stage` to `final`, replacing an old bundle there if allowed."""
    check_replaceable(final, overwrite)
    old = None
    if final.exists():
        old = _temp_name(final, "replaced")
        os.replace(final, old)
    os.replace(stage, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)

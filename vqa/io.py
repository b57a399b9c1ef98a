"""Atomic file writing, a lock for files several processes change, and file hashes.

A reader, or a crash, sees the old file or the complete new one; a full disk is reported as
"no space left on <path>" and leaves the old file in place. Writers that read a file, change it
and write it back hold `folder_lock` meanwhile, so that two of them never lose each other's work.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vqa.errors import UserError, no_space


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside `path`; renamed over it, after fsync, when the block succeeds.

    A full disk (in the block or in the fsync) raises `vqa.errors.NoSpaceError` naming `path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        full = no_space(err, path) if isinstance(err, Exception) else None
        if full is not None:
            raise full from err
        raise


@contextmanager
def folder_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on `folder` (created when absent) for the duration of the block.

    The lock is `flock` on the folder itself, so no lock file is left behind; it ends with the
    block or with the process, however that ends. Every process that changes a file in `folder`
    through this lock waits for the others.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def check_writable(folder: str | os.PathLike[str], name: str) -> None:
    """Raise UserError naming `name` when no file can be made in `folder` (or, while it does
    not exist, in its nearest existing parent): a read-only file system, no permission, a file
    in the way. Checked before a long run, so that it does not fail at its last step."""
    folder = Path(folder)
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"{name} {folder}: {existing} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as err:
        raise UserError(f"{name} {folder}: cannot write in {existing} ({err.strerror})") from None


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in blocks."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = 2) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def process_running(pid: int) -> bool:
    """Whether process `pid` exists: a leftover of a killed writer is removed only when not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

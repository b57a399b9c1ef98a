"""The record every loader yields, so training and scoring never care where data came from."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class VQASample:
    """One question about one image, with its ground truth when the split has it.

    ``key`` is unique within a data set and is the ``image`` field of prediction and annotation
    files. ``answers`` holds the raw annotator strings (``''`` allowed) and is ``()`` when the
    split has no ground truth (VizWiz test), as are ``answer_type`` and ``answerable`` ``None``.
    """

    key: str
    image_path: Path
    question: str
    answers: tuple[str, ...] = ()
    answer_type: str | None = None
    answerable: int | None = None


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    A reader (or a crash) then sees either the old file or the complete new one, never a part.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "xb") as handle:  # "x": never clobber; plain open keeps the umask's mode
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path

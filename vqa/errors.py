"""How every command ends: the exit codes and the one line that says why (docs/errors.md).

0: done. 2: the user's input was bad (a flag, a file, a bundle, data, a full disk, a read-only
output): one line `error: <culprit>: <problem>` on stderr, nothing half-written. 1: the run worked
but a measured check failed (export parity, a benchmark target): one line `failed: ...` on
stderr, the outputs kept. 130: interrupted (Ctrl-C or SIGTERM).

Every error class that describes a user mistake derives from `UserError`, wherever it is
defined, so that no command keeps its own list; `run_main` turns one into its line and exit code
2, never a traceback. `--debug` on the command line or `VQA_DEBUG=1` in the environment shows the
traceback as well. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

DEBUG_ENV = "VQA_DEBUG"
DEBUG_FLAG = "--debug"
USER_ERROR_EXIT = 2
CHECK_FAILED_EXIT = 1
INTERRUPTED_EXIT = 130
# Less free space than this after a failed write: the write failed because the disk is full.
LOW_SPACE_BYTES = 1 << 20

# OSErrors about the user's files or disk rather than about the code.
_USER_ERRNOS = frozenset({
    errno.ENOENT, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT, errno.EISDIR,
    errno.ENOTDIR, errno.EEXIST, errno.EROFS, errno.ENAMETOOLONG, errno.ENOTEMPTY, errno.ELOOP,
})


class UserError(ValueError):
    """A mistake in what the user gave (flag, file, data); the message names it and the problem."""


class NoSpaceError(UserError):
    """The disk holding `path` is full; whatever was there before the write is kept."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(f"no space left on {path}")
        self.path = path


def no_space(err: BaseException, path: str | os.PathLike[str]) -> NoSpaceError | None:
    """A NoSpaceError for `path` when `err` (or what caused it) is a full disk, else None.

    torch reports a failed write as a RuntimeError ("file write failed", "unexpected pos"),
    ONNX Runtime and protobuf in their own words; the errno of the OSError underneath, or
    less than LOW_SPACE_BYTES left on the file system of `path`, tells that the disk is full.
    """
    seen, visited = err, set()
    while seen is not None and id(seen) not in visited:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return NoSpaceError(path)
        visited.add(id(seen))
        seen = seen.__cause__ or seen.__context__
    text = str(err).lower()
    if "no space left" in text or "disk full" in text or "enospc" in text:
        return NoSpaceError(path)
    if _free_bytes(path) < LOW_SPACE_BYTES:
        return NoSpaceError(path)
    return None


def _free_bytes(path: str | os.PathLike[str]) -> int:
    """Free bytes on the file system of `path` (or of its nearest existing parent)."""
    for folder in (Path(path), *Path(path).absolute().parents):
        try:
            return shutil.disk_usage(folder).free
        except OSError:
            continue
    return LOW_SPACE_BYTES


def one_line(err: BaseException) -> str:
    """The message of `err` on one line.

    DataLoader workers re-raise an error with the worker's traceback in its message; only the
    original message (its last line, without the exception's class name) matters to a user.
    """
    text = str(err).strip()
    if "Original Traceback" in text:
        last = text.splitlines()[-1]
        name, sep, message = last.partition(": ")
        text = message if sep and (name.endswith("Error") or "." in name) else last
    return " ".join(text.split()) or type(err).__name__


def user_message(err: BaseException) -> str | None:
    """The one line a user sees for `err`, or None when `err` is a bug (keep its traceback)."""
    if isinstance(err, OSError) and err.errno in _USER_ERRNOS:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            return str(NoSpaceError(err.filename or "the disk"))
        reason = err.strerror or one_line(err)
        return f"{err.filename}: {reason}" if err.filename else reason
    if isinstance(err, UserError):
        return one_line(err)
    return None


def check_failed(message: str) -> int:
    """Say on stderr that a measured check failed (`failed: <message>`); returns exit code 1."""
    print(f"failed: {' '.join(message.split())}", file=sys.stderr)
    return CHECK_FAILED_EXIT


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def debug_requested(argv: Sequence[str]) -> bool:
    """True when the user asked for tracebacks (`--debug` or VQA_DEBUG=1)."""
    return DEBUG_FLAG in argv or os.environ.get(DEBUG_ENV, "") not in ("", "0")


def run_main(
    main: Callable[[list[str]], int | None],
    argv: Sequence[str] | None = None,
) -> int:
    """Run a command's `main(argv)` and turn user errors into one line and exit code 2.

    Ctrl-C, and SIGTERM where the command set no handler of its own, end with 130 and one line
    (cleaning up as for Ctrl-C). argparse's own usage errors keep its two lines (usage, then the
    error) and exit code 2.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = debug_requested(argv)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if on_main_thread else None
    if previous == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        return main(argv) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return INTERRUPTED_EXIT
    except Exception as err:
        message = user_message(err)
        if message is None:
            raise
        if debug:
            traceback.print_exc()
        print(f"error: {message}", file=sys.stderr)
        return USER_ERROR_EXIT
    finally:
        if previous == signal.SIG_DFL and signal.getsignal(signal.SIGTERM) is _interrupt:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)

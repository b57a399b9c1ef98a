"""Child processes of a benchmark run end with it, even when the run is killed with SIGKILL.

On Linux the kernel does it: the harness starts each child with a parent-death signal
(prctl PR_SET_PDEATHSIG, SIGKILL), in force from before the child's first instruction. Elsewhere,
and as a second guard, the harness names itself in the child's environment (WATCH_ENV = its
process id) and a child that calls `exit_with_parent()` watches, from a daemon thread, whether
its parent is still that process (an orphan is re-parented, to init or a subreaper); then it
ends its whole process group at once. Either way no measuring process is left running (holding
gigabytes) with parent 1.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

WATCH_ENV = "BENCHMARK_PARENT_PID"
"""Set by the harness for its children: the process id they must outlive no longer than
POLL_S."""
POLL_S = 0.2
PARENT_GONE_EXIT = 75
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A `preexec_fn`: SIGKILL this child when its parent dies (Linux; a no-op elsewhere)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def end_now() -> None:
    """End this process, and its process group when it leads one (the harness starts every
    child in a session of its own), without waiting for runtime threads."""
    if os.getpgid(0) == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os._exit(PARENT_GONE_EXIT)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_S)
    end_now()


def exit_with_parent() -> None:
    """End this process within POLL_S of its parent's death, when the harness asked for it."""
    parent = os.environ.get(WATCH_ENV)
    if parent and parent.isdigit():
        threading.Thread(target=_watch, args=(int(parent),), daemon=True).start()

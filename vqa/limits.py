"""Upper bounds checked before a command allocates: sizes and counts this machine can hold.

Without them a flag such as `--img-size 100000` has the kernel kill the process at tens of
gigabytes, without a word. Each check raises a UserError that names the flag, the limit and why.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from vqa.errors import UserError

GB = 1e9
FLOAT_BYTES = 4
# A VizWiz look-alike for tests and demos: its images are drawn up to 1.5 times this large.
MAX_FIXTURE_SIDE = 4096


def available_memory() -> int:
    """Bytes of memory this process can still get: MemAvailable of /proc/meminfo, or the
    cgroup's room when smaller; physical memory where neither is readable (macOS)."""
    room = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                room = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        cgroup = Path("/sys/fs/cgroup")
        limit = (cgroup / "memory.max").read_text().strip()
        if limit != "max":
            used = int((cgroup / "memory.current").read_text())
            room = min(room or math.inf, int(limit) - used)
    except (OSError, ValueError):
        pass
    if room is None:
        room = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return int(room)


def check_image_size(
    img_size: int, patch_size: int, heads: int, batch_size: int, text_len: int,
    flag: str = "--img-size",
) -> None:
    """Refuse an image size whose attention maps cannot fit in memory.

    A sample of S px has (S / patch)^2 image tokens plus the question's; one layer's attention
    scores for a batch take batch x heads x tokens^2 floats, a lower bound of what a forward
    pass holds at once. More than the memory available here cannot run.
    """
    tokens = (img_size // patch_size) ** 2 + text_len
    needed = batch_size * heads * tokens**2 * FLOAT_BYTES
    room = available_memory()
    if needed <= room:
        return
    most_tokens = int(math.sqrt(room / (batch_size * heads * FLOAT_BYTES)))
    fits = math.isqrt(max(most_tokens - text_len, 1))
    raise UserError(
        f"{flag} {img_size}: {tokens} tokens a sample; one layer's attention scores for a batch "
        f"of {batch_size} alone take {needed / GB:.3g} GB, more than the {room / GB:.3g} GB of "
        f"memory available here (at most about {max(fits, 1) * patch_size} px fits)"
    )


def check_fixture_size(width: int, height: int) -> None:
    """Refuse fixture images larger than MAX_FIXTURE_SIDE a side (see there)."""
    if max(width, height) > MAX_FIXTURE_SIDE:
        raise UserError(
            f"--img-size {width} {height}: at most {MAX_FIXTURE_SIDE} pixels a side; the fixture "
            "is for tests and demos, and its images are drawn up to 1.5 times larger"
        )


def check_threads(threads: int, cpus: int, flag: str = "--threads") -> None:
    """Refuse more threads than the CPUs this process may run on: the extra threads would only
    wait for a CPU, so a measurement would time the scheduler, and each adds its buffers."""
    if threads > cpus:
        raise UserError(
            f"{flag} {threads}: this process may run on {cpus} CPUs; give at most {cpus} "
            "(more threads than CPUs time the scheduler, not the model)"
        )

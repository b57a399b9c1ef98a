"""What the host is, for the `device` field of a row, and how many CPUs this process may use."""

from __future__ import annotations

import os
import platform
from functools import cache
from pathlib import Path


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask), the default thread count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity masks
        return os.cpu_count() or 1


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text("utf-8", errors="replace").splitlines():
            if line.startswith(("model name", "Hardware")):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown CPU"


@cache
def host_device() -> dict:
    """The `device` object of rows measured on this machine."""
    return {
        "kind": "host",
        "name": _cpu_name(),
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "cpu_count": available_cpus(),
    }

"""Facts about the machine running the export that decide what can be verified here."""

from __future__ import annotations

import platform
from functools import cache
from pathlib import Path

TARGETS = ("arm64", "x86_64")
_MACHINE_TARGETS = {"x86_64": "x86_64", "amd64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}


def host_target() -> str:
    """This CPU as an export target (arm64 for an unknown one: phones are the default audience)."""
    return _MACHINE_TARGETS.get(platform.machine().lower(), "arm64")


@cache
def runs_signed_int8_matmul_exactly() -> bool:
    """Whether onnxruntime's u8s8 integer matmul is exact on this CPU.

    On x86 without VNNI it uses saturating 16-bit sums (vpmaddubsw) and QInt8 weights give wrong
    logits (measured: 56-72 % top-1 agreement). ARM CPUs and x86 CPUs with VNNI are exact.
    """
    if host_target() == "arm64":
        return True
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return False
    flags = set()
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
            break
    return bool(flags & {"avx512_vnni", "avx_vnni"})


def is_macos() -> bool:
    return platform.system() == "Darwin"

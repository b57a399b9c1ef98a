"""Facts about this CPU that decide which int8 kernels are right and which can be checked here."""

from __future__ import annotations

import platform
from functools import cache
from pathlib import Path

TARGETS = ("arm64", "x86_64")
_MACHINE_TARGETS = {"x86_64": "x86_64", "amd64": "x86_64", "arm64": "arm64", "aarch64": "arm64"}
VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})


def host_target() -> str:
    """This CPU as an export target (arm64 for an unknown one: phones are the default audience)."""
    return _MACHINE_TARGETS.get(platform.machine().lower(), "arm64")


@cache
def cpu_flags() -> frozenset[str]:
    """The flags /proc/cpuinfo lists for the first CPU (empty where there is no such file)."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return frozenset()
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            return frozenset(line.partition(":")[2].split())
    return frozenset()


def has_vnni() -> bool:
    """Whether this x86 CPU has VNNI (AVX-512 VNNI or AVX-VNNI) int8 dot products."""
    return bool(cpu_flags() & VNNI_FLAGS)


def runs_signed_int8_matmul_exactly() -> bool:
    """Whether onnxruntime's u8s8 integer matmul without reduce_range is exact on this CPU.

    On x86 without VNNI it uses saturating 16-bit sums (vpmaddubsw) and full-range QInt8 weights
    give wrong logits (measured: 56-72 % top-1 agreement); reduce_range (7-bit weights) avoids
    the saturation. ARM CPUs and x86 CPUs with VNNI are exact.
    """
    return host_target() == "arm64" or has_vnni()

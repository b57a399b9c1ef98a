"""Facts about the machine running the export that decide what can be verified here."""

from __future__ import annotations

import platform

from vqa.runtimes.host import TARGETS, host_target, runs_signed_int8_matmul_exactly

__all__ = ["TARGETS", "host_target", "is_macos", "runs_signed_int8_matmul_exactly"]


def is_macos() -> bool:
    return platform.system() == "Darwin"

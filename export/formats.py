"""What every format module provides, found by name through the format registry (vqa.formats).

A format module, named after the runtime that runs it (lite_interpreter, onnx_runtime, coreml,
executorch_runtime, so none shadows the package it imports), defines one `FormatSpec`: which
precisions it can produce (and why not the others), how it writes its model file(s) into a
bundle folder, the static checks it runs on them, and how its real runtime runs them for the
parity check.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from export.errors import ExportError
from vqa.formats import FORMAT_NAMES as FORMAT_NAMES
from vqa.formats import PRECISIONS as PRECISIONS
from vqa.formats import bundle_format
from vqa.runtimes import INPUT_NAMES as INPUT_NAMES
from vqa.runtimes import OUTPUT_NAME as OUTPUT_NAME

DEPLOYMENT_TARGETS = ("iOS16", "iOS17", "iOS18")
"""Core ML minimum deployment targets offered (ML programs need iOS 15; int8 weights iOS 16)."""

INT4_MIN_BLOCKS = 4
"""Scales a row of the narrowest weight matrix must get for a format's preferred block size."""
INT4_NARROW_BLOCK = 32
"""The 4-bit block size of models narrower than that (two scales a row at width 64)."""

Inputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor]
"""image float32 [B,3,S,S], question int64 [B,L], padding_mask int64 [B,L] (1 on pads)."""


@dataclass(frozen=True)
class ExportSettings:
    """What one bundle is exported for."""

    precision: str
    target: str
    img_size: int
    text_len: int
    num_answers: int
    coreml_deployment_target: str = "iOS17"
    x86_vnni: bool = False
    """An x86_64 target with VNNI: int8 kernels may use full-range int8 weights."""
    width: int = 768
    """The model's embedding width: the input count of its narrowest weight matrices."""

    def int4_block(self, preferred: int) -> int:
        """The format's preferred 4-bit block size, or 32 for a model too narrow for it.

        A row of weights needs several scales: the 64-wide easy-VQA student with blocks of 128
        (one scale a row) failed the int4 agreement gate in ONNX and ExecuTorch, and Core ML
        cannot block its rows at all. BEiT-3's widths (768, 1024) take the preferred size.
        """
        return preferred if self.width >= INT4_MIN_BLOCKS * preferred else INT4_NARROW_BLOCK


@dataclass
class Artifact:
    """What a format module wrote, described for the manifest."""

    model_file: str
    ids_dtype: Literal["int64", "int32"] = "int64"
    dynamic_batch: bool = True
    quantization: dict[str, Any] = field(default_factory=lambda: {"scheme": "none"})
    runtime: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ParityPlan:
    """How parity can be measured here: "check" (enforced), "pending-target" (measured but
    not trusted on this CPU, so not enforced) or "pending-macos" (cannot run here at all)."""

    status: Literal["check", "pending-target", "pending-macos"] = "check"
    note: str = ""


@dataclass(frozen=True)
class FormatSpec:
    name: str
    default_precision: str
    unsupported: dict[str, str]
    """Precisions this format cannot produce, each with the reason shown to the user."""
    export: Callable[[nn.Module, Inputs, Path, ExportSettings], Artifact]
    check: Callable[[Path, Artifact, ExportSettings], dict[str, Any]] | None = None
    """Static checks of the written files; returns facts for the manifest's runtime section."""
    runtime_files: Callable[[str], list[str]] = lambda model_file: [model_file]
    """Every file of a bundle its runtime loads (through `vqa.runtimes`), given the model_file:
    e.g. model.onnx and model.ort."""
    parity_plan: Callable[[ExportSettings], ParityPlan] = lambda settings: ParityPlan()
    target_dependent: Callable[[str], bool] = lambda precision: False
    """Whether the files depend on --target for this precision (then the folder name says it)."""

    def why_not(self, precision: str) -> str | None:
        return self.unsupported.get(precision)


def get_format(name: str) -> FormatSpec:
    """The spec of a format; its module (and heavy converter imports) load only when asked."""
    if name not in FORMAT_NAMES:
        raise ExportError(f"unknown format {name!r}; choose from {', '.join(FORMAT_NAMES)}, all")
    return importlib.import_module(f"export.{bundle_format(name).module}").FORMAT


def parse_formats(values: list[str]) -> list[str]:
    """Format names from the command line: several, comma-separated or "all", in canonical order."""
    names = {part.strip() for value in values for part in value.split(",") if part.strip()}
    if not names:
        raise ExportError("no format given; choose from " + ", ".join(FORMAT_NAMES) + ", all")
    unknown = sorted(names - set(FORMAT_NAMES) - {"all"})
    if unknown:
        raise ExportError(
            f"unknown format {', '.join(map(repr, unknown))}; choose from "
            f"{', '.join(FORMAT_NAMES)}, all"
        )
    if "all" in names:
        return list(FORMAT_NAMES)
    return [name for name in FORMAT_NAMES if name in names]


def to_numpy(logits: Any) -> np.ndarray:
    if isinstance(logits, torch.Tensor):
        logits = logits.detach().numpy()
    return np.asarray(logits, dtype=np.float32)

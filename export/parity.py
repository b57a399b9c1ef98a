"""Parity: an artifact's logits in its own runtime against the PyTorch fp32 model's.

Two figures: the largest absolute logit difference and the share of inputs whose top-1 answer is
the same. Each input runs alone (batch 1, as on a phone); artifacts with a dynamic batch also run
the first inputs as one batch, so the batch dimension is checked too. Artifacts load through
`vqa.runtimes`, the loaders the benchmark's runners use as well.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from export.formats import Artifact, FormatSpec, to_numpy
from export.inputs import ParityInputs
from vqa import runtimes
from vqa.runtimes import LoadedModel, RuntimeOptions

BATCH_CHECK = 2


@dataclass(frozen=True)
class Thresholds:
    max_abs_diff: float | None = None
    min_top1: float | None = None

    def replace(self, max_abs_diff: float | None, min_top1: float | None) -> Thresholds:
        """These thresholds with the given ones (those not None) in place."""
        changes = {"max_abs_diff": max_abs_diff, "min_top1": min_top1}
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})

    def to_dict(self) -> dict[str, float]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


DEFAULT_THRESHOLDS = {
    "fp32": Thresholds(max_abs_diff=1e-3, min_top1=1.0),
    "fp16": Thresholds(min_top1=0.98),
    "int8": Thresholds(min_top1=0.98),
    "int4": Thresholds(min_top1=0.95),
}
"""int4 is coarser: 16 levels a block of 32 weights. Its gate holds on trained models (see
tests/test_export_int4.py), where top-1 answers are not near-ties as on random weights."""


@dataclass(frozen=True)
class Figures:
    n_inputs: int
    max_abs_diff: float
    top1_agreement: float

    def worst(self, other: Figures) -> Figures:
        return Figures(
            n_inputs=min(self.n_inputs, other.n_inputs),
            max_abs_diff=max(self.max_abs_diff, other.max_abs_diff),
            top1_agreement=min(self.top1_agreement, other.top1_agreement),
        )

    def describe(self) -> str:
        return (
            f"max |diff| {self.max_abs_diff:.2e}, top-1 {100 * self.top1_agreement:.1f} % "
            f"of {self.n_inputs}"
        )


def compare(reference: np.ndarray, outputs: np.ndarray) -> Figures:
    if outputs.shape != reference.shape:
        raise ValueError(f"logits of shape {outputs.shape}, expected {reference.shape}")
    if not np.isfinite(outputs).all():
        return Figures(len(reference), float("inf"), 0.0)
    agree = outputs.argmax(axis=1) == reference.argmax(axis=1)
    return Figures(
        n_inputs=len(reference),
        max_abs_diff=float(np.abs(outputs.astype(np.float64) - reference).max()),
        top1_agreement=float(agree.mean()),
    )


@torch.no_grad()
def reference_logits(model: torch.nn.Module, inputs: ParityInputs, batch: int = 8) -> np.ndarray:
    """The fp32 PyTorch model's logits, the reference every artifact is compared with."""
    chunks = [to_numpy(model(*inputs.batch(i, i + batch))) for i in range(0, len(inputs), batch)]
    return np.concatenate(chunks)


def load_runtimes(
    spec: FormatSpec, folder: Path, artifact: Artifact
) -> list[tuple[str, LoadedModel]]:
    """(file name, loaded model) for every file of the artifact its runtime loads."""
    options = RuntimeOptions(
        input_dtypes=("float32", artifact.ids_dtype, artifact.ids_dtype),
        quantized_engine=artifact.runtime.get("quantized_engine"),
    )
    return [
        (name, runtimes.load(spec.name, folder / name, options))
        for name in spec.runtime_files(artifact.model_file)
    ]


def measure(
    model: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    inputs: ParityInputs,
    reference: np.ndarray,
    dynamic_batch: bool,
) -> Figures:
    """Figures of `model` (a LoadedModel, or any function of numpy inputs to logits)."""

    def run(start: int, stop: int) -> np.ndarray:
        return model(*(tensor.numpy() for tensor in inputs.batch(start, stop)))

    single = np.concatenate([run(i, i + 1) for i in range(len(inputs))])
    figures = compare(reference, single)
    if dynamic_batch and len(inputs) >= BATCH_CHECK:
        batched = compare(reference[:BATCH_CHECK], run(0, BATCH_CHECK))
        figures = Figures(
            figures.n_inputs,
            max(figures.max_abs_diff, batched.max_abs_diff),
            figures.top1_agreement,
        )
    return figures


def violations(figures: Figures, thresholds: Thresholds) -> list[str]:
    """The thresholds the figures break, in words (empty when parity holds)."""
    broken = []
    if thresholds.max_abs_diff is not None and not figures.max_abs_diff <= thresholds.max_abs_diff:
        broken.append(
            f"max |diff| {figures.max_abs_diff:.3g} > {thresholds.max_abs_diff:.3g}"
        )
    if thresholds.min_top1 is not None and figures.top1_agreement < thresholds.min_top1:
        broken.append(
            f"top-1 agreement {100 * figures.top1_agreement:.1f} % < "
            f"{100 * thresholds.min_top1:.1f} %"
        )
    return broken


def manifest_entry(
    status: str,
    inputs: ParityInputs,
    thresholds: Thresholds,
    figures: Figures | None,
    note: str = "",
) -> dict[str, Any]:
    """The manifest's `parity` object."""
    entry: dict[str, Any] = {
        "status": status,
        "reference": "pytorch-fp32",
        "n_inputs": figures.n_inputs if figures else 0,
        "max_abs_diff": figures.max_abs_diff if figures else None,
        "top1_agreement": figures.top1_agreement if figures else None,
        "thresholds": thresholds.to_dict(),
        "inputs_from": inputs.origin,
    }
    if note:
        entry["note"] = note
    return entry

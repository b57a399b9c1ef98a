"""Parity: an artifact's logits in its own runtime against the PyTorch fp32 model's.

Two figures: the largest absolute logit difference and the share of inputs whose top-1 answer is
the same. Each input runs alone (batch 1, as on a phone); artifacts with a dynamic batch also run
the first inputs as one batch, so the batch dimension is checked too. Artifacts load through
`vqa.runtimes`, the loaders the benchmark's runners use as well.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from export.errors import ParityError
from export.formats import Artifact, FormatSpec, to_numpy
from export.inputs import ParityInputs
from vqa import runtimes
from vqa.runtimes import LoadedModel, RuntimeOptions
from vqa.runtimes.emulated import (
    DEFAULT_CPU,
    ArmRuntime,
    ArmRuntimeMissing,
    missing_reason,
)
from vqa.runtimes.emulated import FORMATS as EMULATED_FORMATS

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


def parity_calls(inputs: ParityInputs, dynamic_batch: bool) -> list[list[np.ndarray]]:
    """The runtime calls parity makes: every input alone, then the batch check where allowed."""
    spans = [(i, i + 1) for i in range(len(inputs))]
    if dynamic_batch and len(inputs) >= BATCH_CHECK:
        spans.append((0, BATCH_CHECK))
    return [[tensor.numpy() for tensor in inputs.batch(*span)] for span in spans]


def figures_of(reference: np.ndarray, outputs: Sequence[np.ndarray]) -> Figures:
    """Figures of the logits of `parity_calls` (in their order) against the reference."""
    figures = compare(reference, np.concatenate(outputs[: len(reference)]))
    if len(outputs) > len(reference):
        batched = compare(reference[:BATCH_CHECK], outputs[len(reference)])
        figures = Figures(
            figures.n_inputs,
            max(figures.max_abs_diff, batched.max_abs_diff),
            figures.top1_agreement,
        )
    return figures


def measure(
    model: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    inputs: ParityInputs,
    reference: np.ndarray,
    dynamic_batch: bool,
) -> Figures:
    """Figures of `model` (a LoadedModel, or any function of numpy inputs to logits)."""
    calls = parity_calls(inputs, dynamic_batch)
    return figures_of(reference, [model(*call) for call in calls])


def measure_emulated(
    runtime: ArmRuntime,
    spec: FormatSpec,
    folder: Path,
    artifact: Artifact,
    inputs: ParityInputs,
    reference: np.ndarray,
    cpu: str = DEFAULT_CPU,
) -> tuple[list[tuple[str, Figures]], dict[str, Any]]:
    """(file name, figures) of every runtime file of the artifact on emulated arm64 kernels,
    and the kernels they ran on (emulated CPU, its features, the emulator)."""
    options = {
        "input_dtypes": ["float32", artifact.ids_dtype, artifact.ids_dtype],
        "quantized_engine": artifact.runtime.get("quantized_engine"),
        "threads": 1,
    }
    calls = parity_calls(inputs, artifact.dynamic_batch)
    measured, run = [], None
    for name in spec.runtime_files(artifact.model_file):
        outputs, run = runtime.run(spec.name, folder / name, options, calls, cpu)
        measured.append((name, figures_of(reference, outputs)))
    return measured, run.kernels()


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
    kernels: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest's `parity` object; `kernels` where they were not this host's own."""
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
    if kernels:
        entry["kernels"] = kernels
    return entry


def emulated_parity(
    spec: FormatSpec,
    folder: Path,
    artifact: Artifact,
    target: str,
    inputs: ParityInputs,
    reference: np.ndarray,
    thresholds: Thresholds,
    host_figures: Figures,
    log: Callable[[str], None],
) -> tuple[dict[str, Any] | None, str]:
    """Parity of an arm64 artifact that this host's kernels cannot judge, on emulated arm64
    kernels (`make arm64-runtime`), enforced like any other: (manifest entry, "") or, where no
    emulated run could be made, (None, why not). Raises ParityError when parity fails there."""
    if target != "arm64" or spec.name not in EMULATED_FORMATS:
        return None, f"no emulated arm64 runtime for {spec.name}"
    missing = missing_reason()
    if missing:
        return None, f"not measured on emulated arm64 kernels: {missing}"
    log(f"measuring parity on emulated arm64 kernels (QEMU_CPU={DEFAULT_CPU}; slow)")
    try:
        measured, kernels = measure_emulated(
            ArmRuntime(), spec, folder, artifact, inputs, reference
        )
    except ArmRuntimeMissing as err:
        return None, f"the emulated arm64 run failed: {err}"
    for name, figures in measured:
        log(f"parity of {name} on emulated arm64 kernels: {figures.describe()}")
    figures = functools.reduce(Figures.worst, (figures for _, figures in measured))
    where = f"emulated arm64 kernels (qemu-user, QEMU_CPU={kernels['qemu_cpu']})"
    broken = violations(figures, thresholds)
    if broken:
        raise ParityError(
            f"parity on {where} failed against the PyTorch fp32 model on {figures.n_inputs} "
            "inputs: " + "; ".join(broken)
        )
    names = " and ".join(name for name, _ in measured)
    note = (
        f"measured on {where}, worst of {names}; this host's x86 kernels, which compute "
        f"full-range int8 weights wrongly: {host_figures.describe()}"
    )
    return manifest_entry("passed", inputs, thresholds, figures, note, kernels), ""

"""One export run: check the request, load the source once, then build, verify and publish one
bundle per format and precision.

Everything that can be checked before the slow work is checked first (formats, precisions,
existing outputs, checkpoint, tokenizer, answers). A bundle that fails its checks is removed and
reported; the others are still built.
"""

from __future__ import annotations

import functools
import gc
import os
import shutil
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from export.errors import ExportError, ParityError
from export.formats import (
    DEPLOYMENT_TARGETS,
    FORMAT_NAMES,
    PRECISIONS,
    Artifact,
    ExportSettings,
    FormatSpec,
    get_format,
    parse_formats,
)
from export.host import TARGETS, host_target
from export.inputs import ParityInputs, parity_inputs
from export.manifest import build_manifest, write_support_files
from export.parity import (
    DEFAULT_THRESHOLDS,
    Figures,
    Thresholds,
    emulated_parity,
    load_runtimes,
    manifest_entry,
    measure,
    reference_logits,
    violations,
)
from export.source import Source, load_source
from export.staging import check_replaceable, clean_stale, publish, staged
from export.vocab import apply_vocab_cut
from vqa.bundle import BundleError, read_bundle, write_manifest
from vqa.errors import no_space, user_message

Log = Callable[[str], None]
# Beside the bundle's name: the files of an export whose parity check failed, kept to inspect.
PARITY_FAILED_SUFFIX = ".parity-failed"


@dataclass
class ExportRequest:
    """What to export and how; mirrors the command line."""

    checkpoint: Path
    formats: Sequence[str] = ("all",)
    """Format names, "all", or comma-separated lists of them."""
    precision: str | None = None
    """None: each format's default (fp16 for Core ML, fp32 for the others)."""
    target: str = field(default_factory=host_target)
    img_size: int | None = None
    out_dir: Path | None = None
    overwrite: bool = False
    name: str | None = None
    """First part of the bundle folders' names (default: the checkpoint's file name)."""
    arch: str | None = None
    tokenizer: Path | None = None
    answers: Path | None = None
    trust_checkpoint: bool = False
    data: str | None = None
    data_split: str = "val"
    parity_inputs: int = 16
    max_abs_diff: float | None = None
    min_top1: float | None = None
    coreml_deployment_target: str = "iOS17"
    x86_vnni: bool = False
    debug: bool = False
    vocab_from: str | None = None
    """Cut tokenizer and text embedding to the train and val questions of this data set."""
    vocab_words: Path | None = None
    """A word list whose pieces the vocabulary cut keeps as well (with vocab_from)."""


@dataclass
class BundleResult:
    format: str
    precision: str
    path: Path
    status: str
    """passed, pending-macos, pending-target or failed."""
    model_bytes: int | None = None
    bundle_bytes: int | None = None
    export_seconds: float | None = None
    figures: Figures | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status != "failed"


@dataclass(frozen=True)
class _Job:
    spec: FormatSpec
    precision: str


def plan(request: ExportRequest, log: Log) -> list[_Job]:
    """The (format, precision) pairs to build; a precision a named format cannot do is an error.

    With all formats and --fp16, the formats without fp16 are left out with a note instead.
    """
    if request.precision not in (None, *PRECISIONS):
        raise ExportError(f"unknown precision {request.precision!r}; choose from {PRECISIONS}")
    if request.target not in TARGETS:
        raise ExportError(f"unknown target {request.target!r}; choose from {', '.join(TARGETS)}")
    if request.coreml_deployment_target not in DEPLOYMENT_TARGETS:
        raise ExportError(
            f"unknown Core ML deployment target {request.coreml_deployment_target!r}; choose "
            f"from {', '.join(DEPLOYMENT_TARGETS)}"
        )
    if request.parity_inputs < 1:
        raise ExportError(f"--parity-inputs must be at least 1, got {request.parity_inputs}")
    jobs, refused = [], []
    names = parse_formats(list(request.formats))
    every_format = names == list(FORMAT_NAMES)
    for name in names:
        spec = get_format(name)
        precision = request.precision or spec.default_precision
        reason = spec.why_not(precision)
        if reason is None:
            jobs.append(_Job(spec, precision))
        elif every_format:
            log(f"{name}: left out, no {precision}: {reason}")
        else:
            refused.append(f"{name} cannot export {precision}: {reason}")
    if refused:
        raise ExportError("; ".join(refused))
    coreml_int4 = any(job.spec.name == "coreml" and job.precision == "int4" for job in jobs)
    if coreml_int4 and request.coreml_deployment_target in ("iOS16", "iOS17"):
        raise ExportError(
            f"--coreml-target {request.coreml_deployment_target}: Core ML 4-bit weights "
            "(per-block int4) need iOS18; pass --coreml-target iOS18"
        )
    if not jobs:
        raise ExportError(f"no format can export {request.precision}")
    return jobs


def bundle_path(request: ExportRequest, source: Source, job: _Job) -> Path:
    """DIR/<name or checkpoint stem>-<format>-<precision>[-<target>][-<size>px][-vocabcut]."""
    name = f"{request.name or source.checkpoint.stem}-{job.spec.name}-{job.precision}"
    if job.spec.target_dependent(job.precision):
        name += f"-{request.target}" + ("-vnni" if _vnni(request) else "")
    if source.img_size != source.native_img_size:
        name += f"-{source.img_size}px"
    if source.vocab_cut:
        name += "-vocabcut"
    return Path(request.out_dir or source.checkpoint.parent) / name


def _vnni(request: ExportRequest) -> bool:
    return request.x86_vnni and request.target == "x86_64"


def _prefixed(log: Log, prefix: str) -> Log:
    return lambda message: log(f"{prefix}: {message}")


def _example(inputs: ParityInputs) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A batch of two real inputs: a batch of one would let torch.export fix the batch at 1."""
    if len(inputs) >= 2:
        return inputs.batch(0, 2)
    return tuple(torch.cat([t, t]) for t in inputs.batch(0, 1))


def export_bundles(request: ExportRequest, log: Log = print) -> list[BundleResult]:
    """Export every requested bundle; bad input raises ExportError before anything is written."""
    jobs = plan(request, log)
    log(f"reading {request.checkpoint}")
    source = load_source(
        request.checkpoint,
        arch=request.arch,
        img_size=request.img_size,
        tokenizer=request.tokenizer,
        answers=request.answers,
        trust_checkpoint=request.trust_checkpoint,
    )
    if request.vocab_from:
        source = apply_vocab_cut(source, request.vocab_from, request.vocab_words, log)
    elif request.vocab_words:
        raise ExportError("--vocab-words needs --vocab-from DATA (the questions to cut to)")
    paths = [bundle_path(request, source, job) for job in jobs]
    problems = []
    for path in paths:
        try:
            check_replaceable(path, request.overwrite)
        except ExportError as err:
            problems.append(str(err))
    if problems:
        raise ExportError("; ".join(problems))
    out_dir = paths[0].parent
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir}: the output location is a file, not a folder")
    for stale in clean_stale(out_dir):
        log(f"removed {stale.name} (left by an export that was interrupted)")
    config = source.model.config
    log(
        f"model {config.describe()}, {config.img_size} px, {len(source.answers)} answers; "
        f"parity inputs: {request.parity_inputs} from {request.data or 'synthetic images'}"
    )
    inputs = parity_inputs(
        source.tokenizer, request.parity_inputs, source.img_size, request.data, request.data_split
    )
    reference = reference_logits(source.model, inputs)
    results = []
    for number, (job, path) in enumerate(zip(jobs, paths, strict=True), start=1):
        prefix = f"[{number}/{len(jobs)}] {job.spec.name} {job.precision}"
        results.append(
            _export_one(request, source, job, path, inputs, reference, _prefixed(log, prefix))
        )
        gc.collect()
    return results


def _export_one(
    request: ExportRequest,
    source: Source,
    job: _Job,
    final: Path,
    inputs: ParityInputs,
    reference: np.ndarray,
    log: Log,
) -> BundleResult:
    settings = ExportSettings(
        precision=job.precision,
        target=request.target,
        img_size=source.img_size,
        text_len=source.tokenizer.max_len,
        num_answers=len(source.answers),
        coreml_deployment_target=request.coreml_deployment_target,
        x86_vnni=request.x86_vnni,
        width=source.model.config.embed_dim,
    )
    thresholds = DEFAULT_THRESHOLDS[job.precision].replace(request.max_abs_diff, request.min_top1)
    result = BundleResult(job.spec.name, job.precision, final, "failed")
    try:
        with staged(final) as stage:
            log("exporting")
            start = time.perf_counter()
            artifact = job.spec.export(source.model, _example(inputs), stage, settings)
            result.export_seconds = time.perf_counter() - start
            log(f"exported in {result.export_seconds:.1f} s")
            write_support_files(stage, source)
            if job.spec.check is not None:
                step = time.perf_counter()
                artifact.runtime.update(job.spec.check(stage, artifact, settings))
                log(f"static checks passed in {time.perf_counter() - step:.1f} s")
            step = time.perf_counter()
            try:
                parity = _parity(
                    job.spec, stage, artifact, settings, inputs, reference, thresholds, log
                )
            except ParityError as err:
                result.path = keep_failed(stage, final)
                raise ParityError(f"{err}; the exported files are kept in {result.path}") from None
            log(f"parity checked in {time.perf_counter() - step:.1f} s")
            result.status = parity["status"]
            if parity["status"] == "passed":
                result.figures = Figures(
                    parity["n_inputs"], parity["max_abs_diff"], parity["top1_agreement"]
                )
            manifest = build_manifest(
                stage, source, settings, artifact, parity, result.export_seconds, job.spec.name
            )
            write_manifest(stage, manifest)
            bundle = read_bundle(stage)
            result.model_bytes = bundle.model_bytes()
            result.bundle_bytes = bundle.bundle_bytes()
            publish(stage, final, request.overwrite)
        log(f"bundle written in {time.perf_counter() - start:.1f} s: {final}")
    except (ExportError, ParityError, BundleError) as err:
        result.status, result.message = "failed", str(err)
        log(f"FAILED: {err}")
    except Exception as err:  # a converter's own failure: report it and go on with the others
        if request.debug:
            traceback.print_exc()
        full = no_space(err, final.parent)
        if full is not None:
            raise full from err  # no later bundle fits either: the run ends as a user error
        if isinstance(err, OSError) and user_message(err) is not None:
            raise  # the output folder cannot be written (read-only, permissions)
        result.status, result.message = "failed", f"{type(err).__name__}: {err}"
        log(f"FAILED: {type(err).__name__}: {err} (run with --debug for the traceback)")
    return result


def keep_failed(stage: Path, final: Path) -> Path:
    """Move the files of an export that failed its parity check to `<bundle>.parity-failed`
    (replacing one left by an earlier failed export), where the user can look at them."""
    kept = final.with_name(final.name + PARITY_FAILED_SUFFIX)
    if kept.is_dir() and not kept.is_symlink():
        shutil.rmtree(kept)
    os.replace(stage, kept)
    return kept


def _parity(
    spec: FormatSpec,
    folder: Path,
    artifact: Artifact,
    settings: ExportSettings,
    inputs: ParityInputs,
    reference: np.ndarray,
    thresholds: Thresholds,
    log: Log,
) -> dict[str, Any]:
    """Run the artifact in its runtime(s) and judge it; raises ParityError when it fails."""
    how = spec.parity_plan(settings)
    if how.status == "pending-macos":
        log(f"parity pending: {how.note}")
        return manifest_entry("pending-macos", inputs, thresholds, None, how.note)
    measured = []
    for name, model in load_runtimes(spec, folder, artifact):
        measured.append((name, measure(model, inputs, reference, artifact.dynamic_batch)))
        log(f"parity of {name} in its runtime: {measured[-1][1].describe()}")
    names = [name for name, _ in measured]
    figures = functools.reduce(Figures.worst, (figures for _, figures in measured))
    if how.status == "pending-target":
        entry, why_not = emulated_parity(
            spec, folder, artifact, settings.target, inputs, reference, thresholds, figures, log
        )
        if entry is not None:
            return entry
        note = f"{how.note}; measured on this host anyway: {figures.describe()}; {why_not}"
        log(f"parity pending: {note}")
        return manifest_entry("pending-target", inputs, thresholds, None, note)
    broken = violations(figures, thresholds)
    if broken:
        raise ParityError(
            f"parity failed against the PyTorch fp32 model on {figures.n_inputs} inputs: "
            + "; ".join(broken)
        )
    note = f"worst of {' and '.join(names)}" if len(names) > 1 else ""
    return manifest_entry("passed", inputs, thresholds, figures, note)

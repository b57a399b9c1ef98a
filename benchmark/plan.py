"""What a run measures: one target per bundle, plus PyTorch eager baselines per source checkpoint.

Planning reads manifests and checkpoints but runs nothing; a bundle or checkpoint that cannot be
used becomes a target that carries its error, so the run reports it as a row and goes on.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vqa.bundle import Bundle, BundleError, read_bundle
from vqa.io import atomic_write_bytes, file_sha256
from vqa.tokenizer import BOS_ID, EOS_ID, ID_OFFSET, PAD_ID, UNK_ID

UNKNOWN = "unknown"
ANSWERABLE_RULE = "1 - sigmoid(logits[unanswerable_index])"
INT8_EAGER_NOTE = (
    "quantized in memory from the fp32 checkpoint when loaded (torch dynamic int8 of Linear "
    "layers): no file of its own, and the load time includes the quantization"
)


@dataclass
class Target:
    """One model to measure, with everything the measuring process and the row need."""

    label: str
    role: str
    format: str
    precision: str
    model_path: Path | None = None
    bundle_dir: Path | None = None
    bundle: Bundle | None = None
    quantization: str | None = None
    source_key: str | None = None
    checkpoint: Path | None = None
    checkpoint_sha256: str | None = None
    config: dict[str, Any] | None = None
    image_size: int | None = None
    max_len: int | None = None
    tokenizer_path: Path | None = None
    answers_path: Path | None = None
    unanswerable_index: int | None = None
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    scale: float = 1 / 255
    params: int | None = None
    macs: int | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def manifest(self) -> dict[str, Any] | None:
        return self.bundle.manifest if self.bundle else None


def _unique(label: str, taken: set[str]) -> str:
    candidate, n = label, 2
    while candidate in taken:
        candidate, n = f"{label}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _tokenizer_problem(manifest: dict[str, Any]) -> str | None:
    tok = manifest["tokenizer"]
    expected = {
        "bos_id": BOS_ID,
        "pad_id": PAD_ID,
        "eos_id": EOS_ID,
        "unk_id": UNK_ID,
        "id_offset": ID_OFFSET,
    }
    wrong = {k: tok[k] for k, v in expected.items() if tok[k] != v}
    if wrong:
        return f"tokenizer ids {wrong} differ from BEiT-3's {expected}, which vqa.tokenizer uses"
    return None


def bundle_target(path: Path, taken: set[str]) -> Target:
    """A bundle's target, or an error target that says why the bundle cannot be measured."""
    try:
        bundle = read_bundle(path)
    except BundleError as err:
        return Target(
            _unique(path.name or str(path), taken),
            "bundle",
            UNKNOWN,
            UNKNOWN,
            bundle_dir=path,
            error=str(err),
        )
    m = bundle.manifest
    prep = m["preprocessing"]
    answers = m["answers"]
    source = m["source"]
    target = Target(
        label=_unique(path.name, taken),
        role="bundle",
        format=m["format"],
        precision=m["precision"],
        model_path=bundle.model_path,
        bundle_dir=path,
        bundle=bundle,
        quantization=m["quantization"]["scheme"],
        source_key=source["sha256"],
        checkpoint=Path(source["checkpoint"]),
        checkpoint_sha256=source["sha256"],
        config=source.get("config"),
        image_size=prep["image_size"],
        max_len=m["tokenizer"]["max_len"],
        tokenizer_path=bundle.tokenizer_path(),
        answers_path=bundle.path / answers["file"],
        unanswerable_index=(
            answers["unanswerable_index"]
            if m["postprocessing"]["answerable"] == ANSWERABLE_RULE
            else None
        ),
        mean=tuple(prep["mean"]),
        std=tuple(prep["std"]),
        scale=prep["scale"],
        params=source.get("params"),
        macs=source.get("macs"),
    )
    target.error = _tokenizer_problem(m)
    if target.error is None:
        try:
            bundle.answers()
        except BundleError as err:
            target.error = str(err)
    return target


def resolve_checkpoint(recorded: str, bundle_dir: Path) -> Path | None:
    """The source checkpoint a manifest names: as written, else beside or above the bundle."""
    path = Path(recorded)
    for candidate in (path, bundle_dir / path, bundle_dir.parent / path):
        if candidate.is_file():
            return candidate
    if not path.is_absolute():
        for candidate in (bundle_dir / path.name, bundle_dir.parent / path.name):
            if candidate.is_file():
                return candidate
    return None


def _baseline_pair(
    template: Target, multi: bool, taken: set[str], error: str | None
) -> list[Target]:
    suffix = f" ({template.checkpoint.stem})" if multi and template.checkpoint else ""
    pair = []
    for precision, scheme in (("fp32", "none"), ("int8", "dynamic-int8")):
        pair.append(
            replace(
                template,
                label=_unique(f"pytorch-{precision}{suffix}", taken),
                role="baseline",
                format="pytorch",
                precision=precision,
                quantization=scheme,
                bundle=None,
                bundle_dir=None,
                model_path=template.checkpoint,
                error=template.error or error,
                notes=list(template.notes) + ([INT8_EAGER_NOTE] if precision == "int8" else []),
            )
        )
    return pair


def baseline_targets(
    bundles: list[Target],
    checkpoint: Path | None,
    taken: set[str],
    work_dir: Path,
    log: Callable[[str], None] = lambda line: print(line, file=sys.stderr),
) -> list[Target]:
    """fp32 and dynamic-int8 eager targets for each source checkpoint of the bundles.

    They use the preprocessing, tokenizer and answers of the first bundle of that source with
    the full vocabulary, so their inputs equal the bundles' (only the checkpoint's own tokenizer
    fits its full text embedding, so a source with cut-vocabulary bundles alone uses that).
    With only `checkpoint` (no bundles), the checkpoint's own tokenizer and answers are used.
    A source checkpoint that cannot be found (and no `checkpoint` given) has no baselines: `log`
    says so, with the hint, and the run measures the bundles alone.
    """
    sources: dict[str, Target] = {}
    for t in bundles:  # a bundle with the full vocabulary, where there is one
        if t.error is None and (
            t.source_key not in sources or (_vocab_cut(sources[t.source_key]) and not _vocab_cut(t))
        ):
            sources[t.source_key] = t
    if not sources and checkpoint is not None:
        return _baseline_pair(checkpoint_template(checkpoint, work_dir), False, taken, None)
    digests: dict[Path, str] = {}
    result = []
    for key, first in sources.items():
        template = replace(first, notes=[])
        found = checkpoint or resolve_checkpoint(str(first.checkpoint), first.bundle.path)
        error = None
        if found is None:
            log(
                f"PyTorch baselines skipped: the source checkpoint {first.checkpoint} of "
                f"{first.bundle.path} was not found (pass --checkpoint, or --no-baselines)"
            )
            continue
        if found not in digests:
            digests[found] = file_sha256(found)
        if digests[found] != key:
            error = (
                f"{found} (sha256 {digests[found][:12]}) is not the checkpoint "
                f"{first.bundle.path} was exported from (sha256 {key[:12]})"
            )
        elif _vocab_cut(first):  # the cut tokenizer does not fit the full model
            template = checkpoint_template(found, work_dir)
        template.checkpoint = found
        result += _baseline_pair(template, len(sources) > 1, taken, error)
    return result


def _vocab_cut(target: Target) -> bool:
    """Whether a bundle's tokenizer was cut (export --vocab-from): its ids fit only its model."""
    return target.manifest is not None and "vocab_cut" in target.manifest["tokenizer"]


def checkpoint_template(path: Path, work_dir: Path) -> Target:
    """Preprocessing, tokenizer and answers from one of our checkpoints (no bundle given)."""
    from vqa.answers import write_answers
    from vqa.checkpoint import read_checkpoint
    from vqa.checkpoint_model import load_checkpoint_model
    from vqa.errors import UserError

    try:
        ckpt = read_checkpoint(path)
    except UserError as err:
        return Target("pytorch", "baseline", "pytorch", "fp32", checkpoint=path, error=str(err))
    sha = file_sha256(path)
    template = Target(
        "pytorch",
        "baseline",
        "pytorch",
        "fp32",
        checkpoint=path,
        checkpoint_sha256=sha,
        source_key=sha,
    )
    if ckpt.config is None or not ckpt.answers or not ckpt.tokenizer:
        template.error = (
            f"{path}: an official checkpoint has no tokenizer or answer list; benchmark it "
            "together with a bundle exported from it"
        )
        return template
    try:  # the tokenizer by bytes, or by a path checked by sha256
        loaded = load_checkpoint_model(ckpt, build_model=False)
    except UserError as err:
        template.error = str(err)
        return template
    tokenizer, answer_list = loaded.tokenizer, loaded.answers
    spm = atomic_write_bytes(work_dir / f"tokenizer_{sha[:12]}.spm", tokenizer.model_bytes)
    answers = work_dir / f"answers_{sha[:12]}.txt"
    template.unanswerable_index = write_answers(answers, answer_list)
    template.config = ckpt.config.to_dict()
    template.image_size = ckpt.config.img_size
    template.max_len = tokenizer.max_len
    template.tokenizer_path = spm
    template.answers_path = answers
    return template


def fill_model_figures(target: Target) -> None:
    """Parameter and MAC counts from the config when the manifest does not give them."""
    if target.config is None or (target.params and target.macs):
        return
    from vqa.configs import BEiT3Config
    from vqa.model import config_macs, config_parameters

    try:
        config = BEiT3Config.from_dict(target.config)
    except (TypeError, ValueError) as err:
        target.notes.append(f"model config not readable, no MAC count: {err}")
        return
    if target.image_size:
        config = config.replace(img_size=target.image_size)
    target.params = target.params or config_parameters(config)
    target.macs = target.macs or config_macs(config, text_len=target.max_len or 64)

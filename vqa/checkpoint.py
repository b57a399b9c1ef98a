"""Reading and writing checkpoints: official unilm files and our own self-describing format.

Official files (unilm BEiT-3, the original VizWiz project) hold a state dict under `model` or
`module`, maybe with an `args` Namespace. Ours hold the state dict together with the model config,
the answer list, the tokenizer and training metadata, so that `export` and `benchmark` need nothing
else. Both are read with `weights_only=True`; loading is strict and explains every mismatch,
instead of printing and keeping random weights as unilm's loader does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from vqa.configs import BEiT3Config, get_config, match_config
from vqa.errors import UserError
from vqa.io import atomic_path
from vqa.model import BEiT3ForVQA, create_model, init_weights
from vqa.tokenizer import Tokenizer

FORMAT = "vqa-beit3-checkpoint"
FORMAT_VERSION = 1
POS_EMBED_KEY = "beit3.encoder.embed_positions.A.weight"
# Rows of the vision position table before the patch grid: 2 (fairseq's offset) + 1 (CLS).
POS_EMBED_EXTRA_ROWS = 3
HEAD_KEYS = ("head.3.weight", "head.3.bias")


class CheckpointError(UserError):
    """A checkpoint that cannot be used as asked; the message says which file and why."""


@dataclass
class LoadReport:
    """Differences between a state dict and a model, in words."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        lines = []
        if self.missing:
            lines.append(f"missing keys ({len(self.missing)}): {_abbreviate(self.missing)}")
        if self.unexpected:
            lines.append(
                f"unexpected keys ({len(self.unexpected)}): {_abbreviate(self.unexpected)}"
            )
        for key, got, want in self.mismatched:
            lines.append(f"shape mismatch for {key}: checkpoint {list(got)}, model {list(want)}")
        return "\n".join(lines) if lines else "all keys match"


def _abbreviate(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


@dataclass
class Checkpoint:
    """The parsed contents of a checkpoint file, either kind."""

    path: Path
    kind: Literal["ours", "official"]
    state_dict: dict[str, torch.Tensor]
    config: BEiT3Config | None = None
    answers: list[str] | None = None
    tokenizer: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    args: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _unreadable(path: Path, err: BaseException) -> CheckpointError:
    """A damaged or foreign file, described by torch's reason without its advice.

    torch's message advises loading with weights_only=False, which would run whatever code the
    file holds: only the reason is kept.
    """
    text = str(err)
    found = re.search(r"WeightsUnpickler error:\s*([^\n]+)", text)
    reason = found.group(1).strip() if found else text.strip().split(". ")[0].splitlines()[0]
    if not reason or "weights_only" in reason:
        reason = type(err).__name__
    with open(path, "rb") as f:
        head = f.read(3)
    if head[:1] == b"\x80" and head[2:3] != b"\x8a":  # not the pickled long of pre-1.6 torch files
        reason = "a plain pickle file, not one written by torch.save"
    return CheckpointError(
        f"{path}: not a readable PyTorch checkpoint: damaged, or another kind of file ({reason})"
    )


def _torch_load(path: Path, trust_pickle: bool) -> Any:
    try:
        with torch.serialization.safe_globals([argparse.Namespace]), warnings.catch_warnings():
            # A plain pickle makes torch warn about its protocol before failing; the error says it.
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            try:
                return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
            except RuntimeError as err:
                if "mmap" not in str(err):
                    raise
                return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        needed = re.search(r"unsupported (?:global: )?GLOBAL ([\w.]+)", str(err), re.IGNORECASE)
        if needed is None:
            raise _unreadable(path, err) from None
        if not trust_pickle:
            raise CheckpointError(
                f"{path}: refusing to load: the file needs arbitrary unpickling (of "
                f"{needed.group(1)}), which can run code stored in it. If you trust its source, "
                "pass trust_pickle=True (--trust-checkpoint on the command line)."
            ) from None
    except (RuntimeError, EOFError, OSError) as err:
        raise _unreadable(path, err) from None
    return torch.load(path, map_location="cpu", weights_only=False)


def _strip_prefix(state_dict: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    if state_dict and all(k.startswith(prefix) for k in state_dict):
        return {k[len(prefix) :]: v for k, v in state_dict.items()}
    return state_dict


def read_checkpoint(path: str | Path, trust_pickle: bool = False) -> Checkpoint:
    """Parse a checkpoint file of either kind, without building a model."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: is a folder; give the checkpoint file (.pth) inside it")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path}: the file is empty (0 bytes), not a PyTorch checkpoint")
    obj = _torch_load(path, trust_pickle)
    if not isinstance(obj, dict):
        raise CheckpointError(
            f"{path}: expected a dict at the top level, found {type(obj).__name__}"
        )
    if obj.get("format") == FORMAT:
        return _parse_ours(path, obj)
    for key in ("model", "module"):
        if isinstance(obj.get(key), dict):
            state_dict = obj[key]
            break
    else:
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            state_dict = obj
        else:
            raise CheckpointError(
                f"{path}: no state dict found under 'model' or 'module' "
                f"(top-level keys: {', '.join(map(str, list(obj)[:10]))})"
            )
    state_dict = _strip_prefix(dict(state_dict), "module.")
    args = obj.get("args")
    return Checkpoint(
        path=path,
        kind="official",
        state_dict=state_dict,
        args=vars(args) if isinstance(args, argparse.Namespace) else None,
    )


def _parse_ours(path: Path, obj: dict[str, Any]) -> Checkpoint:
    version = obj.get("version")
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version} is not supported "
            f"(this toolkit reads version {FORMAT_VERSION})"
        )
    try:
        config = BEiT3Config.from_dict(obj["config"])
        state_dict = obj["model"]
    except (KeyError, TypeError, ValueError) as err:
        raise CheckpointError(f"{path}: malformed checkpoint ({err})") from None
    return Checkpoint(
        path=path,
        kind="ours",
        state_dict=state_dict,
        config=config,
        answers=obj.get("answers"),
        tokenizer=obj.get("tokenizer"),
        meta=obj.get("meta") or {},
        extra=obj.get("extra") or {},
    )


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """torch.save to a temporary file beside `path`, fsync, then rename over it.

    torch.save writes through a Python file object, so a full disk surfaces as an OSError
    (ENOSPC), which `atomic_path` reports as "no space left on <path>"; given a path, torch
    reports it as "unexpected pos".
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(obj, f)


def tokenizer_record(model_bytes: bytes, max_len: int, path: str | None = None) -> dict[str, Any]:
    """How a checkpoint carries its tokenizer: the bytes, or a path checked by sha256."""
    record: dict[str, Any] = {
        "kind": "sentencepiece",
        "sha256": hashlib.sha256(model_bytes).hexdigest(),
        "max_len": max_len,
    }
    if path is None:
        record["model"] = model_bytes
    else:
        record["path"] = str(path)
    return record


def save_checkpoint(
    path: str | Path,
    model: BEiT3ForVQA,
    *,
    answers: list[str] | None,
    tokenizer: dict[str, Any] | None,
    meta: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write our format atomically. `meta` must be JSON-like (it is read with weights_only)."""
    if answers is not None and len(answers) != model.config.num_answers:
        raise ValueError(
            f"{len(answers)} answers given for a model with {model.config.num_answers} outputs"
        )
    meta = meta or {}
    json.dumps(meta)
    state_dict = {k: v.detach().clone() for k, v in model.state_dict().items()}
    atomic_torch_save(
        {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "config": model.config.to_dict(),
            "model": state_dict,
            "answers": list(answers) if answers is not None else None,
            "tokenizer": tokenizer,
            "meta": meta,
            "extra": extra or {},
        },
        path,
    )


@dataclass(frozen=True)
class StateShape:
    """What a state dict says about the model that produced it."""

    embed_dim: int
    depth: int
    mlp_dim: int
    vocab_size: int
    num_answers: int | None
    img_size: int
    patch_size: int

    def describe(self) -> str:
        return f"{self.embed_dim}-d, {self.depth} layers, FFN {self.mlp_dim}"


def save_random_checkpoint(
    path: str | Path, arch: str, tokenizer: Tokenizer, *, img_size: int | None = None
) -> BEiT3ForVQA:
    """Seeded random weights, placeholder answers (the last one "unanswerable") and `tokenizer`.

    For scripts that measure exports' sizes and speed, where what the model answers does not
    matter; returns the model so they can describe it.
    """
    torch.manual_seed(0)
    model = create_model(arch, img_size=img_size)
    answers = [f"answer {i}" for i in range(model.config.num_answers - 1)] + ["unanswerable"]
    save_checkpoint(
        path,
        model,
        answers=answers,
        tokenizer=tokenizer_record(tokenizer.model_bytes, tokenizer.max_len),
    )
    return model


def state_shape(
    state_dict: dict[str, torch.Tensor], path: Path | str = "<state dict>"
) -> StateShape:
    try:
        vocab_size, embed_dim = state_dict["beit3.text_embed.weight"].shape
        mlp_dim = state_dict["beit3.encoder.layers.0.ffn.A.fc1.weight"].shape[0]
        patch_size = state_dict["beit3.vision_embed.proj.weight"].shape[-1]
        rows = state_dict[POS_EMBED_KEY].shape[0]
    except KeyError as err:
        raise CheckpointError(
            f"{path}: not a BEiT-3 state dict (no {err.args[0]}; keys look like "
            f"{_abbreviate(sorted(state_dict), 4)})"
        ) from None
    prefix = "beit3.encoder.layers."
    depth = len({k[len(prefix) :].split(".")[0] for k in state_dict if k.startswith(prefix)})
    grid = math.isqrt(rows - POS_EMBED_EXTRA_ROWS)
    head = state_dict.get("head.3.weight")
    return StateShape(
        embed_dim=int(embed_dim),
        depth=depth,
        mlp_dim=int(mlp_dim),
        vocab_size=int(vocab_size),
        num_answers=int(head.shape[0]) if head is not None else None,
        img_size=grid * int(patch_size),
        patch_size=int(patch_size),
    )


def interpolate_pos_embed(table: torch.Tensor, num_patches: int) -> torch.Tensor:
    """Resize the vision position table to a new patch grid (bicubic), keeping the 3 lead rows."""
    extra, grid = table[:POS_EMBED_EXTRA_ROWS], table[POS_EMBED_EXTRA_ROWS:]
    old, new = math.isqrt(grid.shape[0]), math.isqrt(num_patches)
    if old * old != grid.shape[0] or new * new != num_patches:
        raise ValueError(f"position grids must be square: {grid.shape[0]} -> {num_patches}")
    if old == new:
        return table
    dim = grid.shape[1]
    grid = grid.float().reshape(1, old, old, dim).permute(0, 3, 1, 2)
    grid = nn.functional.interpolate(grid, size=(new, new), mode="bicubic", align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(new * new, dim).to(table.dtype)
    return torch.cat([extra, grid], dim=0)


def _fresh_head_params(config: BEiT3Config) -> dict[str, torch.Tensor]:
    layer = nn.Linear(config.embed_dim * 2, config.num_answers)
    init_weights(layer)
    return {"head.3.weight": layer.weight.detach(), "head.3.bias": layer.bias.detach()}


def adapt_head(
    state_dict: dict[str, torch.Tensor],
    config: BEiT3Config,
    old_answers: list[str] | None,
    new_answers: list[str] | None,
) -> dict[str, torch.Tensor]:
    """Fit the answer layer to `config.num_answers`.

    With both answer lists, rows are moved by answer string (answers new to the list start fresh);
    without them a different answer count re-initialises the layer, with a warning.
    """
    if "head.3.weight" not in state_dict:
        return state_dict
    state_dict = dict(state_dict)
    if old_answers is not None and new_answers is not None:
        if list(old_answers) == list(new_answers):
            return state_dict
        fresh = _fresh_head_params(config)
        old_index = {a: i for i, a in enumerate(old_answers)}
        kept = [(i, old_index[a]) for i, a in enumerate(new_answers) if a in old_index]
        if kept:
            new_rows, old_rows = (torch.tensor(x) for x in zip(*kept, strict=True))
            fresh["head.3.weight"][new_rows] = state_dict["head.3.weight"][old_rows].float()
            fresh["head.3.bias"][new_rows] = state_dict["head.3.bias"][old_rows].float()
        warnings.warn(
            f"answer head: {len(kept)} of {len(new_answers)} answers transplanted from the "
            f"checkpoint's {len(old_answers)}; the rest start from a fresh initialisation",
            stacklevel=2,
        )
        state_dict.update(fresh)
    elif state_dict["head.3.weight"].shape[0] != config.num_answers:
        warnings.warn(
            f"answer head re-initialised: the checkpoint has "
            f"{state_dict['head.3.weight'].shape[0]} answers, the model {config.num_answers} "
            "(give both answer lists to transplant rows by answer)",
            stacklevel=2,
        )
        state_dict.update(_fresh_head_params(config))
    return state_dict


def compare_state_dict(
    model: nn.Module, state_dict: dict[str, torch.Tensor], allow_missing: tuple[str, ...] = ()
) -> LoadReport:
    """Keys and shapes of `state_dict` against `model`; prefixes in allow_missing may be absent."""
    expected = model.state_dict()
    report = LoadReport()
    for key, value in expected.items():
        if key not in state_dict:
            if not key.startswith(allow_missing):
                report.missing.append(key)
        elif tuple(state_dict[key].shape) != tuple(value.shape):
            report.mismatched.append((key, tuple(state_dict[key].shape), tuple(value.shape)))
    report.unexpected = [k for k in state_dict if k not in expected]
    return report


def model_from_state_dict(
    config: BEiT3Config,
    state_dict: dict[str, torch.Tensor],
    *,
    source: Path | str,
    answers: list[str] | None = None,
    target_answers: list[str] | None = None,
    allow_missing: tuple[str, ...] = (),
) -> BEiT3ForVQA:
    """Build `config` and load `state_dict` strictly (interpolating positions, adapting the head).

    When the state dict is complete the model is built on the meta device and the tensors are
    assigned, so loading costs little more than reading the file.
    """
    shape = state_shape(state_dict, source)
    if (shape.embed_dim, shape.depth, shape.mlp_dim) != (
        config.embed_dim,
        config.depth,
        config.mlp_dim,
    ):
        found = match_config(shape.embed_dim, shape.depth, shape.mlp_dim)
        found = f"{found} ({shape.describe()})" if found else f"a {shape.describe()} model"
        raise CheckpointError(
            f"{source}: the checkpoint holds {found}, but the requested architecture is "
            f"{config.describe()}"
        )
    state_dict = {
        k: v.float() if v.is_floating_point() and v.dtype != torch.float32 else v
        for k, v in state_dict.items()
    }
    if state_dict[POS_EMBED_KEY].shape[0] != config.num_patches + POS_EMBED_EXTRA_ROWS:
        state_dict[POS_EMBED_KEY] = interpolate_pos_embed(
            state_dict[POS_EMBED_KEY], config.num_patches
        )
    state_dict = adapt_head(state_dict, config, answers, target_answers)
    model = create_model(config, init=False)
    report = compare_state_dict(model, state_dict, allow_missing)
    if not report.ok:
        raise CheckpointError(f"{source}: the checkpoint does not fit {config.name}:\n{report}")
    if any(k not in state_dict for k in model.state_dict()):
        model = create_model(config)
        model.load_state_dict(state_dict, strict=False)
    else:
        model.load_state_dict(state_dict, assign=True)
    return model


def load_model(
    path: str | Path,
    arch: str | None = None,
    img_size: int | None = None,
    *,
    trust_pickle: bool = False,
) -> BEiT3ForVQA:
    """An eval-ready model from either checkpoint kind.

    `arch` is required for official files (they do not say what they hold) and, for ours, must
    agree with the stored config; `num_answers` always comes from `head.3.weight`.
    """
    ckpt = read_checkpoint(path, trust_pickle=trust_pickle)
    return model_from_checkpoint(ckpt, arch=arch, img_size=img_size).eval()


def model_from_checkpoint(
    ckpt: Checkpoint, arch: str | None = None, img_size: int | None = None
) -> BEiT3ForVQA:
    shape = state_shape(ckpt.state_dict, ckpt.path)
    if ckpt.kind == "ours":
        assert ckpt.config is not None
        config = ckpt.config
        if arch is not None and arch != config.name:
            requested = get_config(arch)
            if (requested.embed_dim, requested.depth, requested.mlp_dim) != (
                config.embed_dim,
                config.depth,
                config.mlp_dim,
            ):
                raise CheckpointError(
                    f"{ckpt.path}: the checkpoint holds {config.describe()}, but the requested "
                    f"architecture is {requested.describe()}"
                )
    elif arch is None:
        found = match_config(shape.embed_dim, shape.depth, shape.mlp_dim)
        hint = f" (its shapes match {found})" if found else ""
        raise CheckpointError(
            f"{ckpt.path}: an official checkpoint does not say its architecture: pass arch "
            f"(--arch){hint}"
        )
    else:
        config = get_config(arch, img_size=shape.img_size, vocab_size=shape.vocab_size)
    if shape.num_answers is None:
        raise CheckpointError(f"{ckpt.path}: no answer head (head.3.weight): not a VQA checkpoint")
    config = config.replace(
        num_answers=shape.num_answers,
        img_size=img_size or config.img_size,
        drop_path_rate=0.0,
        checkpoint_activations=False,
    )
    return model_from_state_dict(config, ckpt.state_dict, source=ckpt.path)

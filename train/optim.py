"""unilm's BEiT-3 finetuning optimizer: AdamW over parameter groups, warmup + cosine schedule.

Groups follow unilm's optim_factory: no weight decay on biases, 1-d tensors (norms) and the
model's `no_weight_decay()` names; with layer-wise decay each group's lr is scaled by
decay ** (num_layers + 1 - layer_id), where embeddings are layer 0, encoder layer i is i + 1 and
pooler/head are num_layers + 1. The answer head (`head.*`, not the pooler) gets an extra lr
multiplier (unilm: --task_head_lr_weight 20). unilm applies either layer decay or the head
multiplier; here both compose, and with layer decay 1.0 (unilm's VQA default) only the
multiplier acts, as in unilm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

BETAS = (0.9, 0.98)
EPS = 1e-8


@dataclass(frozen=True)
class OptimConfig:
    lr: float
    weight_decay: float = 0.01
    head_lr_mult: float = 20.0
    layer_decay: float = 1.0
    min_lr: float = 1e-6
    warmup_steps: int = 0


def layer_id(name: str, num_layers: int) -> int:
    """unilm's layer index of a parameter name, for layer-wise lr decay."""
    if "embed" in name:
        return 0
    if "layers." in name:
        return int(name.split("layers.", 1)[1].split(".", 1)[0]) + 1
    return num_layers + 1


def param_groups(model: nn.Module, cfg: OptimConfig, num_layers: int) -> list[dict[str, Any]]:
    """AdamW groups with `lr_scale` and weight decay; every parameter is in one group.

    Frozen parameters are included too: AdamW skips parameters without gradients, so unfreezing
    later needs no new optimizer.
    """
    skip = set(getattr(model, "no_weight_decay", set)())
    groups: dict[tuple[int, bool, bool], dict[str, Any]] = {}
    for name, param in model.named_parameters():
        no_decay = param.ndim == 1 or name.endswith(".bias") or name in skip
        layer = layer_id(name, num_layers) if cfg.layer_decay != 1.0 else num_layers + 1
        is_head = name.startswith("head.")
        key = (layer, no_decay, is_head)
        if key not in groups:
            scale = cfg.layer_decay ** (num_layers + 1 - layer)
            if is_head:
                scale *= cfg.head_lr_mult
            groups[key] = {
                "params": [],
                "param_names": [],
                "weight_decay": 0.0 if no_decay else cfg.weight_decay,
                "lr_scale": scale,
                "lr": cfg.lr * scale,
            }
        groups[key]["params"].append(param)
        groups[key]["param_names"].append(name)
    return [groups[key] for key in sorted(groups)]


def build_optimizer(model: nn.Module, cfg: OptimConfig, num_layers: int) -> torch.optim.AdamW:
    """AdamW, fused where torch has a fused kernel for the parameters' device.

    The per-tensor loop is a noticeable share of a small model's step on a CPU; the fused
    kernel updates all parameters of a group at once.
    """
    fused = all(p.device.type in ("cpu", "cuda") for p in model.parameters())
    return torch.optim.AdamW(
        param_groups(model, cfg, num_layers), lr=cfg.lr, betas=BETAS, eps=EPS, fused=fused
    )


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier of the peak lr at `step`: linear warmup to 1, then cosine down to min_ratio.

    Warmup starts at 1 / (warmup + 1) rather than unilm's 0, so no step is spent with lr 0.
    """
    if step < warmup_steps:
        return (step + 1) / (warmup_steps + 1)
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_ratio + 0.5 * (1.0 - min_ratio) * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int
) -> LambdaLR:
    """A per-step LambdaLR; its state (the step count) is saved with every checkpoint."""
    min_ratio = min(1.0, cfg.min_lr / cfg.lr) if cfg.lr > 0 else 0.0

    def factor(step: int) -> float:
        return lr_factor(step, total_steps, cfg.warmup_steps, min_ratio)

    return LambdaLR(optimizer, factor)

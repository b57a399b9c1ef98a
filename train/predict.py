"""Inference over a sample list: logits (sharded over ranks), then predictions through
vqa.predictions, the writer the benchmark uses too."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from train.distributed import Dist, gather_rows
from vqa import predictions
from vqa.data import VQADataset, VQASample, collate_trimmed
from vqa.progress import progress_bar
from vqa.tokenizer import Tokenizer
from vqa.transforms import eval_transform


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision on `device` when `dtype` is set; a no-op otherwise."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {
        k: v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v
        for k, v in batch.items()
    }


@torch.no_grad()
def predict_logits(
    model: nn.Module,
    samples: Sequence[VQASample],
    tokenizer: Tokenizer,
    ctx: Dist,
    *,
    batch_size: int,
    num_workers: int = 0,
    amp_dtype: torch.dtype | None = None,
    progress: str | None = None,
) -> torch.Tensor:
    """fp32 logits [len(samples), num_answers] on the CPU of every rank, from the eval transform.

    Each rank runs every world_size-th sample; the rows are then gathered. `progress` is the
    title of a progress bar (rank 0 only; none when None).
    """
    dataset = VQADataset(samples, tokenizer, eval_transform(model.config.img_size))
    mine = list(range(ctx.rank, len(samples), ctx.world_size))
    loader = DataLoader(
        Subset(dataset, mine),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=collate_trimmed,
        pin_memory=ctx.device.type == "cuda",
        generator=torch.Generator(),  # leaves the global RNG alone (exact resume)
    )
    was_training = model.training
    model.eval()
    outputs, indices = [], []
    bar = progress_bar(
        loader, desc=progress or "", enabled=progress is not None and ctx.is_main, unit="batch"
    )
    for batch in bar:
        batch = to_device(batch, ctx.device)
        with autocast(ctx.device, amp_dtype):
            logits = model(batch["image"], batch["question"], batch["padding_mask"])
        outputs.append(logits.float())
        indices.append(batch["index"])
    model.train(was_training)
    num_answers = model.config.num_answers
    rows = torch.cat(outputs) if outputs else torch.zeros(0, num_answers, device=ctx.device)
    where = torch.cat(indices) if indices else torch.zeros(0, dtype=torch.long)
    gathered = gather_rows(ctx, rows, where.to(rows.device), len(samples))
    return gathered.cpu()


def to_predictions(
    logits: torch.Tensor, samples: Sequence[VQASample], answers: Sequence[str]
) -> list[dict[str, Any]]:
    """One prediction per sample (vqa.predictions), "answerable" where the answers have
    "unanswerable"."""
    return predictions.to_predictions(
        logits.numpy(), [s.key for s in samples], answers, predictions.unanswerable_index(answers)
    )

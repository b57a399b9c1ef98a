"""Inference over a sample list: logits (sharded over ranks), answers, answerability, files.

A prediction is {"image": key, "answer": str, "answerable": p}. `answerable` is
1 - sigmoid(logit of "unanswerable"): the head is trained with per-answer BCE on soft scores, so
that sigmoid estimates the share of annotators who would say "unanswerable". Models whose answer
list has no "unanswerable" (easy-VQA) get no `answerable` field: they carry no signal for it, and
a constant would score as a prediction in the answerability metric.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from train.distributed import Dist, gather_rows
from vqa.answers import UNANSWERABLE
from vqa.data import VQADataset, VQASample, collate_trimmed
from vqa.io import atomic_write_json
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


def answerable_scores(logits: torch.Tensor, answers: Sequence[str]) -> torch.Tensor | None:
    """P(answerable) per row, or None when the answer list has no "unanswerable"."""
    if UNANSWERABLE not in answers:
        return None
    return 1.0 - torch.sigmoid(logits[:, list(answers).index(UNANSWERABLE)])


def to_predictions(
    logits: torch.Tensor, samples: Sequence[VQASample], answers: Sequence[str]
) -> list[dict[str, Any]]:
    """One prediction per sample: the top answer and, where defined, `answerable`."""
    top = logits.argmax(dim=1).tolist()
    answerable = answerable_scores(logits, answers)
    predictions = []
    for i, sample in enumerate(samples):
        entry: dict[str, Any] = {"image": sample.key, "answer": answers[top[i]]}
        if answerable is not None:
            entry["answerable"] = float(answerable[i])
        predictions.append(entry)
    return predictions


def write_json(path: str | Path, obj: Any) -> Path:
    """A JSON file written atomically (predictions, metrics)."""
    return atomic_write_json(path, obj, indent=1)

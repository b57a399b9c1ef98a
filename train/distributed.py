"""Process groups through torch.distributed: torchrun starts the processes, we only join them.

One process per device; NCCL on GPUs, gloo on CPUs. Without torchrun's environment everything
here degrades to a single process, so the same code path serves laptops and clusters.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from train.errors import TrainError


@dataclass(frozen=True)
class Dist:
    """Where this process sits: rank, world size, local rank and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """'auto' is this process's GPU when there is one, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(name)
    except RuntimeError:
        raise TrainError(f"--device {name!r}: expected auto, cpu or cuda (or cuda:N)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainError(f"--device {name}: no CUDA device is available here")
        return device if device.index is not None else torch.device("cuda", local_rank)
    if device.type != "cpu":
        raise TrainError(f"--device {name!r}: expected auto, cpu or cuda (or cuda:N)")
    return device


def setup(device: str = "auto", timeout_minutes: float = 60.0) -> Dist:
    """Join the process group torchrun describes in the environment, if any."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(
            backend="nccl" if dev.type == "cuda" else "gloo",
            timeout=datetime.timedelta(minutes=timeout_minutes),
            device_id=dev if dev.type == "cuda" else None,
        )
    return Dist(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def teardown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def barrier(ctx: Dist) -> None:
    if ctx.enabled:
        dist.barrier()


def all_true(ctx: Dist, flag: bool) -> bool:
    """True when `flag` holds on every rank, so all ranks take the same branch."""
    if not ctx.enabled:
        return flag
    value = torch.tensor([1 if flag else 0], device=ctx.device)
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def gather_objects(ctx: Dist, obj: Any) -> list[Any]:
    """Every rank's `obj`, in rank order, on every rank."""
    if not ctx.enabled:
        return [obj]
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(ctx: Dist, obj: Any) -> Any:
    """Rank 0's `obj` on every rank."""
    if not ctx.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_rows(ctx: Dist, rows: torch.Tensor, indices: torch.Tensor, total: int) -> torch.Tensor:
    """Assemble a [total, ...] tensor from each rank's rows at `indices` (disjoint across ranks)."""
    if not ctx.enabled:
        out = rows.new_zeros((total, *rows.shape[1:]))
        out[indices] = rows
        return out
    counts = gather_objects(ctx, int(rows.shape[0]))
    longest = max(counts)
    padded = rows.new_zeros((longest, *rows.shape[1:]))
    padded[: rows.shape[0]] = rows
    where = torch.full((longest,), -1, dtype=torch.long, device=rows.device)
    where[: indices.shape[0]] = indices
    all_rows = [torch.empty_like(padded) for _ in range(ctx.world_size)]
    all_where = [torch.empty_like(where) for _ in range(ctx.world_size)]
    dist.all_gather(all_rows, padded)
    dist.all_gather(all_where, where)
    out = rows.new_zeros((total, *rows.shape[1:]))
    for part, place, count in zip(all_rows, all_where, counts, strict=True):
        out[place[:count]] = part[:count]
    return out

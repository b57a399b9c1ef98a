"""A data order that is a pure function of (seed, epoch), can start mid-epoch, and shards by rank.

Exact resume needs the order and each sample's augmentation to be reproducible from a saved
position alone. The order is a permutation drawn from (seed, epoch), or with sampling weights a
draw with replacement; each rank takes every world_size-th entry, so ranks together consume the
same global batches a single process would. Each sample carries its own RNG seed from (seed,
epoch, position in the epoch), so its augmentation does not depend on worker count, rank, or
where a run was resumed, and a sample drawn twice is augmented twice differently.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from train.errors import TrainError


def mixed_seed(*values: int) -> int:
    """A well-mixed 63-bit seed from non-negative integers (numpy's SeedSequence hashing)."""
    state = np.random.SeedSequence(list(values)).generate_state(2, dtype=np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


class EpochOrder(Sampler[tuple[int, int]]):
    """Yields (index, sample seed) for this rank; only whole global batches are used.

    `global_batch` is the number of samples one optimizer step consumes across all ranks
    (micro-batch x world size x accumulation), so every epoch has the same number of full steps.
    """

    def __init__(
        self,
        num_samples: int,
        global_batch: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        weights: torch.Tensor | None = None,
    ) -> None:
        if num_samples < global_batch:
            raise TrainError(
                f"{num_samples} training samples are fewer than one global batch of "
                f"{global_batch}; lower --batch-size or --accum-steps"
            )
        self.num_samples = num_samples
        self.global_batch = global_batch
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        if weights is not None and (
            weights.shape != (num_samples,) or not bool((weights >= 0).all() & (weights.sum() > 0))
        ):
            raise ValueError(f"need {num_samples} non-negative sampling weights, not all zero")
        self.weights = weights
        self.epoch = 0
        self.start = 0

    @property
    def steps_per_epoch(self) -> int:
        return self.num_samples // self.global_batch

    def set_position(self, epoch: int, start: int = 0) -> None:
        """Begin at `epoch`, skipping the first `start` samples of this rank's share."""
        self.epoch = epoch
        self.start = start

    def order(self, epoch: int) -> torch.Tensor:
        """This rank's indices of `epoch`, from its beginning."""
        used = self.steps_per_epoch * self.global_batch
        generator = torch.Generator().manual_seed(mixed_seed(self.seed, epoch))
        if self.weights is not None:
            drawn = torch.multinomial(self.weights, used, replacement=True, generator=generator)
        else:
            drawn = torch.randperm(self.num_samples, generator=generator)
        return drawn[:used][self.rank :: self.world_size]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        indices = self.order(self.epoch)[self.start :].tolist()
        first = self.rank + self.start * self.world_size
        for offset, index in enumerate(indices):
            position = first + offset * self.world_size
            yield index, mixed_seed(self.seed, self.epoch, position)

    def __len__(self) -> int:
        return self.steps_per_epoch * self.global_batch // self.world_size - self.start


class SeededDataset(Dataset[dict[str, Any]]):
    """Reads item `index` of `dataset` with torch's RNG seeded for that sample alone.

    The caller's RNG state is left as it was, so the main process (num_workers=0) and workers
    see the same augmentations.
    """

    def __init__(self, dataset: Dataset[dict[str, Any]]) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        index, seed = key
        with torch.random.fork_rng(devices=[]):
            # The CPU generator alone: torch.manual_seed also queues a CUDA seeding call and
            # records a stack trace for it, a real cost per sample when the model is small.
            torch.default_generator.manual_seed(seed)
            return self.dataset[index]

"""Samplers and the training loader that make runs resumable and distributed evaluation exact.

* ``EpochShuffleSampler``: the training order is a pure function of (seed, epoch) and the
  process's shard, as with ``DistributedSampler``, so a resumed run draws the same order the
  uninterrupted run drew. It can skip the first samples of an epoch (mid-epoch resume).
* ``ShardSampler``: evaluation shards without padding. ``DistributedSampler`` repeats samples
  to even out the shards, and a repeated sample counts twice in every metric; here rank r reads
  samples r, r + W, r + 2W, ..., so the shards together hold every sample exactly once.
* ``ResumableLoader``: a ``DataLoader`` with Lightning's ``state_dict``/``load_state_dict``
  protocol. It records the epoch and the batches it has handed out, so a checkpoint written in
  the middle of an epoch resumes with the next batch of the same order.

Both samplers subclass ``DistributedSampler`` so that Lightning keeps them under DDP instead of
replacing them with its own (padded) sampler.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader, Dataset, DistributedSampler


class EpochShuffleSampler(DistributedSampler):
    """A shuffled training shard whose order depends only on (seed, epoch, rank, world size).

    Args:
        dataset: the training set.
        num_replicas: world size.
        rank: this process's rank.
        seed: seed of the order (Lightning calls ``set_epoch`` every epoch).
        shuffle: draw a new order every epoch (otherwise the dataset order).
    """

    def __init__(
        self,
        dataset: Dataset,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        shuffle: bool = True,
    ) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed)
        self.skip = 0  # samples of the next epoch that were already consumed before a resume

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())
        skip, self.skip = self.skip, 0
        return iter(indices[skip:])


class ShardSampler(DistributedSampler):
    """An evaluation shard without padding: rank r reads samples r, r + W, r + 2W, ...

    Args:
        dataset: the evaluation set.
        num_replicas: world size W.
        rank: this process's rank r.
    """

    def __init__(self, dataset: Dataset, num_replicas: int = 1, rank: int = 0) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)
        self.num_samples = len(range(rank, len(dataset), num_replicas))  # type: ignore[arg-type]
        self.total_size = len(dataset)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.total_size, self.num_replicas))


class ResumableLoader(DataLoader):
    """A training ``DataLoader`` that can resume in the middle of an epoch.

    Lightning saves ``state_dict()`` into every checkpoint and hands it back through
    ``load_state_dict()`` before the first ``iter()`` of a resumed run. The sampler must be an
    ``EpochShuffleSampler``; skipping happens on indices, so no skipped sample is loaded.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not isinstance(self.sampler, EpochShuffleSampler):
            raise TypeError("ResumableLoader needs an EpochShuffleSampler")
        self._handed_out = 0  # batches of the current epoch handed to the training loop
        self._resume_batches = 0

    def __iter__(self) -> Iterator[Any]:
        skip, self._resume_batches = self._resume_batches, 0
        self.sampler.skip = skip * self.batch_size
        self._handed_out = skip
        for batch in super().__iter__():
            self._handed_out += 1
            yield batch

    def state_dict(self) -> dict[str, int]:
        """The epoch of the current order and the batches of it already handed out."""
        return {"epoch": self.sampler.epoch, "batches": self._handed_out}

    def load_state_dict(self, state: dict[str, int]) -> None:
        """Continue the order of ``state['epoch']`` after its first ``state['batches']``."""
        self.sampler.set_epoch(state["epoch"])
        self._resume_batches = state["batches"]

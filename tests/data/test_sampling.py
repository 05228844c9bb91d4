"""Samplers and the resumable training loader (dmtl.data.sampling)."""

import pytest
import torch
from torch.utils.data import TensorDataset

from dmtl.data.sampling import EpochShuffleSampler, ResumableLoader, ShardSampler


def _data(n: int) -> TensorDataset:
    return TensorDataset(torch.arange(n))


@pytest.mark.parametrize("n", [1, 7, 8, 13])
@pytest.mark.parametrize("world", [1, 2, 3])
def test_shards_hold_every_evaluation_sample_exactly_once(n, world):
    shards = [list(ShardSampler(_data(n), world, rank)) for rank in range(world)]
    assert sorted(i for shard in shards for i in shard) == list(range(n))
    assert [len(ShardSampler(_data(n), world, r)) for r in range(world)] == [len(s) for s in shards]


def test_training_order_is_a_function_of_seed_and_epoch():
    a, b = EpochShuffleSampler(_data(20), seed=3), EpochShuffleSampler(_data(20), seed=3)
    torch.manual_seed(123)  # the global RNG must not matter
    first = list(a)
    torch.manual_seed(456)
    assert list(b) == first and sorted(first) == list(range(20))
    a.set_epoch(1)
    assert list(a) != first and sorted(a) == list(range(20))
    assert list(EpochShuffleSampler(_data(20), seed=4)) != first


def test_two_shards_of_an_epoch_split_the_same_permutation():
    shards = [list(EpochShuffleSampler(_data(10), 2, rank, seed=1)) for rank in range(2)]
    assert sorted(shards[0] + shards[1]) == list(range(10))


def _loader(epoch: int = 0) -> ResumableLoader:
    sampler = EpochShuffleSampler(_data(22), seed=5)
    sampler.set_epoch(epoch)
    return ResumableLoader(_data(22), sampler=sampler, batch_size=4, drop_last=True)


def test_loader_resumes_with_the_next_batch_of_the_same_order():
    full = [b[0].tolist() for b in _loader(epoch=2)]
    assert len(full) == 5
    interrupted = _loader(epoch=2)
    it = iter(interrupted)
    seen = [next(it)[0].tolist() for _ in range(2)]
    state = interrupted.state_dict()
    assert state == {"epoch": 2, "batches": 2}

    resumed = _loader(epoch=0)  # a fresh process: the epoch comes from the state
    resumed.load_state_dict(state)
    rest = [b[0].tolist() for b in resumed]
    assert seen + rest == full
    assert resumed.state_dict() == {"epoch": 2, "batches": 5}
    # the skip applies once: the next pass over the loader is a whole epoch again
    assert len(list(resumed)) == 5


def test_resumable_loader_needs_the_epoch_sampler():
    with pytest.raises(TypeError, match="EpochShuffleSampler"):
        ResumableLoader(_data(4), batch_size=2)

"""The chain's noise source: what each constructor draws, in which order, keyed by what."""

import pytest
import torch

from dmtl.noise import NoiseSource, hashed_normal, identity_seeds, stable_seed, training_seed


def test_noise_is_drawn_key_by_key_in_order_with_the_full_shapes_from_the_generator():
    like = {"b": torch.zeros(3, 2, 4, 5), "a": torch.zeros(3, 1, 4, 5, dtype=torch.float64)}
    noises = NoiseSource.from_generator(torch.Generator().manual_seed(7)).draw(like, 2)
    g = torch.Generator().manual_seed(7)  # the stream: b's S tensors, then a's
    expected = {k: [torch.randn(v.shape, generator=g, dtype=v.dtype) for _ in range(2)]
                for k, v in like.items()}  # fmt: skip
    assert list(noises) == ["b", "a"]
    for key in like:
        for got, want in zip(noises[key], expected[key], strict=True):
            assert torch.equal(got, want)
    torch.manual_seed(3)
    from_global = NoiseSource.from_generator(None).draw(like, 2)
    torch.manual_seed(3)
    assert torch.equal(from_global["b"][0], torch.randn(3, 2, 4, 5))


def test_seeded_noise_gives_every_sample_the_same_map_and_zero_noise_is_zero():
    like = {"x": torch.zeros(4, 2, 3, 3)}
    first = NoiseSource.evaluation(5).draw(like, 3)
    again = NoiseSource.evaluation(5).draw({"x": torch.zeros(1, 2, 3, 3)}, 3)
    assert len(first["x"]) == 3 and first["x"][0].shape == (4, 2, 3, 3)
    for step in range(3):
        assert (first["x"][step] == first["x"][step][:1]).all()  # shared over the batch
        assert torch.equal(first["x"][step][:1], again["x"][step])  # whatever the batch size
    assert not torch.equal(first["x"][0], NoiseSource.evaluation(6).draw(like, 3)["x"][0])
    assert all(
        (z == 0).all() and z.shape == (4, 2, 3, 3) for z in NoiseSource.none().draw(like, 3)["x"]
    )
    with pytest.raises(ValueError, match="generator or a seed"):
        NoiseSource(generator=torch.Generator(), seed=1)


def test_per_image_noise_is_a_function_of_seed_identity_key_and_step():
    ids = identity_seeds(["a", "b", "c"])
    like = {"x": torch.zeros(3, 2, 4, 5), "y": torch.zeros(3, 1, 4, 5, dtype=torch.float64)}
    noise = NoiseSource.evaluation(0, ids).draw(like, 2)
    alone = NoiseSource.evaluation(0, ids[2:]).draw({"x": torch.zeros(1, 2, 4, 5)}, 2)
    for step in range(2):  # the same image, alone or third in a batch, without the other key
        assert torch.equal(alone["x"][step][0], noise["x"][step][2])
    assert noise["y"][0].dtype == torch.float64
    maps = [noise["x"][0][0], noise["x"][0][1], noise["x"][1][0], noise["y"][0][0, :1]]
    maps.append(NoiseSource.evaluation(1, ids).draw(like, 2)["x"][0][0])
    for i, a in enumerate(maps):  # other image, step, key or seed: other noise
        for b in maps[i + 1 :]:
            assert not torch.equal(a[:1], b[:1])
    with pytest.raises(ValueError, match="seed with identities"):
        NoiseSource(identities=ids)


def test_hashed_normal_is_standard_normal_and_row_wise():
    keys = torch.tensor([0, 1, 2**62 + 5])
    x = hashed_normal(keys, (16, 32, 32))
    assert x.shape == (3, 16, 32, 32) and x.dtype == torch.float32
    assert abs(float(x.mean())) < 0.01 and abs(float(x.std()) - 1) < 0.01
    assert abs(float(torch.corrcoef(x.flatten(1))[0, 1])) < 0.01
    assert torch.equal(hashed_normal(keys[1:], (16, 32, 32))[1], x[2])
    assert stable_seed("image", "a") == stable_seed("image", "a") < 2**63


def test_a_training_source_is_a_generator_of_seed_step_and_rank():
    like = {"x": torch.zeros(2, 3, 4, 4)}
    first = NoiseSource.training(5, step=7, rank=1).draw(like, 2)
    g = torch.Generator().manual_seed(training_seed(5, 7, 1))
    assert torch.equal(first["x"][0], torch.randn(2, 3, 4, 4, generator=g))
    others = [
        NoiseSource.training(*a).draw(like, 2)["x"][0] for a in ((6, 7, 1), (5, 8, 1), (5, 7, 0))
    ]
    assert all(not torch.equal(o, first["x"][0]) for o in others)
    assert training_seed(0, 0, 0) == 0  # noise seed 0 at step 0 on rank 0: the old stream's seed

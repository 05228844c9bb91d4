"""RandAugment-lite against PIL (ImageEnhance, ImageOps) on uint8 images, and its batch rules."""

import numpy as np
import pytest
import torch
from PIL import Image, ImageEnhance, ImageOps

from dmtl.terms import randaugment as ra

# Largest |ours * 255 - PIL| in levels, per operation (the module docstring states them).
TOLERANCE = {
    "brightness": 1.0 + 1e-4,  # PIL truncates the blend (float noise beside it)
    "autocontrast": 1.0 + 1e-4,  # PIL truncates its table
    "color": 1.05,  # PIL rounds the grey image first
    "contrast": 1.05,  # PIL rounds the grey mean first
    "sharpness": 1.05,  # PIL rounds the smoothed image first
    "posterize": 1e-4,  # the same level (1e-4: the float noise of / 255 * 255)
    "solarize": 1e-4,
    "equalize": 1e-4,
}
FACTORS = torch.linspace(0, ra.MAX_FACTOR, ra.BINS)


def _image(seed: int) -> np.ndarray:
    """A 24 x 20 RGB uint8 image: gradients, noise and a random overall scale."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:24, 0:20]
    base = np.stack([x * 10, y * 9, (x + y) * 5], -1) + rng.integers(0, 60, (24, 20, 3))
    return np.clip(base * rng.uniform(0.3, 1.0), 0, 255).astype(np.uint8)


def _pil(name: str, image: Image.Image, factor: float, k: int) -> Image.Image:
    enhance = {"brightness": ImageEnhance.Brightness, "color": ImageEnhance.Color,
               "contrast": ImageEnhance.Contrast, "sharpness": ImageEnhance.Sharpness}  # fmt: skip
    if name in enhance:
        return enhance[name](image).enhance(factor)
    if name == "posterize":
        return ImageOps.posterize(image, int(8 - round(k / 7.5)))
    if name == "solarize":  # JTR's threshold on the 0..255 scale
        return ImageOps.solarize(image, float(torch.linspace(255, 0, ra.BINS)[k]))
    return getattr(ImageOps, name)(image)


@pytest.mark.parametrize("name", sorted(TOLERANCE))
def test_each_operation_matches_pil_within_its_tolerance(name):
    worst = 0.0
    for seed in range(6):
        array = _image(seed)
        x = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255
        for k in range(6):
            for sign in (-1, 1):
                factor = 1 + sign * float(FACTORS[k])
                ours = ra.OPERATIONS[name](x, torch.tensor([factor]).view(-1, 1, 1, 1),
                                           torch.tensor([k]))  # fmt: skip
                theirs = np.asarray(_pil(name, Image.fromarray(array), factor, k), np.float64)
                diff = np.abs(ours[0].permute(1, 2, 0).double().numpy() * 255 - theirs)
                worst = max(worst, float(diff.max()))
    assert worst <= TOLERANCE[name]


def test_equalize_of_a_single_value_channel_is_the_identity_as_in_pil():
    array = np.full((8, 8, 3), 77, np.uint8)
    x = torch.from_numpy(array).permute(2, 0, 1)[None].float() / 255
    out = ra.OPERATIONS["equalize"](x, None, torch.tensor([0]))
    theirs = np.asarray(ImageOps.equalize(Image.fromarray(array)))
    assert np.array_equal(torch.round(out[0].permute(1, 2, 0) * 255).byte().numpy(), theirs)


def test_each_image_gets_its_own_draws_and_the_generator_decides_them():
    images = torch.from_numpy(np.stack([_image(s) for s in range(8)])).permute(0, 3, 1, 2) / 255
    a = ra.randaugment_lite(images, torch.Generator().manual_seed(3))
    b = ra.randaugment_lite(images, torch.Generator().manual_seed(3))
    c = ra.randaugment_lite(images, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == images.shape and 0 <= a.min() and a.max() <= 1


def test_the_batch_applies_the_drawn_operation_to_each_image():
    """An oracle loop: draw as ``randaugment_lite`` does, apply each image's op alone."""
    images = torch.from_numpy(np.stack([_image(s) for s in range(8)])).permute(0, 3, 1, 2) / 255
    out = ra.randaugment_lite(images, torch.Generator().manual_seed(5), num_ops=1)
    g = torch.Generator().manual_seed(5)
    op = torch.randint(len(ra.OPS), (8,), generator=g)
    k = torch.randint(6, (8,), generator=g)
    sign = torch.randint(2, (8,), generator=g) * 2 - 1
    for i in range(8):
        name = ra.OPS[int(op[i])]
        factor = (1 + sign[i] * FACTORS[k[i]]).view(1, 1, 1, 1)
        expected = images[i : i + 1] if name == "identity" else (
            ra.OPERATIONS[name](images[i : i + 1], factor, k[i : i + 1]))  # fmt: skip
        assert torch.allclose(out[i : i + 1], expected, atol=1e-6), name


def test_denormalise_inverts_normalise():
    x = torch.rand(2, 3, 5, 6)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    assert torch.allclose(ra.denormalise(ra.normalise(x, mean, std), mean, std), x, atol=1e-6)

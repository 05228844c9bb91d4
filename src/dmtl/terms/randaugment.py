"""RandAugment-lite on a batch of images in [0, 1]: the photometric "strong view" of the field.

JTR's loaders (and the mean teacher's strong view) apply two operations per image, each at a
magnitude index drawn from {0, ..., 5} on a 31-bin scale, from: identity; brightness, colour
(saturation), contrast and sharpness by a factor 1 ± linspace(0, 0.9, 31)[k] (sign drawn);
posterize to 8 - round(k / 7.5) bits; solarize above linspace(1, 0, 31)[k]; autocontrast; equalize.
Labels are untouched (no geometry).

Here the operations run on the device, on the whole batch at once (each operation computed for the
samples that drew it), in float arithmetic, and intermediate values are not rounded to uint8
between operations. Against PIL on uint8 images (tests/terms/test_randaugment.py): posterize,
solarize (PIL's threshold linspace(255, 0, 31)[k]) and equalize (PIL's table) give
PIL's values exactly; brightness and autocontrast differ by at most one level (PIL truncates
its blend and table to integers); colour, contrast and sharpness by at most 1.05 levels (PIL also
rounds the grey image, its mean and the smoothed image to integers first).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

OPS = (
    "identity",
    "brightness",
    "color",
    "contrast",
    "sharpness",
    "posterize",
    "solarize",
    "autocontrast",
    "equalize",
)
BINS = 31
MAX_FACTOR = 0.9
GREY = torch.tensor([0.299, 0.587, 0.114])  # ITU-R 601-2 luma, PIL's ``convert("L")``


def denormalise(image: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Normalised images (B, 3, H, W) back to [0, 1]."""
    m = image.new_tensor(mean).view(1, -1, 1, 1)
    s = image.new_tensor(std).view(1, -1, 1, 1)
    return (image * s + m).clamp(0, 1)


def normalise(image: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Images in [0, 1] to the network's normalised input."""
    m = image.new_tensor(mean).view(1, -1, 1, 1)
    s = image.new_tensor(std).view(1, -1, 1, 1)
    return (image - m) / s


def randaugment_lite(
    image: torch.Tensor,
    generator: torch.Generator | None = None,
    num_ops: int = 2,
    max_index: int = 5,
) -> torch.Tensor:
    """``num_ops`` random operations per image of ``image`` (B, 3, H, W) in [0, 1].

    Each image draws its operations, magnitude indices k ∈ {0..max_index} and factor signs from
    ``generator`` (on the generator's device, moved to the images'; without one, from the global
    generator of the images' device).
    """
    out = image.clamp(0, 1)
    b = image.shape[0]
    for _ in range(num_ops):
        op = _draw(len(OPS), b, generator, image.device)
        k = _draw(max_index + 1, b, generator, image.device)
        sign = _draw(2, b, generator, image.device) * 2 - 1
        factor = 1 + sign * torch.linspace(0, MAX_FACTOR, BINS, device=image.device)[k]
        out = _apply(out, op, k, factor)
    return out


def _draw(high: int, b: int, generator: torch.Generator | None, device: torch.device):
    """``b`` integers in [0, high) from ``generator`` on its own device, moved to ``device``.

    A CUDA generator draws on the GPU (``torch.randint`` refuses a CPU tensor from it); without
    one, the draws are the global generator's of ``device``.
    """
    where = generator.device if generator is not None else device
    return torch.randint(high, (b,), generator=generator, device=where).to(device)


def _apply(image: torch.Tensor, op: torch.Tensor, k: torch.Tensor, factor: torch.Tensor):
    out = image.clone()
    for index, name in enumerate(OPS):
        rows = (op == index).nonzero().flatten()
        if name == "identity" or rows.numel() == 0:
            continue
        x = image[rows]
        f = factor[rows].view(-1, 1, 1, 1).to(x.dtype)
        out[rows] = OPERATIONS[name](x, f, k[rows])
    return out


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL's ImageEnhance: other + factor (x - other), clipped."""
    return (other + factor * (x - other)).clamp(0, 1)


def _grey(x: torch.Tensor) -> torch.Tensor:
    return (x * GREY.to(x).view(1, 3, 1, 1)).sum(1, keepdim=True)


def _brightness(x, f, k):
    return _blend(x, torch.zeros_like(x), f)


def _color(x, f, k):
    return _blend(x, _grey(x).expand_as(x), f)


def _contrast(x, f, k):
    mean = _grey(x).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(x, mean.expand_as(x), f)


def _sharpness(x, f, k):
    # PIL's SMOOTH kernel (1 1 1 / 1 5 1 / 1 1 1) / 13; the border keeps the original pixels
    kernel = x.new_tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13
    kernel = kernel.view(1, 1, 3, 3).expand(3, 1, 3, 3)
    smooth = torch.nn.functional.conv2d(x, kernel, padding=1, groups=3)
    smooth[..., 0, :], smooth[..., -1, :] = x[..., 0, :], x[..., -1, :]
    smooth[..., :, 0], smooth[..., :, -1] = x[..., :, 0], x[..., :, -1]
    return _blend(x, smooth, f)


def _posterize(x, f, k):
    bits = 8 - torch.round(k.to(x.dtype) / 7.5)
    levels = (2 ** (8 - bits)).view(-1, 1, 1, 1)
    return torch.floor(torch.round(x * 255) / levels) * levels / 255


def _solarize(x, f, k):
    threshold = torch.linspace(1, 0, BINS, device=x.device, dtype=x.dtype)[k].view(-1, 1, 1, 1)
    return torch.where(x >= threshold, 1 - x, x)


def _autocontrast(x, f, k):
    low = x.amin(dim=(2, 3), keepdim=True)
    high = x.amax(dim=(2, 3), keepdim=True)
    span = high - low
    stretched = (x - low) / span.clamp_min(1e-12)
    return torch.where(span > 0, stretched, x)


def _equalize(x, f, k):
    """Per image and channel, PIL's ``ImageOps.equalize`` table on the 256-level values.

    With h the channel's histogram, m its largest value present and step = ⌊(N − h[m]) / 255⌋,
    value i maps to ⌊(⌊step / 2⌋ + Σ_{j<i} h[j]) / step⌋ (clipped to 255); a channel with
    step 0 (one value, or too few pixels) is left as it is.
    """
    b, c, h, w = x.shape
    q = torch.round(x.clamp(0, 1) * 255).long().reshape(b * c, h * w)
    hist = torch.zeros(b * c, 256, device=x.device, dtype=torch.float64)
    hist.scatter_add_(1, q, torch.ones_like(q, dtype=torch.float64))
    top = 255 - (hist > 0).flip(1).to(torch.uint8).argmax(1, keepdim=True)  # m
    step = torch.floor((h * w - torch.gather(hist, 1, top)) / 255)  # (b c, 1)
    before = hist.cumsum(1) - hist  # Σ_{j<i} h[j]
    table = torch.floor((torch.floor(step / 2) + before) / step.clamp_min(1)).clamp(0, 255)
    identity = torch.arange(256, device=x.device, dtype=torch.float64).expand_as(table)
    table = torch.where(step > 0, table, identity)
    return (torch.gather(table, 1, q) / 255).to(x.dtype).view(b, c, h, w)


OPERATIONS = {
    "brightness": _brightness,
    "color": _color,
    "contrast": _contrast,
    "sharpness": _sharpness,
    "posterize": _posterize,
    "solarize": _solarize,
    "autocontrast": _autocontrast,
    "equalize": _equalize,
}

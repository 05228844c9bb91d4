"""Geometric views of a training batch, made on the device: the scale-crop and its inverse map R.

MTPSL's and JTR's loaders make a view of an image by RandomScaleCrop: a scale s drawn per sample
from a set ({1.0, 1.2, 1.5}), a crop box of (int(H / s), int(W / s)) pixels at a random corner
(i, j), resized back to (H, W): the image bilinearly, the targets by nearest neighbour, depth
divided by s (the zoomed scene looks s times closer). Here the views are made from the batch the
loader already augmented, on its device, for every sample at once (a gather per tap of the
resize, no loop over samples). That is a departure from the reference, whose loaders crop the raw
images: a view here is a crop of the loader's view (as JTR's views 1 and 2 are crops of its view 0).

Targets are resized by nearest neighbour because a nearest pixel is a copy of one source pixel:
class ids stay ids, and an invalid pixel (ignore id 255, depth 0, the all-zero normal) is never
blended with valid neighbours into a value that would pass as valid (bilinear depth beside a hole
would give half the depth; bilinear normals would give a short, wrongly pointing vector).

``crop_like`` is the map R of the consistency term (docs/consistency.md): a prediction of the whole
image cropped to a view's box and resized to the view's size, so it lies on the view's pixels.
The resize follows ``torch.nn.functional.interpolate`` (``align_corners=False``; ``nearest`` is its
legacy nearest) exactly, sample by sample, which the tests check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from dmtl.tasks import TaskSpec

MTPSL_SCALES = (1.0, 1.2, 1.5)  # mtan / MTPSL / JTR RandomScaleCrop


@dataclass(frozen=True)
class ScaleCropBoxes:
    """One crop box per sample and the view size the crops are resized to.

    Attributes:
        scale: (B,) float64 the drawn scale s.
        top, left: (B,) int64 the box's first row i and column j in the source.
        height, width: (B,) int64 the box's size (int(H / s), int(W / s)).
        size: (H, W) of the views (the source's size).
    """

    scale: torch.Tensor
    top: torch.Tensor
    left: torch.Tensor
    height: torch.Tensor
    width: torch.Tensor
    size: tuple[int, int]

    def value_factor(self, power: int, dtype: torch.dtype) -> torch.Tensor:
        """(B, 1, 1, 1) s ** power: what a zoom does to a map's values (depth: power -1)."""
        return self.scale.pow(power).to(dtype).view(-1, 1, 1, 1)


def draw_boxes(
    batch: int,
    size: tuple[int, int],
    scales: Sequence[float],
    generator: torch.Generator | None,
    device: torch.device,
) -> ScaleCropBoxes:
    """A scale from ``scales`` and a crop box for each of ``batch`` samples of ``size`` (H, W).

    Drawn from ``generator`` (on its device; the default generator of ``device`` without one):
    the scale uniformly from the set, the corner uniformly over the positions that keep the box
    inside the image (mtan's ``random.randint(0, H - h)``, both ends included).
    """
    draw_on = generator.device if generator is not None else torch.device(device)
    h, w = size
    choice = torch.randint(len(scales), (batch,), generator=generator, device=draw_on)
    scale = torch.tensor(list(scales), dtype=torch.float64, device=draw_on)[choice]
    height = torch.floor(h / scale).long()  # Python's int(H / s) in double precision
    width = torch.floor(w / scale).long()
    u = torch.rand(2, batch, generator=generator, device=draw_on, dtype=torch.float64)
    top = torch.floor(u[0] * (h - height + 1)).long().clamp(max=h - height)
    left = torch.floor(u[1] * (w - width + 1)).long().clamp(max=w - width)
    boxes = (scale, top, left, height, width)
    return ScaleCropBoxes(*(t.to(device) for t in boxes), size=(h, w))


def resample(x: torch.Tensor, boxes: ScaleCropBoxes, mode: str = "bilinear") -> torch.Tensor:
    """Each sample of ``x`` (B, C, H', W') cropped to its box and resized to ``boxes.size``.

    ``mode``: ``bilinear`` (``align_corners=False``, differentiable in ``x``) or ``nearest``
    (exact copies of source pixels). Equal to a per-sample ``x[b, :, i:i+h, j:j+w]`` resized with
    ``torch.nn.functional.interpolate``.
    """
    b, c, src_h, src_w = x.shape
    out_h, out_w = boxes.size
    flat = x.reshape(b, c, src_h * src_w)
    if mode == "nearest":
        rows = _nearest(boxes.height, out_h) + boxes.top[:, None]
        cols = _nearest(boxes.width, out_w) + boxes.left[:, None]
        return _gather(flat, rows, cols, src_w).view(b, c, out_h, out_w)
    if mode != "bilinear":
        raise ValueError(f"resample mode must be bilinear or nearest, got {mode!r}")
    r0, r1, ry = _linear(boxes.height, out_h)
    c0, c1, cx = _linear(boxes.width, out_w)
    r0, r1 = r0 + boxes.top[:, None], r1 + boxes.top[:, None]
    c0, c1 = c0 + boxes.left[:, None], c1 + boxes.left[:, None]
    ry = ry.to(x.dtype).view(b, 1, out_h, 1)
    cx = cx.to(x.dtype).view(b, 1, 1, out_w)

    def tap(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        return _gather(flat, rows, cols, src_w).view(b, c, out_h, out_w)

    top = tap(r0, c0) * (1 - cx) + tap(r0, c1) * cx
    bottom = tap(r1, c0) * (1 - cx) + tap(r1, c1) * cx
    return top * (1 - ry) + bottom * ry


def scale_crop(
    batch: dict,
    specs: Sequence[TaskSpec],
    boxes: ScaleCropBoxes,
    inverse_depth: bool = False,
) -> dict:
    """A view of a training batch: image bilinear, targets nearest, values corrected for s.

    Returns a batch dict with ``image``, ``targets`` and ``labelled`` (unchanged: a crop labels
    the tasks its source labels). ``inverse_depth``: the depth maps hold inverse depth, which a
    zoom multiplies by s (the data pipeline's rule) instead of dividing.
    """
    targets = {}
    for spec in specs:
        target = batch["targets"][spec.name]
        ids = target.ndim == 3  # class-id maps (B, H, W)
        view = resample(target.unsqueeze(1) if ids else target, boxes, "nearest")
        targets[spec.name] = view.squeeze(1) if ids else _zoom(view, spec, boxes, inverse_depth)
    return {
        "image": resample(batch["image"], boxes, "bilinear"),
        "targets": targets,
        "labelled": batch["labelled"],
    }


def crop_like(
    pred: torch.Tensor, boxes: ScaleCropBoxes, spec: TaskSpec, inverse_depth: bool = False
) -> torch.Tensor:
    """R(pred): full-image predictions (B, C, H, W) on the views' pixels (bilinear, s-corrected).

    The prediction of the source image over a view's box, resized to the view's size, its values
    multiplied by s ** zoom_power (depth divided by s), so it is comparable with the prediction of
    the view itself.
    """
    return _zoom(resample(pred, boxes, "bilinear"), spec, boxes, inverse_depth)


def _zoom(
    values: torch.Tensor, spec: TaskSpec, boxes: ScaleCropBoxes, inverse_depth: bool
) -> torch.Tensor:
    power = spec.behaviour.zoom_power * (-1 if inverse_depth else 1)
    return values if power == 0 else values * boxes.value_factor(power, values.dtype)


def _nearest(size: torch.Tensor, out: int) -> torch.Tensor:
    """(B, out) source index of each output index (interpolate's legacy nearest)."""
    scale = size.to(torch.float32)[:, None] / out  # float32, as interpolate computes it
    index = torch.arange(out, device=size.device, dtype=torch.float32)[None]
    return torch.minimum(torch.floor(index * scale).long(), size[:, None] - 1)


def _linear(size: torch.Tensor, out: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(B, out) the two source taps and the weight of the second (align_corners=False)."""
    scale = size.to(torch.float32)[:, None] / out
    index = torch.arange(out, device=size.device, dtype=torch.float32)[None]
    src = (scale * (index + 0.5) - 0.5).clamp(min=0)
    first = torch.minimum(torch.floor(src).long(), size[:, None] - 1)
    second = torch.minimum(first + 1, size[:, None] - 1)
    weight = (src - first).clamp(0, 1)
    return first, second, weight


def _gather(flat: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, width: int):
    """flat (B, C, H*W) at the pixels rows (B, h) x cols (B, w): (B, C, h * w)."""
    b, c, _ = flat.shape
    index = (rows[:, :, None] * width + cols[:, None, :]).view(b, 1, -1).expand(b, c, -1)
    return flat.gather(2, index)

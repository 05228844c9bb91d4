"""Batch scale-crop views against a per-sample crop + ``interpolate`` oracle."""

import pytest
import torch
import torch.nn.functional as F

from dmtl.tasks import resolve_tasks
from dmtl.terms.views import MTPSL_SCALES, crop_like, draw_boxes, resample, scale_crop

SPECS = resolve_tasks("synthetic")


def _boxes(b=6, size=(32, 40), seed=0):
    g = torch.Generator().manual_seed(seed)
    return draw_boxes(b, size, MTPSL_SCALES, g, torch.device("cpu"))


def _oracle(x, boxes, mode):
    """Sample by sample: crop the box, resize it to the view size with ``interpolate``."""
    out = []
    for k in range(x.shape[0]):
        i, j = int(boxes.top[k]), int(boxes.left[k])
        h, w = int(boxes.height[k]), int(boxes.width[k])
        crop = x[k : k + 1, :, i : i + h, j : j + w]
        kwargs = {"align_corners": False} if mode == "bilinear" else {}
        out.append(F.interpolate(crop, size=boxes.size, mode=mode, **kwargs))
    return torch.cat(out)


def test_boxes_follow_the_mtpsl_rule():
    boxes = _boxes(b=400, size=(288, 384))
    assert set(boxes.scale.tolist()) == set(MTPSL_SCALES)
    for s, h, w, i, j in zip(
        *(t.tolist() for t in (boxes.scale, boxes.height, boxes.width, boxes.top, boxes.left)),
        strict=True,
    ):
        assert (h, w) == (int(288 / s), int(384 / s))
        assert 0 <= i <= 288 - h and 0 <= j <= 384 - w
    # every corner position is drawn: both ends of the range included
    big = boxes.scale == 1.5
    assert boxes.top[big].min() == 0 and boxes.top[big].max() == 288 - 192


@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("size", [(32, 40), (45, 31)])
def test_resample_equals_a_per_sample_crop_and_interpolate(mode, size):
    boxes = _boxes(size=size, seed=3)
    x = torch.randn(6, 3, *size, generator=torch.Generator().manual_seed(1))
    got = resample(x, boxes, mode)
    assert got.shape == (6, 3, *size)
    if mode == "nearest":
        assert torch.equal(got, _oracle(x, boxes, mode))
    else:
        torch.testing.assert_close(got, _oracle(x, boxes, mode), rtol=0, atol=1e-5)


def test_a_view_keeps_ids_and_invalid_pixels_exact_and_divides_depth_by_s():
    b, h, w = 6, 32, 40
    g = torch.Generator().manual_seed(2)
    semseg = torch.randint(0, 13, (b, h, w), generator=g)
    semseg[:, :5] = 255
    depth = torch.rand(b, 1, h, w, generator=g) + 1
    depth[..., ::3] = 0
    normals = F.normalize(torch.randn(b, 3, h, w, generator=g), dim=1)
    normals[..., ::4, :] = 0
    batch = {"image": torch.rand(b, 3, h, w, generator=g),
             "targets": {"semseg": semseg, "depth": depth, "normals": normals},
             "labelled": torch.ones(b, 3, dtype=torch.bool)}  # fmt: skip
    boxes = _boxes(b)
    view = scale_crop(batch, SPECS, boxes)
    s = boxes.scale.float().view(-1, 1, 1, 1)
    assert torch.equal(view["targets"]["semseg"],
                       _oracle(semseg[:, None].float(), boxes, "nearest")[:, 0].long())  # fmt: skip
    torch.testing.assert_close(view["targets"]["depth"], _oracle(depth, boxes, "nearest") / s)
    assert torch.equal(view["targets"]["normals"], _oracle(normals, boxes, "nearest"))
    # nearest copies pixels: only source values (and the invalid marks) appear
    assert set(view["targets"]["semseg"].unique().tolist()) <= set(range(13)) | {255}
    zero = view["targets"]["normals"].abs().sum(1) == 0
    assert torch.allclose(view["targets"]["normals"].norm(dim=1)[~zero], torch.tensor(1.0))
    torch.testing.assert_close(view["image"], _oracle(batch["image"], boxes, "bilinear"),
                               rtol=0, atol=1e-5)  # fmt: skip
    # inverse depth is multiplied by s instead
    inverse = scale_crop(batch, SPECS, boxes, inverse_depth=True)["targets"]["depth"]
    torch.testing.assert_close(inverse, _oracle(depth, boxes, "nearest") * s)


def test_crop_like_is_r_of_the_consistency_term():
    """A prediction of the full image mapped by R equals the view's own prediction when the
    predictor commutes with the crop (here: the identity on a smooth map)."""
    b, h, w = 6, 32, 40
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    depth = (1 + yy + xx / 7).expand(b, 1, h, w)
    boxes = _boxes(b)
    depth_spec = SPECS[1]
    got = crop_like(depth, boxes, depth_spec)
    s = boxes.scale.float().view(-1, 1, 1, 1)
    torch.testing.assert_close(got, _oracle(depth, boxes, "bilinear") / s, rtol=1e-6, atol=1e-5)
    # the gradient flows back to the source pixels inside the box only
    logits = torch.randn(b, 13, h, w, requires_grad=True)
    crop_like(logits, boxes, SPECS[0]).sum().backward()
    for k in range(b):
        i, j = int(boxes.top[k]), int(boxes.left[k])
        hh, ww = int(boxes.height[k]), int(boxes.width[k])
        inside = torch.zeros(h, w, dtype=torch.bool)
        inside[i : i + hh, j : j + ww] = True
        assert logits.grad[k][:, ~inside].abs().sum() == 0
        assert logits.grad[k][:, inside].abs().sum() > 0

"""Tests of the Guo–Hall thinning against a pixel-by-pixel loop of the published rules."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from metric_references import np_thin
from scipy import ndimage

from dmtl.metrics.thinning import thin

SEED = 77


def test_thin_matches_loop_reference_on_random_maps():
    gen = np.random.default_rng(SEED)
    maps = gen.random((24, 13, 12)) < 0.55
    maps[12:] = ndimage.binary_dilation(maps[12:] & (gen.random((12, 13, 12)) < 0.15), iterations=2)
    ours = thin(torch.from_numpy(maps)).numpy()
    for mask, got in zip(maps, ours):
        assert np.array_equal(got, np_thin(mask))


def test_thin_shapes():
    bar = torch.zeros(1, 9, 12, dtype=torch.bool)
    bar[0, 3:6, 1:11] = True  # 3 pixels thick
    out = thin(bar)[0]
    assert int(out.sum(dim=0).max()) == 1 and bool(out[4, 2:10].all())  # one centred line
    line = torch.zeros(1, 9, 12, dtype=torch.bool)
    line[0, 2, 1:11] = True
    assert torch.equal(thin(line), line)  # already thin: unchanged, end points kept
    ring = torch.zeros(1, 12, 12, dtype=torch.bool)
    ring[0, 1:11, 1:11] = True
    ring[0, 4:8, 4:8] = False
    out = thin(ring)[0].numpy()
    assert ndimage.label(~out)[1] == 2  # the hole survives (topology preserved)
    assert torch.equal(thin(thin(ring)), thin(ring))  # idempotent


def test_thin_matches_scikit_image_when_available():
    skimage_morphology = pytest.importorskip("skimage.morphology")
    gen = np.random.default_rng(1)
    maps = gen.random((20, 30, 27)) < 0.6
    ours = thin(torch.from_numpy(maps)).numpy()
    for mask, got in zip(maps, ours):
        assert np.array_equal(got, skimage_morphology.thin(mask))

"""Cityscapes-like synthetic streets: label_7 classes and inverse depth in MTAN's units."""

import numpy as np
import pytest

from dmtl.data.readers.cityscapes import CityscapesDataset
from dmtl.data.synthetic.dataset import SyntheticConfig
from dmtl.data.synthetic.street import DISPARITY_UNIT, HUMAN, SKY, VEHICLE
from dmtl.data.synthetic.variants import ensure_variant_rendered, render_variant_sample

CONFIG = SyntheticConfig(height=32, width=64, num_train=6, num_val=2, seed=0)


@pytest.fixture(scope="module")
def rendered():
    return [render_variant_sample("synthetic_cityscapes", 0, "train", i, 32, 64) for i in range(6)]


def test_disparity_unit_is_cityscapes_disparity_png_over_65535():
    # a point at z metres has disparity B f / z pixels, stored as 256 d (+1) in a 16-bit PNG
    z = 10.0
    assert DISPARITY_UNIT / z == pytest.approx(256 * 0.209313 * 2262.52 / z / 65535)
    assert DISPARITY_UNIT / 3.76 == pytest.approx(0.4922, abs=1e-3)  # MTAN's largest value


def test_classes_are_the_seven_categories_with_street_content(rendered):
    seen = set()
    for s in rendered:
        assert set(np.unique(s["semseg"])) <= set(range(7)) | {255}
        seen |= set(np.unique(s["semseg"]).tolist())
    assert {0, 1, SKY, VEHICLE} <= seen


def test_the_ego_bonnet_is_void_without_depth_at_the_bottom_centre(rendered):
    for s in rendered:
        void = s["semseg"] == 255
        assert void[-1, 32] and not void[: 32 // 2].any()  # bottom centre, never the upper half
        assert (s["depth"][void] == 0).all()
        # an arc: columns nearer the centre are void at least as high up
        rows = void.sum(0)
        assert (np.diff(rows[:32]) >= 0).all() and (np.diff(rows[32:]) <= 0).all()


def test_inverse_depth_is_positive_where_valid_zero_on_sky_and_falls_with_distance(rendered):
    for s in rendered:
        sky = s["semseg"] == SKY
        valid = s["depth"] > 0
        assert (s["depth"][sky] == 0).all() and np.isinf(s["z"][sky]).all()
        assert valid.mean() > 0.6  # the sky, the bonnet and 2 % holes are invalid
        np.testing.assert_allclose(s["depth"][valid] * s["z"][valid], DISPARITY_UNIT, rtol=1e-5)
        order = np.argsort(s["z"][valid])  # farther -> smaller inverse depth
        assert (np.diff(s["depth"][valid][order]) <= 1e-7).all()


def test_people_and_cars_are_nearer_than_the_sky_and_labelled(rendered):
    counts = sum(np.isin(s["semseg"], (HUMAN, VEHICLE)).sum() for s in rendered)
    assert counts > 0


def test_reader_reads_back_the_rendered_arrays(tmp_path):
    root = ensure_variant_rendered(tmp_path, "synthetic_cityscapes", CONFIG)
    assert ensure_variant_rendered(tmp_path, "synthetic_cityscapes", CONFIG) == root  # cached
    data = CityscapesDataset(root, "val", ["semseg", "depth"])
    for index in range(len(data)):
        expected = render_variant_sample("synthetic_cityscapes", 0, "val", index, 32, 64)
        got = data.load_sample(index)
        np.testing.assert_array_equal(got["semseg"], expected["semseg"])
        np.testing.assert_array_equal(got["depth"], expected["depth"])
        np.testing.assert_allclose(got["image"], expected["image"])


def test_samples_are_a_function_of_seed_split_and_index():
    a = render_variant_sample("synthetic_cityscapes", 1, "train", 2, 24, 48)
    b = render_variant_sample("synthetic_cityscapes", 1, "train", 2, 24, 48)
    c = render_variant_sample("synthetic_cityscapes", 2, "train", 2, 24, 48)
    for key in ("image", "semseg", "depth"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["depth"], c["depth"])

"""PASCAL-like synthetic scenes: mannequins, and the five targets as the PASCAL-Context reader
derives them from the rendered files."""

import numpy as np
import pytest

from dmtl.data.readers.pascal_annotations import NYU_COMPATIBLE_CLASSES, PART_OF
from dmtl.data.readers.pascal_context import PascalContextDataset
from dmtl.data.synthetic.dataset import SyntheticConfig
from dmtl.data.synthetic.objects import Layout
from dmtl.data.synthetic.people import PART_NAMES, VOC_PERSON, add_person
from dmtl.data.synthetic.variants import (
    ensure_variant_rendered,
    pascal_image_id,
    render_variant_sample,
)

TASKS = ["semseg", "human_parts", "sal", "normals", "edge"]
CONFIG = SyntheticConfig(height=48, width=48, num_train=12, num_val=4, seed=0)


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = ensure_variant_rendered(tmp_path_factory.mktemp("pascal"), "synthetic_pascal", CONFIG)
    data = PascalContextDataset(root, "train", TASKS)
    return root, [data.load_sample(i) for i in range(len(data))]


def _laplacian_nonzero(labels):
    """NumPy reference of OpenCV's 4-neighbour Laplacian != 0 (BORDER_REFLECT_101)."""
    p = np.pad(labels.astype(np.int64), 1, mode="reflect")
    lap = p[:-2, 1:-1] + p[2:, 1:-1] + p[1:-1, :-2] + p[1:-1, 2:] - 4 * p[1:-1, 1:-1]
    return lap != 0


def test_mannequin_has_ten_consecutive_parts_covering_the_six_pascal_parts():
    lay = Layout(np.random.default_rng(0), np.array([4.0, 4.0, 3.0]), np.zeros(3))
    names = add_person(lay, (2.0, 2.0, 0.3), 1.8, label=13, base=0.15)
    assert list(names.values()) == list(PART_NAMES)
    assert sorted(names) == list(range(min(names), min(names) + 10))
    assert {PART_OF[n] for n in names.values()} == set(range(1, 7))
    z = {n: lay.primitives[i].center[2] for i, n in enumerate(names.values())}
    assert z["head"] > z["torso"] > z["luleg"] > z["llleg"] > 0.15
    top = lay.primitives[0].center[2] + lay.primitives[0].half[2]
    assert top == pytest.approx(1.8 + 0.15)  # the head ends at the person's height above the base


def test_labels_are_within_range(samples):
    for s in samples[1]:
        assert set(np.unique(s["semseg"])) <= set(range(21)) | {255}
        assert set(np.unique(s["human_parts"])) <= set(range(7)) | {255}
        assert set(np.unique(s["sal"])) <= {0, 1}
        assert set(np.unique(s["edge"])) <= {0.0, 1.0}


def test_parts_lie_exactly_on_the_people_and_saliency_covers_them(samples):
    seen_person = seen_none = False
    for s in samples[1]:
        person = s["semseg"] == VOC_PERSON
        if not person.any():  # no visible person: no part label at all, as the real reader gives
            assert (s["human_parts"] == 255).all()
            seen_none = True
            continue
        seen_person = True
        parts = s["human_parts"]
        assert ((parts >= 1) & (parts <= 6) == person).all()
        assert (parts[~person] == 0).all()
        assert s["sal"][person].all()
    assert seen_person and seen_none  # the fixture holds both kinds of image


def test_edges_are_the_thinned_boundaries_of_the_label_map(samples):
    import scipy.io
    import torch

    from dmtl.metrics.thinning import thin  # an independent (torch, lookup-table) Guo-Hall

    root, loaded = samples
    for index, s in enumerate(loaded):
        path = root / "pascal-context" / "trainval" / f"{pascal_image_id('train', index)}.mat"
        labels = scipy.io.loadmat(path)["LabelMap"]
        candidates = torch.from_numpy(_laplacian_nonzero(labels))
        np.testing.assert_array_equal(s["edge"] > 0, thin(candidates[None])[0].numpy())
        assert s["edge"].sum() > 0
        # semantic boundaries are label-map boundaries: a VOC class change is a context change
        voc_change = s["semseg"][:, :-1] != s["semseg"][:, 1:]
        assert not (voc_change & (labels[:, :-1] == labels[:, 1:])).any()


def test_normals_are_unit_where_the_protocol_keeps_them(samples):
    import scipy.io

    root, loaded = samples
    compatible = np.array(sorted(NYU_COMPATIBLE_CLASSES))
    for index, s in enumerate(loaded):
        path = root / "pascal-context" / "trainval" / f"{pascal_image_id('train', index)}.mat"
        keep = np.isin(scipy.io.loadmat(path)["LabelMap"], compatible)
        norm = np.linalg.norm(s["normals"], axis=-1)
        assert (norm[~keep] == 0).all()
        assert np.abs(norm[keep] - 1).max() < 0.02  # 8-bit PNG quantisation


def test_samples_are_a_function_of_seed_split_and_index():
    a = render_variant_sample("synthetic_pascal", 3, "train", 5, 32, 32)
    b = render_variant_sample("synthetic_pascal", 3, "train", 5, 32, 32)
    c = render_variant_sample("synthetic_pascal", 3, "val", 5, 32, 32)
    for key in ("image", "semseg", "label_map", "sal", "normals"):
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["image"], c["image"])

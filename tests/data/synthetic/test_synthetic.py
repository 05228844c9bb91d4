"""Synthetic scene renderer: formats, determinism, geometry, invalid pixels, on-disk cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dmtl.data.synthetic import dataset as synthetic
from dmtl.data.synthetic.dataset import (
    GENERATOR_VERSION,
    MAX_DEPTH,
    MODALITIES,
    NYU13_CLASSES,
    SyntheticConfig,
    dataset_name,
    ensure_rendered,
    render_sample,
    scene_of,
    semantic_edges,
)
from dmtl.data.synthetic.render import camera_rays
from dmtl.errors import ConfigError, DataError

FLOOR, WALL = NYU13_CLASSES.index("floor"), NYU13_CLASSES.index("wall")
SIZES = [(32, 32), (48, 64), (64, 40)]
TINY = SyntheticConfig(height=32, width=40, num_train=5, num_val=3, seed=7)


@pytest.fixture(scope="module")
def samples() -> list[dict[str, np.ndarray]]:
    return [render_sample(0, "train", i, 48, 64) for i in range(16)]


def test_classes_are_the_nyu13_set() -> None:
    assert NYU13_CLASSES == (
        "bed", "books", "ceiling", "chair", "floor", "furniture", "objects",
        "picture", "sofa", "table", "tv", "wall", "window",
    )  # fmt: skip


def test_same_arguments_give_identical_arrays() -> None:
    first, second = render_sample(3, "val", 5, 32, 40), render_sample(3, "val", 5, 32, 40)
    assert first.keys() == second.keys() == set(MODALITIES)
    for key in first:
        assert first[key].tobytes() == second[key].tobytes(), key


@pytest.mark.parametrize("other", [(3, "val", 6), (3, "train", 5), (4, "val", 5)])
def test_other_index_split_or_seed_gives_another_scene(other: tuple[int, str, int]) -> None:
    base = render_sample(3, "val", 5, 32, 40)
    changed = render_sample(*other, 32, 40)
    assert not np.array_equal(base["image"], changed["image"])
    assert not np.array_equal(base["depth"], changed["depth"])


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_formats_shapes_and_ranges(height: int, width: int) -> None:
    sample = render_sample(1, "train", 2, height, width)
    expected = {
        "image": (height, width, 3),
        "label": (height, width),
        "depth": (height, width, 1),
        "normal": (height, width, 3),
        "edge": (height, width),
    }
    for key, shape in expected.items():
        assert sample[key].shape == shape, key
        assert sample[key].dtype == np.float32, key
        assert np.isfinite(sample[key]).all(), key
    assert sample["image"].min() >= 0 and sample["image"].max() <= 1
    assert sample["image"].std() > 0.02  # not a flat picture
    label = sample["label"]
    assert np.array_equal(label, np.round(label))
    assert set(np.unique(label).astype(int)) <= set(range(-1, len(NYU13_CLASSES)))
    depth = sample["depth"]
    assert depth.min() >= 0 and depth.max() <= MAX_DEPTH
    assert (depth > 0).mean() > 0.5
    assert set(np.unique(sample["edge"])) <= {0.0, 1.0}


def test_normals_are_unit_face_the_camera_and_vanish_on_depth_holes(samples) -> None:
    rays = camera_rays(48, 64)
    for sample in samples:
        normal, valid = sample["normal"], sample["depth"][..., 0] > 0
        assert np.allclose(np.linalg.norm(normal[valid], axis=-1), 1.0, atol=1e-5)
        assert (normal[~valid] == 0).all()
        assert ((normal * rays).sum(-1)[valid] < 0).all()


def test_invalid_pixel_fractions_are_modest(samples) -> None:
    holes = np.array([(s["depth"] == 0).mean() for s in samples])
    unlabelled = np.array([(s["label"] == -1).mean() for s in samples])
    assert 0.003 < holes.mean() < 0.08
    assert 0.002 < unlabelled.mean() < 0.06
    assert holes.max() < 0.3 and unlabelled.max() < 0.3
    assert (holes > 0).sum() >= len(samples) // 2


def test_classes_are_varied_and_not_dominated_by_walls(samples) -> None:
    labels = np.stack([s["label"] for s in samples]).astype(int)
    counts = np.bincount(labels[labels >= 0], minlength=len(NYU13_CLASSES))
    freq = counts / counts.sum()
    assert (counts > 0).sum() >= 10
    assert freq[WALL] < 0.5 and freq[FLOOR] < 0.5
    per_sample = [len(np.unique(s["label"][s["label"] >= 0])) for s in samples]
    assert min(per_sample) >= 3


def test_edges_mark_every_label_change_once(samples) -> None:
    for sample in samples:
        label, edge = sample["label"], sample["edge"] > 0
        for a, b, ea, eb in (
            (label[:, :-1], label[:, 1:], edge[:, :-1], edge[:, 1:]),
            (label[:-1], label[1:], edge[:-1], edge[1:]),
        ):
            change = (a != b) & (a >= 0) & (b >= 0)
            assert (ea | eb)[change].all()
        assert 0.01 < edge.mean() < 0.3


def test_semantic_edges_reference() -> None:
    instance = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 3, 3]])
    depth = np.array([[1.0, 1.0, 2.0, 2.0], [1.0, 1.0, 2.0, 2.0], [0.5, 0.5, 0.5, 0.5]])
    expected = np.array([[0, 1, 0, 0], [0, 1, 0, 0], [1, 1, 1, 1]], dtype=bool)
    assert np.array_equal(semantic_edges(instance, depth), expected)
    # Equal depth: the smaller id takes the edge.
    flat = semantic_edges(np.array([[5, 4]]), np.ones((1, 2)))
    assert np.array_equal(flat, [[False, True]])


def test_floor_depth_and_normal_follow_the_floor_plane() -> None:
    height, width = 48, 64
    rays = camera_rays(height, width)
    checked = 0
    for index in range(6):
        sample = render_sample(2, "train", index, height, width)
        scene = scene_of(2, "train", index)
        up = scene.cam_rot.T @ np.array([0.0, 0.0, 1.0])  # world up in the camera frame
        floor = (sample["label"] == FLOOR) & (sample["depth"][..., 0] > 0)
        # Floor points X = z * ray satisfy camera_height + up . X = 0.
        expected = -scene.cam_pos[2] / (rays @ up)
        np.testing.assert_allclose(sample["depth"][..., 0][floor], expected[floor], rtol=1e-4)
        np.testing.assert_allclose(
            sample["normal"][floor], np.broadcast_to(up, (floor.sum(), 3)), atol=1e-5
        )
        checked += floor.sum()
    assert checked > 1000


def test_the_scene_does_not_depend_on_the_resolution() -> None:
    small = render_sample(4, "train", 1, 32, 40)
    # Pixel (i, j) of the small image has the ray of pixel (3i + 1, 3j + 1) of a 3x larger one.
    large = {k: v[1::3, 1::3] for k, v in render_sample(4, "train", 1, 96, 120).items()}
    assert (small["label"] == large["label"]).mean() > 0.97
    both = (small["depth"] > 0) & (large["depth"] > 0)
    close = np.isclose(small["depth"][both], large["depth"][both], rtol=1e-3)
    assert close.mean() > 0.97


def test_camera_intrinsics_are_nyu_like() -> None:
    rays = camera_rays(480, 640)
    focal = 1 / (rays[0, 1, 0] - rays[0, 0, 0])
    assert focal == pytest.approx(0.81 * 640, rel=1e-4)
    assert rays[240, 320, 0] == pytest.approx(0.5 / focal, rel=1e-3)  # principal point (320, 240)


def test_bad_arguments_raise_config_errors() -> None:
    with pytest.raises(ConfigError, match="split"):
        render_sample(0, "training", 0, 32, 32)
    with pytest.raises(ConfigError):
        render_sample(0, "train", -1, 32, 32)
    with pytest.raises(ConfigError):
        SyntheticConfig(height=4)
    with pytest.raises(ConfigError):
        SyntheticConfig(num_val=0)


def _read_all(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.npy"))}


def test_ensure_rendered_writes_the_mtpsl_layout(tmp_path: Path) -> None:
    root = ensure_rendered(tmp_path, TINY)
    assert root == tmp_path / dataset_name(TINY)
    assert root.name == f"synthetic-v{GENERATOR_VERSION}-32x40-train5-val3-seed7"
    for split, count in (("train", 5), ("val", 3)):
        for name in MODALITIES:
            files = sorted(p.name for p in (root / split / name).iterdir())
            assert files == sorted(f"{i}.npy" for i in range(count)), (split, name)
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["generator_version"] == GENERATOR_VERSION
    assert manifest["config"] == {
        "height": 32, "width": 40, "num_train": 5, "num_val": 3, "seed": 7
    }  # fmt: skip
    reference = render_sample(7, "val", 2, 32, 40)
    for name in MODALITIES:
        assert np.array_equal(np.load(root / "val" / name / "2.npy"), reference[name])
    assert [p.name for p in tmp_path.iterdir()] == [root.name]  # no temporary folders left


def test_ensure_rendered_reuses_a_complete_dataset(tmp_path: Path, monkeypatch) -> None:
    root = ensure_rendered(tmp_path, TINY)
    before = _read_all(root)

    def fail(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr(synthetic, "render_sample", fail)
    assert ensure_rendered(tmp_path, TINY) == root
    assert _read_all(root) == before


def test_other_configs_get_other_roots(tmp_path: Path) -> None:
    roots = {
        ensure_rendered(tmp_path, TINY),
        ensure_rendered(tmp_path, SyntheticConfig(32, 40, 5, 3, seed=8)),
        ensure_rendered(tmp_path, SyntheticConfig(32, 32, 5, 3, seed=7)),
    }
    assert len(roots) == 3


def test_workers_do_not_change_the_files(tmp_path: Path) -> None:
    one = ensure_rendered(tmp_path / "one", TINY, workers=1)
    two = ensure_rendered(tmp_path / "two", TINY, workers=2)
    assert _read_all(one) == _read_all(two)


def test_a_finished_rival_copy_is_kept(tmp_path: Path, monkeypatch) -> None:
    render_all = synthetic._render_all

    def rival_finishes_first(folder: Path, config: SyntheticConfig, workers: int) -> None:
        render_all(folder, config, workers)
        rival = tmp_path / dataset_name(config)
        rival.mkdir()
        (rival / "manifest.json").write_text("{}")

    monkeypatch.setattr(synthetic, "_render_all", rival_finishes_first)
    root = ensure_rendered(tmp_path, TINY)
    assert (root / "manifest.json").read_text() == "{}"
    assert [p.name for p in tmp_path.iterdir()] == [root.name]


def test_a_foreign_folder_in_the_way_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / dataset_name(TINY)
    root.mkdir()
    (root / "stray.txt").write_text("not a dataset")
    with pytest.raises(DataError, match="manifest"):
        ensure_rendered(tmp_path, TINY)

"""The folder reader of one's own data: formats, availability, class counts and errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.data.readers.folder import FolderDataset, with_available_labels
from dmtl.errors import ConfigError, DataError, MissingDataError
from dmtl.tasks import resolve_tasks
from support.batches import first_batch
from support.folder_data import NUM_CLASSES, write_folder

ALL = ["semseg", "depth", "normals", "edge", "sal"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    missing = {"semseg": {"t1"}, "depth": {"t2", "v0"}, "normals": {"t3"}}
    return root, write_folder(root, missing=missing)


def _reader(root, split="train", tasks=ALL, classes=NUM_CLASSES):
    return FolderDataset(root, split, tasks, num_classes={"semseg": classes})


def test_samples_decode_every_format(folder):
    root, written = folder
    data = _reader(root)
    assert data.sample_ids == [f"t{i}" for i in range(6)] and len(data) == 6
    for index in (0, 5):  # PNG depth / PNG normals, then .npy depth / .npy normals (and a JPEG)
        sample = data.load_sample(index)
        truth = written[sample["name"]]
        assert sample["image"].shape == (32, 40, 3) and sample["image"].dtype == np.float32
        assert sample["semseg"].dtype == np.int64
        np.testing.assert_array_equal(sample["semseg"], truth["semseg"])
        np.testing.assert_allclose(sample["depth"], truth["depth_m"], atol=1e-6)
        assert (sample["depth"][:, 0] == 0).all()  # 0 mm stays invalid
        np.testing.assert_allclose(sample["normals"], truth["normals"], atol=1.0 / 255 + 1e-6)
        np.testing.assert_array_equal(sample["edge"], truth["edge"] / 255.0)
        np.testing.assert_array_equal(sample["sal"], (truth["sal"] / 255.0 > 0.5).astype(np.int64))
    png = data.load_sample(0)["image"]
    np.testing.assert_allclose(png, written["t0"]["rgb"] / np.float32(255.0), atol=1e-6)


def test_missing_maps_are_unlabelled_and_all_invalid(folder):
    root, _ = folder
    data = _reader(root)
    expected = torch.ones(6, 5, dtype=torch.bool)
    expected[1, 0] = expected[2, 1] = expected[3, 2] = False
    assert torch.equal(data.available, expected)
    assert (data.load_sample(1)["semseg"] == 255).all()
    assert (data.load_sample(2)["depth"] == 0).all()
    assert (data.load_sample(3)["normals"] == 0).all()
    val = _reader(root, "val", ["depth"])
    assert val.available[:, 0].tolist() == [False, True, True, True]


def test_label_mask_is_restricted_to_the_maps_there_are(folder):
    root, _ = folder
    data = _reader(root)
    full = torch.ones(6, 5, dtype=torch.bool)
    assert torch.equal(with_available_labels(data, full, None), data.available)
    with pytest.raises(DataError, match=r"split\.pth labels semseg of image 't1'"):
        with_available_labels(data, full, "split.pth")
    # readers without `available` (all but the folder reader) keep the mask as it is
    assert with_available_labels(object(), full, "split.pth") is full


def test_datamodule_trains_only_on_existing_maps(folder):
    root, _ = folder
    dm = MultiTaskDataModule(
        dataset="folder", root=str(root), tasks=["semseg", "depth"], label_setting="full",
        num_classes={"semseg": NUM_CLASSES}, num_workers=0, batch_size=2,
    )  # fmt: skip
    dm.setup("fit")
    assert dm.labelled.sum(0).tolist() == [5, 5]
    assert not dm.labelled[1, 0] and not dm.labelled[2, 1]
    batch = first_batch(dm, dm.train_dataloader())
    assert batch["image"].shape == (2, 3, 32, 40)
    assert batch["targets"]["semseg"].shape == (2, 32, 40)
    assert [t.channels for t in dm.task_specs] == [NUM_CLASSES, 1]


def test_class_counts_come_from_the_config():
    specs = resolve_tasks("folder", ["semseg", "sal", "edge"], {"semseg": 7})
    assert [s.channels for s in specs] == [7, 2, 1]
    assert resolve_tasks("nyuv2", None, {"semseg": 13})[0].channels == 13  # its own count is fine
    with pytest.raises(ConfigError, match=r"needs its class count: give --data\.num_classes="):
        resolve_tasks("folder", ["semseg"])
    with pytest.raises(ConfigError, match="no standard task list"):
        resolve_tasks("folder", None, {"semseg": 7})
    with pytest.raises(ConfigError, match=r"num_classes\.semseg=21: dataset 'nyuv2' has 13"):
        resolve_tasks("nyuv2", None, {"semseg": 21})
    with pytest.raises(ConfigError, match=r"num_classes\.sal=3: dataset 'folder' has 2"):
        resolve_tasks("folder", ["sal"], {"sal": 3})
    with pytest.raises(ConfigError, match=r"num_classes\.semseg must be an integer >= 2"):
        resolve_tasks("folder", ["semseg"], {"semseg": 1})


def test_labels_outside_the_class_count_name_the_file(folder):
    root, _ = folder
    with pytest.raises(DataError, match=r"t0\.png holds label 2; expected classes 0\.\.1"):
        _reader(root, tasks=["semseg"], classes=2).load_sample(0)
    with pytest.raises(ConfigError, match=r"needs data\.num_classes"):
        FolderDataset(root, "train", ["semseg"])


def test_layout_errors_are_one_line(tmp_path):
    write_folder(tmp_path, num_train=2, num_val=2)
    with pytest.raises(ConfigError, match="cannot be read from a folder"):
        _reader(tmp_path, tasks=["human_parts"])
    with pytest.raises(MissingDataError, match=r"split list .*test\.txt does not exist"):
        _reader(tmp_path, "test")
    (tmp_path / "splits" / "train.txt").write_text("t0\nt9\n")
    with pytest.raises(MissingDataError, match=r"image 't9' of split list .*train\.txt has no"):
        _reader(tmp_path)
    (tmp_path / "splits" / "train.txt").write_text("t0\nt0\n")
    with pytest.raises(DataError, match="names image 't0' twice"):
        _reader(tmp_path)
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tmp_path / "images" / "t1.png")
    (tmp_path / "images" / "t1.jpg").unlink()
    (tmp_path / "splits" / "train.txt").write_text("t0\nt1\n")
    with pytest.raises(DataError, match=r"t1\.png is 16x16 but .*t0\.png is 32x40"):
        _reader(tmp_path)
    for task in ("edge", "depth"):
        for path in (tmp_path / task).iterdir():
            path.unlink()
    with pytest.raises(MissingDataError, match=r"no edge map of split 'val'"):
        _reader(tmp_path, "val", ["edge"])


def test_bad_maps_name_the_file(tmp_path):
    write_folder(tmp_path, num_train=2, num_val=1)
    Image.fromarray(np.ones((32, 40), np.uint8)).save(tmp_path / "edge" / "v0.png")
    with pytest.raises(DataError, match=r"v0\.png must be a one-channel PNG of 0 .* and 255"):
        _reader(tmp_path, "val", ["edge"]).load_sample(0)
    Image.fromarray(np.ones((32, 40), np.uint8)).save(tmp_path / "sal" / "v0.png")
    with pytest.raises(DataError, match=r"v0\.png holds only 0 and 1"):
        _reader(tmp_path, "val", ["sal"]).load_sample(0)
    Image.fromarray(np.ones((32, 40), np.uint8)).save(tmp_path / "depth" / "v0.png")
    with pytest.raises(DataError, match=r"v0\.png is an 8-bit PNG; depth PNGs are 16-bit"):
        _reader(tmp_path, "val", ["depth"]).load_sample(0)
    np.save(tmp_path / "normals" / "t1.npy", np.zeros((8, 8, 3), np.float32))
    with pytest.raises(DataError, match=r"t1\.npy is \(8, 8\); its image .* is \(32, 40\)"):
        _reader(tmp_path, "train", ["normals"]).load_sample(1)
    (tmp_path / "normals" / "t1.npy").write_bytes(b"not an array")
    with pytest.raises(DataError, match=r"cannot read .*t1\.npy as a \.npy array"):
        _reader(tmp_path, "train", ["normals"]).load_sample(1)

"""NYUD-v2 reader (ATRC/InvPT layout) on fixtures in the exact file formats of both copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.data.classes import class_names
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.data.readers.nyud_atrc import NYUDDataset
from dmtl.errors import ConfigError, DataError, MissingDataError
from dmtl.tasks import resolve_tasks, standard_tasks
from support.batches import first_batch
from support.nyud import COUNTS, HEIGHT, WIDTH, expected_sample, split_ids, write_nyud

TASKS = ["semseg", "depth", "normals", "edge"]


@pytest.fixture(params=["atrc", "mti"])
def variant(request) -> str:
    return request.param


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return write_nyud(tmp_path / "NYUDv2")


def test_the_task_set_is_the_layouts() -> None:
    assert standard_tasks("nyud") == TASKS
    assert [t.channels for t in resolve_tasks("nyud")] == [40, 1, 3, 1]
    names = class_names("nyud", "semseg", 40)
    assert (names[0], names[21], names[39]) == ("wall", "ceiling", "otherprop")


def test_every_sample_holds_what_was_written(tmp_path, variant) -> None:
    root = write_nyud(tmp_path / "NYUDv2", variant=variant)
    ids = split_ids(COUNTS)
    index = 0
    for split in ("train", "val"):
        data = NYUDDataset(root, split, TASKS)
        assert data.sample_ids == ids[split] and len(data) == COUNTS[split]
        for i in range(len(data)):
            sample, expected = data[i], expected_sample(index, variant)
            assert sample["name"] == ids[split][i]
            assert sample["image"].dtype == np.float32
            assert sample["image"].shape == (HEIGHT, WIDTH, 3)
            # PNG images are exact, JPEG ones within a few levels
            atol = 0 if variant == "atrc" else 0.03
            np.testing.assert_allclose(sample["image"], expected["image"], atol=atol)
            assert sample["semseg"].dtype == np.int64
            np.testing.assert_array_equal(sample["semseg"], expected["semseg"])
            assert sample["semseg"][0].tolist() == [255] * WIDTH and sample["semseg"][1, 0] == 39
            for task in ("depth", "normals", "edge"):
                assert sample[task].dtype == np.float32, task
                np.testing.assert_array_equal(sample[task], expected[task], err_msg=task)
            assert sample["depth"][0, 0] == 0 and not sample["normals"][0, 0].any()
            index += 1


def test_only_the_requested_tasks_are_read(root) -> None:
    for path in (root / "normals").iterdir():
        path.unlink()
    sample = NYUDDataset(root, "train", ["depth"])[0]
    assert sorted(sample) == ["depth", "image", "name"]


def test_a_transform_gets_the_sample(root) -> None:
    data = NYUDDataset(root, "val", ["edge"], transform=lambda s: s["name"])
    assert data[1] == split_ids(COUNTS)["val"][1]


@pytest.mark.parametrize(
    ("remove", "needle"),
    [
        ("gt_sets/val.txt", "split list {root}/gt_sets/val.txt does not exist"),
        ("edge", "folder {root}/edge does not exist"),
        ("depth/0006.npy", "image '0006' has no depth label: {root}/depth/0006.npy does not exist"),
        (
            "images/0005.png",
            "image '0005' of split list {root}/gt_sets/val.txt has no image file: "
            "{root}/images/0005.png does not exist (nor .jpg)",
        ),
        ("normals/0005.png", "{root}/normals/0005.png does not exist (nor .npy)"),
    ],
)
def test_a_missing_file_or_folder_is_one_line_naming_it(root, remove, needle) -> None:
    import shutil

    path = root / remove
    shutil.rmtree(path) if path.is_dir() else path.unlink()
    with pytest.raises(MissingDataError) as info:
        NYUDDataset(root, "val", TASKS)
    assert needle.format(root=root) in str(info.value) and "\n" not in str(info.value)


def test_bad_files_are_named(root) -> None:
    data = NYUDDataset(root, "train", TASKS)
    label = root / "segmentation" / "0001.png"
    Image.fromarray(np.full((HEIGHT, WIDTH), 41, np.uint8), mode="L").save(label)
    with pytest.raises(DataError, match=r"0001\.png holds label 41; expected 0 \(void\) or cl"):
        data.load_sample(0)
    np.save(root / "depth" / "0002.npy", np.ones((HEIGHT, WIDTH + 1), np.float32))
    with pytest.raises(DataError, match=r"0002\.npy is 24×31; its image .*0002\.png is 24×30"):
        data.load_sample(1)
    edge = root / "edge" / "0003.png"
    Image.fromarray(np.eye(HEIGHT, WIDTH, dtype=np.uint8), mode="L").save(edge)
    with pytest.raises(DataError, match=r"0003\.png holds only 0 and 1"):
        data.load_sample(2)
    (root / "images" / "0004.png").write_bytes(b"not an image")
    with pytest.raises(DataError, match=r"cannot read .*0004\.png as an image"):
        data.load_sample(3)


def test_bad_arguments_are_config_errors(root) -> None:
    with pytest.raises(ConfigError, match="task 'sal' cannot be read from NYUD-v2"):
        NYUDDataset(root, "train", ["sal"])
    with pytest.raises(ConfigError, match="plain name"):
        NYUDDataset(root, "../train", ["semseg"])
    with pytest.raises(MissingDataError, match="NYUD-v2 root .* does not exist"):
        NYUDDataset(root / "nothing", "train", ["semseg"])


def test_the_data_module_reads_nyud_the_atrc_way(root) -> None:
    data = MultiTaskDataModule(dataset="nyud", root=str(root), num_workers=0, batch_size=2,
                               crop_size=(32, 32), label_setting="onelabel")  # fmt: skip
    data.setup("fit")
    assert data.tasks == TASKS and data.labelled.sum(1).tolist() == [1, 1, 1, 1]
    batch = first_batch(data, data.train_dataloader())
    assert batch["image"].shape == (2, 3, 32, 32)  # cropped/padded to data.crop_size
    assert batch["targets"]["semseg"].shape == (2, 32, 32)
    val = first_batch(data, data.val_dataloader())
    assert val["image"].shape == (2, 3, 32, 32)
    # the padding is ignore/invalid in every target, the image's own pixels are kept
    assert (val["targets"]["semseg"] == 255).sum() >= 2 * (32 * 32 - HEIGHT * WIDTH)
    assert val["meta"]["name"] == split_ids(COUNTS)["val"]


def test_a_split_file_keyed_by_image_id_is_used(root, tmp_path) -> None:
    import torch

    ids = split_ids(COUNTS)["train"]
    split_file = tmp_path / "mine.pth"
    torch.save({image_id: [1, 0, 0, 1] for image_id in ids}, split_file)
    data = MultiTaskDataModule(dataset="nyud", root=str(root), num_workers=0, crop_size=(32, 32),
                               split_file=str(split_file))  # fmt: skip
    data.setup("fit")
    assert data.labelled.int().tolist() == [[1, 0, 0, 1]] * 4


def test_a_label_of_another_size_stops_the_setup(root) -> None:
    Image.fromarray(np.zeros((HEIGHT - 1, WIDTH), np.uint8), mode="L").save(
        root / "edge" / "0006.png"
    )
    data = MultiTaskDataModule(dataset="nyud", root=str(root), num_workers=0, crop_size=(32, 32))
    with pytest.raises(DataError, match=r"edge/0006\.png is 23×30 but its image .*0006\.png is"):
        data.setup("fit")

"""PASCAL-Context reader on a fixture written in the exact ATRC/PASCAL_MT formats."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.cli import main
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.data.readers.pascal_annotations import NYU_COMPATIBLE_CLASSES, PART_OF, thin
from dmtl.data.readers.pascal_context import PascalContextDataset
from dmtl.errors import ConfigError, DataError, MissingDataError
from dmtl.tasks import IGNORE_INDEX
from support.batches import first_batch
from support.pascal import (
    HEIGHT,
    NO_PERSON,
    NORMAL_PNG,
    SPLIT_COLUMN,
    TRAIN_IDS,
    VAL_IDS,
    WIDTH,
    semseg_array,
    write_part_annotation,
    write_pascal_context,
)

ALL_TASKS = ["semseg", "human_parts", "sal", "normals", "edge"]


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return write_pascal_context(tmp_path / "PASCAL_MT")


def _tree_state(root: Path) -> list[tuple[str, int, int]]:
    return sorted((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


def test_split_lists_and_images(root: Path) -> None:
    train = PascalContextDataset(root, "train", ALL_TASKS)
    val = PascalContextDataset(root, "val", ["semseg"])
    assert train.sample_ids == TRAIN_IDS and val.sample_ids == VAL_IDS
    sample = train[1]
    assert sample["name"] == TRAIN_IDS[1]
    jpeg = np.asarray(Image.open(root / "JPEGImages" / f"{TRAIN_IDS[1]}.jpg").convert("RGB"))
    assert sample["image"].dtype == np.float32 and sample["image"].shape == (HEIGHT, WIDTH, 3)
    np.testing.assert_allclose(sample["image"], jpeg / 255.0, atol=1e-6)


def test_semseg_from_either_folder_keeps_ids_and_ignore(root: Path) -> None:
    dataset = PascalContextDataset(root, "train", ["semseg"])
    for index in range(len(dataset)):  # even images from VOC12, odd ones from pascal-context
        semseg = dataset[index]["semseg"]
        assert semseg.dtype == np.int64
        np.testing.assert_array_equal(semseg, semseg_array(index))
        assert (semseg[0] == IGNORE_INDEX).all()


def test_human_parts_map_person_parts_and_skip_other_objects(root: Path) -> None:
    dataset = PascalContextDataset(root, "train", ["human_parts"])
    parts = dataset[0]["human_parts"]
    expected = np.zeros((HEIGHT, WIDTH), np.int64)
    expected[4:8, 2:6] = 1  # head
    expected[8:10, 2:6] = 4  # llarm: a lower arm
    # the cat's "head" (columns 20..23) and the person without parts stay background
    np.testing.assert_array_equal(parts, expected)
    assert (dataset[TRAIN_IDS.index(NO_PERSON)]["human_parts"] == IGNORE_INDEX).all()


def test_part_names_cover_the_six_parts() -> None:
    assert len(PART_OF) == 24 and sorted(set(PART_OF.values())) == [1, 2, 3, 4, 5, 6]
    assert PART_OF["ruarm"] == 3 and PART_OF["rfoot"] == 6 and PART_OF["neck"] == 2


def test_saliency_threshold_and_normals_on_nyu_classes_only(root: Path) -> None:
    sample = PascalContextDataset(root, "val", ["sal", "normals"])[0]
    assert (sample["sal"][:, : WIDTH // 2] == 0).all()  # 127 / 255 < 0.5
    assert (sample["sal"][:, WIDTH // 2 :] == 1).all()  # 128 / 255 > 0.5
    normals = sample["normals"]
    expected = 2.0 * np.array(NORMAL_PNG, np.float32) / 255.0 - 1.0
    np.testing.assert_allclose(normals[10, 3], expected, atol=1e-6)  # wall: NYU has walls
    assert (normals[4:, SPLIT_COLUMN:] == 0).all()  # aeroplane: no NYU class, invalid
    assert (normals[:4] == 0).all()  # unlabelled context pixels: invalid
    assert {440, 427, 284} <= NYU_COMPATIBLE_CLASSES and 2 not in NYU_COMPATIBLE_CLASSES


def test_boundaries_from_the_label_map(root: Path) -> None:
    edge = PascalContextDataset(root, "train", ["edge"])[0]["edge"]
    # Reference (checked against skimage.morphology.thin): the unlabelled/labelled border is
    # row 4, the wall/aeroplane border column 11 below it; one pixel wide.
    expected = np.zeros((HEIGHT, WIDTH), np.float32)
    expected[4, : WIDTH - 1] = 1.0
    expected[5:, SPLIT_COLUMN - 1] = 1.0
    np.testing.assert_array_equal(edge, expected)


def test_thinning_keeps_a_one_pixel_line_and_shrinks_a_bar() -> None:
    bar = np.zeros((9, 12), bool)
    bar[3:6, 1:11] = True
    thinned = thin(bar)
    assert thinned.sum() > 0 and not (thinned & ~bar).any()  # a subset of the input
    assert (thinned.sum(axis=0)[2:10] == 1).all()  # one pixel per column in the middle
    assert not (thinned[:-1, :-1] & thinned[1:, :-1] & thinned[:-1, 1:] & thinned[1:, 1:]).any()
    np.testing.assert_array_equal(thin(thinned), thinned)  # idempotent


def test_reading_writes_nothing_under_the_root(root: Path) -> None:
    before = _tree_state(root)
    for split in ("train", "val"):
        dataset = PascalContextDataset(root, split, ALL_TASKS)
        for index in range(len(dataset)):
            dataset[index]
    assert _tree_state(root) == before


def test_jpeg_without_its_labels_names_the_file(root: Path) -> None:
    missing = root / "semseg" / "VOC12" / f"{TRAIN_IDS[2]}.png"
    missing.unlink()
    with pytest.raises(MissingDataError, match=f"{TRAIN_IDS[2]}.jpg has no semseg label") as info:
        PascalContextDataset(root, "train", ["semseg"])
    assert str(root / "semseg" / "pascal-context" / f"{TRAIN_IDS[2]}.png") in str(info.value)
    (root / "human_parts" / f"{TRAIN_IDS[3]}.mat").unlink()
    with pytest.raises(MissingDataError, match=re.escape(f"{TRAIN_IDS[3]}.mat")):
        PascalContextDataset(root, "train", ["human_parts"])


def test_listed_image_without_jpeg_and_missing_folders(root: Path) -> None:
    (root / "JPEGImages" / f"{VAL_IDS[1]}.jpg").unlink()
    with pytest.raises(MissingDataError, match=re.escape(f"{VAL_IDS[1]}.jpg does not exist")):
        PascalContextDataset(root, "val", ["sal"])
    for path in (root / "sal_distill").iterdir():
        path.unlink()
    (root / "sal_distill").rmdir()
    with pytest.raises(MissingDataError, match=re.escape(str(root / "sal_distill"))):
        PascalContextDataset(root, "train", ["sal"])
    with pytest.raises(MissingDataError, match="test.txt"):
        PascalContextDataset(root, "test", ["semseg"])


def test_bad_files_name_themselves(root: Path) -> None:
    dataset = PascalContextDataset(root, "train", ALL_TASKS)
    corrupt = root / "pascal-context" / "trainval" / f"{TRAIN_IDS[0]}.mat"
    corrupt.write_bytes(b"MATLAB 5.0 MAT-file, truncated")
    with pytest.raises(DataError, match=re.escape(str(corrupt))):
        dataset[0]
    png = root / "normals_distill" / f"{TRAIN_IDS[1]}.png"
    Image.fromarray(np.zeros((HEIGHT, WIDTH), np.uint8)).save(png)  # one channel, not three
    with pytest.raises(DataError, match=re.escape(str(png))):
        dataset[1]


def test_unknown_part_and_non_struct_annotation(root: Path) -> None:
    path = root / "human_parts" / f"{TRAIN_IDS[0]}.mat"
    scipy.io.savemat(path, {"LabelMap": np.zeros((HEIGHT, WIDTH), np.uint16)})
    dataset = PascalContextDataset(root, "train", ["human_parts"])
    with pytest.raises(DataError, match="no 'anno'"):
        dataset[0]
    write_part_annotation(path, TRAIN_IDS[0], with_person=True)
    raw = scipy.io.loadmat(path)
    raw["anno"][0, 0]["objects"][0, 1]["parts"][0, 0]["part_name"] = np.array(["tail"])
    scipy.io.savemat(path, {"anno": raw["anno"]})
    with pytest.raises(DataError, match="unknown person part 'tail'"):
        dataset[0]


def test_unknown_task_and_bad_split_name(root: Path) -> None:
    with pytest.raises(ConfigError, match="depth"):
        PascalContextDataset(root, "train", ["depth"])
    with pytest.raises(ConfigError, match="plain name"):
        PascalContextDataset(root, "../train", ["semseg"])


def _cli_args(subcommand: str, root: Path, out: Path, *extra: str) -> list[str]:
    return [
        subcommand,
        "--data.dataset=pascal_context",
        f"--data.root={root}",
        "--data.crop_size=[32,32]",
        "--data.batch_size=2",
        "--data.num_workers=0",
        "--model.network.embed_dim=16",
        "--trainer.accelerator=cpu",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        f"--trainer.default_root_dir={out}",
        "--trainer.logger=lightning.pytorch.loggers.CSVLogger",
        f"--trainer.logger.save_dir={out}",
        "--trainer.logger.name=run",
        f"--trainer.logger.version={subcommand}",
        *extra,
    ]


def test_datamodule_pads_batches_and_keeps_label_values(root: Path) -> None:
    data = MultiTaskDataModule(
        dataset="pascal_context", root=str(root), crop_size=(32, 32), batch_size=2, num_workers=0
    )
    data.setup("fit")
    batch = first_batch(data, data.val_dataloader())
    assert batch["meta"]["name"] == VAL_IDS and batch["image"].shape == (2, 3, 32, 32)
    targets = batch["targets"]
    assert set(targets["human_parts"].unique().tolist()) == {0, 1, 4, IGNORE_INDEX}
    valid = targets["sal"] != IGNORE_INDEX
    assert (valid.sum(dim=(1, 2)) == HEIGHT * WIDTH).all()  # padding: 32×32 around 24×30
    assert targets["edge"].shape == (2, 1, 32, 32) and targets["normals"].shape == (2, 3, 32, 32)
    train = next(iter(data.train_dataloader()))
    assert train["image"].shape == (2, 3, 32, 32) and train["labelled"].shape == (2, 5)


def test_cli_fit_with_task_lists_then_test_writes_nothing_under_the_root(root, tmp_path) -> None:
    lists = {"semseg": [TRAIN_IDS[0]], "human_parts": [TRAIN_IDS[1]], "sal": [TRAIN_IDS[2]],
             "normals": [TRAIN_IDS[3]], "edge": [TRAIN_IDS[0]]}  # fmt: skip
    split = tmp_path / "onelabel.npy"
    np.save(split, lists, allow_pickle=True)
    before = _tree_state(root)
    out = tmp_path / "out"
    main(_cli_args("fit", root, out, "--trainer.max_epochs=1", f"--data.split_file={split}"))
    ckpt = next((out / "run" / "fit" / "checkpoints").glob("*.ckpt"))
    main(_cli_args("test", root, out, f"--ckpt_path={ckpt}"))
    metrics = json.loads((out / "run" / "test" / "test_metrics.json").read_text())
    assert set(metrics) == set(ALL_TASKS)
    assert all(0.0 <= metrics[t]["miou"] <= 100.0 for t in ("semseg", "human_parts", "sal"))
    assert 0.0 <= metrics["normals"]["mean"] <= 180.0
    assert _tree_state(root) == before


def test_cli_per_image_split_file_missing_an_image_is_one_line(root, tmp_path, capsys) -> None:
    split = tmp_path / "new_randomlabels.pth"
    torch.save({image_id: [1, 1, 0, 0, 0] for image_id in TRAIN_IDS[:3]}, split)
    with pytest.raises(SystemExit):
        main(_cli_args("fit", root, tmp_path, f"--data.split_file={split}"))
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("dmtl: error:") and str(split) in err and TRAIN_IDS[3] in err


def test_label_map_stored_as_doubles_is_read_and_fractions_are_refused(root: Path) -> None:
    path = root / "pascal-context" / "trainval" / f"{VAL_IDS[0]}.mat"
    dataset = PascalContextDataset(root, "val", ["edge"])
    expected = dataset[0]["edge"]
    labels = scipy.io.loadmat(path)["LabelMap"].astype(np.float64)
    scipy.io.savemat(path, {"LabelMap": labels})
    np.testing.assert_array_equal(dataset[0]["edge"], expected)
    scipy.io.savemat(path, {"LabelMap": labels + 0.5})
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*integer class ids"):
        dataset[0]


def test_an_image_without_person_contributes_no_human_parts_loss(root: Path) -> None:
    from dmtl.losses.masked import per_sample_task_loss
    from dmtl.tasks import resolve_tasks

    dataset = PascalContextDataset(root, "train", ["human_parts"])
    spec = resolve_tasks("pascal_context", ["human_parts"])[0]
    targets = torch.from_numpy(np.stack([dataset[0]["human_parts"], dataset[1]["human_parts"]]))
    logits = torch.randn(2, spec.channels, HEIGHT, WIDTH)
    loss, has_pixels = per_sample_task_loss(spec, logits, targets, torch.ones(2, dtype=torch.bool))
    assert has_pixels.tolist() == [True, False]  # the person image counts, the other is skipped
    assert loss[1] == 0 and loss[0] > 0

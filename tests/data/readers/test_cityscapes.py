"""Cityscapes in the MTPSL layout: label_7 / label_19, inverse depth, errors, the CLI end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import dmtl  # noqa: F401  (sets NO_ALBUMENTATIONS_UPDATE before albumentations is imported)
from dmtl.cli import main
from dmtl.data.augment import build_train_transform
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.data.labels import save_split_file
from dmtl.data.readers.cityscapes import Cityscapes19Dataset, CityscapesDataset
from dmtl.errors import ConfigError, DataError, MissingDataError
from dmtl.tasks import IGNORE_INDEX
from support.batches import first_batch
from support.mtpsl import CITY_HEIGHT as HEIGHT
from support.mtpsl import CITY_WIDTH as WIDTH
from support.mtpsl import cityscapes_sample as make_sample
from support.mtpsl import write_cityscapes


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    return write_cityscapes(tmp_path / "cityscapes")


def test_files_are_in_the_mtpsl_format(root: Path) -> None:
    assert sorted(p.name for p in (root / "train").iterdir()) == [
        "depth",
        "image",
        "label_19",
        "label_7",
    ]
    label = np.load(root / "train" / "label_7" / "0.npy")
    assert label.dtype == np.float32 and (label[:, -1] == -1).all()
    assert np.load(root / "train" / "depth" / "0.npy").shape == (HEIGHT, WIDTH, 1)


def test_label_7_and_label_19_and_inverse_depth_round_trip(root: Path) -> None:
    seven = CityscapesDataset(root, "train", ["semseg", "depth"])
    nineteen = Cityscapes19Dataset(root, "train", ["semseg"])
    assert len(seven) == len(nineteen) == 4
    for index in range(4):
        expected = make_sample(index)
        sample = seven[index]
        np.testing.assert_array_equal(sample["semseg"], expected["semseg"])
        assert sample["semseg"].max() == IGNORE_INDEX and sample["semseg"][:, :-1].max() <= 6
        np.testing.assert_array_equal(sample["depth"], expected["depth"])  # inverse depth kept
        np.testing.assert_array_equal(nineteen[index]["semseg"], expected["label19"])
    assert nineteen[0]["semseg"].max() == 18


def test_class_out_of_range_for_label_7_names_the_file(root: Path) -> None:
    path = root / "train" / "label_7" / "2.npy"
    np.save(path, np.full((HEIGHT, WIDTH), 7.0, np.float32))  # valid in label_19, not label_7
    with pytest.raises(DataError, match=re.escape(str(path)) + ".*0..6"):
        CityscapesDataset(root, "train", ["semseg"])[2]


def test_corrupt_npy_names_the_file(root: Path) -> None:
    path = root / "val" / "depth" / "1.npy"
    path.write_bytes(b"\x93NUMPY garbage")
    dataset = CityscapesDataset(root, "val", ["semseg", "depth"])
    with pytest.raises(DataError, match=re.escape(str(path))):
        dataset[1]


def test_missing_modality_folder_names_it(root: Path) -> None:
    for path in (root / "train" / "label_7").iterdir():
        path.unlink()
    (root / "train" / "label_7").rmdir()
    with pytest.raises(MissingDataError, match=re.escape(str(root / "train" / "label_7"))):
        CityscapesDataset(root, "train", ["semseg", "depth"])
    assert len(Cityscapes19Dataset(root, "train", ["semseg"])) == 4  # label_19 still reads


@pytest.mark.parametrize(("inverse", "factor"), [(True, 2.0), (False, 0.5)])
def test_zoom_multiplies_inverse_depth_and_divides_metric_depth(inverse, factor) -> None:
    # a zoom by s = 2 shows the scene twice as close: depth d -> d / 2, inverse depth 1/d -> 2/d
    depth = np.full((HEIGHT, WIDTH), 0.04, np.float32)
    depth[:, : WIDTH // 2] = 0.0  # invalid stays 0 whatever the factor
    sample = {"image": np.zeros((HEIGHT, WIDTH, 3), np.float32), "depth": depth, "name": "x"}
    transform = build_train_transform(
        HEIGHT, WIDTH, scales=(2.0,), flip_p=0.0, color_jitter=False, inverse_depth=inverse
    )
    out = transform(sample)["targets"]["depth"]
    assert out.shape == (1, HEIGHT, WIDTH)
    values = np.unique(out.numpy())
    assert values[0] == 0.0 and len(values) == 2  # invalid pixels and one scaled value
    assert values[1] == pytest.approx(0.04 * factor)


def test_datamodule_batches_keep_ids_ignore_and_units(root: Path) -> None:
    data = MultiTaskDataModule(
        dataset="cityscapes", root=str(root), batch_size=2, num_workers=0, augment=False
    )
    data.setup("fit")
    batch = first_batch(data, data.val_dataloader())
    assert batch["image"].shape == (2, 3, HEIGHT, WIDTH)
    expected = torch.from_numpy(np.stack([make_sample(i)["semseg"] for i in range(2)]))
    torch.testing.assert_close(batch["targets"]["semseg"], expected)
    depth = batch["targets"]["depth"]
    assert depth.shape == (2, 1, HEIGHT, WIDTH) and (depth[:, :, 0] == 0).all()
    assert depth.max().item() == pytest.approx(0.05)  # inverse depth, not metres
    assert data.labelled.shape == (4, 2) and (data.labelled.sum(1) == 1).all()  # onelabel, K=2


def _cli_args(subcommand: str, root: Path, out: Path, *extra: str) -> list[str]:
    return [
        subcommand,
        "--data.dataset=cityscapes",
        f"--data.root={root}",
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


def test_cli_fit_with_a_split_file_then_test(root: Path, tmp_path: Path) -> None:
    split = tmp_path / "onelabel.pth"
    save_split_file(torch.tensor([[1, 0], [0, 1], [1, 0], [0, 1]], dtype=torch.bool), split)
    out = tmp_path / "out"
    main(_cli_args("fit", root, out, "--trainer.max_epochs=1", f"--data.split_file={split}"))
    ckpt = next((out / "run" / "fit" / "checkpoints").glob("*.ckpt"))
    main(_cli_args("test", root, out, f"--ckpt_path={ckpt}"))
    metrics = json.loads((out / "run" / "test" / "test_metrics.json").read_text())
    assert set(metrics) == {"semseg", "depth"}
    assert 0.0 <= metrics["semseg"]["miou"] <= 100.0 and metrics["depth"]["abs_err"] > 0


def test_cli_split_file_of_the_wrong_length_is_one_line(root: Path, tmp_path: Path, capsys):
    split = tmp_path / "randomlabels.pth"
    save_split_file(torch.ones(5, 2, dtype=torch.bool), split)
    with pytest.raises(SystemExit):
        main(_cli_args("fit", root, tmp_path, f"--data.split_file={split}"))
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("dmtl: error:") and "randomlabels.pth" in err and "N=5" in err


def test_cli_corrupt_npy_read_by_a_worker_is_one_line_naming_it(root, tmp_path, capsys) -> None:
    path = root / "val" / "label_7" / "1.npy"
    path.write_bytes(b"not an array")
    args = _cli_args("validate", root, tmp_path, "--data.num_workers=1")
    with pytest.raises(SystemExit) as exit_info:
        main([a for a in args if a != "--data.num_workers=0"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("dmtl: error: cannot read") and str(path) in err


def test_cityscapes19_reads_label_19(root: Path) -> None:
    data = MultiTaskDataModule(
        dataset="cityscapes19", root=str(root), batch_size=2, num_workers=0, augment=False
    )
    data.setup("validate")
    semseg = first_batch(data, data.val_dataloader())["targets"]["semseg"]
    expected = np.stack([make_sample(i)["label19"] for i in range(2)])
    torch.testing.assert_close(semseg, torch.from_numpy(expected))
    assert [s.channels for s in data.task_specs] == [19, 1]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [({"crop_size": (0, 32)}, "crop_size"), ({"scale_range": (2.0, 1.0)}, "scale_range")],
)
def test_bad_pascal_sizes_fail_when_built(root: Path, kwargs, needle) -> None:
    with pytest.raises(ConfigError, match=needle):
        MultiTaskDataModule(dataset="cityscapes", root=str(root), **kwargs)

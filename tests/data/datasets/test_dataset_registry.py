"""The dataset registry (dmtl.data.datasets): its facts, and a dataset added by one entry."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dmtl.data import classes
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.data.datasets import DATASETS, ClassList, DatasetInfo, LabelSet, dataset_info
from dmtl.data.readers.folder import FolderDataset
from dmtl.errors import ConfigError, DataError
from dmtl.module import DiffusionMTLModule
from dmtl.report import _units
from dmtl.tasks import resolve_tasks, standard_tasks
from dmtl.viz import class_palette
from support.folder_data import write_folder

# The tables the registry replaced (data module, dmtl.tasks, prepare), as they were: the oracle
# that the facts moved unchanged.
READERS = {
    "synthetic": "NYUv2Dataset",
    "nyuv2": "NYUv2Dataset",
    "cityscapes": "CityscapesDataset",
    "cityscapes19": "Cityscapes19Dataset",
    "nyud": "NYUDDataset",
    "pascal_context": "PascalContextDataset",
    "synthetic_pascal": "PascalContextDataset",
    "synthetic_cityscapes": "CityscapesDataset",
    "folder": "FolderDataset",
}
SYNTHETIC = {"synthetic", "synthetic_pascal", "synthetic_cityscapes"}
INVERSE_DEPTH = {"cityscapes", "cityscapes19", "synthetic_cityscapes"}
ATRC_PROTOCOL = {"pascal_context", "synthetic_pascal", "nyud"}
PASCAL = (
    ("semseg", "human_parts", "sal", "normals", "edge"),
    {"semseg": 21, "human_parts": 7, "sal": 2, "normals": 3, "edge": 1},
)
CITYSCAPES = (("semseg", "depth"), {"semseg": 7, "depth": 1})
DATASET_TASKS = {
    "synthetic": (
        ("semseg", "depth", "normals"),
        {"semseg": 13, "depth": 1, "normals": 3, "edge": 1},
    ),
    "nyuv2": (("semseg", "depth", "normals"), {"semseg": 13, "depth": 1, "normals": 3}),
    "cityscapes": CITYSCAPES,
    "cityscapes19": (("semseg", "depth"), {"semseg": 19, "depth": 1}),
    "nyud": (
        ("semseg", "depth", "normals", "edge"),
        {"semseg": 40, "depth": 1, "normals": 3, "edge": 1},
    ),
    "pascal_context": PASCAL,
    "synthetic_pascal": PASCAL,
    "synthetic_cityscapes": CITYSCAPES,
    "folder": ((), {"semseg": 0, "depth": 1, "normals": 3, "edge": 1, "sal": 2}),
}
# dataset -> (reader, tasks, required) per reading of a prepared tree (prepare.layout.READINGS)
READINGS = {
    "nyuv2": (("nyuv2", ("semseg", "depth", "normals"), True),),
    "cityscapes": (("cityscapes", ("semseg", "depth"), True), ("cityscapes19", ("semseg",), False)),
    "nyud": (("nyud", ("semseg", "depth", "normals", "edge"), True),),
    "pascal_context": (("pascal_context", PASCAL[0], True),),
}


def test_the_facts_moved_unchanged() -> None:
    assert sorted(DATASETS) == sorted(READERS)
    assert {n: i.reader_class().__name__ for n, i in DATASETS.items()} == READERS
    assert {n for n, i in DATASETS.items() if i.synthetic} == SYNTHETIC
    assert {n for n, i in DATASETS.items() if i.inverse_depth} == INVERSE_DEPTH
    assert {n for n, i in DATASETS.items() if i.protocol == "atrc"} == ATRC_PROTOCOL
    assert {n for n, i in DATASETS.items() if i.protocol != "atrc"} == set(READERS) - ATRC_PROTOCOL
    tasks = {n: (i.standard_tasks, dict(i.channels)) for n, i in DATASETS.items()}
    assert tasks == DATASET_TASKS
    assert {n: i.configurable_classes for n, i in DATASETS.items() if i.configurable_classes} == {
        "folder": ("semseg",)
    }
    readings = {
        name: tuple(
            (r.dataset, r.tasks or dataset_info(r.dataset).standard_tasks, r.required)
            for r in info.preparation.readings
        )
        for name, info in DATASETS.items()
        if info.preparation is not None
    }
    assert readings == READINGS
    predecoded = [n for n, i in DATASETS.items() if i.preparation and i.preparation.predecoded]
    assert predecoded == ["pascal_context"]


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_entry_is_consistent(name) -> None:
    info = DATASETS[name]
    assert info.name == name
    reader = info.reader_class()
    assert all(
        callable(getattr(reader, m, None)) for m in ("load_sample", "task_file", "check_files")
    )
    assert set(info.standard_tasks) <= set(info.channels)
    for task, class_list in (info.label_set.tasks if info.label_set else {}).items():
        assert task in info.channels, (name, task)
        if class_list.colours is not None:
            assert len(class_list.colours) == len(class_list.names), (name, task)
    if info.preparation is not None:
        assert info.preparation.source.dataset == name
        assert all(r.dataset in DATASETS for r in info.preparation.readings)


def test_unknown_names_are_one_line_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown dataset 'imagenet'; known datasets: .*nyud"):
        dataset_info("imagenet")
    with pytest.raises(ConfigError, match="unknown dataset 'imagenet'"):
        MultiTaskDataModule(dataset="imagenet")


def test_num_classes_reaches_only_a_reader_that_takes_it(tmp_path) -> None:
    write_folder(tmp_path, num_train=2, num_val=2)
    folder = dataset_info("folder")
    data = folder.open(tmp_path, "val", ["semseg"], num_classes={"semseg": 3})
    assert data.num_classes == {"semseg": 3}
    with pytest.raises(ConfigError, match="semseg needs data.num_classes"):
        folder.open(tmp_path, "val", ["semseg"])


def test_the_folder_reader_checks_its_images_against_the_backbone_stride(tmp_path) -> None:
    write_folder(tmp_path, num_train=2, num_val=2, size=(24, 40))
    data = dataset_info("folder").open(tmp_path, "val", ["depth"])
    data.check_files(16)  # 24×40 takes a stride of 16
    with pytest.raises(DataError, match=r"image size of .*images is 24×40, smaller than .* 32"):
        data.check_files(32)


# The example of docs/datasets.md, "Adding a dataset": a reader file and a registry entry.
class MyScenesDataset(FolderDataset):
    """My scenes: the folder layout with 3 fixed classes (a reader file of its own)."""

    def __init__(self, root, split, tasks, transform=None):
        super().__init__(root, split, tasks, transform, num_classes={"semseg": 3})


MY_SCENES = DatasetInfo(
    name="my_scenes",
    reader=MyScenesDataset,
    standard_tasks=("semseg", "depth"),
    channels={"semseg": 3, "depth": 1},
    label_set=LabelSet(
        "my_scenes",
        {
            "semseg": ClassList(
                ("road", "car", "sky"), ((128, 64, 128), (0, 0, 142), (70, 130, 180))
            )
        },
    ),
)


def test_a_dataset_added_by_one_registry_entry_is_read_everywhere(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(DATASETS, "my_scenes", MY_SCENES)
    write_folder(tmp_path, num_train=4, num_val=2)
    assert standard_tasks("my_scenes") == ["semseg", "depth"]
    assert [(s.name, s.channels) for s in resolve_tasks("my_scenes")] == [
        ("semseg", 3),
        ("depth", 1),
    ]
    assert classes.class_names("my_scenes", "semseg", 3) == ("road", "car", "sky")
    assert class_palette("my_scenes", "semseg", 3).tolist() == [
        [128, 64, 128],
        [0, 0, 142],
        [70, 130, 180],
    ]
    assert _units("depth", "my_scenes") == _units("depth", "nyuv2")  # metres: not inverse depth
    data = MultiTaskDataModule(
        dataset="my_scenes", root=str(tmp_path), label_setting="full", batch_size=2, num_workers=0
    )
    data.setup("fit")
    batch = data.on_after_batch_transfer(next(iter(data.train_dataloader())), 0)
    assert batch["image"].shape == (2, 3, 32, 40) and batch["labelled"].all()
    semseg = batch["targets"]["semseg"]
    assert semseg.dtype == torch.int64 and set(np.unique(semseg.numpy())) <= {0, 1, 2, 255}


@pytest.mark.slow
def test_a_dataset_added_by_one_registry_entry_trains_through_the_cli(tmp_path, monkeypatch):
    from dmtl.cli import main
    from support import REPO

    monkeypatch.setitem(DATASETS, "my_scenes", MY_SCENES)
    root, out = tmp_path / "data", tmp_path / "out"
    write_folder(root, num_train=4, num_val=2)
    main(
        [
            "fit",
            f"--config={REPO / 'experiments' / 'folder' / 'example.yaml'}",
            "--data.dataset=my_scenes",
            f"--data.root={root}",
            "--data.tasks=null",
            "--data.batch_size=2",
            "--data.num_workers=0",
            "--model.network.backbone=resnet10t",
            "--model.network.embed_dim=16",
            "--trainer.accelerator=cpu",
            "--trainer.max_epochs=1",
            "--trainer.enable_progress_bar=false",
            "--trainer.enable_model_summary=false",
            f"--trainer.logger.init_args.save_dir={out}",
            "--trainer.logger.init_args.name=run",
            "--trainer.logger.init_args.version=fit",
            f"--trainer.default_root_dir={out}",
        ]
    )
    run = out / "run" / "fit"
    val = json.loads((run / "val_metrics.json").read_text())
    assert set(val) == {"semseg", "depth"}  # the entry's standard tasks
    ckpt = next((run / "checkpoints").glob("*.ckpt"))
    model = DiffusionMTLModule.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True)
    assert model.hparams.dataset == "my_scenes"
    assert [(t.name, t.channels) for t in model.task_specs] == [("semseg", 3), ("depth", 1)]

"""``predict`` takes the dataset, tasks and class counts a checkpoint saved, unless given."""

from __future__ import annotations

import torch

from dmtl.cli.checkpoint_data import given_data_keys, take_data_from_checkpoint

PARSED = {"dataset": "synthetic", "tasks": None, "num_classes": None, "predict_dir": "photos"}


def _checkpoint(tmp_path, **hparams):
    path = tmp_path / "x.ckpt"
    torch.save({"hyper_parameters": hparams, "state_dict": {}}, path)
    return path


def test_every_dataset_kind_comes_from_the_checkpoint(tmp_path):
    path = _checkpoint(tmp_path, dataset="nyuv2", tasks=["semseg", "depth"])
    data = dict(PARSED)
    taken = take_data_from_checkpoint(data, path, ["--data.predict_dir=photos"])
    assert taken == {"dataset": "nyuv2", "tasks": ["semseg", "depth"]}
    assert data == {**PARSED, **taken}


def test_a_folder_checkpoint_brings_its_class_count(tmp_path):
    network = {"num_classes": {"semseg": 5}}
    path = _checkpoint(tmp_path, dataset="folder", tasks=["semseg", "edge"], network=network)
    data = dict(PARSED)
    take_data_from_checkpoint(data, path, [])
    assert (data["dataset"], data["tasks"], data["num_classes"]) == (
        "folder",
        ["semseg", "edge"],
        {"semseg": 5},
    )


def test_the_command_line_wins(tmp_path):
    path = _checkpoint(tmp_path, dataset="nyuv2", tasks=["semseg", "depth"])
    argv = ["--data.tasks=[semseg]", "--data.num_classes.semseg", "13", "--model.x=1"]
    assert given_data_keys(argv) == {"tasks", "num_classes"}
    data = dict(PARSED, tasks=["semseg"])
    assert take_data_from_checkpoint(data, path, argv) == {"dataset": "nyuv2"}
    assert data["tasks"] == ["semseg"]

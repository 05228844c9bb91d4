import pytest
import torch
from torch.utils.data import DataLoader

from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.data.labels import make_label_mask, save_split_file
from dmtl.data.synthetic.dataset import SyntheticConfig
from dmtl.errors import ConfigError, DataError, MissingDataError

TINY = SyntheticConfig(height=32, width=40, num_train=12, num_val=6, seed=0)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("synthetic-cache")


def _dm(cache, **kw):
    args = dict(dataset="synthetic", root=str(cache), synthetic=TINY, batch_size=4, num_workers=0)
    args.update(kw)
    dm = MultiTaskDataModule(**args)
    dm.prepare_data()
    return dm


def test_batch_contract(cache):
    dm = _dm(cache, tasks=["semseg", "depth", "normals", "edge"], label_setting="onelabel")
    dm.setup("fit")
    loaded = next(iter(dm.train_dataloader()))
    assert loaded["targets"]["semseg"].dtype == torch.uint8  # compact until the transfer hook
    assert loaded["targets"]["edge"].dtype == torch.uint8
    batch = dm.on_after_batch_transfer(loaded, 0)
    assert batch["image"].shape == (4, 3, 32, 40) and batch["image"].dtype == torch.float32
    t = batch["targets"]
    assert t["semseg"].shape == (4, 32, 40) and t["semseg"].dtype == torch.int64
    assert set(t["semseg"].unique().tolist()) <= set(range(13)) | {255}
    assert t["depth"].shape == (4, 1, 32, 40) and (t["depth"] >= 0).all()
    assert t["normals"].shape == (4, 3, 32, 40)
    norms = t["normals"].norm(dim=1)
    assert torch.allclose(norms[norms > 0], torch.ones(()), atol=1e-4)
    assert t["edge"].shape == (4, 1, 32, 40) and t["edge"].dtype == torch.float32
    assert batch["labelled"].shape == (4, 4) and batch["labelled"].dtype == torch.bool
    assert len(batch["meta"]["name"]) == 4


def test_onelabel_rows_come_from_the_mask_over_the_standard_tasks(cache):
    dm = _dm(cache, label_setting="onelabel", label_seed=3)
    dm.setup("fit")
    expected = make_label_mask("onelabel", TINY.num_train, 3, seed=3)
    assert torch.equal(dm.labelled, expected)
    batch = next(iter(DataLoader(dm.train_set, batch_size=4)))
    assert torch.equal(batch["labelled"], expected[:4])


def test_single_task_run_sees_only_its_column_of_the_multitask_setting(cache):
    dm = _dm(cache, tasks=["depth"], label_setting="onelabel", label_seed=3)
    dm.setup("fit")
    full = make_label_mask("onelabel", TINY.num_train, 3, seed=3)
    assert torch.equal(dm.labelled, full[:, 1:2])
    assert int(dm.labelled.sum()) == TINY.num_train // 3


def test_evaluation_batches_are_fully_labelled_and_unaugmented(cache):
    dm = _dm(cache)
    dm.setup("validate")
    a = next(iter(dm.val_dataloader()))
    b = next(iter(dm.val_dataloader()))
    assert a["labelled"].all()
    assert torch.equal(a["image"], b["image"])


def test_split_file_is_used_and_checked(cache, tmp_path):
    mask = make_label_mask("randomlabels", TINY.num_train, 3, seed=5)
    good = tmp_path / "randomlabels.pth"
    save_split_file(mask, good)
    dm = _dm(cache, split_file=str(good))
    dm.setup("fit")
    assert torch.equal(dm.labelled, mask)
    bad = tmp_path / "short.pth"
    save_split_file(mask[:-1], bad)
    dm = _dm(cache, split_file=str(bad))
    with pytest.raises(DataError, match=r"short.pth has shape \[N=11, K=3\]"):
        dm.setup("fit")


def test_bad_configuration_fails_at_construction(tmp_path):
    with pytest.raises(ConfigError, match="unknown task 'dept'"):
        MultiTaskDataModule(tasks=["semseg", "dept"])
    with pytest.raises(ConfigError, match="unknown label setting 'twolabels'"):
        MultiTaskDataModule(label_setting="twolabels")
    with pytest.raises(MissingDataError, match="nowhere"):
        MultiTaskDataModule(dataset="nyuv2", root=str(tmp_path / "nowhere"))
    with pytest.raises(MissingDataError, match="split.pth"):
        MultiTaskDataModule(split_file=str(tmp_path / "split.pth"))
    with pytest.raises(ConfigError, match="label_tasks"):
        MultiTaskDataModule(tasks=["edge"], label_tasks=["semseg", "depth"])

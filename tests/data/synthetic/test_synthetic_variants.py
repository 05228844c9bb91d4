"""The synthetic PASCAL-like and Cityscapes-like datasets through the data module and the CLI."""

import json

import numpy as np
import pytest

from dmtl.cli import main
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.data.synthetic.dataset import SyntheticConfig
from dmtl.errors import ConfigError
from dmtl.module import DiffusionMTLModule
from support import REPO
from support.batches import first_batch

EXPERIMENTS = REPO / "experiments"
PASCAL_TASKS = ["semseg", "human_parts", "sal", "normals", "edge"]
TINY = SyntheticConfig(height=32, width=32, num_train=12, num_val=4, seed=0)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("variants-cache")


@pytest.mark.parametrize(
    ("setting", "low", "high"), [("onelabel", 1, 1), ("randomlabels", 1, 4), ("full", 5, 5)]
)
def test_label_settings_cover_the_five_pascal_tasks(cache, setting, low, high):
    dm = MultiTaskDataModule(
        dataset="synthetic_pascal", root=str(cache), synthetic=TINY, label_setting=setting,
        num_workers=0, crop_size=(32, 32),
    )  # fmt: skip
    dm.prepare_data()
    dm.setup("fit")
    assert dm.tasks == PASCAL_TASKS
    per_image = dm.labelled.sum(1)
    assert dm.labelled.shape == (12, 5)
    assert int(per_image.min()) >= low and int(per_image.max()) <= high
    batch = first_batch(dm, dm.train_dataloader())
    assert batch["image"].shape == (8, 3, 32, 32)
    assert set(batch["targets"]) == set(PASCAL_TASKS)
    assert batch["targets"]["normals"].shape == (8, 3, 32, 32)


def test_cityscapes_variant_batches_hold_label7_and_inverse_depth(cache):
    config = SyntheticConfig(height=32, width=64, num_train=8, num_val=4, seed=0)
    dm = MultiTaskDataModule(
        dataset="synthetic_cityscapes", root=str(cache), synthetic=config, num_workers=0,
        batch_size=4, augment=False,
    )  # fmt: skip
    dm.prepare_data()
    dm.setup("fit")
    assert dm.tasks == ["semseg", "depth"]
    batch = first_batch(dm, dm.val_dataloader())
    depth, semseg = batch["targets"]["depth"], batch["targets"]["semseg"]
    assert depth.shape == (4, 1, 64 // 2, 64) and float(depth.max()) < 0.6
    assert set(semseg.unique().tolist()) <= set(range(7)) | {255}  # 255: the bonnet, void
    assert float((depth > 0).float().mean()) > 0.6


@pytest.mark.parametrize(
    ("dataset", "task"), [("synthetic_pascal", "depth"), ("synthetic_cityscapes", "normals")]
)
def test_a_task_the_variant_lacks_is_refused_by_data_and_model(dataset, task):
    with pytest.raises(ConfigError, match=f"task '{task}' is not available on dataset '{dataset}'"):
        MultiTaskDataModule(dataset=dataset, tasks=[task])
    with pytest.raises(ConfigError, match=f"not available on dataset '{dataset}'"):
        DiffusionMTLModule(dataset=dataset, tasks=[task])


def _cli(subcommand, config, cache, out, size, *extra):
    height, width = size
    return [
        subcommand,
        f"--config={EXPERIMENTS / config / 'default.yaml'}",
        f"--data.root={cache}",
        f"--data.synthetic.height={height}",
        f"--data.synthetic.width={width}",
        "--data.synthetic.num_train=8",
        "--data.synthetic.num_val=4",
        "--data.batch_size=4",
        "--data.num_workers=0",
        "--model.network.embed_dim=16",
        "--model.denoiser.width=16",
        "--trainer.accelerator=cpu",
        "--trainer.max_epochs=1",
        "--trainer.limit_train_batches=2",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
        "--trainer.log_every_n_steps=1",
        f"--trainer.logger.init_args.save_dir={out}",
        "--trainer.logger.init_args.name=run",
        f"--trainer.logger.init_args.version={subcommand}",
        *extra,
    ]


def _fit_and_test(config, cache, out, size, *extra):
    main(_cli("fit", config, cache, out, size, *extra))
    ckpt = out / "run" / "fit" / "checkpoints" / "last.ckpt"
    assert ckpt.exists()
    main(_cli("test", config, cache, out, size, f"--ckpt_path={ckpt}", *extra))
    return json.loads((out / "run" / "test" / "test_metrics.json").read_text())


def test_pascal_like_config_trains_and_tests_every_task(cache, tmp_path):
    metrics = _fit_and_test(
        "synthetic_pascal", cache, tmp_path, (32, 32), "--data.crop_size=[32,32]"
    )
    assert set(metrics) == set(PASCAL_TASKS)
    for task, key in (("semseg", "miou"), ("human_parts", "miou"), ("sal", "maxf"),
                      ("edge", "f1")):  # fmt: skip
        assert 0.0 <= metrics[task][key] <= 100.0, (task, metrics[task])
    assert 0.0 <= metrics["normals"]["mean"] <= 180.0


def test_cityscapes_like_config_trains_and_tests_both_tasks(cache, tmp_path):
    metrics = _fit_and_test("synthetic_cityscapes", cache, tmp_path, (32, 64))
    assert set(metrics) == {"semseg", "depth"}
    assert 0.0 <= metrics["semseg"]["miou"] <= 100.0
    assert np.isfinite(metrics["depth"]["abs_err"]) and metrics["depth"]["abs_err"] >= 0.0


def test_the_cityscapes_variant_zoom_multiplies_inverse_depth(cache):
    # A zoom by s = 2 makes the scene look twice as close: inverse depth doubles (metric depth
    # would halve), so every valid training value is twice a value of the unaugmented sample.
    config = SyntheticConfig(height=32, width=64, num_train=4, num_val=2, seed=0)
    kwargs = {"dataset": "synthetic_cityscapes", "root": str(cache), "synthetic": config,
              "num_workers": 0}  # fmt: skip
    zoomed = MultiTaskDataModule(scales=(2.0,), **kwargs)
    zoomed.prepare_data()
    zoomed.setup("fit")
    plain = zoomed.train_set.base.load_sample(0)["depth"]
    depth = zoomed.train_set[0]["targets"]["depth"].numpy()
    values = depth[depth > 0]
    assert values.size > 0 and np.isin(values / 2, plain[plain > 0]).all()
    assert not np.isin(values, plain[plain > 0]).all()  # not the unzoomed values


@pytest.mark.parametrize(
    ("config", "extra", "needle"),
    [
        ("synthetic_pascal", "--data.tasks=[semseg,depth]", "'depth' is not available on dataset"),
        ("synthetic_cityscapes", "--data.tasks=[edge]", "'edge' is not available on dataset"),
    ],
)
def test_cli_refuses_a_task_the_variant_lacks_in_one_line(cache, tmp_path, capsys, config,
                                                          extra, needle):  # fmt: skip
    with pytest.raises(SystemExit) as exit_info:
        main(_cli("fit", config, cache, tmp_path, (32, 32), extra))
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("dmtl: error:") and needle in err[-1]
    assert not (tmp_path / "run").exists()

"""A user's mistakes on the command line end in one line ``dmtl: error: ...``, no usage page."""

from __future__ import annotations

import sys

import pytest
import torch

from dmtl.cli import main
from support.cli import _args


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cli-errors-cache")


def one_error_line(args: list[str], capsys: pytest.CaptureFixture) -> str:
    """Run the CLI on ``args``; assert exit 2, one ``dmtl: error:`` line, last, and no usage."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "usage:" not in err and "tip:" not in err
    lines = [line for line in err.splitlines() if line.startswith("dmtl: error:")]
    assert len(lines) == 1, err
    assert err.strip().splitlines()[-1] == lines[0]
    return lines[0]


def test_a_checkout_config_path_outside_a_checkout_names_the_packaged_config(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)  # an empty folder, as after `pip install dmtl`
    line = one_error_line(["fit", "--config", "experiments/synthetic/default.yaml"], capsys)
    assert line == (
        "dmtl: error: no such config experiments/synthetic/default.yaml: "
        "did you mean dmtl://synthetic/default.yaml?"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_missing_config_of_no_packaged_name_says_what_it_is(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    line = one_error_line(["fit", "--config=mine/nothing.yaml"], capsys)
    assert line.startswith("dmtl: error: no such config mine/nothing.yaml: ")
    assert "dmtl://" not in line


def test_an_unknown_option_offers_the_option_meant(cache, tmp_path, capsys):
    line = one_error_line(_args("fit", cache, tmp_path, "--model.optim.learning_rate=0.1"), capsys)
    assert line == (
        "dmtl: error: unknown option model.optim.learning_rate; did you mean model.optim.lr?"
    )


def test_an_unknown_key_in_a_config_file_offers_the_key_meant(cache, tmp_path, capsys):
    config = tmp_path / "mine.yaml"
    config.write_text("trainer:\n  max_epoch: 3\n")
    line = one_error_line(_args("fit", cache, tmp_path, f"--config={config}"), capsys)
    assert line == "dmtl: error: unknown option trainer.max_epoch; did you mean trainer.max_epochs?"


def test_a_wrong_choice_lists_the_allowed_values(cache, tmp_path, capsys):
    line = one_error_line(_args("fit", cache, tmp_path, "--model.diffusion.space=features"), capsys)
    assert line == (
        "dmtl: error: model.diffusion.space: 'features' is not one of none, prediction, feature; "
        "did you mean feature?"
    )


def test_a_wrong_type_names_the_type_expected(cache, tmp_path, capsys):
    line = one_error_line(_args("fit", cache, tmp_path, "--trainer.max_epochs=two"), capsys)
    assert line == "dmtl: error: trainer.max_epochs: expected int or None, got 'two'"


def test_a_gpu_accelerator_without_a_gpu_says_use_cpu(cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    line = one_error_line(_args("fit", cache, tmp_path, "--trainer.accelerator=gpu"), capsys)
    assert line.startswith(
        "dmtl: error: --trainer.accelerator=gpu: no GPU is visible: use --trainer.accelerator=cpu "
        "or check the driver"
    )
    assert not (tmp_path / "run").exists()


def test_the_wandb_logger_without_wandb_names_the_extra(cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "wandb", None)  # what `import wandb` finds uninstalled
    logger = "--trainer.logger=lightning.pytorch.loggers.WandbLogger"
    line = one_error_line(_args("fit", cache, tmp_path, logger), capsys)
    assert line.endswith(
        "needs the wandb package, which is not installed: pip install 'dmtl[wandb]'"
    )
    assert "lightning.pytorch.loggers.WandbLogger" in line


def test_a_malformed_config_names_the_file_line_and_column(tmp_path, capsys):
    config = tmp_path / "mine.yaml"
    config.write_text("model:\n  optim: {lr: [0.01\n")
    line = one_error_line(["fit", f"--config={config}"], capsys)
    assert line.startswith(f"dmtl: error: config {config} does not parse: ")
    assert "line 3, column 1" in line

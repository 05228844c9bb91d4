"""The configs of experiments/ ship with the package and load as ``--config dmtl://<path>``."""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from dmtl.cli import PACKAGED_CONFIGS, main, packaged_config, resolve_config_args
from dmtl.errors import ConfigError
from support import REPO

EXPERIMENTS = REPO / "experiments"
CONFIGS = sorted(p.relative_to(EXPERIMENTS).as_posix() for p in EXPERIMENTS.rglob("*.yaml"))
# what the wheel build needs of the checkout (the tests, .git and build outputs stay behind)
LEFT_OUT = shutil.ignore_patterns(".git", "tests", "build", "*.egg-info", "__pycache__", "runs")


def test_every_experiments_config_is_a_packaged_config():
    assert PACKAGED_CONFIGS.resolve() == EXPERIMENTS.resolve()
    assert "nyuv2/base.yaml" in CONFIGS and "folder/example.yaml" in CONFIGS
    for name in CONFIGS:
        assert packaged_config(f"dmtl://{name}").read_bytes() == (EXPERIMENTS / name).read_bytes()


def test_config_flags_of_every_spelling_are_resolved():
    base = str(EXPERIMENTS.resolve() / "nyuv2" / "base.yaml")
    name = "dmtl://nyuv2/base.yaml"
    argv = ["fit", "--config", name, "-c", name, f"--config={name}", "--data.root=dmtl://x",
            "--trainer.max_epochs=1"]  # fmt: skip
    assert resolve_config_args(argv) == [
        "fit", "--config", base, "-c", base, f"--config={base}", "--data.root=dmtl://x",
        "--trainer.max_epochs=1",
    ]  # fmt: skip


@pytest.mark.parametrize("name", ["dmtl://nyuv2/nothing.yaml", "dmtl://../setup.cfg", "dmtl://"])
def test_unknown_packaged_config_is_one_line(name, capsys):
    with pytest.raises(ConfigError, match="no packaged config"):
        packaged_config(name)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", name])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dmtl: error: no packaged config dmtl://")
    assert "nyuv2" in err[0] and "pascal_context" in err[0]


def test_cli_parses_a_packaged_config(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", "dmtl://synthetic/default.yaml", "--print_config"])
    assert exit_info.value.code == 0
    printed = capsys.readouterr().out
    assert "dataset: synthetic" in printed and "label_setting: onelabel" in printed


def test_offline_wheel_holds_the_configs_and_resolves_them_installed(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=LEFT_OUT)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run([*build, ".", "-w", str(wheels), "-q"], cwd=source, env=env, check=True)
    (wheel,) = wheels.glob("dmtl-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"dmtl/configs/{name}" for name in CONFIGS} <= names
    target = tmp_path / "site"
    install = [*pip, "install", "--no-deps", "--no-index", "-q"]
    subprocess.run([*install, "--target", str(target), str(wheel)], env=env, check=True)
    probe = "from dmtl.cli import packaged_config; print(packaged_config('dmtl://nyuv2/base.yaml'))"
    env["PYTHONPATH"] = str(target)
    found = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, check=True, capture_output=True,
        text=True,
    ).stdout.strip()  # fmt: skip
    assert found.startswith(str(target.resolve()))
    assert (target / "dmtl" / "configs" / "nyuv2" / "base.yaml").read_bytes() == (
        EXPERIMENTS / "nyuv2" / "base.yaml"
    ).read_bytes()

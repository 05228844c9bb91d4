"""W&B sweep files (experiments/sweeps): schema, real CLI keys, and one agent command run offline.

No sweep controller runs without the W&B server, so the test does the agent's part itself: the
``sweeps`` package (W&B's sweep engine) proposes parameters, and the command line is built as
``wandb agent`` builds it (``wandb/wandb_agent.py``: ``${env}`` -> ``/usr/bin/env``,
``${interpreter}`` -> ``python`` from PATH, ``${args}`` -> ``--key=value``).
"""

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from dmtl.cli import main
from support import REPO

sweeps = pytest.importorskip("sweeps", reason="make install puts it in (pip install --no-deps)")
from sweeps.grid_search import grid_search_next_runs  # noqa: E402
from sweeps.random_search import random_search_next_runs  # noqa: E402
from wandb.sdk.launch.sweeps.utils import (  # noqa: E402
    create_sweep_command,
    create_sweep_command_args,
)

ROOT = REPO
SWEEPS = sorted((ROOT / "experiments" / "sweeps").glob("*.yaml"))
DIFFUSION_KEYS = {"model.diffusion.space", "model.diffusion.steps", "model.diffusion.schedule"}
TINY = [
    "--data.synthetic.height=32",
    "--data.synthetic.width=40",
    "--data.synthetic.num_train=16",
    "--data.synthetic.num_val=8",
    "--data.batch_size=4",
    "--data.num_workers=0",
    "--model.network.embed_dim=16",
    "--trainer.accelerator=cpu",
    "--trainer.max_epochs=1",
    "--trainer.enable_progress_bar=false",
]


def _flatten(tree: dict, prefix: str = "") -> set[str]:
    keys = set()
    for key, value in tree.items():
        keys.add(prefix + key)
        if isinstance(value, dict):
            keys |= _flatten(value, f"{prefix}{key}.")
    return keys


def _print_config(capsys, *args: str) -> dict:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *args, "--print_config"])
    assert exit_info.value.code in (0, None)
    return yaml.safe_load(capsys.readouterr().out)


@pytest.fixture(scope="module")
def cli_keys() -> set[str]:
    with pytest.MonkeyPatch.context() as mp:
        import io

        out = io.StringIO()
        mp.setattr(sys, "stdout", out)
        with pytest.raises(SystemExit):
            main(["fit", "--print_config"])
    return _flatten(yaml.safe_load(out.getvalue()))


def _propose(config: dict, seed: int = 0) -> dict:
    """One run's parameters as the W&B controller proposes them: {name: {"value": v}}.

    The random search draws from Python's ``random``: seeded here (and its state restored), so
    every test run tries the same proposal.
    """
    if config["method"] == "grid":
        return grid_search_next_runs([], config, n=1)[0].config
    state = random.getstate()
    random.seed(seed)
    try:
        return random_search_next_runs(config, n=1)[0].config
    finally:
        random.setstate(state)


def agent_argv(config: dict, run_config: dict) -> list[str]:
    """The argv ``wandb agent`` runs for ``run_config`` (as in wandb/wandb_agent.py)."""
    command = create_sweep_command(list(config["command"]))  # ${envvar:NAME} macros
    variables = create_sweep_command_args({"args": run_config})
    variables.update(interpreter=["python"], program=[config["program"]], env=["/usr/bin/env"])
    argv = []
    for chunk in map(str, command):
        if chunk.startswith("${") and chunk.endswith("}"):
            argv += variables.get(chunk[2:-1]) or []
        else:
            argv.append(chunk)
    return argv


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_the_sweeps_cover_lr_loss_weights_diffusion_and_a_real_benchmark():
    names = {p.stem for p in SWEEPS}
    assert {"synthetic_lr_weights", "synthetic_diffusion", "nyuv2_lr"} <= names
    params = set().union(*(_load(p)["parameters"] for p in SWEEPS))
    assert {"model.optim.lr", "model.loss.weights"} | DIFFUSION_KEYS <= params


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_sweep_file_passes_the_wandb_schema(path):
    config = _load(path)
    assert sweeps.schema_violations_from_proposed_config(config) == []
    assert "${args}" in config["command"] and config["command"][:2] == ["${env}", "${interpreter}"]
    assert config["metric"]["name"].startswith("val/")


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_every_swept_and_fixed_key_is_a_cli_key(path, cli_keys):
    config = _load(path)
    fixed = [a[2:].split("=")[0] for a in config["command"] if a.startswith("--") and "=" in a]
    missing = sorted(k for k in [*config["parameters"], *fixed] if k not in cli_keys)
    assert missing == []


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_agent_command_line_parses_with_the_proposed_values(path, cli_keys, capsys, monkeypatch):
    config = _load(path)
    monkeypatch.setenv("NYUV2_ROOT", "/data/nyuv2")
    monkeypatch.chdir(ROOT)  # the agent runs in the directory the sweep was started from
    run = _propose(config)
    argv = agent_argv(config, run)
    assert argv[:4] == ["/usr/bin/env", "python", "-m", "dmtl"]
    printed = _print_config(capsys, *argv[5:])  # after "/usr/bin/env python -m dmtl fit"
    for name, spec in run.items():
        value = printed
        for key in name.split("."):  # model.optim.lr: the nested sections of the printed config
            value = value[key]
        assert value == pytest.approx(spec["value"]), name
    if "--data.root=${envvar:NYUV2_ROOT}" in config["command"]:
        assert printed["data"]["root"] == "/data/nyuv2"


@pytest.mark.slow
def test_one_agent_run_end_to_end_offline(tmp_path):
    config = _load(ROOT / "experiments" / "sweeps" / "synthetic_lr_weights.yaml")
    run = _propose(config)
    argv = agent_argv(config, run)
    extra = [
        f"--data.root={tmp_path / 'data'}",
        f"--trainer.logger.init_args.save_dir={tmp_path}",
        *TINY,
    ]  # tiny data, appended after the agent's arguments
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # python = venv
        "PYTHONPATH": str(ROOT / "src"),
        "WANDB_MODE": "offline",
        "WANDB_DIR": str(tmp_path),
        "WANDB_SILENT": "true",
    }
    proc = subprocess.run(
        argv + extra, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # The run's folder, save_dir/<project>/<run id>: the metric the sweep ranks by was computed.
    (folder,) = (tmp_path / "dmtl").iterdir()
    assert "delta_m" in json.loads((folder / "val_metrics.json").read_text())
    # An offline run is a binary record log; config and history values sit in it as compact JSON.
    lr = float(run["model.optim.lr"]["value"])
    weights = json.dumps(run["model.loss.weights"]["value"], separators=(",", ":"))
    expected = [
        f'"optim":{{"name":"adam","lr":{lr!r}'.encode(),
        f'"weights":{weights}'.encode(),
        config["metric"]["name"].encode(),
    ]
    data = _record_log(folder, expected)
    assert f'"optim":{{"name":"adam","lr":{lr!r}'.encode() in data  # the resolved config (`cli`)
    assert f'"weights":{weights}'.encode() in data
    assert config["metric"]["name"].encode() in data  # the metric the sweep ranks runs by


def _record_log(folder: Path, expected: list[bytes], timeout: float = 120.0) -> bytes:
    """The offline record log once it holds every ``expected`` string (or after ``timeout`` s).

    W&B's service process writes the log; on a loaded machine it may still be flushing it when
    the run's own process has exited, so the log is read again until it is complete.
    """
    deadline = time.monotonic() + timeout
    while True:
        logs = list((folder / "wandb").glob("offline-run-*/run-*.wandb"))
        data = logs[0].read_bytes() if len(logs) == 1 else b""
        if all(needle in data for needle in expected) or time.monotonic() > deadline:
            assert len(logs) == 1, logs
            return data
        time.sleep(0.5)

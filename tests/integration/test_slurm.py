"""The SLURM script (experiments/slurm/train.sbatch): valid bash, requeue set up, real CLI keys."""

import os
import shlex
import subprocess

import pytest
import yaml

from dmtl.cli import main
from support import REPO

SCRIPT = REPO / "experiments" / "slurm" / "train.sbatch"


def test_script_is_valid_bash_with_requeue_on_sigusr1():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    text = SCRIPT.read_text()
    assert "#SBATCH --signal=SIGUSR1@" in text and "#SBATCH --requeue" in text
    assert "srun " in text and "${SLURM_JOB_ID}" in text


def test_script_hands_cpus_to_srun_and_says_how_to_create_its_output_folder():
    text = SCRIPT.read_text()
    assert "export SRUN_CPUS_PER_TASK=${SLURM_CPUS_PER_TASK" in text
    output = next(line for line in text.splitlines() if line.startswith("#SBATCH --output="))
    folder = output.split("=", 1)[1].rsplit("/", 1)[0]
    # Slurm opens the output file before the script runs: the usage creates its folder first
    assert f"mkdir -p {folder} && sbatch" in text
    # the requeued job resumes by itself: no auto_resume=false, one fixed run folder per job id
    assert "auto_resume=false" not in text and 'version="${SLURM_JOB_ID}"' in text


def test_srun_arguments_parse_into_a_multi_node_ddp_config(capsys, monkeypatch):
    env = {"SLURM_JOB_NUM_NODES": "4", "SLURM_NTASKS_PER_NODE": "8", "SLURM_JOB_ID": "1234",
           "CONFIG": "experiments/synthetic/default.yaml", "RUN_NAME": "mtl",
           "RUN_DIR": "runs/mtl/1234"}  # fmt: skip
    text = SCRIPT.read_text().split("srun ", 1)[1].replace("\\\n", " ")
    words = shlex.split(os.path.expandvars(text.replace('"$@"', "").strip()), comments=True)
    for key, value in env.items():  # ${VAR} as the script sets them
        words = [w.replace("${" + key + "}", value) for w in words]
    args = words[words.index("fit") + 1 :]
    monkeypatch.chdir(SCRIPT.parents[2])
    with pytest.raises(SystemExit):
        main(["fit", *args, "--print_config"])
    config = yaml.safe_load(capsys.readouterr().out)
    trainer = config["trainer"]
    # devices stays the string "8"; Lightning reads a digit string as a device count
    assert (trainer["num_nodes"], int(trainer["devices"])) == (4, 8)
    assert trainer["strategy"]["class_path"].endswith("DDPStrategy")
    assert trainer["default_root_dir"] == "runs/mtl/1234"
    assert str(trainer["logger"]["init_args"]["version"]) == "1234"

"""Shared test settings: CPU only, offline, deterministic."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers in tests/support

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pytest  # noqa: E402
import torch  # noqa: E402

# DMTL_TEST_THREADS=1 avoids thread oversubscription when other jobs share the cores.
torch.set_num_threads(int(os.environ.get("DMTL_TEST_THREADS", max(1, min(2, os.cpu_count() or 1)))))


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


# Folders a run writes when started in the current folder; a test must write into tmp_path.
RUN_OUTPUTS = ("runs", "lightning_logs", "wandb")


@pytest.fixture(scope="session", autouse=True)
def _no_run_outputs_in_the_checkout():
    """Fail the session if a test left run folders (``runs/``, ...) in the repository."""
    repo = Path(__file__).resolve().parents[1]
    before = {name for name in RUN_OUTPUTS if (repo / name).exists()}
    yield
    added = sorted(name for name in RUN_OUTPUTS if (repo / name).exists() and name not in before)
    assert not added, f"tests wrote {added} into {repo}: chdir to tmp_path or pass a save_dir"

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

"""Parameter count of the network a config builds, in total and per part.

The configs are merged as the CLI merges them (later files override earlier ones, key by key);
the ``model`` section (its option groups as dicts), with ``dataset`` and ``tasks`` from the
``data`` section, becomes ``DiffusionMTLModule(**model)``. The network is built on the meta
device: no memory, no weights downloaded, a second or two even for the 133M-parameter paper
network.

Usage:
    python experiments/benchmarks/param_count.py \
        --config experiments/pascal_context/base.yaml \
        --config experiments/pascal_context/paper_feature_onelabel.yaml
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import torch
import yaml

from dmtl.module import DiffusionMTLModule

PAPER_PARAMETERS = 132_913_284  # docs/released.md


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Recursive dict update: mappings merge key by key, anything else is replaced."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def model_args(configs: list[Path]) -> dict[str, Any]:
    """``DiffusionMTLModule`` arguments of the merged configs (no pretrained weights)."""
    merged: dict[str, Any] = {}
    for path in configs:
        merged = merge(merged, yaml.safe_load(path.read_text()) or {})
    args = dict(merged.get("model") or {})
    data = merged.get("data") or {}
    for key in ("dataset", "tasks"):  # the CLI links these from the data module
        if key in data:
            args[key] = data[key]
    args["network"] = {**(args.get("network") or {}), "pretrained": False}
    return args


def count(module: torch.nn.Module) -> tuple[int, Counter]:
    """Trainable parameters in total and per top-level part of the network."""
    parts: Counter = Counter()
    for name, p in module.named_parameters():
        if p.requires_grad:
            parts[".".join(name.split(".")[1:3])] += p.numel()
    return sum(parts.values()), parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, action="append", required=True)
    args = parser.parse_args()
    kwargs = model_args(args.config)
    with torch.device("meta"):
        module = DiffusionMTLModule(**kwargs)
    total, parts = count(module)
    for part, n in sorted(parts.items()):
        print(f"{part:24s} {n:>13,}")
    print(f"{'total':24s} {total:>13,}")
    kind = (kwargs.get("denoiser") or {}).get("kind")
    if kind == "crossattn" and kwargs.get("dataset") == "pascal_context":
        verdict = "equals" if total == PAPER_PARAMETERS else "DIFFERS from"
        print(f"{verdict} the released network's {PAPER_PARAMETERS:,}")


if __name__ == "__main__":
    main()

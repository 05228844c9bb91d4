"""Training and inference throughput (images/s) and peak GPU memory of a network built from configs.

The network is ``DiffusionMTLModule(**model_section)``, the ``model:`` section of the given config
files merged in order (later files win, as LightningCLI merges ``--config`` files), with
``dataset``/``tasks`` from their ``data:`` section. Backbone weights stay random (speed does not
depend on them). On random images and targets with one label per sample (balanced over tasks, a
fresh shuffle every step, as the ``onelabel`` setting gives):

- a training step is what ``training_step`` and Lightning do: forward with the labelled mask and
  the step's noise generator, the masked loss, backward, grad-norm clipping
  (``trainer.gradient_clip_val`` of the configs) and the optimiser step (``dmtl.optim``: fused
  Adam on CUDA), under ``torch.autocast`` for ``--precision bf16`` (Lightning's ``bf16-mixed``);
- inference is the evaluation forward (every task of every sample denoised) in inference mode.

Batches are made on the device beforehand (no data loading: see ``loader_cost.py``). Warm-up
steps are excluded, CUDA is synchronised around each timed step, medians are reported; peak memory
is ``torch.cuda.max_memory_allocated`` over the timed loop. One table is printed; ``--json``
writes the machine, torch version, date and every row.

    # one GPU: the paper-exact PASCAL network and the default DiffusionMTL, the issue's grid
    python experiments/benchmarks/throughput.py --device cuda --network paper default \\
        --batch 6 16 32 --precision fp32 bf16 --json throughput_gpu.json
    python experiments/benchmarks/throughput.py --device cuda --network paper --batch 32 \\
        --precision bf16 --channels-last --compile --warmup 10 --json throughput_gpu_fast.json
    # a 2-core CPU: the default network, about a minute on an idle machine
    python experiments/benchmarks/throughput.py --network default --batch 4 --steps 2 --threads 1
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import yaml

from dmtl.module import DiffusionMTLModule
from dmtl.optim import build_optimizer
from dmtl.tasks import IGNORE_INDEX, TaskSpec

ROOT = Path(__file__).resolve().parents[2]
PASCAL = ROOT / "experiments" / "pascal_context"
PAPER = PASCAL / "paper_feature_onelabel.yaml"  # issue 5: the paper-exact network
# Until the paper-exact config lands, the feature-diffusion overlay stands in (UNet denoiser).
PAPER_FALLBACK = PASCAL / "mtl_diffusion_feature.yaml"
NETWORKS: dict[str, tuple[list[Path], tuple[int, int] | None]] = {
    "paper": ([PASCAL / "base.yaml", PAPER if PAPER.is_file() else PAPER_FALLBACK], None),
    "default": ([ROOT / "experiments" / "synthetic" / "default.yaml"], None),
}
# Model options (group -> fields) that name files or need the network: speed does not need them.
OFFLINE = {
    "network": {"pretrained": False, "backbone_weights": None},
    "evaluation": {"reference": None},
}
GB = 1e9


def load_configs(paths: list[Path]) -> dict:
    """Merge YAML configs in order: nested dicts merge key by key, anything else is replaced."""

    def merge(base: dict, over: dict) -> dict:
        out = dict(base)
        for key, value in over.items():
            both = isinstance(value, dict) and isinstance(out.get(key), dict)
            out[key] = merge(out[key], value) if both else value
        return out

    merged: dict = {}
    for path in paths:
        merged = merge(merged, yaml.safe_load(Path(path).read_text()) or {})
    return merged


def image_size(config: dict) -> tuple[int, int]:
    """(H, W) of the training images the configs describe."""
    data = config.get("data", {})
    if data.get("dataset") == "pascal_context":
        return tuple(data.get("crop_size", (512, 512)))
    if data.get("dataset", "synthetic") == "synthetic":
        syn = data.get("synthetic", {})
        return syn.get("height", 64), syn.get("width", 80)
    raise SystemExit(f"give --size H W for dataset {data.get('dataset')!r}")


def build_module(config: dict, args: argparse.Namespace) -> DiffusionMTLModule:
    """``DiffusionMTLModule`` from the configs' model section, with this run's speed options."""
    data = config.get("data", {})
    speed = {"channels_last": args.channels_last, "compile": args.compile}
    kwargs = dict(config.get("model", {}))
    for group, fields in {**OFFLINE, "speed": speed}.items():
        kwargs[group] = {**(kwargs.get(group) or {}), **fields}
    kwargs.update(dataset=data.get("dataset", "synthetic"), tasks=data.get("tasks"))
    return DiffusionMTLModule(**kwargs)


def make_batch(specs: list[TaskSpec], batch: int, size: tuple[int, int], device) -> dict:
    """Random normalised images and targets of every task in the batch contract."""
    h, w = size
    targets = {}
    for spec in specs:
        if spec.behaviour.class_ids:  # segmentation and saliency
            t = torch.randint(0, spec.channels, (batch, h, w))
            t[:, :2] = IGNORE_INDEX
        elif spec.kind == "normals":
            t = torch.nn.functional.normalize(torch.randn(batch, 3, h, w), dim=1)
        elif spec.kind == "boundary":
            t = (torch.rand(batch, 1, h, w) < 0.05).float()
        else:
            t = torch.rand(batch, 1, h, w) * 8 + 0.5
        targets[spec.name] = t.to(device)
    return {"image": torch.randn(batch, 3, h, w, device=device), "targets": targets}


def one_label_mask(batch: int, tasks: int, generator: torch.Generator) -> torch.Tensor:
    """bool (B, K): each sample labels one task, tasks balanced, samples shuffled."""
    mask = torch.zeros(batch, tasks, dtype=torch.bool)
    order = torch.randperm(batch, generator=generator)
    mask[order, torch.arange(batch) % tasks] = True
    return mask


def median_time(fn: Callable[[int], None], steps: int, warmup: int, device) -> float:
    """Median seconds of ``fn(i)`` over ``steps`` calls after ``warmup`` untimed ones."""
    times = []
    for i in range(warmup + steps):
        _sync(device)
        start = time.perf_counter()
        fn(i)
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(config: dict, name: str, batch: int, precision: str, args) -> dict:
    """One row: training and inference speed and peak memory of one network, batch, precision."""
    device = torch.device(args.device)
    size = tuple(args.size) if args.size else image_size(config)
    torch.manual_seed(0)
    module = build_module(config, args).to(device)
    params = [p for p in module.parameters() if p.requires_grad]
    optim = module.optim
    opt = build_optimizer(optim.name, params, optim.lr, optim.weight_decay)
    clip = config.get("trainer", {}).get("gradient_clip_val")
    data = make_batch(module.task_specs, batch, size, device)
    masks = torch.Generator().manual_seed(0)
    autocast = torch.autocast(device.type, torch.bfloat16, enabled=precision == "bf16")
    row = {
        "network": name,
        "batch": batch,
        "precision": precision,
        "size": list(size),
        "channels_last": args.channels_last,
        "compile": args.compile,
        "params_m": round(sum(p.numel() for p in params) / 1e6, 3),
    }

    def train_step(_: int) -> None:
        labelled = one_label_mask(batch, len(module.task_specs), masks).to(device)
        with autocast:
            out = module(data["image"], labelled, module._training_noise(data["image"]))
            loss = module.criterion(out, data["targets"], labelled).total
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        opt.zero_grad(set_to_none=True)

    def infer_step(_: int) -> None:
        with torch.inference_mode(), autocast:
            module(data["image"])

    for stage, fn in (("train", train_step), ("infer", infer_step)):
        module.train(stage == "train")
        _reset_peak(device)
        try:
            sec = median_time(fn, args.steps, args.warmup, device)
        except torch.cuda.OutOfMemoryError:
            row[f"{stage}_img_s"], row[f"{stage}_step_ms"] = None, "OOM"
            opt.zero_grad(set_to_none=True)
            continue
        row[f"{stage}_img_s"] = round(batch / sec, 2)
        row[f"{stage}_step_ms"] = round(1000 * sec, 2)
        row[f"{stage}_peak_gb"] = _peak_gb(device)
    return row


def machine(device: torch.device) -> dict:
    """What ran the benchmark."""
    cpu = platform.processor() or platform.machine()
    if Path("/proc/cpuinfo").is_file():
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        names = [ln.split(":", 1)[1].strip() for ln in lines if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    info = {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def print_table(rows: list[dict]) -> None:
    head = (
        f"{'network':<10} {'batch':>5} {'prec':>5} {'train img/s':>11} {'infer img/s':>11} "
        f"{'train GB':>8} {'infer GB':>8} {'step ms':>8}"
    )
    print("\n" + head + "\n" + "-" * len(head))

    def cell(row: dict, key: str, width: int) -> str:
        value = row.get(key)
        return f"{'-' if value is None else value:>{width}}"

    for r in rows:
        print(
            f"{r['network']:<10} {r['batch']:>5} {r['precision']:>5} {cell(r, 'train_img_s', 11)} "
            f"{cell(r, 'infer_img_s', 11)} {cell(r, 'train_peak_gb', 8)} "
            f"{cell(r, 'infer_peak_gb', 8)} {cell(r, 'train_step_ms', 8)}"
        )


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--network", nargs="+", default=[], choices=list(NETWORKS))
    parser.add_argument(
        "--config",
        nargs="+",
        type=Path,
        action="append",
        default=[],
        help="config files of one network (merged in order); repeatable",
    )
    parser.add_argument("--size", nargs=2, type=int, help="image H W (default: from the configs)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", nargs="+", type=int, default=[6, 16, 32])
    parser.add_argument("--precision", nargs="+", choices=["fp32", "bf16"], default=["fp32"])
    parser.add_argument("--compile", action="store_true", help="model.speed.compile=true")
    parser.add_argument(
        "--channels-last", action="store_true", help="model.speed.channels_last=true"
    )
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--threads", type=int, help="CPU threads (torch.set_num_threads)")
    parser.add_argument("--json", type=Path, help="write the machine and every row here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    jobs = [(n, NETWORKS[n][0]) for n in args.network]
    jobs += [("+".join(p.stem for p in paths), paths) for paths in args.config]
    if not jobs:
        parser.error("name a --network or give --config files")
    rows = []
    for name, paths in jobs:
        config = load_configs(paths)
        for batch in args.batch:
            for precision in args.precision:
                rows.append(measure(config, name, batch, precision, args))
                gc.collect()  # the row's module and optimiser state are gone before the next
                if args.device.startswith("cuda"):
                    torch.cuda.empty_cache()
                rows[-1]["configs"] = [str(Path(p).resolve().relative_to(ROOT)) for p in paths]
                print(json.dumps(rows[-1]), flush=True)
    print_table(rows)
    meta = {**machine(torch.device(args.device)), "steps": args.steps, "warmup": args.warmup}
    print(json.dumps(meta))
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    return rows


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def _peak_gb(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return round(torch.cuda.max_memory_allocated(device) / GB, 2)


if __name__ == "__main__":
    main()

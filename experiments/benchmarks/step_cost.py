"""Cost of one training step of each method relative to the MTL baseline (same backbone and batch).

A training step is forward + loss + backward + optimiser step of ``DiffusionMTLModule`` on random
images and targets with a one-label mask (each sample labels one task, balanced), as in the
default job. Methods are timed in interleaved rounds, so a load on the machine hits all alike; the
median step time per method and its ratio to the baseline are printed (and written as JSON).

Usage:
    python experiments/benchmarks/step_cost.py                       # the default job's network
    python experiments/benchmarks/step_cost.py --backbone resnet18 --neck conv_bn_relu \
        --neck-stride 4 --denoiser-width 32                          # the default job until 11-30
    python experiments/benchmarks/step_cost.py --batch 8 --height 128 --width 160 --threads 2
    python experiments/benchmarks/step_cost.py --methods mtl --xtc   # XTC* against the baseline
    python experiments/benchmarks/step_cost.py --methods mtl --terms consistency jtr
                                        # the MTL baseline with each view term (docs/jtr.md)
    python experiments/benchmarks/step_cost.py --methods mtl --teachers  # offline and mean teacher
    python experiments/benchmarks/step_cost.py --methods mtl feature \
        --weightings uncertainty dwa famo upgrad            # each method with each weighting
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import lightning
import torch

from dmtl.config import (
    WEIGHTINGS,
    ConsistencyConfig,
    DenoiserConfig,
    DiffusionConfig,
    JTRConfig,
    LossConfig,
    MeanTeacherConfig,
    NetworkConfig,
    TeacherConfig,
    XTCConfig,
)
from dmtl.module import DiffusionMTLModule
from dmtl.optim import build_optimizer
from dmtl.tasks import IGNORE_INDEX, resolve_tasks

METHODS = {  # method -> its model.diffusion options (prediction: as method/prediction.yaml)
    "mtl": {"space": "none"},
    "prediction": {"space": "prediction", "prediction_scale": 5.0},
    "feature": {"space": "feature"},
    "feature_single_condition": {"space": "feature", "condition": "single"},
    "feature_no_condition": {"space": "feature", "condition": "none"},
    "feature_refine_only": {"space": "feature", "refine_only": True},
    "prediction_no_condition": {
        "space": "prediction",
        "condition": "none",
        "prediction_scale": 5.0,
    },
    "prediction_refine_only": {"space": "prediction", "refine_only": True, "prediction_scale": 5.0},
}
XTC = "xtc"  # the MTL baseline plus XTC*'s consistency loss (--xtc)
TEACHERS = ("teacher", "mean_teacher")  # the MTL baseline with each teacher (--teachers)
WEIGHTED = "+"  # "<method>+<weighting>": the method with a loss weighting (--weightings)
TERMS = ("consistency", "jtr")  # the MTL baseline plus a training term of dmtl.terms (--terms)


def make_batch(batch: int, height: int, width: int, tasks: list[str]) -> dict:
    """Random images and targets in the batch contract, one labelled task per sample."""
    specs = resolve_tasks("synthetic", tasks)
    targets = {}
    for spec in specs:
        if spec.kind == "segmentation":
            t = torch.randint(0, spec.channels, (batch, height, width))
            t[:, :2] = IGNORE_INDEX
        elif spec.kind == "normals":
            t = torch.nn.functional.normalize(torch.randn(batch, 3, height, width), dim=1)
        else:
            t = torch.rand(batch, 1, height, width) * 8 + 0.5
        targets[spec.name] = t
    labelled = torch.zeros(batch, len(specs), dtype=torch.bool)
    labelled[torch.arange(batch), torch.arange(batch) % len(specs)] = True
    image = torch.randn(batch, 3, height, width)
    return {"image": image, "targets": targets, "labelled": labelled}


def build(name: str, args: argparse.Namespace) -> tuple[DiffusionMTLModule, torch.optim.Adam]:
    method, _, weighting = name.partition(WEIGHTED)
    diffusion = DiffusionConfig(steps=args.steps, **METHODS.get(method, METHODS["mtl"]))
    module = DiffusionMTLModule(
        tasks=args.tasks,
        network=NetworkConfig(
            backbone=args.backbone,
            neck=args.neck,
            decoder_blocks=args.decoder_blocks,
            embed_dim=args.embed_dim,
            neck_stride=args.neck_stride,
        ),
        diffusion=diffusion,
        denoiser=DenoiserConfig(
            width=args.denoiser_width,
            mults=tuple(args.denoiser_mults),
            skip=diffusion.space != "none" and args.denoiser_skip,
        ),
        xtc=XTCConfig(enabled=method == XTC),
        consistency=ConsistencyConfig(enabled=method == "consistency"),
        jtr=JTRConfig(enabled=method == "jtr", widths=tuple(args.jtr_widths)),
        teacher=TeacherConfig(
            checkpoint=args.teacher_checkpoint if method == TEACHERS[0] else None
        ),
        mean_teacher=MeanTeacherConfig(enabled=method == TEACHERS[1]),
        loss=LossConfig(weighting=weighting or "equal"),
    )
    module.on_fit_start()  # the offline teacher loads its checkpoint here
    module.train()
    learned = {id(p) for p in module.weighting.parameters()}
    params = [p for p in module.parameters() if id(p) not in learned]
    undecayed = list(module.weighting.parameters())
    opt = build_optimizer("adam", params, lr=1e-4, weight_decay=1e-4, undecayed=undecayed)
    return module, opt


def save_teacher(args: argparse.Namespace) -> str:
    """An MTL module of the timed network written as a dmtl checkpoint (the offline teacher)."""
    module, _ = build("mtl", args)
    path = Path(tempfile.mkdtemp()) / "teacher.ckpt"
    torch.save(
        {
            "state_dict": module.state_dict(),
            "hyper_parameters": dict(module.hparams),
            "pytorch-lightning_version": lightning.__version__,
        },
        path,
    )
    return str(path)


def step(module: DiffusionMTLModule, opt: torch.optim.Optimizer, batch: dict) -> float:
    """One training step as ``training_step`` takes it, timed: forward, the losses, backward (or
    the Jacobian and its aggregation), the optimiser step and its follow-up (the terms' EMA
    update, FAMO's re-evaluated batch)."""
    start = time.perf_counter()
    module.remember_step_batch(batch, module.global_step)
    objectives = module.training_objectives(batch)
    opt.zero_grad(set_to_none=True)
    if module.jacobian is not None:  # a torchjd aggregator (docs/weighting.md)
        params = [p for p in module.parameters() if p.requires_grad]
        module.jacobian.backward(module.jacobian_rows(objectives), params)
    else:
        module.combined_loss(objectives).total.backward()
    opt.step()
    module.after_optimizer_step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--height", type=int, default=64)
    parser.add_argument("--width", type=int, default=80)
    parser.add_argument("--backbone", default="resnet10t")
    parser.add_argument("--neck", default="lateral")
    parser.add_argument("--decoder-blocks", type=int, default=2)
    parser.add_argument("--embed-dim", type=int, default=64)
    parser.add_argument("--neck-stride", type=int, default=8)
    parser.add_argument("--denoiser-width", type=int, default=16)
    parser.add_argument("--denoiser-mults", type=int, nargs="+", default=[1, 2])
    parser.add_argument(
        "--denoiser-skip",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the denoiser's input skip (the setting of the default job and its overlays)",
    )
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--tasks", nargs="+", default=["semseg", "depth", "normals"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument(
        "--xtc", action="store_true", help="also time XTC* (the MTL baseline plus its loss)"
    )
    parser.add_argument(
        "--terms", nargs="+", default=[], choices=TERMS,
        help="also time the MTL baseline with each of these training terms",
    )  # fmt: skip
    parser.add_argument(
        "--jtr-widths", type=int, nargs=5, default=list(JTRConfig().widths),
        help="the JTR auto-encoder's level widths (JTR: 64 128 256 512 512)",
    )  # fmt: skip
    parser.add_argument(
        "--teachers",
        action="store_true",
        help="also time the MTL baseline with the offline teacher (an MTL model of the same "
        "network, saved to a temporary checkpoint) and with the mean teacher (docs/teachers.md)",
    )
    parser.add_argument(
        "--weightings",
        nargs="+",
        default=[],
        choices=[w for w in WEIGHTINGS if w != "equal"],
        help="also time each method with these loss weightings (docs/weighting.md)",
    )
    parser.add_argument("--rounds", type=int, default=10, help="timed steps per method")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()

    if args.xtc and XTC not in args.methods:
        args.methods.append(XTC)
    args.methods += [t for t in args.terms if t not in args.methods]
    if args.teachers:
        args.methods += [t for t in TEACHERS if t not in args.methods]
        args.teacher_checkpoint = save_teacher(args)
    args.methods += [f"{m}{WEIGHTED}{w}" for m in list(args.methods) for w in args.weightings]
    warnings.filterwarnings("ignore", message=".*self.log.*")  # no trainer: nothing is logged
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load_before = os.getloadavg()
    batch = make_batch(args.batch, args.height, args.width, args.tasks)
    models = {m: build(m, args) for m in args.methods}
    times: dict[str, list[float]] = {m: [] for m in args.methods}
    for r in range(args.warmup + args.rounds):
        for m, (module, opt) in models.items():
            t = step(module, opt, batch)
            if r >= args.warmup:
                times[m].append(t)

    base = statistics.median(times[args.methods[0]])
    rows = []
    print(f"\n{'method':<26} {'params (M)':>10} {'step (s)':>9} {'img/s':>7} {'ratio':>6}")
    for m in args.methods:
        med = statistics.median(times[m])
        params = sum(p.numel() for p in models[m][0].parameters()) / 1e6
        rows.append({"method": m, "params_m": params, "step_s": med, "ratio": med / base})
        print(f"{m:<26} {params:10.2f} {med:9.3f} {args.batch / med:7.1f} {med / base:6.2f}")
    load = {"before": load_before, "after": os.getloadavg()}
    print(f"(ratio to {args.methods[0]}; median of {args.rounds} steps; {args.threads} threads)")
    print(f"load average (1, 5, 15 min) before {load['before']}, after {load['after']}")
    if args.json:
        meta = {
            "load_average": load,
            "machine": platform.processor() or platform.machine(),
            "cpus": os.cpu_count(),
            "torch": torch.__version__,
            "args": vars(args),
        }
        with open(args.json, "w") as fh:
            json.dump({"meta": meta, "results": rows}, fh, indent=2)


if __name__ == "__main__":
    main()

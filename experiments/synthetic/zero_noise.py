"""Does the chain denoise? Each trained DiffusionMTL cell of the study re-scored without noise.

    python experiments/synthetic/zero_noise.py run [--scene indoor|cityscapes|pascal]
        [--methods feature prediction] [--seeds 0 1 2] [--settings onelabel] [--runs runs/study]
    python experiments/synthetic/zero_noise.py report [--scene ...]

For every stored study cell of a DiffusionMTL method (``table.py run --protocol study``), ``run``
validates the cell's last checkpoint again through the CLI with the evaluation chain's noise set
to zero (``dmtl validate --config <run>/config.yaml --ckpt_path <run>/checkpoints/last.ckpt
--model.diffusion.inference_noise=false``), logging into ``<runs>/zero_noise/`` so the cell's own
files stay as they are, and stores the metrics as
``results/study/<scene>/<setting>/zero_noise/<method>_seed<s>.json`` with the commit. ``report``
sets, per task and seed, the cell's initial predictions (``val_initial``), its chain with noise
(the cell's metrics, mean over its inference seeds) and the same chain without noise side by side,
with Δm of each against the single-task references. A chain that only refines would score the
same with and without noise; one that denoises would lose little to noise; one that passes the
noise through to the heads loses what the noise costs.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

import table  # experiments/synthetic/table.py: grids, references, Δm

DIFFUSION = ["feature", "prediction"]


def result_path(grid: table.Grid, setting: str, method: str, seed: int) -> Path:
    return grid.root / setting / "zero_noise" / f"{method}_seed{seed}.json"


def run_one(grid: table.Grid, setting: str, method: str, seed: int, runs: Path) -> None:
    """Re-validate one stored cell's checkpoint with zero evaluation noise; store its metrics."""
    out = result_path(grid, setting, method, seed)
    if out.exists() or not table.result_path(setting, method, seed, grid).exists():
        return
    folder = runs / f"study_{grid.scene}_{setting}_{method}" / f"seed{seed}"
    ckpt = folder / "checkpoints" / "last.ckpt"
    if not ckpt.exists():
        print(f"skipped {folder}: no checkpoints/last.ckpt", flush=True)
        return
    name = f"study_{grid.scene}_{setting}_{method}"
    cmd = [
        sys.executable, "-m", "dmtl", "validate",
        "--config", str(folder / "config.yaml"), f"--ckpt_path={ckpt}",
        "--model.diffusion.inference_noise=false",
        f"--trainer.logger.init_args.save_dir={runs / 'zero_noise'}",
        f"--trainer.logger.init_args.name={name}",
        f"--trainer.logger.init_args.version=seed{seed}",
        "--trainer.enable_progress_bar=false",
    ]  # fmt: skip
    print("+", " ".join(cmd), flush=True)
    log = runs / "zero_noise" / f"{name}_seed{seed}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as fh:
        done = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise RuntimeError(f"zero-noise validation of {folder} failed; see {log}")
    metrics = logged_metrics(runs / "zero_noise" / name / f"seed{seed}" / "metrics.csv")
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"metrics": metrics, "commit": table._commit(), "command": cmd[2:]}
    out.write_text(json.dumps(record, indent=1) + "\n")


def logged_metrics(metrics_csv: Path, stage: str = "val") -> dict[str, dict[str, float]]:
    """task -> metric -> value of the last row of a run's metrics.csv that has ``stage`` values
    (``dmtl validate`` logs its metrics there and writes no result file)."""
    with metrics_csv.open(newline="") as fh:
        rows = [row for row in csv.DictReader(fh) if any(
            k.startswith(stage + "/") and v for k, v in row.items())]  # fmt: skip
    out: dict[str, dict[str, float]] = {}
    for key, value in rows[-1].items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == stage and value:
            out.setdefault(parts[1], {})[parts[2]] = float(value)
    return out


def report(grid: table.Grid, setting: str, methods: list[str]) -> None:
    scene = table.SCENES[grid.scene]
    reference, _ = table.single_task_reference(setting, grid)
    print(f"\n### {grid.scene}, {setting}: initial, chain with noise, chain without noise\n")
    cols = [f"{t} {scene.tasks[t][0]}" for t in scene.tasks]
    print("| method | seeds | what | " + " | ".join(cols) + " | Δm (%) |")
    print("|---" * (len(cols) + 4) + "|")
    for method in methods:
        records = table.load_records(setting, method, grid)
        quiet = {
            s: json.loads(p.read_text())
            for s in records
            if (p := result_path(grid, setting, method, s)).exists()
        }
        seeds = sorted(set(records) & set(quiet))
        if not seeds:
            continue
        rows = {
            "initial": [records[s]["initial_metrics"] for s in seeds],
            "chain, noise": [records[s]["metrics"] for s in seeds],
            "chain, no noise": [quiet[s]["metrics"] for s in seeds],
        }
        for what, metrics in rows.items():
            vals = [
                table.fmt([m[t][scene.tasks[t][0]] for m in metrics], 4 if t == "depth" else 2)
                for t in scene.tasks
            ]
            dm = [table.delta_m(m, reference, scene.tasks) for m in metrics] if reference else []
            seed_text = ",".join(map(str, seeds))
            print(f"| {method} | {seed_text} | {what} | " + " | ".join(vals)
                  + f" | {table.fmt(dm, 2) if dm else '–'} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run, rep = sub.add_parser("run"), sub.add_parser("report")
    for p in (run, rep):
        p.add_argument("--scene", choices=list(table.SCENES), default="indoor")
        p.add_argument("--methods", nargs="+", default=DIFFUSION)
        p.add_argument("--settings", nargs="+", default=["onelabel"], choices=table.SETTINGS)
    run.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    run.add_argument("--runs", type=Path, default=Path("runs/study"))
    args = parser.parse_args()
    grid = table.Grid("study", args.scene)
    for setting in args.settings:
        if args.command == "report":
            report(grid, setting, args.methods)
            continue
        for method in args.methods:
            for seed in args.seeds:
                run_one(grid, setting, method, seed, args.runs)


if __name__ == "__main__":
    main()

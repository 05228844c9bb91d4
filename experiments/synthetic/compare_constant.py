"""Compare a run's test metrics with the best constant predictions on the same split.

Usage: python experiments/synthetic/compare_constant.py --config CONFIG --results test_metrics.json
           [--baseline REFERENCE.yaml] [--strict]

Prints one row per task: the model's primary metric, the best constant's, their ratio and the
quality bar of the default job (mIoU >= 5x, depth absErr <= 0.5x, normal mean angle <= 0.6x); with
--baseline, also another model's value of the same metric (e.g. the MTL baseline's measured
results, `references/mtl_onelabel_seed0.yaml`). With --strict it exits 1 if a bar is missed.
"""

from __future__ import annotations

import argparse
import json
import sys

from dmtl.cli import DMTLCLI
from dmtl.constant_baselines import evaluate_constants
from dmtl.data.datamodule import MultiTaskDataModule
from dmtl.metrics.multitask import load_reference
from dmtl.module import DiffusionMTLModule

# task kind -> (metric, required ratio model/constant, "min" if the ratio must be at least it)
BARS = {
    "segmentation": ("miou", 5.0, "min"),
    "saliency": ("miou", 5.0, "min"),
    "depth": ("abs_err", 0.5, "max"),
    "normals": ("mean", 0.6, "max"),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, nargs="+", help="the run's config file(s)")
    parser.add_argument("--results", required=True, help="test_metrics.json of the run")
    parser.add_argument("--baseline", help="results {task: {metric: value}} shown beside the model")
    parser.add_argument("--baseline-name", default="MTL base", help="column title of --baseline")
    parser.add_argument("--strict", action="store_true", help="exit 1 if a bar is missed")
    args = parser.parse_args()
    cli_args = [a for c in args.config for a in ("--config", c)]
    sys.argv = sys.argv[:1]  # the CLI gets its arguments from cli_args alone
    cli = DMTLCLI(DiffusionMTLModule, MultiTaskDataModule, args=cli_args, run=False)
    data = cli.datamodule
    data.prepare_data()
    data.setup("validate")
    constant = evaluate_constants(data.val_dataloader(), data.task_specs)
    with open(args.results) as fh:
        model = json.load(fh)
    baseline = load_reference(args.baseline, data.task_specs) if args.baseline else None
    head = f" {args.baseline_name[:9]:>9}" if baseline else ""

    ok = True
    print(f"\n{'task':<8} {'metric':<8} {'model':>9}{head} {'constant':>9} {'ratio':>7}  bar")
    for spec in data.task_specs:
        metric, bar, sense = BARS.get(spec.kind, (spec.primary_metric, None, None))
        m, c = model[spec.name][metric], constant[spec.name][metric]
        ratio = m / c if c else float("inf")
        if bar is None:
            verdict = "-"
        else:
            passed = ratio >= bar if sense == "min" else ratio <= bar
            ok &= passed
            verdict = f"{'>=' if sense == 'min' else '<='} {bar}: {'PASS' if passed else 'MISS'}"
        base = f" {baseline[spec.name][metric]:9.4f}" if baseline else ""
        print(f"{spec.name:<8} {metric:<8} {m:9.4f}{base} {c:9.4f} {ratio:7.3f}  {verdict}")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())

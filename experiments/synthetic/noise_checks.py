"""Two checks of a trained DiffusionMTL cell's evaluation against its training: noise source, norms.

    python experiments/synthetic/noise_checks.py RUN_FOLDER {generator|batchnorm|plain} [--out DIR]

RUN_FOLDER is a run of ``dmtl fit`` (its ``config.yaml`` and ``checkpoints/last.ckpt``). Each mode
validates the checkpoint once (inference seed 0) through the CLI, logging into ``--out``:

- ``plain``: as ``dmtl validate`` does, each image's evaluation noise hashed from its identity;
- ``generator``: the evaluation noise drawn as in training instead, from a ``torch.Generator``
  (seeded 1234) over the batch: a different source of standard normal noise, so a metric far from
  ``plain``'s would point at the hashed noise;
- ``batchnorm``: every BatchNorm layer normalising with the batch's statistics, as in training
  (momentum 0, so the running statistics stay as trained): a metric far from ``plain``'s would point
  at a train/evaluation difference of the norms.

The validation's metrics are printed (and logged in ``DIR/<mode>/.../metrics.csv``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dmtl.cli import main as cli_main
from dmtl.models.network import DiffusionMTLNet
from dmtl.noise import NoiseSource


def use_generator_noise() -> None:
    """Evaluation noise from a seeded ``torch.Generator``, as training draws it."""
    original = DiffusionMTLNet._noise

    def noise(self, like, source):
        if not self.training:
            source = NoiseSource.from_generator(torch.Generator().manual_seed(1234))
        return original(self, like, source)

    DiffusionMTLNet._noise = noise


def use_batch_statistics() -> None:
    """Every BatchNorm layer in training mode (momentum 0) during evaluation forwards."""
    original = DiffusionMTLNet.forward

    def forward(self, *args, **kwargs):
        norms = [m for m in self.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        if not self.training:
            for norm in norms:
                norm.train()
                norm.momentum = 0.0
        try:
            return original(self, *args, **kwargs)
        finally:
            if not self.training:
                for norm in norms:
                    norm.eval()

    DiffusionMTLNet.forward = forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("mode", choices=["generator", "batchnorm", "plain"])
    parser.add_argument("--out", type=Path, default=Path("runs/noise_checks"))
    args = parser.parse_args()
    if args.mode == "generator":
        use_generator_noise()
    elif args.mode == "batchnorm":
        use_batch_statistics()
    cli_main([
        "validate", "--config", str(args.run / "config.yaml"),
        f"--ckpt_path={args.run / 'checkpoints' / 'last.ckpt'}",
        "--model.evaluation.inference_seeds=[0]",
        f"--trainer.logger.init_args.save_dir={args.out}",
        f"--trainer.logger.init_args.name={args.mode}",
        "--trainer.enable_progress_bar=false",
    ])  # fmt: skip


if __name__ == "__main__":
    main()

"""``PredictionWriter``: the callback that saves ``dmtl predict`` outputs as .npy maps and PNGs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
from lightning.pytorch.callbacks import BasePredictionWriter
from PIL import Image

from dmtl.viz import colourise

DEFAULT_DEPTH_RANGE = (0.0, 10.0)  # metres mapped onto the depth colour map of the PNGs


class PredictionWriter(BasePredictionWriter):
    """Writes every predicted map as ``<output_dir>/<task>/<sample name>.npy`` and ``.png``.

    The ``.npy`` holds the post-processed prediction of ``DiffusionMTLModule.predict_step``
    (class ids, depth in metres, unit normals (3, H, W), edge probabilities); the PNG is its
    colourised view. Use it with ``dmtl predict
    --trainer.callbacks+=dmtl.callbacks.prediction_writer.PredictionWriter
    --trainer.callbacks.output_dir=DIR``
    (add ``--data.predict_dir=IMAGES`` to predict a folder of images of any size: each map is
    cropped back to its image's size, ``meta["height"]`` and ``meta["width"]``).

    Args:
        output_dir: the folder to write into (created; files of the same name are replaced).
        png: also write colourised PNGs.
        depth_range: metres mapped onto the depth colour map.
    """

    def __init__(
        self,
        output_dir: str = "predictions",
        png: bool = True,
        depth_range: tuple[float, float] = DEFAULT_DEPTH_RANGE,
    ) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.png = png
        self.depth_range = depth_range

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: dict,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        meta = prediction["meta"]
        names = meta["name"]
        # images of a folder were padded to a common size: crop each map back to its image
        sizes = None
        if "height" in meta:
            sizes = list(zip(meta["height"].tolist(), meta["width"].tolist()))
        for spec in pl_module.task_specs:
            maps = prediction["predictions"][spec.name].detach().cpu()
            for i, (name, value) in enumerate(zip(names, maps)):
                if sizes is not None:
                    height, width = sizes[i]
                    value = value[..., :height, :width]
                path = self.output_dir / spec.name / f"{name}.npy"
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, value.numpy())
                if self.png:
                    rgb = colourise(spec, value, self.depth_range)
                    Image.fromarray(rgb).save(path.with_suffix(".png"))

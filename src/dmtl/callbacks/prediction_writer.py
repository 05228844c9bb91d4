"""``PredictionWriter``: the callback that saves ``dmtl predict`` outputs as .npy maps and PNGs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from dmtl.data.augment import denormalize
from dmtl.data.classes import class_names
from dmtl.data.datasets import has_inverse_depth
from dmtl.errors import ConfigError
from dmtl.report import run_dir
from dmtl.tasks import TaskSpec
from dmtl.tasks.kinds.colours import indexed_palette
from dmtl.tasks.kinds.depth import DepthKind
from dmtl.viz import (
    class_palette,
    colourise,
    make_colour_bar,
    make_legend,
    overlay,
    robust_range,
)

DepthRange = Literal["image", "dataset"] | tuple[float, float]
FOLDER = "predictions"  # the default folder, inside the run's folder


class PredictionWriter(BasePredictionWriter):
    """Writes every predicted map of ``dmtl predict``, and says where.

    Always on in the ``dmtl`` command (``--predictions.*``); into ``<run dir>/predictions/``
    unless ``output_dir`` is given. For each task and sample:

    - ``<task>/<sample name>.npy``: the prediction of ``DiffusionMTLModule.predict_step`` (class
      ids, depth in the dataset's unit, unit normals (3, H, W), edge probabilities);
    - ``<task>/<sample name>.png``: class ids as a palette-indexed PNG (mode "P", the pixel
      value is the class id) in the dataset's standard colours (``dmtl.viz.class_palette``); depth
      in viridis over one range for every image (``depth_range``), also written in the PNG's text
      chunks ``depth_min``, ``depth_max``, ``depth_unit``, ``depth_range``; normals as RGB
      (n + 1) / 2; edge probabilities as grey;
    - ``overlay/<task>/<sample name>.png`` (with ``overlay``): the class colours over the image;
    - ``legend/<task>.png``: each class's colour, id and name (``dmtl.data.classes``, or
      ``class_names``); for depth, the colour bar of the range, in metres (one range for all the
      images; none with ``depth_range=image``, where each PNG's own range is in its text chunks).

    Maps of a folder of images (``--data.predict_dir``) are cropped back to each image's size,
    ``meta["height"]`` and ``meta["width"]``.

    Args:
        output_dir: the folder to write into (created; files of the same name are replaced);
            ``None``: ``<run dir>/predictions``.
        png: also write the PNGs and legends.
        overlay: also write the class colours over the image.
        depth_range: the depth mapped onto the colour map: ``dataset`` (0 to
            ``model.diffusion.depth_scale``, the depth range the run's config gives the dataset:
            a colour means the same depth in every file), a fixed ``[min, max]``, or ``image``
            (each image's 2nd–98th percentile: more contrast, no shared scale).
        class_names: task -> the names of its classes, in id order (a folder dataset's
            ``{semseg: [road, car, ...]}``), for the legends; default: the dataset's names, or
            ``class 0 …``.

    Raises:
        ConfigError: ``output_dir`` is a file, or a bad ``depth_range``; (at predict) a
            ``class_names`` entry of a task without classes or of another length.
    """

    def __init__(
        self,
        output_dir: str | None = None,
        png: bool = True,
        overlay: bool = False,
        depth_range: DepthRange = "dataset",
        class_names: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(write_interval="batch")
        if output_dir is not None and Path(output_dir).exists() and not Path(output_dir).is_dir():
            raise ConfigError(f"predictions.output_dir {output_dir} is a file, not a folder")
        if not isinstance(depth_range, str):
            lo, hi = (float(v) for v in depth_range)
            if not lo < hi:
                raise ConfigError(f"predictions.depth_range {list(depth_range)}: min must be < max")
            depth_range = (lo, hi)
        elif depth_range not in ("image", "dataset"):
            raise ConfigError(
                f"predictions.depth_range {depth_range!r}: use image, dataset or [min, max]"
            )
        self.output_dir = Path(output_dir) if output_dir is not None else None
        self.png = png
        self.overlay = overlay
        self.depth_range = depth_range
        self.class_names = dict(class_names or {})
        self.written = 0  # samples written by this process in the last predict

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        if stage != "predict":
            return
        check_class_names(self.class_names, pl_module.task_specs)
        if self.output_dir is None:
            self.output_dir = run_dir(trainer) / FOLDER
        self.written = 0
        if trainer.is_global_zero:
            print(f"dmtl: writing predictions to {self.output_dir}", flush=True)

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.png:
            for spec in pl_module.task_specs if trainer.is_global_zero else ():
                legend = self._legend(pl_module, spec)
                if legend is not None:
                    _save(legend, self.output_dir / "legend" / f"{spec.name}.png")
        if trainer.is_global_zero:
            share = (
                " (rank 0's share: each process writes its own)" if trainer.world_size > 1 else ""
            )
            print(f"dmtl: wrote the predictions of {self.written} images{share} to "
                  f"{self.output_dir}", flush=True)  # fmt: skip

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
        images = None
        if self.overlay and self.png:
            images = (denormalize(batch["image"]).clamp(0, 1) * 255 + 0.5).byte()
            images = images.permute(0, 2, 3, 1).cpu().numpy()
        for spec in pl_module.task_specs:
            maps = prediction["predictions"][spec.name].detach().cpu()
            for i, (name, value) in enumerate(zip(names, maps)):
                image = images[i] if images is not None else None
                if sizes is not None:
                    height, width = sizes[i]
                    value = value[..., :height, :width]
                    image = image[:height, :width] if image is not None else None
                path = self.output_dir / spec.name / f"{name}.npy"
                path.parent.mkdir(parents=True, exist_ok=True)
                np.save(path, value.numpy())
                if self.png:
                    self._write_png(pl_module, spec, value, path.with_suffix(".png"), image)
                    if image is not None and spec.behaviour.class_ids:
                        dataset = _dataset(pl_module)
                        colours = class_palette(dataset, spec.name, spec.channels)
                        tinted = overlay(image, colours[value.clamp(0, spec.channels - 1).numpy()])
                        _save(tinted, self.output_dir / "overlay" / spec.name / f"{name}.png")
        self.written += len(names)

    def _write_png(
        self,
        pl_module: pl.LightningModule,
        spec: TaskSpec,
        value: torch.Tensor,
        path: Path,
        image: np.ndarray | None,
    ) -> None:
        dataset = _dataset(pl_module)
        if spec.behaviour.class_ids:
            indexed = Image.fromarray(value.numpy().astype(np.uint8))  # mode "L" ...
            indexed.putpalette(indexed_palette(class_palette(dataset, spec.name, spec.channels)))
            indexed.save(path)  # ... made "P" by its palette
        elif isinstance(spec.behaviour, DepthKind):
            lo, hi = self._range(pl_module, value)
            info = PngInfo()
            info.add_text("depth_min", f"{lo:.6g}")
            info.add_text("depth_max", f"{hi:.6g}")
            info.add_text("depth_unit", _depth_unit(dataset) or "inverse depth")
            info.add_text("depth_range", self._range_source())
            info.add_text("colour_map", "viridis")
            Image.fromarray(colourise(spec, value, (lo, hi))).save(path, pnginfo=info)
        else:
            Image.fromarray(colourise(spec, value, (0.0, 1.0))).save(path)

    def _legend(self, pl_module: pl.LightningModule, spec: TaskSpec) -> np.ndarray | None:
        """The legend of one task: class colours and names, or depth's colour bar (or none)."""
        dataset = _dataset(pl_module)
        if spec.behaviour.class_ids:
            names = self.class_names.get(spec.name) or class_names(
                dataset, spec.name, spec.channels
            )
            return make_legend(names, class_palette(dataset, spec.name, spec.channels))
        if isinstance(spec.behaviour, DepthKind) and self.depth_range != "image":
            lo, hi = self._range(pl_module, torch.zeros(1))
            return make_colour_bar(spec, (lo, hi), _depth_unit(dataset))
        return None

    def _range(self, pl_module: pl.LightningModule, value: torch.Tensor) -> tuple[float, float]:
        if self.depth_range == "image":
            return robust_range(value.numpy())
        if self.depth_range == "dataset":
            return 0.0, float(pl_module.diffusion.depth_scale)
        return self.depth_range

    def _range_source(self) -> str:
        if self.depth_range == "image":
            return "image 2nd-98th percentile"
        if self.depth_range == "dataset":
            return "dataset (model.diffusion.depth_scale)"
        return "fixed"


def _depth_unit(dataset: str | None) -> str:
    """``m``, or ``""`` for the inverse depth of the Cityscapes datasets."""
    return "" if has_inverse_depth(dataset) else "m"


def check_class_names(names: dict[str, list[str]], specs: Sequence[TaskSpec]) -> None:
    """Each ``predictions.class_names`` entry names a class task and one name per class.

    Raises:
        ConfigError: naming the task and what is wrong.
    """
    channels = {spec.name: spec.channels for spec in specs if spec.behaviour.class_ids}
    for task, given in names.items():
        if task not in channels:
            raise ConfigError(
                f"predictions.class_names.{task}: {task!r} is not a class task of this model "
                f"(class tasks: {', '.join(channels) or 'none'})"
            )
        if len(given) != channels[task]:
            raise ConfigError(
                f"predictions.class_names.{task} has {len(given)} names, the model has "
                f"{channels[task]} classes: give one name per class id, in id order"
            )


def _dataset(pl_module: pl.LightningModule) -> str | None:
    """The module's ``data.dataset`` (a hyper-parameter of ``DiffusionMTLModule``)."""
    return pl_module.hparams.get("dataset")


def _save(rgb: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)

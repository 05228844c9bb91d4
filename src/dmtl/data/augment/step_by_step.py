"""The step-by-step executor: albumentations' steps in turn, the reference of the fused one.

Input: the numpy sample dict of a reader (``image`` float32 (H, W, 3) in [0, 1], any task keys of
``dmtl.tasks.TASKS``, ``name``). Output, before collation::

    {"image": float32[3, H, W] normalised,
     "targets": {"semseg": uint8[H, W] (255 ignore), "depth": float32[1, H, W],
                 "normals": float32[3, H, W], "edge": uint8[1, H, W] (0/1, 255 ignore)},
     "name": str}  # only the keys present

Class-id and edge maps stay uint8 through the loader; the data module widens them to int64 and
float32 on the device (``dmtl.data.widening``).

Training follows MTPSL: a random scale-crop (scale s from a fixed set; crop 1/s of the image and
resize back, which zooms in by s: the scene looks s times closer, so metric depth is divided by s
and inverse depth (Cityscapes) multiplied by s), a horizontal flip (which negates the x component of
the camera-frame normals: x right, y down, z forward), photometric jitter of the image, ImageNet
normalisation; the recipes of each protocol are in ``dmtl.data.augment.recipes``. Padding steps
(PASCAL-Context) mark what they add as invalid per task kind (255 for segmentation, saliency and
boundaries, 0 for depth and normals) through a validity mask that travels with the targets. Every
label map is resized with nearest neighbour so that class ids, unit normals and the zero/255 invalid
markers stay exact; when every step only moves pixels, the maps ride as one map of source indices
(``dmtl.data.augment.by_index``: the same bytes, faster). What each geometric step does to the
targets is the table of ``dmtl.data.augment.geometry``, which refuses any step it does not hold.
Which key needs which format and correction is its task's kind (``TaskKind.prepare_array``,
``correct_geometry``, ``invalid_value``, ``to_tensor`` in ``dmtl.tasks.kinds``).

Randomness: albumentations 2.0.8 draws from generators owned by the ``Compose`` (numpy
``default_rng`` and ``random.Random``), never from the global numpy/random state, so
``np.random.seed`` has no effect. ``SampleTransform`` seeds them itself:

* in a DataLoader worker, once per worker process, from ``get_worker_info().seed``
  (``base_seed + worker_id``; torch draws ``base_seed`` from the main process's RNG for every new
  iterator), mixed with ``seed`` if given: workers differ, epochs differ (persistent workers go
  on with their stream), and runs repeat once torch is seeded (``lightning.seed_everything``);
* in the main process, from ``seed`` at construction, or with ``seed=None`` lazily from
  ``torch.initial_seed()`` (again whenever torch is re-seeded).

So no ``worker_init_fn`` is needed; seeding torch makes augmentation reproducible for any
``num_workers``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import albumentations as A
import numpy as np
import torch

from dmtl.data.augment.by_index import INDEX_KEY, augment_by_index, moves_pixels_only
from dmtl.data.augment.geometry import Correction, effect_of
from dmtl.data.augment.steps import LABEL_INTERPOLATION
from dmtl.errors import ConfigError, DataError
from dmtl.tasks import TASKS

log = logging.getLogger(__name__)
VALID_KEY = "_valid"  # uint8 mask of ones that padding fills with 0 (track_padding)

Sample = dict[str, Any]
_TOLD: set[str] = set()  # the slower paths already reported in this process


def tell_once(message: str) -> None:
    """Log ``message`` (why a recipe takes a slower path) once per process: not an error."""
    if message not in _TOLD:
        _TOLD.add(message)
        log.info(message)


class SampleTransform:
    """Callable that augments a numpy sample dict jointly and converts it to the tensor format.

    Built by the recipes (``dmtl.data.augment.recipes``); see the module docstring for the formats
    and for seeding.

    Args:
        transforms: albumentations transforms, applied in order to the image and (as masks) to every
            task map; each geometric one must be in ``dmtl.data.augment.geometry.STEPS``.
        seed: seed of the albumentations generators; None derives it from torch's seed.
        inverse_depth: depth targets are inverse depth (a zoom by s multiplies them by s instead
            of dividing).
        track_padding: mark the pixels that padding transforms add as invalid in every target
            (and set them to 0, the normalised mean, in the image).
        output_size: (H, W) every output must have (batched evaluation); a sample that comes out
            larger is an error that names it.
        by_index: move the task maps by one map of source indices when every transform allows it
            (``dmtl.data.augment.by_index``): the same output, faster.

    Raises:
        ConfigError: a geometric step that ``dmtl.data.augment.geometry.STEPS`` does not hold.
    """

    # class-id and edge maps are made uint8 here anyway: readers may pass them so
    takes_uint8_ids = True

    def __init__(
        self,
        transforms: Sequence[A.BasicTransform],
        seed: int | None = None,
        inverse_depth: bool = False,
        track_padding: bool = False,
        output_size: tuple[int, int] | None = None,
        by_index: bool = True,
    ) -> None:
        self.inverse_depth = inverse_depth
        self.track_padding = track_padding
        self.output_size = None if output_size is None else tuple(output_size)
        targets = {name: "mask" for name in (*TASKS, VALID_KEY, INDEX_KEY)}
        self.compose = A.Compose(
            list(transforms),
            additional_targets=targets,
            mask_interpolation=LABEL_INTERPOLATION,
            # the applied scale and flip decide the depth and normal corrections
            save_applied_params=True,
            is_check_shapes=False,  # checked here, with an error that names the sample
        )
        # what each step (by class name, as ``applied_transforms`` names it) does to the targets
        self.effects = {type(t).__name__: effect_of(t) for t in self.compose.transforms}
        slow = [t for t in self.compose.transforms if not moves_pixels_only(t)]
        self.by_index = by_index and not slow
        if by_index and slow:
            tell_once(
                f"augmentation: the task maps move step by step (slower), since step "
                f"{type(slow[0]).__name__} does more than move their pixels (nearest, fill 0)"
            )
        self.seed = seed
        self._seed_source: tuple[str, int, int] | None = (
            None  # what the generators were seeded from
        )
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        """Reset the random state of every transform; the same seed gives the same sequence."""
        self.compose.set_random_seed(seed)

    def _sync_random_state(self) -> None:
        # A DataLoader worker holds a copy of this object with the parent's generator state;
        # without reseeding, every worker (and, without persistent workers, every epoch) would
        # repeat one sequence.
        info = torch.utils.data.get_worker_info()
        if info is not None:
            source = ("worker", info.id, info.seed)
        elif self.seed is None:
            source = ("main", 0, torch.initial_seed())
        else:
            return  # main process with an explicit seed: the stream seeded at construction
        if source != self._seed_source:
            entropy = [source[2]] if self.seed is None else [source[2], self.seed]
            self.reseed(int(np.random.SeedSequence(entropy).generate_state(1)[0]))
            self._seed_source = source

    def __call__(self, sample: Sample) -> Sample:
        """Transform one sample dict (see the module docstring for input and output)."""
        self._sync_random_state()
        name = str(sample.get("name", ""))
        data = prepare_inputs(sample, name)
        if self.track_padding:
            data[VALID_KEY] = np.ones(data["image"].shape[:2], dtype=np.uint8)
        out = augment_by_index(self.compose, data) if self.by_index else self.compose(**data)
        if self.output_size is not None and out["image"].shape[:2] != self.output_size:
            raise DataError(
                f"sample {name!r} of size {data['image'].shape[:2]} does not fit the evaluation "
                f"size {self.output_size}; raise the crop/pad size"
            )
        padded = out[VALID_KEY] == 0 if self.track_padding else None
        correction = Correction()
        for transform_name, params in out["applied_transforms"]:
            effect = self.effects.get(transform_name)  # None: an image-only step
            if effect is not None:
                correction.add(effect, params)
        targets = {}
        for key in data:
            if key in ("image", VALID_KEY):
                continue
            kind = TASKS[key].behaviour
            # depth / s after a zoom by s (inverse depth * s), normals' x negated after a flip
            array = correction.apply(kind, out[key], self.inverse_depth)
            if padded is not None and padded.any():
                array = array.copy()
                array[padded] = kind.invalid_value
            targets[key] = kind.to_tensor(array)
        image = out["image"]
        if padded is not None and padded.any():
            image = image.copy()
            image[padded] = 0.0  # the normalised mean, whatever photometric changes came after
        image = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32))
        return {"image": image, "targets": targets, "name": name}


def prepare_inputs(sample: Sample, name: str) -> dict[str, np.ndarray]:
    """Arrays for albumentations: image float32 (H, W, 3), each task map as its kind prepares it."""
    if "image" not in sample:
        raise DataError(f"sample {name!r} has no 'image'")
    image = np.asarray(sample["image"], dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise DataError(f"sample {name!r}: image has shape {image.shape}; expected (H, W, 3)")
    size = image.shape[:2]
    data = {"image": image}
    for key, value in sample.items():
        if key in ("image", "name"):
            continue
        if key not in TASKS:
            raise ConfigError(
                f"sample {name!r} has key {key!r}, which is neither image, name nor a task"
            )
        # class ids as uint8, float maps as float32 (single-channel ones as (H, W))
        array = TASKS[key].behaviour.prepare_array(np.asarray(value), f"sample {name!r}: {key}")
        if array.shape[:2] != size:
            raise DataError(
                f"sample {name!r}: {key} has shape {array.shape}, the image {image.shape}"
            )
        data[key] = array
    return data

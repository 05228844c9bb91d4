"""Joint augmentation of sample dicts (albumentations) and conversion to the tensor format.

Input: the numpy sample dict of a reader (``image`` float32 (H, W, 3) in [0, 1], any task keys of
``dmtl.tasks.TASKS``, ``name``). Output, before collation::

    {"image": float32[3, H, W] normalised,
     "targets": {"semseg": uint8[H, W] (255 ignore), "depth": float32[1, H, W],
                 "normals": float32[3, H, W], "edge": uint8[1, H, W] (0/1, 255 ignore)},
     "name": str}  # only the keys present

Class-id and edge maps stay uint8 through the loader; the data module widens them to int64 and
float32 on the device (``dmtl.data.compact``).

Training follows MTPSL: a random scale-crop (scale s from a fixed set; crop 1/s of the image and
resize back, which zooms in by s: the scene looks s times closer, so metric depth is divided by s
and inverse depth (Cityscapes) multiplied by s), a horizontal flip (which negates the x component of
the camera-frame normals: x right, y down, z forward), photometric jitter of the image, ImageNet
normalisation; the recipes of each protocol are in ``dmtl.data.pipelines``. Padding transforms
(PASCAL-Context) mark what they add as invalid per task kind (255 for segmentation, saliency and
boundaries, 0 for depth and normals) through a validity mask that travels with the targets. Every
label map is resized with nearest neighbour so that class ids, unit normals and the zero/255 invalid
markers stay exact. Which key needs which format and geometric correction is its task's kind
(``TaskKind.prepare_array``, ``correct_geometry``, ``invalid_value``, ``to_tensor`` in
``dmtl.kinds``).

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

from collections.abc import Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch

from dmtl.data.fast_augment import INDEX_KEY, CachedNormalize, augment_by_index, moves_pixels_only
from dmtl.errors import ConfigError, DataError
from dmtl.tasks import TASKS

IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
DEFAULT_SCALES: tuple[float, ...] = (1.0, 1.2, 1.5)  # MTPSL RandomScaleCrop
IMAGE_INTERPOLATION = cv2.INTER_LINEAR
LABEL_INTERPOLATION = cv2.INTER_NEAREST  # keeps class ids, unit normals and invalid markers exact
VALID_KEY = "_valid"  # uint8 mask of ones that padding fills with 0 (track_padding)

Sample = dict[str, Any]


class RandomScaleCrop(A.DualTransform):
    """Crop 1/s of the image at a random position and resize it to (height, width).

    The zoom factor s is drawn uniformly from ``scales`` and reported as ``scale`` in the applied
    params (``save_applied_params``) so that the caller can divide depth by it. Images are resized
    with ``interpolation``, masks with ``mask_interpolation``.

    Args:
        height: output height.
        width: output width.
        scales: candidate zoom factors s >= 1, drawn uniformly.
        interpolation: OpenCV flag for images.
        mask_interpolation: OpenCV flag for masks.
        p: probability of applying.
    """

    def __init__(
        self,
        height: int,
        width: int,
        scales: Sequence[float] = DEFAULT_SCALES,
        interpolation: int = IMAGE_INTERPOLATION,
        mask_interpolation: int = LABEL_INTERPOLATION,
        p: float = 1.0,
    ) -> None:
        super().__init__(p=p)
        self.height = height
        self.width = width
        self.scales = tuple(float(s) for s in scales)
        self.interpolation = interpolation
        self.mask_interpolation = mask_interpolation

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("height", "width", "scales", "interpolation", "mask_interpolation")

    def get_params_dependent_on_data(
        self, params: dict[str, Any], data: dict[str, Any]
    ) -> dict[str, Any]:
        rows, cols = params["shape"][:2]
        scale = self.py_random.choice(self.scales)
        crop_rows = max(1, round(rows / scale))
        crop_cols = max(1, round(cols / scale))
        top = self.py_random.randint(0, rows - crop_rows)
        left = self.py_random.randint(0, cols - crop_cols)
        return {"scale": scale, "crop": (top, left, crop_rows, crop_cols)}

    def _crop_resize(
        self, array: np.ndarray, crop: tuple[int, int, int, int], flag: int
    ) -> np.ndarray:
        top, left, rows, cols = crop
        out = array[top : top + rows, left : left + cols]
        if (rows, cols) != (self.height, self.width):
            channels = out.shape[2:]
            out = cv2.resize(out, (self.width, self.height), interpolation=flag)
            out = out.reshape(self.height, self.width, *channels)  # cv2 drops a trailing axis of 1
        return out

    def apply(self, img: np.ndarray, crop: tuple[int, int, int, int], **params: Any) -> np.ndarray:
        return self._crop_resize(img, crop, self.interpolation)

    def apply_to_mask(
        self, mask: np.ndarray, crop: tuple[int, int, int, int], **params: Any
    ) -> np.ndarray:
        return self._crop_resize(mask, crop, self.mask_interpolation)


class SampleTransform:
    """Callable that augments a numpy sample dict jointly and converts it to the tensor format.

    Built by ``build_train_transform`` / ``build_eval_transform``; see the module docstring for the
    formats and for seeding.

    Args:
        transforms: albumentations transforms, applied in order to the image and (as masks) to every
            task map.
        seed: seed of the albumentations generators; None derives it from torch's seed.
        inverse_depth: depth targets are inverse depth (a zoom by s multiplies them by s instead
            of dividing).
        track_padding: mark the pixels that padding transforms add as invalid in every target
            (and set them to 0, the normalised mean, in the image).
        output_size: (H, W) every output must have (batched evaluation); a sample that comes out
            larger is an error that names it.
        by_index: move the task maps by one map of source indices when every transform allows it
            (``dmtl.data.fast_augment``): the same output, faster.
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
        self.by_index = by_index and all(
            moves_pixels_only(t, (RandomScaleCrop,)) for t in self.compose.transforms
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
        data = _prepare_inputs(sample, name)
        if self.track_padding:
            data[VALID_KEY] = np.ones(data["image"].shape[:2], dtype=np.uint8)
        out = augment_by_index(self.compose, data) if self.by_index else self.compose(**data)
        if self.output_size is not None and out["image"].shape[:2] != self.output_size:
            raise DataError(
                f"sample {name!r} of size {data['image'].shape[:2]} does not fit the evaluation "
                f"size {self.output_size}; raise the crop/pad size"
            )
        padded = out[VALID_KEY] == 0 if self.track_padding else None
        scale, flipped = 1.0, False
        for transform_name, params in out["applied_transforms"]:
            if transform_name in (RandomScaleCrop.__name__, A.RandomScale.__name__):
                scale = float(params["scale"])
            elif transform_name == A.HorizontalFlip.__name__:
                flipped = True
        targets = {}
        for key in data:
            if key in ("image", VALID_KEY):
                continue
            kind = TASKS[key].behaviour
            # depth / s after a zoom by s (inverse depth * s), normals' x negated after a flip
            array = kind.correct_geometry(
                out[key], scale=scale, flipped=flipped, inverse_depth=self.inverse_depth
            )
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


def _prepare_inputs(sample: Sample, name: str) -> dict[str, np.ndarray]:
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


def check_normalisation(mean: Sequence[float], std: Sequence[float]) -> None:
    if len(mean) != 3 or len(std) != 3:
        raise ConfigError(f"mean and std need 3 values (RGB), got {list(mean)} and {list(std)}")
    if min(std) <= 0:
        raise ConfigError(f"std must be positive, got {list(std)}")


def normalize(mean: Sequence[float], std: Sequence[float]) -> A.Normalize:
    # images are already in [0, 1], hence max_pixel_value 1
    return CachedNormalize(mean=tuple(mean), std=tuple(std), max_pixel_value=1.0)


def denormalize(
    image: torch.Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD
) -> torch.Tensor:
    """Undo the normalisation of an image [3, H, W] or batch [B, 3, H, W]; not clamped to [0, 1]."""
    mean_t = torch.as_tensor(mean, dtype=image.dtype, device=image.device).view(3, 1, 1)
    std_t = torch.as_tensor(std, dtype=image.dtype, device=image.device).view(3, 1, 1)
    return image * std_t + mean_t

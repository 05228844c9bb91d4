"""The PASCAL-Context training augmentation in few passes over the pixels.

``SampleTransform`` runs albumentations step by step: the float32 image is scaled, padded,
cropped and flipped as a whole, then changed by every photometric step into a new array, and the
task maps follow by a map of source indices. For a compose of the steps of
``build_pascal_train_transform`` (``fusable``), ``FusedSampleTransform`` gives the same output with
less work: the same draws, the same task maps bit for bit (they are only moved), and the same
image up to OpenCV's float kernels, which may round a pixel a few float32 ulps otherwise when it
sits elsewhere in a row or on another CPU (``dmtl.data.photometric``); the tests compare the
images within that tolerance:

1. Parameters (``dmtl.data.augment_draws``): ``draw_params`` makes the random draws that
   ``A.Compose.__call__`` and every ``BasicTransform.__call__`` make, from the same generators and
   in the same order (the compose's own draw, each step's ``p``, ``get_params``,
   ``get_params_dependent_on_data``), on a stand-in image of the right shape; no pixel is touched.
   The generators thus stay where a plain call leaves them, so every later sample gets the same
   draws too.
2. Geometry (``augment_draws.Geometry``, ``dmtl.data.map_picks``): scaling, padding, cropping and
   flipping only place one window of the scaled image in the output, the rest being padding
   (``Window``). Only the scaling computes pixels: OpenCV's bilinear resize of the float32 image,
   the same call albumentations makes, whose window is copied once (flipped by ``cv2.flip``, a
   move). Nearest-neighbour scaling of a map picks whole rows and columns: OpenCV's own picks, got
   by resizing an index column (``nearest_picks``), select the window's pixels as
   ``map[rows][:, cols]`` (``MapPicks``), without resizing the map.
3. Pixels: the photometric steps and the normalisation depend on each pixel alone, so they run
   on the window's rows only (padding is 0 in the image and each task's invalid value in the
   maps afterwards anyway), in place, with the functions of ``dmtl.data.photometric``.
   The rows keep the output's full width: OpenCV's colour conversions compute the last pixels of
   a row with other instructions than the rest, so on rows as wide as the plain path's most
   pixels get the plain path's bits (not all, on every CPU: the tests allow a few ulps).
4. Compact samples (``from_compact``): the reader's conversion of its uint8 fields to a sample
   (``dmtl.data.readers.predecoded.expand``) also works pixel by pixel, so the maps are moved as
   uint8 first and converted after, on the output's pixels only; the image is converted first,
   since it is interpolated.

Anything else (another step, option or order) takes the plain path of ``SampleTransform``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch

from dmtl.data import photometric as photo
from dmtl.data.augment_draws import GEOMETRY, Geometry, draw_params
from dmtl.data.transforms import Sample, SampleTransform, _prepare_inputs
from dmtl.tasks import TASKS

KEEP = (1.0, 1.0)  # a ColorJitter factor range that leaves its part out


def _photometric_ok(transform: A.BasicTransform) -> bool:
    if isinstance(transform, A.RandomBrightnessContrast):  # by max: no use of the image's mean
        return transform.brightness_by_max and not transform.ensure_safe_range
    if type(transform) is A.ColorJitter:  # saturation and hue (contrast uses the image's mean)
        return tuple(transform.brightness) == KEEP and tuple(transform.contrast) == KEEP
    return False


def fusable(transforms: Sequence[A.BasicTransform]) -> bool:
    """Whether ``FusedSampleTransform`` can run these steps (see the module docstring).

    The geometric steps of ``build_pascal_train_transform`` (each at most once, in its order, with
    bilinear images, nearest maps, constant padding with 0 and no padding inside the crop), then
    photometric steps that work pixel by pixel, then one standard normalisation, always applied.
    """
    steps = list(transforms)
    if not steps or not isinstance(steps[-1], A.Normalize):
        return False
    last = steps.pop()
    if last.normalization != "standard" or last.p < 1:
        return False
    geometric = [t for t in steps if isinstance(t, GEOMETRY)]
    order = [next(i for i, kind in enumerate(GEOMETRY) if isinstance(t, kind)) for t in geometric]
    if steps[: len(geometric)] != geometric or order != sorted(set(order)):
        return False
    for step in geometric:
        if isinstance(step, A.RandomScale) and (
            step.interpolation != cv2.INTER_LINEAR
            or step.mask_interpolation != cv2.INTER_NEAREST
            or step.area_for_downscale is not None
        ):
            return False
        if isinstance(step, A.PadIfNeeded) and (
            step.border_mode != cv2.BORDER_CONSTANT
            or np.any(np.asarray(step.fill) != 0)
            or np.any(np.asarray(step.fill_mask) != 0)
        ):
            return False
        if isinstance(step, A.RandomCrop) and step.pad_if_needed:
            return False
    return all(_photometric_ok(t) for t in steps[len(geometric) :])


class FusedSampleTransform(SampleTransform):
    """``SampleTransform`` that runs a ``fusable`` compose in few passes, to the same output.

    Takes the arguments of ``SampleTransform`` (``track_padding`` must be set: padding is then
    marked as invalid, as the plain path marks it). Other composes, and ``fused=False``, take the
    plain path.
    """

    def __init__(self, transforms: Sequence[A.BasicTransform], *args: Any, fused: bool = True,
                 **kwargs: Any) -> None:  # fmt: skip
        super().__init__(transforms, *args, **kwargs)
        self._scratch = Scratch()
        self.fused = (
            fused
            and self.track_padding
            and self.output_size is None
            and self.compose.p >= 1
            and fusable(self.compose.transforms)
        )

    def __call__(self, sample: Sample) -> Sample:
        """Transform one sample dict (see ``dmtl.data.transforms`` for input and output)."""
        if not self.fused:
            return super().__call__(sample)
        self._sync_random_state()
        name = str(sample.get("name", ""))
        data = _prepare_inputs(sample, name)
        image = data.pop("image")
        steps = draw_params(self.compose, image.shape)
        geometry = Geometry.of(steps, image.shape[:2])
        out_image = _augmented_image(image, geometry, steps[geometry.steps :], self._scratch)
        picks = geometry.picks()
        moved = {key: picks.apply(array) for key, array in data.items()}
        return self._finish(out_image, moved, geometry, name)

    def from_compact(
        self, compact: dict[str, np.ndarray], expand: Callable[[dict], dict], name: str
    ) -> Sample:
        """``self(expand(compact) + name)``, with the maps moved before ``expand``, not after.

        ``expand`` turns a reader's compact arrays into its sample arrays pixel by pixel (as
        ``dmtl.data.readers.predecoded.expand`` does), so it gives the same maps whether it runs
        before or after they are moved; after, it runs on the output's pixels only and the maps
        move as uint8. The image is expanded first: it is interpolated.
        """
        if not self.fused:
            return self({**expand(compact), "name": name})
        self._sync_random_state()
        source = compact["image"]
        steps = draw_params(self.compose, source.shape)
        geometry = Geometry.of(steps, source.shape[:2])
        picks = geometry.picks()
        picked = {key: picks.apply(array) for key, array in compact.items() if key != "image"}
        sample = expand({"image": source, **picked})
        image = sample.pop("image")
        out_image = _augmented_image(image, geometry, steps[geometry.steps :], self._scratch)
        moved = {
            key: TASKS[key].behaviour.prepare_array(array, f"sample {name!r}: {key}")
            for key, array in sample.items()
        }
        return self._finish(out_image, moved, geometry, name)

    def _finish(
        self, image: np.ndarray, moved: dict[str, np.ndarray], geometry: Geometry, name: str
    ) -> Sample:
        """The output sample: each moved map corrected, its padding invalid, as tensors."""
        targets = {}
        for key, array in moved.items():
            kind = TASKS[key].behaviour
            array = kind.correct_geometry(  # pixel by pixel: the padding is overwritten next
                array, scale=geometry.scale, flipped=geometry.flipped,
                inverse_depth=self.inverse_depth,
            )  # fmt: skip
            geometry.window.fill_outside(array, kind.invalid_value)
            targets[key] = kind.to_tensor(array)
        return {"image": torch.from_numpy(image), "targets": targets, "name": name}


class Scratch:
    """Working arrays kept from sample to sample: fewer fresh pages to fault in.

    ``get`` returns a contiguous view of a buffer that only grows, one buffer per name; what it
    held before is garbage.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = self._buffers[name] = np.empty(size, dtype=np.uint8)
        return buffer[:size].view(dtype).reshape(shape)

    def __getstate__(self) -> dict[str, Any]:
        return {"_buffers": {}}  # a DataLoader worker makes its own


def _augmented_image(
    image: np.ndarray,
    geometry: Geometry,
    steps: list[tuple[A.BasicTransform, dict[str, Any]]],
    scratch: Scratch,
) -> np.ndarray:
    """The normalised image (3, Ho, Wo): the photometric steps and the normalisation on the window.

    They run on the window's rows at the full output width, because OpenCV's colour conversions
    compute the last pixels of a row with other instructions than the rest: on rows as wide as
    those of the plain path, the pixels take the same instructions as there.
    """
    window = geometry.window
    out = np.zeros((3, window.height, window.width), dtype=np.float32)
    if window.empty:
        return out
    band = scratch.get("band", (window.rows[1] - window.rows[0], window.width, 3), np.float32)
    if geometry.scaled != image.shape[:2]:
        resized = scratch.get("scaled", (*geometry.scaled, 3), np.float32)
        image = cv2.resize(image, geometry.scaled[::-1], dst=resized,
                           interpolation=cv2.INTER_LINEAR)  # fmt: skip
    start, stop = window.cols
    if window.flipped:  # placed unflipped, then the whole band flipped in place
        start, stop = window.width - stop, window.width - start
    band[:, :start] = 0.0  # the band's padding: any value would do, but no garbage
    band[:, stop:] = 0.0
    band[:, start:stop] = image[window.source_rows(), window.source_cols()]
    if window.flipped:
        cv2.flip(band, 1, dst=band)
    for transform, params in steps:
        if isinstance(transform, A.Normalize):  # the last step (``fusable``)
            mean, inverse_std = photo.normalisation_constants(transform)
            inside = out[(slice(None), *window.inside())]
            photo.normalise_into(inside, band[:, slice(*window.cols)], mean, inverse_std)
        else:
            _photometric_step(transform, params, band)
    return out


def _photometric_step(transform: A.BasicTransform, params: dict[str, Any], img: np.ndarray) -> None:
    """Apply one pixel-by-pixel photometric step of ``fusable`` to ``img`` in place."""
    if isinstance(transform, A.RandomBrightnessContrast):
        if params["alpha"] == 0:
            img[...] = transform.apply(img, **params)
        else:
            photo.brightness_contrast(img, params["alpha"], params["beta"])
        return
    for part in params["order"]:  # A.ColorJitter.apply; brightness and contrast are factor 1
        if part == 2:
            photo.saturation(img, params["saturation"])
        elif part == 3:
            photo.hue(img, params["hue"])

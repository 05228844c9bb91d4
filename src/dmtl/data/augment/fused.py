"""The fast executor: the PASCAL-Context training augmentation in few passes over the pixels.

``SampleTransform`` runs albumentations step by step: the float32 image is scaled, padded,
cropped and flipped as a whole, then changed by every photometric step into a new array, and the
task maps follow by a map of source indices. For a compose of the steps of
``build_pascal_train_transform`` (``fusable``), ``FusedSampleTransform`` gives the same output with
less work: the same draws, the same task maps bit for bit (they are only moved), and the same
image up to OpenCV's float kernels, which may round a pixel a few float32 ulps otherwise when it
sits elsewhere in a row or on another CPU (``dmtl.data.augment.photometric``); the tests compare the
images within that tolerance:

1. Parameters (``dmtl.data.augment.draws``): ``draw_params`` makes the random draws that
   ``A.Compose.__call__`` and every ``BasicTransform.__call__`` make, from the same generators and
   in the same order (the compose's own draw, each step's ``p``, ``get_params``,
   ``get_params_dependent_on_data``), on a stand-in image of the right shape; no pixel is touched.
   The generators thus stay where a plain call leaves them, so every later sample gets the same
   draws too.
2. Geometry (``draws.Placement``, ``dmtl.data.augment.picks``): scaling, padding, cropping and
   flipping only place one window of the scaled image in the output, the rest being padding
   (``Window``). Only the scaling computes pixels: OpenCV's bilinear resize of the float32 image,
   the same call albumentations makes, whose window is copied once (flipped by ``cv2.flip``, a
   move). Nearest-neighbour scaling of a map picks whole rows and columns: OpenCV's own picks, got
   by resizing an index column (``nearest_picks``), select the window's pixels as
   ``map[rows][:, cols]`` (``MapPicks``), without resizing the map.
3. Pixels: the photometric steps and the normalisation depend on each pixel alone, so they run
   on the window's rows only (padding is 0 in the image and each task's invalid value in the
   maps afterwards anyway), in place, with the functions of ``dmtl.data.augment.photometric``.
   The rows keep the output's full width: OpenCV's colour conversions compute the last pixels of
   a row with other instructions than the rest, so on rows as wide as the plain path's most
   pixels get the plain path's bits (not all, on every CPU: the tests allow a few ulps).
4. Compact samples (``from_compact``): the reader's conversion of its uint8 fields to a sample
   (``dmtl.data.readers.predecoded.expand``) also works pixel by pixel, so the maps are moved as
   uint8 first and converted after, on the output's pixels only; the image is converted first,
   since it is interpolated.

Anything else (another step, option or order) takes the step-by-step path of ``SampleTransform``,
about twice as slow; ``FusedSampleTransform`` then logs once which step kept it off the fast path
(``why_not_fused``). The targets' corrections are those of the step-by-step path: both read the
table of ``dmtl.data.augment.geometry``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import albumentations as A
import cv2
import numpy as np
import torch

import dmtl.data.augment.photometric as photo
from dmtl.data.augment.draws import PLACED, Placement, draw_params
from dmtl.data.augment.step_by_step import Sample, SampleTransform, prepare_inputs, tell_once
from dmtl.tasks import TASKS

KEEP = (1.0, 1.0)  # a ColorJitter factor range that leaves its part out


def _photometric_ok(transform: A.BasicTransform) -> bool:
    if isinstance(transform, A.RandomBrightnessContrast):  # by max: no use of the image's mean
        return transform.brightness_by_max and not transform.ensure_safe_range
    if type(transform) is A.ColorJitter:  # saturation and hue (contrast uses the image's mean)
        return tuple(transform.brightness) == KEEP and tuple(transform.contrast) == KEEP
    return False


def _placed_ok(step: A.BasicTransform) -> bool:
    """Whether the fused path places this ``PLACED`` step with its options."""
    if isinstance(step, A.RandomScale):
        return (
            step.interpolation == cv2.INTER_LINEAR
            and step.mask_interpolation == cv2.INTER_NEAREST
            and step.area_for_downscale is None
        )
    if isinstance(step, A.PadIfNeeded):
        return (
            step.border_mode == cv2.BORDER_CONSTANT
            and not np.any(np.asarray(step.fill) != 0)
            and not np.any(np.asarray(step.fill_mask) != 0)
        )
    if isinstance(step, A.RandomCrop):
        return not step.pad_if_needed
    return True


def why_not_fused(transforms: Sequence[A.BasicTransform]) -> str | None:
    """Why ``FusedSampleTransform`` cannot run these steps, naming the step; None if it can.

    It runs the geometric steps of ``build_pascal_train_transform`` (``draws.PLACED``, each at
    most once, in that order, with bilinear images, nearest maps, constant padding with 0 and no
    padding inside the crop), then photometric steps that work pixel by pixel, then one standard
    normalisation, always applied.
    """
    steps = list(transforms)
    if not steps or not isinstance(steps[-1], A.Normalize):
        return "the last step is not the normalisation"
    last = steps.pop()
    if last.normalization != "standard" or last.p < 1:
        return f"the normalisation {type(last).__name__} is not a standard one always applied"
    placed, last = 0, -1  # the placed geometric steps come first, each once, in ``PLACED`` order
    for step in steps:
        order = next((i for i, kind in enumerate(PLACED) if isinstance(step, kind)), None)
        if order is None:
            break
        if order <= last:
            return f"step {type(step).__name__} comes out of the fused path's order"
        if not _placed_ok(step):
            return f"step {type(step).__name__} has options the fused path does not place"
        placed, last = placed + 1, order
    for step in steps[placed:]:
        if isinstance(step, PLACED):
            return f"step {type(step).__name__} comes after a photometric step"
        if not _photometric_ok(step):
            return f"step {type(step).__name__} is not a photometric step the fused path computes"
    return None


def fusable(transforms: Sequence[A.BasicTransform]) -> bool:
    """Whether ``FusedSampleTransform`` can run these steps (``why_not_fused`` says why not)."""
    return why_not_fused(transforms) is None


class FusedSampleTransform(SampleTransform):
    """``SampleTransform`` that runs a ``fusable`` compose in few passes, to the same output.

    Takes the arguments of ``SampleTransform`` (``track_padding`` must be set: padding is then
    marked as invalid, as the plain path marks it). Other composes, and ``fused=False``, take the
    plain path.
    """

    def __init__(
        self, transforms: Sequence[A.BasicTransform], *args: Any, fused: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(transforms, *args, **kwargs)
        self._scratch = Scratch()
        reason = self._why_not_fused() if fused else None
        self.fused = fused and reason is None
        if reason is not None:
            tell_once(f"augmentation runs step by step, about 2x slower than fused: {reason}")

    def _why_not_fused(self) -> str | None:
        """Why this transform cannot run fused, or None (see ``why_not_fused``)."""
        if not self.track_padding:
            return "padding is not tracked (track_padding=False)"
        if self.output_size is not None:
            return "an output size is checked (output_size)"
        if self.compose.p < 1:
            return "the compose is applied with p < 1"
        return why_not_fused(self.compose.transforms)

    def __call__(self, sample: Sample) -> Sample:
        """Transform one sample dict (see ``dmtl.data.augment.step_by_step`` for the formats)."""
        if not self.fused:
            return super().__call__(sample)
        self._sync_random_state()
        name = str(sample.get("name", ""))
        data = prepare_inputs(sample, name)
        image = data.pop("image")
        steps = draw_params(self.compose, image.shape)
        placement = Placement.of(steps, image.shape[:2])
        out_image = _augmented_image(image, placement, steps[placement.steps :], self._scratch)
        picks = placement.picks()
        moved = {key: picks.apply(array) for key, array in data.items()}
        return self._finish(out_image, moved, placement, name)

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
        placement = Placement.of(steps, source.shape[:2])
        picks = placement.picks()
        picked = {key: picks.apply(array) for key, array in compact.items() if key != "image"}
        sample = expand({"image": source, **picked})
        image = sample.pop("image")
        out_image = _augmented_image(image, placement, steps[placement.steps :], self._scratch)
        moved = {
            key: TASKS[key].behaviour.prepare_array(array, f"sample {name!r}: {key}")
            for key, array in sample.items()
        }
        return self._finish(out_image, moved, placement, name)

    def _finish(
        self, image: np.ndarray, moved: dict[str, np.ndarray], placement: Placement, name: str
    ) -> Sample:
        """The output sample: each moved map corrected, its padding invalid, as tensors."""
        targets = {}
        for key, array in moved.items():
            kind = TASKS[key].behaviour
            # pixel by pixel: the padding is overwritten next
            array = placement.correction.apply(kind, array, self.inverse_depth)
            placement.window.fill_outside(array, kind.invalid_value)
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
    placement: Placement,
    steps: list[tuple[A.BasicTransform, dict[str, Any]]],
    scratch: Scratch,
) -> np.ndarray:
    """The normalised image (3, Ho, Wo): the photometric steps and the normalisation on the window.

    They run on the window's rows at the full output width, because OpenCV's colour conversions
    compute the last pixels of a row with other instructions than the rest: on rows as wide as
    those of the plain path, the pixels take the same instructions as there.
    """
    window = placement.window
    out = np.zeros((3, window.height, window.width), dtype=np.float32)
    if window.empty:
        return out
    band = scratch.get("band", (window.rows[1] - window.rows[0], window.width, 3), np.float32)
    if placement.scaled != image.shape[:2]:
        resized = scratch.get("scaled", (*placement.scaled, 3), np.float32)
        size = placement.scaled[::-1]
        image = cv2.resize(image, size, dst=resized, interpolation=cv2.INTER_LINEAR)
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

"""Images of any size from a folder, for ``dmtl predict --data.predict_dir=DIR``.

Every image is normalised as in evaluation and zero-padded (after normalisation, so the padding is
the mean colour) on the bottom and right to a multiple of the network's stride; the batch keeps
each image's original size in ``meta``, and ``PredictionWriter`` crops the maps back to it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from dmtl.data.augment import build_eval_transform
from dmtl.errors import DataError, MissingDataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
PAD_MULTIPLE = 32  # the deepest stride of the timm backbones (feature maps 1/2 ... 1/32)


class ImageFolderDataset(Dataset):
    """The images under ``root`` (recursively, sorted), as unlabelled samples.

    Samples are ``{"image": float (3, H, W) normalised, "name": "<relative path without
    suffix>"}`` at the original size, turned upright by the EXIF orientation (as a photo viewer
    shows a phone's JPEG); ``pad_collate`` pads a batch to a common size.

    Args:
        root: folder of images (PNG, JPEG, BMP, TIFF, WebP).

    Raises:
        MissingDataError: ``root`` is not a folder.
        DataError: the folder holds no image.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise MissingDataError(f"predict folder {self.root} does not exist")
        self.files = sorted(
            p for p in self.root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not self.files:
            raise DataError(
                f"predict folder {self.root} holds no image ({', '.join(IMAGE_SUFFIXES)})"
            )
        self.transform = build_eval_transform()

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        path = self.files[index]
        try:
            with Image.open(path) as img:
                upright = ImageOps.exif_transpose(img)  # a phone's EXIF orientation, applied
                rgb = np.asarray(upright.convert("RGB"), dtype=np.float32) / 255.0
        except Image.DecompressionBombError as err:
            raise DataError(
                f"image {path} is larger than {Image.MAX_IMAGE_PIXELS} pixels, Pillow's guard "
                "against decompression bombs; resize it (or split it into tiles) to predict it"
            ) from err
        except (UnidentifiedImageError, OSError) as err:
            raise DataError(f"cannot read image {path}: {err}") from err
        name = path.relative_to(self.root).with_suffix("").as_posix()
        out = self.transform({"image": rgb, "name": name})
        return {"image": out["image"], "name": name}


def pad_collate(samples: list[dict], multiple: int = PAD_MULTIPLE) -> dict:
    """Stack images of different sizes, zero-padded to the largest size rounded up to ``multiple``.

    Returns:
        ``{"image": (B, 3, Hp, Wp), "meta": {"name": [...], "height": (B,), "width": (B,)}}``.
    """
    heights = torch.tensor([s["image"].shape[1] for s in samples])
    widths = torch.tensor([s["image"].shape[2] for s in samples])
    hp = -(-int(heights.max()) // multiple) * multiple
    wp = -(-int(widths.max()) // multiple) * multiple
    # F.pad's last-dimension-first order: (left, right, top, bottom)
    padded = [
        F.pad(s["image"], (0, wp - s["image"].shape[2], 0, hp - s["image"].shape[1]))
        for s in samples
    ]
    images = torch.stack(padded)
    names = [s["name"] for s in samples]
    return {"image": images, "meta": {"name": names, "height": heights, "width": widths}}

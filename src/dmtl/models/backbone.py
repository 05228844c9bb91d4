"""Backbone: any timm model with ``features_only``, channels and strides read from timm.

ImageNet weights (the paper's ResNet-18) come from one of two places, both through timm so that
its own key filtering and adaptation (classifier dropped, input conv adapted, ...) apply:

* ``pretrained=True``: timm's weights, from the Hugging Face hub cache (``HF_HOME``) or, with
  network access, downloaded into it. Offline with an empty cache the backbone stops when it is
  built (before any training) with one line saying how to get the weights.
* ``weights=FILE`` (``backbone_weights``): a local timm/torchvision state dict (``.pth`` or
  ``.safetensors``), given to timm as ``pretrained_cfg_overlay=dict(file=FILE)``. timm loads such
  files non-strictly and only logs the keys it could not fill, so the backbone reads that report
  and refuses, in one line, a file that leaves any weight of the feature extractor unset.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import timm
import torch
from huggingface_hub import constants as hf_constants
from torch import nn

from dmtl.errors import ConfigError, DataError, MissingDataError

DEFAULT_NUM_SCALES = 4  # the last four feature levels (strides 4..32 for CNNs)
TIMM_BUILDER_LOGGER = "timm.models._builder"  # where timm reports the keys a load left unset
_MISSING_KEYS = re.compile(r"^Missing keys \((.*)\) discovered")
_REFUSED_GLOBAL = re.compile(r"(?:\bGLOBAL|Unsupported globals:) (\w+(?:\.\w+)*)")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# lines of torch's load errors that give advice or a heading rather than the reason
_ADVICE = ("Weights only load failed", "(1)", "(2)", "Please file", "Check the doc", "Error(s) in")


class TimmBackbone(nn.Module):
    """A timm feature extractor returning a list of NCHW maps, finest first.

    Args:
        name: any timm model name that supports ``features_only``.
        pretrained: load timm's ImageNet weights (the hub cache, or network access).
        weights: a local weights file (timm/torchvision state dict) to load instead; implies
            ``pretrained``.
        out_indices: feature levels to return; default: the last four.
        img_size: for transformer backbones that need a fixed input size.

    Raises:
        ConfigError: an unknown model, or pretrained weights that are neither cached nor
            downloadable.
        MissingDataError: ``weights`` does not exist.
        DataError: ``weights`` cannot be read or does not fit the model.
    """

    def __init__(
        self,
        name: str = "resnet18",
        pretrained: bool = False,
        weights: str | None = None,
        out_indices: tuple[int, ...] | None = None,
        img_size: int | None = None,
    ) -> None:
        super().__init__()
        kwargs: dict = {"features_only": True}
        if img_size is not None:
            kwargs["img_size"] = img_size
        if weights is not None and not Path(weights).is_file():
            raise MissingDataError(f"backbone weights file {weights} does not exist")
        if out_indices is not None:
            kwargs["out_indices"] = tuple(out_indices)
        if not timm.is_model(name):
            raise ConfigError(f"unknown timm backbone {name!r}; see timm.list_models()")
        if weights is not None:
            self.model = _create_from_file(name, str(weights), kwargs)
        elif pretrained:
            self.model = _create_pretrained(name, kwargs)
        else:
            self.model = timm.create_model(name, **kwargs)
        levels = len(self.model.feature_info.channels())
        # Without out_indices timm returns every level (the stride-2 stem too); keep the last
        # four. Selecting in forward costs nothing: the earlier levels are computed anyway.
        self._keep = (
            list(range(levels))
            if out_indices is not None
            else list(range(max(levels - DEFAULT_NUM_SCALES, 0), levels))
        )
        self.channels: list[int] = [self.model.feature_info.channels()[i] for i in self._keep]
        self.strides: list[int] = [self.model.feature_info.reduction()[i] for i in self._keep]
        self._nhwc = str(getattr(self.model, "output_fmt", "NCHW")).endswith("NHWC")

    @property
    def max_stride(self) -> int:
        """The coarsest stride of the returned features."""
        return max(self.strides)

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Features of an image batch.

        Args:
            image: (B, 3, H, W), H and W at least ``max_stride``.

        Returns:
            One (B, C_i, H / s_i, W / s_i) map per level, ``channels[i]`` and ``strides[i]``.
        """
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(
                f"backbone expects images of shape (B, 3, H, W), got {tuple(image.shape)}"
            )
        if min(image.shape[-2:]) < self.max_stride:
            raise ValueError(
                f"image size {tuple(image.shape[-2:])} is smaller than the backbone's coarsest "
                f"stride {self.max_stride}; use images of at least that size"
            )
        feats = self.model(image)
        feats = [feats[i] for i in self._keep]
        if self._nhwc:
            feats = [f.permute(0, 3, 1, 2) for f in feats]
        return [f.contiguous() for f in feats]


def _create_pretrained(name: str, kwargs: dict) -> nn.Module:
    """timm's pretrained model; one ``ConfigError`` line if its weights cannot be had."""
    try:
        return timm.create_model(name, pretrained=True, **kwargs)
    except TypeError:  # a wrong keyword for this model: not a question of weights
        raise
    except Exception as err:  # hub, download and cache errors come in many types
        offline = "; HF_HUB_OFFLINE is set" if hf_constants.HF_HUB_OFFLINE else ""
        raise ConfigError(
            f"pretrained weights of backbone {name!r} are not in the Hugging Face cache "
            f"({hf_constants.HF_HUB_CACHE}) and could not be downloaded "
            f"({type(err).__name__}{offline}): download them once on a machine with network "
            f'into that cache (HF_HOME), e.g. python -c "import timm; '
            f"timm.create_model('{name}', pretrained=True)\", or pass a local file as "
            "backbone_weights (model.network.backbone_weights=FILE)"
        ) from err


def _create_from_file(name: str, weights: str, kwargs: dict) -> nn.Module:
    """The model with the weights of a local file, loaded by timm; one ``DataError`` line if not."""
    with _missing_key_report() as missing_keys:
        try:
            model = timm.create_model(
                name, pretrained=True, pretrained_cfg_overlay={"file": weights}, **kwargs
            )
        except TypeError:
            raise
        except Exception as err:  # unreadable files and shape mismatches raise many types
            raise DataError(
                f"backbone weights file {weights} could not be loaded into timm model {name!r}: "
                f"{_reason(err)}"
            ) from err
    keys = set(model.state_dict())
    # names in the unwrapped model; the feature extractor may flatten the first level (a_b.c)
    unset = [k for k in missing_keys if k in keys or k.replace(".", "_", 1) in keys]
    if unset:
        raise DataError(
            f"backbone weights file {weights} does not fit timm model {name!r}: {len(unset)} of "
            f"the backbone's {len(keys)} tensors are not in it (first: {unset[0]}); pass a state "
            f"dict of {name!r} with timm's (or torchvision's) key names"
        )
    return model


@contextmanager
def _missing_key_report() -> Iterator[list[str]]:
    """Collect the keys timm reports unset while it loads weights (and keep its log quiet)."""
    logger = logging.getLogger(TIMM_BUILDER_LOGGER)
    missing: list[str] = []
    handler = _MissingKeyHandler(missing)
    level, propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield missing
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


class _MissingKeyHandler(logging.Handler):
    """A log handler that keeps the key names of timm's "Missing keys (...)" records."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(logging.INFO)
        self.missing = missing

    def emit(self, record: logging.LogRecord) -> None:
        """Add the keys a "Missing keys" record names; ignore every other record."""
        found = _MISSING_KEYS.match(record.getMessage())
        if found:
            self.missing.extend(found.group(1).split(", "))


def _reason(err: BaseException) -> str:
    """The informative line of a load error: no colour codes, no torch advice, no heading."""
    while err.__cause__ is not None:  # timm re-raises torch's refusal with advice of its own
        err = err.__cause__
    text = _ANSI.sub("", str(err))
    refused = _REFUSED_GLOBAL.search(text)
    if refused:
        return f"it needs the global {refused.group(1)}, which a safe load does not allow"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = [line for line in lines if not line.startswith(_ADVICE)]
    text = (detail or lines or [type(err).__name__])[0]
    return text.removeprefix("WeightsUnpickler error:").strip().split(" Please use")[0]

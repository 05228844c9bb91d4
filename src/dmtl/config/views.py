"""Option values shared by the view terms (consistency, JTR): scale sets, prediction sources."""

from __future__ import annotations

from typing import Literal

from dmtl.errors import ConfigError

# With diffusion on, which predictions a view term reads: the initial decoders' or the chain's
# final ones (dmtl.terms.predictions).
PredictionSource = Literal["initial", "final"]
SOURCES = ("initial", "final")
SCALES = (1.0, 1.2, 1.5)  # mtan / MTPSL / JTR RandomScaleCrop


def check_scales(key: str, scales: object) -> None:
    """A non-empty list of numbers, each at least 1 (a crop lies inside its image).

    Raises:
        ConfigError: naming ``key`` and the value.
    """
    ok = isinstance(scales, (list, tuple)) and len(scales) > 0
    ok = ok and all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scales)
    if not ok or any(s < 1 for s in scales):
        raise ConfigError(f"{key} must be a non-empty list of scales >= 1, got {scales!r}")


def check_source(key: str, source: object) -> None:
    """``initial`` or ``final``.

    Raises:
        ConfigError: naming ``key`` and the value.
    """
    if source not in SOURCES:
        raise ConfigError(f"{key} must be initial or final, got {source!r}")

"""Which predictions a view term reads: every task of every sample, initial or final.

With DiffusionMTL on, the training output's final predictions hold only the labelled (sample,
task) rows (``MultiTaskOutput``), while a view term needs every task of every sample. ``initial``
reads the initial decoders' predictions (``out.initial``, every sample; on a view the chain is not
run at all), ``final`` runs the whole network, chain included, on every pair of the view. The
plain baseline has only one kind of prediction, its ``predictions``, read for either choice.
"""

from __future__ import annotations

import torch

from dmtl.config.views import PredictionSource
from dmtl.models.output import MultiTaskOutput
from dmtl.terms.base import TermInputs


def every_sample(out: MultiTaskOutput, source: PredictionSource) -> dict[str, torch.Tensor] | None:
    """``out``'s predictions of every task for every sample, or ``None`` if it holds none.

    ``None`` when ``source`` is ``final`` and the chain denoised only the labelled rows.
    """
    if not out.initial:  # the plain baseline
        return out.predictions
    if source == "initial":
        return out.initial
    every = len(out.predictions) == len(out.initial)
    every = every and all(out.rows.get(name) is None for name in out.predictions)
    return out.predictions if every else None


def predict_every_sample(
    inputs: TermInputs, image: torch.Tensor, source: PredictionSource, tasks: int
) -> dict[str, torch.Tensor]:
    """Predictions of every task for every sample of ``image`` (B, 3, H, W) from ``source``.

    ``initial`` asks the network to denoise no pair (the chain costs nothing then); ``final``
    denoises every pair.
    """
    if source == "initial":
        none = torch.zeros(image.shape[0], tasks, dtype=torch.bool, device=image.device)
        out = inputs.predict(image, none)
    else:
        out = inputs.predict(image, None)
    found = every_sample(out, source)
    assert found is not None  # every pair was asked for
    return found

"""How a task's prediction map is encoded for prediction diffusion and for the condition feature.

Diffusion adds Gaussian noise of a fixed scale, so every task's map is first brought to a common,
bounded range of about [-1, 1]:

- segmentation and saliency: class probabilities, softmax(logits) * 2 - 1;
- boundary: edge probability, sigmoid(logit) * 2 - 1;
- normals: the unit vector, normalize(prediction) (components already in [-1, 1]);
- depth: metres mapped linearly, depth / depth_scale * 2 - 1 (0 m -> -1, depth_scale -> +1).

The encoding is differentiable: in prediction diffusion the denoiser's heads output raw task
predictions (logits, metres, vectors) and their encoding is the chain's estimate x̂_0.

``decode_prediction`` maps an encoded (possibly noisy) map back to raw predictions:
log-probabilities as logits, the logit of the edge probability, the vector itself, metres. It
inverts the encoding up to what the encoding forgets (a constant added to all logits, the length of
a normal vector); prediction diffusion turns its final x̂_0 into raw predictions with it
(``dmtl.models.spaces.PredictionSpace``).
The formulas live in the task kinds (``dmtl.tasks.kinds``); these functions dispatch to them.
"""

from __future__ import annotations

import torch

from dmtl.tasks import TaskSpec
from dmtl.tasks.kinds import DECODE_EPS

__all__ = ["DECODE_EPS", "DEFAULT_DEPTH_SCALE", "decode_prediction", "encode_prediction"]

DEFAULT_DEPTH_SCALE = 10.0  # metres: NYUv2's range and the synthetic rooms' far wall


def encode_prediction(
    spec: TaskSpec, raw: torch.Tensor, depth_scale: float = DEFAULT_DEPTH_SCALE
) -> torch.Tensor:
    """Encode raw predictions (N, C, h, w) of a task into its diffusion space (N, C, h, w).

    The task's kind (``spec.behaviour.encode``) holds the encoding.

    Raises:
        ConfigError: a task of an unknown kind.
    """
    return spec.behaviour.encode(raw, depth_scale)


def decode_prediction(
    spec: TaskSpec, encoded: torch.Tensor, depth_scale: float = DEFAULT_DEPTH_SCALE
) -> torch.Tensor:
    """Raw predictions (N, C, h, w) whose encoding is ``encoded`` (the inverse of the encoding).

    Noisy maps leave [-1, 1]: probabilities are clamped to [``DECODE_EPS``, 1 - ``DECODE_EPS``]
    (segmentation: log p of the clamped, renormalised probabilities; boundary: logit p); depth
    and normals are linear and need no clamp. The task's kind (``spec.behaviour.decode``) holds
    the decoding.

    Raises:
        ConfigError: a task of an unknown kind.
    """
    return spec.behaviour.decode(encoded, depth_scale)

"""XTC*: MTPSL's cross-task consistency on the MTL baseline, in one package.

``mapper`` (the mapping network into the joint space and the joint inputs), ``loss`` (the
consistency and regularisation losses of a batch) and ``term`` (what the Lightning system builds
from its option group ``dmtl.config.xtc`` and calls once per training step). The shared feature the
embeddings are regularised to comes with the network's output (``MultiTaskOutput.shared``).
docs/method.md §10.
"""

from dmtl.xtc.loss import XTCOutput, xtc_loss, xtc_pairs
from dmtl.xtc.mapper import CrossTaskMapper, draw_gumbel
from dmtl.xtc.term import build_xtc, xtc_term

__all__ = [
    "CrossTaskMapper",
    "XTCOutput",
    "build_xtc",
    "draw_gumbel",
    "xtc_loss",
    "xtc_pairs",
    "xtc_term",
]

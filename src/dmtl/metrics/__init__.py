"""Evaluation metrics of dense prediction tasks (torchmetrics ``Metric`` subclasses) and Δm.

Every metric keeps only sum states (``dist_reduce_fx="sum"``), so results are dataset-level
values that sync across DDP processes exactly; ``compute()`` returns a dict of scalar tensors.
The multi-task layer above them (``MultiTaskMetrics``, ``build_metric``, ``delta_m``,
``load_reference``), which knows the tasks and their kinds, is ``dmtl.metrics.multitask``: this
package does not import it, so a kind can import its metric without importing the kinds back.
"""

from dmtl.metrics.boundary import (
    DEFAULT_THRESHOLDS,
    SEISM_THRESHOLDS,
    THRESHOLD_GRIDS,
    BoundaryMetrics,
)
from dmtl.metrics.boundary_ods import MAX_DIST_NYUD, MAX_DIST_PASCAL, BoundaryODSMetrics
from dmtl.metrics.depth import MTPSL_CLAMP_MIN, DepthMetrics
from dmtl.metrics.normals import NormalMetrics, median_error_bound
from dmtl.metrics.saliency import SaliencyMetrics
from dmtl.metrics.segmentation import ABSENT_CLASS_RULES, SegmentationMetrics

__all__ = [
    "ABSENT_CLASS_RULES",
    "DEFAULT_THRESHOLDS",
    "MAX_DIST_NYUD",
    "MAX_DIST_PASCAL",
    "MTPSL_CLAMP_MIN",
    "SEISM_THRESHOLDS",
    "THRESHOLD_GRIDS",
    "BoundaryMetrics",
    "BoundaryODSMetrics",
    "DepthMetrics",
    "NormalMetrics",
    "SaliencyMetrics",
    "SegmentationMetrics",
    "median_error_bound",
]

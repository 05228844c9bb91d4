"""The class names of the segmentation tasks of every dataset, in the order of their class ids.

These are facts of the datasets' label sets as dmtl reads them (docs/datasets.md): name ``i`` is
that of class id ``i`` in the targets and in the predictions. ``class_names`` is the one
way in; a task or dataset without a list here gets ``class 0``, ``class 1``, ...
"""

from __future__ import annotations

# NYUv2 13 classes (the 13-class mapping of the MTAN/MTPSL preprocessing, ids 0..12).
NYUV2_13: tuple[str, ...] = (
    "bed", "books", "ceiling", "chair", "floor", "furniture", "objects",
    "picture", "sofa", "table", "tv", "wall", "window",
)  # fmt: skip

# NYUD-v2 of the ATRC/InvPT layout: the 40 classes of Gupta et al. (CVPR 2013), ids 0..39 (the
# files' 1..40), as listed in data/nyud/classes.txt of shelhamer/fcn.berkeleyvision.org.
NYUD_40: tuple[str, ...] = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror",
    "floor mat", "clothes", "ceiling", "books", "refrigerator", "television", "paper", "towel",
    "shower curtain", "box", "whiteboard", "person", "night stand", "toilet", "sink", "lamp",
    "bathtub", "bag", "otherstructure", "otherfurniture", "otherprop",
)  # fmt: skip

# Cityscapes `label_7`: the 7 categories of the Cityscapes label set, void excluded.
CITYSCAPES_7: tuple[str, ...] = (
    "flat", "construction", "object", "nature", "sky", "human", "vehicle",
)  # fmt: skip

# Cityscapes `label_19`: the 19 classes of the Cityscapes benchmark, in train-id order.
CITYSCAPES_19: tuple[str, ...] = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)  # fmt: skip

# PASCAL-Context semseg of the multi-task benchmark: background and the 20 PASCAL VOC classes.
VOC_21: tuple[str, ...] = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip

# PASCAL-Context human parts: background and the 6 merged PASCAL-Part person parts.
HUMAN_PARTS_7: tuple[str, ...] = (
    "background", "head", "torso", "upper arm", "lower arm", "upper leg", "lower leg",
)  # fmt: skip

SALIENCY_2: tuple[str, ...] = ("background", "salient")

# dataset -> the real dataset whose label sets it has (the synthetic scenes imitate one).
LABEL_SET_OF: dict[str, str] = {
    "synthetic": "nyuv2",
    "nyuv2": "nyuv2",
    "nyud": "nyud",
    "cityscapes": "cityscapes",
    "cityscapes19": "cityscapes19",
    "synthetic_cityscapes": "cityscapes",
    "pascal_context": "pascal_context",
    "synthetic_pascal": "pascal_context",
    "folder": "folder",  # one's own data: saliency's two classes; semseg has no standard names
}

# (label set, task) -> class names
CLASS_NAMES: dict[tuple[str, str], tuple[str, ...]] = {
    ("nyuv2", "semseg"): NYUV2_13,
    ("nyud", "semseg"): NYUD_40,
    ("cityscapes", "semseg"): CITYSCAPES_7,
    ("cityscapes19", "semseg"): CITYSCAPES_19,
    ("pascal_context", "semseg"): VOC_21,
    ("pascal_context", "human_parts"): HUMAN_PARTS_7,
    ("pascal_context", "sal"): SALIENCY_2,
    ("folder", "sal"): SALIENCY_2,
}


def label_set(dataset: str | None) -> str | None:
    """The real dataset whose label sets ``dataset`` uses, ``None`` for an unknown one."""
    return LABEL_SET_OF.get(dataset) if dataset is not None else None


def known_class_names(dataset: str | None, task: str) -> tuple[str, ...] | None:
    """The class names of ``task`` on ``dataset``, ``None`` where dmtl has no list for them."""
    return CLASS_NAMES.get((label_set(dataset), task))


def class_names(dataset: str | None, task: str, num_classes: int) -> tuple[str, ...]:
    """The names of the ``num_classes`` classes of ``task`` on ``dataset``.

    Args:
        dataset: a ``data.dataset`` value, or ``None``.
        task: the task name (``semseg``, ``human_parts``, ``sal``).
        num_classes: the task's channel count; a list of another length is not used.

    Returns:
        the dataset's names, or ``class 0``, ``class 1``, ... where none are known.
    """
    names = known_class_names(dataset, task)
    if names is not None and len(names) == num_classes:
        return names
    return tuple(f"class {i}" for i in range(num_classes))

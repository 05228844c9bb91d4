"""The label sets of the datasets: class names and colours of each class-id task, in id order.

These are facts of the datasets' conventions as dmtl reads them (docs/datasets.md): name and
colour ``i`` are those of class id ``i`` in the targets and in the predictions. A dataset's entry
in ``dmtl.data.datasets.registry`` names its label set; the synthetic scenes share the label set
of the dataset they imitate.

- ``VOC_COLOURS``: the PASCAL VOC colour map (class i's colour is the VOC devkit's entry i);
  PASCAL-Context semseg (background and the VOC classes) and human parts use its first entries.
- ``CITYSCAPES_19_COLOURS``: the colours the Cityscapes label definition gives its 19 benchmark
  classes, in train-id order.
- ``CITYSCAPES_7_COLOURS``: Cityscapes defines no colours for its 7 categories; each category
  gets the Cityscapes colour of one of its classes (flat: road, construction: building, object:
  pole, nature: vegetation, sky: sky, human: person, vehicle: car).
- ``NYUV2_13_COLOURS``: NYUv2 ships no colours for its 13-class mapping; this is dmtl's own fixed
  choice of 13 well separated colours, none of them black (the colour of invalid pixels).

A task without colours here is drawn in the fallback palette (``dmtl.viz.class_palette``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class ClassList:
    """The classes of one class-id task of a label set.

    Attributes:
        names: the name of each class id, in id order.
        colours: the RGB colour of each class id, or ``None`` where the dataset has no convention.
    """

    names: tuple[str, ...]
    colours: tuple[Colour, ...] | None = None


@dataclass(frozen=True)
class LabelSet:
    """The class lists of a dataset's class-id tasks.

    Attributes:
        name: the label set's name (``dmtl.data.classes.label_set`` answers it).
        tasks: task name -> its classes; a class-id task missing here has numbered names.
    """

    name: str
    tasks: Mapping[str, ClassList]


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

VOC_COLOURS: tuple[Colour, ...] = (
    (0, 0, 0),
    (128, 0, 0),
    (0, 128, 0),
    (128, 128, 0),
    (0, 0, 128),
    (128, 0, 128),
    (0, 128, 128),
    (128, 128, 128),
    (64, 0, 0),
    (192, 0, 0),
    (64, 128, 0),
    (192, 128, 0),
    (64, 0, 128),
    (192, 0, 128),
    (64, 128, 128),
    (192, 128, 128),
    (0, 64, 0),
    (128, 64, 0),
    (0, 192, 0),
    (128, 192, 0),
    (0, 64, 128),
)

CITYSCAPES_19_COLOURS: tuple[Colour, ...] = (
    (128, 64, 128),
    (244, 35, 232),
    (70, 70, 70),
    (102, 102, 156),
    (190, 153, 153),
    (153, 153, 153),
    (250, 170, 30),
    (220, 220, 0),
    (107, 142, 35),
    (152, 251, 152),
    (70, 130, 180),
    (220, 20, 60),
    (255, 0, 0),
    (0, 0, 142),
    (0, 0, 70),
    (0, 60, 100),
    (0, 80, 100),
    (0, 0, 230),
    (119, 11, 32),
)

CITYSCAPES_7_COLOURS: tuple[Colour, ...] = (
    (128, 64, 128),
    (70, 70, 70),
    (153, 153, 153),
    (107, 142, 35),
    (70, 130, 180),
    (220, 20, 60),
    (0, 0, 142),
)

NYUV2_13_COLOURS: tuple[Colour, ...] = (
    (64, 96, 224),  # bed
    (255, 128, 0),  # books
    (224, 224, 160),  # ceiling
    (224, 0, 96),  # chair
    (128, 64, 32),  # floor
    (160, 96, 224),  # furniture
    (0, 192, 192),  # objects
    (255, 224, 0),  # picture
    (0, 128, 0),  # sofa
    (192, 128, 64),  # table
    (96, 0, 128),  # tv
    (176, 176, 176),  # wall
    (128, 224, 255),  # window
)

SALIENCY_COLOURS: tuple[Colour, ...] = ((0, 0, 0), (255, 255, 255))

NYUV2 = LabelSet("nyuv2", {"semseg": ClassList(NYUV2_13, NYUV2_13_COLOURS)})
NYUD = LabelSet("nyud", {"semseg": ClassList(NYUD_40)})
CITYSCAPES = LabelSet("cityscapes", {"semseg": ClassList(CITYSCAPES_7, CITYSCAPES_7_COLOURS)})
CITYSCAPES19 = LabelSet("cityscapes19", {"semseg": ClassList(CITYSCAPES_19, CITYSCAPES_19_COLOURS)})
PASCAL_CONTEXT = LabelSet(
    "pascal_context",
    {
        "semseg": ClassList(VOC_21, VOC_COLOURS),
        "human_parts": ClassList(HUMAN_PARTS_7, VOC_COLOURS[:7]),
        "sal": ClassList(SALIENCY_2, SALIENCY_COLOURS),
    },
)
# one's own data: saliency's two classes; semseg's classes are the user's (numbered names)
FOLDER = LabelSet("folder", {"sal": ClassList(SALIENCY_2)})

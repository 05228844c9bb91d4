"""Class names (data.classes) and colours (viz.class_palette): one per class of every dataset."""

import numpy as np
import pytest

from dmtl.data import classes
from dmtl.data.datasets import DATASETS, labelsets
from dmtl.data.readers.pascal_annotations import PART_OF
from dmtl.data.synthetic.objects import NYU13_CLASSES
from dmtl.data.synthetic.street import LABEL7_CLASSES
from dmtl.tasks.kinds.colours import IGNORE_COLOUR
from dmtl.viz import class_palette, palette


@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_every_class_id_task_of_every_dataset_has_names_and_distinct_colours(dataset):
    info = DATASETS[dataset]
    for task, channels in info.channels.items():
        if task not in ("semseg", "human_parts", "sal"):
            continue
        if task in info.configurable_classes:
            continue  # its class count comes from the config: test_configurable_classes_...
        names = classes.known_class_names(dataset, task)
        assert names is not None and len(names) == channels, (dataset, task)
        assert classes.class_names(dataset, task, channels) == names
        colours = class_palette(dataset, task, channels)
        assert colours.shape == (channels, 3) and colours.dtype == np.uint8
        assert len({tuple(c) for c in colours}) == channels, (dataset, task)


def test_names_agree_with_the_readers_and_the_renderer():
    assert labelsets.NYUV2_13 == NYU13_CLASSES
    assert labelsets.CITYSCAPES_7 == LABEL7_CLASSES
    voc = labelsets.VOC_21
    assert (voc[9], voc[11], voc[15], voc[18], voc[20]) == (
        "chair", "diningtable", "person", "sofa", "tvmonitor",
    )  # fmt: skip
    parts = ("head", "torso", "luarm", "llarm", "luleg", "llleg")
    human_parts = labelsets.HUMAN_PARTS_7
    assert [human_parts[PART_OF[p]] for p in parts] == list(human_parts[1:])


def test_nyuv2_colours_avoid_the_colour_of_invalid_pixels():
    assert IGNORE_COLOUR not in labelsets.NYUV2.tasks["semseg"].colours


def test_the_synthetic_scenes_name_and_colour_classes_as_the_datasets_they_imitate():
    for synthetic, real in [
        ("synthetic", "nyuv2"),
        ("synthetic_pascal", "pascal_context"),
        ("synthetic_cityscapes", "cityscapes"),
    ]:
        assert classes.label_set(synthetic) == classes.label_set(real) == real
        for task, channels in DATASETS[real].channels.items():
            assert classes.class_names(synthetic, task, channels) == classes.class_names(
                real, task, channels
            )
            assert np.array_equal(
                class_palette(synthetic, task, channels), class_palette(real, task, channels)
            )


def test_unknown_datasets_and_lengths_fall_back():
    assert classes.class_names("mine", "semseg", 3) == ("class 0", "class 1", "class 2")
    assert classes.class_names("nyuv2", "semseg", 5)[4] == "class 4"
    assert classes.label_set("mine") is None and classes.label_set(None) is None
    assert np.array_equal(class_palette(None, "semseg", 5), palette(5))
    assert np.array_equal(class_palette("nyuv2", "semseg", 40), palette(40))


def test_configurable_classes_get_numbered_names_and_distinct_colours():
    configurable = [(name, t) for name, i in DATASETS.items() for t in i.configurable_classes]
    assert configurable == [("folder", "semseg")]
    for dataset, task in configurable:
        names = classes.class_names(dataset, task, 5)
        assert names == tuple(f"class {i}" for i in range(5))
        colours = class_palette(dataset, task, 5)
        assert colours.shape == (5, 3) and len({tuple(c) for c in colours}) == 5

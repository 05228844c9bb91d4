import pytest

from dmtl.errors import ConfigError
from dmtl.tasks import TASKS, resolve_tasks, standard_tasks


def test_default_tasks_follow_the_dataset_order_and_channels():
    specs = resolve_tasks("nyuv2")
    assert [s.name for s in specs] == ["semseg", "depth", "normals"] == standard_tasks("nyuv2")
    assert [s.channels for s in specs] == [13, 1, 3]


def test_subset_keeps_the_requested_order():
    assert [s.name for s in resolve_tasks("synthetic", ["normals", "semseg"])] == [
        "normals",
        "semseg",
    ]


def test_registry_directions():
    assert TASKS["semseg"].higher_is_better and not TASKS["depth"].higher_is_better
    assert TASKS["normals"].primary_metric == "mean"


@pytest.mark.parametrize(
    ("dataset", "names", "needle"),
    [
        ("nyuv2", ["semseg", "sementic"], "unknown task 'sementic'"),
        ("nyuv2", ["edge"], "not available on dataset 'nyuv2'"),
        ("imagenet", None, "unknown dataset 'imagenet'"),
        ("nyuv2", ["depth", "depth"], "twice"),
        ("nyuv2", [], "empty"),
    ],
)
def test_bad_task_lists_name_the_problem(dataset, names, needle):
    with pytest.raises(ConfigError, match=needle):
        resolve_tasks(dataset, names)


@pytest.mark.parametrize(
    ("dataset", "names", "channels"),
    [
        ("cityscapes", ["semseg", "depth"], [7, 1]),
        ("cityscapes19", ["semseg", "depth"], [19, 1]),
        ("pascal_context", ["semseg", "human_parts", "sal", "normals", "edge"], [21, 7, 2, 3, 1]),
    ],
)
def test_benchmark_task_sets(dataset, names, channels):
    specs = resolve_tasks(dataset)
    assert [s.name for s in specs] == names == standard_tasks(dataset)
    assert [s.channels for s in specs] == channels

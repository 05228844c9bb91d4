import pickle

import pytest
import torch

from dmtl.data.labels import load_split_file, make_label_mask, save_split_file
from dmtl.errors import ConfigError, DataError, MissingDataError


def test_full_labels_everything():
    assert make_label_mask("full", 7, 3).all()


@pytest.mark.parametrize(("n", "k"), [(795, 3), (10, 3), (11, 5), (4, 1)])
def test_onelabel_has_one_task_per_sample_and_is_balanced(n, k):
    mask = make_label_mask("onelabel", n, k, seed=3)
    assert mask.shape == (n, k) and mask.dtype == torch.bool
    assert (mask.sum(1) == 1).all()
    per_task = mask.sum(0)
    assert per_task.max() - per_task.min() <= 1
    if (n, k) == (795, 3):
        assert per_task.tolist() == [265, 265, 265]  # as in the MTPSL NYUv2 split


def test_randomlabels_uses_one_to_k_minus_one_tasks_and_varies():
    mask = make_label_mask("randomlabels", 2000, 3, seed=1)
    counts = mask.sum(1)
    assert counts.min() == 1 and counts.max() == 2
    # every task and every count occur, roughly uniformly
    assert (mask.float().mean(0) - 0.5).abs().max() < 0.05
    assert abs((counts == 1).float().mean() - 0.5) < 0.05


def test_randomlabels_single_task_keeps_the_label():
    assert make_label_mask("randomlabels", 5, 1).all()


def test_draws_are_seeded():
    a = make_label_mask("onelabel", 50, 3, seed=7)
    assert torch.equal(a, make_label_mask("onelabel", 50, 3, seed=7))
    assert not torch.equal(a, make_label_mask("onelabel", 50, 3, seed=8))


def test_unknown_setting_names_it():
    with pytest.raises(ConfigError, match="unknown label setting 'halflabel'"):
        make_label_mask("halflabel", 5, 3)


def test_split_file_round_trip_in_mtpsl_format(tmp_path):
    mask = make_label_mask("randomlabels", 12, 3, seed=0)
    path = tmp_path / "randomlabels.pth"
    save_split_file(mask, path)
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"labels_weights"} and raw["labels_weights"].dtype == torch.float32
    assert torch.equal(load_split_file(path, 12, 3), mask)


def test_split_file_of_wrong_size_names_file_and_sizes(tmp_path):
    path = tmp_path / "onelabel.pth"
    save_split_file(make_label_mask("onelabel", 12, 3), path)
    with pytest.raises(DataError, match=r"onelabel.pth has shape \[N=12, K=3\].*N=13"):
        load_split_file(path, 13, 3)
    with pytest.raises(DataError, match="K=2"):
        load_split_file(path, 12, 2)


def test_split_file_missing_or_not_mtpsl(tmp_path):
    with pytest.raises(MissingDataError, match="nope.pth"):
        load_split_file(tmp_path / "nope.pth", 3, 3)
    wrong = tmp_path / "wrong.pth"
    torch.save({"weights": torch.ones(3, 3)}, wrong)
    with pytest.raises(DataError, match="labels_weights"):
        load_split_file(wrong, 3, 3)
    fractional = tmp_path / "fractional.pth"
    torch.save({"labels_weights": torch.full((3, 3), 0.5)}, fractional)
    with pytest.raises(DataError, match="only 0 and 1"):
        load_split_file(fractional, 3, 3)


class _Exploit:
    def __reduce__(self):
        return (print, ("pickled code ran",))


def test_split_file_never_executes_pickled_code(tmp_path, capsys):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as fh:
        pickle.dump({"labels_weights": _Exploit()}, fh)
    with pytest.raises(DataError, match="could not be read safely"):
        load_split_file(path, 3, 3)
    assert "pickled code ran" not in capsys.readouterr().out

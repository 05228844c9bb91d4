"""Third-party tips and warnings a user cannot act on are silenced, and nothing else is."""

from __future__ import annotations

import logging
import warnings

from lightning.pytorch.utilities.rank_zero import rank_zero_info

from dmtl.cli.quiet import TIP_LOGGERS, git_root, quiet_third_party, quiet_wandb_init


def test_lightning_tips_are_dropped_and_its_other_lines_kept(caplog):
    quiet_third_party()
    with caplog.at_level(logging.INFO):
        rank_zero_info("💡 Tip: For seamless cloud logging, try installing [litlogger]")
        rank_zero_info("GPU available: False, used: False")
    messages = [r.getMessage() for r in caplog.records if r.name in TIP_LOGGERS]
    assert messages == ["GPU available: False, used: False"]


def test_the_listed_warnings_are_ignored_and_others_still_shown():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_third_party()
        warnings.warn("The dirpath has changed from 'a' to 'b', therefore ...", stacklevel=1)
        warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated, use ...", stacklevel=1)
        warnings.warn("The number of training batches (4) is smaller than ...", stacklevel=1)
    assert [str(w.message)[:14] for w in caught] == ["The number of "]


def test_wandb_init_loses_anonymous_and_gets_the_git_root_above_the_run(tmp_path):
    (tmp_path / ".git").mkdir()
    init = {"anonymous": None, "dir": str(tmp_path / "runs" / "dmtl" / "abc"), "project": "p"}
    quiet_wandb_init(init)
    assert "anonymous" not in init and init["project"] == "p"
    assert init["settings"] == {"git_root": str(tmp_path.resolve())}


def test_wandb_init_outside_git_leaves_git_out_and_keeps_given_settings(tmp_path):
    init = {"anonymous": True, "dir": str(tmp_path / "r"), "settings": {"disable_git": False}}
    quiet_wandb_init(init)
    assert init["anonymous"] is True and init["settings"] == {"disable_git": False}
    bare = {"dir": str(tmp_path / "r")}
    quiet_wandb_init(bare)
    root = git_root(tmp_path)  # None where tmp_path is in no repository (the usual case)
    assert bare["settings"] == ({"git_root": str(root)} if root else {"disable_git": True})

"""The ``dmtl`` command: LightningCLI with dmtl's subcommands, defaults and one-line errors.

``app`` holds ``DMTLCLI`` and ``main``/``console`` (the entry points); beside it what only the
command line needs: ``parse_errors`` (argparse's errors as one line, with "did you mean"),
``packaged_configs`` (``dmtl://`` configs of an installed package), ``preflight`` (accelerator and
logger extras checked before anything is built), ``quiet`` (third-party chatter),
``wandb_names``, ``checkpoint_data`` and ``checkpoint_run`` (what ``test``/``predict`` take from a
checkpoint and where they write), ``plot_command`` (``dmtl plot``).
"""

from dmtl.cli.app import DMTLCLI, console, main
from dmtl.cli.packaged_configs import PACKAGED_CONFIGS, packaged_config, resolve_config_args

__all__ = [
    "DMTLCLI",
    "PACKAGED_CONFIGS",
    "console",
    "main",
    "packaged_config",
    "resolve_config_args",
]

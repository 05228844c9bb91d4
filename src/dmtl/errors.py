"""Errors that dmtl raises for bad input; the CLI prints them as one line."""


class DMTLError(Exception):
    """Base class of every error that describes bad user input (config, files, arrays)."""


class ConfigError(DMTLError, ValueError):
    """A configuration value is unknown or inconsistent (task name, label setting, ...)."""


class DataError(DMTLError, ValueError):
    """A data file exists but its content is wrong (shape, dtype, corrupt array, split size)."""


class MissingDataError(DMTLError, FileNotFoundError):
    """A file or directory that the dataset needs does not exist."""


class TrainingError(DMTLError, RuntimeError):
    """Training cannot go on (a non-finite loss, out of memory); the message says what to change."""

"""The exception hierarchy of pdafpy.

Every error raised on purpose by pdafpy derives from :class:`PdafpyError`, so a caller (the command
line, a test, a user's script) can tell a diagnosed problem from a bug. Messages name the key, file
or value at fault and what was expected.
"""

from __future__ import annotations

__all__ = [
    "PdafpyError",
    "ConfigError",
    "LayoutError",
    "InputFileError",
    "ModelError",
    "OutputError",
    "RefusedOnEveryRank",
]


class PdafpyError(Exception):
    """Base class of all errors that pdafpy raises deliberately."""


class ConfigError(PdafpyError, ValueError):
    """A configuration key or option has a wrong type, a value out of range, or an inconsistency."""


class LayoutError(PdafpyError, ValueError):
    """The MPI world cannot be arranged into the requested model tasks and filter ranks."""


class InputFileError(PdafpyError, OSError):
    """An input file is missing or cannot be used; the message names the file and the reason."""


class ModelError(PdafpyError, RuntimeError):
    """A model failed to advance or rejected its input (e.g. a solver that did not converge)."""


class OutputError(PdafpyError, OSError):
    """An output file could not be written (a full disk, a write error); the message names the
    file and the operating system's reason. Records in files already closed stay valid."""


class RefusedOnEveryRank(PdafpyError):
    """Bad input found by a check that every rank ran on the same inputs, so every rank raises
    it alike: a command reports it once and exits with status 2, with no rank left waiting."""

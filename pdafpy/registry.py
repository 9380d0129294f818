"""What installed packages register with pdafpy, through entry points.

- ``pdafpy.models``: model name (``model = NAME``) -> the model class (:mod:`pdafpy.model`);
- ``pdafpy.experiments``: model name -> the experiment that runs it, where not pdafpy's generic
  one (:mod:`pdafpy.experiment`);
- ``pdafpy.observations``: observation type (``[[observations]] type``) -> its configuration
  section;
- ``pdafpy.report``: model name -> ``write_report(outdir, figdir, cells)`` of ``pdafpy report``;
- ``pdafpy.commands``: command name -> ``main(argv)`` of ``pdafpy NAME`` (``pdafpy tutorial``);
- ``pdafpy.verify``, ``pdafpy.bench``: suite name -> ``main(argv)`` of ``pdafpy verify`` /
  ``pdafpy bench``.

A package adds to a group with one line in its ``setup.py`` (``entry_points``); pdafpy never
imports ``models/`` or any other package by name.
"""

from __future__ import annotations

import importlib
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from .errors import ConfigError

__all__ = ["registered", "load_registered"]


def registered(group: str) -> dict[str, EntryPoint]:
    """The entry points of ``group`` by name."""
    return {ep.name: ep for ep in entry_points(group=group)}


def load_registered(group: str, name: str, key: str) -> Any:
    """The object registered as ``name`` in ``group``, or named ``package.module:Object``.

    Parameters
    ----------
    group : str
        Entry-point group.
    name : str
        A registered name, or ``package.module:Object`` for something not installed as a
        package (found on ``sys.path``).
    key : str
        The configuration key that named it, for messages.

    Raises
    ------
    ConfigError
        If nothing of that name is registered or importable; the message lists what is.
    """
    if ":" in name:
        module, _, attr = name.partition(":")
        if not (all(part.isidentifier() for part in module.split(".")) and attr.isidentifier()):
            raise ConfigError(f"{key} = {name!r}: expected a registered name or "
                              "package.module:Object")
        try:
            return getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"{key} = {name!r}: cannot import it ({exc})") from None
    found = registered(group)
    if name not in found:
        raise ConfigError(f"{key} = {name!r}: not installed; installed: "
                          f"{', '.join(sorted(found)) or 'none'} (or give package.module:Class)")
    return found[name].load()

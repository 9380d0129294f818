"""Calibrations of observation types from model runs (pdafpy calibrate NAME: bias, ...).

``pdafpy calibrate NAME [OPTIONS]`` runs the calibration registered as ``NAME`` under the
entry-point group ``pdafpy.calibrate`` (its ``main(argv)``): ``bias`` is pdafpy's own
(:mod:`pdafpy.obs.calibration`, docs/bias-correction.md); installed packages add others.
``pdafpy calibrate --help`` lists them, ``pdafpy calibrate NAME --help`` gives a calibration's
options. A diagnosed error (:class:`~pdafpy.errors.PdafpyError`), an unknown calibration or one
whose package cannot be imported is reported in one line, with exit status 2.
"""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

from ..errors import PdafpyError
from ..registry import registered

__all__ = ["main", "CALIBRATE_GROUP"]

#: Entry-point group of the calibrations: name -> ``main(argv) -> int``.
CALIBRATE_GROUP = "pdafpy.calibrate"
_PROG = "pdafpy calibrate"


def _summary(module: str) -> str:
    """The first line of a calibration module's docstring, or why it cannot be imported."""
    try:
        doc = importlib.import_module(module).__doc__ or module
    except ImportError as exc:
        return f"(cannot be loaded: {exc})"
    return doc.strip().split("\n")[0].rstrip(".")


def _usage() -> str:
    found = registered(CALIBRATE_GROUP)
    lines = [f"usage: {_PROG} NAME [OPTIONS]   ({_PROG} NAME --help for its options)", "",
             "calibrations:"]
    width = max((len(name) for name in found), default=0)
    lines += [f"  {name:<{width}}  {_summary(ep.module)}" for name, ep in sorted(found.items())]
    return "\n".join(lines if found else lines + ["  none installed"])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``pdafpy calibrate``; returns the exit status (0, or 2 after an error
    printed in one line)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(_usage())
        return 0
    if not argv or argv[0].startswith("-"):
        print(_usage(), file=sys.stderr)
        print(f"{_PROG}: error: expected a calibration NAME first", file=sys.stderr)
        return 2
    name, rest = argv[0], argv[1:]
    found = registered(CALIBRATE_GROUP)
    if name not in found:
        print(f"{_PROG}: error: unknown calibration {name!r}; installed: "
              f"{', '.join(sorted(found)) or 'none'}", file=sys.stderr)
        return 2
    try:
        calibrate = found[name].load()
    except ImportError as exc:
        print(f"{_PROG}: error: calibration {name!r} is registered but cannot be loaded "
              f"({exc})", file=sys.stderr)
        return 2
    try:
        return int(calibrate(rest) or 0)
    except PdafpyError as exc:
        print(f"{_PROG} {name}: error: {exc}", file=sys.stderr)
        return 2

"""Per-function profiles of a benchmark's hot phase (``--profile N`` of the scripts/bench_*.py
scripts): where the time goes before anything is made faster.

:func:`profiled` runs a call under :mod:`cProfile` and returns its result with the profile;
:func:`profile_table` gives the ``N`` functions with the most time of their own (excluding the
functions they call) as text, with their cumulative time and call counts.
"""

from __future__ import annotations

import cProfile
import io
import pstats
from typing import Any, Callable

__all__ = ["profiled", "profile_table"]


def profiled(call: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, pstats.Stats]:
    """``call(*args, **kwargs)`` under cProfile: its result and the profile."""
    profile = cProfile.Profile()
    result = profile.runcall(call, *args, **kwargs)
    return result, pstats.Stats(profile)


def profile_table(stats: pstats.Stats, top: int = 15) -> str:
    """The ``top`` functions by own time, one line each: own seconds, cumulative seconds,
    calls, and ``file:line(function)`` with the file's path shortened to its last two parts."""
    rows = []
    for (path, line, name), (_, calls, own, cumulative, _) in stats.stats.items():
        short = "/".join(path.replace("\\", "/").split("/")[-2:])
        rows.append((own, cumulative, calls, f"{short}:{line}({name})"))
    rows.sort(key=lambda r: r[0], reverse=True)
    out = io.StringIO()
    out.write(f"{'own s':>9s} {'cumul s':>9s} {'calls':>9s}  function\n")
    for own, cumulative, calls, where in rows[:top]:
        out.write(f"{own:9.3f} {cumulative:9.3f} {calls:9d}  {where}\n")
    return out.getvalue()

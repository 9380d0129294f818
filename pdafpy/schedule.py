"""When the cycle analyses: the union of the observation types' clocks.

Each observation type runs on its own clock (every ``interval`` from ``first``); the analysis
times are the union of all clocks up to the end of the run, and at each analysis time exactly the
types whose clock strikes then are due. The forecast windows are half-open, ``(t_prev, t]``.
Each type takes into an analysis the observations of its own *observation window*, half-open
too: ``(t - w, t]`` with the analysis at the window's end, or ``(t - w/2, t + w/2]`` at its
centre, ``w`` at most the type's interval, so an observation valid at time ``s`` belongs to at most
one window (none when the windows leave gaps). Times are in the
model's time unit (seconds for the land models, model time units for Lorenz-96, steps for PDAF's
tutorial), counted from the start of the run.

>>> s = AnalysisSchedule([24.0, 36.0], end=96.0)
>>> s.times.tolist(), s.due(2)
([24.0, 36.0, 48.0, 72.0, 96.0], [0])
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .errors import ConfigError

__all__ = ["AnalysisSchedule"]

#: Two clock readings closer than this (relative to the larger) are the same time.
REL_TOL = 1e-9


class AnalysisSchedule:
    """Analysis times and the observation types due at each.

    Parameters
    ----------
    intervals : sequence of float
        Each observation type's interval (> 0), in model time units.
    end : float
        End of the run; the last analysis is at or before it.
    firsts : sequence of float, optional
        Each type's first observation time (default: its interval).
    windows : sequence of float, optional
        Each type's observation window length, in ``(0, interval]`` (default: its interval).
    centred : sequence of bool, optional
        Whether each type's analysis time is its window's centre (default: its end).
    """

    def __init__(self, intervals: Sequence[float], end: float,
                 firsts: Sequence[float] | None = None,
                 windows: Sequence[float] | None = None,
                 centred: Sequence[bool] | None = None):
        self.intervals = np.asarray(intervals, dtype=float)
        self.firsts = (self.intervals.copy() if firsts is None
                       else np.asarray(firsts, dtype=float))
        self.windows = (self.intervals.copy() if windows is None
                        else np.asarray(windows, dtype=float))
        self.centred = (np.zeros(self.intervals.size, dtype=bool) if centred is None
                        else np.asarray(centred, dtype=bool))
        if np.any(~(self.intervals > 0)) or self.firsts.shape != self.intervals.shape:
            raise ConfigError(f"observation intervals must be > 0 with one first time each, got "
                              f"{self.intervals.tolist()}")
        if self.windows.shape != self.intervals.shape or self.centred.shape != \
                self.intervals.shape or np.any(~(self.windows > 0)) or np.any(
                    self.windows > self.intervals * (1 + REL_TOL)):
            raise ConfigError(f"observation windows must be in (0, interval], one per type, got "
                              f"{self.windows.tolist()} for intervals {self.intervals.tolist()}")
        self.end = float(end)
        clocks = [first + interval * np.arange(int(np.floor((end - first) / interval
                                                              + REL_TOL)) + 1)
                  for interval, first in zip(self.intervals, self.firsts) if first <= end
                  * (1 + REL_TOL)]
        every = np.sort(np.concatenate(clocks)) if clocks else np.zeros(0)
        keep = np.ones(every.size, dtype=bool)
        keep[1:] = np.diff(every) > REL_TOL * np.maximum(1.0, np.abs(every[1:]))
        self.times = every[keep]
        self._due = [self._types_at(t) for t in self.times]

    def _types_at(self, t: float) -> list[int]:
        k = (t - self.firsts) / self.intervals
        return [int(i) for i in np.flatnonzero((np.abs(k - np.round(k)) < REL_TOL * np.maximum(
            1.0, np.abs(k))) & (k > -REL_TOL))]

    def __len__(self) -> int:
        return int(self.times.size)

    def due(self, index: int) -> list[int]:
        """The observation types due at analysis ``index`` (in type order)."""
        return list(self._due[index])

    def observation_window(self, index: int, k: int) -> tuple[float, float]:
        """Type ``k``'s observation window ``(lo, hi]`` of analysis ``index``."""
        t, w = float(self.times[index]), float(self.windows[k])
        return (t - 0.5 * w, t + 0.5 * w) if self.centred[k] else (t - w, t)

    def window(self, index: int) -> tuple[float, float]:
        """The forecast window ``(t_prev, t]`` that ends at analysis ``index``."""
        return (float(self.times[index - 1]) if index else 0.0), float(self.times[index])

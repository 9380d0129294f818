"""A one-line progress bar on a terminal that log records can interleave with.

The bar is drawn on the last line of ``stream`` (``\\r`` then the bar, no newline). Log records
sent through a handler on the same stream would otherwise be appended to the bar's line, so
:class:`ProgressBar` installs a :class:`logging.Filter` on the root logger's handlers that erases
the bar before each record; the next :meth:`ProgressBar.update` draws it again below the record.
On anything but a terminal (a Slurm output file, a pipe) the bar stays off and the log lines are
the only progress report.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO

__all__ = ["ProgressBar", "format_duration"]


def format_duration(seconds: float) -> str:
    """``seconds`` as ``"42 s"``, ``"3 min 05 s"`` or ``"2 h 07 min"``."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


class _EraseBar(logging.Filter):
    """Erases the bar before a record is written (never drops a record)."""

    def __init__(self, bar: "ProgressBar") -> None:
        super().__init__()
        self.bar = bar

    def filter(self, record: logging.LogRecord) -> bool:
        self.bar.erase()
        return True


class ProgressBar:
    """Progress of ``total`` steps with the elapsed time and an estimate of the time left.

    Parameters
    ----------
    total : int
        Number of steps (e.g. assimilation cycles).
    stream : file, optional
        Where to draw (default ``sys.stderr``).
    enabled : bool or None
        ``None``: on when ``stream`` is a terminal.
    width : int
        Characters of the bar itself.
    """

    def __init__(self, total: int, stream: IO[str] | None = None, enabled: bool | None = None,
                 width: int = 30) -> None:
        self.total = max(int(total), 1)
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = bool(isatty and isatty()) if enabled is None else bool(enabled)
        self.width = width
        self._start = time.perf_counter()
        self._first_done = 0
        self._shown = False
        self._filter = _EraseBar(self)
        if self.enabled:
            for handler in logging.getLogger().handlers:
                handler.addFilter(self._filter)

    def line(self, done: int, text: str = "", elapsed: float | None = None) -> str:
        """The bar after ``done`` steps: ``[#####-----]  12/30 <text>  1 min 02 s, ~1 min 33 s
        left`` (the estimate from the steps of this run, once one is done)."""
        elapsed = time.perf_counter() - self._start if elapsed is None else elapsed
        filled = int(self.width * min(done, self.total) / self.total)
        bar = "#" * filled + "-" * (self.width - filled)
        out = f"[{bar}] {done:{len(str(self.total))}d}/{self.total}"
        if text:
            out += f" {text}"
        out += f"  {format_duration(elapsed)}"
        steps = done - self._first_done
        if 0 < done < self.total and steps > 0:
            out += f", ~{format_duration(elapsed / steps * (self.total - done))} left"
        return out

    def start(self, done: int = 0) -> None:
        """Count the time from now, ``done`` steps already done (e.g. after a restart)."""
        self._start = time.perf_counter()
        self._first_done = done

    def update(self, done: int, text: str = "") -> None:
        """Draw the bar after ``done`` steps (nothing when disabled)."""
        if not self.enabled:
            return
        self.stream.write("\r" + self.line(done, text) + "\x1b[K")
        self.stream.flush()
        self._shown = True

    def erase(self) -> None:
        """Erase the bar's line so that something else can be written there."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False

    def close(self) -> None:
        """Leave the final bar on its own line and stop interleaving with the log."""
        if self.enabled:
            if self._shown:
                self.stream.write("\n")
                self.stream.flush()
                self._shown = False
            for handler in logging.getLogger().handlers:
                handler.removeFilter(self._filter)

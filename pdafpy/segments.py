"""Segmented output files: one closed NetCDF file per checkpoint interval.

HDF5, and so NetCDF-4, gives no crash consistency for a file open for writing: a job killed, or
a disk that fills, while a file is open can leave it unreadable. pdafpy therefore writes each
output ``NAME.nc`` as a sequence of segments ``NAME.00000.nc``, ``NAME.00001.nc``, ..., one per
checkpoint interval (a run without checkpoints writes one). A segment is written under a
temporary name unique to the run (``NAME.00003.nc.part-HOST-PID``) and renamed into place when it
is closed, at the checkpoint that ends its interval; a failure loses at most the open segment,
and a restart from the last checkpoint rewrites it.

Segments share their static variables and attributes and continue each other along the record
dimension (``time`` for ensemble files, ``obs`` for observation files), so tools read them as
one: ``xarray.open_mfdataset("out/assimilation.*.nc")``, ``netCDF4.MFDataset`` for the ensemble
files (NETCDF4_CLASSIC), or :func:`open_output` and :func:`segment_paths` here. Wherever pdafpy
reads one of its outputs (``truth.nc`` of ``[verification] truth``, ``observations.nc`` as an
observation file, ``pdafpy report``), the name ``NAME.nc`` stands for its segments.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import socket
from pathlib import Path
from typing import Any

from .errors import InputFileError, OutputError

__all__ = ["SegmentNames", "SegmentedWriter", "has_segments", "segment_paths", "open_output",
           "write_failure", "DIGITS"]

log = logging.getLogger(__name__)

#: Digits of the segment number (100 000 segments: daily checkpoints for 270 years).
DIGITS = 5
#: Free space [bytes] below which a failed write is reported as a full file system.
FULL_BYTES = 1 << 20


class SegmentNames:
    """The file names of the segments of one output ``NAME.nc``.

    Parameters
    ----------
    path : Path
        The output's name, ``NAME.nc``.
    """

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.stem = self.path.name[:-3] if self.path.name.endswith(".nc") else self.path.name
        self.tag = f"{socket.gethostname()}-{os.getpid()}"

    def final(self, index: int) -> Path:
        """Segment ``index`` once closed: ``NAME.NNNNN.nc``."""
        return self.path.with_name(f"{self.stem}.{index:0{DIGITS}d}.nc")

    def part(self, index: int) -> Path:
        """Segment ``index`` while open, a name unique to this process."""
        return self.path.with_name(f"{self.final(index).name}.part-{self.tag}")

    def files(self) -> list[tuple[int, Path, bool]]:
        """Every segment file of this output in its folder: (number, path, whether still open,
        i.e. a temporary ``.part-`` name), in order of number."""
        pattern = re.compile(rf"{re.escape(self.stem)}\.(\d{{{DIGITS}}})\.nc(\.part-.+)?$")
        found = [(int(m.group(1)), p, m.group(2) is not None)
                 for p in self.path.parent.glob(f"{self.stem}.*") if (m := pattern.match(p.name))]
        return sorted(found)

    def closed(self) -> list[tuple[int, Path]]:
        """The closed segments: (number, path), in order."""
        return [(n, p) for n, p, is_open in self.files() if not is_open]

    def clear_from(self, index: int) -> None:
        """Remove segments ``index`` onwards and every open segment left by a failed run (the
        output folder's lock guarantees that no other run is writing them)."""
        for number, p, is_open in self.files():
            if is_open or number >= index:
                p.unlink()
                log.debug("removed %s (to be rewritten)", p)


def has_segments(path: Path | str) -> bool:
    """Whether some closed segment of output ``path`` (``NAME.nc``) exists."""
    return bool(SegmentNames(path).closed())


def segment_paths(path: Path | str) -> list[Path]:
    """The files that make up output ``path`` (``NAME.nc``), in order.

    ``path`` itself when it exists (a file written by another tool, or whole); else its closed
    segments ``NAME.00000.nc`` ... with no gap.

    Raises
    ------
    InputFileError
        If neither exists, or a segment is missing between the first and the last.
    """
    path = Path(path)
    if path.is_file():
        return [path]
    names = SegmentNames(path)
    found = names.closed()
    if not found:
        raise InputFileError(f"{path}: not found (neither the file nor its segments "
                             f"{names.final(0).name}, ...)")
    numbers = [n for n, _ in found]
    if numbers != list(range(len(numbers))):
        missing = sorted(set(range(numbers[-1] + 1)) - set(numbers))
        raise InputFileError(f"{path}: segment {names.final(missing[0]).name} is missing "
                             f"(found {len(numbers)} of {numbers[-1] + 1})")
    return [p for _, p in found]


def open_output(path: Path | str) -> Any:
    """An ensemble output ``NAME.nc`` opened for reading as one dataset: a
    ``netCDF4.Dataset`` of a single file, a ``netCDF4.MFDataset`` of several segments (joined
    along ``time``). Use as a context manager.

    Raises
    ------
    InputFileError
        If the output is missing or a segment cannot be read.
    """
    import netCDF4

    paths = segment_paths(path)
    try:
        if len(paths) == 1:
            return netCDF4.Dataset(paths[0])
        return netCDF4.MFDataset([str(p) for p in paths], aggdim="time")
    except (OSError, RuntimeError, ValueError) as exc:
        raise InputFileError(f"{path}: cannot read its segments ({exc})") from None


def write_failure(path: Path, exc: BaseException) -> OutputError:
    """The error to raise when writing ``path`` failed with ``exc``, in one line: the operating
    system's reason (``No space left on device`` when the file system is full, which the NetCDF
    and HDF5 libraries report only as an "HDF error" or a page of their error stack) and the
    path."""
    path = Path(path)
    try:
        free = shutil.disk_usage(path.parent).free
    except OSError:
        free = None
    if isinstance(exc, OSError) and exc.errno:
        reason = exc.strerror or os.strerror(exc.errno)
    elif free is not None and free < FULL_BYTES:
        reason = f"{os.strerror(errno.ENOSPC)} ({free} bytes free)"
    else:
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        reason = lines[0][:200]
    return OutputError(f"{path}: writing failed: {reason}")


class SegmentedWriter:
    """Base of pdafpy's output writers: the segment bookkeeping of one output ``NAME.nc``.

    A subclass creates a segment's dataset in :meth:`_create` (static variables and attributes)
    and appends each record through :meth:`dataset`, which opens the next segment when none is
    open, then calls :meth:`written`. :meth:`roll` closes the open segment at a checkpoint,
    :meth:`close` at the end of the run. One process writes (``writes``); the others call the
    same methods (without :meth:`dataset`) and keep the same counters.

    Parameters
    ----------
    path : Path
        The output's name, ``NAME.nc``.
    writes : bool
        Whether this process writes the files.
    """

    def __init__(self, path: Path | str, writes: bool):
        self.path = Path(path)
        self.names = SegmentNames(self.path)
        self.writes = writes
        self.segment = 0          # the segment written next, or open
        self.rows = 0             # records written, by this run and the runs it continues
        self._ds: Any = None
        self._pending = False     # a record was written into the current segment
        self._cleared = False

    @property
    def part(self) -> Path:
        """The open segment's temporary name."""
        return self.names.part(self.segment)

    def _create(self, path: Path) -> Any:
        """Create a segment at ``path`` (NetCDF, static variables written) and return it."""
        raise NotImplementedError

    def dataset(self) -> Any:
        """The open segment, a ``netCDF4.Dataset`` (opened now when none is; writing process
        only). Raises OutputError naming the file when it cannot be created."""
        if self._ds is None:
            self._clear_once()
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._ds = self._create(self.part)
            except (OSError, RuntimeError) as exc:
                raise write_failure(self.part, exc) from None
        return self._ds

    def written(self, rows: int) -> None:
        """Count ``rows`` records just written and flush the open segment to disk (every
        process calls it; a write error raises OutputError naming the file)."""
        self.rows += rows
        self._pending = self._pending or rows > 0
        if self._ds is not None:
            try:
                self._ds.sync()
            except (OSError, RuntimeError) as exc:
                raise write_failure(self.part, exc) from None

    def _clear_once(self) -> None:
        """Remove what an earlier run left from the segment this run starts with onwards."""
        if not self._cleared:
            self.names.clear_from(self.segment)
            self._cleared = True

    def roll(self) -> None:
        """Close the open segment and rename it into place; the next record opens the next
        one. An interval without records leaves no file and no gap in the numbering."""
        if self._ds is not None:
            ds, self._ds = self._ds, None
            try:
                ds.close()
                os.replace(self.part, self.names.final(self.segment))
            except (OSError, RuntimeError) as exc:
                raise write_failure(self.part, exc) from None
        if self._pending:
            self.segment += 1
            self._pending = False

    def state(self) -> dict[str, int]:
        """What a checkpoint keeps (taken after :meth:`roll`): the next segment and the
        records written so far."""
        return {"segment": self.segment, "rows": self.rows}

    def resume(self, saved: dict[str, Any]) -> None:
        """Continue an earlier run after its checkpoint (:meth:`state`): its segments before
        ``segment`` are kept, the later ones rewritten."""
        self.segment, self.rows = int(saved["segment"]), int(saved["rows"])

    def close(self) -> None:
        """Close the last segment (renamed into place)."""
        if self.writes:
            self._clear_once()
        self.roll()

"""Station series in pdafpy's own CSV layouts: cosmic-ray neutron sensors and wells.

Both layouts (docs/products.md) are UTF-8 comma-separated text with one header row naming the
columns (any order, further columns ignored), optionally preceded by comment lines starting
with ``#``, and one row per observation:

- ``station`` (id), ``time`` (ISO 8601 UTC, a trailing ``Z`` allowed), and either ``latitude``,
  ``longitude`` [degrees, WGS 84] or ``x``, ``y`` [m, the model grid's CRS];
- optional ``qc``: 0 good, 1 rejected, 2 withheld for validation (the observation file's
  meanings);
- CRNS (``read_crns``, type ``crns_soil_moisture``): ``soil_moisture`` [m3 m-3], optional
  ``soil_moisture_error`` [m3 m-3] and ``depth`` (effective sensing depth [m]);
- wells (``read_wells``, type ``groundwater_level``, the water-table depth below ground [m]):
  ``depth_to_water`` [m below ground, positive down], or ``head`` [m above sea level] with
  ``ground_elevation`` [m above sea level] (depth = ground elevation - head); optional
  ``screen_depth`` [m below ground] (the record's depth) and ``error`` [m].

An empty field, ``nan`` or ``NA`` is a missing value: a row without its value is no record.
"""

from __future__ import annotations

import csv
import io
from itertools import compress
from pathlib import Path
from typing import Mapping

import numpy as np

from pdafpy.errors import InputFileError
from pdafpy.obs.records import QC_MEANINGS, QC_REJECTED

from .common import (GRID_COORDINATES, LONLAT, ProductObservations, ReadOptions, drop_reasons,
                     iso_utc_to_posix, require, with_error_fallback)

__all__ = ["read_crns", "read_wells", "read_table", "StationTable"]

_MISSING = ("", "nan", "na")


class StationTable:
    """The columns of a station CSV file.

    Attributes
    ----------
    path : Path
        The file.
    columns : dict
        Column name -> ``(m,)`` str ndarray (stripped).
    lines : (m,) int ndarray
        The file line of each row (for messages).
    """

    def __init__(self, path: Path, columns: Mapping[str, np.ndarray], lines: np.ndarray):
        self.path, self.columns, self.lines = path, dict(columns), lines

    @property
    def size(self) -> int:
        """Number of rows."""
        return int(self.lines.size)

    def has(self, name: str) -> bool:
        """Whether the header names column ``name``."""
        return name in self.columns

    def text(self, name: str) -> np.ndarray:
        """Column ``name`` as text; InputFileError naming the file and the column if absent."""
        require(self.has(name), self.path, f"column {name!r} is missing (columns: "
                f"{', '.join(self.columns) or 'none'})")
        return self.columns[name]

    def numbers(self, name: str) -> np.ndarray:
        """Column ``name`` as float, NaN where missing."""
        text = self.text(name)
        missing = np.isin(np.char.lower(text), _MISSING)
        try:
            return np.where(missing, "nan", text).astype(float)
        except ValueError:
            bad = next(k for k, v in enumerate(text.tolist())
                       if not missing[k] and not _is_number(v))
            raise InputFileError(f"{self.path}: column {name!r}, line {self.lines[bad]}: "
                                 f"{text[bad]!r} is not a number") from None


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def read_table(path: Path | str) -> StationTable:
    """The header and rows of a CSV file in pdafpy's station layout.

    Raises
    ------
    InputFileError
        A missing or unreadable file, no header, a row with another number of fields than the
        header, naming the file and the line.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: not readable as UTF-8 text ({exc})") from None
    lines = text.splitlines(keepends=True)
    skipped = next((k for k, line in enumerate(lines)
                    if line.strip() and not line.lstrip().startswith("#")), len(lines))
    require(skipped < len(lines), path, "no header row (expected column names, e.g. "
            "station,time,latitude,longitude,...)")
    try:
        rows = list(csv.reader(io.StringIO("".join(lines[skipped:]))))
    except csv.Error as exc:
        raise InputFileError(f"{path}: not CSV ({exc})") from None
    header = [name.strip() for name in rows[0]]
    require(len(set(header)) == len(header), path, f"header: a column is named twice "
            f"({', '.join(header)})")
    body = rows[1:]
    lengths = np.fromiter(map(len, body), dtype=np.int64, count=len(body))
    file_lines = skipped + 2 + np.arange(len(body))
    given = lengths > 0                                     # blank lines are no rows
    body = list(compress(body, given))
    lengths, file_lines = lengths[given], file_lines[given]
    wrong = np.flatnonzero(lengths != len(header))
    if wrong.size:
        k = int(wrong[0])
        raise InputFileError(f"{path}: line {file_lines[k]}: {lengths[k]} fields, the header "
                             f"has {len(header)} ({','.join(header)})")
    columns = zip(*body) if body else ([] for _ in header)
    arrays = {name: np.char.strip(np.asarray(list(values), dtype=str))
              for name, values in zip(header, columns)}
    return StationTable(path, arrays, file_lines)


def read_crns(path: Path | str, options: ReadOptions) -> ProductObservations:
    """CRNS soil moisture series (see the module notes) as ``crns_soil_moisture`` records.

    Raises
    ------
    InputFileError
        A missing column, a field that is not a number or a time, a ``qc`` outside 0-2, naming
        the file, the column and the line; no error and no ``--error``.
    """
    table = read_table(path)
    value = table.numbers("soil_moisture")
    error = (table.numbers("soil_moisture_error") if table.has("soil_moisture_error")
             else np.full(table.size, np.nan))
    depth = table.numbers("depth") if table.has("depth") else np.full(table.size, np.nan)
    outside = np.isfinite(value) & ((value < 0) | (value > 1))
    return _records(table, "crns_soil_moisture", "m3 m-3", value, error, depth,
                    [(~np.isfinite(value), "soil_moisture is missing"),
                     (outside, "soil_moisture outside 0-1")], options, "soil_moisture_error")


def read_wells(path: Path | str, options: ReadOptions) -> ProductObservations:
    """Well records (see the module notes) as ``groundwater_level`` records: water-table depth
    below ground [m], from ``depth_to_water`` or from ``head`` and ``ground_elevation``.

    Raises
    ------
    InputFileError
        As :func:`read_crns`; neither ``depth_to_water`` nor ``head`` given; a head without its
        well's ground elevation.
    """
    table = read_table(path)
    require(table.has("depth_to_water") or table.has("head"), table.path,
            "column 'depth_to_water' (or 'head' with 'ground_elevation') is missing")
    depth_to_water = (table.numbers("depth_to_water") if table.has("depth_to_water")
                      else np.full(table.size, np.nan))
    head = table.numbers("head") if table.has("head") else np.full(table.size, np.nan)
    from_head = ~np.isfinite(depth_to_water) & np.isfinite(head)
    if from_head.any():
        ground = (table.numbers("ground_elevation") if table.has("ground_elevation")
                  else np.full(table.size, np.nan))
        unknown = from_head & ~np.isfinite(ground)
        if unknown.any():
            k = int(np.flatnonzero(unknown)[0])
            raise InputFileError(f"{table.path}: column 'ground_elevation', line "
                                 f"{table.lines[k]}: missing for a head (well "
                                 f"{table.text('station')[k]!r}); the depth below ground "
                                 "needs the well's ground elevation [m a.s.l.]")
        depth_to_water = np.where(from_head, ground - head, depth_to_water)
    error = table.numbers("error") if table.has("error") else np.full(table.size, np.nan)
    screen = (table.numbers("screen_depth") if table.has("screen_depth")
              else np.full(table.size, np.nan))
    return _records(table, "groundwater_level", "m", depth_to_water, error, screen,
                    [(~np.isfinite(depth_to_water), "water level is missing")], options,
                    "error")


def _records(table: StationTable, type_name: str, units: str, value: np.ndarray, error: np.ndarray,
             depth: np.ndarray, missing: list, options: ReadOptions,
             error_column: str) -> ProductObservations:
    """Records from the columns shared by both layouts (station, time, location, qc)."""
    path = table.path
    station = table.text("station")
    empty = np.flatnonzero(station == "")
    if empty.size:
        raise InputFileError(f"{path}: column 'station', line {table.lines[empty[0]]}: empty "
                             "station id")
    time = iso_utc_to_posix(table.text("time"), path, "column 'time'", table.lines)
    if table.has("latitude") or table.has("longitude"):
        x, y, crs = table.numbers("longitude"), table.numbers("latitude"), LONLAT
    elif table.has("x") or table.has("y"):
        x, y, crs = table.numbers("x"), table.numbers("y"), GRID_COORDINATES
    else:
        raise InputFileError(f"{path}: columns 'latitude', 'longitude' (or 'x', 'y' in the "
                             "model grid's CRS) are missing")
    qc = table.numbers("qc") if table.has("qc") else np.zeros(table.size)
    bad = np.isfinite(qc) & ~np.isin(qc, list(QC_MEANINGS))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise InputFileError(f"{path}: column 'qc', line {table.lines[k]}: {qc[k]:g} is not "
                             f"one of {sorted(QC_MEANINGS)} (good, rejected, withheld)")
    keep, dropped = drop_reasons(
        [*missing, (~np.isfinite(time), "time is missing"),
         (~np.isfinite(x) | ~np.isfinite(y), "location is missing")], table.size)
    qc = np.nan_to_num(qc[keep], nan=0.0).astype(np.int8)
    flagged_by = np.where(qc == QC_REJECTED, "qc column: rejected", "").astype(object)
    return ProductObservations(
        path, type_name, units, time_utc=time[keep], x=x[keep], y=y[keep], crs=crs,
        value=value[keep],
        error_std=with_error_fallback(error[keep], options, path,
                                      error_column if table.has(error_column) else ""),
        qc=qc, flagged_by=flagged_by, depth=depth[keep], station=station[keep].astype(object),
        dropped=dropped, attributes={"source_product": f"pdafpy {type_name} station CSV"})

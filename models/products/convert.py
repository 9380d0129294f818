"""Convert observation products to pdafpy's observation file

``pdafpy convert PRODUCT FILES... --grid CONFIG --out obs.nc`` reads a provider's files with the
product's reader (entry-point group ``pdafpy.products``: smap_l2, smap_l3, ascat, cgls_lai,
lpdr_vod, crns, wells), places the retrievals on the model grid of the configuration, drops those
outside it, keeps the product's own flags as ``qc = 1`` (``--drop-flagged`` leaves them out) and
writes one observation file (docs/observations.md) with times in seconds since the run's start.
It prints what was read, left out and flagged, one line per reason. docs/products.md describes
each product.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pdafpy.errors import ConfigError
from pdafpy.obs.files import ObservationWriter
from pdafpy.obs.records import QC_REJECTED, QC_WITHHELD, ObservationRecords
from pdafpy.registry import registered

from .common import ASCAT_LIMITS, ProductObservations, ReadOptions, posix_seconds
from .grid import model_setup
from .projection import grid_lonlat_box, inside_grid, to_grid

__all__ = ["main", "convert", "write", "Conversion"]


class Conversion:
    """The outcome of a conversion: the records and what was left out or flagged, by reason.

    Attributes
    ----------
    records : ObservationRecords
        In time order, times in seconds since ``start``.
    flagged_by : (m,) object ndarray of str
        The product flag that rejected each record ("" where none).
    read : int
        Entries read: the retrievals the readers returned and those they left out.
    dropped : Counter
        Reason -> entries left out (fill values, invalid values, outside the model grid, the
        flagged ones with ``--drop-flagged``).
    units : dict
        Type -> units.
    attributes : dict
        The file's global attributes.
    """

    def __init__(self, records: ObservationRecords, flagged_by: np.ndarray, read: int,
                 dropped: Counter, units: dict[str, str], attributes: dict[str, str]):
        self.records, self.flagged_by, self.read = records, flagged_by, read
        self.dropped, self.units, self.attributes = dropped, units, attributes

    def report(self, out: Path) -> list[str]:
        """The lines ``pdafpy convert`` prints."""
        records = self.records
        lines = [f"read {self.read} entries"]
        lines += [f"left out {n}: {reason}" for reason, n in self.dropped.most_common()]
        flagged = Counter(self.flagged_by[records.qc == QC_REJECTED].tolist())
        lines += [f"flagged (qc = 1) {n}: {reason}" for reason, n in flagged.most_common()]
        withheld = int((records.qc == QC_WITHHELD).sum())
        if withheld:
            lines.append(f"withheld (qc = 2) {withheld}")
        good = int((records.qc == 0).sum())
        lines.append(f"wrote {records.size} observations ({good} good) of "
                     f"{', '.join(f'{t} [{u}]' for t, u in self.units.items())} to {out}")
        return lines


def convert(product: str, files: Sequence[Path], config: Path, options: ReadOptions,
            type_name: str | None = None, start: str | None = None,
            drop_flagged: bool = False) -> tuple[Conversion, str]:
    """Read ``files`` with ``product``'s reader and place them on ``config``'s model grid.

    Returns
    -------
    conversion : Conversion
    start : str
        The origin of the times (``start``, else the configuration's ``[schedule] start``).

    Raises
    ------
    ConfigError, InputFileError
        An unknown product or type, a configuration or file that cannot be used.
    """
    readers = registered("pdafpy.products")
    if product not in readers:
        raise ConfigError(f"product {product!r} is not installed; products: "
                          f"{', '.join(sorted(readers))}")
    setup = model_setup(config)
    start = start or setup.start
    try:
        origin = posix_seconds(start)
    except ValueError:
        raise ConfigError(f"--start {start!r}: expected an ISO 8601 time such as "
                          "2020-05-01T00:00:00") from None
    known = registered("pdafpy.observations")
    if type_name is not None and type_name not in known:
        raise ConfigError(f"--type {type_name!r}: not a registered observation type "
                          f"(registered: {', '.join(sorted(known))})")
    reader = readers[product].load()
    options = dataclasses.replace(options, region=grid_lonlat_box(setup.grid))
    parts = [reader(Path(f), options) for f in files]
    dropped: Counter = Counter()
    for part in parts:
        dropped.update(part.dropped)
    read = sum(p.size + sum(p.dropped.values()) for p in parts)
    placed = [_on_grid(p, setup.grid, dropped) for p in parts]
    name = type_name or parts[0].type_name
    units = {name: parts[0].units}
    records, flagged_by = _records(placed, name, origin)
    if drop_flagged:
        flagged = records.qc == QC_REJECTED
        if flagged.any():
            dropped["flagged by the product (--drop-flagged)"] += int(flagged.sum())
        records, flagged_by = records.subset(~flagged), flagged_by[~flagged]
    attributes = {"title": f"observations converted from {product}",
                  "source_files": " ".join(Path(f).name for f in files),
                  "observation_type": name}
    for part in parts:
        attributes.update(part.attributes)
    return Conversion(records, flagged_by, read, dropped, units, attributes), start


def _on_grid(part: ProductObservations, grid: Any, dropped: Counter
             ) -> tuple[ProductObservations, np.ndarray, np.ndarray]:
    """The retrievals inside the model grid and their grid coordinates; the others counted."""
    gx, gy = to_grid(part.x, part.y, part.crs, grid)
    inside = inside_grid(gx, gy, grid)
    if not inside.all():
        dropped["outside the model grid"] += int((~inside).sum())
    return part.subset(inside), gx[inside], gy[inside]


def _records(placed: list, type_name: str, origin: float
             ) -> tuple[ObservationRecords, np.ndarray]:
    """All retrievals as records of ``type_name`` in time order, and their flag reasons."""
    def column(name: str) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(p, name)) for p, _, _ in placed])

    time = column("time_utc") - origin
    order = np.argsort(time, kind="stable")
    gx = np.concatenate([x for _, x, _ in placed])[order]
    gy = np.concatenate([y for _, _, y in placed])[order]
    records = ObservationRecords.build(
        time[order], gx, gy, column("value")[order], column("error_std")[order], type_name,
        depth=column("depth")[order], qc=column("qc")[order],
        station=column("station")[order])
    return records, column("flagged_by")[order]


class _ConvertedWriter(ObservationWriter):
    """The observation file with each record's product flag (``flagged_by``) beside ``qc``."""

    def _add_variables(self, ds: Any) -> None:
        ds.createVariable("flagged_by", str, ("obs",)).long_name = \
            "product flag that set qc = 1 (empty where none)"


def write(conversion: Conversion, out: Path, start: str) -> Path:
    """Write ``conversion`` to the observation file ``out`` (one file; its times in seconds
    since ``start``)."""
    out = Path(out)
    writer = _ConvertedWriter(out, start, conversion.units, conversion.attributes)
    writer.dataset()                  # the file exists even without records
    writer.write(conversion.records, {"flagged_by": conversion.flagged_by.astype(object)})
    writer.close()
    writer.names.final(0).replace(out)
    return out


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pdafpy convert", description=__doc__.split("\n")[0])
    p.add_argument("product", help="smap_l2, smap_l3, ascat, cgls_lai, lpdr_vod, crns, wells "
                   "(docs/products.md)")
    p.add_argument("files", nargs="+", type=Path, help="the provider's files")
    p.add_argument("--grid", type=Path, required=True, metavar="CONFIG",
                   help="the run's configuration: its [grid] places the observations, its "
                   "[schedule] start is the origin of the times")
    p.add_argument("--out", type=Path, required=True, help="the observation file to write")
    p.add_argument("--type", dest="type_name", metavar="NAME",
                   help="observation type of the records (default: the product's)")
    p.add_argument("--error", type=float, metavar="VALUE",
                   help="error standard deviation [output units] where the product gives none")
    p.add_argument("--start", metavar="ISO_TIME", help="origin of the times (ISO 8601; "
                   "default: the configuration's [schedule] start)")
    flagged = p.add_mutually_exclusive_group()
    flagged.add_argument("--keep-flagged", action="store_true",
                         help="keep retrievals the product flags, with qc = 1 (the default)")
    flagged.add_argument("--drop-flagged", action="store_true",
                         help="leave retrievals the product flags out of the file")
    p.add_argument("--pass", dest="overpass", choices=("am", "pm", "both"), default="both",
                   help="smap_l3: the overpasses to read (default both)")
    p.add_argument("--ascat-units", choices=("volumetric", "saturation"),
                   default="volumetric", help="ascat: volumetric water content [m3 m-3] "
                   "(needs --porosity) or degree of saturation [1]")
    p.add_argument("--porosity", metavar="VALUE_OR_FILE", help="ascat volumetric: porosity "
                   "[m3 m-3], one value or a NetCDF map porosity(lat, lon)")
    p.add_argument("--ascat-limits", metavar="NAME=PERCENT,...",
                   default=",".join(f"{k}={v:g}" for k, v in ASCAT_LIMITS.items()),
                   help="ascat: advisory-flag limits [%%] above which a retrieval is flagged "
                   "(default %(default)s)")
    return p


def _porosity(text: str | None) -> float | Path | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return Path(text)
    if not 0.0 < value <= 1.0:
        raise ConfigError(f"--porosity {text}: expected a value in (0, 1] or a NetCDF file")
    return value


def _limits(text: str) -> dict[str, float]:
    limits = dict(ASCAT_LIMITS)
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not sep or key.strip() not in ASCAT_LIMITS or not 0.0 <= number <= 100.0:
            raise ConfigError(f"--ascat-limits {text!r}: expected NAME=PERCENT with NAME one "
                              f"of {', '.join(ASCAT_LIMITS)}")
        limits[key.strip()] = number
    return limits


def main(argv: list[str]) -> int:
    """Run ``pdafpy convert`` (the arguments after ``convert``); returns the exit status.

    Raises
    ------
    PdafpyError
        A diagnosed problem (the ``pdafpy`` command prints it and exits with status 2).
    """
    args = _parser().parse_args(argv)
    if args.error is not None and not (math.isfinite(args.error) and args.error > 0):
        raise ConfigError(f"--error {args.error:g}: expected a finite value > 0")
    options = ReadOptions(error_std=args.error, overpass=args.overpass,
                          ascat_units=args.ascat_units, porosity=_porosity(args.porosity),
                          ascat_limits=_limits(args.ascat_limits))
    conversion, start = convert(args.product, args.files, args.grid, options, args.type_name,
                                args.start, args.drop_flagged)
    conversion.attributes["history"] = (f"{datetime.now().isoformat(timespec='seconds')} "
                                        f"pdafpy convert {shlex.join(map(str, argv))}")
    out = write(conversion, args.out, start)
    print("\n".join(conversion.report(out)))
    return 0

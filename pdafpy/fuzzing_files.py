"""Fuzzing of the observation-file reader: NetCDF files drawn by hypothesis.

:func:`observation_files` draws an :class:`ObservationFileSpec`: a valid observation file (the
format's variables ``time``, ``x`` and ``y`` or ``lat`` and ``lon``, ``value``, ``error_std``,
``type``, perhaps ``depth``, ``qc``, ``station``, along ``obs`` of 0 to 6 entries, fixed or
unlimited), as it is or with up to three :data:`MUTATIONS`: a variable dropped; of another type
(numbers of any width, variable-length strings, character arrays, single bytes that need not be
UTF-8); of other dimensions; with NaN, infinite, huge or unwritten (fill) values; with
attributes right or wrong (time units and calendars, value units, ``_FillValue``,
``scale_factor``, ``valid_range``, ``_Encoding`` ...); the ``obs`` dimension renamed; another
variable; the classic format; damage (the file truncated, bytes flipped, random bytes after a
NetCDF or HDF5 signature, random bytes alone, nothing); the reader told other units or CRS.
:func:`write_observation_file` writes it (what netCDF4 refuses to write is left out: the file is
what it is), as one file or as segments ``NAME.00000.nc``, ...; :func:`read_observation_spec`
is the target: it reads the file with :func:`pdafpy.obs.files.read_observation_file` and places
the records on a small grid (:func:`pdafpy.obs.files.check_inside_grid`), as a run does. The
property is :mod:`pdafpy.fuzzing`'s.

A NetCDF-4 file with bytes flipped can crash the HDF5 library (1.10.8, Debian 12) with a
segmentation fault as it opens the file, which no Python code can catch; such a damaged file is
therefore read first in a forked child process, and a crash there is reported as
:class:`~pdafpy.fuzzing.LibraryCrash` (outcome ``crashed``) rather than ending the fuzzing.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st

from .fuzzing import EDGE_FLOATS, EDGE_STRINGS, LibraryCrash
from .model import Grid

__all__ = ["NcVariable", "ObservationFileSpec", "observation_files", "write_observation_file",
           "read_observation_spec", "START", "GRID", "FILE_NAME"]

log = logging.getLogger(__name__)

#: The run's start the files are read for.
START = "2020-04-01T00:00:00"
#: The grid observations are placed on: 5 x 4 columns 1 m apart, x in [-0.5, 4.5], y in
#: [-0.5, 3.5].
GRID = Grid.uniform(4, 5)
#: The file the reader is given (written whole, or as its segments).
FILE_NAME = "obs.nc"
#: Length of character arrays (dimension ``strlen``).
STRLEN = 24

_NUMERIC = ("time", "x", "y", "lat", "lon", "depth", "value", "error_std", "qc")
_TEXT = ("type", "station")
_DTYPES = ("f8", "f4", "i8", "i4", "i2", "i1", "u1", "u2")
_UNITS = ("m3 m-3", "m", "1", "K", "m3 m^-3", "", " m ")
_TIME_UNITS = ("seconds since 2020-04-01T00:00:00", "hours since 2020-04-01 00:00",
               "days since 2020-03-01", "minutes since 2020-04-01T00:00:00Z",
               "seconds since 2020-04-01T00:00:00+02:00",
               "seconds since 2020-04-01T00:00:00-11:30",
               "Seconds Since 1970-01-01", "seconds since 0001-01-01", "days since 9999-12-31",
               "seconds since 2020-13-45", "fortnights since 2020-04-01", "seconds since",
               "since 2020-04-01", "seconds after 2020-04-01", "seconds since 2020-04-01 garbage",
               "")
_CALENDARS = ("standard", "gregorian", "proleptic_gregorian", "STANDARD", "noleap", "360_day",
              "julian", "")
_SPECIAL_ATTRIBUTES = ("_FillValue", "missing_value", "scale_factor", "add_offset",
                       "valid_min", "valid_max", "valid_range", "_Unsigned", "_Encoding",
                       "units", "calendar")


@dataclass(frozen=True)
class NcVariable:
    """One variable of a drawn file.

    Attributes
    ----------
    name : str
    kind : str
        A numpy dtype (``"f8"``, ``"i2"``, ...), ``"str"`` (variable-length strings) or
        ``"char"`` (a character array, one more dimension ``strlen``) or ``"S1"`` (one byte
        per entry, no more dimension).
    dims : tuple of str
    values : tuple
        Values over the variable's shape (flat), the last repeated to fill it; None leaves an
        entry unwritten (its fill).
    attributes : tuple of (str, value)
        Set after the values are written, so that they apply when it is read.
    """

    name: str
    kind: str
    dims: tuple[str, ...]
    values: tuple
    attributes: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class ObservationFileSpec:
    """A drawn observation file, and what the reader is told.

    Attributes
    ----------
    format : str
        ``NETCDF4`` or ``NETCDF3_CLASSIC``.
    obs_dim : str
        Name of the observations' dimension (``obs``, mostly).
    n_obs : int
        Its size.
    unlimited : bool
        Whether it is unlimited.
    variables : tuple of NcVariable
    damage : str
        ``""`` (none), ``"truncate"``, ``"flip"`` (bytes XOR-ed), ``"signature"`` (random bytes
        after a NetCDF or HDF5 signature), ``"replace"`` (random bytes alone) or ``"empty"``.
    damage_at : float
        Where the damage starts, as a fraction of the file's size.
    damage_bytes : bytes
        The random bytes of the damage.
    segments : int
        0: the file itself; k: segments ``obs.00000.nc`` ... (k of them, the same file each).
    units : tuple of (str, str)
        The units the reader expects of each type.
    crs : str
        The grid's CRS the reader is told.
    """

    format: str
    obs_dim: str
    n_obs: int
    unlimited: bool
    variables: tuple[NcVariable, ...]
    damage: str
    damage_at: float
    damage_bytes: bytes
    segments: int
    units: tuple[tuple[str, str], ...]
    crs: str


def _registered_types() -> tuple[str, ...]:
    from .experiment_config import OBSERVATION_GROUP
    from .registry import registered

    return tuple(sorted(registered(OBSERVATION_GROUP)))


def _floats(lo: float, hi: float, valid: bool) -> st.SearchStrategy:
    """Numbers in ``[lo, hi]``; unless ``valid``, sometimes at the edges (NaN, inf, huge)."""
    inside = st.floats(lo, hi)
    if valid:
        return inside
    return st.one_of(inside, inside, st.sampled_from(EDGE_FLOATS), st.integers(-(2**40), 2**40))


def _values(name: str, types: tuple[str, ...], valid: bool) -> st.SearchStrategy:
    """Values of the variable ``name``: plausible ones; unless ``valid``, also others and
    unwritten entries (None)."""
    text = st.one_of(st.sampled_from(types), st.sampled_from(EDGE_STRINGS), st.text(max_size=6),
                     st.binary(max_size=6))
    inside = 0.5 if valid else -1.0             # GRID's extent, or past it
    plain = {"time": _floats(0.0, 1e6, valid), "x": _floats(-inside, 4.0 + inside, valid),
             "y": _floats(-inside, 3.0 + inside, valid),
             "lat": _floats(-inside, 3.0 + inside, valid) if valid else _floats(-91, 91, False),
             "lon": _floats(-inside, 4.0 + inside, valid) if valid else _floats(-181, 181, False),
             "depth": _floats(0.0, 5.0, valid),
             "value": _floats(-1.0, 1.0, valid),
             "error_std": _floats(0.01, 1.0, True) if valid else _floats(-0.1, 1.0, False),
             "qc": st.sampled_from((0, 0, 1, 2) if valid else (0, 0, 1, 2, 3, -1, 255)),
             "type": st.sampled_from(types) if valid else st.one_of(st.sampled_from(types), text),
             "station": st.text(max_size=6) if valid else text,
             }.get(name, st.one_of(_floats(-1e3, 1e3, valid), text))
    values = st.lists(plain if valid else st.one_of(plain, plain, plain, st.none()),
                      min_size=1 if valid else 0, max_size=8)
    if name == "time":                          # times in order, mostly
        ordered = values.map(lambda v: sorted(
            x for x in v if isinstance(x, (int, float)) and not math.isnan(x)))
        values = ordered if valid else st.one_of(values, ordered)
    return values.map(tuple)


def _attributes(name: str, types: tuple[str, ...], unit: str | None) -> st.SearchStrategy:
    """Attributes of the variable ``name``: with ``unit``, its right units (and calendar);
    without, units and calendars right or wrong, and perhaps attributes that change how
    netCDF4 reads it."""
    if unit is not None:
        right = {"time": (("units", "seconds since 2020-04-01T00:00:00"),
                          ("calendar", "standard")),
                 "value": (("units", unit),), "error_std": (("units", unit),)}
        return st.just(right.get(name, ()))
    junk = st.one_of(st.text(max_size=10), st.floats(), st.integers(-(2**31), 2**31 - 1),
                     st.lists(st.floats(allow_nan=False, width=32), min_size=1, max_size=3)
                     .map(lambda v: np.array(v, dtype="f4")))
    unit_list = st.lists(st.tuples(st.one_of(st.sampled_from(types), st.text(max_size=4)),
                                   st.sampled_from(_UNITS)), min_size=1, max_size=3)
    units = {"time": st.one_of(st.sampled_from(_TIME_UNITS), st.sampled_from(_TIME_UNITS),
                               junk),
             "value": st.one_of(st.sampled_from(_UNITS), unit_list.map(
                 lambda pairs: "; ".join(f"{t}: {u}" for t, u in pairs)),
                                st.sampled_from((":", ";", "a:b;c", ": m", "x:")), junk),
             "error_std": st.one_of(st.sampled_from(_UNITS), junk)}.get(name)
    special = st.lists(st.tuples(st.sampled_from(_SPECIAL_ATTRIBUTES), junk), max_size=2)

    @st.composite
    def draw_attributes(draw: Callable) -> tuple[tuple[str, Any], ...]:
        out = []
        if units is not None and draw(st.integers(0, 9)) > 0:
            out.append(("units", draw(units)))
        if name == "time" and draw(st.booleans()):
            out.append(("calendar", draw(st.one_of(st.sampled_from(_CALENDARS), junk))))
        if draw(st.integers(0, 4)) == 0:
            out += draw(special)
        return tuple(out)

    return draw_attributes()


def _variable(name: str, obs_dim: str, types: tuple[str, ...],
              unit: str | None) -> st.SearchStrategy:
    """A variable ``name`` of its type along ``obs_dim`` with the right attributes (a valid
    file's, whose values have ``unit``), or (``unit`` None) sometimes not."""
    usual = "str" if name in _TEXT else "f8"
    if unit is not None:
        return st.builds(NcVariable, st.just(name), st.just(usual), st.just((obs_dim,)),
                         _values(name, types, True), _attributes(name, types, unit))
    kinds = st.one_of(st.just(usual), st.just(usual), st.just("char" if name in _TEXT else "i4"),
                      st.sampled_from(_DTYPES + ("str", "char", "S1")))
    dims = st.one_of(st.just((obs_dim,)), st.just((obs_dim,)), st.just((obs_dim,)),
                     st.sampled_from(((), (obs_dim, "pair"), ("pair",), ("pair", obs_dim))))
    return st.builds(NcVariable, st.just(name), kinds, dims, _values(name, types, False),
                     _attributes(name, types, None))


#: What a mutation of a valid file changes.
MUTATIONS = ("drop", "kind", "dims", "values", "attributes", "dimension", "extra", "format",
             "damage", "reader")


def observation_files() -> st.SearchStrategy:
    """Drawn observation files (:class:`ObservationFileSpec`), see the module notes: a valid
    file (the reader told the file's units, and a geographic CRS for a file in lat/lon), as it
    is or with one to three :data:`MUTATIONS`: a variable dropped, of another kind, of other
    dimensions, with other values or attributes; the observations' dimension renamed; another
    variable; the classic format; the file damaged; the reader told other units or CRS."""
    types = _registered_types()

    @st.composite
    def draw_spec(draw: Callable) -> ObservationFileSpec:
        unit = draw(st.sampled_from(_UNITS))
        geographic = draw(st.integers(0, 3)) == 0
        names = ["time", "lat", "lon"] if geographic else ["time", "x", "y"]
        names += ["value", "error_std", "type"]
        names += [n for n in ("depth", "qc", "station") if draw(st.booleans())]
        variables = {n: draw(_variable(n, "obs", types, unit)) for n in names}
        spec = ObservationFileSpec(
            format="NETCDF4", obs_dim="obs", n_obs=draw(st.integers(0, 6)),
            unlimited=draw(st.booleans()), variables=tuple(variables.values()), damage="",
            damage_at=0.0, damage_bytes=b"", segments=draw(st.sampled_from((0, 0, 0, 1))),
            units=tuple(draw(st.dictionaries(st.sampled_from(types), st.just(unit),
                                             max_size=len(types))).items()),
            crs=draw(st.sampled_from(("EPSG:4326", "epsg:4326") if geographic
                                     else ("", "EPSG:32632"))))
        for mutation in draw(st.lists(st.sampled_from(MUTATIONS), max_size=3)):
            spec = _mutate(draw, spec, mutation, types)
        return spec

    return draw_spec()


def _mutate(draw: Callable, spec: ObservationFileSpec, mutation: str,
            types: tuple[str, ...]) -> ObservationFileSpec:
    """``spec`` with one change (:data:`MUTATIONS`)."""
    variables = list(spec.variables)
    k = draw(st.integers(0, len(variables) - 1)) if variables else None
    if mutation == "drop" and k is not None:
        del variables[k]
    elif mutation in ("kind", "dims", "values", "attributes") and k is not None:
        var = variables[k]
        other = draw(_variable(var.name, spec.obs_dim, types, None))
        variables[k] = dataclasses.replace(var, **{mutation: getattr(other, mutation)})
    elif mutation == "dimension":
        name = draw(st.sampled_from(("n", "OBS", "observations")))
        variables = [dataclasses.replace(v, dims=tuple(name if d == spec.obs_dim else d
                                                       for d in v.dims)) for v in variables]
        spec = dataclasses.replace(spec, obs_dim=name)
    elif mutation == "extra":
        name = draw(st.one_of(st.sampled_from(_NUMERIC + _TEXT + ("extra",)),
                              st.text(min_size=1, max_size=6).filter(
                                  lambda s: "/" not in s and "\x00" not in s)))
        variables = [v for v in variables if v.name != name]
        variables.insert(draw(st.integers(0, len(variables))),
                         draw(_variable(name, spec.obs_dim, types, None)))
    elif mutation == "format":
        spec = dataclasses.replace(spec, format="NETCDF3_CLASSIC")
    elif mutation == "damage":
        spec = dataclasses.replace(
            spec, damage=draw(st.sampled_from(("truncate", "flip", "signature", "replace",
                                               "empty"))),
            damage_at=draw(st.floats(0.0, 1.0)),
            damage_bytes=draw(st.binary(min_size=1, max_size=64)),
            segments=draw(st.sampled_from((0, 1, 2))))
    elif mutation == "reader":
        spec = dataclasses.replace(
            spec, units=tuple(draw(st.dictionaries(st.sampled_from(types),
                                                   st.sampled_from(_UNITS))).items()),
            crs=draw(st.sampled_from(("", "EPSG:4326", "EPSG:32632"))))
    return dataclasses.replace(spec, variables=tuple(variables))


def _fill(var: NcVariable, shape: tuple[int, ...]) -> np.ma.MaskedArray | np.ndarray:
    """The variable's values repeated over ``shape`` (None entries masked)."""
    size = int(np.prod(shape, dtype=np.int64))
    given = list(var.values[:size])             # the last value repeated (times stay in order)
    cycle = given + [given[-1] if given else None] * (size - len(given))
    if var.kind == "str":
        return np.array([v.decode("utf-8", "replace") if isinstance(v, bytes) else
                         "" if v is None else str(v) for v in cycle], dtype=object).reshape(shape)
    if var.kind in ("char", "S1"):
        raw = [v if isinstance(v, bytes) else b"" if v is None else str(v).encode()
               for v in cycle]
        return np.array(raw, dtype=f"S{STRLEN if var.kind == 'char' else 1}").reshape(shape)
    numbers = [v if isinstance(v, (int, float)) else math.nan if isinstance(v, (str, bytes))
               else 0.0 for v in cycle]
    data = np.array(numbers, dtype=float).reshape(shape)
    mask = np.array([v is None for v in cycle], dtype=bool).reshape(shape)
    return np.ma.masked_array(data, mask=mask)


def _write_variable(ds: Any, var: NcVariable, sizes: dict[str, int]) -> None:
    import netCDF4

    shape = tuple(sizes[d] for d in var.dims)
    data = _fill(var, shape)
    if var.kind == "str":
        nc = ds.createVariable(var.name, str, var.dims)
    elif var.kind == "char":
        nc = ds.createVariable(var.name, "S1", var.dims + ("strlen",))
        data = netCDF4.stringtochar(data)
    elif var.kind == "S1":
        nc = ds.createVariable(var.name, "S1", var.dims)
        nc.set_auto_chartostring(False)
    else:
        nc = ds.createVariable(var.name, var.kind, var.dims)
        with np.errstate(all="ignore"):
            data = np.ma.masked_array(data.filled(0.0).astype(var.kind), mask=data.mask)
    nc.set_auto_maskandscale(False)
    if data.size:
        if var.kind != "str" and np.ma.isMaskedArray(data) and data.mask.any():
            data = data.filled(nc._FillValue if "_FillValue" in nc.ncattrs()
                               else netCDF4.default_fillvals.get(nc.dtype.str[1:], 0))
        nc[...] = data
    for key, value in var.attributes:
        nc.setncattr(key, value)


def _write_netcdf(spec: ObservationFileSpec, path: Path) -> None:
    """Write the file of ``spec``; a variable or attribute netCDF4 refuses is left out."""
    import netCDF4

    sizes = {spec.obs_dim: spec.n_obs, "pair": 2, "strlen": STRLEN}
    with netCDF4.Dataset(path, "w", format=spec.format) as ds:
        ds.createDimension(spec.obs_dim, None if spec.unlimited else spec.n_obs)
        for name in ("pair", "strlen"):
            if name not in ds.dimensions:
                ds.createDimension(name, sizes[name])
        for var in spec.variables:
            if var.kind == "str" and spec.format.startswith("NETCDF3"):
                var = dataclasses.replace(var, kind="char")   # classic files have no strings
            try:
                _write_variable(ds, var, sizes)
            except Exception as exc:            # noqa: BLE001 - the file goes without it
                log.debug("fuzzing: variable %r not written (%s)", var.name, exc)


def _damage(spec: ObservationFileSpec, path: Path) -> None:
    data = path.read_bytes()
    at = min(len(data), int(spec.damage_at * len(data)))
    if spec.damage == "truncate":
        data = data[:at]
    elif spec.damage == "flip":
        out = bytearray(data)
        for k, b in enumerate(spec.damage_bytes):
            if out:
                out[(at + 7919 * k) % len(out)] ^= b or 0xFF
        data = bytes(out)
    elif spec.damage == "signature":
        signature = (b"CDF\x01", b"CDF\x02", b"\x89HDF\r\n\x1a\n")[int(spec.damage_at * 2.999)]
        data = signature + spec.damage_bytes
    elif spec.damage == "replace":
        data = spec.damage_bytes
    elif spec.damage == "empty":
        data = b""
    path.write_bytes(data)


def write_observation_file(spec: ObservationFileSpec, folder: Path) -> Path:
    """Write the file of ``spec`` in ``folder`` (emptied of earlier ones); the path to read."""
    folder = Path(folder)
    for old in folder.glob("obs*.nc"):
        old.unlink()
    paths = [folder / FILE_NAME] if not spec.segments else \
        [folder / f"obs.{k:05d}.nc" for k in range(spec.segments)]
    for path in paths:
        _write_netcdf(spec, path)
        if spec.damage:
            _damage(spec, path)
    return folder / FILE_NAME


def read_observation_spec(spec: ObservationFileSpec, folder: Path) -> Any:
    """Target: write the file of ``spec``, read it as a run does and place it on :data:`GRID`.
    """
    from .obs.files import check_inside_grid, read_observation_file

    def read() -> Any:
        records = read_observation_file(path, START, _registered_types(), dict(spec.units),
                                        spec.crs)
        check_inside_grid(records, GRID, path)
        return records

    path = write_observation_file(spec, folder)
    if spec.damage and spec.format == "NETCDF4":
        signal = _killed_by(read)
        if signal is not None:
            raise LibraryCrash(f"{path}: reading it killed the process (signal {signal}) in "
                               "netCDF4/HDF5, before pdafpy could check it")
    return read()


def _killed_by(call: Callable[[], Any]) -> int | None:
    """Run ``call()`` in a forked child process; the signal that killed it, or None.

    A damaged HDF5 file can crash the HDF5 library itself (a segmentation fault); tried first
    in a child, such a file is told apart instead of ending the fuzzing.
    """
    pid = os.fork()
    if pid == 0:                                # the child: whatever happens, exit quietly
        try:
            call()
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WTERMSIG(status) if os.WIFSIGNALED(status) else None

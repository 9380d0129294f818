"""Gridded ensembles in NetCDF files: check them, read each rank's block, write an analysis.

An ensemble comes in one of two layouts:

- **a file per member** (``ens_1.nc``, ``ens_2.nc``, ...): every file holds the same field
  variables on the same grid, each with dimensions ``(y, x)`` or ``(level, y, x)``;
- **one file** whose field variables carry a member dimension: ``(member, y, x)`` or
  ``(member, level, y, x)``.

A dimension ``time`` of size 1 may stand anywhere before the grid's dimensions (a forecast's
single output time). The grid's horizontal coordinates are 1-D variables: the one with
``standard_name = "projection_x_coordinate"`` (else the variable named ``x``) gives the columns
and its dimension the field's last dimension; likewise ``y`` for the rows. Both must be finite
and increase.

:func:`inspect_ensemble` checks every file's metadata and coordinates on one rank, without
reading the fields; :func:`read_block` reads only the block of columns a filter rank analyses,
refusing missing (fill) or non-finite values; :func:`write_copy` writes an analysis in the
layout of its input, every other variable, dimension, attribute and group copied, to a
temporary name that is renamed (:func:`os.replace`) once complete. Problems are one-line
:class:`~pdafpy.errors.InputFileError` naming the file and the variable.
"""

from __future__ import annotations

import glob
import re
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .atomic import atomic_path
from .decomposition import Box
from .errors import InputFileError
from .model import FieldSpec, Grid
from .output import gather_blocks
from .state import StateLayout

__all__ = ["EnsembleSource", "member_paths", "inspect_ensemble", "read_block", "write_copy",
           "TIME_DIM"]

#: The name of the size-1 time dimension a field variable may carry.
TIME_DIM = "time"


@dataclass(frozen=True)
class EnsembleSource:
    """An ensemble's files and layout, as :func:`inspect_ensemble` found them.

    Attributes
    ----------
    paths : tuple of Path
        One file per member, in member order; or the one file.
    member_dim : str or None
        The member dimension of the one-file layout (None: a file per member).
    n_members : int
    grid : Grid
        ``x`` (nx,), ``y`` (ny,) from the coordinates; ``z`` the level coordinate of the first
        field with levels, where the file has one (else empty).
    fields : tuple of FieldSpec
        The state's fields: levels from the files, units from each variable's ``units``
        attribute (``"1"`` without one).
    dims : mapping of str to tuple of str
        Each field variable's dimensions in the files.
    y_dim, x_dim : str
        The grid's row and column dimensions.
    """

    paths: tuple[Path, ...]
    member_dim: str | None
    n_members: int
    grid: Grid
    fields: tuple[FieldSpec, ...]
    dims: Mapping[str, tuple[str, ...]]
    y_dim: str
    x_dim: str

    def index(self, dims: Sequence[str], member: int | None, box: Box | None) -> tuple:
        """The index of one member's (``None``: every member's) field over ``box`` (``None``:
        the whole grid) in a variable with dimensions ``dims``."""
        def one(dim: str) -> Any:
            if dim == TIME_DIM:
                return 0
            if dim == self.member_dim:
                return slice(None) if member is None else member
            if box is not None and dim == self.y_dim:
                return slice(box.y0, box.y1)
            if box is not None and dim == self.x_dim:
                return slice(box.x0, box.x1)
            return slice(None)
        return tuple(one(d) for d in dims)


def _natural(path: str) -> list:
    """Sort key: runs of digits compare as numbers (``ens_2`` before ``ens_10``)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path)]


def member_paths(files: Sequence[str], pattern: str, file: str) -> list[Path]:
    """The ensemble's files: ``files`` in their order, the files ``pattern`` matches (a shell
    glob, numbers in names sorted as numbers), or the one ``file``."""
    if file:
        return [Path(file)]
    if pattern:
        found = sorted(glob.glob(pattern), key=_natural)
        if not found:
            raise InputFileError(f"{pattern}: no ensemble file matches this pattern")
        return [Path(p) for p in found]
    return [Path(p) for p in files]


def _open(path: Path) -> Any:
    import netCDF4

    if not path.is_file():
        raise InputFileError(f"{path}: ensemble file not found")
    try:
        return netCDF4.Dataset(path, "r")
    except OSError as exc:
        raise InputFileError(f"{path}: not a readable NetCDF file ({exc})") from None


def _coordinate(path: Path, ds: Any, axis: str) -> tuple[str, np.ndarray, str]:
    """The grid's ``axis`` ("x" or "y") coordinate: its dimension, values and variable name."""
    standard = f"projection_{axis}_coordinate"
    found = [v for v in ds.variables.values()
             if v.ndim == 1 and getattr(v, "standard_name", None) == standard]
    if not found and axis in ds.variables and ds[axis].ndim == 1:
        found = [ds[axis]]
    if not found:
        raise InputFileError(f"{path}: variable {axis!r} is missing (expected a 1-D coordinate "
                             f"with standard_name {standard} or named {axis!r})")
    var = found[0]
    values = np.ma.filled(np.ma.asarray(var[:], dtype=float), np.nan)
    if not (values.size and np.all(np.isfinite(values)) and np.all(np.diff(values) > 0)):
        raise InputFileError(f"{path}: variable {var.name!r}: grid coordinates must be given, "
                             "finite and increasing")
    return var.dimensions[0], values, var.name


@dataclass(frozen=True)
class _FileFacts:
    """What one file says about the ensemble (see :func:`_describe`)."""

    y: tuple[str, np.ndarray, str]
    x: tuple[str, np.ndarray, str]
    dims: dict[str, tuple[str, ...]]
    shapes: dict[str, tuple[int, ...]]
    units: dict[str, str]
    n_members: int
    z: np.ndarray


def _describe(path: Path, ds: Any, names: Sequence[str], member_dim: str | None) -> _FileFacts:
    y, x = _coordinate(path, ds, "y"), _coordinate(path, ds, "x")
    lead = [member_dim] if member_dim else []
    expected = (f"([{TIME_DIM} (size 1),] {member_dim + ', ' if member_dim else ''}[level,] "
                f"{y[0]}, {x[0]})")
    dims, shapes, units, z = {}, {}, {}, np.zeros(0)
    for name in names:
        if name not in ds.variables:
            raise InputFileError(f"{path}: variable {name!r} is missing (the file has "
                                 f"{', '.join(sorted(ds.variables))})")
        var = ds[name]
        if var.dtype.kind not in "iuf":
            raise InputFileError(f"{path}: variable {name!r} has type {var.dtype}, expected "
                                 "numbers")
        kept = [(d, n) for d, n in zip(var.dimensions, var.shape) if not (d == TIME_DIM and
                                                                           n == 1)]
        kept_dims = [d for d, _ in kept]
        if (kept_dims[:len(lead)] != lead or kept_dims[-2:] != [y[0], x[0]]
                or len(kept) - len(lead) not in (2, 3)):
            raise InputFileError(f"{path}: variable {name!r} has dimensions {var.dimensions}, "
                                 f"expected {expected}")
        dims[name] = tuple(var.dimensions)
        shapes[name] = tuple(n for _, n in kept[len(lead):])
        units[name] = str(getattr(var, "units", "1"))
        level_dim = kept_dims[len(lead)] if len(kept) - len(lead) == 3 else None
        if level_dim and not z.size and level_dim in ds.variables \
                and ds[level_dim].ndim == 1 and ds[level_dim].dtype.kind in "iuf":
            z = np.ma.filled(np.ma.asarray(ds[level_dim][:], dtype=float), np.nan)
    n_members = 1
    if member_dim:
        n_members = len(ds.dimensions[member_dim])
        if n_members < 2:
            raise InputFileError(f"{path}: variable {names[0]!r}: {n_members} member along "
                                 f"{member_dim!r}; an ensemble needs at least 2")
    return _FileFacts(y, x, dims, shapes, units, n_members, z)


def inspect_ensemble(paths: Sequence[Path], names: Sequence[str],
                     member_dim: str | None) -> EnsembleSource:
    """Check an ensemble's files (metadata and coordinates only; one rank).

    Parameters
    ----------
    paths : sequence of Path
        A file per member, or (``member_dim`` given) the one file.
    names : sequence of str
        The field variables forming the state, in state order.
    member_dim : str or None
        The member dimension of the one-file layout.

    Raises
    ------
    InputFileError
        On the first problem, naming the file and the variable: a missing file or variable,
        dimensions other than those above, fewer than 2 members, a shape or coordinates
        differing from the first member's.
    """
    paths = [Path(p) for p in paths]
    if member_dim is None and len(paths) < 2:
        raise InputFileError(f"{paths[0] if paths else 'no file'}: one member file; an "
                             "ensemble needs at least 2 (give every member's file)")
    first: _FileFacts | None = None
    for path in paths:
        with _open(path) as ds:
            facts = _describe(path, ds, names, member_dim)
        if first is None:
            first = facts
            continue
        for name in names:
            if facts.dims[name] != first.dims[name] or facts.shapes[name] != first.shapes[name]:
                raise InputFileError(f"{path}: variable {name!r} has dimensions "
                                     f"{facts.dims[name]}, shape {facts.shapes[name]}; "
                                     f"{paths[0]} has {first.dims[name]}, "
                                     f"{first.shapes[name]}")
        for axis in ("y", "x"):
            mine, theirs = getattr(facts, axis), getattr(first, axis)
            if mine[0] != theirs[0] or not np.array_equal(mine[1], theirs[1]):
                raise InputFileError(f"{path}: variable {mine[2]!r}: grid coordinates differ "
                                     f"from those of {paths[0]}")
    grid = Grid(first.y[1].size, first.x[1].size, first.x[1], first.y[1], first.z)
    fields = tuple(FieldSpec(n, first.shapes[n][0] if len(first.shapes[n]) == 3 else 1,
                             first.units[n]) for n in names)
    return EnsembleSource(tuple(paths), member_dim,
                          first.n_members if member_dim else len(paths), grid, fields,
                          first.dims, first.y[0], first.x[0])


def read_block(source: EnsembleSource, layout: StateLayout) -> np.ndarray:
    """This rank's block of every member (only its columns are read).

    Returns
    -------
    (n_members, layout.size) ndarray

    Raises
    ------
    InputFileError
        Naming the file and variable holding a missing (fill) or non-finite value.
    """
    box = layout.box
    ens = np.empty((source.n_members, layout.size))
    for k, path in enumerate(source.paths):
        member = None if source.member_dim else k
        with _open(path) as ds:
            for f in source.fields:
                raw = ds[f.name][source.index(source.dims[f.name], None, box)]
                values = np.ma.filled(np.ma.asarray(raw, dtype=float), np.nan)
                view = layout.view(ens, f.name)
                target = view if member is None else view[member]
                values = values.reshape(target.shape)
                bad = ~np.isfinite(values)
                if np.any(bad):
                    *_, r, c = np.argwhere(bad)[0]
                    raise InputFileError(f"{path}: variable {f.name!r}: {int(bad.sum())} "
                                         "value(s) missing (fill value) or not finite in this "
                                         f"rank's block, e.g. at row {box.y0 + r}, column "
                                         f"{box.x0 + c}")
                target[...] = values
    return ens


def _storage(var: Any, data_model: str, same_dims: bool) -> dict[str, Any]:
    """Compression and chunking of ``var`` for a copy (NetCDF-4 files only)."""
    if not data_model.startswith("NETCDF4"):
        return {}
    filters = var.filters() or {}
    out = {k: filters[k] for k in ("zlib", "complevel", "shuffle", "fletcher32") if k in filters}
    chunks = var.chunking()
    if same_dims and isinstance(chunks, list):
        out["chunksizes"] = chunks
    return out


def _copy_group(src: Any, dst: Any, skip: set[str], drop_dim: str | None) -> None:
    """Copy ``src``'s attributes, dimensions, variables and groups into ``dst``; the variables
    in ``skip`` get their definition only; ``drop_dim`` and the variables along it (other than
    those in ``skip``, which lose that dimension) are left out."""
    dst.setncatts({a: src.getncattr(a) for a in src.ncattrs()})
    for name, dim in src.dimensions.items():
        if name != drop_dim:
            dst.createDimension(name, None if dim.isunlimited() else len(dim))
    for name, var in src.variables.items():
        dims = var.dimensions
        if drop_dim in dims:
            if name not in skip:
                continue
            dims = tuple(d for d in dims if d != drop_dim)
        attrs = var.ncattrs()
        out = dst.createVariable(name, var.datatype, dims,
                                 fill_value=var.getncattr("_FillValue")
                                 if "_FillValue" in attrs else None,
                                 **_storage(var, dst.data_model, dims == var.dimensions))
        out.setncatts({a: var.getncattr(a) for a in attrs if a != "_FillValue"})
        if name in skip or not var.size:
            continue
        var.set_auto_maskandscale(False)
        out.set_auto_maskandscale(False)
        if var.ndim == 0:
            out.assignValue(var.getValue())
        else:
            out[tuple(slice(0, n) for n in var.shape)] = var[...]
    for name, group in src.groups.items():
        _copy_group(group, dst.createGroup(name), set(), drop_dim)


def _create_copy(src_path: Path, dst_path: Path, fields: set[str], drop_dim: str | None,
                 history: str) -> Any:
    """A new file at ``dst_path`` that copies ``src_path`` but the data of ``fields``, with
    ``history`` prepended to the history attribute; open for writing the fields."""
    import netCDF4

    with netCDF4.Dataset(src_path, "r") as src:
        dst = netCDF4.Dataset(dst_path, "w", format=src.data_model)
        try:
            _copy_group(src, dst, fields, drop_dim)
            old = src.getncattr("history") if "history" in src.ncattrs() else ""
            dst.setncattr("history", history + ("\n" + str(old) if old else ""))
        except Exception:
            dst.close()
            raise
    return dst


def write_copy(comm: Any, source: EnsembleSource, boxes: Sequence[Box], src: Path, dst: Path,
               parts: Sequence[tuple[int | None, Mapping[str, np.ndarray]]],
               history: str) -> None:
    """Write ``dst``: a copy of ``src`` whose field variables hold ``parts`` (collective; rank
    0 writes).

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        The filter ranks, whose blocks ``boxes`` tile the grid.
    source : EnsembleSource
    boxes : sequence of Box
        Every rank's block.
    src, dst : Path
        The input file copied and the file written: first to a temporary name beside ``dst``,
        renamed to ``dst`` (:func:`os.replace`) once complete, so a failure leaves no partial
        ``dst``.
    parts : sequence of (int or None, mapping)
        Per member written: its index along the member dimension (``None``: the file has none,
        or loses it: a file per member, or the ensemble mean of the one-file layout, which
        leaves out the member dimension and the other variables along it), and this rank's
        block of each field, ``(levels, box.ny, box.nx)``.
    history : str
        The line prepended to the file's ``history`` attribute.
    """
    root = comm.Get_rank() == 0
    drop = source.member_dim if parts and parts[0][0] is None else None
    levels = {f.name: f.levels for f in source.fields}
    with (atomic_path(dst) if root else nullcontext()) as tmp:
        ds = _create_copy(src, tmp, set(levels), drop, history) if root else None
        try:
            for member, blocks in parts:
                for name, block in blocks.items():
                    full = gather_blocks(comm, boxes, block, source.grid.ny, source.grid.nx)
                    if ds is not None:
                        var = ds[name]
                        var[source.index(var.dimensions, member, None)] = \
                            full if levels[name] > 1 else full[0]
        finally:
            if ds is not None:
                ds.close()

"""Estimated parameters written at the end of a run and read back by a later one.

Cross-validation years (LI): a run estimates parameter fields (``[filter] parameters``) and
writes them with ``[parameter_export] write = true``; the next year's run starts its members
from them with ``[perturbations] parameters_file``.

The file (NetCDF4 classic, CF-1.8; written by filter rank 0 after a gather of the filter ranks'
blocks, :func:`pdafpy.output.gather_blocks`):

- dimensions ``member`` (the assimilation members, in perturbation-key order), ``z`` (layers),
  ``y``, ``x``; coordinates ``member`` (the key, 0-based), ``z`` (layer-centre depth [m],
  positive down), ``y``, ``x`` [m];
- per parameter field ``NAME``: ``NAME(member, z, y, x)`` (``NAME(member, y, x)`` for a
  single-level field) and its ensemble mean ``NAME_mean(z, y, x)``, float64 (a round trip is
  bit-identical), with ``units`` and ``long_name``;
- global attributes ``parameters`` (the fields, space-separated), ``n_members``, ``title``,
  ``reference_time`` and ``valid_time`` (ISO 8601: the run's start and end) and what the caller
  adds.

Reading (:func:`read_parameters`) checks the grid (``x``, ``y``, ``z``), the member count and
each field's presence, shape and finiteness, and refuses a file in one line
(:class:`~pdafpy.errors.InputFileError`) naming the file and what is wrong.
:func:`check_parameter_setup` runs these checks, and those of the parameter perturbations,
before any model work (:func:`models.landda.validation.check_run`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from pdafpy.atomic import atomic_path
from pdafpy.errors import ConfigError, InputFileError
from pdafpy.model import Grid
from pdafpy.output import gather_blocks
from pdafpy.segments import write_failure

from ..coupled import PARAMETER_FIELDS

__all__ = ["write_grid_axes", "open_land_file", "write_parameters", "read_parameters",
           "parameters_in", "export_parameters", "check_parameter_setup", "layer_mask"]

log = logging.getLogger(__name__)

_LONG_NAMES = {"log10_ks": "log10 of the horizontal saturated hydraulic conductivity",
               "porosity": "saturated water content", "ln_alpha": "ln of van Genuchten alpha",
               "vg_n": "van Genuchten n", "sand_percent": "sand content",
               "clay_percent": "clay content", "specific_leaf_area": "specific leaf area",
               "root_beta": "root distribution parameter beta"}



def write_grid_axes(ds: Any, grid: Any) -> None:
    """The coordinate variables ``z`` (layer centres [m], positive down), ``x`` and ``y``
    (column centres [m]) of ``grid`` in the open NetCDF dataset ``ds``, whose dimensions
    ``z``, ``y`` and ``x`` exist."""
    z = ds.createVariable("z", "f8", ("z",))
    z[:] = grid.z
    z.units, z.positive, z.long_name = "m", "down", "depth of the layer centre"
    for name, values, std in (("x", grid.x, "projection_x_coordinate"),
                              ("y", grid.y, "projection_y_coordinate")):
        v = ds.createVariable(name, "f8", (name,))
        v[:] = values
        v.units, v.standard_name = "m", std

def _levels(name: str, nz: int) -> int:
    return nz if PARAMETER_FIELDS[name][0] == "nz" else 1


def write_parameters(path: Path | str, comm: Any, boxes: Sequence[Any], grid: Grid,
                     layout: Any, ens: np.ndarray, fields: Sequence[str],
                     attributes: Mapping[str, Any] | None = None) -> None:
    """Write every member's parameter fields and their ensemble mean (collective over the
    filter ranks; filter rank 0 writes, atomically).

    Parameters
    ----------
    path : path
        The NetCDF file.
    comm : mpi4py.MPI.Comm
        The filter communicator.
    boxes : sequence of Box
        Every filter rank's block.
    grid : Grid
        ``x``, ``y`` [m] and ``z``, the layer-centre depths [m].
    layout : StateLayout
        This filter rank's layout.
    ens : (N, layout.size) ndarray
        This filter rank's block of the members to write (the assimilation members).
    fields : sequence of str
        Parameter fields of ``layout`` (among :data:`models.coupled.PARAMETER_FIELDS`).
    attributes : mapping, optional
        Global attributes besides those of the module notes.

    Raises
    ------
    OutputError
        On filter rank 0, when the file cannot be written (one line with the system's reason).
    """
    full = {}
    for name in fields:
        view = layout.view(ens, name)                        # (N, levels, by, bx)
        full[name] = gather_blocks(comm, boxes, view, grid.ny, grid.nx)
    if comm.Get_rank() != 0:
        return
    import netCDF4

    path = Path(path)
    n = ens.shape[0]
    nz = grid.z.size
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, netCDF4.Dataset(tmp, "w", format="NETCDF4_CLASSIC") as ds:
            ds.Conventions = "CF-1.8"
            ds.title = "pdafpy: estimated parameters of the assimilation members"
            ds.history = f"written by pdafpy, {datetime.now().isoformat(timespec='seconds')}"
            ds.parameters = " ".join(fields)
            ds.n_members = np.int32(n)
            for key, value in (attributes or {}).items():
                setattr(ds, key, value)
            for dim, size in (("member", n), ("z", nz), ("y", grid.ny), ("x", grid.nx)):
                ds.createDimension(dim, size)
            m = ds.createVariable("member", "i4", ("member",))
            m[:] = np.arange(n)
            m.long_name = ("perturbation key of the member: member k of a run reading this file "
                           "starts from it")
            write_grid_axes(ds, grid)
            for name in fields:
                data = full[name]
                layered = _levels(name, nz) > 1
                dims = ("z", "y", "x") if layered else ("y", "x")
                v = ds.createVariable(name, "f8", ("member",) + dims, zlib=True)
                v[:] = data if layered else data[:, 0]
                v.units = PARAMETER_FIELDS[name][1]
                v.long_name = f"{_LONG_NAMES.get(name, name)} of each member"
                mv = ds.createVariable(f"{name}_mean", "f8", dims, zlib=True)
                mv[:] = data.mean(axis=0) if layered else data.mean(axis=0)[0]
                mv.units = PARAMETER_FIELDS[name][1]
                mv.long_name = f"ensemble mean of {_LONG_NAMES.get(name, name)}"
    except (OSError, RuntimeError) as exc:
        raise write_failure(path, exc) from None
    log.info("estimated parameters %s of %d members written to %s", ", ".join(fields), n, path)


def open_land_file(path: Path, what: str) -> Any:
    """A NetCDF file the land twin reads back (``what`` names it in the error: "the parameters
    file", "the spin-up file (spinup.file)"), open for reading.

    Raises
    ------
    InputFileError
        One line naming the file: a folder, no such file, or not NetCDF.
    """
    import netCDF4

    if not path.is_file():
        raise InputFileError(f"{path}: cannot read {what}: "
                             f"{'it is a folder' if path.is_dir() else 'no such file'}")
    try:
        return netCDF4.Dataset(path, "r")
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise InputFileError(f"{path}: cannot read {what}: not NetCDF ({first})") from None


def parameters_in(path: Path | str) -> tuple[list[str], int]:
    """The parameter fields a parameters file holds (its variables named as
    :data:`models.coupled.PARAMETER_FIELDS`) and its member count (one-line
    :class:`InputFileError` for a missing file, not NetCDF or without ``member``)."""
    path = Path(path)
    with open_land_file(path, "the parameters file") as ds:
        if "member" not in ds.dimensions:
            raise InputFileError(f"{path}: no dimension 'member'; not a parameters file "
                                 "written by [parameter_export]")
        return [v for v in ds.variables if v in PARAMETER_FIELDS], len(ds.dimensions["member"])


def read_parameters(path: Path | str, grid: Grid, fields: Sequence[str] | None = None,
                    n_members: int | None = None, *, box: Any = None,
                    members: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """Parameter fields of a file written by :func:`write_parameters`.

    Parameters
    ----------
    path : path
    grid : Grid
        This run's grid: ``x``, ``y`` and ``z`` must be the file's.
    fields : sequence of str, optional
        The fields wanted (default: every parameter field the file holds).
    n_members : int, optional
        The member count the file must have (default: any).
    box : Box, optional
        The block of columns to read (default: the whole grid).
    members : sequence of int, optional
        The members (positions along ``member``) to read (default: all).

    Returns
    -------
    dict of str to float64 ``(members, levels, box.ny, box.nx)`` arrays.

    Raises
    ------
    InputFileError
        One line naming the file and the problem: missing or not NetCDF, another grid, another
        member count, a field missing, of the wrong shape or with non-finite values.
    """
    path = Path(path)
    nz = grid.z.size
    with open_land_file(path, "the parameters file") as ds:
        ds.set_auto_mask(False)
        for name, coords in (("x", grid.x), ("y", grid.y), ("z", grid.z)):
            if name not in ds.variables or ds[name].shape != coords.shape or not np.allclose(
                    ds[name][:], coords, rtol=1e-12, atol=1e-9):
                raise InputFileError(f"{path}: variable {name!r}: not this run's grid "
                                     f"({coords.size} {name} coordinates from {coords[0]:g} to "
                                     f"{coords[-1]:g} m)")
        size = len(ds.dimensions["member"]) if "member" in ds.dimensions else None
        if size is None:
            raise InputFileError(f"{path}: no dimension 'member'; not a parameters file "
                                 "written by [parameter_export]")
        if n_members is not None and size != n_members:
            raise InputFileError(f"{path}: {size} members, but this run has {n_members} "
                                 "(ensemble.size); member k starts from the file's member k")
        held = [v for v in ds.variables if v in PARAMETER_FIELDS]
        wanted = list(held if fields is None else fields)
        if not wanted:
            raise InputFileError(f"{path}: holds no parameter field (expected some of "
                                 f"{', '.join(PARAMETER_FIELDS)})")
        y0, y1, x0, x1 = ((0, grid.ny, 0, grid.nx) if box is None
                          else (box.y0, box.y1, box.x0, box.x1))
        sel = np.arange(size) if members is None else np.asarray(members, dtype=np.int64)
        if sel.size and (sel.min() < 0 or sel.max() >= size):
            raise InputFileError(f"{path}: has {size} members; member {int(sel.max())} asked")
        out = {}
        for name in wanted:
            if name not in ds.variables:
                raise InputFileError(f"{path}: no variable {name!r}; the file holds "
                                     f"{', '.join(held) or 'no parameter field'}")
            lev = _levels(name, nz)
            expected = (size, nz, grid.ny, grid.nx) if lev > 1 else (size, grid.ny, grid.nx)
            var = ds[name]
            if var.shape != expected:
                dims = "(member, z, y, x)" if lev > 1 else "(member, y, x)"
                raise InputFileError(f"{path}: variable {name!r} has shape {var.shape}; "
                                     f"expected {expected} {dims}")
            data = np.asarray(var[sel, ..., y0:y1, x0:x1], dtype=np.float64)
            data = data.reshape(sel.size, lev, y1 - y0, x1 - x0)
            bad = ~np.isfinite(data)
            if bad.any():
                k = int(sel[np.argwhere(bad)[0][0]])
                raise InputFileError(f"{path}: variable {name!r} has non-finite values "
                                     f"(member {k})")
            out[name] = data
    return out


# ---------------------------------------------------------------------------- the land twin
def layer_mask(centres: np.ndarray, layers_m: Sequence[float]) -> np.ndarray | None:
    """``(nz,)`` bool: layers whose centre lies in ``[top, bottom]`` [m] (None: every layer)."""
    if not layers_m:
        return None
    top, bottom = (float(v) for v in layers_m)
    c = np.asarray(centres, dtype=float)
    return (c >= top) & (c <= bottom)


def export_parameters(cfg: Any, tables: Mapping[str, Any], job: Any, groups: Any,
                      out: Path) -> Path | None:
    """Write the assimilation members' estimated parameters at the end of a run, when
    ``[parameter_export] write`` asks and the run estimated some (collective over the world:
    the ensemble is collected once more). Returns the file written (None elsewhere or when
    nothing is written)."""
    from pdafpy.config import parse_section

    from .setup import ParameterExportSection

    section = parse_section(ParameterExportSection, tables.get("parameter_export", {}),
                            "parameter_export")
    if not section.write:
        return None
    names = list(cfg.filter.parameters)
    if "assimilation" not in groups or not names:
        if job.layout.world.Get_rank() == 0:
            log.warning("parameter_export.write = true: this %s run estimates no parameters "
                        "([filter] parameters = %s); nothing written", cfg.mode, names)
        return None
    ens = job.runner.collect()
    if not job.layout.is_filter:
        return None
    end = datetime.fromisoformat(cfg.schedule.start) + timedelta(days=cfg.schedule.length_days)
    path = out / section.file
    write_parameters(path, job.layout.comm_filter, job.boxes, job.grid,
                     job.runner.filter_layout, groups.part(ens, "assimilation"), names,
                     {"reference_time": cfg.schedule.start,
                      "valid_time": end.isoformat(), "filter": str(cfg.filter.type),
                      "seed": np.int64(cfg.ensemble.seed), "mode": cfg.mode})
    return path


def check_parameter_setup(cfg: Any, tables: Mapping[str, Any], world_size: int) -> None:
    """The land twin's parameter perturbations, estimation and parameters file, before any
    model work (the file is read on the reporting rank only).

    Raises
    ------
    ConfigError
        A texture perturbed or estimated without a ``[soil]`` texture; log10 Ks perturbed while
        a state texture derives Ks (log10_ks not estimated); ``log10_ks_layers_m`` selecting no
        layer.
    InputFileError
        The parameters file (see :func:`read_parameters`) or a field of it this run does not
        carry.
    """
    from pdafpy.validation import reporting_rank

    from .setup import carries_texture, has_texture, model_parameter_fields
    from .validation import planned_grid

    pert = tables.get("perturbations", {})
    texture = has_texture(tables)
    estimated = [p for p in cfg.filter.parameters if p in ("sand_percent", "clay_percent")]
    if estimated and not texture:
        raise ConfigError(f"filter.parameters = {list(cfg.filter.parameters)}: estimating "
                          f"{estimated[0]} needs a texture in [soil] (soil.sand_percent and "
                          "soil.clay_percent), from which the hydraulic parameters follow")
    if len(estimated) == 1:
        raise ConfigError(f"filter.parameters = {list(cfg.filter.parameters)}: sand_percent "
                          "and clay_percent are estimated together")
    sd = float(pert.get("texture_sd_percent", 0.0))
    if sd > 0 and not texture:
        raise ConfigError(f"perturbations.texture_sd_percent = {sd:g}: perturbs the soil "
                          "texture, but [soil] gives none; give soil.sand_percent and "
                          "soil.clay_percent (the hydraulic parameters then follow "
                          "soil.pedotransfer)")
    if carries_texture(cfg, tables) and "log10_ks" not in cfg.filter.parameters:
        for key in ("log10_ks_sd", "log10_ks_offset_half_width"):
            if float(pert.get(key, 0.0)) > 0:
                raise ConfigError(f"perturbations.{key} = {float(pert[key]):g}: Ks follows the "
                                  "members' texture (a state field here), which would undo this "
                                  "perturbation; estimate log10_ks too ([filter] parameters), "
                                  "whose members then keep their own Ks")
    planned = planned_grid(tables)
    if planned is None:
        return
    grid = planned[0]
    layers = pert.get("log10_ks_layers_m") or ()
    if layers and not np.any(layer_mask(grid.z, layers)):
        raise ConfigError(f"perturbations.log10_ks_layers_m = {list(layers)}: no layer centre "
                          f"lies in this range (centres from {grid.z[0]:g} to {grid.z[-1]:g} m)")
    path = pert.get("parameters_file")
    if not path or not reporting_rank(world_size):
        return
    carried = model_parameter_fields(cfg, tables)
    held = parameters_in(path)[0]
    foreign = [f for f in held if f not in carried]
    if foreign:
        why = ("needs a texture in [soil] (soil.sand_percent, soil.clay_percent)"
               if foreign[0] in ("sand_percent", "clay_percent") and not texture
               else "add it to [filter] parameters")
        raise InputFileError(f"{path}: holds {foreign[0]!r}, which this run's model does not "
                             f"carry (perturbations.parameters_file); {why}")
    n_members = cfg.ensemble.size
    for name in held:          # every value is read, a bounded block of members at a time
        per = max(1, 2 ** 24 // (_levels(name, grid.z.size) * grid.ny * grid.nx))
        for first in range(0, n_members, per):
            read_parameters(path, grid, [name], n_members,
                            members=range(first, min(n_members, first + per)))

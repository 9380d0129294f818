"""The land twin's validation pass: what its tables must satisfy beyond their keys' types and
ranges, checked before any model work (:class:`models.landda.experiment.LandTwinExperiment` calls
:func:`check_tables` from ``check`` and :func:`check_run` from ``check_layout``).

- :func:`check_tables` (no MPI, no files): soil, land-cover, perturbation and solver values
  the model would refuse only when it is built or during the run;
- :func:`check_run` (for a number of ranks): a length that reaches the first analysis, a twin's
  wells that fit the grid, the grid split over each model task's ranks and over the filter
  ranks, the solver's PETSc options, PETSc's index range, the memory per rank
  (:mod:`pdafpy.memory` with the coupled model's :data:`LAND_MEMORY`, calibrated in
  docs/benchmarks.md), the observation files of ``mode = "assimilate"``
  (:func:`pdafpy.validation.check_observation_files`) and the NetCDF forcing file
  (:mod:`models.forcing_check`), both read on world rank 0 only.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Mapping, Sequence

import numpy as np

from pdafpy.decomposition import choose_process_grid
from pdafpy.errors import ConfigError, LayoutError
from pdafpy.experiment_config import LOCAL_FILTERS, ExperimentConfig
from pdafpy.memory import MemoryConstants, MemoryProblem, check_memory, estimate_peak
from pdafpy.model import FieldSpec, Grid
from pdafpy.validation import check_observation_files, reporting_rank

from ..coupled import PARAMETER_FIELDS
from ..land.column import STORES
from ..land.layer_sets import layer_thicknesses
from ..richards.grid import check_index_range
from ..richards.option_check import check_petsc_options
from .model import DERIVED_FIELDS

__all__ = ["LAND_MEMORY", "MODEL_PARAMETER_FIELDS", "check_tables", "check_run",
           "memory_problem", "grid_shape", "elements_per_column"]

log = logging.getLogger(__name__)

#: The coupled model's memory constants [bytes] (calibration: docs/benchmarks.md, "Memory per
#: rank"): per process; per owned cell once; per owned cell and run of the task; per state
#: element and run on a filter rank.
LAND_MEMORY = MemoryConstants(base=1.19e8, cell=960.0, cell_run=53.0, element_run=28.5)
#: The parameter fields the land twin's model always carries (models.landda.setup.model_config).
MODEL_PARAMETER_FIELDS = ("log10_ks",)


def grid_shape(tables: Mapping[str, Any]) -> tuple[int, int, int] | None:
    """``(nx, ny, nz)`` of the ``[grid]`` table (None when it lacks any)."""
    grid = tables.get("grid", {})
    dz = grid.get("dz_m") or (layer_thicknesses(grid["layers"]) if grid.get("layers")
                              else None)
    if dz is None or grid.get("nx") is None or grid.get("ny") is None:
        return None
    return int(grid["nx"]), int(grid["ny"]), len(dz)


def planned_grid(tables: Mapping[str, Any]) -> tuple[Grid, np.ndarray] | None:
    """The model grid and its layer interfaces [m] ``(nz + 1,)`` as the run will build them,
    from ``[grid]`` alone (column centres at ``x0 + (i + 1/2) dx``, ``y0 + (j + 1/2) dy``; None
    when the table lacks a key)."""
    from pdafpy.config import parse_section

    from .config_sections import GridSection

    if grid_shape(tables) is None:
        return None
    section = parse_section(GridSection, tables.get("grid", {}), "grid")
    x0, y0 = (float(v) for v in section.origin_m)
    dz = np.asarray(section.dz_m if section.dz_m is not None
                    else layer_thicknesses(section.layers), dtype=float)
    interfaces = np.concatenate([[0.0], np.cumsum(dz)])
    grid = Grid(int(section.ny), int(section.nx),
                x0 + (np.arange(section.nx) + 0.5) * section.dx_m,
                y0 + (np.arange(section.ny) + 0.5) * section.dy_m,
                0.5 * (interfaces[:-1] + interfaces[1:]), crs=str(section.crs))
    return grid, interfaces


def planned_fields(nz: int, parameters: Sequence[str] = MODEL_PARAMETER_FIELDS
                   ) -> tuple[FieldSpec, ...]:
    """The fields of the land twin's model with ``nz`` layers, as it will declare them
    (:attr:`models.landda.model.LandDAModel.fields`): pressure head, the land stores, the soil
    temperature, the parameter fields ``parameters`` (default: those it always carries; a run's
    are :func:`models.landda.setup.model_parameter_fields`), then the derived fields."""
    return (FieldSpec("pressure_head", nz, "m", "state"),
            *(FieldSpec(k, 1, "kg m-2", "state") for k in STORES),
            FieldSpec("soil_temperature", nz, "K", "state"),
            *(FieldSpec(p, nz if PARAMETER_FIELDS[p][0] == "nz" else 1, PARAMETER_FIELDS[p][1],
                        "parameter") for p in parameters),
            FieldSpec("water_content", nz, "m3 m-3", "diagnostic"),
            *(FieldSpec(k, 1, "1", "diagnostic") for k in DERIVED_FIELDS[1:]))


def _check_observation_modules(cfg: ExperimentConfig, tables: Mapping[str, Any]) -> None:
    """Build every observation module on the planned grid, and a twin's or truth pass's
    networks, so that a type that cannot work on this grid (an EASE-2 footprint without a CRS,
    a lattice of bare columns, a missing model fact) is refused before any model work."""
    from pdafpy.localize import Localization
    from pdafpy.obs.module import ObservationContext, build_modules

    from .model_facts import model_facts

    planned = planned_grid(tables)
    if planned is None or not cfg.observations:
        return
    grid, interfaces = planned
    loc = Localization.from_pdaf(cfg.localization.radius_m,
                                 cfg.localization.support_radius_m or cfg.localization.radius_m,
                                 cfg.localization.weight)
    modules = build_modules(cfg.observations, ObservationContext(
        grid, planned_fields(interfaces.size - 1), cfg.ensemble.seed, loc, model_facts(tables, interfaces, grid),
        cfg.schedule.start))
    if cfg.mode in ("twin", "truth"):
        for module in modules:
            module.network()


def elements_per_column(nz: int, parameters: Sequence[str] = MODEL_PARAMETER_FIELDS) -> int:
    """State-vector elements per column of the land twin's model: the pressure head, the soil
    temperature and the parameter fields ``parameters`` (``nz`` each, or 1), the land stores (1
    each), water content (``nz``) and the other derived fields (1 each)."""
    return sum(f.levels for f in planned_fields(nz, parameters))


# ---------------------------------------------------------------------------- tables
def _as_cells(value: Any, nz: int) -> np.ndarray:
    """A soil value (one, per layer, per column, per cell) broadcastable to ``(nz, ny, nx)``."""
    v = np.asarray(value, dtype=float)
    if v.ndim == 0:
        return v.reshape(1, 1, 1)
    if v.ndim == 1:
        return v.reshape(nz, 1, 1)
    if v.ndim == 2:
        return v[None]
    return v


def _check_soil(soil: Mapping[str, Any], nz: int) -> None:
    """``theta_r < theta_s`` in every cell, whatever the form each is given in."""
    if "theta_r" not in soil or "theta_s" not in soil:
        return
    r, s = _as_cells(soil["theta_r"], nz), _as_cells(soil["theta_s"], nz)
    shape = np.broadcast_shapes(r.shape, s.shape)
    r, s = np.broadcast_to(r, shape), np.broadcast_to(s, shape)
    bad = np.argwhere(r >= s)
    if bad.size:
        k, j, i = (int(v) for v in bad[0])
        if shape[1:] == (1, 1):
            where, unit = f"layer {k}", "layers"
        elif shape[0] == 1:
            where, unit = f"row {j}, column {i}", "columns"
        else:
            where, unit = f"layer {k}, row {j}, column {i}", "cells"
        raise ConfigError(f"soil.theta_r = {float(r[k, j, i]):g}: must be below soil.theta_s = "
                          f"{float(s[k, j, i]):g} (first in {where}; {len(bad)} of the "
                          f"{r.size} {unit})")


def _check_land_cover(land: Mapping[str, Any], nx: int, ny: int) -> None:
    cover = land.get("land_cover")
    if isinstance(cover, (list, tuple)) and np.shape(cover) != (ny, nx):
        raise ConfigError(f"land.land_cover: a map of shape {np.shape(cover)} does not fit the "
                          f"grid; expected one class or a ({ny}, {nx}) map (grid.ny, grid.nx)")


def _check_perturbations(pert: Mapping[str, Any], nz: int) -> None:
    from pdafpy.perturb.checks import correlation_cholesky

    sd = pert.get("initial_head_sd_m")
    if isinstance(sd, (list, tuple)) and len(sd) != nz:
        raise ConfigError(f"perturbations.initial_head_sd_m: {len(sd)} values; expected one "
                          f"value or {nz} (one per layer of the grid)")
    corr = pert.get("forcing_correlation")
    if corr is not None:
        n = len(pert.get("forcing", {}))
        try:
            correlation_cholesky("perturbations.forcing_correlation", corr, n)
        except ConfigError as exc:
            raise ConfigError(f"{exc}: a correlation matrix of the variables of "
                              "[perturbations.forcing] in their order") from None


def _check_state_perturbations(cfg: ExperimentConfig, tables: Mapping[str, Any],
                               nz: int) -> None:
    """``[perturbations.state]`` against the grid's layers and the coupling step."""
    from .state_perturbations import check_state_perturbations, state_section

    section = state_section(tables.get("perturbations", {}).get("state"))
    if section.active:
        step = float(tables.get("coupling", {}).get("step_s", 3600.0))
        check_state_perturbations(section, nz, step, sekf=cfg.filter.type == "sekf")


def _check_solver(solver: Mapping[str, Any]) -> None:
    lo, hi = solver.get("dt_min_s", 1e-3), solver.get("dt_max_s", 3600.0)
    if not solver.get("fixed_dt", False) and lo > hi:
        raise ConfigError(f"solver.dt_min_s = {lo:g}: must not exceed solver.dt_max_s = {hi:g}")


def _check_observations(cfg: ExperimentConfig, nx: int, ny: int) -> None:
    for i, section in enumerate(cfg.observations):
        count = getattr(section, "count", None)
        if cfg.mode in ("twin", "truth") and section.type == "groundwater_level" \
                and count > nx * ny:
            raise ConfigError(f"observations[{i}].count = {count}: more wells than the "
                              f"{nx * ny} grid columns ({nx} x {ny})")


def _check_schedule(cfg: ExperimentConfig) -> None:
    """A run must reach its first analysis time (without one it advances nothing)."""
    if not cfg.observations:
        return
    first = min(o.interval_h for o in cfg.observations)
    if first > cfg.schedule.length_days * 24.0 * (1 + 1e-12):
        raise ConfigError(f"schedule.length_days = {cfg.schedule.length_days:g}: shorter than "
                          f"the first analysis, {first:g} h after the start (the shortest "
                          "[[observations]] interval_h); the run would advance nothing")


def check_tables(cfg: ExperimentConfig, tables: Mapping[str, Any]) -> None:
    """The land twin's tables against each other and the grid (no MPI, no files).

    Raises
    ------
    ConfigError
        Naming the key, the value and what was expected.
    """
    shape = grid_shape(tables)
    if shape is None:
        return
    nx, ny, nz = shape
    _check_soil(tables.get("soil", {}), nz)
    _check_land_cover(tables.get("land", {}), nx, ny)
    _check_perturbations(tables.get("perturbations", {}), nz)
    _check_state_perturbations(cfg, tables, nz)
    _check_solver(tables.get("solver", {}))


# ---------------------------------------------------------------------------- run
def _ranks_per_task(cfg: ExperimentConfig, world_size: int) -> int:
    return (world_size - cfg.parallel.filter_ranks) // cfg.parallel.tasks


def memory_problem(cfg: ExperimentConfig, tables: Mapping[str, Any],
                   world_size: int) -> MemoryProblem:
    """What the land twin's memory depends on, for ``world_size`` ranks."""
    from .setup import model_parameter_fields

    from .sekf_setup import run_groups

    nx, ny, nz = grid_shape(tables)
    groups = run_groups(cfg, tables)             # the mode's, or the SEKF's
    analysed = sum(g.size for g in groups if g.kind in ("analysed", "perturbed"))
    return MemoryProblem(nx, ny, nz, elements_per_column(nz, model_parameter_fields(cfg, tables)),
                         groups.total, analysed,
                         cfg.parallel.tasks, _ranks_per_task(cfg, world_size),
                         cfg.parallel.filter_ranks,
                         global_filter=cfg.filter.type not in LOCAL_FILTERS)


def _check_split(cfg: ExperimentConfig, nx: int, ny: int, world_size: int) -> None:
    per_task = _ranks_per_task(cfg, world_size)
    try:
        choose_process_grid(per_task, ny, nx)
    except LayoutError:
        raise ConfigError(f"grid.nx = {nx}, grid.ny = {ny}: {nx * ny} columns cannot be split "
                          f"over the {per_task} ranks of each model task (a column is never "
                          "split); use more model tasks ([parallel] tasks) or fewer ranks") \
            from None
    f = cfg.parallel.filter_ranks
    if f:
        try:
            choose_process_grid(f, ny, nx)
        except LayoutError:
            raise ConfigError(f"parallel.filter_ranks = {f}: {nx * ny} grid columns cannot be "
                              f"split over {f} filter ranks; use at most {nx * ny}") from None


def check_run(cfg: ExperimentConfig, tables: Mapping[str, Any], world_size: int) -> None:
    """The land twin's checks for ``world_size`` ranks, before any model work (collective
    where MPI runs with ``world_size`` ranks: every rank must call it).

    Raises
    ------
    ConfigError, InputFileError
        Naming the key, file or value and what was expected.
    """
    shape = grid_shape(tables)
    if shape is None:
        return
    nx, ny, nz = shape
    _check_schedule(cfg)
    _check_observations(cfg, nx, ny)
    _check_split(cfg, nx, ny, world_size)
    solver = tables.get("solver", {})
    check_petsc_options(solver.get("petsc_options", {}), solver.get("options_prefix", "richards_"))
    problem = memory_problem(cfg, tables, world_size)
    check_index_range(nx, ny, nz, problem.ranks_per_task)
    estimate = estimate_peak(problem, LAND_MEMORY)
    keys = (f"grid.nx = {nx}, grid.ny = {ny} ({nx * ny * nz} cells), ensemble.size = "
            f"{cfg.ensemble.size} ({problem.runs} runs)")
    check_memory(estimate, keys, world_size, cfg.parallel.memory_per_rank_gib)
    _check_observation_modules(cfg, tables)
    check_observation_files(cfg, world_size)
    from .parameter_files import check_parameter_setup
    check_parameter_setup(cfg, tables, world_size)  # parameter perturbations, parameters file
    forcing = tables.get("forcing", {})
    if forcing.get("type") == "netcdf" and reporting_rank(world_size):
        from ..forcing_check import check_forcing_file
        start = check_forcing_file(forcing, ny, nx, cfg.schedule.length_days * 86400.0)
        if start != datetime.fromisoformat(cfg.schedule.start):
            given = "forcing.start" if forcing.get("start") else "the forcing file's first record"
            log.warning("forcing file %s: model time 0 is %s (%s), not schedule.start = %s: the "
                        "weather is that of the forcing's dates", forcing["path"],
                        f"{start:%Y-%m-%d %H:%M:%S}", given, cfg.schedule.start)

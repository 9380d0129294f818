"""Spin-up of the land experiment's runs (``[spinup]``): one forcing window cycled until every
run's water storage stops changing, or a hot start from the states an earlier spin-up wrote.

The table's presence turns the spin-up on (``[spinup]`` with no key: the defaults). Before the
experiment's first forecast, every run it has (the assimilation members, the open loop and the
truth, as the mode has them; the SEKF's runs) is advanced over model time ``[0, window_days]``
(from ``[schedule] start``) again and again, each cycle starting from the state the last one
ended with, until for every run the mean over the columns of the absolute change of total column
water storage over one cycle is below ``tolerance_mm``:

``dS = mean over columns of |S_c - S_{c-1}|``,
``S = 1000 sum_k dz_k theta_k + canopy water + snow water equivalent`` [mm]

(the soil's water content per layer through each run's own retention curve, the land's
canopy and snow stores; the specific-storage term, below a micrometre for the model's
``ss_per_m``, is left out). Taking each column's absolute change keeps a column that gains from
hiding one that loses through lateral flow.

What each run sees while it spins up, and why:

- **its own parameters and initial state** (:func:`models.landda.initial_state.initial_member`,
  keyed by its perturbation key), so that every member reaches the equilibrium of its own soil:
  the ensemble spread at the start is that of the members' equilibria (a perturbed ensemble
  spin-up, as HEY's);
- **its own forcing perturbations, the same in every cycle**: each cycle replays the window
  from its first step (:meth:`models.landda.model.LandDAModel.restart_forcing`), so a run
  converges to the periodic state of the weather it will see when the experiment starts at
  model time 0 with the same stream. A new draw per cycle would leave a storage change of the
  perturbations' size that no number of cycles removes;
- **no state perturbations** (``[perturbations.state]``): their increments are water the
  balance does not book, which would set the same floor; they start with the experiment.

An open-loop member has its assimilation member's perturbation key, so it starts from the
same state: the spin-up runs each perturbation key once (every run of the experiment where the
keys are fewer than the model tasks), on the experiment's layout of tasks and ranks per task,
so its states do not depend on the number of tasks.

The spun-up states, one row per key, and each cycle's storage change go to
``OUT/spinup.nc`` (:mod:`models.landda.spinup_file`); the experiment then starts at
``[schedule] start`` from them, read back from that file. ``file = "PATH"`` starts from such a
file instead (a hot start): it must have been written on this grid, with this seed, for these
runs' keys and with this spin-up's configuration (:func:`spinup_configuration`), checked before
any model work. A spin-up that has not converged after ``max_cycles`` stops the run before the
experiment starts, or, with ``require_convergence = false``, continues with a warning.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from pdafpy.config import option, parse_section
from pdafpy.cycle import RunFailed
from pdafpy.ensemble import gather_failures
from pdafpy.errors import ConfigError
from pdafpy.experiment_config import ExperimentConfig
from pdafpy.groups import RunGroups
from pdafpy.model import FieldSpec
from pdafpy.validation import reporting_rank

from .spinup_file import (check_spinup_file, configuration_json, read_spinup_info, read_states,
                          write_spinup)

__all__ = ["SpinupSection", "SpunUp", "SPINUP_FILE", "spinup_section", "spinup_configuration",
           "check_spinup", "spinup_keys", "column_storage_mm", "spin_up"]

log = logging.getLogger("pdafpy.spinup")

#: The spin-up file in ``[output] directory``.
SPINUP_FILE = "spinup.nc"
SECONDS_PER_DAY = 86400.0
MM_PER_M = 1000.0
#: The model's tables a spin-up depends on (compared on a hot start), besides
#: ``[perturbations]`` without its ``state`` table.
MODEL_TABLES = ("grid", "soil", "boundary", "initial", "solver", "land", "forcing", "coupling")


@dataclass(frozen=True)
class SpinupSection:
    """Spin-up of every run before the experiment; the table's presence turns it on.

    ``[spinup]``; see :mod:`models.landda.spinup`."""

    window_days: float = option(365.0, "the forcing window cycled, from [schedule] start: every "
                                "cycle runs model time 0 to window_days again, from the state "
                                "the last cycle ended with", unit="d", minimum=0.0,
                                exclusive_minimum=True)
    tolerance_mm: float = option(1.0, "stop when, for every run, the mean over the columns of "
                                 "the absolute change of total column water storage (soil, "
                                 "canopy, snow) over one cycle is below this", unit="mm",
                                 minimum=0.0, exclusive_minimum=True)
    max_cycles: int = option(20, "the most cycles; a spin-up not converged by then stops the "
                             "run before the experiment starts (see require_convergence)",
                             minimum=1)
    require_convergence: bool = option(True, "false: a spin-up not converged after "
                                       "max_cycles (or a file of one) is logged as a warning "
                                       "and the experiment starts from its last states")
    file: str = option("", "hot start: the runs start from this spin-up file (an earlier run's "
                       "OUT/spinup.nc) instead of spinning up; it must be of this grid, seed, "
                       "runs and spin-up configuration (default: spin up, write OUT/spinup.nc)")


def spinup_section(tables: Mapping[str, Any]) -> SpinupSection | None:
    """The ``[spinup]`` table parsed (None when the configuration has none: no spin-up)."""
    if "spinup" not in tables:
        return None
    return parse_section(SpinupSection, tables["spinup"], "spinup")


def spinup_configuration(cfg: ExperimentConfig, tables: Mapping[str, Any],
                         section: SpinupSection) -> dict:
    """What a spin-up runs with, as a hot start compares it: the model, the start, the seed,
    the model's tables (as given), ``[perturbations]`` without ``state``, the parameter fields
    and the spin-up's own keys (not ``file`` nor ``require_convergence``)."""
    from .setup import independent_parameters, model_parameter_fields

    pert = {k: v for k, v in tables.get("perturbations", {}).items() if k != "state"}
    return {"model": cfg.model, "start": cfg.schedule.start, "seed": cfg.ensemble.seed,
            **{name: tables.get(name, {}) for name in MODEL_TABLES},
            "perturbations": pert,
            "parameter_fields": model_parameter_fields(cfg, tables),
            "independent_parameters": independent_parameters(cfg, tables),
            "spinup": {"window_days": section.window_days, "tolerance_mm": section.tolerance_mm,
                       "max_cycles": section.max_cycles}}


def _written_fields(fields: Sequence[FieldSpec]) -> list[FieldSpec]:
    """The fields a spin-up file holds: the model's state and parameter fields (the derived
    ones are recomputed when a run is loaded)."""
    return [f for f in fields if f.kind != "diagnostic"]


def check_spinup(cfg: ExperimentConfig, tables: Mapping[str, Any], world_size: int) -> None:
    """The spin-up's checks before any model work, for ``world_size`` ranks (the files read on
    world rank 0 only, :func:`pdafpy.validation.reporting_rank`): a hot start's file against
    this run (:func:`models.landda.spinup_file.check_spinup_file`) and its convergence; a NetCDF
    forcing's cover of the window.

    Raises
    ------
    InputFileError
        One line naming the file and what differs.
    ConfigError
        For a file of a spin-up that did not converge, with ``require_convergence``.
    """
    section = spinup_section(tables)
    if section is None or not reporting_rank(world_size):
        return
    from .sekf_setup import run_groups
    from .setup import model_parameter_fields
    from .validation import planned_fields, planned_grid

    planned = planned_grid(tables)
    if planned is None:
        return
    grid, interfaces = planned
    if section.file:
        fields = _written_fields(planned_fields(interfaces.size - 1,
                                                model_parameter_fields(cfg, tables)))
        info = check_spinup_file(section.file, grid, run_groups(cfg, tables).keys(), fields,
                                 cfg.ensemble.seed, spinup_configuration(cfg, tables, section))
        if not info.converged and section.require_convergence:
            raise ConfigError(f"spinup.file = {section.file!r}: its spin-up did not converge "
                              f"({info.storage_change_mm:.3g} mm in the last of "
                              f"{info.cycles} cycles, tolerance_mm = {section.tolerance_mm:g}); "
                              "set spinup.require_convergence = false to start from it anyway")
        return
    forcing = tables.get("forcing", {})
    if forcing.get("type") == "netcdf" and section.window_days > cfg.schedule.length_days:
        from ..forcing_check import check_forcing_file
        check_forcing_file(forcing, grid.ny, grid.nx, section.window_days * SECONDS_PER_DAY)


def spinup_keys(groups: RunGroups, tasks: int) -> np.ndarray:
    """The perturbation key of each run the spin-up advances: every distinct key once, or every
    run's key where the distinct keys are fewer than ``tasks`` (each task needs a run)."""
    keys = groups.keys()
    distinct = np.unique(keys)
    return distinct if distinct.size >= tasks else keys


def column_storage_mm(layout: Any, ens: np.ndarray, dz: np.ndarray) -> np.ndarray:
    """Total column water storage [mm] of every run on a filter block, ``(runs, ny, nx)``.

    Parameters
    ----------
    layout : StateLayout
        With the fields ``water_content`` [m3 m-3], ``canopy_water`` and ``swe`` [kg m-2].
    ens : (runs, layout.size) ndarray
    dz : (nz,) ndarray
        Layer thicknesses [m].
    """
    theta = layout.view(ens, "water_content")                    # (runs, nz, ny, nx)
    soil = MM_PER_M * np.tensordot(np.asarray(dz, dtype=float), theta, axes=([0], [1]))
    return soil + layout.view(ens, "canopy_water")[:, 0] + layout.view(ens, "swe")[:, 0]


@dataclass(frozen=True)
class SpunUp:
    """The states the runs start from: a spin-up file and what it says.

    Attributes
    ----------
    path : Path
        The spin-up file (written by this run, or a hot start's).
    cycles : int
    converged : bool
    storage_change_mm : float
        The last cycle's storage change of the run that changed most [mm].
    tolerance_mm : float
    """

    path: Path
    cycles: int
    converged: bool
    storage_change_mm: float
    tolerance_mm: float

    def summary(self) -> dict[str, Any]:
        """The entry ``spinup`` of ``summary.json``."""
        return {"cycles": self.cycles, "converged": self.converged,
                "storage_change_mm": self.storage_change_mm,
                "tolerance_mm": self.tolerance_mm, "file": str(self.path)}

    def loader(self, model: Any, groups: RunGroups, members: Sequence[int]
               ) -> Callable[[int, Any], dict[str, np.ndarray]]:
        """``member_state(run, box)`` for :meth:`pdafpy.ensemble.EnsembleRunner.load` on a
        model rank holding ``members``: the row of the run's perturbation key, loaded into the
        model and read back, so that the derived fields are the run's own."""
        fields = _written_fields(model.fields)
        keys = [groups.key(run) for run in members]
        states = read_states(self.path, keys, fields, model.box)
        row = {run: i for i, run in enumerate(members)}

        def member_state(run: int, box: Any) -> dict[str, np.ndarray]:
            model.set_state(run, {f.name: states[f.name][row[run]] for f in fields})
            return model.get_state()

        return member_state


def _storage_change(job: Any, ens: np.ndarray | None, before: np.ndarray | None,
                    dz: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Each run's mean absolute change of column storage since ``before``, on every rank of
    the world, and the storage now (filter ranks; collective)."""
    from mpi4py import MPI

    now, change = None, None
    if job.layout.is_filter:
        now = column_storage_mm(job.runner.filter_layout, ens, dz)
        sums = np.abs(now - before).reshape(now.shape[0], -1).sum(axis=1)
        job.layout.comm_filter.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
        change = sums / (job.grid.ny * job.grid.nx)
    return job.layout.world.bcast(change, root=0), now    # world rank 0 is a filter rank


def spin_up(world: Any, cfg: ExperimentConfig, tables: Mapping[str, Any], out: Path,
            groups: RunGroups) -> SpunUp:
    """Spin up every run of ``groups`` (see the module notes), or take a hot start's file
    (collective over ``world``).

    Returns
    -------
    SpunUp
        On every rank: the file the runs start from.

    Raises
    ------
    RunFailed
        On every rank, when a run fails while spinning up, or when the spin-up has not
        converged after ``max_cycles`` with ``require_convergence``.
    """
    section = spinup_section(tables)
    if section.file:                                   # checked before any model work
        info = world.bcast(read_spinup_info(section.file) if world.Get_rank() == 0 else None)
        if not info.converged and world.Get_rank() == 0:
            log.warning("%s: its spin-up did not converge (%.3g mm in the last cycle); the "
                        "runs start from it (spinup.require_convergence = false)", info.path,
                        info.storage_change_mm)
        return SpunUp(info.path, info.cycles, info.converged, info.storage_change_mm,
                      section.tolerance_mm)
    from pdafpy.job import set_up_job, share_from_model

    from .initial_state import initial_member
    from .model import LandDAModel
    from .setup import model_config

    wall = time.perf_counter()
    keys = spinup_keys(groups, cfg.parallel.tasks)
    config = model_config(cfg, tables, keys)
    config["perturbations"]["state"] = {}               # no state perturbations (module notes)
    job = set_up_job(world, lambda comm: LandDAModel.create(comm, config), keys.size,
                     cfg.parallel.tasks, cfg.parallel.filter_ranks)
    dz = np.diff(share_from_model(job.layout, job.model, lambda m: np.asarray(
        m.coupled.richards.solver.grid.interfaces)))
    if job.model is not None:
        base = job.model.get_state()
        pert = dict(tables.get("perturbations", {}))
        job.runner.load(lambda run, box: initial_member(job.model, base, int(keys[run]),
                                                        cfg.ensemble.seed, pert))
    ens = job.runner.reloaded()                       # the derived fields of each run's soil
    storage = column_storage_mm(job.runner.filter_layout, ens, dz) if job.layout.is_filter \
        else None
    _, first = np.unique(keys, return_index=True)      # the row written for each key
    window = section.window_days * SECONDS_PER_DAY
    history, converged = [], False
    for cycle in range(1, section.max_cycles + 1):
        failures = gather_failures(world, job.runner.forecast(0.0, window))
        if failures:
            f = failures[0]
            raise RunFailed(f"spin-up cycle {cycle}: the run of perturbation key "
                            f"{int(keys[f.member])} failed: {f.message}")
        if job.model is not None:
            job.model.restart_forcing()               # the next cycle replays the window
        ens = job.runner.collect()
        change, storage = _storage_change(job, ens, storage, dz)
        history.append(change[first])
        converged = bool(change.max() < section.tolerance_mm)
        if world.Get_rank() == 0:
            log.info("spin-up cycle %d: storage change %.4g mm (largest, perturbation key %d), "
                     "tolerance %g mm", cycle, change.max(), int(keys[np.argmax(change)]),
                     section.tolerance_mm)
        if converged:
            break
    path = out / SPINUP_FILE
    if job.layout.is_filter:
        write_spinup(path, job.layout.comm_filter, job.boxes, job.grid,
                     job.runner.filter_layout, np.ascontiguousarray(ens[first]),
                     _written_fields(job.fields), keys[first], np.array(history),
                     storage[first],
                     {"seed": np.int64(cfg.ensemble.seed), "window_days": section.window_days,
                      "tolerance_mm": section.tolerance_mm, "cycles": np.int32(len(history)),
                      "converged": np.int32(converged), "reference_time": cfg.schedule.start,
                      "configuration": configuration_json(
                          spinup_configuration(cfg, tables, section))})
    job.layout.free()
    world.Barrier()                                   # the file is complete for every reader
    result = SpunUp(path, len(history), converged, float(history[-1].max()),
                    section.tolerance_mm)
    if world.Get_rank() == 0:
        log.info("spin-up: %d cycles of %g days in %.1f s, %s", result.cycles,
                 section.window_days, time.perf_counter() - wall,
                 "converged" if converged else "NOT converged")
    if not converged:
        message = (f"spinup: not converged after max_cycles = {section.max_cycles} cycles: "
                   f"a run's storage still changes by {result.storage_change_mm:.3g} mm per "
                   f"cycle, tolerance_mm = {section.tolerance_mm:g} (the states are in {path})")
        if section.require_convergence:
            raise RunFailed(message + "; raise max_cycles or tolerance_mm, or set "
                            "spinup.require_convergence = false")
        if world.Get_rank() == 0:
            log.warning("%s; the experiment starts from them (require_convergence = false)",
                        message)
    return result

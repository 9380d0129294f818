"""The twin experiment: truth, synthetic observations, open loop and assimilation in one run.

The world's ranks form ``tasks`` model tasks (and optional filter ranks). One "ensemble" of
``2N + 1`` runs travels through the layout: runs ``0..N-1`` are assimilated, runs ``N..2N-1`` are
the open loop (run ``N + k`` has member ``k``'s initial state, parameters and forcing
perturbations), run ``2N`` is the truth: a draw from the same distributions as the members
(perturbation key ``N``: its own initial head, Ks and forcing perturbations), so that the ensemble
spread describes the open loop's error. Each cycle: forecast on the model tasks, collect on the filter ranks,
synthetic observations from the truth, analysis of the first ``N`` runs only (observe, halo
exchange, local analysis), inflation, output, distribute.

Outputs in ``[output] directory``: ``assimilation.nc``, ``open_loop.nc`` (forecast and analysis
records of ensemble mean and spread), ``truth.nc``, ``summary.json`` (skill of open loop and
assimilation against the truth per variable, observation counts, timings per phase) and a log line
per cycle.

**Checkpoints** (``[schedule] checkpoint_every = k``): after the analysis and distribution of every
``k``-th cycle, ``checkpoint.h5`` in the output folder is replaced atomically by one holding
everything the run needs to continue: each model rank's members (packed states with parameters)
and their model-internal state (:meth:`LandDAModel.checkpoint_state`), the filter ranks' counters,
filter rank 0's skill series and every output record written so far, the per-rank phase timings,
the cycle index and simulated time, the layout and the resolved configuration with its SHA-256.
``pdafpy run CONFIG --restart CKPT`` continues from it on the same rank layout and ends
bit-identical to an uninterrupted run: it starts new ``.part`` output files seeded with the
checkpoint's records (an earlier run's files are never read) and renames them when done.

**Failed members** (``[ensemble] on_failure``): a member whose solve fails after the allowed
time-step cuts is logged with its run and the forecast window; with ``"redraw"`` the filter ranks
replace its forecast by the mean of the other members of its group (assimilation or open loop)
plus a perturbation (:func:`pdafpy.ensemble.redraw_members`) before the analysis; with
``"abort"``, when the truth fails, or when a whole group fails, every rank stops with one message
and a non-zero exit status. Anything unexpected on one rank ends the whole job (MPI Abort).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from pdafpy.atomic import write_json
from pdafpy.checkpoint import flatten, read_checkpoint, write_checkpoint
from pdafpy.decomposition import block_boxes, choose_process_grid
from pdafpy.ensemble import EnsembleRunner, MemberFailure, gather_failures, redraw_members
from pdafpy.errors import ConfigError, PdafpyError
from pdafpy.experiment_config import ExperimentConfig, check_layout
from pdafpy.filters import make_filter
from pdafpy.localize import Localization
from pdafpy.model import Grid
from pdafpy.obs.diagnostics_file import ObservationDiagnosticsWriter
from pdafpy.output import EnsembleWriter
from pdafpy.parallel import make_layout
from pdafpy.perturb import SpatialStructure, perturb_state
from pdafpy.progress import ProgressBar

from ..land.soil_perturbations import perturb_log10_ks
from .cycle import Skill, analyse_cycle, mpi_max, record_analysis
from .model import LandDAModel
from .observations import OBS_UNITS, ObservationNetwork, surface_layers
from .setup import load, model_config, soil_bounds
from .summary import print_summary, summarize

__all__ = ["run_twin", "main", "read_restart", "resolved_configuration", "RunFailed"]

log = logging.getLogger("pdafpy.twin")

PHASES = ("forecast", "collect", "observe", "halo", "analyse", "distribute", "output",
          "checkpoint")
CHECKPOINT = "checkpoint.h5"
#: Keys a restart may change: where outputs go, the length (to extend a run), the checkpoint
#: interval and the failure policy (e.g. "redraw" after an aborted run).
RESTART_FREE = (("output", "directory"), ("schedule", "length_days"),
                ("schedule", "checkpoint_every"), ("ensemble", "on_failure"))


class RunFailed(PdafpyError):
    """The run cannot continue; raised on every rank alike (reported once by :func:`main`)."""


def resolved_configuration(cfg: ExperimentConfig, tables: Mapping[str, Any]) -> dict:
    """The configuration a checkpoint must match: every framework key with its default filled
    in and the model's tables, without :data:`RESTART_FREE`."""
    conf = dataclasses.asdict(cfg)
    conf.update(copy.deepcopy(dict(tables)))
    for section, key in RESTART_FREE:
        conf.get(section, {}).pop(key, None)
    return conf


def cycle_hours(cfg: ExperimentConfig) -> np.ndarray:
    """Analysis times [h since start]: every shortest observation interval up to the end."""
    step_h = min(o.interval_h for o in cfg.observations)
    return np.arange(step_h, cfg.schedule.length_days * 24.0 + 1e-9, step_h)


def _layout_signature(cfg: ExperimentConfig, world_size: int) -> dict[str, int]:
    return {"world": world_size, "tasks": cfg.parallel.tasks,
            "filter_ranks": cfg.parallel.filter_ranks, "runs": 2 * cfg.ensemble.size + 1}


def read_restart(path: Path | str, world: Any, cfg: ExperimentConfig,
                 tables: Mapping[str, Any]) -> tuple[dict, dict]:
    """This rank's part of checkpoint ``path`` and its attributes (collective).

    Raises
    ------
    InputFileError
        If it is missing or unreadable, or was written on another rank layout or with another
        configuration (naming what differs; :data:`RESTART_FREE` keys may differ).
    ConfigError
        If ``schedule.length_days`` ends before the checkpoint's time.
    """
    payload, attrs = read_checkpoint(path, world, _layout_signature(cfg, world.Get_size()),
                                     resolved_configuration(cfg, tables))
    times_h = cycle_hours(cfg)
    if int(attrs["cycle"]) >= times_h.size:
        raise ConfigError(f"schedule.length_days = {cfg.schedule.length_days:g}: ends before "
                          f"the checkpoint {path} (day {attrs['time_s'] / 86400.0:g})")
    return payload, attrs


def _skill_state(skill: Skill) -> dict:
    """The skill series as one flat array and the shapes of its entries per key."""
    keys = [k for k, v in skill.series.items() if v]
    return {"values": {k: np.concatenate([np.ravel(a) for a in skill.series[k]])
                       for k in keys},
            "shapes": {k: np.array([np.shape(a) for a in skill.series[k]], dtype=np.int64)
                       for k in keys}} if keys else {}


def _restore_skill(skill: Skill, saved: Mapping[str, Any]) -> None:
    values, shapes = flatten(saved.get("values", {})), flatten(saved.get("shapes", {}))
    for key, flat in values.items():
        shape = shapes[key].reshape(len(shapes[key]), -1)
        ends = np.cumsum(np.prod(shape, axis=1))
        skill.series[key] = [part.reshape(tuple(sh)) for part, sh in
                             zip(np.split(flat, ends[:-1]), shape)]


def _describe(member: int, n: int) -> str:
    if member < n:
        return f"assimilation member {member} (run {member})"
    if member < 2 * n:
        return f"open-loop member {member - n} (run {member})"
    return f"the truth (run {member})"


def _handle_failures(failures: Sequence[MemberFailure], n: int, policy: str, world: Any) -> None:
    """Log failed members (world rank 0); raise :class:`RunFailed` on every rank when the run
    cannot go on: policy ``"abort"``, the truth failed, or a whole group failed."""
    def where(f: MemberFailure) -> str:
        return (f"{_describe(f.member, n)} failed in the forecast from day {f.t0 / 86400.0:g} "
                f"to day {f.t1 / 86400.0:g}: {f.message}")

    failed = {f.member for f in failures}
    fatal = [f for f in failures if f.member >= 2 * n]
    if fatal:
        raise RunFailed(where(fatal[0]) + "; the twin experiment cannot go on without its truth")
    if policy == "abort":
        raise RunFailed(where(failures[0]) + '; [ensemble] on_failure = "abort"'
                        + (f" ({len(failures) - 1} more failed)" if len(failures) > 1 else ""))
    for name, group in (("assimilation", range(n)), ("open-loop", range(n, 2 * n))):
        if set(group) <= failed:
            raise RunFailed(f"every {name} member failed in the forecast from day "
                            f"{failures[0].t0 / 86400.0:g}: {failures[0].message}")
    if world.Get_rank() == 0:
        for f in failures:
            others = n - len([m for m in failed if (m < n) == (f.member < n)])
            log.warning("%s; redrawn from the mean and spread of the %d other %s members",
                        where(f), others, "assimilation" if f.member < n else "open-loop")
OUTPUT_FIELDS = ("pressure_head", "water_content", "water_table_depth", "leaf_biomass",
                 "evapotranspiration", "leaf_area_index")


def _initial_member(model: LandDAModel, base: Mapping[str, np.ndarray], member: int, n: int,
                    seed: int, pert: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Initial fields of run ``member``: perturbed head and log10 Ks (truth: key ``n``)."""
    key = member % n if member < 2 * n else n
    g, b = model.grid, model.box
    box = (b.y0, b.y1, b.x0, b.x1)
    state = {k: v.copy() for k, v in base.items()}
    sd_head = np.asarray(pert.get("initial_head_sd_m", 0.0), dtype=float)
    if np.any(sd_head > 0):
        state["pressure_head"] = perturb_state(state["pressure_head"],
                                               np.broadcast_to(sd_head, (model.coupled.nz,)),
                                               seed, key, box, (g.ny, g.nx),
                                               spatial=SpatialStructure("uniform"))
    sd_ks = float(pert.get("log10_ks_sd", 0.0))
    if sd_ks > 0:
        length = pert.get("ks_correlation_length_m")
        spatial = SpatialStructure("uniform") if not length else SpatialStructure(
            "correlated", float(length), dx_m=float(g.x[1] - g.x[0]), dy_m=float(g.y[1] - g.y[0]))
        ks = 10.0 ** state["log10_ks"]
        state["log10_ks"] = np.log10(perturb_log10_ks(ks, seed, key, box, (g.ny, g.nx),
                                                      sd_log10=sd_ks, spatial=spatial))
    return state


def run_twin(world: Any, cfg: ExperimentConfig, tables: Mapping[str, Any],
             out: Path | None = None, restart: tuple[dict, dict] | None = None) -> dict | None:
    """Run the twin experiment on ``world``; the summary on world rank 0 (None elsewhere).

    Parameters
    ----------
    world : mpi4py.MPI.Comm
    cfg, tables
        The configuration (:func:`models.landda.setup.load`).
    out : Path, optional
        Output folder (default ``[output] directory``).
    restart : (payload, attributes), optional
        A checkpoint read by :func:`read_restart`: the run continues after its cycle.

    Raises
    ------
    RunFailed
        On every rank, when a member fails and the run cannot go on (see the module notes).
    """
    n = cfg.ensemble.size
    check_layout(cfg, world.Get_size())
    out = Path(out or cfg.output.directory)
    layout = make_layout(world, cfg.parallel.tasks, 2 * n + 1, cfg.parallel.filter_ranks)
    model = LandDAModel.create(layout.comm_model, model_config(cfg, tables)) \
        if layout.is_model else None
    first_model = cfg.parallel.filter_ranks
    grid: Grid = world.bcast(model.grid if world.Get_rank() == first_model else None,
                             root=first_model)
    interfaces = world.bcast(np.asarray(model.coupled.richards.solver.grid.interfaces)
                             if world.Get_rank() == first_model else None, root=first_model)
    fields = world.bcast(model.fields if world.Get_rank() == first_model else None,
                         root=first_model)
    comm = layout.comm_filter
    boxes = filter_box = None
    if layout.is_filter:
        if cfg.parallel.filter_ranks:
            boxes = block_boxes(grid.ny, grid.nx, *choose_process_grid(comm.Get_size(), grid.ny,
                                                                        grid.nx))
        else:
            boxes = comm.allgather(model.box)
        filter_box = boxes[comm.Get_rank()]
    runner = EnsembleRunner(layout, model, filter_box, fields)
    saved = restart[0] if restart is not None else {}
    pert = dict(tables.get("perturbations", {}))
    if restart is not None:
        runner.restore_checkpoint(saved.get("runner", {}))
    elif model is not None:
        base = model.get_state()
        runner.load(lambda m, box: _initial_member(model, base, m, n, cfg.ensemble.seed, pert))

    loc = Localization.from_pdaf(cfg.localization.radius_m,
                                 cfg.localization.support_radius_m or cfg.localization.radius_m,
                                 cfg.localization.weight)
    network = ObservationNetwork(cfg.observations, grid, interfaces, loc, cfg.ensemble.seed)
    offsets = np.concatenate([[0], np.cumsum([t.operator.size for t in network.types])])
    filt = make_filter(cfg.filter.type, forget=cfg.filter.forget,
                       type_trans=cfg.filter.type_trans, seed=cfg.ensemble.seed)
    surface_l, surface_w = surface_layers(interfaces, 0.05)
    root_l, root_w = surface_layers(interfaces, 1.0)
    writers = {}
    if layout.is_filter:
        kinds = {"assimilation": n, "open_loop": n, "truth": 1}
        out_fields = [f for f in fields if f.name in OUTPUT_FIELDS]
        writers = {k: EnsembleWriter(out / f"{k}.nc", comm, boxes, grid, out_fields,
                                     cfg.schedule.start, m, cfg.output.members and k != "truth",
                                     {"title": f"pdafpy twin experiment: {k}",
                                      "filter": str(cfg.filter.type)}, z_bounds=interfaces)
                   for k, m in kinds.items()}
        theta_bounds = soil_bounds(tables.get("soil", {}), interfaces.size - 1, filter_box)
    obs_writer = None
    if layout.is_filter and layout.comm_filter.Get_rank() == 0:
        obs_writer = ObservationDiagnosticsWriter(
            out / "observations.nc", [t.section.type for t in network.types], cfg.schedule.start,
            [OBS_UNITS[t.section.type] for t in network.types])
    skill = Skill()
    _restore_skill(skill, saved.get("skill", {}))
    counts = defaultdict(int, {k: int(v) for k, v in saved.get("counts", {}).items()})
    seconds = defaultdict(float, {k: float(v) for k, v in saved.get("seconds", {}).items()})
    files = dict(writers, **({"observations": obs_writer} if obs_writer is not None else {}))
    for name, records in saved.get("output", {}).items():
        files[name].append_records(records)
    times_h = cycle_hours(cfg)
    first = int(restart[1]["cycle"]) + 1 if restart is not None else 0
    t_prev = times_h[first - 1] if first else 0.0
    start_wall = time.perf_counter() - float(saved.get("wall_s", 0.0))
    every = cfg.schedule.checkpoint_every
    progress = ProgressBar(times_h.size, enabled=None if world.Get_rank() == 0
                           and log.isEnabledFor(logging.INFO) else False)
    progress.start(first)
    for cycle in range(first, times_h.size):
        hour = times_h[cycle]
        t0 = time.perf_counter()
        failures = gather_failures(world, runner.forecast(t_prev * 3600.0, hour * 3600.0))
        if failures:
            _handle_failures(failures, n, cfg.ensemble.on_failure, world)
        t1 = time.perf_counter()
        ens = runner.collect()
        t2 = time.perf_counter()
        seconds["forecast"] += t1 - t0
        seconds["collect"] += t2 - t1
        if layout.is_filter:
            if failures:
                redraw_members(ens, runner.filter_layout, [f.member for f in failures],
                               (range(n), range(n, 2 * n)), cfg.ensemble.seed, cycle)
                counts["members_redrawn"] += len(failures)
            forecast, observed = analyse_cycle(cfg, layout, grid, boxes, runner, ens, network,
                                               offsets, filt, writers, counts, seconds, cycle,
                                               hour)
        t3 = time.perf_counter()
        runner.distribute(ens)
        loaded = runner.reloaded()
        t4 = time.perf_counter()
        seconds["distribute"] += t4 - t3
        if layout.is_filter:
            record_analysis(cfg, layout, grid, boxes, runner.filter_layout, loaded, forecast,
                            observed, network, writers, obs_writer, skill, counts, seconds,
                            hour, (surface_l, surface_w), (root_l, root_w), theta_bounds)
        t4 = time.perf_counter()
        t_prev = hour
        if every and (cycle + 1) % every == 0:
            payload = {"runner": runner.checkpoint_state(), "counts": dict(counts),
                       "skill": _skill_state(skill),
                       "output": {k: w.records() for k, w in files.items()},
                       "seconds": dict(seconds), "wall_s": t4 - start_wall}
            write_checkpoint(out / CHECKPOINT, world, payload,
                             _layout_signature(cfg, world.Get_size()),
                             {"cycle": cycle, "time_s": hour * 3600.0,
                              "start": cfg.schedule.start},
                             resolved_configuration(cfg, tables))
            seconds["checkpoint"] += time.perf_counter() - t4
            if world.Get_rank() == 0:
                log.info("day %6.2f: checkpoint %s written", hour / 24.0, out / CHECKPOINT)
        progress.update(cycle + 1, f"day {hour / 24.0:g} of {cfg.schedule.length_days:g}")
    progress.close()
    for w in files.values():        # the observation file, on filter rank 0 only, comes last
        w.close()
    wall = time.perf_counter() - start_wall
    totals = {k: world.allreduce(seconds.get(k, 0.0), op=mpi_max()) for k in PHASES}
    layout.free()
    if world.Get_rank() != 0:
        return None
    summary = summarize(cfg, skill, counts, totals, wall, world.Get_size(), grid)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "summary.json", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    """``pdafpy run [CONFIG]``: run the experiment (the packaged example without CONFIG)."""
    from mpi4py import MPI

    parser = argparse.ArgumentParser(prog="pdafpy run", description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", help="experiment TOML (default: packaged example)")
    parser.add_argument("--out", type=Path, help="output folder (overrides [output] directory)")
    parser.add_argument("--restart", type=Path, metavar="CKPT",
                        help="continue from a checkpoint of this configuration and rank layout")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug output too (e.g. every rejected time step)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="warnings and errors only: no line per cycle, no progress bar")
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    world = MPI.COMM_WORLD
    error = restart = None
    try:
        cfg, tables = load(args.config)
        check_layout(cfg, world.Get_size())
        if args.restart is not None:
            restart = read_restart(args.restart, world, cfg, tables)
    except PdafpyError as exc:
        error = str(exc)
    errors = [e for e in world.allgather(error) if e is not None]
    if errors:
        if world.Get_rank() == 0:
            print(f"pdafpy run: error: {errors[0]}", file=sys.stderr)
        return 2
    try:
        summary = run_twin(world, cfg, tables, args.out, restart)
    except RunFailed as exc:                        # raised on every rank alike
        if world.Get_rank() == 0:
            print(f"pdafpy run: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:                        # this rank only: the others may be waiting
        log.error("rank %d failed", world.Get_rank(), exc_info=True)
        print(f"pdafpy run: error on rank {world.Get_rank()}: {exc}", file=sys.stderr)
        sys.stderr.flush()
        if world.Get_size() > 1:
            world.Abort(1)
        return 1
    if summary is not None:
        print_summary(summary)
    return 0

"""The twin experiment: truth, synthetic observations, open loop and assimilation in one run.

The world's ranks form ``tasks`` model tasks (and optional filter ranks). One "ensemble" of
``2N + 1`` runs travels through the layout: runs ``0..N-1`` are assimilated, runs ``N..2N-1`` are
the open loop (run ``N + k`` has member ``k``'s initial state, parameters and forcing
perturbations), run ``2N`` is the truth (its own Ks draw from the ensemble's distribution, the
unperturbed forcing). Each cycle: forecast on the model tasks, collect on the filter ranks,
synthetic observations from the truth, analysis of the first ``N`` runs only (observe, halo
exchange, local analysis), inflation, output, distribute.

Outputs in ``[output] directory``: ``assimilation.nc``, ``open_loop.nc`` (forecast and analysis
records of ensemble mean and spread), ``truth.nc``, ``summary.json`` (skill of open loop and
assimilation against the truth per variable, observation counts, timings per phase) and a log line
per cycle.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import defaultdict
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pdafpy.analysis import analysis_step
from pdafpy.atomic import write_json
from pdafpy.config import load_toml
from pdafpy.decomposition import block_boxes, choose_process_grid
from pdafpy.diagnostics import bias, correlation, rmse, ubrmse
from pdafpy.ensemble import EnsembleRunner
from pdafpy.errors import PdafpyError
from pdafpy.experiment_config import ExperimentConfig, check_layout, load_experiment
from pdafpy.filters import make_filter
from pdafpy.inflation import inflate, relax_to_prior_perturbations, relax_to_prior_spread
from pdafpy.localize import Localization
from pdafpy.model import Grid
from pdafpy.output import EnsembleWriter, gather_blocks
from pdafpy.parallel import make_layout
from pdafpy.perturb import SpatialStructure, perturb_log10_ks, perturb_state

from .model import LandDAModel
from .observations import ObservationNetwork, surface_layers

__all__ = ["MODEL_SECTIONS", "load", "run_twin", "main"]

log = logging.getLogger("pdafpy.twin")

MODEL_SECTIONS = ("grid", "soil", "boundary", "initial", "solver", "land", "forcing",
                  "perturbations")
PHASES = ("forecast", "collect", "observe", "analyse", "output", "distribute")
ANALYSED = ("pressure_head", "water_content", "water_table_depth")
OUTPUT_FIELDS = ("pressure_head", "water_content", "water_table_depth", "leaf_biomass")


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, Mapping) and isinstance(
            out.get(key), Mapping) else value
    return out


def default_table() -> dict:
    """The packaged example (``models/landda/default.toml``)."""
    text = resources.files("models.landda").joinpath("default.toml").read_text()
    import tomllib
    return tomllib.loads(text)


def load(source: str | Path | None) -> tuple[ExperimentConfig, dict]:
    """The experiment configuration: the packaged example overridden by ``source``."""
    table = default_table()
    if source is not None:
        table = _merge(table, load_toml(source))
    return load_experiment(table, MODEL_SECTIONS)


def model_config(cfg: ExperimentConfig, tables: Mapping[str, Any]) -> dict:
    """The :class:`LandDAModel` configuration from the experiment's model tables."""
    sub = {k: tables[k] for k in ("grid", "soil", "boundary", "initial", "solver") if k in tables}
    pert = dict(tables.get("perturbations", {}))
    return {"subsurface": sub, "land": dict(tables.get("land", {})),
            "forcing": dict(tables.get("forcing", {})),
            "coupling": {"dt_s": cfg.schedule.coupling_step_s},
            "parameter_fields": ["log10_ks"], "update": cfg.filter.update,
            "perturbations": {"forcing": pert.get("forcing", {}),
                              "forcing_correlation": pert.get("forcing_correlation")},
            "seed": cfg.ensemble.seed, "n_members": cfg.ensemble.size}


def _initial_member(model: LandDAModel, base: Mapping[str, np.ndarray], member: int, n: int,
                    seed: int, pert: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Initial fields of run ``member``: perturbed head and log10 Ks (truth: key ``n``)."""
    key = member % n if member < 2 * n else n
    g, b = model.grid, model.box
    box = (b.y0, b.y1, b.x0, b.x1)
    state = {k: v.copy() for k, v in base.items()}
    sd_head = np.asarray(pert.get("initial_head_sd_m", 0.0), dtype=float)
    if np.any(sd_head > 0) and key < n:
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


class _Skill:
    """Time series of column diagnostics on filter rank 0, for the summary."""

    def __init__(self) -> None:
        self.series: dict[str, list[np.ndarray]] = defaultdict(list)

    def add(self, key: str, value: np.ndarray | None) -> None:
        if value is not None:
            self.series[key].append(value)

    def array(self, key: str) -> np.ndarray:
        return np.array(self.series[key])


def _column_means(layout, ens: np.ndarray, weights: np.ndarray, layers: np.ndarray) -> np.ndarray:
    """Thickness-weighted water content over ``layers`` per member and column ``(N, ny, nx)``."""
    theta = layout.view(ens, "water_content")[:, layers]
    return np.einsum("klij,l->kij", theta, weights / weights.sum())


def run_twin(world: Any, cfg: ExperimentConfig, tables: Mapping[str, Any],
             out: Path | None = None) -> dict | None:
    """Run the twin experiment on ``world``; the summary on world rank 0 (None elsewhere)."""
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
    pert = dict(tables.get("perturbations", {}))
    if model is not None:
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
                                      "filter": str(cfg.filter.type)})
                   for k, m in kinds.items()}
    skill = _Skill()
    counts = defaultdict(int)
    seconds = defaultdict(float)
    hours = cfg.schedule.length_days * 24.0
    step_h = min(t.section.interval_h for t in network.types)
    times_h = np.arange(step_h, hours + 1e-9, step_h)
    t_prev = 0.0
    start_wall = time.perf_counter()
    for cycle, hour in enumerate(times_h):
        t0 = time.perf_counter()
        runner.forecast(t_prev * 3600.0, hour * 3600.0)
        t1 = time.perf_counter()
        ens = runner.collect()
        t2 = time.perf_counter()
        seconds["forecast"] += t1 - t0
        seconds["collect"] += t2 - t1
        if layout.is_filter:
            _analyse_cycle(cfg, layout, grid, boxes, runner, ens, network, offsets, filt, writers,
                           skill, counts, seconds, cycle, hour, (surface_l, surface_w),
                           (root_l, root_w))
        t3 = time.perf_counter()
        runner.distribute(ens)
        seconds["distribute"] += time.perf_counter() - t3
        t_prev = hour
    for w in writers.values():
        w.close()
    wall = time.perf_counter() - start_wall
    totals = {k: world.allreduce(seconds.get(k, 0.0), op=_max()) for k in PHASES}
    layout.free()
    if world.Get_rank() != 0:
        return None
    summary = _summary(cfg, skill, counts, totals, wall, world.Get_size(), grid)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "summary.json", summary)
    return summary


def _max() -> Any:
    from mpi4py import MPI
    return MPI.MAX


def _analyse_cycle(cfg, layout, grid, boxes, runner, ens, network, offsets, filt, writers, skill,
                   counts, seconds, cycle, hour, surface, root) -> None:
    """Observe the truth, analyse the assimilated runs, record output and skill (filter ranks)."""
    n = cfg.ensemble.size
    comm = layout.comm_filter
    fl = runner.filter_layout
    da, ol, truth = ens[:n], ens[n:2 * n], ens[2 * n:]
    t0 = time.perf_counter()
    obs_types = []
    well_truth = {}
    for k in network.due(hour):
        t = network.types[k]
        truth_hx = _global_hx(t.operator, truth, fl, grid, comm, boxes)
        values = network.synthetic(k, truth_hx, cycle, int(offsets[k]))
        obs_types.append(network.observation_type(k, values))
        if t.section.type == "groundwater_level":
            well_truth[k] = truth_hx
    t1 = time.perf_counter()
    seconds["observe"] += t1 - t0
    for name, part in (("assimilation", da), ("open_loop", ol), ("truth", truth)):
        writers[name].write(hour * 3600.0, False, part, fl)
    forecast = da.copy()
    t2 = time.perf_counter()
    report = analysis_step(filt, da, fl, grid, obs_types, comm, boxes, cycle=cycle,
                           analysed_fields=[f for f in ANALYSED if f in
                                            [s.name for s in fl.fields]])
    inflate(da, cfg.inflation.multiplicative)
    if cfg.inflation.rtpp:
        relax_to_prior_perturbations(da, forecast, cfg.inflation.rtpp)
    if cfg.inflation.rtps:
        relax_to_prior_spread(da, forecast, cfg.inflation.rtps)
    t3 = time.perf_counter()
    seconds["analyse"] += t3 - t2
    used = comm.allreduce(report.owned_obs)
    omitted = comm.allreduce(int(np.sum(report.omitted_obs)))
    counts["used"] += used
    counts["omitted"] += omitted
    counts["halo_bytes_max"] = max(counts["halo_bytes_max"],
                                   comm.allreduce(report.halo.bytes_sent, op=_max()))
    for name, part in (("assimilation", da), ("open_loop", ol), ("truth", truth)):
        writers[name].write(hour * 3600.0, True, part, fl)
    # skill: column means gathered to filter rank 0
    for label, (layers, weights) in (("surface", surface), ("root_zone", root)):
        for run, part in (("da_f", forecast), ("da", da), ("ol", ol), ("truth", truth)):
            mean = _column_means(fl, part, weights, layers)
            skill.add(f"{label}/{run}", gather_blocks(comm, boxes, mean.mean(axis=0), grid.ny,
                                                      grid.nx))
            if run == "da_f":
                skill.add(f"{label}/spread", gather_blocks(comm, boxes, mean.std(axis=0, ddof=1),
                                                           grid.ny, grid.nx))
    wtd = {run: gather_blocks(comm, boxes, fl.view(part, "water_table_depth")[:, 0].mean(0),
                              grid.ny, grid.nx) for run, part in
           (("da", da), ("ol", ol), ("truth", truth))}
    if comm.Get_rank() == 0:
        for k, t in enumerate(network.types):
            if t.section.type != "groundwater_level":
                continue
            rows, cols = t.operator.row[:, 0], t.operator.col[:, 0]
            for group, mask in (("assimilated", t.assimilated), ("withheld", ~t.assimilated)):
                for run in ("da", "ol", "truth"):
                    skill.add(f"wells_{group}/{run}", wtd[run][rows[mask], cols[mask]])
        theta_ok = _theta_within_bounds(fl, da)
        counts["theta_out_of_bounds"] += 0 if theta_ok else 1
    t4 = time.perf_counter()
    seconds["output"] += t4 - t3
    if comm.Get_rank() == 0:
        log.info("day %6.2f: %4d observations used, %d rejected, analysis %.2f s",
                 hour / 24.0, used, omitted, t3 - t2)


def _theta_within_bounds(fl, da) -> bool:
    theta = fl.view(da, "water_content")
    return bool(np.all(np.isfinite(theta)) and np.all(theta >= -1e-12) and np.all(theta <= 1.0))


def _global_hx(operator, truth: np.ndarray, fl, grid: Grid, comm, boxes) -> np.ndarray:
    """The operator applied to the truth over the whole grid, on every filter rank."""
    from pdafpy.decomposition import Box

    full = comm.bcast(gather_blocks(comm, boxes, fl.view(truth, operator.field), grid.ny,
                                    grid.nx), root=0)
    return operator.apply(full, Box(0, grid.ny, 0, grid.nx))[0]


def _metrics(est: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Per-cell statistics over time, averaged over cells (time first axis)."""
    return {"ubrmse": float(np.nanmean(ubrmse(est, truth, axis=0))),
            "rmse": float(np.nanmean(rmse(est, truth, axis=0))),
            "bias": float(np.nanmean(bias(est, truth, axis=0))),
            "correlation": float(np.nanmean(correlation(est, truth, axis=0)))}


def _summary(cfg, skill: _Skill, counts, totals, wall, ranks, grid) -> dict:
    variables = {}
    for label in ("surface", "root_zone", "wells_assimilated", "wells_withheld"):
        if not skill.series.get(f"{label}/truth"):
            continue
        truth = skill.array(f"{label}/truth")
        ol = _metrics(skill.array(f"{label}/ol"), truth)
        da = _metrics(skill.array(f"{label}/da"), truth)
        entry = {"open_loop": ol, "assimilation": da,
                 "ubrmse_reduction": 1.0 - da["ubrmse"] / ol["ubrmse"] if ol["ubrmse"] else 0.0}
        if skill.series.get(f"{label}/spread"):
            spread = np.mean(skill.array(f"{label}/spread"))
            entry["spread_over_rmse"] = float(spread / np.mean(
                rmse(skill.array(f"{label}/da_f"), truth, axis=0)))
        variables[label] = entry
    sim_years = cfg.schedule.length_days / 365.25
    members = 2 * cfg.ensemble.size + 1
    return {"variables": variables, "observations_used": counts["used"],
            "observations_rejected": counts["omitted"],
            "theta_out_of_bounds_cycles": counts["theta_out_of_bounds"],
            "halo_bytes_max": counts["halo_bytes_max"],
            "seconds": {k: round(v, 3) for k, v in totals.items()}, "wall_s": round(wall, 2),
            "ranks": ranks, "runs": members,
            "core_hours_per_member_per_simulated_year":
                wall * ranks / 3600.0 / members / sim_years,
            "grid": [grid.ny, grid.nx, int(grid.z.size)], "members": cfg.ensemble.size,
            "filter": str(cfg.filter.type), "days": cfg.schedule.length_days}


def print_summary(summary: dict) -> None:
    """The skill and timing tables, as a person reads them."""
    print(f"{'variable':20s} {'ubRMSE open loop':>17s} {'ubRMSE analysis':>16s} {'reduction':>10s}"
          f" {'spread/RMSE':>12s}")
    for name, v in summary["variables"].items():
        ratio = v.get("spread_over_rmse")
        print(f"{name:20s} {v['open_loop']['ubrmse']:17.4f} {v['assimilation']['ubrmse']:16.4f} "
              f"{100 * v['ubrmse_reduction']:9.1f}% " + (f"{ratio:12.2f}" if ratio else ""))
    print(f"\n{'phase':12s} {'seconds':>9s}")
    for k, v in summary["seconds"].items():
        print(f"{k:12s} {v:9.2f}")
    print(f"{'wall':12s} {summary['wall_s']:9.2f}   on {summary['ranks']} ranks; "
          f"{summary['core_hours_per_member_per_simulated_year']:.3f} core-hours per member per "
          "simulated year")


def main(argv: list[str] | None = None) -> int:
    """``pdafpy run [CONFIG]``: run the experiment (the packaged example without CONFIG)."""
    from mpi4py import MPI

    parser = argparse.ArgumentParser(prog="pdafpy run", description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", help="experiment TOML (default: packaged example)")
    parser.add_argument("--out", type=Path, help="output folder (overrides [output] directory)")
    args = parser.parse_args(argv)
    world = MPI.COMM_WORLD
    error = None
    try:
        cfg, tables = load(args.config)
        check_layout(cfg, world.Get_size())
    except PdafpyError as exc:
        error = str(exc)
    if world.allreduce(error is not None, op=MPI.LOR):
        if world.Get_rank() == 0:
            print(f"pdafpy run: error: {error}", file=sys.stderr)
        return 2
    summary = run_twin(world, cfg, tables, args.out)
    if summary is not None:
        print_summary(summary)
    return 0

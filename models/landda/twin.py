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
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pdafpy.atomic import write_json
from pdafpy.decomposition import block_boxes, choose_process_grid
from pdafpy.ensemble import EnsembleRunner
from pdafpy.errors import PdafpyError
from pdafpy.experiment_config import ExperimentConfig, check_layout
from pdafpy.filters import make_filter
from pdafpy.localize import Localization
from pdafpy.model import Grid
from pdafpy.output import EnsembleWriter
from pdafpy.parallel import make_layout
from pdafpy.perturb import SpatialStructure, perturb_log10_ks, perturb_state

from .cycle import Skill, analyse_cycle, mpi_max
from .model import LandDAModel
from .observations import ObservationNetwork, surface_layers
from .setup import load, model_config
from .summary import print_summary, summarize

__all__ = ["run_twin", "main"]

log = logging.getLogger("pdafpy.twin")

PHASES = ("forecast", "collect", "observe", "analyse", "output", "distribute")
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
                                      "filter": str(cfg.filter.type)}, z_bounds=interfaces)
                   for k, m in kinds.items()}
    skill = Skill()
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
            analyse_cycle(cfg, layout, grid, boxes, runner, ens, network, offsets, filt, writers,
                           skill, counts, seconds, cycle, hour, (surface_l, surface_w),
                           (root_l, root_w))
        t3 = time.perf_counter()
        runner.distribute(ens)
        seconds["distribute"] += time.perf_counter() - t3
        t_prev = hour
    for w in writers.values():
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

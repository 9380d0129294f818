"""One assimilation cycle of the twin experiment on the filter ranks.

Synthetic observations from the truth run, the analysis of the assimilated runs (observe, halo
exchange, local analysis), inflation, the forecast and analysis records of every output file and
the column diagnostics the summary's skill scores are computed from.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from typing import Any

import numpy as np

from pdafpy.analysis import analysis_step
from pdafpy.decomposition import Box
from pdafpy.inflation import inflate, relax_to_prior_perturbations, relax_to_prior_spread
from pdafpy.model import Grid
from pdafpy.output import gather_blocks

__all__ = ["Skill", "ANALYSED", "analyse_cycle", "mpi_max"]

log = logging.getLogger("pdafpy.twin")

ANALYSED = ("pressure_head", "water_content", "water_table_depth")


class Skill:
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


def mpi_max() -> Any:
    from mpi4py import MPI
    return MPI.MAX


def analyse_cycle(cfg, layout, grid, boxes, runner, ens, network, offsets, filt, writers, skill,
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
                                   comm.allreduce(report.halo.bytes_sent, op=mpi_max()))
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
    full = comm.bcast(gather_blocks(comm, boxes, fl.view(truth, operator.field), grid.ny,
                                    grid.nx), root=0)
    return operator.apply(full, Box(0, grid.ny, 0, grid.nx))[0]



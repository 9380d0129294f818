"""One assimilation cycle of the twin experiment on the filter ranks.

Synthetic observations from the truth run, the analysis of the assimilated runs (observe, halo
exchange, local analysis), inflation, the forecast and analysis records of every output file and
the column diagnostics the summary's skill scores are computed from.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from pdafpy.analysis import analysis_step
from pdafpy.inflation import inflate, relax_to_prior_perturbations, relax_to_prior_spread
from pdafpy.output import gather_blocks

__all__ = ["Skill", "ANALYSED", "AnalysisGroup", "CycleObservations", "analysis_groups",
           "analyse_cycle", "record_analysis", "mpi_max"]

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


@dataclass
class CycleObservations:
    """What one cycle observed, for the observation-space diagnostics (filter ranks).

    Attributes
    ----------
    types : list of int
        The due observation types (network indices).
    values : list of (m_k,) ndarray
        Every observation of each type (assimilated and withheld).
    forecast_mean : list of (m_k,) ndarray
        The operator applied to the forecast ensemble mean.
    used, rejected : int
        Observations the analysis used and left out by the innovation check (all ranks).
    """

    types: list[int]
    values: list[np.ndarray]
    forecast_mean: list[np.ndarray]
    used: int = 0
    rejected: int = 0


def analyse_cycle(cfg, layout, grid, boxes, runner, ens, network, offsets, filt, writers,
                  counts, seconds, cycle, hour) -> tuple[np.ndarray, CycleObservations]:
    """Observe the truth, write the forecast records and analyse the assimilated runs in place.

    Returns the assimilated runs' forecast (a copy) and what was observed.
    """
    n = cfg.ensemble.size
    comm = layout.comm_filter
    fl = runner.filter_layout
    da, ol, truth = ens[:n], ens[n:2 * n], ens[2 * n:]
    t0 = time.perf_counter()
    obs_types = []
    due = network.due(hour)
    observed = CycleObservations(due, [], [])
    for k in due:
        operator = network.types[k].operator
        truth_hx = _global_hx(operator, truth, fl, comm, boxes)
        values = network.synthetic(k, truth_hx, cycle, int(offsets[k]))
        obs_types.append(network.observation_type(k, values))
        observed.values.append(values)
        observed.forecast_mean.append(_global_hx(operator, da.mean(axis=0, keepdims=True), fl,
                                                 comm, boxes))
    t1 = time.perf_counter()
    seconds["observe"] += t1 - t0
    for name, part in (("assimilation", da), ("open_loop", ol), ("truth", truth)):
        writers[name].write(hour * 3600.0, False, part, fl)
    forecast = da.copy()
    t2 = time.perf_counter()
    seconds["output"] += t2 - t1
    groups = analysis_groups(network, due, [f.name for f in fl.fields], cfg.filter.parameters)
    reports = []
    for group in groups:
        before = da.copy() if group.parameters and cfg.filter.parameter_damping < 1.0 else None
        reports.append(analysis_step(filt, da, fl, grid, [obs_types[due.index(k)]
                                                          for k in group.types],
                                     comm, boxes, cycle=cycle, analysed_fields=group.fields,
                                     analysed_levels=group.levels))
        if before is not None:
            _damp(fl, da, before, group, cfg.filter.parameter_damping)
    analysed = np.unique(np.concatenate([fl.column_indices(g.fields, g.levels).ravel()
                                         for g in groups])) if groups else np.zeros(0, int)
    _inflate_analysed(cfg, da, forecast, analysed)
    t3 = time.perf_counter()
    halo = sum(r.seconds.get("halo", 0.0) for r in reports)
    seconds["halo"] += halo
    seconds["analyse"] += t3 - t2 - halo
    observed.used = comm.allreduce(sum(r.owned_obs for r in reports))
    observed.rejected = comm.allreduce(int(sum(np.sum(r.omitted_obs) for r in reports)))
    counts["used"] += observed.used
    counts["omitted"] += observed.rejected
    counts["halo_bytes_max"] = max(counts["halo_bytes_max"],
                                   comm.allreduce(max([r.halo.bytes_sent for r in reports],
                                                      default=0), op=mpi_max()))
    return forecast, observed


def record_analysis(cfg, layout, grid, boxes, fl, ens, forecast, observed, network, writers,
                    obs_writer, skill, counts, seconds, hour, surface, root, theta_bounds) -> None:
    """Analysis records, observation-space diagnostics and skill of one cycle (filter ranks).

    ``ens`` is the ensemble as the model holds it after loading the analysis (derived fields
    recomputed from the analysed state, water content reconciled per ``filter.update``), so the
    records and scores describe the state the forecast continues from.
    """
    t0 = time.perf_counter()
    n = cfg.ensemble.size
    comm = layout.comm_filter
    da, ol, truth = ens[:n], ens[n:2 * n], ens[2 * n:]
    for name, part in (("assimilation", da), ("open_loop", ol), ("truth", truth)):
        writers[name].write(hour * 3600.0, True, part, fl)
    analysis_hx = [_global_hx(network.types[k].operator, da.mean(axis=0, keepdims=True), fl,
                              comm, boxes) for k in observed.types]
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
    out_of_bounds = comm.allreduce(_theta_violations(fl, da, theta_bounds))
    if comm.Get_rank() == 0:
        for k, t in enumerate(network.types):
            if t.section.type != "groundwater_level":
                continue
            rows, cols = t.operator.row[:, 0], t.operator.col[:, 0]
            for group, mask in (("assimilated", t.assimilated), ("withheld", ~t.assimilated)):
                for run in ("da", "ol", "truth"):
                    skill.add(f"wells_{group}/{run}", wtd[run][rows[mask], cols[mask]])
        counts["theta_out_of_bounds"] += int(out_of_bounds > 0)
        for i, k in enumerate(observed.types):
            t = network.types[k]
            obs_writer.write(hour * 3600.0, k, t.coords, t.assimilated, observed.values[i],
                             t.section.error, observed.forecast_mean[i], analysis_hx[i])
        innovation = np.concatenate([v - f for v, f in zip(observed.values,
                                                           observed.forecast_mean)] or [[0.0]])
        log.info("day %6.2f: %4d observations used, %d rejected, mean innovation %+.4f",
                 hour / 24.0, observed.used, observed.rejected, float(np.mean(innovation)))
    seconds["output"] += time.perf_counter() - t0


@dataclass(frozen=True)
class AnalysisGroup:
    """Observation types analysed together, and the part of the state they update.

    Attributes
    ----------
    types : tuple of int
        Indices of the observation types (in the network).
    fields : tuple of str
        Fields updated.
    levels : dict
        For layered fields updated only in part, the levels (0 = top); empty: whole columns.
    parameters : tuple of str
        The parameter fields among ``fields``.
    """

    types: tuple[int, ...]
    fields: tuple[str, ...]
    levels: dict[str, np.ndarray]
    parameters: tuple[str, ...]


def analysis_groups(network, due: Sequence[int], field_names: Sequence[str],
                    parameters: Sequence[str] = ()) -> list[AnalysisGroup]:
    """The analyses of one cycle: the due types grouped by what they update.

    Types without an ``update_depth_m`` range update whole columns; types with a range
    ``[top, bottom]`` update the layers whose centre lies in it (pressure head, water content and
    the estimated parameters), and the water-table depth only if the range reaches the bottom of
    the domain. Types with ``update_parameters = false`` leave the parameters alone. Groups are
    analysed one after the other in the order their first type is configured, each observing the
    ensemble the previous one left (a weakly coupled analysis, as LI's WC_DA experiments; LI's
    _PAR runs update Ks with the wells only).
    """
    interfaces = network.interfaces
    centres = 0.5 * (interfaces[:-1] + interfaces[1:])
    keys: dict[tuple[float, float, bool], list[int]] = {}
    for k in due:
        section = network.types[k].section
        r = section.update_depth_m or (0.0, float(interfaces[-1]))
        keys.setdefault((float(r[0]), float(r[1]), section.update_parameters), []).append(k)
    groups = []
    for (top, bottom, with_parameters), types in keys.items():
        levels = np.flatnonzero((centres >= top) & (centres <= bottom))
        whole = levels.size == centres.size
        reaches_bottom = bottom >= interfaces[-1]
        estimated = tuple(parameters) if with_parameters else ()
        fields = tuple(f for f in ANALYSED + estimated if f in field_names
                       and (f != "water_table_depth" or reaches_bottom))
        groups.append(AnalysisGroup(tuple(types), fields,
                                    {} if whole else {f: levels for f in fields
                                                      if f != "water_table_depth"},
                                    tuple(p for p in parameters if p in fields)))
    return groups


def _damp(fl, da: np.ndarray, before: np.ndarray, group: AnalysisGroup, damping: float) -> None:
    """Apply only ``damping`` of the analysis increment to the group's parameters (in place)."""
    for name in group.parameters:
        new, old = fl.view(da, name), fl.view(before, name)
        new[...] = old + damping * (new - old)


def _inflate_analysed(cfg, da: np.ndarray, forecast: np.ndarray, analysed: np.ndarray) -> None:
    """Inflation and relaxation of the analysed state elements only (others keep their spread)."""
    if analysed.size == 0:
        return
    part, prior = da[:, analysed], forecast[:, analysed]
    inflate(part, cfg.inflation.multiplicative)
    if cfg.inflation.rtpp:
        relax_to_prior_perturbations(part, prior, cfg.inflation.rtpp)
    if cfg.inflation.rtps:
        relax_to_prior_spread(part, prior, cfg.inflation.rtps)
    da[:, analysed] = part


def _theta_violations(fl, ens: np.ndarray, bounds: tuple[np.ndarray, np.ndarray]) -> int:
    """Water-content values outside ``[theta_r, theta_s]`` (or not finite) on this rank."""
    theta = fl.view(ens, "water_content")
    low, high = bounds
    tol = 1e-9
    bad = ~np.isfinite(theta) | (theta < low - tol) | (theta > high + tol)
    return int(np.count_nonzero(bad))


def _global_hx(operator, part: np.ndarray, fl, comm, boxes) -> np.ndarray:
    """The operator applied to a one-member ensemble ``part`` over the whole grid, on every
    filter rank (each rank reads the stencil points of its own block)."""
    return operator.apply_shared(fl.view(part, operator.field), boxes[comm.Get_rank()], comm)[0]



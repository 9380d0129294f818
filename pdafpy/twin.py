"""pdafpy's generic twin and free run, for any model that declares what ``pdafpy run`` needs.

The run groups are the assimilation (``N`` members), its open loop and the truth (``mode =
"twin"``), or the ensemble alone (``mode = "free"``). Each ``[[observations]]`` of type
``grid_point`` (:mod:`pdafpy.obs.synthetic`) is drawn from the truth at its own interval. The
output folder receives one NetCDF file per run group (forecast and analysis records of
ensemble mean and spread of every field, :class:`pdafpy.output.EnsembleWriter`) and
``summary.json``: per field, the RMSE over the grid of the ensemble mean against the truth,
averaged over the analysis times, for the open loop, the assimilation's forecasts (before each
analysis) and its analyses, with the ensemble spread.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .cycle import CycleHooks, CycleStep, Observed
from .groups import RunGroups
from .localize import Localization
from .obs.synthetic import (GridPointSection, SyntheticType, grid_point_type, observation_type,
                            synthetic_values)
from .output import EnsembleWriter

__all__ = ["GenericTwin", "field_skill", "print_field_summary"]

log = logging.getLogger(__name__)


def field_skill(layout: Any, ens: np.ndarray, truth: np.ndarray | None, comm: Any
                ) -> dict[str, tuple[float, float]]:
    """Per field, the RMSE of the ensemble mean against ``truth`` over the whole grid and the
    mean ensemble spread (RMS of the standard deviation), over every filter rank (collective).

    Parameters
    ----------
    layout : StateLayout
    ens : (N, n) ndarray
        This rank's block of the ensemble.
    truth : (1, n) ndarray or None
        This rank's block of the truth (None: the RMSE is NaN).
    """
    from mpi4py import MPI

    names = [f.name for f in layout.fields]
    sums = np.zeros((len(names), 3))
    mean = ens.mean(axis=0)
    var = ens.var(axis=0, ddof=1) if ens.shape[0] > 1 else np.zeros_like(mean)
    for i, name in enumerate(names):
        part = layout.field_slice(name)
        err = (mean[part] - truth[0, part]) if truth is not None else np.full(1, np.nan)
        sums[i] = (np.sum(err ** 2), np.sum(var[part]), mean[part].size)
    comm.Allreduce(MPI.IN_PLACE, sums)
    return {name: (float(np.sqrt(s[0] / s[2])), float(np.sqrt(s[1] / s[2])))
            for name, s in zip(names, sums)}


class GenericTwin(CycleHooks):
    """The cycle's hooks of the generic twin or free run (see the module notes).

    Parameters
    ----------
    cfg : ExperimentConfig
    job : pdafpy.job.Job
    groups : RunGroups
    localization : Localization
        The default localisation of every observation type.
    time_unit_s : float
        Seconds per model time unit.
    out : Path
        Output folder.
    """

    def __init__(self, cfg: Any, job: Any, groups: RunGroups, localization: Localization,
                 time_unit_s: float, out: Path):
        self.cfg, self.job, self.groups = cfg, job, groups
        self.localization, self.time_unit_s = localization, time_unit_s
        self.types: list[SyntheticType] = [
            grid_point_type(s, job.grid, job.fields, cfg.ensemble.seed, i)
            for i, s in enumerate(cfg.observations) if isinstance(s, GridPointSection)]
        self.offsets = np.concatenate([[0], np.cumsum([t.operator.size for t in self.types])])
        self.scores: dict[str, list[dict]] = defaultdict(list)
        self.writers: dict[str, EnsembleWriter] = {}
        if job.layout.is_filter:
            self.fl = job.runner.filter_layout
            self.comm = job.layout.comm_filter
            self.writers = {g.name: EnsembleWriter(
                out / f"{g.name}.nc", self.comm, job.boxes, job.grid, job.fields,
                cfg.schedule.start, g.size, cfg.output.members and g.kind != "truth",
                {"title": f"pdafpy {cfg.mode} run of {cfg.model}: {g.name}",
                 "filter": str(cfg.filter.type)}) for g in groups}

    def observe(self, step: CycleStep, ens: np.ndarray) -> Observed:
        """The truth plus noise at every observation of the due types."""
        if "truth" not in self.groups:
            return Observed([])
        truth = self.groups.part(ens, "truth")
        box = self.job.boxes[self.comm.Get_rank()]
        types = []
        for k in step.due:
            t = self.types[k]
            truth_hx = t.operator.apply_shared(self.fl.view(truth, t.operator.field), box,
                                               self.comm)[0]
            values = synthetic_values(truth_hx, t.section.error, self.cfg.ensemble.seed,
                                      step.index, int(self.offsets[k]))
            types.append(observation_type(t, values, self.localization))
        return Observed(types)

    def _write(self, step: CycleStep, ens: np.ndarray, analysis: bool) -> None:
        for g in self.groups:
            self.writers[g.name].write(step.t1 * self.time_unit_s, analysis,
                                       self.groups.part(ens, g.name), self.fl)

    def record_forecast(self, step: CycleStep, ens: np.ndarray) -> None:
        self._write(step, ens, False)
        if "assimilation" in self.groups:
            self._score("assimilation_forecast", self.groups.part(ens, "assimilation"), ens)

    def record_analysis(self, step: CycleStep, ens: np.ndarray, forecast: np.ndarray,
                        observed: Observed) -> None:
        self._write(step, ens, True)
        for g in self.groups:
            if g.kind != "truth":
                self._score(g.name, self.groups.part(ens, g.name), ens)
        if self.comm.Get_rank() == 0 and observed.types:
            log.info("%s: %d observations used, %d rejected",
                     self.describe_time(step.t1), observed.used, observed.rejected)

    def _score(self, name: str, part: np.ndarray, ens: np.ndarray) -> None:
        truth = self.groups.part(ens, "truth") if "truth" in self.groups else None
        self.scores[name].append(field_skill(self.fl, part, truth, self.comm))

    def files(self) -> dict[str, Any]:
        return dict(self.writers)

    def checkpoint_state(self) -> dict[str, Any]:
        return {"scores": {name: {field: np.array([s[field] for s in series])
                                  for field in series[0]}
                           for name, series in self.scores.items() if series}}

    def restore_checkpoint(self, saved: Mapping[str, Any]) -> None:
        for name, fields in saved.get("scores", {}).items():
            rows = zip(*[np.asarray(v) for v in fields.values()])
            self.scores[name] = [{f: tuple(float(x) for x in r) for f, r in zip(fields, row)}
                                 for row in rows]

    def describe_time(self, t: float) -> str:
        days = t * self.time_unit_s / 86400.0
        return f"day {days:g}" if self.time_unit_s != 1.0 else f"t = {t:g}"

    def summary(self) -> dict[str, Any]:
        """Per field and run: the time-mean RMSE against the truth and spread (filter rank 0)."""
        variables: dict[str, dict] = defaultdict(dict)
        for name, series in self.scores.items():
            for field in series[0]:
                values = np.array([s[field] for s in series])
                rmse = float(np.mean(values[:, 0]))
                variables[field][name] = {"rmse": rmse if np.isfinite(rmse) else None,
                                          "spread": float(np.mean(values[:, 1]))}
        return dict(variables)


def print_field_summary(summary: Mapping[str, Any], runs: Sequence[str]) -> None:
    """The per-field table of a generic run, as a person reads it."""
    print("ensemble-mean RMSE against the truth (spread), averaged over the analysis times")
    print(f"{'field':16s}" + "".join(f" {r:>28s}" for r in runs))
    for field, entry in summary["variables"].items():
        cells = [("-" if entry[r]["rmse"] is None else f"{entry[r]['rmse']:.4f}")
                 + f" ({entry[r]['spread']:.4f})" if r in entry else "-" for r in runs]
        print(f"{field:16s}" + "".join(f" {c:>28s}" for c in cells))

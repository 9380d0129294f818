"""pdafpy's generic experiment, for any model that declares what ``pdafpy run`` needs.

The run groups are the assimilation (``N`` members), its open loop and the truth (``mode =
"twin"``), the truth alone (``"truth"``), the assimilation and its open loop (``"assimilate"``)
or the open loop alone (``"free"``). The observations of each ``[[observations]]`` type (any
registered observation module, :mod:`pdafpy.obs.module`) are drawn from the truth at the type's
own interval, or read from its ``file``, and taken through the module's select, QC and operator.
The output folder receives one NetCDF file per run group (forecast and analysis records of
ensemble mean and spread of every field, :class:`pdafpy.output.EnsembleWriter`),
``observations.nc`` (pdafpy's observation file; with the operator on the forecast and analysis
means where an analysis was made) and ``summary.json``: per field, the RMSE over the grid of the
ensemble mean against the truth (the run's own, or a truth pass's file), averaged over the
analysis times, for the open loop, the assimilation's forecasts (before each analysis) and its
analyses, with the ensemble spread; with ``[schedule] assimilate_until_days`` also per phase
(``phases``: the analysis times up to the cut, the free forecast's would-be ones after it).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .cycle import CycleHooks, CycleStep, Observed
from .groups import RunGroups
from .obs.diagnostics_file import ObservationDiagnosticsWriter, WindowObservations
from .obs.files import ObservationWriter
from .obs.records import ObservationRecords
from .output import EnsembleWriter

__all__ = ["GenericTwin", "field_skill", "print_field_summary", "PHASES"]

#: The phases of a run with ``[schedule] assimilate_until_days``: the analysis times up to the
#: cut, and the would-be analysis times of the free forecast after it.
PHASES = ("assimilation", "free_forecast")

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
    """The cycle's hooks of the generic twin, truth pass, run with observation files, or free
    run (see the module notes).

    Parameters
    ----------
    cfg : ExperimentConfig
    job : pdafpy.job.Job
    groups : RunGroups
    modules : sequence of ObservationModule
        One per ``[[observations]]`` table.
    schedule : AnalysisSchedule
        Its observation windows pick each analysis's observations.
    records : ObservationRecords
        The observations read from files (``mode = "assimilate"``; empty otherwise).
    time_unit_s : float
        Seconds per model time unit.
    out : Path
        Output folder.
    truth_file : TruthFile, optional
        What to score against where no run is the truth (``[verification] truth``).
    """

    def __init__(self, cfg: Any, job: Any, groups: RunGroups, modules: Sequence[Any],
                 schedule: Any, records: ObservationRecords, time_unit_s: float, out: Path,
                 truth_file: Any = None):
        self.cfg, self.job, self.groups = cfg, job, groups
        self.modules, self.schedule, self.records = list(modules), schedule, records
        self.time_unit_s, self.truth_file = time_unit_s, truth_file
        synthesise = "truth" in groups
        self.networks = [m.network() for m in self.modules] if synthesise else []
        self.operators = [m.synthesis_operator(n) for m, n in zip(self.modules, self.networks)]
        self.offsets = np.concatenate([[0], np.cumsum([n.size for n in self.networks])])
        #: run -> field -> [sum of RMSE, sum of spread, analyses] (constant size)
        self.scores: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
        #: with ``[schedule] assimilate_until_days``: the same per phase, ``assimilation`` (the
        #: analysis times up to the cut) and ``free_forecast`` (the would-be ones after it)
        self.phased = cfg.schedule.assimilate_until_days is not None
        self.phase_scores: dict[str, dict[str, dict[str, np.ndarray]]] = {
            p: defaultdict(dict) for p in PHASES} if self.phased else {}
        self.writers: dict[str, Any] = {}
        self.obs_writer = None
        if job.layout.is_filter:
            self.fl = job.runner.filter_layout
            self.comm = job.layout.comm_filter
            self.writers = {g.name: EnsembleWriter(
                out / f"{g.name}.nc", self.comm, job.boxes, job.grid, job.fields,
                cfg.schedule.start, g.size, cfg.output.members and g.kind != "truth",
                {"title": f"pdafpy {cfg.mode} run of {cfg.model}: {g.name}",
                 "filter": str(cfg.filter.type), "perturbation_key": g.first_key})
                for g in groups}
            if (cfg.mode != "free" or records.size) and self.comm.Get_rank() == 0:
                writer = ObservationWriter if cfg.mode == "truth" \
                    else ObservationDiagnosticsWriter
                self.obs_writer = writer.for_modules(
                    out / "observations.nc", cfg.schedule.start, self.modules,
                    {"title": f"observations of a pdafpy {cfg.mode} run of {cfg.model}",
                     "seed": cfg.ensemble.seed})

    def observe(self, step: CycleStep, ens: np.ndarray) -> Observed:
        """The observations of each due type's window: drawn from the truth or read from
        files, both through the modules' select, QC and operator; a truth pass writes them and
        analyses nothing."""
        records = self._synthesise(step, ens) if "truth" in self.groups else self.records
        analysed = "assimilation" in self.groups
        if not analysed and not (self.cfg.mode == "free" and records.size):
            if self.obs_writer is not None:
                self.obs_writer.write(records)
            return Observed([])
        members = self.groups.part(ens, "assimilation" if analysed else "open_loop")
        mean = members.mean(axis=0, keepdims=True)
        observed = Observed([], WindowObservations())
        for k in step.due:
            lo, hi = (t * self.time_unit_s for t in self.schedule.observation_window(
                step.index, k))
            chosen = self.modules[k].process(self.modules[k].select(records, lo, hi),
                                             lambda op: self._applied(op, members))
            operator = self.modules[k].operator(chosen)
            if not analysed:              # a free run: the open loop at the file's observations
                if self.obs_writer is not None:
                    self.obs_writer.write_diagnostics(chosen, self._hx(operator, mean),
                                                      np.full(chosen.size, np.nan))
                continue
            observed.types.append(self.modules[k].observation_type(chosen))
            observed.details.records.append(chosen)
            observed.details.operators.append(operator)
            observed.details.forecast_mean.append(self._hx(operator, mean))
        return observed

    def _applied(self, operator: Any, part: np.ndarray) -> np.ndarray:
        """The operator on every run of ``part`` over the whole grid, ``(runs, m)``, on every
        filter rank (collective)."""
        box = self.job.boxes[self.comm.Get_rank()]
        return operator.apply_shared(self.fl.stacked(part, operator.field), box, self.comm)

    def _hx(self, operator: Any, part: np.ndarray) -> np.ndarray:
        """The operator on a one-run ``part`` over the whole grid, on every filter rank."""
        return self._applied(operator, part)[0]

    def _synthesise(self, step: CycleStep, ens: np.ndarray) -> ObservationRecords:
        """The truth plus noise at every network point of the due types."""
        truth = self.groups.part(ens, "truth")
        return ObservationRecords.concatenate([
            self.modules[k].synthetic(self.networks[k], self._hx(self.operators[k], truth),
                                      step.index, int(self.offsets[k]),
                                      step.t1 * self.time_unit_s) for k in step.due])

    def _write(self, step: CycleStep, ens: np.ndarray, analysis: bool) -> None:
        for g in self.groups:
            self.writers[g.name].write(step.t1 * self.time_unit_s, analysis,
                                       self.groups.part(ens, g.name), self.fl)

    def plan(self, step: Any, observed: Any) -> list[Any]:
        """The ``[[analysis]]`` modules due now (every field is theirs to update), or every
        due type at once."""
        if not self.cfg.analysis:
            return super().plan(step, observed)
        from .cycle import module_plan
        fields = self.fl.fields
        z = getattr(self.job.grid, "z", None)
        return module_plan(self.cfg.analysis, self.cfg.observations, step.due, step.t1,
                           default_fields=tuple(f.name for f in fields),
                           field_levels={f.name: f.levels for f in fields},
                           centres=None if z is None else np.asarray(z, dtype=float),
                           time_unit_s=self.time_unit_s)

    def record_between(self, step: CycleStep, t: float, ens: np.ndarray) -> None:
        for g in self.groups:
            self.writers[g.name].write(t * self.time_unit_s, False, self.groups.part(ens, g.name),
                                       self.fl)

    def record_forecast(self, step: CycleStep, ens: np.ndarray) -> None:
        self._write(step, ens, False)
        if "assimilation" in self.groups:
            self._score("assimilation_forecast", self.groups.part(ens, "assimilation"), ens,
                        step.t1, step)

    def record_analysis(self, step: CycleStep, ens: np.ndarray, forecast: np.ndarray,
                        observed: Observed) -> None:
        self._write(step, ens, True)
        for g in self.groups:
            if g.kind != "truth":
                self._score(g.name, self.groups.part(ens, g.name), ens, step.t1, step)
        if not observed.types:
            return
        mean = self.groups.part(ens, "assimilation").mean(axis=0, keepdims=True)
        details = observed.details
        analysis_mean = [self._hx(op, mean) for op in details.operators]
        if self.comm.Get_rank() == 0:
            for records, fmean, amean in zip(details.records, details.forecast_mean,
                                             analysis_mean):
                self.obs_writer.write_diagnostics(records, fmean, amean)
            log.info("%s: %d observations used, %d rejected",
                     self.describe_time(step.t1), observed.used, observed.rejected)

    def _score(self, name: str, part: np.ndarray, ens: np.ndarray, t: float,
               step: CycleStep | None = None) -> None:
        if "truth" in self.groups:
            truth = self.groups.part(ens, "truth")
        elif self.truth_file is not None:
            truth = self.truth_file.state_at(t * self.time_unit_s, self.fl)
        else:
            truth = None
        tables = [self.scores]
        if self.phased and step is not None:
            tables.append(self.phase_scores[PHASES[0] if step.assimilate else PHASES[1]])
        for name_of_field, values in field_skill(self.fl, part, truth, self.comm).items():
            for table in tables:
                total = table[name].setdefault(name_of_field, np.zeros(3))
                total += (values[0], values[1], 1.0)

    def files(self) -> dict[str, Any]:
        return dict(self.writers, **({"observations": self.obs_writer}
                                     if self.obs_writer is not None else {}))

    def checkpoint_state(self) -> dict[str, Any]:
        return {"scores": {name: dict(fields) for name, fields in self.scores.items()},
                "phase_scores": {p: {name: dict(fields) for name, fields in table.items()}
                                 for p, table in self.phase_scores.items()}}

    def restore_checkpoint(self, saved: Mapping[str, Any]) -> None:
        for name, fields in saved.get("scores", {}).items():
            self.scores[name] = {f: np.asarray(v, dtype=float) for f, v in fields.items()}
        for p, table in saved.get("phase_scores", {}).items():
            for name, fields in table.items():
                self.phase_scores[p][name] = {f: np.asarray(v, dtype=float)
                                              for f, v in fields.items()}

    def describe_time(self, t: float) -> str:
        days = t * self.time_unit_s / 86400.0
        return f"day {days:g}" if self.time_unit_s != 1.0 else f"t = {t:g}"

    def summary(self, phase: str | None = None) -> dict[str, Any]:
        """Per field and run: the time-mean RMSE against the truth and spread (filter rank 0),
        over the whole run or over one of :data:`PHASES` (a run with a cut)."""
        variables: dict[str, dict] = defaultdict(dict)
        scores = self.scores if phase is None else self.phase_scores[phase]
        for name, fields in scores.items():
            for name_of_field, (rmse_sum, spread_sum, count) in fields.items():
                rmse = float(rmse_sum / count)
                variables[name_of_field][name] = {"rmse": rmse if np.isfinite(rmse) else None,
                                                  "spread": float(spread_sum / count)}
        return dict(variables)


def print_field_summary(summary: Mapping[str, Any], runs: Sequence[str]) -> None:
    """The per-field table of a generic run, as a person reads it."""
    print("ensemble-mean RMSE against the truth (spread), averaged over the analysis times")
    print(f"{'field':16s}" + "".join(f" {r:>28s}" for r in runs))
    for name, entry in summary["variables"].items():
        cells = [("-" if entry[r]["rmse"] is None else f"{entry[r]['rmse']:.4g}")
                 + f" ({entry[r]['spread']:.4g})" if r in entry else "-" for r in runs]
        print(f"{name:16s}" + "".join(f" {c:>28s}" for c in cells))

"""The assimilation cycle: forecast, collect, observe, analyse, constrain, distribute, record.

This is the one loop every pdafpy experiment runs (the land twin, PDAF's online tutorial, the
Lorenz-96 benchmark, ``pdafpy run`` with any registered model). What differs between them comes
in through :class:`CycleHooks`: which observations a window holds, what the analysis updates,
what is written and scored. At each analysis time of the :class:`~pdafpy.schedule.AnalysisSchedule`:

``forecast``
    every model task advances its runs through the window ``(t_prev, t]``
    (:meth:`pdafpy.ensemble.EnsembleRunner.forecast`); failed runs are handled by the failure
    policy (below);
``collect``
    the filter ranks receive every run of their block;
``observe``
    the hooks return the window's observations (:meth:`CycleHooks.observe`) and record the
    forecast;
``analyse``
    for every analysed run group, each part of the hooks' analysis plan (one analysis module,
    :mod:`pdafpy.cycle.modules`), in order, runs :func:`analyse_part`: its mask decided from the
    state it receives, :func:`pdafpy.cycle.analysis_step` on its state subset (observe the owned
    observations, halo exchange, local search, the filter), the masked and damped write-back,
    and the hooks' derived variables (:meth:`CycleHooks.reconcile`); then the elements the parts
    updated are inflated once against the forecast (multiplicative, RTPP, RTPS; when a part has
    a mask or the hooks recompute derived variables between parts, each part inflates its own
    subset before them instead); an SEKF reads the group's ``perturbed`` runs too and the cycle
    restarts them from the analysis (:meth:`pdafpy.filters.sekf.SEKF.perturbed_runs`) and hands
    them to :meth:`CycleHooks.perturbed`;
``constrain``
    the hooks' bounds and back-transforms (:meth:`CycleHooks.constrain`);
``distribute``
    the runs go back to their tasks; with :attr:`CycleHooks.records_loaded_state` the cycle reads
    them back as the model holds them once loaded (derived variables recomputed);
``output``
    :meth:`CycleHooks.record_analysis`; the state export where the time is one of its
    (:mod:`pdafpy.state_export`, which also cuts the forecasts at its times inside a window); a
    checkpoint every ``checkpoint_every`` analyses.

**Analyses, then a free forecast** (:attr:`CycleOptions.assimilate_until`): after the cut the
steps go on through the schedule's times with everything but the analysis (observe, record,
score), so the analysed groups forecast freely from their last analysis and the applications
score them at the would-be analysis times (:attr:`CycleStep.assimilate` says which phase a step
belongs to).

**Failed runs** (a model raising :class:`~pdafpy.errors.ModelError`): with ``on_failure =
"redraw"`` a failed run is replaced on the filter ranks by the mean of the other runs of its group
plus a perturbation (:func:`pdafpy.ensemble.redraw_members`); with ``"abort"``, when a truth fails
or when every run of a group fails, every rank raises :class:`RunFailed` alike.

**Checkpoints and restart**: a checkpoint closes the output files' open segments
(:mod:`pdafpy.segments`), then writes the runner's members and the models' internal state, the
cycle's counters and timings, the hooks' own state and the segment each output continues with
into one HDF5 file (:mod:`pdafpy.checkpoint`), whose size does not grow with the run's length. A
run restarted from it on the same layout rewrites the later segments and ends bit-identical.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..checkpoint import write_checkpoint
from ..ensemble import EnsembleRunner, MemberFailure, gather_failures, redraw_members
from ..errors import ConfigError, PdafpyError
from ..groups import RunGroups
from ..halo import LocalSearchCache
from ..progress import ProgressBar
from ..schedule import AnalysisSchedule
from .analysis import AnalysisReport
from .hooks import CycleHooks, CycleStep, Observed
from .parts import AnalysisPart, analyse_part, inflate_analysed

__all__ = ["AssimilationCycle", "CycleHooks", "CycleOptions", "CycleStep", "Observed",
           "Checkpointing", "CycleResult", "RunFailed", "PHASES"]

log = logging.getLogger(__name__)

PHASES = ("forecast", "collect", "observe", "halo", "analyse", "distribute", "output",
          "checkpoint")


class RunFailed(PdafpyError):
    """The run cannot continue; raised on every rank alike."""


@dataclass(frozen=True)
class CycleOptions:
    """The cycle's settings.

    Attributes
    ----------
    seed : int
        Seed of every random draw of the cycle (redraws, random transforms).
    on_failure : str
        ``"redraw"`` or ``"abort"`` (see the module notes).
    multiplicative, rtpp, rtps : float
        Inflation of the analysed elements after the analysis (factor; alphas in [0, 1]).
    adaptive_forget : bool
        PDAF's adaptive forgetting factor (:func:`pdafpy.inflation.adaptive_forget`) instead
        of the filter's fixed one.
    rotate : bool
        A random mean-preserving rotation of the analysis anomalies (DAPPER's ``rot``).
    record_every : float or None
        Also hand the ensemble to :meth:`CycleHooks.record_between` at every multiple of this
        [model time units] between analyses (None: at analysis times only). The forecast is
        then advanced in pieces ending there; a model whose ``advance`` does not depend on
        where a span is cut (the land model's coupling steps, at multiples of their length)
        gives the same result.
    assimilate_until : float or None
        No analysis after this time [model time units]: the steps after it forecast, observe
        and record as before, but analyse nothing (:attr:`CycleStep.assimilate` is False), so
        the analysed groups run freely to the end (None: analyses over the whole run).
    """

    seed: int = 1
    on_failure: str = "redraw"
    multiplicative: float = 1.0
    rtpp: float = 0.0
    rtps: float = 0.0
    adaptive_forget: bool = False
    rotate: bool = False
    record_every: float | None = None
    assimilate_until: float | None = None

    def assimilates(self, t: float) -> bool:
        """Whether an analysis time ``t`` [model time units] lies before the cut
        (:attr:`assimilate_until`)."""
        cut = self.assimilate_until
        return cut is None or t <= cut + 1e-9 * max(1.0, abs(cut))


@dataclass(frozen=True)
class Checkpointing:
    """Where and how often checkpoints are written.

    Attributes
    ----------
    path : Path
    every : int
        Write after every ``every``-th analysis (0: never).
    layout_signature : mapping
        Layout numbers a restart must match.
    configuration : mapping
        The resolved configuration a restart must match.
    attributes : mapping
        Further file attributes (e.g. the start time and the seconds per model time unit);
        the cycle writes ``cycle`` (the analysis index) and ``time`` (its time, model units).
    """

    path: Path
    every: int
    layout_signature: Mapping[str, int]
    configuration: Mapping[str, Any]
    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class CycleResult:
    """What a finished cycle reports (on every rank).

    Attributes
    ----------
    seconds : dict
        Wall time per phase, the maximum over ranks [s].
    counts : dict
        Counters (observations used and rejected, runs redrawn, halo bytes...), filter rank 0's.
    wall_s : float
        Wall time of the whole loop, restarts included [s].
    """

    seconds: dict[str, float]
    counts: dict[str, int]
    wall_s: float


class AssimilationCycle:
    """The cycle of one job (collective over ``runner.layout.world``).

    Parameters
    ----------
    runner : EnsembleRunner
        The runs of ``groups`` across the layout, already loaded (or restored).
    groups : RunGroups
    schedule : AnalysisSchedule
    filt : filter object or None
        From :func:`pdafpy.filters.make_filter` (None: nothing is analysed, a free run).
    hooks : CycleHooks
    options : CycleOptions
    grid : Grid
    boxes : sequence of Box
        Every filter rank's block (None off the filter).
    export : StateExport, optional
        ``[state_export]`` (:mod:`pdafpy.state_export`): the cycle cuts the forecasts at its
        times inside a window and hands it the exported group there, and at an analysis time
        after the analysis (the state as the model holds it once loaded).
    """

    def __init__(self, runner: EnsembleRunner, groups: RunGroups, schedule: AnalysisSchedule,
                 filt: Any, hooks: CycleHooks, options: CycleOptions, grid: Any,
                 boxes: Sequence[Any] | None, export: Any = None):
        self.runner, self.groups, self.schedule = runner, groups, schedule
        self.filter, self.hooks, self.options = filt, hooks, options
        self.grid, self.boxes = grid, boxes
        self.export = export
        self._analysed_now = False
        self.layout = runner.layout
        self.world = self.layout.world
        self.seconds: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)
        self._searches: dict[tuple[str, int], LocalSearchCache] = defaultdict(LocalSearchCache)
        self._analysed: dict[tuple, np.ndarray] = {}
        self._column_coords: np.ndarray | None = None
        self._parameters: np.ndarray | None = None
        o = options
        self._inflates = o.multiplicative != 1.0 or bool(o.rtpp or o.rtps or o.rotate)
        perturbed = sum(g.size for g in groups.of_kind("perturbed"))
        if perturbed and getattr(filt, "n_runs", None) != perturbed + 1:
            raise ConfigError(f"{perturbed} perturbed runs need a filter that makes them (an "
                              f"SEKF of {perturbed} perturbations), not {filt!r}")

    # -- the loop --------------------------------------------------------------------------------
    def run(self, checkpointing: Checkpointing | None = None,
            restart: tuple[Mapping[str, Any], Mapping[str, Any]] | None = None,
            progress: bool | None = None) -> CycleResult:
        """Run every analysis of the schedule (after the restart's, if any).

        Parameters
        ----------
        checkpointing : Checkpointing, optional
        restart : (payload, attributes), optional
            This rank's part of a checkpoint and its attributes
            (:func:`pdafpy.checkpoint.read_checkpoint`).
        progress : bool, optional
            Show a progress bar on world rank 0 (default: on a terminal, at log level INFO).

        Raises
        ------
        RunFailed
            On every rank, when failed runs cannot be replaced (see the module notes).
        """
        saved = dict(restart[0]) if restart is not None else {}
        first = int(restart[1]["cycle"]) + 1 if restart is not None else 0
        if restart is not None:
            self._restore(saved)
        start_wall = time.perf_counter() - float(saved.get("wall_s", 0.0))
        bar = ProgressBar(len(self.schedule), enabled=progress if self.world.Get_rank() == 0
                          and log.isEnabledFor(logging.INFO) else False)
        bar.start(first)
        end = self.hooks.describe_time(self.schedule.end)
        for index in range(first, len(self.schedule)):
            t0, t1 = self.schedule.window(index)
            step = CycleStep(index, t0, t1, self.schedule.due(index),
                             self.options.assimilates(t1))
            self._step(step)
            every = checkpointing.every if checkpointing is not None else 0
            if every and (index + 1) % every == 0:
                self._checkpoint(checkpointing, step, time.perf_counter() - start_wall)
            bar.update(index + 1, f"{self.hooks.describe_time(t1)} of {end}")
            if self.world.allreduce(self.hooks.stop_requested(), op=_lor()):
                log.info("%s: the run stops here (%s)", self.hooks.describe_time(t1),
                         type(self.hooks).__name__)
                break
        bar.close()
        for f in self.hooks.files().values():
            f.close()
        if self.export is not None:
            self.export.close()
        wall = time.perf_counter() - start_wall
        from mpi4py import MPI
        totals = {k: self.world.allreduce(self.seconds.get(k, 0.0), op=MPI.MAX) for k in PHASES}
        return CycleResult(totals, dict(self.counts), wall)

    def _forecast(self, step: CycleStep) -> list[MemberFailure]:
        """Advance every run over the step's window, handing the ensemble to
        :meth:`CycleHooks.record_between` at the record times inside it; the runs that failed
        (each once, at its first failure: its state stays NaN until the analysis time)."""
        failures: dict[int, MemberFailure] = {}
        start = step.t0
        records = self._record_times(step.t0, step.t1)
        exports = self.export.inside(step.t0, step.t1) if self.export is not None \
            else np.zeros(0)
        for t in [*_merged(records, exports), step.t1]:
            t0 = time.perf_counter()
            for f in gather_failures(self.world, self.runner.forecast(start, t)):
                failures.setdefault(f.member, f)
            self.seconds["forecast"] += time.perf_counter() - t0
            if t < step.t1:
                t0 = time.perf_counter()
                ens = self.runner.collect()
                if self.layout.is_filter:
                    if _near(records, t):
                        self.hooks.record_between(step, t, ens)
                    if _near(exports, t):
                        self.export.write(t, self.groups.part(ens, self.export.group),
                                          self.runner.filter_layout, False)
                self.seconds["output"] += time.perf_counter() - t0
            start = t
        return list(failures.values())

    def _record_times(self, t0: float, t1: float) -> np.ndarray:
        """The multiples of :attr:`CycleOptions.record_every` strictly inside ``(t0, t1)``."""
        every = self.options.record_every
        if not every:
            return np.zeros(0)
        tol = 1e-9
        return every * np.arange(np.floor(t0 / every + tol) + 1, np.ceil(t1 / every - tol))

    def _step(self, step: CycleStep) -> None:
        runner, groups, layout = self.runner, self.groups, self.layout
        failures = self._forecast(step)
        if failures:
            self._check_failures(failures)
        t1 = time.perf_counter()
        ens = runner.collect()
        t2 = time.perf_counter()
        self.seconds["collect"] += t2 - t1
        forecast = observed = None
        if layout.is_filter:
            if failures:
                redraw_members(ens, runner.filter_layout, [f.member for f in failures],
                               groups.redraw_groups, self.options.seed, step.index)
                self.counts["members_redrawn"] += len(failures)
            forecast, observed = self._analyse(step, ens)
        t3 = time.perf_counter()
        runner.distribute(ens)
        loaded = runner.reloaded() if self.hooks.records_loaded_state else ens
        t4 = time.perf_counter()
        self.seconds["distribute"] += t4 - t3
        if layout.is_filter:
            self.hooks.record_analysis(step, loaded, forecast, observed)
            if self.export is not None and self.export.due(step.t1):
                self.export.write(step.t1, self.groups.part(loaded, self.export.group),
                                  runner.filter_layout, self._analysed_now)
            self.seconds["output"] += time.perf_counter() - t4

    def _analyse(self, step: CycleStep, ens: np.ndarray) -> tuple[np.ndarray, Observed]:
        """Observe, record the forecast, analyse and constrain (filter ranks); returns the
        analysed groups' forecast and what was observed."""
        comm = self.layout.comm_filter
        fl = self.runner.filter_layout
        t0 = time.perf_counter()
        observed = self.hooks.observe(step, ens)
        t1 = time.perf_counter()
        self.seconds["observe"] += t1 - t0
        self.hooks.record_forecast(step, ens)
        analysed_groups = self.groups.of_kind("analysed") if self.filter is not None else []
        forecast = np.concatenate([self.groups.part(ens, g.name) for g in analysed_groups]) \
            if analysed_groups else ens[:0].copy()
        t2 = time.perf_counter()
        self.seconds["output"] += t2 - t1
        parts = self.hooks.plan(step, observed) if analysed_groups and step.assimilate else []
        self._analysed_now = bool(parts)
        if parts:
            self.counts["analyses"] += 1
        reports = []
        for g in analysed_groups:
            block = self.groups.with_perturbed(g.name)
            runs = ens[block.start:block.stop]              # the group, and its perturbed runs
            n_members = g.size
            # inflation once over what the parts updated, against the forecast; with a mask or
            # derived variables recomputed between parts, each part inflates its own subset
            # before its mask and the derived variables, so that both hold
            per_part = self.hooks.reconciles or any(p.mask != "all" for p in parts)
            prior = runs[:n_members].copy() if self._inflates and not per_part else None
            for i, part in enumerate(parts):
                reports.append(self._analyse_part(step, part, i, g.name, runs, n_members,
                                                  observed, fl, comm, per_part))
            if parts and prior is not None:
                inflate_analysed(runs[:n_members], prior, np.unique(np.concatenate(
                    [self._part_indices(fl, p) for p in parts])), self.options, step.index)
            if parts and runs.shape[0] > n_members:        # the next window's perturbed runs
                runs[:] = self.filter.perturbed_runs(runs[0], fl.column_indices(
                    parts[0].fields, parts[0].levels or None))
                self.hooks.perturbed(step, runs)
        self.hooks.constrain(step, ens)
        t3 = time.perf_counter()
        halo = sum(r.seconds.get("halo", 0.0) for r in reports)
        self.seconds["halo"] += halo
        self.seconds["analyse"] += t3 - t2 - halo
        self._count(observed, reports, comm)
        return forecast, observed

    def _analyse_part(self, step: CycleStep, part: AnalysisPart, i: int, group: str,
                      runs: np.ndarray, n_members: int, observed: Observed, layout: Any,
                      comm: Any, inflating: bool) -> AnalysisReport:
        """One part on one run group (in place on ``runs``, :func:`analyse_part`), its subset
        inflated if ``inflating``."""
        return analyse_part(self.filter, part, [observed.types[k] for k in part.types], runs,
                            n_members, layout, self.grid, comm, self.boxes, self.hooks, step,
                            self.options, inflating and self._inflates,
                            self._part_indices(layout, part), self._parameter_elements(layout),
                            search_cache=self._searches[group, i],
                            domain_coords=self._columns(layout))

    def _part_indices(self, layout: Any, part: AnalysisPart) -> np.ndarray:
        """The state indices ``part`` updates, sorted (kept per distinct part)."""
        key = (part.fields, tuple((k, tuple(np.ravel(v))) for k, v in part.levels.items()))
        if key not in self._analysed:
            self._analysed[key] = np.unique(layout.column_indices(part.fields,
                                                                  part.levels or None))
        return self._analysed[key]

    def _parameter_elements(self, layout: Any) -> np.ndarray:
        """``(layout.size,)`` bool: the elements of parameter fields (kind ``"parameter"``)."""
        if self._parameters is None:
            self._parameters = np.zeros(layout.size, dtype=bool)
            for f in layout.fields:
                if f.kind == "parameter":
                    self._parameters[layout.field_slice(f.name)] = True
        return self._parameters

    def _columns(self, layout: Any) -> np.ndarray:
        """Coordinates of this filter rank's columns ``(n_columns, 2)``, computed once."""
        if self._column_coords is None:
            self._column_coords = self.grid.column_coords(layout.box)
        return self._column_coords

    def _count(self, observed: Observed, reports: Sequence[AnalysisReport], comm: Any) -> None:
        from mpi4py import MPI
        total = np.array([sum(r.owned_obs for r in reports),
                          sum(int(np.sum(r.omitted_obs)) for r in reports)], dtype=np.int64)
        comm.Allreduce(MPI.IN_PLACE, total, op=MPI.SUM)
        observed.used, observed.rejected = int(total[0]), int(total[1])
        self.counts["used"] += observed.used
        self.counts["omitted"] += observed.rejected
        self.counts["halo_bytes_max"] = max(self.counts["halo_bytes_max"], comm.allreduce(
            max([r.halo.bytes_sent for r in reports], default=0), op=MPI.MAX))

    # -- failures --------------------------------------------------------------------------------
    def _check_failures(self, failures: Sequence[MemberFailure]) -> None:
        """Log failed runs (world rank 0); raise :class:`RunFailed` on every rank when the run
        cannot go on: policy ``"abort"``, a truth failed, or a whole group failed."""
        groups, when = self.groups, self.hooks.describe_time

        def where(f: MemberFailure) -> str:
            return (f"{groups.describe(f.member)} failed in the forecast from {when(f.t0)} "
                    f"to {when(f.t1)}: {f.message}")

        failed = {f.member for f in failures}
        redrawable = {run for r in groups.redraw_groups for run in r}
        fatal = [f for f in failures if f.member not in redrawable]
        if fatal:
            raise RunFailed(where(fatal[0]) + f"; the run cannot go on without its "
                            f"{groups.group_of(fatal[0].member).label}")
        if self.options.on_failure == "abort":
            raise RunFailed(where(failures[0]) + '; [ensemble] on_failure = "abort"'
                            + (f" ({len(failures) - 1} more failed)" if len(failures) > 1
                               else ""))
        for g in groups:
            if set(groups.runs(g.name)) <= failed:
                raise RunFailed(f"every {g.label} member failed in the forecast from "
                                f"{when(failures[0].t0)}: {failures[0].message}")
        if self.world.Get_rank() == 0:
            for f in failures:
                g = groups.group_of(f.member)
                others = g.size - len(failed & set(groups.runs(g.name)))
                log.warning("%s; redrawn from the mean and spread of the %d other %s members",
                            where(f), others, g.label)

    # -- checkpoints -----------------------------------------------------------------------------
    def _checkpoint(self, ck: Checkpointing, step: CycleStep, wall_s: float) -> None:
        t0 = time.perf_counter()
        files = self.hooks.files()
        for f in files.values():              # the interval's segments, closed and in place
            f.roll()
        payload = {"runner": self.runner.checkpoint_state(), "counts": dict(self.counts),
                   "application": self.hooks.checkpoint_state() if self.layout.is_filter
                   else {},
                   "output": {k: f.state() for k, f in files.items()},
                   "state_export": self.export.state() if self.export is not None else {},
                   "seconds": dict(self.seconds), "wall_s": wall_s}
        write_checkpoint(ck.path, self.world, payload, ck.layout_signature,
                         {"cycle": step.index, "time": step.t1, **ck.attributes},
                         ck.configuration)
        self.seconds["checkpoint"] += time.perf_counter() - t0
        if self.world.Get_rank() == 0:
            log.info("%s: checkpoint %s written", self.hooks.describe_time(step.t1), ck.path)

    def _restore(self, saved: Mapping[str, Any]) -> None:
        self.runner.restore_checkpoint(saved.get("runner", {}))
        self.counts.update({k: int(v) for k, v in saved.get("counts", {}).items()})
        self.seconds.update({k: float(v) for k, v in saved.get("seconds", {}).items()})
        if self.layout.is_filter:
            self.hooks.restore_checkpoint(saved.get("application", {}))
        files = self.hooks.files()
        for name, state in saved.get("output", {}).items():
            files[name].resume(state)
        if self.export is not None:
            self.export.resume(saved.get("state_export", {}))


def _merged(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The times of ``a`` and ``b``, sorted, each once (to round-off)."""
    t = np.sort(np.concatenate([a, b]))
    if t.size < 2:
        return t
    return t[np.concatenate([[True], np.diff(t) > 1e-9 * np.maximum(1.0, np.abs(t[1:]))])]


def _near(times: np.ndarray, t: float) -> bool:
    """Whether ``t`` is one of ``times`` (to round-off)."""
    return bool(np.any(np.abs(times - t) <= 1e-9 * max(1.0, abs(t))))


def _lor() -> Any:
    from mpi4py import MPI
    return MPI.LOR

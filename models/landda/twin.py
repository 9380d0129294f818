"""The land experiment: twin, truth pass, assimilation of observation files, free run.

Run groups (:class:`pdafpy.groups.RunGroups`) travel through the layout: the ``N`` assimilated
members, the open loop (member ``k`` has assimilation member ``k``'s initial state, parameters
and forcing perturbations) and the truth, a draw from the same distributions as the members (its
own initial head, Ks and forcing perturbations), so that the ensemble spread describes the open
loop's error (with ``[filter] type = "sekf"``, the SEKF's analysed run, its perturbed runs, the
control run as the open loop and the truth: :mod:`models.landda.sekf_setup`). The assimilation
cycle is pdafpy's (:class:`pdafpy.cycle.AssimilationCycle`);
this module adds what is land-specific (:class:`LandTwin`): the observations, the analysis
plan (the ``[[analysis]]`` modules, docs/analysis-modules.md, or the observation types'
shorthand, :mod:`models.landda.analysis_plan`) with the land's masks, derived variables and
constraints on the filter ranks (:mod:`models.landda.analysis_state`), the output files and
the skill scores. Each mode (``[mode]``) runs:

- ``twin``: truth, open loop and assimilation; observations drawn from the truth each analysis
  (the observation modules' networks) and assimilated through the modules;
- ``truth``: the truth alone, the same run as a twin's; its observations are written to
  ``observations.nc`` (pdafpy's observation file) and nothing is analysed;
- ``assimilate``: open loop and assimilation of the observation files (each type's ``file``),
  scored against a truth pass's ``truth.nc`` when ``[verification] truth`` names one; wells are
  validated at the file's distinct well locations;
- ``free``: the open loop alone, with records at the observation types' times (daily without
  any).

Outputs in ``[output] directory``: one NetCDF output per run group (forecast and analysis records
of ensemble mean and spread), ``observations.nc`` (the observations, with the operator on the
forecast and analysis means where an analysis was made), each written in segments
``NAME.00000.nc``, ... one per checkpoint interval (:mod:`pdafpy.segments`); ``summary.json``
(skill of open loop and assimilation against the truth per variable, observation counts, timings
per phase; with ``[schedule] assimilate_until_days`` also per phase, :mod:`models.landda.phases`)
and a log line per analysis; ``state_export.nc`` with ``[state_export]``
(:mod:`pdafpy.state_export`); ``spinup.nc`` with ``[spinup]``, whose runs start from it
(:mod:`models.landda.spinup`).

**Checkpoints** (``[schedule] checkpoint_every = k``) and **failed members** (``[ensemble]
on_failure``) are the cycle's (see :mod:`pdafpy.cycle`); ``pdafpy run CONFIG --restart CKPT``
continues from a checkpoint on the same rank layout and ends bit-identical to an uninterrupted
run: the segments closed before the checkpoint stay, the later ones are rewritten.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pdafpy.atomic import write_json
from pdafpy.cycle import (AnalysisPart, AssimilationCycle, Checkpointing, CycleHooks,
                          CycleOptions, CycleStep, Observed, module_plan)
from pdafpy.errors import PdafpyError, RefusedOnEveryRank
from pdafpy.experiment import observation_schedule, resolved_configuration
from pdafpy.experiment_config import ExperimentConfig, check_layout
from pdafpy.filters import make_filter
from pdafpy.groups import RunGroups
from pdafpy.job import set_up_job, share_from_model
from pdafpy.localize import Localization
from pdafpy.obs.diagnostics_file import ObservationDiagnosticsWriter, WindowObservations
from pdafpy.obs.files import ObservationWriter
from pdafpy.obs.module import ObservationContext, build_modules, read_for
from pdafpy.obs.records import QC_GOOD, QC_REJECTED, ObservationRecords
from pdafpy.output import EnsembleWriter, gather_blocks
from pdafpy.schedule import AnalysisSchedule
from pdafpy.state_export import StateExport
from pdafpy.verification import TruthFile

from .analysis_plan import ANALYSED, analysis_plan
from .analysis_state import analysis_state
from .parameter_files import export_parameters
from .model import FLUX_FIELDS, LandDAModel
from .observations import surface_layers
from .qc_rules import state_rules
from .initial_state import initial_member
from .model_facts import model_facts
from .model_facts import precipitation as forcing_precipitation
from .scoring import (SCORED_RUNS, Skill, column_field_maps, column_means, layers_below,
                      theta_violations)
from .setup import model_config, soil_bounds
from .summary import summarize
from .phases import PhasedSkill, phase_summary
from .sekf_setup import (land_layout_signature, make_sekf, perturb_start,
                         run_groups, sekf_control)
from .spinup import spin_up, spinup_section

__all__ = ["LandTwin", "run_twin", "analysis_schedule"]

log = logging.getLogger("pdafpy.twin")

CHECKPOINT = "checkpoint.h5"
SECONDS_PER_HOUR = 3600.0
SECONDS_PER_DAY = 86400.0
#: The model's parameter fields the analysis may estimate (``[filter] parameters``).
PARAMETER_FIELDS = ("log10_ks", "porosity", "ln_alpha", "vg_n", "sand_percent", "clay_percent")
#: The packaged example: overrides of ``default.toml`` run when no configuration is given.
EXAMPLE_FILE = "example.toml"
#: The truth's fields the skill scores read (from a truth file in ``assimilate`` mode); the
#: window-mean fluxes (:data:`~.model.FLUX_FIELDS`) too where the file has them.
SCORED_FIELDS = ("water_content", "water_table_depth", "leaf_area_index")
#: Each mode's run, as titles name it.
TITLES = {"twin": "twin experiment", "truth": "truth pass", "assimilate": "assimilation of "
          "observation files", "free": "free run"}
OUTPUT_FIELDS = ("pressure_head", "water_content", "water_table_depth", "leaf_biomass",
                 "evapotranspiration", "transpiration", "leaf_area_index", "soil_temperature")


def analysis_schedule(cfg: ExperimentConfig) -> AnalysisSchedule:
    """Analysis (and, in a free run, record) times [s since the start]: every observation type
    on its own clock, with its own window; daily when none is configured."""
    return observation_schedule(cfg, 1.0, SECONDS_PER_DAY)


class LandTwin(CycleHooks):
    """The land experiment's part of the cycle (see the module notes). Built on every rank;
    files exist on the filter ranks (the observation file on filter rank 0 only).

    Parameters
    ----------
    cfg, tables
        The configuration (:func:`models.landda.setup.load`).
    job : pdafpy.job.Job
    groups : RunGroups
    modules : sequence of ObservationModule
        One per ``[[observations]]`` table.
    facts : mapping
        What the model tells the observation types (:func:`model_facts`; ``interfaces``, the
        layer interface depths [m], among them).
    out : Path
        Output folder.
    records : ObservationRecords, optional
        The observations read from files (``mode = "assimilate"``, or ``"free"`` with files).
    truth_file : TruthFile, optional
        What an ``assimilate`` or ``free`` run is scored against (``[verification] truth``).
    networks : sequence of ObservationRecords
        Each module's :meth:`~pdafpy.obs.module.ObservationModule.network`, where the truth is
        run (twin, truth pass); empty otherwise.
    """

    records_loaded_state = True

    def __init__(self, cfg: ExperimentConfig, tables: Mapping[str, Any], job: Any,
                 groups: RunGroups, modules: Any, facts: Mapping[str, Any], out: Path,
                 records: ObservationRecords | None = None, truth_file: Any = None,
                 networks: Any = ()):
        self.cfg, self.job, self.groups = cfg, job, groups
        self.reconciles = bool(cfg.analysis)
        self.grid, self.boxes = job.grid, job.boxes
        self.interfaces = interfaces = facts["interfaces"]
        self.modules, self.records, self.truth_file = list(modules), records, truth_file
        self.schedule = analysis_schedule(cfg)
        self.synthesise = "truth" in groups
        self.bare_ground = facts["bare_ground"]
        precipitation = forcing_precipitation(tables, self.grid) if any(
            m.section.reject_rain_mm_h is not None for m in self.modules) else None
        self.networks = list(networks)
        self.operators = [m.synthesis_operator(n) for m, n in zip(self.modules, self.networks)]
        #: Per type, the operators of the other truth quantities its draw needs (by name).
        self.covariates = [m.synthesis_covariates(n) for m, n in zip(self.modules,
                                                                     self.networks)]
        self.offsets = np.concatenate([[0], np.cumsum([n.size for n in self.networks])])
        self.wells = self._well_sites()
        self.surface = surface_layers(interfaces, 0.05)
        self.root_zone = surface_layers(interfaces, 1.0)
        self.deep = layers_below(interfaces, 1.0)
        #: Per analysis, the RMSE [field units] of each estimated parameter's ensemble mean
        #: against the truth's field, for the assimilation and the open loop.
        self.parameter_error: dict[str, dict[str, list[float]]] = {
            p: {"assimilation": [], "open_loop": []} for p in cfg.filter.parameters}
        self.skill = Skill() if cfg.schedule.assimilate_until_days is None else PhasedSkill()
        #: The SEKF's control vector (None with an ensemble filter).
        self.sekf = sekf_control(cfg, tables)
        #: The window-mean fluxes scored: the twin's truth has them, a truth file may not.
        self.fluxes = tuple(f for f in FLUX_FIELDS if self.synthesise or (
            truth_file is not None and f in truth_file.fields))
        self.counts = {"theta_out_of_bounds": 0}
        #: Rejected observations per type and rule (stage 1 and 2 QC, not the innovation
        #: check, which the cycle counts).
        self.rejections: dict[str, dict[str, int]] = {}
        self.rules = [state_rules(m.section, self.grid, facts, precipitation)
                      for m in self.modules]
        self.writers: dict[str, Any] = {}
        self.obs_writer = None
        #: The spin-up's entry of the summary (:meth:`models.landda.spinup.SpunUp.summary`;
        #: empty without ``[spinup]``), kept in checkpoints.
        self.spinup: dict[str, Any] = {}
        layout = job.layout
        if not layout.is_filter:
            return
        self.comm = layout.comm_filter
        self.fl = job.runner.filter_layout
        out_fields = [f for f in job.fields if f.name in OUTPUT_FIELDS]
        self.writers = {g.name: EnsembleWriter(
            out / f"{g.name}.nc", self.comm, job.boxes, job.grid, out_fields, cfg.schedule.start,
            g.size, cfg.output.members and g.kind != "truth",
            {"title": f"pdafpy {TITLES[cfg.mode]}: {g.name}", "filter": str(cfg.filter.type)}
            | ({"perturbation_key": g.first_key} if cfg.mode == "truth" else {}),
            z_bounds=interfaces) for g in groups}
        self.theta_bounds = soil_bounds(tables.get("soil", {}), interfaces.size - 1,
                                        job.filter_box)
        self.state = analysis_state(cfg, tables, self.fl, interfaces, facts, job.filter_box)
        if self.comm.Get_rank() == 0 and (cfg.mode != "free" or records is not None):
            writer = ObservationWriter if cfg.mode == "truth" else ObservationDiagnosticsWriter
            self.obs_writer = writer.for_modules(
                out / "observations.nc", cfg.schedule.start, self.modules,
                {"title": f"pdafpy {TITLES[cfg.mode]}: observations"})

    def _well_sites(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Rows, columns and whether assimilated of the wells of every groundwater type, for
        validation: a twin's network, or the distinct locations of the file's wells."""
        sites = []
        for k, module in enumerate(self.modules):
            if module.name != "groundwater_level" or not (self.synthesise
                                                          or self.records is not None):
                continue
            if self.synthesise:
                wells = self.networks[k]
            else:
                wells = self.records.subset(self.records.owned(module.name, module.sensor))
                _, first = np.unique(wells.coords, axis=0, return_index=True)
                wells = wells.subset(np.sort(first))
            op = module.synthesis_operator(wells)
            sites.append((op.row[:, 0], op.col[:, 0], wells.qc == QC_GOOD))
        return sites

    def _applied(self, operator: Any, part: np.ndarray) -> np.ndarray:
        """The operator applied to every member of ``part`` over the whole grid, ``(members,
        m)``, on every filter rank (collective; each rank reads the stencil points of its own
        block)."""
        return operator.apply_shared(self.fl.stacked(part, operator.field),
                                     self.boxes[self.comm.Get_rank()], self.comm)

    def _hx(self, operator: Any, part: np.ndarray) -> np.ndarray:
        """The operator applied to a one-member ensemble ``part`` (see :meth:`_applied`)."""
        return self._applied(operator, part)[0]

    def observe(self, step: CycleStep, ens: np.ndarray) -> Observed:
        """The observations of each due type's window: the truth plus noise (twin, truth
        pass) or the file's, made ready by the modules (two QC stages around the bias
        correction, :meth:`~pdafpy.obs.module.ObservationModule.process`) against the forecast
        ensemble. A truth pass writes them as drawn; a free run with observation files writes
        the open loop's operator values at them; neither analyses."""
        free = self.cfg.mode == "free"
        if free and self.records is None:
            return Observed([])
        if not self.modules:              # no type: the schedule's default clock, nothing due
            return Observed([], WindowObservations())
        truth = self.groups.part(ens, "truth") if self.synthesise else None
        analysed = "assimilation" in self.groups
        members = self.groups.part(ens, "assimilation" if analysed else "open_loop") \
            if analysed or free else None
        mean = members.mean(axis=0, keepdims=True) if members is not None else None
        observed = Observed([], WindowObservations())
        for k in step.due:
            module = self.modules[k]
            lo, hi = self.schedule.observation_window(step.index, k)
            if self.synthesise:
                covariates = {name: self._hx(op, truth)
                              for name, op in self.covariates[k].items()}
                records = module.synthetic(self.networks[k], self._hx(self.operators[k], truth),
                                           step.index, int(self.offsets[k]), step.t1, covariates)
                records = module.select(records, lo, hi)
            else:
                records = module.select(self.records, lo, hi)
            if members is None:                              # a truth pass: as drawn
                if self.obs_writer is not None:
                    self.obs_writer.write(records)
                continue
            records = module.process(records, lambda op: self._applied(op, members),
                                     self.rules[k])
            self._count_rejections(module.sensor or module.name, records)
            operator = module.operator(records)
            forecast_mean = self._hx(operator, mean)
            if not analysed:                                 # a free run: the open loop's
                if self.obs_writer is not None:
                    self.obs_writer.write_diagnostics(records, forecast_mean,
                                                      np.full(records.size, np.nan))
                continue
            observed.types.append(module.observation_type(records))
            observed.details.records.append(records)
            observed.details.operators.append(operator)
            observed.details.forecast_mean.append(forecast_mean)
        return observed

    def _count_rejections(self, type_name: str, records: ObservationRecords) -> None:
        """Count the rejected records of one window by rule (``flagged_in_file`` for a file's
        own flags) under ``type_name`` (a named table's name) and log them."""
        rejected = records.qc == QC_REJECTED
        if not rejected.any():
            return
        rules, counts = np.unique(np.where(records.rejected_by[rejected] == "", "flagged_in_file",
                                           records.rejected_by[rejected]).astype(str),
                                  return_counts=True)
        totals = self.rejections.setdefault(type_name, {})
        for rule, n in zip(rules.tolist(), counts.tolist()):
            totals[rule] = totals.get(rule, 0) + int(n)
        log.info("%s rejected: %s", type_name,
                 ", ".join(f"{n} {rule}" for rule, n in zip(rules.tolist(), counts.tolist())))

    def record_between(self, step: CycleStep, t: float, ens: np.ndarray) -> None:
        for g in self.groups:
            self.writers[g.name].write(t, False, self.groups.part(ens, g.name), self.fl)

    def record_forecast(self, step: CycleStep, ens: np.ndarray) -> None:
        for g in self.groups:
            self.writers[g.name].write(step.t1, False, self.groups.part(ens, g.name), self.fl)

    def plan(self, step: CycleStep, observed: Observed) -> list[AnalysisPart]:
        """The ``[[analysis]]`` modules due now, or the observation types' shorthand plan."""
        cfg = self.cfg
        if not cfg.observations:
            return []
        if self.sekf is not None:                   # every due type, on the control vector
            return [AnalysisPart(tuple(range(len(observed.types))), self.sekf.fields,
                                 self.sekf.levels)] if observed.types else []
        if not cfg.analysis:
            return analysis_plan(cfg.observations, self.interfaces, step.due,
                                 [f.name for f in self.fl.fields], cfg.filter.parameters,
                                 cfg.filter.parameter_damping)
        return module_plan(cfg.analysis, cfg.observations, step.due, step.t1,
                           default_fields=ANALYSED,
                           field_levels={f.name: f.levels for f in self.fl.fields},
                           centres=0.5 * (self.interfaces[:-1] + self.interfaces[1:]),
                           parameters=cfg.parameter,
                           parameter_damping=cfg.filter.parameter_damping)

    def analysis_mask(self, part: AnalysisPart, runs: np.ndarray, index: np.ndarray
                      ) -> np.ndarray:
        return self.state.mask(part.mask, runs, index)

    def reconcile(self, step: CycleStep, part: AnalysisPart, runs: np.ndarray,
                  received: np.ndarray) -> None:
        """Between ``[[analysis]]`` modules: head per the module's update variable, water
        content, water-table depth and LAI recomputed (:mod:`.analysis_state`); the shorthand
        plan leaves this to the model when it loads the members. The SEKF's analysis too."""
        if self.cfg.analysis or self.sekf is not None:
            self.state.reconcile(runs, received, part.update, part.fields)

    def perturbed(self, step: CycleStep | None, runs: np.ndarray) -> None:
        """The SEKF's perturbed runs, made from its analysed run ``runs[0]``: head from the
        perturbed control field per ``[update] variable``, derived variables recomputed."""
        if self.sekf is not None:
            self.state.reconcile(runs[1:], np.repeat(runs[:1], runs.shape[0] - 1, axis=0),
                                 self.sekf.update, self.sekf.fields)

    def constrain(self, step: CycleStep, ens: np.ndarray) -> None:
        """Bounds of the estimated parameters and the land stores of the analysed runs."""
        if "assimilation" in self.groups:
            block = self.groups.with_perturbed("assimilation")
            self.state.constrain(ens[block.start:block.stop], self.cfg.filter.parameters)

    def record_analysis(self, step: CycleStep, ens: np.ndarray, forecast: np.ndarray,
                        observed: Observed) -> None:
        """Analysis records, observation-space diagnostics and skill of one step.

        ``ens`` is the ensemble as the model holds it after loading the analysis (derived fields
        recomputed from the analysed state, water content reconciled per ``[update]
        variable``), so the records and scores describe the state the forecast continues from.
        """
        groups, fl, comm = self.groups, self.fl, self.comm
        for g in groups:
            self.writers[g.name].write(step.t1, True, groups.part(ens, g.name), fl)
        if "assimilation" not in groups:                 # a free run or truth pass: records
            return
        da, ol = groups.part(ens, "assimilation"), groups.part(ens, "open_loop")
        details = observed.details
        analysis_hx = [self._hx(op, da.mean(axis=0, keepdims=True)) for op in details.operators]
        truth = groups.part(ens, "truth") if self.synthesise else (
            self.truth_file.state_at(step.t1, fl) if self.truth_file is not None else None)
        if truth is not None:
            if isinstance(self.skill, PhasedSkill):
                self.skill.set_phase("assimilation" if step.assimilate else "free_forecast",
                                     step.t1 / SECONDS_PER_DAY)
            self._score(forecast, da, ol, truth)
        out_of_bounds = comm.allreduce(theta_violations(fl, da, self.theta_bounds))
        if comm.Get_rank() != 0:
            return
        self.counts["theta_out_of_bounds"] += int(out_of_bounds > 0)
        for records, fmean, amean in zip(details.records, details.forecast_mean, analysis_hx):
            self.obs_writer.write_diagnostics(records, fmean, amean)
        innovation = np.concatenate([r.value - f for r, f in zip(details.records,
                                                                 details.forecast_mean)]
                                    or [[0.0]])
        log.info("day %6.2f: %4d observations used, %d rejected, mean innovation %+.4f",
                 step.t1 / SECONDS_PER_DAY, observed.used, observed.rejected,
                 float(np.mean(innovation)))

    def _score(self, forecast: np.ndarray, da: np.ndarray, ol: np.ndarray,
               truth: np.ndarray) -> None:
        """Surface, root-zone, deep-soil, water-table, LAI, flux and well skill of one analysis
        against the truth (collective; the series on filter rank 0)."""
        fl, comm, grid = self.fl, self.comm, self.grid
        runs = (("da_f", forecast), ("da", da), ("ol", ol), ("truth", truth))
        spread_of = SCORED_RUNS if forecast.shape[0] > 1 else ()   # (the SEKF runs one member)
        maps = {}
        for label, (layers, weights) in (("surface", self.surface),
                                         ("root_zone", self.root_zone),
                                         ("deep_soil", self.deep)):
            for run, part in runs:
                mean = column_means(fl, part, weights, layers)
                maps[label, run] = gather_blocks(comm, self.boxes, mean.mean(axis=0), grid.ny,
                                                 grid.nx)
                if run in spread_of:
                    maps[label, f"{run}_spread"] = gather_blocks(
                        comm, self.boxes, mean.std(axis=0, ddof=1), grid.ny, grid.nx)
        columns = {name: column_field_maps(fl, comm, self.boxes, grid, dict(runs), name,
                                           spread_of if name != "water_table_depth" else ())
                   for name in ("water_table_depth", "leaf_area_index", *self.fluxes)}
        errors = self._parameter_errors(da, ol, truth)
        if comm.Get_rank() != 0:
            return
        for name, (e_da, e_ol) in errors.items():
            self.parameter_error[name]["assimilation"].append(e_da)
            self.parameter_error[name]["open_loop"].append(e_ol)
        for label in ("surface", "root_zone", "deep_soil"):
            self.skill.add(label, {run: maps[label, run] for run in SCORED_RUNS},
                           maps[label, "truth"],
                           {run: maps[label, f"{run}_spread"] for run in spread_of})
        wtd, lai = columns["water_table_depth"], columns["leaf_area_index"]
        self.skill.add("water_table_depth", {run: wtd[run] for run in SCORED_RUNS},
                       wtd["truth"])
        vegetated = ~self.bare_ground
        self.skill.add("leaf_area_index", {run: lai[run][vegetated] for run in SCORED_RUNS},
                       lai["truth"][vegetated],
                       {run: lai[f"{run}_spread"][vegetated] for run in spread_of})
        for name in self.fluxes:                # [mm d-1], the window ending at the analysis
            maps = columns[name]
            self.skill.add(name, {run: maps[run] for run in SCORED_RUNS}, maps["truth"],
                           {run: maps[f"{run}_spread"] for run in spread_of})
        if not self.wells:
            return
        for group, wanted in (("assimilated", True), ("withheld", False)):
            at = {run: np.concatenate([wtd[run][rows[mask == wanted], cols[mask == wanted]]
                                       for rows, cols, mask in self.wells])
                  for run in (*SCORED_RUNS, "truth")}
            if at["truth"].size:
                self.skill.add(f"wells_{group}", {run: at[run] for run in SCORED_RUNS},
                               at["truth"])

    def _parameter_errors(self, da: np.ndarray, ol: np.ndarray, truth: np.ndarray
                          ) -> dict[str, tuple[float, float]]:
        """RMSE over every cell of each estimated parameter's ensemble mean against the
        truth's, for the assimilation and the open loop (collective)."""
        from mpi4py import MPI

        out = {}
        for name in self.cfg.filter.parameters:
            t = self.fl.view(truth, name).mean(axis=0)
            sums = np.array([np.sum((self.fl.view(part, name).mean(axis=0) - t) ** 2)
                             for part in (da, ol)] + [t.size], dtype=float)
            self.comm.Allreduce(MPI.IN_PLACE, sums, op=MPI.SUM)
            out[name] = (float(np.sqrt(sums[0] / sums[2])), float(np.sqrt(sums[1] / sums[2])))
        return out

    def files(self) -> dict[str, Any]:
        """The ensemble files, and the observation file last (filter rank 0 only)."""
        return dict(self.writers, **({"observations": self.obs_writer}
                                     if self.obs_writer is not None else {}))

    def checkpoint_state(self) -> dict[str, Any]:
        return {"skill": self.skill.state(), "counts": dict(self.counts), "spinup": self.spinup,
                "parameter_error": {p: {k: np.asarray(v) for k, v in e.items()}
                                    for p, e in self.parameter_error.items()},
                "rejections": {t: dict(r) for t, r in self.rejections.items()}}

    def restore_checkpoint(self, saved: Mapping[str, Any]) -> None:
        self.skill.restore(saved.get("skill", {}))
        for p, e in saved.get("parameter_error", {}).items():
            self.parameter_error[p] = {k: [float(x) for x in np.ravel(v)] for k, v in e.items()}
        self.counts.update({k: int(v) for k, v in saved.get("counts", {}).items()})
        self.rejections = {t: {rule: int(n) for rule, n in r.items()}
                           for t, r in saved.get("rejections", {}).items()}
        self.spinup = {k: np.asarray(v).item() for k, v in saved.get("spinup", {}).items()}

    def describe_time(self, t: float) -> str:
        return f"day {t / SECONDS_PER_DAY:g}"


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
        A checkpoint read by :func:`models.landda.experiment.read_restart`: the run continues after its analysis.

    Raises
    ------
    pdafpy.cycle.RunFailed
        On every rank, when a member fails and the run cannot go on (see :mod:`pdafpy.cycle`).
    """
    check_layout(cfg, world.Get_size())
    out = Path(out or cfg.output.directory)
    groups = run_groups(cfg, tables)
    # [spinup]: every run spun up (or a hot start's file), before the experiment's job
    spun = spin_up(world, cfg, tables, out, groups) \
        if restart is None and spinup_section(tables) is not None else None
    config = dict(model_config(cfg, tables, groups.keys()),   # flux windows end at analyses
                  flux_window_starts_s=[0.0, *analysis_schedule(cfg).times.tolist()])
    job = set_up_job(world, lambda comm: LandDAModel.create(comm, config), groups.total,
                     cfg.parallel.tasks, cfg.parallel.filter_ranks)
    interfaces = share_from_model(job.layout, job.model, lambda m: np.asarray(
        m.coupled.richards.solver.grid.interfaces))
    if restart is None and job.model is not None:
        base = job.model.get_state()
        pert = dict(tables.get("perturbations", {}))
        job.runner.load(spun.loader(job.model, groups, job.layout.members) if spun else
                        lambda run, box: initial_member(job.model, base, groups.key(run),
                                                        cfg.ensemble.seed, pert))
    loc = Localization.from_pdaf(cfg.localization.radius_m,
                                 cfg.localization.support_radius_m or cfg.localization.radius_m,
                                 cfg.localization.weight)
    try:                                  # every rank checks the same inputs, before any forecast
        facts = model_facts(tables, interfaces, job.grid)
        modules = build_modules(cfg.observations, ObservationContext(
            job.grid, tuple(job.fields), cfg.ensemble.seed, loc, facts, cfg.schedule.start))
        reads = cfg.mode == "assimilate" or any(s.file for s in cfg.observations)
        records = read_for(modules, cfg.schedule.start) if reads else None
        # a type that cannot observe this grid is refused here, on every rank
        networks = [m.network() for m in modules] if "truth" in groups else []
        truth_file = TruthFile(cfg.verification.truth, job.grid, list(SCORED_FIELDS),
                               cfg.schedule.start, analysis_schedule(cfg).times,
                               cfg.ensemble.size, FLUX_FIELDS) if cfg.verification.truth \
            else None
        export = StateExport.for_run(cfg.state_export, out, analysis_schedule(cfg).times[-1],
                                     1.0, groups, job, cfg.schedule.start, interfaces,
                                     {"title": f"pdafpy {TITLES[cfg.mode]}: state export"})
    except PdafpyError as exc:
        raise RefusedOnEveryRank(str(exc)) from None
    for name in FLUX_FIELDS:
        if truth_file is not None and name not in truth_file.fields and world.Get_rank() == 0:
            log.warning("%s: no %s_mean record; %s is not scored", truth_file.path, name, name)
    hooks = LandTwin(cfg, tables, job, groups, modules, facts, out, records, truth_file,
                     networks)
    if spun is not None:
        hooks.spinup = spun.summary()
    if "assimilation" not in groups:
        filt = None
    elif hooks.sekf is not None:                  # [sekf]; its perturbed runs made at the start
        filt = make_sekf(tables, interfaces)
        if restart is None:
            perturb_start(job, groups, filt, hooks, hooks.sekf)
    else:
        filt = make_filter(cfg.filter.type, forget=cfg.filter.forget,
                           type_trans=cfg.filter.type_trans, seed=cfg.ensemble.seed)
    options = CycleOptions(seed=cfg.ensemble.seed, on_failure=cfg.ensemble.on_failure,
                           multiplicative=cfg.inflation.multiplicative, rtpp=cfg.inflation.rtpp,
                           rtps=cfg.inflation.rtps, adaptive_forget=cfg.inflation.adaptive_forget,
                           record_every=cfg.output.every_h * SECONDS_PER_HOUR
                           if cfg.output.every_h else None,
                           assimilate_until=cfg.schedule.assimilate_until_days * SECONDS_PER_DAY
                           if cfg.schedule.assimilate_until_days is not None else None)
    checkpointing = Checkpointing(out / CHECKPOINT, cfg.schedule.checkpoint_every,
                                  land_layout_signature(cfg, tables, world.Get_size()),
                                  resolved_configuration(cfg, tables),
                                  {"start": cfg.schedule.start, "time_unit_s": 1.0})
    cycle = AssimilationCycle(job.runner, groups, analysis_schedule(cfg), filt, hooks, options,
                              job.grid, job.boxes, export)
    result = cycle.run(checkpointing, restart)
    export_parameters(cfg, tables, job, groups, out)      # [parameter_export] (collective)
    job.layout.free()
    if world.Get_rank() != 0:
        return None
    counts = dict(result.counts, **hooks.counts)
    summary = summarize(cfg, hooks.skill, counts, result.seconds, result.wall_s,
                        world.Get_size(), job.grid, groups.total)
    if isinstance(hooks.skill, PhasedSkill):
        summary.update(phase_summary(hooks.skill, cfg.schedule.assimilate_until_days))
    if hooks.rejections:
        summary["observations_rejected_by_rule"] = hooks.rejections
    if any(e["assimilation"] for e in hooks.parameter_error.values()):
        summary["parameter_error"] = hooks.parameter_error
    if cfg.mode == "truth":
        summary["observations_written"] = hooks.obs_writer.rows
    if hooks.spinup:
        summary["spinup"] = hooks.spinup
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "summary.json", summary)
    return summary

"""The configuration of an assimilation experiment: the framework's sections.

A TOML file lists only what differs from the defaults (for the coupled land model, its packaged
example). The framework owns ``mode``, ``model``, ``[ensemble]``, ``[filter]``,
``[localization]``, ``[inflation]``, ``[[observations]]``, ``[schedule]``, ``[output]``,
``[state_export]`` (:mod:`pdafpy.state_export`) and ``[parallel]``; the experiment registered
for the model (:mod:`pdafpy.experiment`) owns its own tables (for the coupled land/subsurface
model: ``[grid]``, ``[soil]``, ``[land]``, ``[forcing]``, ...), declared and validated with the same machinery. Each ``[[observations]]``
table is parsed by the section its ``type`` is registered with (entry-point group
``pdafpy.observations``): the keys every type has are declared here, a type adds its own. Any
other top-level key is an error. PDAF's names are accepted as aliases: ``filtertype``,
``forget``, ``cradius``, ``sradius``, ``locweight``, ``dim_ens``, ``n_modeltasks``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping

from .analysis_config import AnalysisModuleSection, ParameterSection, check_analysis_modules
from .config import option
from .errors import ConfigError
from .groups import RunGroups
from .registry import load_registered
from .state_export import StateExportSection

__all__ = ["EnsembleSection", "FilterSection", "LocalizationSection", "InflationSection",
           "ObservationSection", "ScheduleSection", "OutputSection", "VerificationSection",
           "ParallelSection",
           "ExperimentConfig", "check_layout", "OBSERVATION_GROUP",
           "MODES"]

LOCAL_FILTERS = ("lestkf", "letkf", "column_enkf", "lenkf", "ensrf", "eakf", "sekf", 5, 7, 8,
                 13)
#: ``sekf``: the simplified EKF (:mod:`pdafpy.filters.sekf`), which an experiment configures
#: from its own table (the land experiment's ``[sekf]``).
FILTER_NAMES = ("estkf", "etkf", "lestkf", "letkf", "enkf", "lenkf", "ensrf", "eakf",
                "column_enkf", "sekf", 2, 4, 5, 6, 7, 8, 13)
WEIGHTS = ("uniform", "exponential", "gaspari_cohn", "gaussian", 0, 1, 2, 5)
#: Entry-point group of the observation types' configuration sections.
OBSERVATION_GROUP = "pdafpy.observations"
#: ``twin``: synthetic observations from a truth run in the same job, open loop and assimilation;
#: ``truth``: the truth alone, writing it and its observation file (DART's perfect_model_obs);
#: ``assimilate``: observations from files, open loop and assimilation; ``free``: the ensemble
#: forecast only (no observation is assimilated; with observation files, the open loop's
#: operator values at them are written, the training data of ``pdafpy calibrate bias``).
MODES = ("twin", "truth", "assimilate", "free")
#: Where the analysis time lies in each observation window.
WINDOW_POSITIONS = ("end", "centre")


@dataclass(frozen=True)
class EnsembleSection:
    """The ensemble."""

    size: int = option(8, "number of members (at least 2; [filter] type = 'sekf': 1, its "
                       "analysed run, or all its runs)", minimum=1, aliases=("dim_ens",))
    seed: int = option(1, "seed of every random draw (counter-based, layout independent)",
                       minimum=0)
    on_failure: str = option("redraw", "when a member's solve fails: 'redraw' replaces it by "
                             "the mean of the other members of its group plus a perturbation, "
                             "'abort' ends the run", choices=("redraw", "abort"))


@dataclass(frozen=True)
class FilterSection:
    """The analysis."""

    type: str | int = option("letkf", "filter name or PDAF filter type number ('sekf': the "
                             "simplified EKF, configured by the experiment's own table, e.g. "
                             "the land model's [sekf])", choices=FILTER_NAMES,
                             aliases=("filtertype",))
    forget: float = option(1.0, "forgetting factor rho (inflates the forecast by 1/rho)",
                           minimum=0.0, exclusive_minimum=True)
    type_trans: int = option(0, "PDAF's transform type: 0 deterministic, 1/2 random",
                             choices=(0, 1, 2))
    parameters: tuple[str, ...] = option((), "parameter fields of the model the analysis also "
                                         "updates (joint state-parameter estimation)")
    parameter_damping: float = option(1.0, "fraction of the analysis increment applied to the "
                                      "parameters (e.g. 0.1)", minimum=0.0,
                                      exclusive_minimum=True, maximum=1.0)


@dataclass(frozen=True)
class LocalizationSection:
    """Localisation of the local filters."""

    radius_m: float = option(1500.0, "cut-off radius: observations farther away are not used; "
                             "the Gaspari-Cohn weight reaches zero here", unit="m",
                             minimum=0.0, aliases=("cradius",))
    support_radius_m: float | None = option(None, "where the weight function reaches zero "
                                            "(default: radius_m)", unit="m", minimum=0.0,
                                            aliases=("sradius",))
    weight: str | int = option("gaspari_cohn", "weight function or PDAF locweight code",
                               choices=WEIGHTS, aliases=("locweight",))


@dataclass(frozen=True)
class InflationSection:
    """Inflation after the analysis."""

    multiplicative: float = option(1.0, "factor on the analysis anomalies", minimum=0.0,
                                   exclusive_minimum=True)
    rtpp: float = option(0.0, "relaxation to prior perturbations, alpha", minimum=0.0,
                         maximum=1.0)
    rtps: float = option(0.0, "relaxation to prior spread, alpha", minimum=0.0, maximum=1.0)
    adaptive_forget: bool = option(False, "PDAF's adaptive forgetting factor")


@dataclass(frozen=True)
class ObservationSection:
    """One observation type; its ``type`` names the registered type, which may add keys."""

    type: str = option("grid_point", "observation type, by its registered name "
                       "(entry-point group pdafpy.observations)")
    name: str = option("", "label by which [[analysis]] tables name this table (default: its "
                       "type; needed when two tables share a type), and the sensor label of "
                       "its records in observation files: it reads those labelled so "
                       "(docs/observations.md)")
    error: float = option(1.0, "error standard deviation, in the observed quantity's unit",
                          minimum=0.0, exclusive_minimum=True)
    interval_h: float = option(24.0, "time between observations (each type on its own clock)",
                               unit="h", minimum=0.0, exclusive_minimum=True)
    withheld_fraction: float = option(0.0, "fraction kept back for validation", minimum=0.0,
                                      maximum=0.9)
    inno_omit: float = option(0.0, "omit observations whose innovation exceeds this many "
                              "error standard deviations (0: off)", minimum=0.0)
    radius_m: float | None = option(None, "this type's localisation cut-off, where its weight "
                                    "reaches zero (default: [localization] radius_m)", unit="m",
                                    minimum=0.0, exclusive_minimum=True)
    window_h: float | None = option(None, "observation files: length of the window whose "
                                    "observations an analysis takes, at most interval_h "
                                    "(default: interval_h)", unit="h",
                                    minimum=0.0, exclusive_minimum=True)
    window_position: str = option("end", "observation files: where the analysis time lies in "
                                  "its window: 'end' "
                                  "(observations in (t - window, t]) or 'centre' ((t - window/2, "
                                  "t + window/2])", choices=WINDOW_POSITIONS)
    file: str = option("", "mode = 'assimilate': the observation file holding this type's "
                       "observations (pdafpy's format, docs/observations.md); types may share "
                       "one file")
    #: The bias corrections ``bias_correction`` may name (docs/bias-correction.md,
    #: :mod:`pdafpy.obs.bias`).
    bias_corrections: ClassVar[tuple[str, ...]] = ("none", "cdf_matching", "anomaly",
                                                   "seasonal_rescaling")
    bias_correction: str = option("none", "bias correction of this type's observations "
                                  "towards the model's climatology per location and period "
                                  "bin, from bias_file (docs/bias-correction.md): 'anomaly' "
                                  "corrects the mean, 'seasonal_rescaling' the mean and "
                                  "standard deviation, 'cdf_matching' the distribution",
                                  choices=bias_corrections)
    bias_file: str = option("", "the calibration file (pdafpy calibrate bias) of this type; "
                            "required by bias_correction and error_rescaling")
    error_rescaling: bool = option(False, "multiply each observation's error by sd_model / "
                                   "sd_obs of its location and period bin (from bias_file)")

    #: Keys that only shape a twin's synthetic observations (refused with observation files,
    #: whose errors and quality flags come from the file).
    synthesis_keys: ClassVar[tuple[str, ...]] = ("error", "withheld_fraction")

    def check_read_from_file(self, path: str) -> None:
        """Refuse :attr:`synthesis_keys` set away from their defaults: observations read from
        a file carry their own errors and quality flags."""
        defaults = {f.name: f.default for f in dataclasses.fields(self)}
        for key in self.synthesis_keys:
            if getattr(self, key) != defaults[key]:
                raise ConfigError(f"{path}.{key}: shapes a twin's synthetic observations only; "
                                  "observations read from a file carry their own errors and "
                                  "quality flags")

    def check(self, path: str) -> None:
        if set(self.name) & set(";:") or self.name != self.name.strip():
            raise ConfigError(f"{path}.name = {self.name!r}: expected a label without ';' or ':' "
                              "and without spaces at its ends (it labels the table's records "
                              "in observation files)")
        if self.window_h is not None and self.window_h > self.interval_h * (1 + 1e-12):
            raise ConfigError(f"{path}.window_h = {self.window_h}: longer than interval_h = "
                              f"{self.interval_h}, so an observation could fall in two windows")
        if self.bias_correction != "none" or self.error_rescaling:
            asked = (f"bias_correction = {self.bias_correction!r}"
                     if self.bias_correction != "none" else "error_rescaling = true")
            if not self.bias_file:
                raise ConfigError(f"{path}.bias_file: {asked} needs the type's calibration "
                                  "file (written by pdafpy calibrate bias)")
            from .obs.calibration import check_calibration_file
            name = load_registered(OBSERVATION_GROUP, self.type, f"{path}.type").name
            check_calibration_file(self.bias_file, name, f"{path}.bias_file", self.name)

    @classmethod
    def resolve(cls, table: Mapping[str, Any], path: str) -> type:
        """The section of the observation module registered for ``table["type"]`` (the default
        type's without one)."""
        name = table.get("type", "grid_point")
        if not isinstance(name, str):
            raise ConfigError(f"{path}.type = {name!r}: expected a type name")
        module = load_registered(OBSERVATION_GROUP, name, f"{path}.type")
        section = getattr(module, "section_class", None)
        if not (isinstance(section, type) and issubclass(section, ObservationSection)):
            raise ConfigError(f"{path}.type = {name!r}: not an observation module with an "
                              "ObservationSection (pdafpy.obs.module.ObservationModule)")
        return section


@dataclass(frozen=True)
class ScheduleSection:
    """Time."""

    start: str = option("2020-04-01T00:00:00", "start time (ISO 8601)")
    length_days: float = option(10.0, "simulated length", unit="d", minimum=0.0,
                                exclusive_minimum=True)
    checkpoint_every: int = option(0, "write a checkpoint every k analyses (0: never)",
                                   minimum=0)
    assimilate_until_days: float | None = option(
        None, "no analysis after this time: the members then run freely to the end of the run, "
        "a free forecast from the last analysis, scored per phase (default: analyses over the "
        "whole run)", unit="d", minimum=0.0, exclusive_minimum=True)

    def check(self, path: str) -> None:
        from datetime import datetime
        try:
            datetime.fromisoformat(self.start)
        except ValueError:
            raise ConfigError(f"{path}.start = {self.start!r}: expected an ISO 8601 time such as "
                              "2020-04-01T00:00:00") from None
        cut = self.assimilate_until_days
        if cut is not None and cut > self.length_days * (1 + 1e-12):
            raise ConfigError(f"{path}.assimilate_until_days = {cut:g}: after the end of the run "
                              f"(length_days = {self.length_days:g}); expected a time in (0, "
                              "length_days]")


@dataclass(frozen=True)
class OutputSection:
    """What is written."""

    directory: str = option("out", "output folder")
    members: bool = option(False, "also write every member (not only mean and spread)")
    every_h: float | None = option(None, "also write forecast records every every_h hours "
                                   "between analyses (at multiples from the start), so a time "
                                   "series shows each cycle's forecast and the analysis jump "
                                   "(default: at analysis times only)", unit="h", minimum=0.0,
                                   exclusive_minimum=True)


@dataclass(frozen=True)
class VerificationSection:
    """What the runs are scored against, where the run holds no truth of its own."""

    truth: str = option("", "mode = 'assimilate' or 'free': a truth.nc written by a mode = "
                        "'truth' run of the same model and grid; the runs' RMSE is computed "
                        "against it at every analysis time")


@dataclass(frozen=True)
class ParallelSection:
    """The rank layout."""

    tasks: int = option(1, "model tasks (rank groups advancing members)", minimum=1,
                        aliases=("n_modeltasks",))
    filter_ranks: int = option(0, "separate filter ranks (0: task 0's ranks analyse)",
                               minimum=0)
    memory_per_rank_gib: float = option(0.0, "memory a rank may use; a run whose estimated peak "
                                        "per rank (pdafpy.memory) exceeds it is refused before "
                                        "any model work (0: the node's MemTotal divided by "
                                        "its ranks)", unit="GiB", minimum=0.0)


@dataclass(frozen=True)
class ExperimentConfig:
    """An assimilation experiment."""

    mode: str = option("twin", "experiment kind: 'twin' (synthetic observations from a truth "
                       "run, open loop and assimilation), 'truth' (the truth and its observation "
                       "file alone), 'assimilate' (observations from files) or 'free' (the "
                       "ensemble forecast only)", choices=MODES)
    model: str = option("coupled", "model: its name in the entry-point group pdafpy.models, or "
                        "package.module:Class")
    ensemble: EnsembleSection = option(default_factory=EnsembleSection)
    filter: FilterSection = option(default_factory=FilterSection)
    localization: LocalizationSection = option(default_factory=LocalizationSection)
    inflation: InflationSection = option(default_factory=InflationSection)
    observations: tuple[ObservationSection, ...] = option(
        (), "observation types ([[observations]] tables)")
    analysis: tuple[AnalysisModuleSection, ...] = option(
        (), "analysis modules ([[analysis]] tables, run in this order; default: every due type "
        "in one analysis)")
    parameter: tuple[ParameterSection, ...] = option(
        (), "settings of estimated parameters ([[parameter]] tables)")
    schedule: ScheduleSection = option(default_factory=ScheduleSection)
    output: OutputSection = option(default_factory=OutputSection)
    verification: VerificationSection = option(default_factory=VerificationSection)
    state_export: StateExportSection = option(default_factory=StateExportSection)
    parallel: ParallelSection = option(default_factory=ParallelSection)

    def check(self, path: str) -> None:
        local = self.filter.type in LOCAL_FILTERS
        if local and self.localization.radius_m <= 0 and self.filter.type not in (
                "column_enkf", "sekf"):
            raise ConfigError(f"localization.radius_m = {self.localization.radius_m}: a local "
                              f"filter ({self.filter.type}) needs a radius > 0")
        sekf = self.filter.type == "sekf"
        if self.ensemble.size < 2 and not sekf:
            raise ConfigError(f"ensemble.size = {self.ensemble.size}: an ensemble needs at least "
                              "2 members (1 is for [filter] type = 'sekf', its analysed run)")
        runs = RunGroups.for_mode(self.mode, self.ensemble.size).total
        if self.parallel.tasks > runs and not sekf:      # the SEKF's runs: its experiment's
            raise ConfigError(f"parallel.tasks = {self.parallel.tasks}: more model tasks than the "
                              f"{runs} runs of mode = {self.mode!r} (ensemble.size = "
                              f"{self.ensemble.size})")
        named = [o.name for o in self.observations if o.name]
        for i, o in enumerate(self.observations):
            if o.name and named.count(o.name) > 1:
                raise ConfigError(f"observations[{i}].name = {o.name!r}: another "
                                  "[[observations]] table has this name; each table needs its "
                                  "own (it labels the table's records)")
            if self.mode == "assimilate" and not o.file:
                raise ConfigError(f"observations[{i}].file: mode = 'assimilate' reads every "
                                  "type's observations from a file; give its path")
            if self.mode not in ("assimilate", "free") and o.file:
                raise ConfigError(f"observations[{i}].file = {o.file!r}: only modes "
                                  f"'assimilate' and 'free' read observation files (mode is "
                                  f"{self.mode!r}, which makes its own)")
            if o.file:
                o.check_read_from_file(f"observations[{i}]")
            if self.mode == "free" and (o.bias_correction != "none" or o.error_rescaling):
                raise ConfigError(f"observations[{i}].bias_correction: a free run writes the "
                                  "raw observations beside the open loop, the training data of "
                                  "pdafpy calibrate bias; set it to 'none' (and error_rescaling "
                                  "to false)")
            elif o.window_h is not None or o.window_position != "end":
                raise ConfigError(f"observations[{i}].window_h/window_position: a "
                                  f"{self.mode!r} run makes its observations at the analysis "
                                  "times, which every window holds; windows select "
                                  "observations read from files (mode = 'assimilate')")
        check_analysis_modules(self.analysis, self.parameter, self.observations,
                               self.filter.parameters)
        if self.verification.truth and self.mode not in ("assimilate", "free"):
            raise ConfigError(f"verification.truth = {self.verification.truth!r}: mode "
                              f"{self.mode!r} has its own truth or none to score; only "
                              "'assimilate' and 'free' runs are scored against a truth file")
        cut = self.schedule.assimilate_until_days
        if cut is not None and self.mode in ("truth", "free"):
            raise ConfigError(f"schedule.assimilate_until_days = {cut:g}: mode {self.mode!r} "
                              "analyses nothing; the cut ends the analyses of modes 'twin' and "
                              "'assimilate'")
        if cut is not None and self.observations:
            first = min(o.interval_h for o in self.observations) / 24.0
            if cut < first * (1 - 1e-12):
                raise ConfigError(f"schedule.assimilate_until_days = {cut:g}: before the first "
                                  f"analysis (day {first:g}, the shortest [[observations]] "
                                  "interval_h); nothing would be assimilated")
        if self.filter.type_trans and self.filter.type not in ("estkf", "lestkf", "etkf",
                                                               "letkf", 4, 5, 6, 7):
            raise ConfigError(f"filter.type_trans = {self.filter.type_trans}: random transforms "
                              f"need a square-root filter, not {self.filter.type!r}")


def check_layout(config: ExperimentConfig, world_size: int) -> None:
    """Errors a configuration has only for a given number of MPI ranks."""
    tasks, f = config.parallel.tasks, config.parallel.filter_ranks
    if tasks + f > world_size:
        raise ConfigError(f"parallel.tasks = {tasks}" + (f" + filter_ranks = {f}" if f else "")
                          + f": more than the {world_size} MPI ranks of this run")
    if (world_size - f) % tasks:
        raise ConfigError(f"parallel.tasks = {tasks}: {world_size - f} model ranks cannot form "
                          f"{tasks} tasks of equal size")

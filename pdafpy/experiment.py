"""Experiments: what ``pdafpy run`` does with a configuration, chosen by its ``model`` and ``mode``.

An *experiment* ties a model to the assimilation cycle: the model's own configuration tables, the
packaged defaults a user's file is laid over, and the run itself. A model package registers one
under the entry-point group ``pdafpy.experiments`` with the model's name (the coupled land model
registers its land twin); any other model runs as pdafpy's generic experiment
(:class:`GenericExperiment`, :mod:`pdafpy.twin`), for which the model class declares its table
(``config_section``, named ``config_table``), its time unit and its initial ensemble (see
:mod:`pdafpy.model`).

:func:`load_configuration` reads a file, finds the experiment, lays the file over its defaults by
the schema (:func:`pdafpy.config.merge_tables`) and validates every key of every section before
any model work.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Protocol

import numpy as np

from .config import check_keys, load_toml, merge_tables, parse_section, parse_tables
from .errors import ConfigError, PdafpyError, RefusedOnEveryRank
from .experiment_config import MODES, ExperimentConfig, check_layout
from .groups import RunGroups
from .model import load_model_class
from .registry import registered

__all__ = ["Experiment", "GenericExperiment", "LoadedConfiguration", "experiment_for",
           "load_configuration", "resolved_configuration", "layout_signature",
           "check_parameters", "observation_schedule", "EXPERIMENT_GROUP", "RESTART_FREE"]

EXPERIMENT_GROUP = "pdafpy.experiments"
CHECKPOINT = "checkpoint.h5"
#: Keys a restart may change: where outputs go, the length (to extend a run), the checkpoint
#: interval, the failure policy (e.g. "redraw" after an aborted run) and the memory a rank may
#: use (a check before the run).
RESTART_FREE = (("output", "directory"), ("schedule", "length_days"),
                ("schedule", "checkpoint_every"), ("ensemble", "on_failure"),
                ("parallel", "memory_per_rank_gib"))


class Experiment(Protocol):
    """What ``pdafpy run`` needs from the experiment of a model."""

    #: Modes it runs (among :data:`pdafpy.experiment_config.MODES`).
    modes: tuple[str, ...]

    def sections(self) -> Mapping[str, type]:
        """The model's own top-level tables and their sections (dataclasses)."""

    def defaults(self) -> dict[str, Any]:
        """The packaged configuration a user's file is laid over (may be empty). An experiment
        may also offer ``example()``: the experiment whose defaults are its packaged example,
        run when no configuration is given."""

    def inner_sections(self) -> Mapping[str, type]:
        """Sections of free-form tables inside its own ones, for the reference (may be empty):
        e.g. ``{"perturbations.forcing.<variable>": ForcingVariableSection}``."""

    def check(self, cfg: ExperimentConfig, tables: Mapping[str, Any]) -> None:
        """Checks across the framework's and the model's sections (raise ConfigError)."""

    def check_layout(self, cfg: ExperimentConfig, tables: Mapping[str, Any],
                     world_size: int) -> None:
        """Checks for a number of MPI ranks and of the input files (observations, forcing),
        before any model work (raise ConfigError or InputFileError); called on every rank."""

    def run(self, world: Any, cfg: ExperimentConfig, tables: Mapping[str, Any],
            out: Path | None, restart: Any) -> dict | None:
        """Run it (collective); the summary on world rank 0."""

    def read_restart(self, path: Path, world: Any, cfg: ExperimentConfig,
                     tables: Mapping[str, Any]) -> Any:
        """This rank's part of a checkpoint, checked against this run (collective)."""

    def print_summary(self, summary: Mapping[str, Any]) -> None:
        """The summary as a person reads it."""


@dataclass(frozen=True)
class LoadedConfiguration:
    """A validated configuration.

    Attributes
    ----------
    cfg : ExperimentConfig
        The framework's sections.
    tables : dict
        The model's tables (validated), each a dict of the keys given.
    experiment : Experiment
    """

    cfg: ExperimentConfig
    tables: dict[str, Any]
    experiment: Any


def experiment_for(model: str) -> Any:
    """The experiment registered for ``model``, or the generic one around its model class.

    Raises
    ------
    ConfigError
        If neither an experiment nor a model of that name is installed.
    """
    found = registered(EXPERIMENT_GROUP)
    if model in found:
        return found[model].load()()
    return GenericExperiment(model, load_model_class(model))


def load_configuration(source: Path | str | Mapping[str, Any] | None,
                       experiment: Any = None,
                       overrides: Mapping[str, Mapping[str, Any]] | None = None
                       ) -> LoadedConfiguration:
    """Read and validate a configuration: its ``model``'s experiment, the file laid over the
    experiment's defaults, every section parsed.

    Parameters
    ----------
    source : path, mapping or None
        The TOML file (None: the default model's packaged example, its ``example()``
        experiment where it has one, else its defaults). A ``model`` or observation ``type``
        given as ``"module:Class"`` is also looked for in the file's folder.
    experiment : Experiment, optional
        The experiment to use (default: the one registered for the file's ``model``).
    overrides : mapping table -> {key: value}, optional
        Keys laid over the file's, table by table, and validated like them (command-line
        options such as ``pdafpy run --tasks``: ``{"parallel": {"tasks": 2}}``).

    Raises
    ------
    ConfigError, InputFileError
        On the first problem, naming the key or file.
    """
    user = dict(load_toml(source) if isinstance(source, (str, Path)) else (source or {}))
    check_keys(user)
    for table, keys in (overrides or {}).items():
        given = user.get(table, {})
        if not isinstance(given, Mapping):
            raise ConfigError(f"{table} = {given!r}: expected a table")
        user[table] = dict(given, **keys)
    model = user.get("model", ExperimentConfig.model)
    if not isinstance(model, str):
        raise ConfigError(f"model = {model!r}: expected a string")
    named = [model] + [o.get("type", "") for o in user.get("observations", [])
                       if isinstance(o, dict)]
    if isinstance(source, (str, Path)) and any(":" in str(n) for n in named):
        folder = str(Path(source).resolve().parent)    # a module beside its configuration
        if folder not in sys.path:
            sys.path.append(folder)
    experiment = experiment if experiment is not None else experiment_for(model)
    if source is None and hasattr(experiment, "example"):
        experiment = experiment.example()          # a model's packaged example
    sections = dict(experiment.sections())
    base = experiment.defaults()
    split = [({k: v for k, v in t.items() if k not in sections},
              {k: v for k, v in t.items() if k in sections}) for t in (base, user)]
    framework = merge_tables(ExperimentConfig, split[0][0], split[1][0])
    own = merge_tables(sections, split[0][1], split[1][1])
    unknown = sorted(k for k, v in framework.items() if isinstance(v, dict)
                     and k not in {f.name for f in dataclasses.fields(ExperimentConfig)})
    if unknown:
        raise ConfigError(f"[{unknown[0]}]: unknown table; model {model!r} reads "
                          f"{', '.join(f'[{s}]' for s in sections) or 'no table of its own'}")
    mode = framework.get("mode", ExperimentConfig.mode)
    if isinstance(mode, str) and mode in MODES and mode not in experiment.modes:
        raise ConfigError(f"mode = {mode!r}: model {model!r} runs "
                          f"{' or '.join(repr(m) for m in experiment.modes)}")
    cfg = parse_section(ExperimentConfig, framework)
    tables = parse_tables(sections, own)
    experiment.check(cfg, tables)
    return LoadedConfiguration(cfg, tables, experiment)


def resolved_configuration(cfg: ExperimentConfig, tables: Mapping[str, Any]) -> dict:
    """The configuration a checkpoint must match: every framework key with its default filled
    in and the model's tables, without :data:`RESTART_FREE`."""
    conf = dataclasses.asdict(cfg)
    conf.update(copy.deepcopy(dict(tables)))
    for section, key in RESTART_FREE:
        conf.get(section, {}).pop(key, None)
    return conf


def layout_signature(cfg: ExperimentConfig, world_size: int) -> dict[str, int]:
    """The layout numbers a checkpoint must match (the runs of ``cfg.mode``)."""
    return {"world": world_size, "tasks": cfg.parallel.tasks,
            "filter_ranks": cfg.parallel.filter_ranks,
            "runs": RunGroups.for_mode(cfg.mode, cfg.ensemble.size).total}


def check_parameters(cfg: ExperimentConfig, parameter_fields: list[str]) -> None:
    """``[filter] parameters`` must name parameter fields of the model."""
    bad = [p for p in cfg.filter.parameters if p not in parameter_fields]
    if bad:
        raise ConfigError(f"filter.parameters = {list(cfg.filter.parameters)}: {bad[0]!r} is not "
                          f"a parameter field of the model; it has "
                          f"{parameter_fields or 'none'}")


class GenericExperiment:
    """pdafpy's twin and free run of a model class that declares ``config_table``,
    ``config_section``, ``time_unit_s`` and ``initial_member`` (see :mod:`pdafpy.model`)."""

    modes = ("twin", "truth", "assimilate", "free")

    def __init__(self, name: str, model_class: type):
        self.name, self.model_class = name, model_class
        if not isinstance(model_class, type):
            raise ConfigError(f"model = {name!r}: not a class (it names a "
                              f"{type(model_class).__name__})")
        missing = [a for a in ("config_table", "config_section", "time_unit_s",
                               "initial_member") if not hasattr(model_class, a)]
        if missing:
            raise ConfigError(f"model = {name!r}: {model_class.__name__} cannot be run by "
                              f"pdafpy run: it declares no {', '.join(missing)} (see "
                              "pdafpy.model)")

    def sections(self) -> dict[str, type]:
        return {self.model_class.config_table: self.model_class.config_section}

    def defaults(self) -> dict[str, Any]:
        return {"model": self.name}

    def inner_sections(self) -> dict[str, type]:
        return {}

    def check(self, cfg: ExperimentConfig, tables: Mapping[str, Any]) -> None:
        if cfg.mode in ("twin", "truth", "assimilate") and not cfg.observations:
            raise ConfigError(f"observations: mode = {cfg.mode!r} needs at least one "
                              "[[observations]] table")
        if cfg.filter.parameters:
            raise ConfigError(f"filter.parameters = {list(cfg.filter.parameters)}: pdafpy's "
                              f"generic twin of model {self.name!r} estimates no parameters")
        if cfg.filter.type == "sekf":
            raise ConfigError(f"filter.type = 'sekf': pdafpy's generic twin of model "
                              f"{self.name!r} has no SEKF control vector; the land experiment "
                              "(model = 'coupled') configures one ([sekf])")
        for i, m in enumerate(cfg.analysis):
            for key, default in (("mask", "all"), ("update", "")):
                if getattr(m, key) != default:
                    raise ConfigError(f"analysis[{i}].{key} = {getattr(m, key)!r}: pdafpy's "
                                      f"generic twin of model {self.name!r} offers none (masks "
                                      "and update variables are a model's own)")

    def check_layout(self, cfg: ExperimentConfig, tables: Mapping[str, Any],
                     world_size: int) -> None:
        check_layout(cfg, world_size)
        most = getattr(self.model_class, "max_ranks_per_task", None)
        per_task = (world_size - cfg.parallel.filter_ranks) // cfg.parallel.tasks
        if most is not None and per_task > most:
            raise ConfigError(f"parallel.tasks = {cfg.parallel.tasks}: {per_task} ranks per model "
                              f"task, but model {self.name!r} runs on at most {most}")
        from .validation import check_observation_files
        check_observation_files(cfg, world_size)

    def _config(self, tables: Mapping[str, Any]) -> Any:
        return parse_section(self.model_class.config_section,
                             tables.get(self.model_class.config_table, {}),
                             self.model_class.config_table)

    def run(self, world: Any, cfg: ExperimentConfig, tables: Mapping[str, Any],
            out: Path | None = None, restart: Any = None) -> dict | None:
        from .atomic import write_json
        from .cycle import AssimilationCycle, Checkpointing, CycleOptions
        from .filters import make_filter
        from .job import set_up_job
        from .localize import Localization
        from .obs.module import ObservationContext, build_modules, read_for
        from .obs.records import ObservationRecords
        from .state_export import StateExport
        from .twin import GenericTwin
        from .verification import TruthFile

        self.check_layout(cfg, tables, world.Get_size())
        out = Path(out or cfg.output.directory)
        section = self._config(tables)
        cls = self.model_class
        groups = RunGroups.for_mode(cfg.mode, cfg.ensemble.size)
        job = set_up_job(world, lambda comm: cls.create(comm, dataclasses.asdict(section)),
                         groups.total, cfg.parallel.tasks, cfg.parallel.filter_ranks)
        grid = job.grid
        periods = [p * n for p, n in zip((_spacing(grid.y), _spacing(grid.x)),
                                         (grid.ny, grid.nx))]
        loc_cfg = cfg.localization
        periodic = any(grid.periodic)
        localization = Localization.from_pdaf(
            loc_cfg.radius_m, loc_cfg.support_radius_m or loc_cfg.radius_m, loc_cfg.weight,
            1 if periodic else 0,
            (periods[1] if grid.periodic[1] else 0.0, periods[0] if grid.periodic[0] else 0.0)
            if periodic else None)
        unit = float(cls.time_unit_s)
        schedule = observation_schedule(cfg, unit)
        try:
            modules = build_modules(cfg.observations, ObservationContext(
                grid, tuple(job.fields), cfg.ensemble.seed, localization,
                start=cfg.schedule.start))
            reads = cfg.mode == "assimilate" or any(s.file for s in cfg.observations)
            records = read_for(modules, cfg.schedule.start) if reads \
                else ObservationRecords.empty()
            truth_file = TruthFile(cfg.verification.truth, grid, [f.name for f in job.fields],
                                   cfg.schedule.start, schedule.times * unit,
                                   cfg.ensemble.size) \
                if cfg.verification.truth else None
            export = StateExport.for_run(cfg.state_export, out, schedule.times[-1], unit, groups,
                                         job, cfg.schedule.start, attributes={
                                             "title": f"pdafpy {cfg.mode} run of {cfg.model}: "
                                                      "state export"})
        except PdafpyError as exc:                  # every rank read the same files
            raise RefusedOnEveryRank(str(exc)) from None
        if job.model is not None:
            base = job.model.get_state()
            box = job.model.box
            job.runner.load(lambda run, _: cls.initial_member(base, groups.key(run),
                                                              cfg.ensemble.seed, box, section))
        hooks = GenericTwin(cfg, job, groups, modules, schedule, records, unit, out, truth_file)
        filt = make_filter(cfg.filter.type, forget=cfg.filter.forget,
                           type_trans=cfg.filter.type_trans, seed=cfg.ensemble.seed) \
            if groups.of_kind("analysed") else None
        options = CycleOptions(seed=cfg.ensemble.seed, on_failure=cfg.ensemble.on_failure,
                               multiplicative=cfg.inflation.multiplicative,
                               rtpp=cfg.inflation.rtpp, rtps=cfg.inflation.rtps,
                               adaptive_forget=cfg.inflation.adaptive_forget,
                               record_every=cfg.output.every_h * 3600.0 / unit
                               if cfg.output.every_h else None,
                               assimilate_until=cfg.schedule.assimilate_until_days * 86400.0
                               / unit if cfg.schedule.assimilate_until_days is not None
                               else None)
        checkpointing = Checkpointing(out / CHECKPOINT, cfg.schedule.checkpoint_every,
                                      layout_signature(cfg, world.Get_size()),
                                      resolved_configuration(cfg, tables),
                                      {"start": cfg.schedule.start, "time_unit_s": unit})
        result = AssimilationCycle(job.runner, groups, schedule, filt, hooks, options, grid,
                                   job.boxes, export).run(checkpointing, restart)
        job.layout.free()
        if world.Get_rank() != 0:
            return None
        summary = {"model": self.name, "mode": cfg.mode, "variables": hooks.summary(),
                   "observations_used": result.counts.get("used", 0),
                   "observations_rejected": result.counts.get("omitted", 0),
                   "members_redrawn": result.counts.get("members_redrawn", 0),
                   "seconds": {k: round(v, 3) for k, v in result.seconds.items()},
                   "wall_s": round(result.wall_s, 2), "ranks": world.Get_size(),
                   "runs": groups.total, "members": cfg.ensemble.size,
                   "filter": str(cfg.filter.type) if filt is not None else None,
                   "analyses": len(schedule),
                   "analyses_made": result.counts.get("analyses", 0),
                   "observations_written": hooks.obs_writer.rows if hooks.obs_writer else 0}
        if hooks.phased:
            from .twin import PHASES
            summary["assimilate_until_days"] = cfg.schedule.assimilate_until_days
            summary["phases"] = {p: hooks.summary(p) for p in PHASES}
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / "summary.json", summary)
        return summary

    def read_restart(self, path: Path, world: Any, cfg: ExperimentConfig,
                     tables: Mapping[str, Any]) -> Any:
        from .checkpoint import read_checkpoint
        return read_checkpoint(path, world, layout_signature(cfg, world.Get_size()),
                               resolved_configuration(cfg, tables))

    def print_summary(self, summary: Mapping[str, Any]) -> None:
        from .twin import print_field_summary
        if summary["mode"] == "truth":
            print(f"truth pass: {summary['observations_written']} observations at "
                  f"{summary['analyses']} analysis times written to observations.nc, the truth "
                  f"to truth.nc; wall {summary['wall_s']:.2f} s on {summary['ranks']} ranks")
            return
        runs = (["open_loop", "assimilation_forecast", "assimilation"]
                if summary["mode"] in ("twin", "assimilate") else ["open_loop"])
        print_field_summary(summary, runs)
        print(f"\n{summary['analyses']} analysis times, {summary['observations_used']} "
              f"observations used; wall {summary['wall_s']:.2f} s on {summary['ranks']} ranks")


def observation_schedule(cfg: ExperimentConfig, time_unit_s: float,
                         without_observations: float | None = None) -> Any:
    """The analysis times of ``cfg``: each observation type's clock and window, in model time
    units; without an observation type, every ``without_observations`` [model time units]
    (default: once, at the end of the run)."""
    from .schedule import AnalysisSchedule

    per_h = 3600.0 / time_unit_s
    obs = cfg.observations
    end = cfg.schedule.length_days * 86400.0 / time_unit_s
    if not obs:
        return AnalysisSchedule([without_observations or end], end)
    return AnalysisSchedule([o.interval_h * per_h for o in obs], end,
                            windows=[(o.window_h or o.interval_h) * per_h for o in obs],
                            centred=[o.window_position == "centre" for o in obs])


def _spacing(coords: np.ndarray) -> float:
    return float(coords[1] - coords[0]) if coords.size > 1 else 1.0

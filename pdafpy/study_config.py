"""A study: one experiment, its matrix of runs, the paper's table and the findings to check.

A study file is an experiment configuration (every table ``pdafpy run`` reads, laid over the
model's defaults) with one more table, ``[study]``, which names the paper, the seeds, the runs of
the matrix and what to tabulate (docs/studies.md)::

    [study]
    tag = "LI"
    seeds = [2, 3, 4]
    truth = { ... }                 # tables laid over the experiment for the truth pass only
    quick = { ... }                 # tables laid over every run and the truth with --quick

    [[study.run]]
    name = "WC_DA"
    observations = ["crns"]         # names of the file's [[observations]] tables it assimilates
    set = { ... }                   # tables laid over the experiment for this run

    [study.columns]                 # the paper's labels: which run, which stage
    OL = "WC_DA open_loop"
    WC_DA = "WC_DA analysis"

    [[study.table]]
    quantity = "CRNS soil moisture ubRMSE [m3 m-3]"
    variable = "surface"
    metric = "ubrmse"
    paper = { OL = 0.071, WC_DA = 0.039 }

    [[study.finding]]
    claim = "CRNS-only DA lowers the soil moisture ubRMSE (paper: -45 %)"
    kind = "mechanism"
    left = "WC_DA analysis surface ubrmse"
    relation = "<"
    right = "WC_DA open_loop surface ubrmse"
    paper_change_percent = -45.0

A *quantity* ``"RUN STAGE VARIABLE METRIC"`` reads a run's ``summary.json``: ``STAGE`` is
``analysis`` (the analyses), ``forecast`` (the forecasts just before them), ``open_loop``,
``free_forecast`` (the free forecast after ``[schedule] assimilate_until_days``) or
``free_forecast_open_loop`` (the open loop over the same days), ``VARIABLE`` a
scored variable (``surface``, ``root_zone``, ``water_table_depth``, ...) or ``parameter:NAME``
(the ensemble-mean error of an estimated parameter, ``METRIC`` ``first`` or ``last`` analysis),
``METRIC`` one of the summary's metrics (``rmse``, ``ubrmse``, ``bias``, ``correlation``,
``spread``: the stage's ensemble standard deviation averaged over the analysis times and the
cells, ``spread_over_rmse``).

Every run of a seed shares one truth pass (``mode = "truth"``: the truth and its observation
file) and is then run with ``mode = "assimilate"`` from that file, scored against that truth; a
run with ``observations = []`` is a free run (``mode = "free"``), its skill the open loop's.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from .config import load_toml, merge_tables, option, parse_section
from .errors import ConfigError
from .experiment_config import ExperimentConfig, ObservationSection

__all__ = ["StudySection", "StudyRun", "StudyCalibration", "free_tables", "fill_placeholders", "StudyRow", "StudyFinding", "Quantity", "read_study",
           "layer_tables", "truth_tables", "run_tables", "preflight_tables", "STAGES", "table_digest"]

#: Stages a quantity may read, and the key of the summary's per-variable tables they name.
STAGES = {"analysis": "assimilation", "forecast": "assimilation_forecast",
          "open_loop": "open_loop", "free_forecast": "assimilation",
          "free_forecast_open_loop": "open_loop"}
RELATIONS = ("<", ">", "~")
#: What a finding is: only a mechanism counts (see :class:`StudyFinding`).
FINDING_KINDS = ("mechanism", "construction", "twin_only")
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass(frozen=True)
class Quantity:
    """One number of a run's summary: ``"RUN STAGE VARIABLE METRIC"``."""

    run: str
    stage: str
    variable: str
    metric: str

    @classmethod
    def parse(cls, text: str, path: str, runs: Mapping[str, "StudyRun"]) -> "Quantity":
        words = text.split()
        if len(words) != 4:
            raise ConfigError(f"{path} = {text!r}: expected 'RUN STAGE VARIABLE METRIC'")
        run, stage, variable, metric = words
        _check_run_stage(f"{path} = {text!r}", run, stage, runs)
        if variable.startswith("parameter:") and metric not in ("first", "last"):
            raise ConfigError(f"{path} = {text!r}: a parameter's error is read at its 'first' "
                              "or 'last' analysis")
        return cls(run, stage, variable, metric)

    def __str__(self) -> str:
        return f"{self.run} {self.stage} {self.variable} {self.metric}"


def _check_run_stage(where: str, run: str, stage: str, runs: Mapping[str, "StudyRun"]) -> None:
    if run not in runs:
        raise ConfigError(f"{where}: no run {run!r}; the study's runs: {', '.join(runs)}")
    if stage not in STAGES:
        raise ConfigError(f"{where}: stage {stage!r}; expected one of {', '.join(STAGES)}")
    if runs[run].observations == () and stage not in ("open_loop", "free_forecast_open_loop"):
        raise ConfigError(f"{where}: run {run!r} assimilates nothing (a free run); only its "
                          "'open_loop' stage exists")


@dataclass(frozen=True)
class StudyRun:
    """One run of the matrix (``[[study.run]]``)."""

    name: str = option("", "the run's label (the paper's), also its output folder's name")
    description: str = option("", "what the run is, in the paper's words")
    observations: tuple[str, ...] | None = option(
        None, "names (or types) of the file's [[observations]] tables this run assimilates "
        "(default: all; [] makes it a free run, scored as an open loop)")
    set: dict = option(default_factory=dict, doc="tables laid over the study's experiment for "
                       "this run, as a user's file over the defaults")

    def check(self, path: str) -> None:
        if not _RUN_NAME.match(self.name):
            raise ConfigError(f"{path}.name = {self.name!r}: expected letters, digits and "
                              "_ . + - (it names the run's folder)")
        for key in ("mode", "study"):
            if key in self.set:
                raise ConfigError(f"{path}.set.{key}: the study decides it")
        if "seed" in self.set.get("ensemble", {}):
            raise ConfigError(f"{path}.set.ensemble.seed: the study's seeds decide it")


@dataclass(frozen=True)
class StudyRow:
    """One row of the paper's table (``[[study.table]]``)."""

    quantity: str = option("", "what the row shows, with its unit")
    variable: str = option("", "the scored variable (or parameter:NAME)")
    metric: str = option("", "the metric (rmse, ubrmse, bias, correlation, spread, "
                         "spread_over_rmse; first/last for a parameter)")
    paper: dict = option(default_factory=dict, doc="the paper's printed value per column label "
                         "(numbers or text)")

    def check(self, path: str) -> None:
        if not self.quantity or not self.variable or not self.metric:
            raise ConfigError(f"{path}: needs quantity, variable and metric")


@dataclass(frozen=True)
class StudyFinding:
    """One finding of the paper, as a comparison of two quantities (``[[study.finding]]``)."""

    claim: str = option("", "the finding, in words, with the paper's figure")
    kind: str = option("mechanism", "'mechanism': it must come from the assimilation; "
                       "'construction': it holds by the twin's design; 'twin_only': the paper "
                       "does not measure it (both reported, neither counts)",
                       choices=FINDING_KINDS)
    left: str = option("", "RUN STAGE VARIABLE METRIC")
    relation: str = option("<", "left < right, left > right, or left ~ right (within "
                           "tolerance_percent of right)", choices=RELATIONS)
    right: str = option("", "RUN STAGE VARIABLE METRIC")
    tolerance_percent: float = option(5.0, "relation '~': the largest |left - right| / |right| "
                                      "counted as unchanged", unit="%", minimum=0.0)
    paper_change_percent: float | None = option(
        None, "the paper's 100 (left - right) / |right|, beside the twin's", unit="%")

    def check(self, path: str) -> None:
        if not self.claim:
            raise ConfigError(f"{path}.claim: missing; say what the finding is")


@dataclass(frozen=True)
class StudyCalibration:
    """What the runs calibrate on (``[study.calibration]``): after each seed's truth pass, a
    free run of the ensemble (``OUT/seed_<seed>/free``) reading every observation type from the
    truth's file, then these ``pdafpy`` commands (bias or VOD-operator calibration)."""

    commands: tuple[tuple[str, ...], ...] = option(
        (), "pdafpy commands, each a list of words; {free} is the free run's folder, "
        "{observations} the truth's observation file, {seed_folder} the seed's folder "
        "(e.g. ['calibrate', 'vod', '--open-loop', '{free}', '--vod', '{observations}', "
        "'--out', '{seed_folder}/vod.nc'])")
    set: dict = option(default_factory=dict, doc="tables laid over the experiment for the "
                       "free run")

    def check(self, path: str) -> None:
        for i, words in enumerate(self.commands):
            if not words:
                raise ConfigError(f"{path}.commands[{i}]: empty; expected a pdafpy command")
            if words[0] in ("run", "study", "slurm"):
                raise ConfigError(f"{path}.commands[{i}] = {list(words)}: a calibration "
                                  "command, not pdafpy " + words[0])


@dataclass(frozen=True)
class StudySection:
    """The ``[study]`` table."""

    tag: str = option("", "the paper's tag (Z25, LI, HEY, KW26, BAI)")
    title: str = option("", "the paper, in a line")
    paper: str = option("", "the paper's file in ../shared/papers")
    seeds: tuple[int, ...] = option((2, 3, 4), "the seeds; each has its own truth, shared by "
                                    "every run of that seed")
    truth: dict = option(default_factory=dict, doc="tables laid over the experiment for the "
                         "truth pass only (where the truth differs from the ensemble's model)")
    quick: dict = option(default_factory=dict, doc="tables laid over the truth and every run "
                         "with --quick (a small grid, a short window)")
    calibration: StudyCalibration = option(default_factory=StudyCalibration,
                                           doc="calibration on a free run before the runs")
    run: tuple[StudyRun, ...] = option((), "the runs of the matrix")
    columns: dict = option(default_factory=dict, doc="the paper's experiment labels: label -> "
                           "'RUN STAGE'")
    table: tuple[StudyRow, ...] = option((), "the rows of the paper's table")
    finding: tuple[StudyFinding, ...] = option((), "the findings to reproduce")

    def check(self, path: str) -> None:
        if not self.tag:
            raise ConfigError(f"{path}.tag: missing; name the study")
        if not self.run:
            raise ConfigError(f"{path}.run: no runs; a study needs at least one [[study.run]]")
        if len(set(self.seeds)) != len(self.seeds) or not self.seeds:
            raise ConfigError(f"{path}.seeds = {list(self.seeds)}: expected distinct seeds")
        names = [r.name for r in self.run]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ConfigError(f"{path}.run: the name {twice[0]!r} is given twice")
        for reserved in ("truth", "free"):
            if reserved in names:
                raise ConfigError(f"{path}.run: {reserved!r} names a folder of the study's own "
                                  "(the truth pass, the calibration's free run); rename the run")
        runs = {r.name: r for r in self.run}
        for label, spec in self.columns.items():
            words = spec.split() if isinstance(spec, str) else []
            if len(words) != 2:
                raise ConfigError(f"{path}.columns.{label} = {spec!r}: expected 'RUN STAGE'")
            _check_run_stage(f"{path}.columns.{label}", words[0], words[1], runs)
        for i, row in enumerate(self.table):
            unknown = sorted(set(row.paper) - set(self.columns))
            if unknown:
                raise ConfigError(f"{path}.table[{i}].paper.{unknown[0]}: not a column; the "
                                  f"columns: {', '.join(self.columns)}")
        for i, f in enumerate(self.finding):
            Quantity.parse(f.left, f"{path}.finding[{i}].left", runs)
            Quantity.parse(f.right, f"{path}.finding[{i}].right", runs)

    def runs(self) -> dict[str, StudyRun]:
        return {r.name: r for r in self.run}


def read_study(path: Path | str) -> tuple[StudySection, dict[str, Any]]:
    """The ``[study]`` table of a study file and the experiment (every other table).

    Raises
    ------
    ConfigError, InputFileError
        On the first problem, naming the key or file.
    """
    table = load_toml(path)
    if "study" not in table:
        raise ConfigError(f"{path}: no [study] table; a study file is an experiment "
                          "configuration with a [study] table (docs/studies.md)")
    raw = table.pop("study")
    if not isinstance(raw, Mapping):
        raise ConfigError(f"study = {raw!r}: expected a table")
    study = parse_section(StudySection, raw, "study")
    for key in ("mode",):
        if key in table:
            raise ConfigError(f"{key} (in {path}): the study decides it (truth pass, then "
                              "assimilate or free runs)")
    if "seed" in table.get("ensemble", {}):
        raise ConfigError(f"ensemble.seed (in {path}): [study] seeds decides it")
    names = [o.get("name") or o.get("type", "grid_point")
             for o in table.get("observations", []) if isinstance(o, Mapping)]
    for run in study.run:
        for name in run.observations or ():
            if name not in names:
                raise ConfigError(f"study.run {run.name!r}.observations: {name!r} is not one "
                                  f"of the file's [[observations]] ({', '.join(names)})")
    return study, table


def layer_tables(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` laid over ``base`` as a user's file over a model's defaults (by the schema of
    the model ``over`` or ``base`` names: sections merged key by key, arrays replaced)."""
    from .experiment import experiment_for

    model = over.get("model", base.get("model", ExperimentConfig.model))
    sections = dict(experiment_for(model).sections()) if isinstance(model, str) else {}
    split = [({k: v for k, v in t.items() if k not in sections},
              {k: v for k, v in t.items() if k in sections}) for t in (base, over)]
    return dict(merge_tables(ExperimentConfig, split[0][0], split[1][0]),
                **merge_tables(sections, split[0][1], split[1][1]))


def fill_placeholders(value: Any, seed_folder: Path) -> Any:
    """``value`` with ``{seed_folder}`` in its strings replaced (files a calibration wrote)."""
    if isinstance(value, str):
        return value.replace("{seed_folder}", str(seed_folder))
    if isinstance(value, Mapping):
        return {k: fill_placeholders(v, seed_folder) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [fill_placeholders(v, seed_folder) for v in value]
    return value


def free_tables(study: StudySection, experiment: Mapping[str, Any], seed: int, quick: bool,
                truth_folder: Path) -> dict[str, Any]:
    """The calibration's free run of one seed: the ensemble without analysis, every observation
    type read from the truth's file (raw: no bias correction), scored against its truth."""
    table = layer_tables(experiment, study.calibration.set)
    if quick:
        table = layer_tables(table, study.quick)
    observations = []
    # a type whose operator needs a calibration file (VOD's coefficients) is left out: it is
    # what the calibration fits, from the open loop and the truth's file
    usable = [o for o in table.get("observations", [])
              if not any("{seed_folder}" in str(v) for k, v in o.items() if k != "bias_file")]
    for i, o in enumerate(_without_calibration(usable)[0]):
        section = ObservationSection.resolve(o, f"observations[{i}]")
        for key in section.synthesis_keys + ("bias_correction", "bias_file",
                                             "error_rescaling"):
            o.pop(key, None)
        o["file"] = str(truth_folder / "observations.nc")
        observations.append(o)
    table["observations"] = observations
    for key in ("analysis", "parameter"):
        table.pop(key, None)
    table = _with(table, mode="free", seed=seed)
    table["verification"] = dict(table.get("verification", {}),
                                 truth=str(truth_folder / "truth.nc"))
    return fill_placeholders(table, truth_folder.parent)


def truth_tables(study: StudySection, experiment: Mapping[str, Any], seed: int,
                 quick: bool) -> dict[str, Any]:
    """The truth pass of one seed: the experiment, the study's truth tables (and quick ones),
    ``mode = "truth"``."""
    table = layer_tables(experiment, study.truth)
    if quick:
        table = layer_tables(table, study.quick)
    table["observations"] = _without_calibration(list(table.get("observations", [])))[0]
    table = _with(table, mode="truth", seed=seed)
    table["parallel"] = dict(table.get("parallel", {}), tasks=1)    # one run: one task
    return table


def run_tables(study: StudySection, run: StudyRun, experiment: Mapping[str, Any], seed: int,
               quick: bool, truth_folder: Path) -> dict[str, Any]:
    """One run of one seed: the experiment with the run's tables (and quick ones), its
    observation types read from the truth pass's file and scored against its truth."""
    table, observations = _run_base(study, run, experiment, quick)
    for i, o in enumerate(observations):
        section = ObservationSection.resolve(o, f"observations[{i}]")
        for key in section.synthesis_keys:
            o.pop(key, None)
        o["file"] = str(truth_folder / "observations.nc")
    table["observations"] = observations
    mode = "assimilate" if observations else "free"
    if mode == "free":
        table.pop("analysis", None)
        table.pop("parameter", None)
    table = _with(table, mode=mode, seed=seed)
    table["verification"] = dict(table.get("verification", {}),
                                 truth=str(truth_folder / "truth.nc"))
    return fill_placeholders(table, truth_folder.parent)


def preflight_tables(study: StudySection, run: StudyRun, experiment: Mapping[str, Any],
                     seed: int, quick: bool) -> dict[str, Any]:
    """A run's configuration as a twin (``mode = "twin"``, observations drawn, not read), to
    validate every key before the truth pass has written the observation file."""
    table, observations = _run_base(study, run, experiment, quick)
    observations, calibrated = _without_calibration(observations)
    table["observations"] = observations
    if not observations:
        table.pop("analysis", None)
        table.pop("parameter", None)
    mode = "free" if not observations else ("truth" if calibrated else "twin")
    return _with(table, mode=mode, seed=seed)


def _without_calibration(observations: list[dict[str, Any]]
                         ) -> tuple[list[dict[str, Any]], bool]:
    """The observation tables without the keys naming files a calibration writes (they do
    not exist before it, and a truth pass or free run needs none); whether any was dropped."""
    dropped = False
    kept = []
    for o in observations:
        o = dict(o)
        for key in [k for k, v in o.items() if "{seed_folder}" in str(v)]:
            dropped = True
            del o[key]
            if key == "bias_file":
                o.pop("bias_correction", None)
                o.pop("error_rescaling", None)
        kept.append(o)
    return kept, dropped


def _run_base(study: StudySection, run: StudyRun, experiment: Mapping[str, Any],
              quick: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The run's tables laid over the experiment (and the quick ones), and the observation
    tables it assimilates."""
    table = layer_tables(experiment, run.set)
    if quick:
        table = layer_tables(table, study.quick)
    observations = [dict(o) for o in table.get("observations", [])]
    if run.observations is not None:
        observations = [o for o in observations
                        if (o.get("name") or o.get("type", "grid_point")) in run.observations]
    return table, observations


def _with(table: Mapping[str, Any], mode: str, seed: int) -> dict[str, Any]:
    out = dict(table, mode=mode)
    if mode in ("truth", "free") and "schedule" in out:    # nothing is analysed: no cut
        out["schedule"] = {k: v for k, v in out["schedule"].items()
                           if k != "assimilate_until_days"}
    out["ensemble"] = dict(out.get("ensemble", {}), seed=seed)
    return out


def table_digest(table: Mapping[str, Any]) -> str:
    """A digest of a configuration table (whether a truth pass on disk is this one's)."""
    text = json.dumps(table, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

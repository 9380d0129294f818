"""Observation modules, in the manner of PDAF-OMI: one class per observation type.

An observation module is registered by its type name under the entry-point group
``pdafpy.observations`` (one line in a package's ``setup.py``) and is found through the
``type`` of an ``[[observations]]`` table. Every module has the same small set of entry points,
which the framework calls in this order for the observations of each analysis window:

1. :meth:`ObservationModule.select` -- its observations valid in the window (of its type and,
   where two tables share a type, labelled with its table's ``name``: :attr:`sensor`);
2. :meth:`ObservationModule.process` -- every record of the window made ready, in two QC
   stages around the bias correction, each rejection flagged (``qc``
   :data:`~pdafpy.obs.records.QC_REJECTED`) and named (``rejected_by``), not dropped, so that
   the observation-space diagnostics list it:

   a. :meth:`ObservationModule.quality_control` -- stage 1, the product's own flags (default:
      a file's ``qc`` as read);
   b. :meth:`ObservationModule.bias_correct` -- corrected values of the good ones (default:
      unchanged);
   c. stage 2, rules on the forecast (snow, rain, dense vegetation, ...: callables given by the
      experiment, :data:`StateRule`), then :meth:`ObservationModule.screen` -- what a type does
      with the forecast ensemble itself (e.g. groundwater levels turned into pressure-head
      pseudo-observations in the ensemble's saturated zone; default: nothing);
3. :meth:`ObservationModule.operator` -- the observation operator, a
   :class:`~pdafpy.obs.operators.StencilOperator` (grid point, bilinear, footprint average) or
   a :class:`~pdafpy.obs.operators.ColumnFunctionOperator` for a non-linear operator;
   :meth:`ObservationModule.observation_type` gives the filter the good records with it;
4. :meth:`ObservationModule.localization` -- its cut-off radius and weight, and
   :meth:`ObservationModule.vertical_range` -- the depths each observation represents, for
   vertical localisation (default: none).

The innovation check (``inno_omit``) follows in the analysis itself.

A twin also asks :meth:`ObservationModule.network` where the type observes (the locations and
errors of its synthetic observations); types that only come from files need not define it. It
draws them with :meth:`ObservationModule.synthetic` from the truth's values under
:meth:`ObservationModule.synthesis_operator`; a type whose draw depends on more of the truth
(an error that grows with the canopy) names the operators of what it needs in
:meth:`ObservationModule.synthesis_covariates` (default: nothing), and the twin passes their
values on the truth as ``covariates``.
Observations come as :class:`~pdafpy.obs.records.ObservationRecords`, whether a twin made them
from its truth or a file supplied them, so the two share every step after that.

Example: a type observing field ``temperature`` at the nearest grid point is the framework's
``grid_point`` module (:mod:`pdafpy.obs.grid_point`) with ``field = "temperature"``; a new kind
of sensor subclasses :class:`ObservationModule` and sets ``name``, ``units`` and ``section``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Collection, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, InputFileError
from ..experiment_config import OBSERVATION_GROUP, ObservationSection
from ..localize import Localization
from ..model import FieldSpec, Grid
from ..registry import load_registered, registered
from .operators import StencilOperator
from .records import QC_GOOD, TIME_TOL_S, ObservationRecords
from .synthetic import synthetic_values
from .types import ObservationType

__all__ = ["ObservationContext", "ObservationModule", "Forecast", "StateRule",
           "observation_module", "build_modules",
           "check_valid_ranges", "check_files", "read_for", "own_records", "nearest_columns",
           "warn_outside_run"]

log = logging.getLogger(__name__)

#: The forecast as an observation module sees it: ``forecast(operator)`` is the operator
#: applied to every member of the forecast ensemble, ``(n_members, m)``, the same on every
#: filter rank (a collective call: every filter rank makes the same calls in the same order).
Forecast = Callable[[StencilOperator], np.ndarray]
#: A stage-2 quality-control rule: ``rule(records, forecast)`` gives the records with those it
#: rejects flagged (:meth:`~pdafpy.obs.records.ObservationRecords.reject`).
StateRule = Callable[[ObservationRecords, Forecast], ObservationRecords]


@dataclass(frozen=True)
class ObservationContext:
    """What an observation module may know about the run.

    Attributes
    ----------
    grid : Grid
        The model grid.
    fields : tuple of FieldSpec
        The model's fields.
    seed : int
        The run's seed (a twin's network and noise are drawn from it).
    localization : Localization
        The default localisation ([localization]).
    model : mapping
        Model-specific facts a module may need (e.g. ``interfaces``: layer interface depths).
    start : str
        The run's start (ISO 8601): observation times are seconds after it.
    """

    grid: Grid
    fields: tuple[FieldSpec, ...]
    seed: int
    localization: Localization
    model: Mapping[str, Any] = field(default_factory=dict)
    start: str = "2000-01-01T00:00:00"


class ObservationModule:
    """One observation type (see the module notes).

    Parameters
    ----------
    section : ObservationSection
        Its ``[[observations]]`` table (an instance of :attr:`section_class`).
    context : ObservationContext
    index : int
        Its position among the configuration's observation types (keys its random draws).
    """

    #: The type name it is registered under (``[[observations]] type``).
    name: ClassVar[str] = ""
    #: Units of its values (and errors), as an observation file must give them.
    units: ClassVar[str] = "1"
    #: Its configuration section.
    section_class: ClassVar[type] = ObservationSection
    #: The physically possible values [units]: an observation file holding another value of
    #: this type (a wrong unit, a fill value) is refused before any model work.
    valid_range: ClassVar[tuple[float, float]] = (-np.inf, np.inf)

    def __init__(self, section: ObservationSection, context: ObservationContext, index: int):
        self.section, self.context, self.index = section, context, index
        self._bias_calibrations: dict = {}

    @property
    def sensor(self) -> str:
        """The sensor label of its records: its table's ``name`` ("" for an unnamed table),
        which tells apart the tables of one type (two sensors) in an observation file."""
        return self.section.name

    def network(self) -> ObservationRecords:
        """Where a twin observes: locations, errors and quality flags (withheld ones flagged
        :data:`~pdafpy.obs.records.QC_WITHHELD`); values and times are filled in by the twin."""
        raise ConfigError(f"observations[{self.index}].type = {self.name!r}: this type comes "
                          "from observation files only; a twin cannot synthesise it")

    def select(self, records: ObservationRecords, lo: float, hi: float) -> ObservationRecords:
        """Its observations valid in the window ``(lo, hi]`` [s since the start]: those of its
        type labelled :attr:`sensor` (:meth:`~pdafpy.obs.records.ObservationRecords.owned`)."""
        return records.subset(records.owned(self.name, self.sensor)
                              & records.in_window(lo, hi))

    def quality_control(self, records: ObservationRecords) -> ObservationRecords:
        """Stage 1: ``records`` with those the product's flags exclude flagged (default: the
        flags as read, ``qc`` :data:`~pdafpy.obs.records.QC_GOOD` assimilated)."""
        return records

    def bias_correct(self, records: ObservationRecords) -> ObservationRecords:
        """Bias-corrected ``records``, all of them good ones, as the section's
        ``bias_correction`` and ``error_rescaling`` ask (``docs/bias-correction.md``; default
        none: unchanged), clipped to :attr:`valid_range` (KW26's floor: a corrected soil
        moisture never falls below 0); one without a usable calibration is flagged rejected
        (``bias_uncalibrated``)."""
        from .calibration import correct_for_section

        corrected, uncalibrated = correct_for_section(records, self.section, self.context.start,
                                                      self._bias_calibrations, units=self.units)
        if self.section.bias_correction != "none":     # the floor (and ceiling): a corrected
            lo, hi = self.valid_range                  # value stays physically possible
            corrected = replace(corrected, value=np.clip(corrected.value, lo, hi))
        if uncalibrated:
            log.info("observations[%d] (%s): %d observations without a usable bias calibration "
                     "rejected (bias_uncalibrated)", self.index, self.name, uncalibrated)
        return corrected

    def screen(self, records: ObservationRecords, forecast: Forecast | None
               ) -> ObservationRecords:
        """What the type does with the forecast ensemble before its operator is built, after
        the stage-2 rules (default: nothing). ``forecast`` is None where there is no forecast
        ensemble (a truth pass)."""
        return records

    def process(self, records: ObservationRecords, forecast: Forecast | None = None,
                rules: Sequence[StateRule] = ()) -> ObservationRecords:
        """Every record of one window made ready for the analysis (see the module notes): stage
        1, the bias correction of the good ones, the stage-2 ``rules`` and :meth:`screen`."""
        records = self.quality_control(records)
        good = records.qc == QC_GOOD
        if good.any():
            records = records.updated(good, self.bias_correct(records.subset(good)))
        if forecast is not None:
            for rule in rules:
                records = rule(records, forecast)
        return self.screen(records, forecast)

    def operator(self, records: ObservationRecords) -> StencilOperator:
        """The observation operator of ``records``."""
        raise NotImplementedError

    def synthesis_operator(self, network: ObservationRecords) -> StencilOperator:
        """The operator a twin draws this type's observations with from the truth (default:
        :meth:`operator`; a type whose records are converted at each analysis, such as
        groundwater levels turned into pressure-head pseudo-observations, draws what the
        instrument measures)."""
        return self.operator(network)

    def localization(self) -> Localization:
        """The default localisation, or one cut off at the type's own ``radius_m``."""
        default = self.context.localization
        if self.section.radius_m is None:
            return default
        return replace(default, cradius=self.section.radius_m, sradius=self.section.radius_m)

    def vertical_range(self, records: ObservationRecords) -> np.ndarray | None:
        """The depths each of ``records`` represents, for vertical localisation
        (:class:`~pdafpy.localize.VerticalLocalization`).

        Returns
        -------
        (m, 2) float ndarray or None
            ``[top, bottom]`` [m, positive down, ``top <= bottom``]; a row of NaN: no vertical
            position (vertical weight 1). None (the default): none has one.
        """
        return None

    def observation_type(self, processed: ObservationRecords) -> ObservationType:
        """What the filter assimilates of ``processed`` (this type's records of one window,
        from :meth:`process`): the good ones, with their :meth:`vertical_range`."""
        kept = processed.subset(processed.qc == QC_GOOD)
        return ObservationType(self.name, kept.value, kept.error_std, kept.coords,
                               self.operator(kept), self.localization(), self.section.inno_omit,
                               self.vertical_range(kept))

    def synthesis_covariates(self, network: ObservationRecords
                             ) -> Mapping[str, StencilOperator]:
        """Operators, by name, of the other truth quantities a twin's draw of this type
        depends on at each network entry (default: none). A twin applies each to its truth at
        the observation time and passes the values, ``(m,)`` each, to :meth:`synthetic` as
        ``covariates``."""
        return {}

    def synthetic(self, network: ObservationRecords, truth_hx: np.ndarray, cycle: int,
                  offset: int, time_s: float,
                  covariates: Mapping[str, np.ndarray] | None = None) -> ObservationRecords:
        """A twin's observations at ``time_s``: the truth ``truth_hx`` (one value per network
        entry) plus Gaussian noise of the network's errors, keyed by (seed, cycle, ``offset`` +
        index): the same on every rank layout, labelled :attr:`sensor`. ``covariates``: the
        values of :meth:`synthesis_covariates` on the truth (unused here)."""
        noisy = synthetic_values(truth_hx, network.error_std, self.context.seed, cycle, offset)
        return replace(network, value=noisy, time=np.full(network.size, float(time_s)),
                       sensor=np.full(network.size, self.sensor, dtype=object))


def observation_module(name: str) -> type[ObservationModule]:
    """The module registered as observation type ``name``, or named ``package.module:Class``
    (found on ``sys.path``, e.g. beside the configuration file).

    Raises
    ------
    ConfigError
        If none is, listing those that are.
    """
    return load_registered(OBSERVATION_GROUP, name, "observations.type")


def check_files(sections: Sequence[ObservationSection], start: str,
                length_days: float | None = None) -> None:
    """Read and check the observation files of ``sections`` without the model (``pdafpy run
    --check``): structure, times, values, errors, types, quality flags and sensor labels
    (:func:`own_records`). Units and locations
    are checked against the model when the run starts (:func:`read_for`). With ``length_days``
    [d], each type none of whose records falls in the run is warned about
    (:func:`warn_outside_run`).

    Raises
    ------
    InputFileError
        On the first problem, naming the file and the variable.
    """
    from .files import read_observation_file

    names = set(registered(OBSERVATION_GROUP)) | {observation_module(s.type).name
                                                   for s in sections}
    parts = []
    for path in dict.fromkeys(s.file for s in sections if s.file):
        records = read_observation_file(path, start, names, {})
        check_valid_ranges(records, {observation_module(s.type) for s in sections
                                     if s.file == path}, path)
        parts.append(own_records(records, [(i, observation_module(s.type).name, s.name)
                                           for i, s in enumerate(sections) if s.file == path],
                                 path))
    if length_days is not None and parts:
        warn_outside_run(ObservationRecords.concatenate(parts), sections, start,
                         length_days * 86400.0)


def _run_windows(section: ObservationSection, length_s: float) -> tuple[float, float] | None:
    """The span ``(lo, hi]`` [s since the start] of the windows of ``section``'s analyses in a
    run of ``length_s`` seconds (None when none of its analyses falls in the run)."""
    interval = section.interval_h * 3600.0
    window = (section.window_h or section.interval_h) * 3600.0
    last = math.floor(length_s / interval + 1e-9) * interval
    if last < interval:
        return None
    if section.window_position == "centre":
        return interval - window / 2, last + window / 2
    return interval - window, last


def warn_outside_run(records: ObservationRecords, sections: Sequence[ObservationSection],
                     start: str, length_s: float) -> list[int]:
    """Log a warning for each observation type read from a file none of whose records falls in
    the windows of its analyses in a run of ``length_s`` seconds from ``start`` (not an
    error: the run goes on without them).

    Returns
    -------
    list of int
        The indices of those types among ``sections``.
    """
    quiet = []
    for i, s in enumerate(sections):
        if not s.file:
            continue
        name = observation_module(s.type).name
        times = records.time[records.owned(name, s.name)]
        span = _run_windows(s, length_s)
        if span is not None and np.any((times > span[0] + TIME_TOL_S)
                                       & (times <= span[1] + TIME_TOL_S)):
            continue
        quiet.append(i)
        held = (f"its {times.size} records lie {times.min() / 3600.0:g} h to "
                f"{times.max() / 3600.0:g} h after schedule.start = {start}"
                if times.size else "the files hold no record of it")
        reach = (f"its analyses take observations from {span[0] / 3600.0:g} h to "
                 f"{span[1] / 3600.0:g} h" if span else "none of its analyses falls in the "
                 f"run (interval_h = {s.interval_h:g})")
        log.warning("observations[%d] (type %r, file %s): none of its observations falls in "
                    "the run: %s, %s", i, name, s.file, held, reach)
    return quiet


def check_valid_ranges(records: ObservationRecords, modules: Collection[Any],
                       path: Path | str) -> None:
    """Refuse values outside their type's :attr:`ObservationModule.valid_range` (``modules``:
    module classes or instances), naming the file, the first such value and the range.

    Raises
    ------
    InputFileError
    """
    for module in modules:
        lo, hi = module.valid_range
        bad = (records.type == module.name) & ((records.value < lo) | (records.value > hi))
        if np.any(bad):
            k = int(np.flatnonzero(bad)[0])
            raise InputFileError(f"{path}: variable 'value': {records.value[k]:g} {module.units} "
                                 f"(obs index {k}, type {module.name!r}) is outside the valid "
                                 f"range [{lo:g}, {hi:g}] {module.units} ({int(bad.sum())} "
                                 "outside)")


def own_records(records: ObservationRecords, tables: Sequence[tuple[int, str, str]],
                path: Path | str) -> ObservationRecords:
    """The records of one observation file with each table's own told apart by their sensor
    labels, before any model work.

    A file with sensor labels for a type (a truth pass's, or a run's diagnostics, with named
    tables) gives each table of that type the records labelled with its name, an unnamed
    table those without a label. In a file without labels for a type (a converted product, an
    older file) its records are the table's that reads the file for that type, labelled with
    its name; unnamed tables of one type sharing such a file all read them, as before.

    Parameters
    ----------
    records : ObservationRecords
        One file's records.
    tables : sequence of (int, str, str)
        The tables reading the file: index among ``[[observations]]``, type name, ``name``.
    path : path
        The file (for the messages).

    Returns
    -------
    ObservationRecords
        ``records``, those without a label of a type with one named reader labelled with its
        name.

    Raises
    ------
    InputFileError
        In one line naming the file, the table and the labels found: a table whose name is
        none of the file's labels of its type, an unnamed table of a type whose records all
        carry labels, or named tables of one type sharing a file without labels (which table's
        records are which cannot be told).
    """
    by_type: dict[str, list[tuple[int, str]]] = {}
    for index, type_name, label in tables:
        by_type.setdefault(type_name, []).append((index, label))
    for type_name, readers in by_type.items():
        labels = records.labels(type_name)
        blank = (records.type == type_name) & (records.sensor == "")
        if labels:
            for index, label in readers:
                if label not in labels and (label or not blank.any()):
                    who = f"name {label!r}" if label else "no name"
                    raise InputFileError(
                        f"{path}: variable 'sensor': observations[{index}] (type {type_name!r}, "
                        f"{who}) matches none of the file's sensor labels of that type: "
                        f"{', '.join(repr(x) for x in labels)} (a table reads the records "
                        "labelled with its name)")
        elif blank.any() and len(readers) == 1:
            records = records.labelled(readers[0][1], blank) if readers[0][1] else records
        elif blank.any() and any(label for _, label in readers):
            which = ", ".join(f"observations[{i}] ({label!r})" if label
                              else f"observations[{i}] (no name)" for i, label in readers)
            raise InputFileError(
                f"{path}: variable 'sensor': its {int(blank.sum())} records of type "
                f"{type_name!r} carry no sensor label, and {which} all read them: each table "
                "would assimilate every one; give each sensor its own file, or label the "
                "records (variable 'sensor', the tables' names)")
    return records


def read_for(modules: Sequence[ObservationModule], start: str) -> ObservationRecords:
    """The observations of every module's ``file`` (each file read once, checked against the
    registered types, the modules' units and the grid, each table's own told apart by their
    sensor labels: :func:`own_records`), in file order, files one after another.

    Raises
    ------
    InputFileError
        On the first problem, naming the file and the variable.
    """
    from .files import check_inside_grid, read_observation_file, unit_key

    names = set(registered(OBSERVATION_GROUP)) | {m.name for m in modules}
    parts = []
    for path in dict.fromkeys(m.section.file for m in modules if m.section.file):
        readers = [m for m in modules if m.section.file == path]
        units = {unit_key(m.name, m.sensor): m.units for m in readers}
        for m in readers:              # a type's unlabelled records are its only reader's
            if m.sensor and sum(r.name == m.name for r in readers) == 1:
                units.setdefault(m.name, m.units)
        grid = modules[0].context.grid
        records = read_observation_file(path, start, names, units, grid.crs)
        check_inside_grid(records, grid, path)
        check_valid_ranges(records, readers, path)
        parts.append(own_records(records, [(m.index, m.name, m.sensor) for m in readers],
                                 path))
    return ObservationRecords.concatenate(parts)


def build_modules(sections: Sequence[ObservationSection],
                  context: ObservationContext) -> list[ObservationModule]:
    """One module per ``[[observations]]`` table, in order."""
    return [observation_module(s.type)(s, context, i) for i, s in enumerate(sections)]


def nearest_columns(grid: Grid, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the grid columns nearest to ``(x, y)`` (monotonic coordinates)."""
    def nearest(c: np.ndarray, v: np.ndarray) -> np.ndarray:
        if c.size == 1:
            return np.zeros(v.size, dtype=np.int64)
        mid = 0.5 * (c[1:] + c[:-1])
        return np.searchsorted(mid, v, side="left").astype(np.int64)

    return nearest(grid.y, np.asarray(y, dtype=float)), nearest(grid.x, np.asarray(x, dtype=float))

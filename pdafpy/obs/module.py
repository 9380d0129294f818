"""Observation modules, in the manner of PDAF-OMI: one class per observation type.

An observation module is registered by its type name under the entry-point group
``pdafpy.observations`` (one line in a package's ``setup.py``) and is found through the
``type`` of an ``[[observations]]`` table. Every module has the same small set of entry points,
which the framework calls in this order for the observations of each analysis window:

1. :meth:`ObservationModule.select` -- its observations valid in the window;
2. :meth:`ObservationModule.quality_control` -- which of them to assimilate (default: those
   flagged good);
3. :meth:`ObservationModule.bias_correct` -- corrected values (default: unchanged);
4. :meth:`ObservationModule.operator` -- the observation operator of what remains, a
   :class:`~pdafpy.obs.operators.StencilOperator` (grid point, bilinear, footprint average) or
   a :class:`~pdafpy.obs.operators.ColumnFunctionOperator` for a non-linear operator;
5. :meth:`ObservationModule.localization` -- its cut-off radius and weight.

A twin also asks :meth:`ObservationModule.network` where the type observes (the locations and
errors of its synthetic observations); types that only come from files need not define it.
Observations come as :class:`~pdafpy.obs.records.ObservationRecords`, whether a twin made them
from its truth or a file supplied them, so the two share every step after that.

Example: a type observing field ``temperature`` at the nearest grid point is the framework's
``grid_point`` module (:mod:`pdafpy.obs.grid_point`) with ``field = "temperature"``; a new kind
of sensor subclasses :class:`ObservationModule` and sets ``name``, ``units`` and ``section``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Mapping, Sequence

import numpy as np

from ..errors import ConfigError
from ..experiment_config import OBSERVATION_GROUP, ObservationSection
from ..localize import Localization
from ..model import FieldSpec, Grid
from ..registry import load_registered, registered
from .operators import StencilOperator
from .records import QC_GOOD, ObservationRecords
from .synthetic import synthetic_values
from .types import ObservationType

__all__ = ["ObservationContext", "ObservationModule", "observation_module", "build_modules",
           "check_files", "read_for", "nearest_columns"]


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
    """

    grid: Grid
    fields: tuple[FieldSpec, ...]
    seed: int
    localization: Localization
    model: Mapping[str, Any] = field(default_factory=dict)


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

    def __init__(self, section: ObservationSection, context: ObservationContext, index: int):
        self.section, self.context, self.index = section, context, index

    def network(self) -> ObservationRecords:
        """Where a twin observes: locations, errors and quality flags (withheld ones flagged
        :data:`~pdafpy.obs.records.QC_WITHHELD`); values and times are filled in by the twin."""
        raise ConfigError(f"observations[{self.index}].type = {self.name!r}: this type comes "
                          "from observation files only; a twin cannot synthesise it")

    def select(self, records: ObservationRecords, lo: float, hi: float) -> ObservationRecords:
        """Its observations valid in the window ``(lo, hi]`` [s since the start]."""
        return records.subset((records.type == self.name) & records.in_window(lo, hi))

    def quality_control(self, records: ObservationRecords) -> ObservationRecords:
        """The observations to assimilate (default: those flagged good). Innovation checks
        against the ensemble are the filter's ``inno_omit``."""
        return records.subset(records.qc == QC_GOOD)

    def bias_correct(self, records: ObservationRecords) -> ObservationRecords:
        """Bias-corrected observations (default: unchanged)."""
        return records

    def operator(self, records: ObservationRecords) -> StencilOperator:
        """The observation operator of ``records``."""
        raise NotImplementedError

    def localization(self) -> Localization:
        """The default localisation, or one cut off at the type's own ``radius_m``."""
        default = self.context.localization
        if self.section.radius_m is None:
            return default
        return replace(default, cradius=self.section.radius_m, sradius=self.section.radius_m)

    def observation_type(self, records: ObservationRecords) -> ObservationType:
        """What the filter assimilates of ``records`` (this type's, in one window)."""
        kept = self.bias_correct(self.quality_control(records))
        return ObservationType(self.name, kept.value, kept.error_std, kept.coords,
                               self.operator(kept), self.localization(), self.section.inno_omit)

    def synthetic(self, network: ObservationRecords, truth_hx: np.ndarray, cycle: int,
                  offset: int, time_s: float) -> ObservationRecords:
        """A twin's observations at ``time_s``: the truth ``truth_hx`` (one value per network
        entry) plus Gaussian noise of the network's errors, keyed by (seed, cycle, ``offset`` +
        index): the same on every rank layout."""
        noisy = synthetic_values(truth_hx, network.error_std, self.context.seed, cycle, offset)
        return replace(network, value=noisy, time=np.full(network.size, float(time_s)))


def observation_module(name: str) -> type[ObservationModule]:
    """The module registered as observation type ``name``, or named ``package.module:Class``
    (found on ``sys.path``, e.g. beside the configuration file).

    Raises
    ------
    ConfigError
        If none is, listing those that are.
    """
    return load_registered(OBSERVATION_GROUP, name, "observations.type")


def check_files(sections: Sequence[ObservationSection], start: str) -> None:
    """Read and check the observation files of ``sections`` without the model (``pdafpy run
    --check``): structure, times, values, errors, types and quality flags. Units and locations
    are checked against the model when the run starts (:func:`read_for`).

    Raises
    ------
    InputFileError
        On the first problem, naming the file and the variable.
    """
    from .files import read_observation_file

    names = set(registered(OBSERVATION_GROUP)) | {observation_module(s.type).name
                                                   for s in sections}
    for path in dict.fromkeys(s.file for s in sections if s.file):
        read_observation_file(path, start, names, {})


def read_for(modules: Sequence[ObservationModule], start: str) -> ObservationRecords:
    """The observations of every module's ``file`` (each file read once, checked against the
    registered types, the modules' units and the grid), in file order, files one after
    another.

    Raises
    ------
    InputFileError
        On the first problem, naming the file and the variable.
    """
    from .files import check_inside_grid, read_observation_file

    names = set(registered(OBSERVATION_GROUP)) | {m.name for m in modules}
    parts = []
    for path in dict.fromkeys(m.section.file for m in modules if m.section.file):
        units = {m.name: m.units for m in modules if m.section.file == path}
        grid = modules[0].context.grid
        records = read_observation_file(path, start, names, units, grid.crs)
        check_inside_grid(records, grid, path)
        parts.append(records)
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

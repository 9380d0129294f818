"""Observation records: what an observation file holds, one entry per observation.

:class:`ObservationRecords` is the in-memory form of pdafpy's observation file
(:mod:`pdafpy.obs.files`, in the manner of DART's observation sequence): a time, a location, a
value, its error, the observation type's name, a quality flag, an optional station id and an
optional sensor label per observation. A twin's truth pass makes them from the truth and writes
them; a run with observation files reads them; both hand them to the observation modules
(:mod:`pdafpy.obs.module`) through the same path.

Quality flags (``qc``) follow one convention everywhere: :data:`QC_GOOD` (0) observations are
assimilated, :data:`QC_REJECTED` (1) ones are not used, :data:`QC_WITHHELD` (2) ones are kept back
for validation.

Sensor labels (``sensor``) tell apart the ``[[observations]]`` tables of one type (KW26's ASCAT
and SMAP, both ``satellite_soil_moisture``): a table named ``name`` owns the records of its type
labelled ``name``, an unnamed table those without a label (:meth:`ObservationRecords.owned`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

__all__ = ["ObservationRecords", "QC_GOOD", "QC_REJECTED", "QC_WITHHELD", "QC_MEANINGS",
           "TIME_TOL_S"]

QC_GOOD, QC_REJECTED, QC_WITHHELD = 0, 1, 2
#: The flag values and their meanings, as the file's ``qc:flag_meanings`` writes them.
QC_MEANINGS = {QC_GOOD: "good", QC_REJECTED: "rejected", QC_WITHHELD: "withheld"}
#: Window edges are moved by this much [s] so that an observation at an analysis time computed
#: in another unit (model time units times seconds per unit) falls in that analysis's window
#: and no other, whatever the rounding.
TIME_TOL_S = 1e-6


@dataclass(frozen=True)
class ObservationRecords:
    """Observations, one entry per observation in every array.

    Attributes
    ----------
    time : (m,) float ndarray
        When each observation is valid [s since the start of the run].
    x, y : (m,) float ndarray
        Location in the grid's coordinates [m].
    depth : (m,) float ndarray
        Depth below the surface [m], positive down; NaN where the type has no depth.
    value : (m,) float ndarray
        The observed value, in its type's units.
    error_std : (m,) float ndarray
        Error standard deviation, same units (> 0).
    type : (m,) object ndarray of str
        Observation type name (a registered observation module).
    qc : (m,) int8 ndarray
        Quality flag (:data:`QC_MEANINGS`).
    station : (m,) object ndarray of str
        Station id ("" where none).
    rejected_by : (m,) object ndarray of str
        The rule that rejected the observation during the run (:meth:`reject`; "" where none:
        good, withheld, or flagged rejected in its file).
    sensor : (m,) object ndarray of str
        The sensor label: the ``name`` of the ``[[observations]]`` table the observation
        belongs to ("" where none: an unnamed table's, or a file's without labels).
    """

    time: np.ndarray
    x: np.ndarray
    y: np.ndarray
    depth: np.ndarray
    value: np.ndarray
    error_std: np.ndarray
    type: np.ndarray
    qc: np.ndarray
    station: np.ndarray
    rejected_by: np.ndarray
    sensor: np.ndarray

    @classmethod
    def build(cls, time, x, y, value, error_std, type_name: str | Sequence[str],
              depth=None, qc=None, station=None, rejected_by=None,
              sensor=None) -> "ObservationRecords":
        """Records from columns; scalars are broadcast to the length of ``x``."""
        x = np.asarray(x, dtype=float).ravel()
        m = x.size

        def column(v, fill, dtype):
            return np.array(np.broadcast_to(fill if v is None else v, (m,)), dtype=dtype)

        return cls(column(time, 0.0, float), x, column(y, 0.0, float),
                   column(depth, np.nan, float), column(value, np.nan, float),
                   column(error_std, np.nan, float), column(type_name, "", object),
                   column(qc, QC_GOOD, np.int8), column(station, "", object),
                   column(rejected_by, "", object), column(sensor, "", object))

    @classmethod
    def empty(cls) -> "ObservationRecords":
        """No observation."""
        return cls.build([], [], [], [], [], [])

    @property
    def size(self) -> int:
        """Number of observations."""
        return int(self.x.size)

    @property
    def coords(self) -> np.ndarray:
        """``(m, 2)`` locations ``(x, y)``."""
        return np.column_stack([self.x, self.y])

    def subset(self, index: np.ndarray) -> "ObservationRecords":
        """The observations at ``index`` (an index array or boolean mask), in that order."""
        return ObservationRecords(*(getattr(self, f)[index] for f in _FIELDS))

    def reject(self, mask: np.ndarray, rule: str) -> "ObservationRecords":
        """These records with the good ones (``qc`` :data:`QC_GOOD`) among ``mask`` rejected by
        ``rule``: ``qc`` :data:`QC_REJECTED` and ``rejected_by`` ``rule``."""
        hit = np.asarray(mask, dtype=bool) & (self.qc == QC_GOOD)
        if not hit.any():
            return self
        return replace(self, qc=np.where(hit, QC_REJECTED, self.qc).astype(np.int8),
                       rejected_by=np.where(hit, rule, self.rejected_by).astype(object))

    def updated(self, index: np.ndarray, part: "ObservationRecords") -> "ObservationRecords":
        """These records with those at ``index`` (an index array or boolean mask) replaced by
        ``part`` (as many records, in that order)."""
        out = {}
        for f in _FIELDS:
            column = getattr(self, f).copy()
            column[index] = getattr(part, f)
            out[f] = column
        return ObservationRecords(**out)

    def of_type(self, name: str) -> "ObservationRecords":
        """The observations of type ``name``, in file order."""
        return self.subset(self.type == name)

    def owned(self, type_name: str, label: str) -> np.ndarray:
        """``(m,)`` bool: the observations of type ``type_name`` with sensor label ``label``
        (the table's ``name``, "" for an unnamed table)."""
        return (self.type == type_name) & (self.sensor == label)

    def labels(self, type_name: str) -> list[str]:
        """The distinct sensor labels (not "") of the observations of type ``type_name``,
        sorted."""
        labels = self.sensor[(self.type == type_name) & (self.sensor != "")]
        return np.unique(labels.astype(str)).tolist() if labels.size else []

    def labelled(self, label: str, mask: np.ndarray | None = None) -> "ObservationRecords":
        """These records with the sensor label of those in ``mask`` (default: all) set to
        ``label``."""
        if mask is None:
            return replace(self, sensor=np.full(self.size, label, dtype=object))
        return replace(self, sensor=np.where(mask, label, self.sensor).astype(object))

    def in_window(self, lo: float, hi: float) -> np.ndarray:
        """``(m,)`` bool: valid in the half-open window ``(lo, hi]`` [s] (edges moved by
        :data:`TIME_TOL_S`)."""
        return (self.time > lo + TIME_TOL_S) & (self.time <= hi + TIME_TOL_S)

    @classmethod
    def concatenate(cls, parts: Sequence["ObservationRecords"]) -> "ObservationRecords":
        """All observations of ``parts``, one after another."""
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in _FIELDS))


_FIELDS = ("time", "x", "y", "depth", "value", "error_std", "type", "qc", "station",
           "rejected_by", "sensor")

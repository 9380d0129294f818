"""Observation types and the observations a filter rank analyses.

An :class:`ObservationType` is PDAF-OMI's ``obs_f`` as a Python object: the values, their error
standard deviations, their coordinates, the operator that maps a state to them, and how they are
localised. An :class:`ObservationSet` is what a filter rank holds at analysis time: observation
values, error variances, coordinates, the observed ensemble ``H(x_k)`` and each observation's
global index (its position in the full observation vector: the types one after another, in the
order given), always sorted by global index so that sums do not depend on the rank layout.

Both carry each observation's vertical range ``[top, bottom]`` [m, positive down] for vertical
localisation (:class:`~pdafpy.localize.VerticalLocalization`); NaN where an observation has no
vertical position (its vertical weight is then 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from ..localize import Localization
from .operators import StencilOperator

__all__ = ["ObservationType", "ObservationSet"]


@dataclass(frozen=True)
class ObservationType:
    """One kind of observation (PDAF-OMI's observation module).

    Attributes
    ----------
    name : str
        Label used in logs and diagnostics (e.g. ``"smap_ssm"``).
    value : (m,) float ndarray
        Observed values, in the units of the observed field.
    error_std : (m,) float ndarray
        Observation error standard deviations (same units); R is diagonal with their squares.
    coords : (m, 2) float ndarray
        Horizontal coordinates (x, y) used for ownership and localisation.
    operator : StencilOperator
        Maps a state to the observations.
    localization : Localization
        Cut-off radius, weight function and metric for local filters.
    inno_omit : float
        PDAF-OMI's ``inno_omit``: observations whose innovation exceeds this many error standard
        deviations are left out of the analysis (0: keep all).
    vertical_range : (m, 2) float ndarray, optional
        ``[top, bottom]`` of the depths each observation represents [m, positive down,
        ``top <= bottom``], for vertical localisation; a row of NaN (or None for all): no
        vertical position.
    """

    name: str
    value: np.ndarray
    error_std: np.ndarray
    coords: np.ndarray
    operator: StencilOperator
    localization: Localization
    inno_omit: float = 0.0
    vertical_range: np.ndarray | None = None

    def __post_init__(self) -> None:
        m = np.shape(self.value)[0]
        if self.vertical_range is not None:
            _check_vertical_range(self.name, self.vertical_range, m)
        if np.shape(self.error_std) != (m,):
            raise ConfigError(f"observation type {self.name!r}: error_std must have shape ({m},), "
                              f"got {np.shape(self.error_std)}")
        if np.shape(self.coords) != (m, 2):
            raise ConfigError(f"observation type {self.name!r}: coords must have shape ({m}, 2), "
                              f"got {np.shape(self.coords)}")
        if self.operator.size != m:
            raise ConfigError(f"observation type {self.name!r}: operator has "
                              f"{self.operator.size} rows for {m} observations")
        if m and not np.all(np.asarray(self.error_std) > 0):
            raise ConfigError(f"observation type {self.name!r}: every error_std must be > 0")
        if m and not np.all(np.isfinite(self.value)):
            raise ConfigError(f"observation type {self.name!r}: values must be finite")
        if not self.inno_omit >= 0:
            raise ConfigError(f"observation type {self.name!r}: inno_omit must be >= 0, "
                              f"got {self.inno_omit}")

    @property
    def size(self) -> int:
        """Number of observations of this type."""
        return int(np.shape(self.value)[0])


def _check_vertical_range(name: str, ranges: np.ndarray, m: int) -> None:
    """Refuse a vertical range that is not ``(m, 2)`` ``[top, bottom]`` with ``top <= bottom``,
    both finite or both NaN."""
    if np.shape(ranges) != (m, 2):
        raise ConfigError(f"observation type {name!r}: vertical_range must have shape ({m}, 2), "
                          f"got {np.shape(ranges)}")
    r = np.asarray(ranges, dtype=float)
    nan = np.isnan(r)
    if np.any(nan[:, 0] != nan[:, 1]) or np.any(np.isinf(r)):
        raise ConfigError(f"observation type {name!r}: vertical_range rows must be two finite "
                          "depths or two NaN")
    if np.any(r[:, 0] > r[:, 1]):
        k = int(np.flatnonzero(r[:, 0] > r[:, 1])[0])
        raise ConfigError(f"observation type {name!r}: vertical_range row {k} = {r[k].tolist()} "
                          "has top > bottom (depths are positive down)")


@dataclass
class ObservationSet:
    """Observations on one filter rank, sorted by global index.

    Attributes
    ----------
    value : (m,) float ndarray
    variance : (m,) float ndarray
        Error variances (diagonal of R).
    coords : (m, 2) float ndarray
    hx : (n_members, m) float ndarray
        The observed ensemble ``H(x_k)``.
    global_index : (m,) int64 ndarray
        Position in the full observation vector.
    type_index : (m,) int64 ndarray
        Index of the observation's type in the list of types.
    vertical_range : (m, 2) float ndarray
        ``[top, bottom]`` depths [m, positive down]; NaN: no vertical position. None when
        constructed becomes all NaN.
    """

    value: np.ndarray
    variance: np.ndarray
    coords: np.ndarray
    hx: np.ndarray
    global_index: np.ndarray
    type_index: np.ndarray
    vertical_range: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.vertical_range is None:
            self.vertical_range = np.full((self.value.shape[0], 2), np.nan)

    @property
    def has_vertical(self) -> bool:
        """Whether some observation has a vertical position (a finite range)."""
        return bool(np.any(np.isfinite(self.vertical_range)))

    @property
    def size(self) -> int:
        """Number of observations held."""
        return int(self.value.shape[0])

    def subset(self, index: np.ndarray) -> "ObservationSet":
        """The observations at positions ``index`` (an index array or boolean mask)."""
        return ObservationSet(self.value[index], self.variance[index], self.coords[index],
                              self.hx[:, index], self.global_index[index], self.type_index[index],
                              self.vertical_range[index])

    def sorted(self) -> "ObservationSet":
        """The same observations in ascending global index."""
        return self.subset(np.argsort(self.global_index, kind="stable"))

    @classmethod
    def empty(cls, n_members: int) -> "ObservationSet":
        """A set with no observation."""
        return cls(np.zeros(0), np.zeros(0), np.zeros((0, 2)), np.zeros((n_members, 0)),
                   np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))

    @classmethod
    def concatenate(cls, parts: Sequence["ObservationSet"], n_members: int) -> "ObservationSet":
        """All observations of ``parts``, sorted by global index."""
        parts = [p for p in parts if p.size]
        if not parts:
            return cls.empty(n_members)
        if len(parts) == 1:
            joined = parts[0]
        else:
            joined = cls(np.concatenate([p.value for p in parts]),
                         np.concatenate([p.variance for p in parts]),
                         np.concatenate([p.coords for p in parts]),
                         np.concatenate([p.hx for p in parts], axis=1),
                         np.concatenate([p.global_index for p in parts]),
                         np.concatenate([p.type_index for p in parts]),
                         np.concatenate([p.vertical_range for p in parts]))
        if np.all(joined.global_index[1:] > joined.global_index[:-1]):
            return joined                                   # already in order: no copy
        return joined.sorted()

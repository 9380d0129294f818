"""Distances between local analysis domains and observations, with PDAF's conventions
(``PDAFomi_check_dist2``): Cartesian, periodic, geographic (PDAF's simplified and haversine) and
2+1D metrics with a separate vertical cut-off. See :mod:`pdafpy.localize`.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from ..errors import ConfigError

__all__ = ["R_EARTH", "DistanceKind", "Metric", "haversine"]

#: Earth radius used by PDAF for geographic distances, metres.
R_EARTH: float = 6.3675e6


class DistanceKind(enum.Enum):
    """How the distance between a local domain and an observation is measured.

    Members
    -------
    CARTESIAN
        PDAF ``disttype 0``: Euclidean distance over all coordinates, in coordinate units.
    PERIODIC
        PDAF ``disttype 1``: Euclidean with per-axis periods ``Metric.domain_size``; on a
        periodic axis the component is ``min(|dx|, ||dx| - L|)``.
    GEOGRAPHIC
        PDAF ``disttype 2``, simplified spherical distance in metres from ``(lon, lat)`` in
        radians: ``dy = R |dlat|``, ``dx = R min(|dlon|, ||dlon| - 2 pi|) cos(lat_A)``, where
        ``A`` is the local-domain point.
    HAVERSINE
        PDAF ``disttype 3``, great-circle distance in metres by the haversine formula, capped at
        ``R pi``.
    """

    CARTESIAN = 0
    PERIODIC = 1
    GEOGRAPHIC = 2
    HAVERSINE = 3

    @classmethod
    def from_pdaf(cls, code: Union[int, str, "DistanceKind"]) -> "DistanceKind":
        """Return the kind for a PDAF ``disttype`` code (0-3), a name, or a kind.

        Parameters
        ----------
        code : int, str or DistanceKind
            0 Cartesian, 1 periodic, 2 geographic, 3 haversine; or a member name
            (case-insensitive, e.g. ``"haversine"``).

        Raises
        ------
        ConfigError
            For codes 10-13 (2+1D; use :meth:`Metric.from_pdaf`, which keeps the vertical
            cut-off) and for any other unknown code or name.
        """
        if isinstance(code, cls):
            return code
        if isinstance(code, str):
            key = code.strip().upper()
            if key in cls.__members__:
                return cls[key]
            raise ConfigError(
                f"disttype={code!r} is not a known distance type; expected one of "
                f"{[m.name.lower() for m in cls]} or a PDAF code 0-3"
            )
        if isinstance(code, (bool, np.bool_)) or not isinstance(code, (int, np.integer)):
            raise ConfigError(f"disttype={code!r} must be an int PDAF code or a name")
        code = int(code)
        if code in (10, 11, 12, 13):
            raise ConfigError(
                f"disttype={code} is PDAF's factorised 2+1D variant of disttype {code - 10}; "
                "build it with Metric.from_pdaf(disttype) so the vertical cut-off is kept"
            )
        for m in cls:
            if m.value == code:
                return m
        raise ConfigError(
            f"disttype={code} is not supported; expected 0 (Cartesian), 1 (periodic), "
            "2 (geographic), 3 (haversine) or 10-13 (2+1D, via Metric.from_pdaf)"
        )


def _check_radius(name: str, value: object, allow_inf: bool = False) -> float:
    """Return ``value`` as a float >= 0 or raise ConfigError naming ``name``."""
    if isinstance(value, (bool, np.bool_)):
        raise ConfigError(f"{name}={value!r} must be a number, not a bool")
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} must be a number") from None
    if math.isnan(v) or v < 0.0 or (math.isinf(v) and not allow_inf):
        limit = "a number >= 0 (inf allowed)" if allow_inf else "a finite number >= 0"
        raise ConfigError(f"{name}={value!r} is invalid; expected {limit}")
    return v


@dataclass(frozen=True)
class Metric:
    """How to measure distances between local domains and observations.

    Attributes
    ----------
    kind : DistanceKind
        The distance formula (PDAF ``disttype`` 0-3; ints and names are accepted and
        converted).
    domain_size : tuple of float or None
        Per-axis periods for :attr:`DistanceKind.PERIODIC`, in coordinate units, one per
        coordinate; an entry ``<= 0`` means that axis is not periodic. Required for PERIODIC
        (PDAF silently falls back to Cartesian without it; pdafpy refuses), rejected otherwise.
    horizontal_only : bool
        PDAF's factorised 2+1D localisation (``disttype`` 10-13): only the first two
        coordinates form the distance; a third (vertical) coordinate is used only for the
        separate cut-off ``|dz| <= vertical_cutoff``. With 2-column coordinates it changes
        nothing. Use it for vertical columns, whose analysis domain spans all depths.
    vertical_cutoff : float or None
        Cut-off on ``|dz|`` (vertical coordinate units) when ``horizontal_only`` is set.
        ``None`` means "the Localization's ``cradius``", which is what PDAF's isotropic 2+1D
        search does; ``math.inf`` disables the vertical cut-off.
    """

    kind: DistanceKind = DistanceKind.CARTESIAN
    domain_size: Optional[Tuple[float, ...]] = None
    horizontal_only: bool = False
    vertical_cutoff: Optional[float] = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", DistanceKind.from_pdaf(self.kind))
        if self.domain_size is not None:
            try:
                sizes = tuple(float(s) for s in np.atleast_1d(np.asarray(self.domain_size)))
            except (TypeError, ValueError):
                raise ConfigError(
                    f"domain_size={self.domain_size!r} must be a sequence of numbers"
                ) from None
            if any(math.isnan(s) or math.isinf(s) for s in sizes):
                raise ConfigError(f"domain_size={self.domain_size!r} must be finite")
            object.__setattr__(self, "domain_size", sizes)
        if self.kind is DistanceKind.PERIODIC:
            if self.domain_size is None or not any(s > 0 for s in self.domain_size):
                raise ConfigError(
                    f"domain_size={self.domain_size!r}: a PERIODIC metric (disttype 1) needs "
                    "at least one period > 0 (PDAF would silently use Cartesian distances)"
                )
        elif self.domain_size is not None:
            raise ConfigError(
                f"domain_size={self.domain_size!r} is only meaningful for kind=PERIODIC, "
                f"not {self.kind.name}"
            )
        object.__setattr__(self, "horizontal_only", bool(self.horizontal_only))
        if self.vertical_cutoff is not None:
            if not self.horizontal_only:
                raise ConfigError(
                    f"vertical_cutoff={self.vertical_cutoff!r} needs horizontal_only=True "
                    "(PDAF 2+1D, disttype 10-13)"
                )
            object.__setattr__(
                self,
                "vertical_cutoff",
                _check_radius("vertical_cutoff", self.vertical_cutoff, allow_inf=True),
            )

    @classmethod
    def from_pdaf(
        cls,
        disttype: int,
        domain_size: Optional[Sequence[float]] = None,
        vertical_cutoff: Optional[float] = None,
    ) -> "Metric":
        """Build a metric from PDAF's ``disttype`` (0-3, or 10-13 for 2+1D) and ``domainsize``.

        ``domain_size`` is used only for disttype 1/11 and ignored otherwise, as in PDAF.
        """
        if isinstance(disttype, (int, np.integer)) and not isinstance(disttype, (bool, np.bool_)):
            code = int(disttype)
            if code in (10, 11, 12, 13):
                kind = DistanceKind.from_pdaf(code - 10)
                periodic = kind is DistanceKind.PERIODIC and domain_size is not None
                return cls(
                    kind,
                    tuple(domain_size) if periodic else None,
                    horizontal_only=True,
                    vertical_cutoff=vertical_cutoff,
                )
        kind = DistanceKind.from_pdaf(disttype)
        if vertical_cutoff is not None:
            raise ConfigError(
                f"vertical_cutoff={vertical_cutoff!r} needs a 2+1D disttype (10-13), "
                f"got disttype={disttype!r}"
            )
        periodic = kind is DistanceKind.PERIODIC and domain_size is not None
        return cls(kind, tuple(domain_size) if periodic else None)

    # -- internals ---------------------------------------------------------------------------

    def _check_ncoord(self, k: int) -> None:
        if self.kind in (DistanceKind.GEOGRAPHIC, DistanceKind.HAVERSINE) and k not in (2, 3):
            raise ValueError(
                f"{self.kind.name} distances need 2 or 3 coordinates (lon, lat[, z]), got {k}"
            )
        if self.horizontal_only and k not in (2, 3):
            raise ValueError(f"horizontal_only (2+1D) needs 2 or 3 coordinates, got {k}")
        if self.kind is DistanceKind.PERIODIC and len(self.domain_size or ()) != k:
            raise ValueError(
                f"domain_size has {len(self.domain_size or ())} entries but the coordinates "
                f"have {k} columns"
            )

    def _components(
        self, a: Sequence[np.ndarray], b: Sequence[np.ndarray]
    ) -> Tuple[list, list, Optional[np.ndarray]]:
        """Per-axis distance components, PDAF style.

        Parameters
        ----------
        a, b : sequence of k arrays, each (n,)
            Coordinate columns of the domain points (a) and the observations (b).

        Returns
        -------
        summed : list of (n,) arrays
            Components whose squares add up to the squared distance.
        prechecked : list of (n,) arrays
            Components PDAF compares with ``cradius`` before forming the squared distance.
        vertical : (n,) array or None
            ``|dz|`` for the separate 2+1D vertical cut-off, else None.
        """
        k = len(a)
        if self.kind in (DistanceKind.CARTESIAN, DistanceKind.PERIODIC):
            comps = []
            for ax in range(k):
                d = np.subtract(a[ax], b[ax])
                np.abs(d, out=d)
                if self.kind is DistanceKind.PERIODIC:
                    size = self.domain_size[ax]  # type: ignore[index]
                    if size > 0.0:
                        np.minimum(d, np.abs(d - size), out=d)
                comps.append(d)
            if self.horizontal_only and k == 3:
                return comps[:2], comps[:2], comps[2]
            return comps, comps, None

        dz = np.abs(a[2] - b[2]) if k == 3 else None
        if self.kind is DistanceKind.GEOGRAPHIC:
            dlon = np.abs(a[0] - b[0])
            cos_a = np.cos(a[1])
            dx = R_EARTH * np.minimum(dlon * cos_a, np.abs(dlon - 2.0 * math.pi) * cos_a)
            dy = R_EARTH * np.abs(a[1] - b[1])
            horiz = [dx, dy]
            pre = [dx, dy]
        else:  # HAVERSINE
            dy = R_EARTH * np.abs(a[1] - b[1])
            horiz = [_haversine(a[0], a[1], b[0], b[1], R_EARTH)]
            pre = [dy, horiz[0]]
        if dz is None:
            return horiz, pre, None
        if self.horizontal_only:
            return horiz, pre, dz
        return horiz + [dz], pre + [dz], None

    def _pair_test(
        self, a: Sequence[np.ndarray], b: Sequence[np.ndarray], cradius: float
    ) -> Tuple[np.ndarray, np.ndarray]:
        """Squared distances and PDAF's "is local" flags for elementwise pairs."""
        summed, pre, vertical = self._components(a, b)
        ok = np.ones(summed[0].shape, dtype=bool)
        test = np.empty_like(ok)
        for c in pre:
            ok &= np.less_equal(c, cradius, out=test)
        if vertical is not None:
            vcut = cradius if self.vertical_cutoff is None else self.vertical_cutoff
            ok &= np.less_equal(vertical, vcut, out=test)
        dist2 = np.multiply(summed[0], summed[0])       # (0 + c0^2) + c1^2 + ...: PDAF's sum
        square = np.empty_like(dist2) if len(summed) > 1 else None
        for c in summed[1:]:
            dist2 += np.multiply(c, c, out=square)
        ok &= np.less_equal(dist2, cradius * cradius, out=test)
        return dist2, ok

    # -- public ------------------------------------------------------------------------------

    def distance(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Distance between elementwise pairs of points.

        Parameters
        ----------
        a : (n, k) float
            Local-domain points (the "A" of PDAF: geographic types use ``cos(lat_A)``).
        b : (n, k) float
            Observation points. Geographic types need ``(lon, lat[, z])`` in radians.

        Returns
        -------
        (n,) float
            Distances: coordinate units for CARTESIAN/PERIODIC, metres for the geographic
            kinds (plus the unconverted vertical component when there are 3 coordinates and
            not ``horizontal_only``). With ``horizontal_only`` the vertical is left out.
        """
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        if a.ndim != 2 or a.shape != b.shape:
            raise ValueError(f"a and b must both be (n, k) arrays, got {a.shape} and {b.shape}")
        self._check_ncoord(a.shape[1])
        summed, _, _ = self._components(list(a.T), list(b.T))
        dist2 = np.zeros(a.shape[0])
        for c in summed:
            dist2 += c * c
        return np.sqrt(dist2)


def _haversine(lon_a, lat_a, lon_b, lat_b, radius: float) -> np.ndarray:
    slon = np.sin((lon_a - lon_b) / 2.0)
    slat = np.sin((lat_a - lat_b) / 2.0)
    h = np.sqrt(slat * slat + np.cos(lat_a) * np.cos(lat_b) * slon * slon)
    return np.where(h <= 1.0, 2.0 * radius * np.arcsin(np.minimum(h, 1.0)), radius * math.pi)


def haversine(
    lon_a: np.ndarray,
    lat_a: np.ndarray,
    lon_b: np.ndarray,
    lat_b: np.ndarray,
    radius: float = R_EARTH,
) -> np.ndarray:
    """Great-circle distance by the haversine formula, PDAF ``disttype 3``.

    Parameters
    ----------
    lon_a, lat_a, lon_b, lat_b : array_like, radians
        Broadcastable coordinates of the two points.
    radius : float
        Sphere radius, metres (default :data:`R_EARTH`).

    Returns
    -------
    ndarray, metres
        ``2 R asin(sqrt(sin^2(dlat/2) + cos(lat_a) cos(lat_b) sin^2(dlon/2)))``, capped at
        ``R pi``.
    """
    return _haversine(
        np.asarray(lon_a, dtype=np.float64),
        np.asarray(lat_a, dtype=np.float64),
        np.asarray(lon_b, dtype=np.float64),
        np.asarray(lat_b, dtype=np.float64),
        float(radius),
    )

"""Distances, localisation weights and the local-observation search (PDAF's OMI conventions).

This module answers one question for a batch of local analysis domains at once: *which
observations are local to each domain, how far away are they, and with what weight do they
count?* It follows PDAF's ``PDAFomi_check_dist2`` (distances and the cut-off test) and
``PDAFomi_local_weight`` (weight functions) exactly, but replaces PDAF's O(n_domains x n_obs)
double loop by one KD-tree search (``scipy.spatial.cKDTree``) over all domains.

Conventions (PDAF's, see ``src/PDAFomi_obs_l.F90``)
---------------------------------------------------
* ``cradius`` is the **cut-off**: an observation at distance ``d <= cradius`` is local, including
  ``d == cradius`` exactly. Before the final test ``d**2 <= cradius**2`` every per-axis distance
  is checked against ``cradius`` on its own, as PDAF does.
* ``sradius`` is the **support radius**: Gaspari-Cohn reaches zero at ``sradius`` (its half-width
  is ``sradius / 2``), the exponential is ``1/e`` at ``sradius``, the Gaussian has standard
  deviation ``sradius``.
* Local observations whose weight is zero (e.g. Gaspari-Cohn with ``sradius < d <= cradius``)
  are still local, as in PDAF (they count in ``dim_obs_l``).
* Geographic coordinates are ``(longitude, latitude)`` in **radians**; distances are then in
  metres with the Earth radius :data:`R_EARTH` = 6.3675e6 m. A third coordinate (vertical) is in
  its own units and enters the distance unconverted, again as in PDAF.
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass, field
from typing import Optional, Sequence, Tuple, Union

import numpy as np
from scipy.spatial import cKDTree

from .errors import ConfigError

__all__ = [
    "R_EARTH",
    "DistanceKind",
    "Metric",
    "WeightKind",
    "Localization",
    "LocalPairs",
    "gaspari_cohn",
    "exponential",
    "gaussian",
    "local_weight",
    "haversine",
    "find_local_observations",
]

_log = logging.getLogger(__name__)

#: Earth radius used by PDAF for geographic distances, metres.
R_EARTH: float = 6.3675e6

# Relative and absolute slack of the KD-tree candidate search. Candidates are always re-checked
# with the exact PDAF formulas, so the slack only has to exceed floating-point round-off.
_REL_MARGIN = 1.0e-9
_ABS_MARGIN = 1.0e-12


# --------------------------------------------------------------------------------------------
# Distance types
# --------------------------------------------------------------------------------------------


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
        nothing. Use it for soil columns, whose analysis domain spans all depths.
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
                d = np.abs(a[ax] - b[ax])
                if self.kind is DistanceKind.PERIODIC:
                    size = self.domain_size[ax]  # type: ignore[index]
                    if size > 0.0:
                        d = np.minimum(d, np.abs(d - size))
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
        dist2 = np.zeros_like(summed[0])
        for c in summed:
            dist2 += c * c
        ok = dist2 <= cradius * cradius
        for c in pre:
            ok &= c <= cradius
        if vertical is not None:
            vcut = cradius if self.vertical_cutoff is None else self.vertical_cutoff
            ok &= vertical <= vcut
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


# --------------------------------------------------------------------------------------------
# Weight functions
# --------------------------------------------------------------------------------------------


_LOCWEIGHT_UNSUPPORTED = {
    3: "Gaspari-Cohn regulated with the mean observed variance",
    4: "Gaspari-Cohn regulated with the single-point variance",
    15: "Gaussian regulated with the mean observed variance",
    16: "regulated Gaussian (PDAFomi actually treats 16 as unregulated Gaspari-Cohn)",
    17: "an undocumented Gaspari-Cohn alias",
    26: "square root of Gaspari-Cohn applied to the observed ensemble (LKNETF)",
    27: "an LKNETF weight applied to the observed ensemble",
}
_LOCWEIGHT_SUPPORTED = "0 (uniform), 1 or 11 (exponential), 2 (Gaspari-Cohn), 5 (Gaussian)"


class WeightKind(enum.Enum):
    """Localisation weight function (PDAF ``locweight``).

    Members
    -------
    UNIFORM
        ``w = 1`` for ``d <= cradius`` (locweight 0).
    EXPONENTIAL
        ``w = exp(-d / sradius)`` for ``d <= cradius`` (locweight 1; also 11).
    GASPARI_COHN
        Gaspari & Cohn (1999) eq. 4.10, 5th-order piecewise rational, half-width
        ``c = sradius / 2``, zero from ``d >= sradius`` on (locweight 2).
    GAUSSIAN
        ``w = exp(-d^2 / (2 sradius^2))`` for ``d <= cradius`` (locweight 5).
    """

    UNIFORM = "uniform"
    EXPONENTIAL = "exponential"
    GASPARI_COHN = "gaspari_cohn"
    GAUSSIAN = "gaussian"

    @classmethod
    def from_pdaf(cls, locweight: Union[int, str, "WeightKind"]) -> "WeightKind":
        """Return the weight kind for a PDAF ``locweight`` code, a name, or a kind.

        Parameters
        ----------
        locweight : int, str or WeightKind
            PDAF codes 0 (uniform), 1 and 11 (exponential), 2 (Gaspari-Cohn), 5 (Gaussian);
            or the names ``"uniform"``, ``"exponential"``, ``"gaspari_cohn"`` (or ``"gc"``),
            ``"gaussian"`` (case-insensitive).

        Notes
        -----
        In PDAFomi, codes >= 11 apply the weight to the observed ensemble perturbations HA
        (in place) instead of to ``R^-1``; code 11 is mapped here to the same *function* as 1,
        how it is applied is the filter's business.

        Raises
        ------
        ConfigError
            For PDAF's regulated (3, 4, 15, 16) and LKNETF (26, 27) variants and any other
            unknown code or name; the message names the code and lists what is supported.
        """
        if isinstance(locweight, cls):
            return locweight
        if isinstance(locweight, str):
            key = locweight.strip().lower().replace("-", "_").replace(" ", "_")
            aliases = {
                "uniform": cls.UNIFORM,
                "unit": cls.UNIFORM,
                "exponential": cls.EXPONENTIAL,
                "exp": cls.EXPONENTIAL,
                "gaspari_cohn": cls.GASPARI_COHN,
                "gc": cls.GASPARI_COHN,
                "gaussian": cls.GAUSSIAN,
            }
            if key in aliases:
                return aliases[key]
            raise ConfigError(
                f"locweight={locweight!r} is not a known weight function; supported names: "
                "'uniform', 'exponential', 'gaspari_cohn' (or 'gc'), 'gaussian'; "
                f"PDAF codes {_LOCWEIGHT_SUPPORTED}"
            )
        if isinstance(locweight, (bool, np.bool_)) or not isinstance(locweight, (int, np.integer)):
            raise ConfigError(f"locweight={locweight!r} must be an int PDAF code or a name")
        code = int(locweight)
        table = {0: cls.UNIFORM, 1: cls.EXPONENTIAL, 11: cls.EXPONENTIAL, 2: cls.GASPARI_COHN,
                 5: cls.GAUSSIAN}
        if code in table:
            return table[code]
        what = _LOCWEIGHT_UNSUPPORTED.get(code, "unknown")
        raise ConfigError(
            f"locweight={code} ({what}) is not supported by pdafpy; supported codes: "
            f"{_LOCWEIGHT_SUPPORTED}"
        )


def gaspari_cohn(d: np.ndarray, support: float) -> np.ndarray:
    """Gaspari-Cohn 5th-order function (GC 1999 eq. 4.10) as PDAF evaluates it.

    Parameters
    ----------
    d : array_like, >= 0
        Distances (same units as ``support``).
    support : float, > 0
        Support radius, where the weight reaches zero; the GC half-width is ``support / 2``.

    Returns
    -------
    ndarray
        Weights in [0, 1]: with ``r = d / c``, ``c = support / 2``,
        ``-r^5/4 + r^4/2 + 5 r^3/8 - 5 r^2/3 + 1`` for ``d <= c``;
        ``r^5/12 - r^4/2 + 5 r^3/8 + 5 r^2/3 - 5 r + 4 - 2/(3 r)`` for ``c < d < support``,
        clamped at >= 0 in the last tenth (``d >= 0.9 support``); 0 for ``d >= support``.
    """
    d = np.asarray(d, dtype=np.float64)
    support = float(support)
    if not support > 0.0:
        raise ValueError(f"support={support!r} must be > 0")
    c = support / 2.0
    r = d / c
    inner = d <= c
    outer = (d > c) & (d < support)
    w = np.zeros_like(r)
    # powers by multiplication (as gfortran expands integer powers), terms in PDAF's order
    ri = r[inner]
    r2 = ri * ri
    r4 = r2 * r2
    w[inner] = -0.25 * (r4 * ri) + 0.5 * r4 + 5.0 / 8.0 * (r2 * ri) - 5.0 / 3.0 * r2 + 1.0
    ro = r[outer]
    r2 = ro * ro
    r4 = r2 * r2
    wo = (1.0 / 12.0 * (r4 * ro) - 0.5 * r4 + 5.0 / 8.0 * (r2 * ro) + 5.0 / 3.0 * r2
          - 5.0 * ro + 4.0 - 2.0 / 3.0 / ro)
    # PDAF clamps only for d >= 0.9 * support; the polynomial is >= 0 before that anyway.
    clamp = d[outer] >= 0.9 * support
    wo[clamp] = np.maximum(wo[clamp], 0.0)
    w[outer] = wo
    return w


def exponential(d: np.ndarray, efold: float) -> np.ndarray:
    """``exp(-d / efold)``: weight 1/e at ``d == efold`` (``efold > 0``, same units as d)."""
    d = np.asarray(d, dtype=np.float64)
    if not float(efold) > 0.0:
        raise ValueError(f"efold={efold!r} must be > 0")
    return np.exp(-d / float(efold))


def gaussian(d: np.ndarray, sigma: float) -> np.ndarray:
    """``exp(-d^2 / (2 sigma^2))``: Gaussian scaled to 1 at d = 0 (``sigma > 0``)."""
    d = np.asarray(d, dtype=np.float64)
    if not float(sigma) > 0.0:
        raise ValueError(f"sigma={sigma!r} must be > 0")
    var = float(sigma) * float(sigma)
    return np.exp(-d * d / (2.0 * var))


def local_weight(d: np.ndarray, kind: WeightKind, cradius: float, sradius: float) -> np.ndarray:
    """Localisation weights with PDAF's exact conventions (``PDAFomi_local_weight``).

    Parameters
    ----------
    d : array_like, >= 0
        Distances, coordinate units or metres.
    kind : WeightKind
    cradius : float >= 0
        Cut-off radius: every weight is 0 for ``d > cradius``.
    sradius : float >= 0
        Support radius (GC zero), e-folding distance (exponential) or standard deviation
        (Gaussian). Unused by UNIFORM.

    Returns
    -------
    ndarray, shape of ``d``
        UNIFORM: ``1`` where ``d <= cradius`` else 0, whatever ``sradius`` (PDAF applies no
        radius > 0 test to unit weights, so ``cradius == 0`` still gives 1 at ``d == 0``).
        Other kinds: if ``cradius > 0`` and ``sradius > 0`` the function above for
        ``d <= cradius``, else 0; if ``cradius <= 0`` or ``sradius <= 0``, 1 at ``d == 0``
        and 0 elsewhere (even within ``cradius``).
    """
    d = np.asarray(d, dtype=np.float64)
    kind = WeightKind.from_pdaf(kind)
    inside = d <= cradius
    if kind is WeightKind.UNIFORM:
        return inside.astype(np.float64)
    if not (cradius > 0.0 and sradius > 0.0):
        return (d <= 0.0).astype(np.float64)
    if kind is WeightKind.EXPONENTIAL:
        w = exponential(d, sradius)
    elif kind is WeightKind.GAUSSIAN:
        w = gaussian(d, sradius)
    else:
        w = gaspari_cohn(d, sradius)
    return np.where(inside, w, 0.0)


# --------------------------------------------------------------------------------------------
# Localization settings
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Localization:
    """Cut-off, weight function and metric of a domain localisation.

    Attributes
    ----------
    cradius : float >= 0
        Cut-off radius: observations with ``d <= cradius`` are local (coordinate units, or
        metres for geographic metrics).
    sradius : float >= 0
        Support radius of the weight: where Gaspari-Cohn reaches zero (twice its half-width),
        the 1/e distance of the exponential, the standard deviation of the Gaussian. Unused
        by UNIFORM. Prefer :meth:`create` with ``support_radius=`` or ``half_width=``.
    weight : WeightKind
        The weight function (PDAF locweight codes and names are accepted and converted).
    metric : Metric
        The distance (default: Cartesian).
    """

    cradius: float
    sradius: float
    weight: WeightKind
    metric: Metric = field(default_factory=Metric)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cradius", _check_radius("cradius", self.cradius))
        object.__setattr__(self, "sradius", _check_radius("sradius", self.sradius))
        object.__setattr__(self, "weight", WeightKind.from_pdaf(self.weight))
        if not isinstance(self.metric, Metric):
            raise ConfigError(f"metric={self.metric!r} must be a pdafpy.localize.Metric")

    @property
    def support_radius(self) -> float:
        """Distance at which the Gaspari-Cohn weight reaches zero (== ``sradius``)."""
        return self.sradius

    @property
    def half_width(self) -> float:
        """Gaspari-Cohn half-width ``c = sradius / 2`` (the "length scale" of GC 1999)."""
        return self.sradius / 2.0

    @classmethod
    def create(
        cls,
        cradius: float,
        weight: Union[WeightKind, int, str],
        *,
        support_radius: Optional[float] = None,
        half_width: Optional[float] = None,
        metric: Optional[Metric] = None,
    ) -> "Localization":
        """Build a localisation naming the weight's radius explicitly.

        Parameters
        ----------
        cradius : float >= 0
            Cut-off radius.
        weight : WeightKind, int or str
            Weight function.
        support_radius : float, optional
            ``sradius`` itself: GC zero / exponential e-folding / Gaussian sigma.
        half_width : float, optional
            Gaspari-Cohn half-width ``c``; sets ``sradius = 2 c``. Only for GASPARI_COHN.
        metric : Metric, optional
            Default Cartesian.

        Exactly one of ``support_radius`` and ``half_width`` must be given (none for UNIFORM
        is allowed, which sets ``sradius = cradius``): pdafpy never guesses which one a
        literature "radius" means.
        """
        kind = WeightKind.from_pdaf(weight)
        if support_radius is not None and half_width is not None:
            raise ConfigError(
                f"support_radius={support_radius!r} and half_width={half_width!r} both given; "
                "give exactly one (support_radius = 2 * half_width)"
            )
        if half_width is not None:
            if kind is not WeightKind.GASPARI_COHN:
                raise ConfigError(
                    f"half_width={half_width!r} is only defined for the Gaspari-Cohn weight, "
                    f"not {kind.name}; give support_radius"
                )
            sradius = 2.0 * _check_radius("half_width", half_width)
        elif support_radius is not None:
            sradius = _check_radius("support_radius", support_radius)
        elif kind is WeightKind.UNIFORM:
            sradius = _check_radius("cradius", cradius)
        else:
            raise ConfigError(
                f"weight={kind.name} needs support_radius= (where GC reaches 0 / e-folding / "
                "sigma) or, for Gaspari-Cohn, half_width=; neither was given"
            )
        return cls(cradius, sradius, kind, metric if metric is not None else Metric())

    @classmethod
    def from_pdaf(
        cls,
        cradius: float,
        sradius: Optional[float] = None,
        locweight: Union[int, str, WeightKind] = 0,
        disttype: Union[int, str, DistanceKind] = 0,
        domain_size: Optional[Sequence[float]] = None,
        vertical_cutoff: Optional[float] = None,
    ) -> "Localization":
        """Build from PDAF's parameters (``cradius``, ``sradius``, ``locweight``, ``disttype``,
        ``domainsize``). ``sradius`` defaults to ``cradius`` as in PDAF's templates and
        TSMP-PDAF; disttype 10-13 give a 2+1D metric (see :class:`Metric`)."""
        cr = _check_radius("cradius", cradius)
        sr = cr if sradius is None else sradius
        return cls(cr, sr, WeightKind.from_pdaf(locweight),
                   Metric.from_pdaf(disttype, domain_size, vertical_cutoff))

    def weights(self, d: np.ndarray) -> np.ndarray:
        """Weights for distances ``d`` (any shape) with PDAF's conventions; see
        :func:`local_weight`."""
        return local_weight(d, self.weight, self.cradius, self.sradius)


# --------------------------------------------------------------------------------------------
# Neighbour search
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocalPairs:
    """Local observations of every domain in CSR layout.

    Attributes
    ----------
    indptr : (n_domains + 1,) int64
        Pairs of domain ``i`` are ``indptr[i]:indptr[i+1]``.
    obs : (nnz,) int64
        Positions into the observation array; ascending within each domain.
    distance : (nnz,) float64
        Distances (coordinate units / metres).
    weight : (nnz,) float64
        Localisation weights (may be 0 for local observations beyond the support).
    """

    indptr: np.ndarray
    obs: np.ndarray
    distance: np.ndarray
    weight: np.ndarray

    @property
    def n_domains(self) -> int:
        return int(self.indptr.shape[0] - 1)

    @property
    def nnz(self) -> int:
        return int(self.obs.shape[0])

    def counts(self) -> np.ndarray:
        """(n_domains,) int64: number of local observations of each domain."""
        return np.diff(self.indptr)

    def domain_of_pair(self) -> np.ndarray:
        """(nnz,) int64: the domain each pair belongs to."""
        return np.repeat(np.arange(self.n_domains, dtype=np.int64), self.counts())

    def for_domain(self, i: int) -> slice:
        """Slice of the pair arrays belonging to domain ``i``."""
        return slice(int(self.indptr[i]), int(self.indptr[i + 1]))


def _as_coords(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must be an (n, k) array, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains non-finite coordinates")
    return x


def _wrap(x: np.ndarray, size: float) -> np.ndarray:
    w = np.mod(x, size)
    w[w >= size] = 0.0  # np.mod(-tiny, L) rounds to L
    return w


def _embedding(
    coords: np.ndarray, metric: Metric, cradius: float
) -> Tuple[np.ndarray, float, Optional[np.ndarray]]:
    """Points for the KD-tree, the Euclidean search radius that bounds the metric's cut-off,
    and the cKDTree ``boxsize`` (None if nothing is periodic)."""
    k = coords.shape[1]
    vcut = cradius if metric.vertical_cutoff is None else metric.vertical_cutoff
    split_vertical = metric.horizontal_only and k == 3
    # scale of the vertical so that |dz| <= vcut becomes |dz'| <= cradius
    if split_vertical and 0.0 < vcut < math.inf:
        zscale: Optional[float] = cradius / vcut
    else:
        zscale = None  # vertical not part of the search (filtered exactly afterwards)

    if metric.kind in (DistanceKind.CARTESIAN, DistanceKind.PERIODIC):
        sizes = metric.domain_size if metric.kind is DistanceKind.PERIODIC else (0.0,) * k
        cols, box = [], []
        naxes = 2 if split_vertical else k
        for ax in range(naxes):
            size = sizes[ax]  # type: ignore[index]
            cols.append(_wrap(coords[:, ax], size) if size > 0 else coords[:, ax])
            box.append(size if size > 0 else 0.0)
        radius = cradius
        if zscale is not None:
            size = sizes[2]  # type: ignore[index]
            z = coords[:, 2]
            if size > 0 and zscale > 0:
                zs = _wrap(_wrap(z, size) * zscale, size * zscale)
                box.append(size * zscale)
            else:
                zs = z * zscale
                box.append(0.0)
            cols.append(zs)
            radius = math.sqrt(2.0) * cradius
        pts = np.column_stack(cols)
        boxsize = np.asarray(box) if any(b > 0 for b in box) else None
        return pts, radius, boxsize

    # geographic kinds: 3-D Cartesian points on the sphere of radius R. The chord is never
    # longer than the great circle, which is <= the haversine distance and <= sqrt(2) times
    # PDAF's simplified geographic distance (a path along the parallel of A then along the
    # meridian of B has length dx + dy <= sqrt(2) sqrt(dx^2 + dy^2)).
    lon, lat = coords[:, 0], coords[:, 1]
    if np.any(np.abs(lat) > math.pi / 2 * (1 + 1e-12)) or np.any(np.abs(lon) > 2 * math.pi):
        raise ValueError(
            "geographic coordinates must be (lon, lat) in radians with |lat| <= pi/2 and "
            "|lon| <= 2 pi; were degrees given?"
        )
    cl = np.cos(lat)
    cols = [R_EARTH * cl * np.cos(lon), R_EARTH * cl * np.sin(lon), R_EARTH * np.sin(lat)]
    bound = cradius if metric.kind is DistanceKind.HAVERSINE else math.sqrt(2.0) * cradius
    radius = bound
    if k == 3:
        if not metric.horizontal_only:
            cols.append(coords[:, 2])  # d^2 = dh^2 + dz^2, chord^2 + dz^2 <= bound^2 (see above)
        elif zscale is not None:
            cols.append(coords[:, 2] * zscale)
            radius = math.sqrt(bound * bound + cradius * cradius)
    return np.column_stack(cols), radius, None


def find_local_observations(
    domain_coords: np.ndarray, obs_coords: np.ndarray, loc: Localization
) -> LocalPairs:
    """Find, for every local domain, the observations within the cut-off radius.

    One KD-tree search over all domains (no Python loop per domain or observation); the
    candidates are then re-tested with PDAF's exact distance formulas and cut-off rules
    (per-axis pre-checks, ``d^2 <= cradius^2``, 2+1D vertical cut-off), so the result is the
    set that PDAF's ``PDAFomi_init_dim_obs_l`` would find, with distances ``sqrt(d^2)``.

    Parameters
    ----------
    domain_coords : (n_domains, k) float
        Coordinates of the local analysis domains (e.g. soil-column centres). Coordinate units
        for Cartesian/periodic metrics; ``(lon, lat[, z])`` in radians for geographic ones.
    obs_coords : (n_obs, k) float
        Observation coordinates, same layout. Callers pass them sorted by global observation
        index; the result lists each domain's observations in ascending position, so sums
        over local observations do not depend on the decomposition.
    loc : Localization
        Cut-off, weight function and metric.

    Returns
    -------
    LocalPairs
        CSR arrays ``indptr``, ``obs``, ``distance``, ``weight``.
    """
    dom = _as_coords("domain_coords", domain_coords)
    obs = _as_coords("obs_coords", obs_coords)
    n_dom, n_obs = dom.shape[0], obs.shape[0]
    if dom.shape[1] != obs.shape[1]:
        raise ValueError(
            f"domain_coords has {dom.shape[1]} coordinates per point, obs_coords {obs.shape[1]}"
        )
    metric = loc.metric
    metric._check_ncoord(dom.shape[1])
    cradius = loc.cradius

    empty_i = np.zeros(0, dtype=np.int64)
    empty_f = np.zeros(0, dtype=np.float64)
    if n_dom == 0 or n_obs == 0:
        return LocalPairs(np.zeros(n_dom + 1, dtype=np.int64), empty_i, empty_f, empty_f.copy())

    pts_dom, radius, boxsize = _embedding(dom, metric, cradius)
    pts_obs, _, _ = _embedding(obs, metric, cradius)
    scale = max(1.0, float(np.max(np.abs(pts_dom))), float(np.max(np.abs(pts_obs))))
    r_search = radius * (1.0 + _REL_MARGIN) + _ABS_MARGIN * scale

    tree_obs = cKDTree(pts_obs, boxsize=boxsize)
    tree_dom = cKDTree(pts_dom, boxsize=boxsize)
    cand = tree_dom.sparse_distance_matrix(tree_obs, r_search, output_type="ndarray")
    if cand.shape[0] == 0:
        return LocalPairs(np.zeros(n_dom + 1, dtype=np.int64), empty_i, empty_f, empty_f.copy())

    # sort by (domain, observation) through one int64 key
    key = cand["i"].astype(np.int64) * n_obs + cand["j"].astype(np.int64)
    del cand
    key.sort()
    idom = key // n_obs
    iobs = key - idom * n_obs
    del key

    a = [dom[:, ax][idom] for ax in range(dom.shape[1])]
    b = [obs[:, ax][iobs] for ax in range(obs.shape[1])]
    dist2, ok = metric._pair_test(a, b, cradius)
    del a, b
    _log.debug(
        "local search: %d domains, %d observations, %d candidates, %d local pairs",
        n_dom, n_obs, ok.shape[0], int(np.count_nonzero(ok)),
    )
    idom, iobs = idom[ok], iobs[ok]
    dist = np.sqrt(dist2[ok])
    weight = loc.weights(dist)

    indptr = np.zeros(n_dom + 1, dtype=np.int64)
    np.cumsum(np.bincount(idom, minlength=n_dom), out=indptr[1:])
    return LocalPairs(indptr, iobs, dist, weight)

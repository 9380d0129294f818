"""Localisation weight functions with PDAF's conventions (``PDAFomi_local_weight``, the
``locweight`` codes): uniform, exponential, Gaspari-Cohn and Gaussian. See :mod:`pdafpy.localize`.
"""

from __future__ import annotations

import enum
from typing import Union

import numpy as np

from ..errors import ConfigError

__all__ = ["WeightKind", "gaspari_cohn", "exponential", "gaussian", "local_weight"]

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

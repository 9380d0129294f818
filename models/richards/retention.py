"""Soil water retention and relative permeability: van Genuchten-Mualem and Gardner.

Each model maps pressure head ``h`` [m] (negative unsaturated) to the water content ``theta``
[m3 m-3], the relative permeability ``kr`` [-] and both derivatives with respect to ``h``, all
elementwise over arrays of any shape; parameters are arrays broadcastable to ``h``. Saturated cells
(``h >= 0``) have ``theta = theta_s``, ``kr = 1`` and zero derivatives.

References
----------
van Genuchten, M. Th. (1980), SSSA J. 44, 892-898; Mualem, Y. (1976), WRR 12, 513-522;
Gardner, W. R. (1958), Soil Sci. 85, 228-232.

Regularisation near saturation
------------------------------
For small ``n`` (clay, ``n = 1.1``) Mualem's ``kr`` has an unbounded slope at saturation:
``dkr/dh ~ |h|^(m-1)`` as ``h -> 0-`` (and ``kr`` falls from 1 to ~0.2 within the last 2 mm of
head), which stalls Newton near a ponded surface. ``kr_se_high`` (a threshold ``Se_c`` in (0, 1))
replaces ``kr`` for ``Se > Se_c`` by the cubic Hermite spline in ``Se`` from
``(Se_c, kr(Se_c), dkr/dSe(Se_c))`` to ``(1, 1, 0)``: ``kr`` and its first derivative stay
continuous, ``dkr/dh = dkr/dSe dSe/dh`` stays bounded (and vanishes at ``h = 0``). This is
DuMux's ``VanGenuchtenRegularization`` (``VanGenuchtenKrwHighSweThreshold``; its Vanderborght
et al. 2005 benchmark inputs use 0.9999 with the retention curve left unregularised, as here);
compare the air-entry modification of Vogel et al. (2001), Adv. Water Resour. 24, 133-144, and
Ippisch et al. (2006), Adv. Water Resour. 29, 1780-1789. The retention curve is not changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

from pdafpy.errors import ConfigError

__all__ = ["van_genuchten", "gardner", "Retention", "validate_soil", "SOIL_KEYS"]

#: Parameters per cell: residual and saturated water content [m3 m-3], alpha [1/m], n [-],
#: horizontal and vertical saturated conductivity [m/s], specific storage [1/m].
SOIL_KEYS = ("theta_r", "theta_s", "alpha", "n", "ks_h", "ks_v", "ss")


def _kr_high_spline(se: np.ndarray, n: np.ndarray, l: float, se_c: float,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The cubic Hermite ``kr(Se)`` on ``[se_c, 1]`` and its derivative ``dkr/dSe``.

    It joins Mualem's ``kr`` and ``dkr/dSe`` at ``se_c`` to ``kr = 1``, ``dkr/dSe = 0`` at 1.
    """
    m = 1.0 - 1.0 / n
    sc = np.asarray(se_c, float)
    x = 1.0 - sc ** (1.0 / m)
    xm = x ** m
    k0 = sc ** l * (1.0 - xm) ** 2
    d0 = (1.0 - xm) * sc ** (l - 1.0) * ((1.0 - xm) * l + 2.0 * xm * (1.0 - x) / x)
    w = 1.0 - sc
    t = (se - sc) / w
    t2, t3 = t * t, t * t * t
    kr = (2 * t3 - 3 * t2 + 1) * k0 + (t3 - 2 * t2 + t) * w * d0 + (3 * t2 - 2 * t3)
    dkr = ((6 * t2 - 6 * t) * k0 + (3 * t2 - 4 * t + 1) * w * d0 + (6 * t - 6 * t2)) / w
    return kr, dkr


def van_genuchten(h: np.ndarray, theta_r: np.ndarray, theta_s: np.ndarray, alpha: np.ndarray,
                  n: np.ndarray, l: float = 0.5, derivatives: bool = True,
                  kr_se_high: float | None = None) -> tuple[np.ndarray, ...]:
    """Van Genuchten retention with Mualem's relative permeability.

    ``Se = (1 + (alpha |h|)^n)^(-m)``, ``m = 1 - 1/n``, ``theta = theta_r + (theta_s - theta_r) Se``,
    ``kr = Se^l (1 - (1 - Se^(1/m))^m)^2``.

    Parameters
    ----------
    h : float ndarray
        Pressure head [m].
    theta_r, theta_s : array_like
        Residual and saturated water content [m3 m-3].
    alpha : array_like
        Inverse air-entry head [1/m].
    n : array_like
        Pore-size parameter (> 1).
    l : float
        Mualem's tortuosity exponent.
    derivatives : bool
        Also return ``dtheta/dh`` [1/m] and ``dkr/dh`` [1/m].
    kr_se_high : float or None
        Regularise ``kr`` above this effective saturation (see the module docstring); None: off.

    Returns
    -------
    theta, dtheta_dh, kr, dkr_dh : float ndarrays shaped like ``h``
        (``dtheta_dh`` and ``dkr_dh`` are None unless ``derivatives``).
    """
    with np.errstate(all="ignore"):
        neg = h < 0.0
        x = np.where(neg, -alpha * h, 0.0)                   # alpha |h|
        xs = np.where(x > 0.0, x, 1.0)
        m = 1.0 - 1.0 / n
        u = np.where(neg, np.exp(n * np.log(xs)), 0.0)       # x^n
        se = np.exp(-m * np.log1p(u))                        # (1 + u)^-m
        xn1 = u / xs                                         # x^(n-1)
        b = 1.0 - xn1 * se
        sel = se if l == 1.0 else (np.sqrt(se) if l == 0.5 else se ** l)
        dtr = theta_s - theta_r
        theta = theta_r + dtr * se
        kr = np.where(neg, sel * b * b, 1.0)
        reg = None
        if kr_se_high is not None:
            reg = neg & (se > kr_se_high)
            kr_s, dkr_s = _kr_high_spline(se, n, l, kr_se_high)
            kr = np.where(reg, kr_s, kr)
        if not derivatives:
            return theta, None, kr, None
        dse_dx = -m * n * xn1 * se / (1.0 + u)               # dSe/dx
        dtheta = np.where(neg, -alpha * dtr * dse_dx, 0.0)
        db_dx = -((n - 1.0) * (xn1 / xs) * se + xn1 * dse_dx)
        dsel_dx = l * sel / np.where(se > 0, se, 1.0) * dse_dx
        dkr_dx = dsel_dx * b * b + 2.0 * sel * b * db_dx
        dkr = np.where(neg, -alpha * dkr_dx, 0.0)
        if reg is not None:
            dkr = np.where(reg, -alpha * dkr_s * dse_dx, dkr)
    return theta, dtheta, kr, dkr


def gardner(h: np.ndarray, theta_r: np.ndarray, theta_s: np.ndarray, alpha: np.ndarray,
            n: np.ndarray | None = None, l: float = 0.5, derivatives: bool = True,
            kr_se_high: float | None = None) -> tuple[np.ndarray, ...]:
    """Gardner's exponential model: ``Se = kr = exp(alpha h)`` for ``h < 0``.

    ``theta = theta_r + (theta_s - theta_r) exp(alpha h)``; ``n``, ``l`` and ``kr_se_high`` are
    ignored (they keep the signature of :func:`van_genuchten`; ``dkr/dh`` is bounded here).
    Shapes and units as there.
    """
    with np.errstate(all="ignore"):
        neg = h < 0.0
        se = np.exp(alpha * np.minimum(h, 0.0))
        theta = theta_r + (theta_s - theta_r) * se
        kr = se
        if not derivatives:
            return theta, None, kr, None
        dse = np.where(neg, alpha * se, 0.0)
        return theta, (theta_s - theta_r) * dse, kr, dse


MODELS: dict[str, Callable[..., tuple[np.ndarray, ...]]] = {
    "van_genuchten": van_genuchten,
    "gardner": gardner,
}


@dataclass
class Retention:
    """A retention model bound to per-cell parameters.

    Attributes
    ----------
    model : str
        ``"van_genuchten"`` or ``"gardner"``.
    params : dict of str to float ndarray
        ``theta_r``, ``theta_s``, ``alpha``, ``n`` (and others, ignored here), each broadcastable
        to the arrays of ``h`` passed to :meth:`evaluate`.
    l : float
        Mualem's tortuosity exponent (van Genuchten only).
    kr_se_high : float or None
        Effective saturation above which van Genuchten's ``kr`` is regularised (see the module
        docstring); None (default): not regularised. Ignored by Gardner.
    """

    model: str
    params: Mapping[str, np.ndarray]
    l: float = 0.5
    kr_se_high: float | None = None
    _fn: Callable[..., tuple[np.ndarray, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"richards soil: model must be one of {sorted(MODELS)}, "
                              f"got {self.model!r}")
        self._fn = MODELS[self.model]
        if self.kr_se_high is not None:
            self.kr_se_high = float(self.kr_se_high)
            if not 0.0 < self.kr_se_high < 1.0:
                raise ConfigError(f"richards soil: kr_se_high must lie in (0, 1), "
                                  f"got {self.kr_se_high!r}")

    def evaluate(self, h: np.ndarray, derivatives: bool = True) -> tuple[np.ndarray, ...]:
        """``theta, dtheta_dh, kr, dkr_dh`` at pressure heads ``h`` [m]."""
        p = self.params
        return self._fn(h, p["theta_r"], p["theta_s"], p["alpha"], p["n"], self.l, derivatives,
                        self.kr_se_high)

    def subset(self, take: Callable[[np.ndarray], np.ndarray]) -> "Retention":
        """The same model with every parameter array passed through ``take`` (a slicing)."""
        return Retention(self.model, {k: take(v) for k, v in self.params.items()}, self.l,
                         self.kr_se_high)

    def newton_step_near_saturation(self, h: np.ndarray, y: np.ndarray,
                                    ) -> tuple[np.ndarray, np.ndarray]:
        """Newton updates near saturation, taken in ``z = -(alpha |h|)^(n-1)`` below it.

        Mualem's ``kr`` is ``1 - 2 (alpha |h|)^(n-1) + ...`` just below saturation: for ``n < 2``
        its slope in ``h`` grows without bound as ``h -> 0-`` (for clay, ``n = 1.1``, the whole
        range ``0.3 < kr < 1`` lies within ``|h| < 1e-10 / alpha``), while it is flat (``kr = 1``)
        for ``h >= 0``. A solution with ``kr`` anywhere between is regular in ``z`` but sits on
        the kink at ``h = 0`` in floating point; Newton linearised in ``h`` then crawls (the line
        search takes a tenth of the step) or cycles across ``h = 0``. Here the update of each
        van Genuchten cell with ``n < 2`` is taken in the variable::

            z(h) = -(alpha |h|)^(n-1)   for -1/alpha < h < 0,
            z(h) = alpha h               for h >= 0,

        continuous and increasing, linear on the saturated side (where the residual is nearly
        linear in ``h``), with ``kr`` nearly linear in it on the other. The Newton update
        ``-y`` in ``h`` is the update ``-(dz/dh) y`` in ``z`` (a change of a column's scale, which
        the linear solve does not see); its end ``z_1`` is mapped back to ``h``:

        - a cell below saturation whose ``z_1`` stays in ``(-1, 0)`` moves to ``h(z_1)``;
        - a saturated cell (``h >= 0``, Jacobian of the saturated side) whose update ends below
          ``h = 0`` moves to ``h(z_1) = -(alpha |h - y|)^(1/(n-1)) / alpha``, not metres into the
          unsaturated range where its ``kr`` would collapse (a target below the rounding of
          ``h`` lands at ``h = 0``; the next update, from there, reaches it);
        - a cell whose ``z_1 >= 0`` (it reaches saturation; ``z`` is convex in ``h`` there, so
          ``h - y >= 0`` too) or ``z_1 <= -1`` (it leaves the last ``1/alpha`` below saturation)
          keeps its update.

        Away from ``h = 0`` the mapped update differs from ``y`` by terms of second order in
        ``y``, so Newton's quadratic convergence and the converged solution are unchanged; the
        map is per cell and needs no communication. Gardner's model (bounded slope) and
        ``n >= 2`` are left alone.

        Parameters
        ----------
        h, y : float ndarray
            Current heads [m] and Newton updates [m] (the next iterate is ``h - y``), one shape,
            to which the parameters broadcast.

        Returns
        -------
        cells : int ndarray
            Flat indices (into ``h.ravel()``) of the cells whose update changed.
        updates : float ndarray
            Their new updates ``y`` [m] (``h - updates`` lies in ``(-1/alpha, 0)``).
        """
        none = np.empty(0, dtype=np.intp), np.empty(0)
        if self.model != "van_genuchten":
            return none
        alpha = np.broadcast_to(self.params["alpha"], h.shape).ravel()
        n = np.broadcast_to(self.params["n"], h.shape).ravel()
        hf, yf = h.ravel(), y.ravel()
        end = hf - yf                                         # the unmapped next iterate [m]
        x0 = -alpha * hf                                      # alpha |h| (< 0: saturated)
        below = x0 > 0.0
        cells = np.flatnonzero((n < 2.0) & (yf != 0.0) & (x0 < 1.0) & (below | (end < 0.0)))
        if cells.size == 0:
            return none
        a, p, x0, b = alpha[cells], n[cells] - 1.0, x0[cells], below[cells]
        xs = np.where(b, x0, 1.0)
        with np.errstate(over="ignore"):
            # z_1 = z_0 - (dz/dh) y; below: z_0 = -x0^p, dz/dh = p alpha x0^(p-1)
            z1 = np.where(b, -xs ** p * (1.0 + p * a * yf[cells] / xs), a * end[cells])
        take = (z1 < 0.0) & (z1 > -1.0)
        cells, z1, a, p = cells[take], z1[take], a[take], p[take]
        return cells, hf[cells] + (-z1) ** (1.0 / p) / a

    def head_from_saturation(self, se: np.ndarray) -> np.ndarray:
        """Inverse of the retention curve: pressure head [m] for an effective saturation in (0, 1].

        ``se >= 1`` maps to ``h = 0``.
        """
        p = self.params
        se = np.clip(se, 1e-300, 1.0)
        with np.errstate(all="ignore"):
            if self.model == "gardner":
                h = np.log(se) / p["alpha"]
            else:
                m = 1.0 - 1.0 / p["n"]
                h = -((se ** (-1.0 / m) - 1.0) ** (1.0 / p["n"])) / p["alpha"]
        return np.where(se >= 1.0, 0.0, h)


def validate_soil(params: Mapping[str, np.ndarray], model: str) -> None:
    """Check per-cell soil parameters; raise :class:`ConfigError` naming the first bad one.

    Checks ``ks_h > 0``, ``ks_v > 0``, ``alpha > 0``, ``n > 1`` (van Genuchten),
    ``0 <= theta_r < theta_s <= 1`` and ``ss >= 0``, all finite.
    """
    def first_bad(name: str, bad: np.ndarray) -> None:
        if np.any(bad):
            idx = np.unravel_index(int(np.argmax(bad)), bad.shape)
            val = np.asarray(params[name])[idx]
            raise ConfigError(f"richards soil: parameter {name} has an invalid value {val!r} "
                              f"(at local cell {tuple(int(i) for i in idx)}): {RULES[name]}")

    RULES = {"ks_h": "must be > 0 [m/s]", "ks_v": "must be > 0 [m/s]",
             "alpha": "must be > 0 [1/m]", "n": "must be > 1",
             "theta_r": "must satisfy 0 <= theta_r < theta_s",
             "theta_s": "must satisfy theta_r < theta_s <= 1", "ss": "must be >= 0 [1/m]"}
    if model not in MODELS:
        raise ConfigError(f"richards soil: model must be one of {sorted(MODELS)}, got {model!r}")
    for key in SOIL_KEYS:
        if key not in params:
            raise ConfigError(f"richards soil: parameter {key} is missing")
        first_bad(key, ~np.isfinite(np.asarray(params[key])))
    first_bad("ks_h", params["ks_h"] <= 0)
    first_bad("ks_v", params["ks_v"] <= 0)
    first_bad("alpha", params["alpha"] <= 0)
    if model == "van_genuchten":
        first_bad("n", params["n"] <= 1)
    first_bad("theta_r", (params["theta_r"] < 0) | (params["theta_r"] >= params["theta_s"]))
    first_bad("theta_s", params["theta_s"] > 1)
    first_bad("ss", params["ss"] < 0)

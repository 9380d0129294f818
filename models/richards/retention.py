"""Soil water retention and relative permeability: van Genuchten-Mualem and Gardner.

Each model maps pressure head ``h`` [m] (negative unsaturated) to the water content ``theta``
[m3 m-3], the relative permeability ``kr`` [-] and both derivatives with respect to ``h``, all
elementwise over arrays of any shape; parameters are arrays broadcastable to ``h``. Saturated cells
(``h >= 0``) have ``theta = theta_s``, ``kr = 1`` and zero derivatives.

References
----------
van Genuchten, M. Th. (1980), SSSA J. 44, 892-898; Mualem, Y. (1976), WRR 12, 513-522;
Gardner, W. R. (1958), Soil Sci. 85, 228-232.
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


def van_genuchten(h: np.ndarray, theta_r: np.ndarray, theta_s: np.ndarray, alpha: np.ndarray,
                  n: np.ndarray, l: float = 0.5, derivatives: bool = True
                  ) -> tuple[np.ndarray, ...]:
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
        if not derivatives:
            return theta, None, kr, None
        dse_dx = -m * n * xn1 * se / (1.0 + u)               # dSe/dx
        dtheta = np.where(neg, -alpha * dtr * dse_dx, 0.0)
        db_dx = -((n - 1.0) * (xn1 / xs) * se + xn1 * dse_dx)
        dsel_dx = l * sel / np.where(se > 0, se, 1.0) * dse_dx
        dkr_dx = dsel_dx * b * b + 2.0 * sel * b * db_dx
        dkr = np.where(neg, -alpha * dkr_dx, 0.0)
    return theta, dtheta, kr, dkr


def gardner(h: np.ndarray, theta_r: np.ndarray, theta_s: np.ndarray, alpha: np.ndarray,
            n: np.ndarray | None = None, l: float = 0.5, derivatives: bool = True
            ) -> tuple[np.ndarray, ...]:
    """Gardner's exponential model: ``Se = kr = exp(alpha h)`` for ``h < 0``.

    ``theta = theta_r + (theta_s - theta_r) exp(alpha h)``; ``n`` and ``l`` are ignored (they
    keep the signature of :func:`van_genuchten`). Shapes and units as there.
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
    """

    model: str
    params: Mapping[str, np.ndarray]
    l: float = 0.5
    _fn: Callable[..., tuple[np.ndarray, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ConfigError(f"richards soil: model must be one of {sorted(MODELS)}, "
                              f"got {self.model!r}")
        self._fn = MODELS[self.model]

    def evaluate(self, h: np.ndarray, derivatives: bool = True) -> tuple[np.ndarray, ...]:
        """``theta, dtheta_dh, kr, dkr_dh`` at pressure heads ``h`` [m]."""
        p = self.params
        return self._fn(h, p["theta_r"], p["theta_s"], p["alpha"], p["n"], self.l, derivatives)

    def subset(self, take: Callable[[np.ndarray], np.ndarray]) -> "Retention":
        """The same model with every parameter array passed through ``take`` (a slicing)."""
        return Retention(self.model, {k: take(v) for k, v in self.params.items()}, self.l)

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

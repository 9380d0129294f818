"""Closed-form solutions used to verify the solver.

* :func:`tracy_3d`: Tracy (2006), WRR 42, W08503, 3D transient infiltration with Gardner's
  model, ``h = h_r`` on every face but the top (formulas as in G-ADOPT's
  ``tests/richards/test_tracy_3d.py``; see ``shared/reference/benchmarks.md`` section 1.3).
* :func:`hydrostatic_head`: the equilibrium head below a water table.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TracyProblem", "tracy_3d", "tracy_top_head", "hydrostatic_head",
           "desorptivity_evaporation", "TravellingWave", "travelling_wave"]


@dataclass(frozen=True)
class TracyProblem:
    """Parameters of Tracy's problem (G-ADOPT's values by default).

    Attributes
    ----------
    a, b, L : float
        Extents in x, y and z [m].
    alpha : float
        Gardner's alpha [1/m].
    theta_r, theta_s : float
        Residual and saturated water content.
    ks : float
        Saturated conductivity [m/s].
    h_r : float
        Initial head and head on the five non-top faces [m].
    """

    a: float = 15.24
    b: float = 15.24
    L: float = 15.24
    alpha: float = 0.25
    theta_r: float = 0.15
    theta_s: float = 0.45
    ks: float = 1e-5
    h_r: float = -15.24


def tracy_top_head(p: TracyProblem, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The head on the top face [m]: ``(1/alpha) ln(e^(alpha h_r) + h0 sin(pi x/a) sin(pi y/b))``."""
    h0 = 1.0 - np.exp(p.alpha * p.h_r)
    return np.log(np.exp(p.alpha * p.h_r) + h0 * np.sin(np.pi * x / p.a)
                  * np.sin(np.pi * y / p.b)) / p.alpha


def tracy_3d(p: TracyProblem, x: np.ndarray, y: np.ndarray, z: np.ndarray,
             t: float | None = None, n_terms: int = 200) -> np.ndarray:
    """Tracy's 3D solution ``h(x, y, z, t)`` [m].

    Parameters
    ----------
    p : TracyProblem
    x, y, z : float ndarrays (broadcastable)
        Coordinates [m]; ``z`` is the height above the bottom.
    t : float or None
        Time [s]; None gives the steady state.
    n_terms : int
        Terms of the transient series (converges poorly as t -> 0; use t >= 2000 s).

    Returns
    -------
    float ndarray, the broadcast shape of x, y, z
    """
    x, y, z = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float),
                                  np.asarray(z, float))
    h0 = 1.0 - np.exp(p.alpha * p.h_r)
    c = p.alpha * (p.theta_s - p.theta_r) / p.ks
    beta = np.sqrt(p.alpha ** 2 / 4 + (np.pi / p.a) ** 2 + (np.pi / p.b) ** 2)
    lateral = np.sin(np.pi * x / p.a) * np.sin(np.pi * y / p.b)
    decay = np.exp(p.alpha * (p.L - z) / 2)
    hss = h0 * lateral * decay * np.sinh(beta * z) / np.sinh(beta * p.L)
    phi = np.zeros_like(hss)
    if t is not None:
        k = np.arange(1, n_terms + 1)
        lam = k * np.pi / p.L
        gam = (beta ** 2 + lam ** 2) / c
        coef = (-1.0) ** k * lam / gam * np.exp(-gam * t)
        series = np.tensordot(np.sin(np.multiply.outer(z, lam)), coef, axes=([-1], [0]))
        phi = 2 * h0 / (p.L * c) * lateral * decay * series
    return np.log(np.exp(p.alpha * p.h_r) + hss + phi) / p.alpha


def hydrostatic_head(depth: np.ndarray, water_table_depth: float) -> np.ndarray:
    """Equilibrium head ``h = depth - d_wt`` [m] at depths below the surface [m]."""
    return np.asarray(depth, float) - float(water_table_depth)


def desorptivity_evaporation(theta_r: float, theta_s: float, alpha: float, n: float, ks: float,
                             h_init: float, rate: float, t: np.ndarray, h_surface: float = -100.0,
                             l: float = 0.5, points: int = 20001) -> np.ndarray:
    """Cumulative evaporation [m] of Vanderborght et al. (2005) M2.2 (no gravity).

    Stage 1 at the potential rate ``rate`` [m/s] until ``t_pot = S^2 / (2 rate^2)``, then the
    desorptivity solution ``e(t) = S / (2 sqrt(t' + t - t_pot))`` with ``t' = t_pot / 2``
    (Vanderborght et al. 2005, Eqs. 39-47, after Lockington 1994; stated error < 1 %).
    The desorptivity ``S`` [m s^-1/2] comes from integrals of the diffusivity over the effective
    water content ``Theta = (theta - theta_sur) / (theta_i - theta_sur)``; since
    ``D dTheta = K dh / (theta_i - theta_sur)`` they are evaluated as integrals over ``h``.

    Parameters
    ----------
    theta_r, theta_s, alpha [1/m], n, ks [m/s] : float
        Van Genuchten-Mualem soil.
    h_init : float
        Initial head [m].
    rate : float
        Potential evaporation [m/s], positive.
    t : (nt,) float ndarray
        Times [s].
    h_surface : float
        Surface head of stage 2 [m].

    Returns
    -------
    (nt,) float ndarray
        Cumulative actual evaporation [m].
    """
    from .retention import van_genuchten

    h = -np.geomspace(-h_surface, -h_init, points)[::-1]          # from h_init down to h_sur
    th, _, kr, _ = van_genuchten(h, theta_r, theta_s, alpha, n, l, derivatives=False)
    th_i, th_s = th[0], th[-1]
    dtheta = th_i - th_s
    big_theta = (th - th_s) / dtheta
    k = ks * kr

    def integral(f):                                            # int f K dh / dtheta
        y = f * k
        return float(np.sum(0.5 * (y[1:] + y[:-1]) * -np.diff(h))) / dtheta

    i0 = integral(np.ones_like(h))
    i1 = integral(big_theta)
    beta = (i1 / i0) ** 2
    a = integral((1.0 - beta * big_theta) ** 2) / i0
    bf = 1.0 - a / (1.0 - beta) ** 2
    mu = 3.0 * beta * (1.0 + np.sqrt(1.0 - 14.0 / 9.0 * bf)) / (2.0 * (beta - 1.0) * bf)
    s = dtheta * np.sqrt(4.0 / mu * i0)
    t_pot = s * s / (2.0 * rate * rate)
    t_prime = 0.5 * t_pot
    t = np.asarray(t, dtype=float)
    stage2 = rate * t_pot + s * (np.sqrt(t_prime + np.maximum(t - t_pot, 0.0)) - np.sqrt(t_prime))
    return np.where(t < t_pot, rate * t, stage2)


@dataclass(frozen=True)
class TravellingWave:
    """Vanderborght et al. (2005) M2.1 travelling-wave infiltration profile, anchored in depth.

    The wave (Vanderborght et al. 2005, Eqs. 56-60; Schnepf et al. 2020, Eq. 4) moves at
    ``v = (K_sur - K_i) / (theta_sur - theta_i)`` with the fixed shape
    ``deta(theta) = (theta_sur - theta_i) int_theta^theta_a D / [(K_sur - K_i)(theta' - theta_i)
    - (K(theta') - K_i)(theta_sur - theta_i)] dtheta'``, ``theta_a = (theta_sur + theta_i)/2``.
    The shape does not fix the position: ``theta_a`` sits at ``ref_depth`` [m] at ``ref_time``
    [s] (DuMux's values from 1500-cell runs). Built by :func:`travelling_wave`.

    Attributes
    ----------
    theta_i, theta_sur, k_i, k_sur : float
        Initial and surface water content, their conductivities [m/s].
    speed : float
        ``v`` [m/s].
    deta, theta : (npts,) float ndarray
        The table ``deta`` [m] (increasing) against ``theta`` (decreasing).
    ref_depth, ref_time : float
        The anchor [m below the surface], [s].
    """

    theta_i: float
    theta_sur: float
    k_i: float
    k_sur: float
    speed: float
    deta: np.ndarray
    theta: np.ndarray
    ref_depth: float
    ref_time: float

    def water_content(self, depth: np.ndarray, t: float) -> np.ndarray:
        """Water content at depths [m below the surface] and time ``t`` [s]."""
        d = np.asarray(depth, float) - self.ref_depth - self.speed * (t - self.ref_time)
        return np.interp(d, self.deta, self.theta, left=self.theta_sur, right=self.theta_i)

    def infiltration(self, t: float, length: float, points: int = 20001) -> float:
        """Cumulative infiltration [m] into a column of ``length`` [m] by ``t`` [s].

        The water stored above the initial content, plus the free drainage ``K_i t`` at the
        bottom (the front is far from it).
        """
        z = np.linspace(0.0, length, points)
        y = self.water_content(z, t) - self.theta_i
        return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(z))) + self.k_i * t


def travelling_wave(theta_r: float, theta_s: float, alpha: float, n: float, ks: float,
                    h_init: float, theta_sur: float, ref_depth: float, ref_time: float,
                    l: float = 0.5, points: int = 40001) -> TravellingWave:
    """The M2.1 travelling wave of a van Genuchten-Mualem soil (see :class:`TravellingWave`).

    Since ``D dtheta = K dh``, the integral is taken over ``h`` on a table uniform in ``theta``
    between ``theta_i`` and ``theta_sur`` (trapezoid rule; the integrand has integrable
    logarithmic singularities at both ends, which send ``deta`` to -inf and +inf).

    Parameters
    ----------
    theta_r, theta_s, alpha [1/m], n, ks [m/s] : float
        The soil.
    h_init : float
        Initial head [m].
    theta_sur : float
        Water content at the surface (``theta_s`` when ponded; for a flux below ``K_s`` the
        content whose conductivity is the flux).
    ref_depth, ref_time : float
        Depth [m] of ``theta_a`` at time [s].
    """
    from .retention import Retention, van_genuchten

    prm = {"theta_r": np.asarray(theta_r), "theta_s": np.asarray(theta_s),
           "alpha": np.asarray(alpha), "n": np.asarray(n)}
    ret = Retention("van_genuchten", prm, l)

    def kf(h):
        return ks * van_genuchten(h, theta_r, theta_s, alpha, n, l, derivatives=False)[2]

    th_i = float(van_genuchten(np.asarray(h_init), theta_r, theta_s, alpha, n, l,
                               derivatives=False)[0])
    h_sur = float(ret.head_from_saturation(np.asarray((theta_sur - theta_r)
                                                      / (theta_s - theta_r))))
    k_i, k_sur = float(kf(np.asarray(h_init))), float(kf(np.asarray(h_sur)))
    span = theta_sur - th_i
    eps = 1e-9 * span
    th = np.linspace(theta_sur - eps, th_i + eps, points)             # decreasing
    h = ret.head_from_saturation((th - theta_r) / (theta_s - theta_r))
    den = (k_sur - k_i) * (th - th_i) - (kf(h) - k_i) * span
    y = kf(h) / den                                                   # D dtheta = K dh
    # cumulative int_{theta_0}^{theta} y dh (h decreasing along the table)
    seg = 0.5 * (y[1:] + y[:-1]) * np.diff(h)
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    th_a = 0.5 * (theta_sur + th_i)
    cum_a = float(np.interp(-th_a, -th, cum))
    deta = span * (cum_a - cum)            # int_theta^theta_a = cum(theta_a) - cum(theta)
    deta = -deta if deta[-1] < deta[0] else deta
    return TravellingWave(th_i, float(theta_sur), k_i, k_sur, (k_sur - k_i) / span,
                          deta, th, float(ref_depth), float(ref_time))

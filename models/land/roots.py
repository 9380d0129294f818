"""Root-water uptake and soil-evaporation limits: Jackson root fractions, Feddes-type stress
(ParFlow-CLM's VegWaterStress), the soil-evaporation factor (ParFlow-CLM's EvapBeta).

Layers are top-down; layer arrays are ``(nl, ny, nx)`` (or broadcastable), column arrays
``(ny, nx)``.

References
----------
Jackson, R. B. et al. (1996), Oecologia 108, 389-411 (cumulative root fraction 1 - beta^d, d in
cm). Feddes, R. A. et al. (1978), Simulation of field water use and crop yield. ParFlow
``pfsimulator/clm/clm_thermal.F90`` (VegWaterStress, EvapBeta, RZWaterStress = 1).
"""

from __future__ import annotations

import numpy as np

from pdafpy.errors import ConfigError

__all__ = ["jackson_root_fractions", "feddes_stress", "uptake_weights", "evap_beta",
           "EVAP_BETA_KINDS"]

EVAP_BETA_KINDS = ("linear", "cosine", "none")


def jackson_root_fractions(beta, z_top, z_bottom, normalise=True):
    """Root fraction per layer ``r_i = beta^(100 z_top) - beta^(100 z_bot)`` (z in m).

    Parameters
    ----------
    beta : float or (ny, nx) ndarray
        Jackson's beta [-] per column.
    z_top, z_bottom : (nl,) ndarray
        Depths of the layer tops and bottoms [m].
    normalise : bool
        Rescale so the fractions of a column sum to 1 (the roots below the last layer are given
        to the layers above in proportion).

    Returns
    -------
    (nl, ny, nx) or (nl,) ndarray
    """
    b = np.asarray(beta, float)
    zt = np.asarray(z_top, float).reshape((-1,) + (1,) * b.ndim)
    zb = np.asarray(z_bottom, float).reshape((-1,) + (1,) * b.ndim)
    r = b ** (100.0 * zt) - b ** (100.0 * zb)
    if normalise:
        total = r.sum(axis=0)
        r = np.where(total > 0, r / np.where(total > 0, total, 1.0), 0.0)
    return r


def feddes_stress(h, h_wilt, h_field_capacity, exponent=1.0):
    """Water-stress factor ``w = ((h_wp - h) / (h_wp - h_fc))`` clipped to [0, 1], to a power.

    0 at and below the wilting point ``h_wilt`` [m], 1 at and above field capacity
    ``h_field_capacity`` [m] (ParFlow-CLM ``VegWaterStress = Pressure``).
    """
    w = np.clip((h_wilt - np.asarray(h)) / (h_wilt - h_field_capacity), 0.0, 1.0)
    return w if exponent == 1.0 else w ** exponent


def uptake_weights(root_fractions, stress):
    """Distribution of transpiration over layers and the column's stress factor.

    Returns
    -------
    weights : (nl, ny, nx) ndarray
        ``r_i w_i / sum_j r_j w_j`` (zero in a column with ``btran = 0``); sums to 1 or 0.
    btran : (ny, nx) ndarray
        ``sum_i r_i w_i`` in [0, 1].
    """
    rw = root_fractions * stress
    btran = rw.sum(axis=0)
    safe = np.where(btran > 0.0, btran, 1.0)
    return np.where(btran > 0.0, rw / safe, 0.0), btran


def evap_beta(saturation, residual_saturation, kind="linear"):
    """Soil-evaporation factor beta in [0, 1] from the top layer's saturation (ParFlow-CLM).

    ``linear``: ``(S - S_res) / (1 - S_res)``; ``cosine``:
    ``0.5 (1 - cos(pi (S - S_res) / (1 - S_res)))``; ``none``: 1.

    Parameters
    ----------
    saturation : ndarray
        Top-layer saturation ``theta / theta_s`` [-].
    residual_saturation : ndarray
        ``theta_r / theta_s`` [-].
    """
    if kind == "none":
        return np.ones_like(np.asarray(saturation, float))
    x = np.clip((np.asarray(saturation) - residual_saturation) / (1.0 - residual_saturation),
                0.0, 1.0)
    if kind == "linear":
        return x
    if kind == "cosine":
        return 0.5 * (1.0 - np.cos(np.pi * x))
    raise ConfigError(f"land: evap_beta must be one of {EVAP_BETA_KINDS}, got {kind!r}")

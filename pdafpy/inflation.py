"""Covariance inflation and random rotations of the ensemble.

- **Forgetting factor** ``rho`` (PDAF's ``forget``): in the transform filters it enters
  ``A^-1 = rho (N-1) I + ...`` (inflation of the forecast covariance by ``1/rho``); in the EnKF
  family the forecast anomalies are scaled by ``1/sqrt(rho)`` (:func:`pdafpy.filters.enkf.inflate_forecast`).
- **Adaptive forgetting factor** (PDAF's ``type_forget = 1``): :func:`adaptive_forget`.
- **Multiplicative inflation of the analysis anomalies** (DAPPER's ``infl``): :func:`inflate`.
- **Relaxation to prior perturbations** (RTPP, Zhang et al. 2004) and **to prior spread** (RTPS,
  Whitaker & Hamill 2012): :func:`relax_to_prior_perturbations`, :func:`relax_to_prior_spread`.
- **Random mean-preserving rotation** of the analysis anomalies (DAPPER's ``rot=True``):
  :func:`rotate`.

Ensembles are ``(N, n)`` arrays (members in rows), changed in place. Functions that reduce over the
state take the filter communicator so that every rank agrees.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import random as prng
from .errors import ConfigError

__all__ = ["inflate", "relax_to_prior_perturbations", "relax_to_prior_spread", "rotate",
           "adaptive_forget", "FORGET_LIMITS"]

FORGET_LIMITS = (0.01, 100.0)


def _anomalies(ens: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = ens.mean(axis=0)
    return mean, ens - mean


def inflate(ens: np.ndarray, factor: float) -> None:
    """Multiply the anomalies by ``factor`` (>= 1 inflates), keeping the mean."""
    if not factor > 0:
        raise ConfigError(f"inflation factor must be > 0, got {factor}")
    if factor != 1.0:
        mean, anom = _anomalies(ens)
        ens[:] = mean + factor * anom


def relax_to_prior_perturbations(analysis: np.ndarray, forecast: np.ndarray, alpha: float) -> None:
    """RTPP: ``X'^a <- (1 - alpha) X'^a + alpha X'^f`` (Zhang et al. 2004), in place."""
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"RTPP alpha must lie in [0, 1], got {alpha}")
    mean, anom = _anomalies(analysis)
    analysis[:] = mean + (1.0 - alpha) * anom + alpha * (forecast - forecast.mean(axis=0))


def relax_to_prior_spread(analysis: np.ndarray, forecast: np.ndarray, alpha: float) -> None:
    """RTPS: scale ``X'^a`` per element by ``1 + alpha (sigma^f - sigma^a) / sigma^a``
    (Whitaker & Hamill 2012), in place. Elements without analysis spread are left alone."""
    if not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"RTPS alpha must lie in [0, 1], got {alpha}")
    mean, anom = _anomalies(analysis)
    sa = anom.std(axis=0, ddof=1)
    sf = forecast.std(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(sa > 0, 1.0 + alpha * (sf - sa) / sa, 1.0)
    analysis[:] = mean + anom * scale


def rotate(ens: np.ndarray, seed: int, cycle: int) -> None:
    """Right-multiply the anomalies by a random mean-preserving orthogonal matrix (in place).

    The matrix is keyed by (seed, cycle) only, so every rank applies the same rotation.
    """
    n_members = ens.shape[0]
    mean, anom = _anomalies(ens)
    q = prng.random_mean_preserving_orthonormal(seed, "rotation", cycle, n_members)
    ens[:] = mean + q.T @ anom


def adaptive_forget(hx: np.ndarray, value: np.ndarray, variance: np.ndarray,
                    default: float, comm: Any = None) -> float:
    """PDAF's adaptive forgetting factor ``rho = var_ens / (var_resid - var_obs)``.

    ``var_ens = sum (H(x_j) - mean)^2 / (N-1) / m``, ``var_resid = sum (y - mean)^2 / m``,
    ``var_obs`` the mean observation-error variance; clipped to [0.01, 100]; ``default`` when the
    denominator is not positive or there is no observation. Sums are reduced over ``comm``.

    Parameters
    ----------
    hx : (N, m) ndarray
        Observed ensemble of the observations this rank owns.
    value, variance : (m,) ndarray
    default : float
        The prescribed forgetting factor.
    """
    n_members = hx.shape[0]
    hxbar = hx.mean(axis=0)
    sums = np.array([np.sum((hx - hxbar) ** 2) / (n_members - 1),
                     np.sum((value - hxbar) ** 2), np.sum(variance), float(hx.shape[1])])
    if comm is not None:
        from mpi4py import MPI
        comm.Allreduce(MPI.IN_PLACE, sums)
    var_ens, resid, var_obs, m = sums
    if m == 0:
        return default
    denom = (resid - var_obs) / m
    if denom <= 0:
        return default
    return float(np.clip((var_ens / m) / denom, *FORGET_LIMITS))

"""The algebra shared by the ensemble square-root filters, batched over analysis domains.

Every function takes a leading batch axis ``B`` (local analysis domains, or 1 for a global
filter) and works on stacked small matrices with numpy's batched ``matmul`` and ``eigh``: no
Python loop over domains.

Notation (PDAF's, Nerger et al. 2012): ``N`` members, ``X`` the ensemble, ``X'`` its anomalies,
``Y' = H(X) - mean`` the observed anomalies, ``R`` the (diagonal) observation-error covariance whose
inverse carries the localisation weights, ``d = y - mean(H(X))`` the innovation, ``rho`` the
forgetting factor, ``a = rho (N-1)``.

- ESTKF: ``L = X Omega`` with PDAF's projection ``Omega`` (N x N-1),
  ``A^-1 = a I + (H L)^T R^-1 (H L)``, ``w = A (H L)^T R^-1 d``,
  ``W = Omega [sqrt(N-1) A^(1/2) Omega_r^T + w 1^T]``, ``X^a = mean 1^T + X' W``.
- ETKF (Hunt et al. 2007): ``A^-1 = a I + Y'^T R^-1 Y'``, ``w = A Y'^T R^-1 d``,
  ``W = sqrt(N-1) A^(1/2) Q + w 1^T``.
- Observation space (for domains with fewer observations than members): with
  ``Yt = R^-1/2 Y'`` and ``Yt Yt^T = V diag(lam) V^T``, both filters' analyses equal
  ``mean^a = mean + X' Yt^T V diag(1/(a+lam)) V^T R^-1/2 d`` and
  ``X'^a = [X'/sqrt(rho) + sqrt(N-1) X' Yt^T V diag(f(lam)) V^T Yt] Q``, with
  ``f(lam) = ((a+lam)^-1/2 - a^-1/2)/lam`` written without cancellation. This is the same
  symmetric square root, computed from an m x m instead of an N x N eigenproblem.

``A^(1/2)`` is always the symmetric square root (PDAF's ``type_sqrt = 0``). ``Q`` is the identity
for deterministic transforms, or a random mean-preserving orthogonal matrix (see
:func:`random_rotation`).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError

__all__ = ["omega", "estkf_transform", "etkf_transform", "observation_space_update",
           "ensemble_space_inputs", "symmetric_inverse_sqrt"]


def omega(n_members: int) -> np.ndarray:
    """PDAF's deterministic projection matrix ``Omega`` (N x N-1).

    Its columns are orthonormal and orthogonal to ``(1, ..., 1)``: a Householder matrix built from
    ``(1, ..., 1)/sqrt(N)`` without its last column. Rows ``1..N-1``:
    ``delta_ij - 1/(N (1/sqrt(N) + 1))``; last row ``-1/sqrt(N)``.
    """
    n = n_members
    if n < 2:
        raise ConfigError(f"an ensemble square-root filter needs at least 2 members, got {n}")
    om = np.full((n, n - 1), -1.0 / (n * (1.0 / np.sqrt(n) + 1.0)))
    om[np.arange(n - 1), np.arange(n - 1)] += 1.0
    om[n - 1, :] = -1.0 / np.sqrt(n)
    return om


def symmetric_inverse_sqrt(ainv: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``A^(1/2)`` (symmetric) and ``A rhs`` from a batch of symmetric positive definite ``A^-1``.

    Parameters
    ----------
    ainv : (B, k, k) ndarray
    rhs : (B, k) ndarray

    Returns
    -------
    sqrt_a : (B, k, k) ndarray
    solution : (B, k) ndarray
    """
    s, u = np.linalg.eigh(ainv)
    solution = np.einsum("bij,bj->bi", u, np.einsum("bji,bj->bi", u, rhs) / s)
    sqrt_a = (u / np.sqrt(s)[:, None, :]) @ np.swapaxes(u, 1, 2)
    return sqrt_a, solution


def estkf_transform(ainv: np.ndarray, rihld: np.ndarray, om: np.ndarray,
                    omega_r_t: np.ndarray) -> np.ndarray:
    """ESTKF weight matrices ``W`` from ``A^-1`` and ``(HL)^T R^-1 d``.

    Parameters
    ----------
    ainv : (B, N-1, N-1) ndarray
        ``a I + (HL)^T R^-1 HL``.
    rihld : (B, N-1) ndarray
        ``(HL)^T R^-1 d``.
    om : (N, N-1) ndarray
        The deterministic ``Omega``.
    omega_r_t : (N-1, N) ndarray
        Transpose of the ``Omega`` used on the right (``om.T``, or a random one).

    Returns
    -------
    (B, N, N) ndarray
        ``W`` such that ``X^a = mean 1^T + X' W``.
    """
    rank = om.shape[1]
    c, w = symmetric_inverse_sqrt(ainv, rihld)
    t = np.sqrt(rank) * (c @ omega_r_t) + w[:, :, None]
    return om @ t


def etkf_transform(ainv: np.ndarray, riyd: np.ndarray, rotation: np.ndarray | None) -> np.ndarray:
    """ETKF weight matrices ``W`` from ``A^-1`` and ``Y'^T R^-1 d``.

    Parameters
    ----------
    ainv : (B, N, N) ndarray
    riyd : (B, N) ndarray
    rotation : (N, N) ndarray or None
        Random mean-preserving orthogonal matrix ``Q`` (None: identity).

    Returns
    -------
    (B, N, N) ndarray
    """
    n = ainv.shape[-1]
    sqrt_a, w = symmetric_inverse_sqrt(ainv, riyd)
    if rotation is not None:
        sqrt_a = sqrt_a @ rotation
    return np.sqrt(n - 1) * sqrt_a + w[:, :, None]


def ensemble_space_inputs(y_anom: np.ndarray, innovation: np.ndarray, rinv: np.ndarray,
                          a: float, project: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``A^-1 = a I + Z^T R^-1 Z`` and ``Z^T R^-1 d`` with ``Z = Y' @ project`` (or ``Y'``).

    Parameters
    ----------
    y_anom : (B, m, N) ndarray
        Observed anomalies (or observed ensemble: ``Omega`` removes the mean).
    innovation : (B, m) ndarray
    rinv : (B, m) ndarray
        Localised inverse error variances.
    a : float
        ``rho (N-1)``.
    project : (N, k) ndarray or None
        ``Omega`` for the ESTKF, None for the ETKF.
    """
    z = y_anom if project is None else y_anom @ project
    riz = z * rinv[:, :, None]
    k = z.shape[-1]
    ainv = np.swapaxes(z, 1, 2) @ riz
    ainv[:, np.arange(k), np.arange(k)] += a
    rizd = np.einsum("bmk,bm->bk", riz, innovation)
    return ainv, rizd


def observation_space_update(x_anom: np.ndarray, y_anom: np.ndarray, innovation: np.ndarray,
                             rinv: np.ndarray, forget: float, rotation: np.ndarray | None
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Mean increment and analysis anomalies of the ESTKF/ETKF, solved in observation space.

    Parameters
    ----------
    x_anom : (B, n, N) ndarray
        Local state anomalies.
    y_anom : (B, m, N) ndarray
        Observed anomalies.
    innovation : (B, m) ndarray
    rinv : (B, m) ndarray
        Localised inverse error variances (weights may be 0).
    forget : float
        Forgetting factor rho.
    rotation : (N, N) ndarray or None
        Random mean-preserving orthogonal matrix applied to the anomalies.

    Returns
    -------
    increment : (B, n) ndarray
    anomalies : (B, n, N) ndarray
    """
    n_members = x_anom.shape[-1]
    a = forget * (n_members - 1)
    scale = np.sqrt(rinv)
    yt = y_anom * scale[:, :, None]
    dt = innovation * scale
    lam, v = np.linalg.eigh(yt @ np.swapaxes(yt, 1, 2))
    lam = np.maximum(lam, 0.0)                      # round-off below zero on rank-deficient S
    root_a = np.sqrt(a)
    root_al = np.sqrt(a + lam)
    f = -1.0 / (root_a * root_al * (root_a + root_al))
    pv = (x_anom @ np.swapaxes(yt, 1, 2)) @ v        # X' Yt^T V          (B, n, m)
    vtd = np.einsum("bmk,bm->bk", v, dt) / (a + lam)
    increment = np.einsum("bnk,bk->bn", pv, vtd)
    anomalies = x_anom / np.sqrt(forget) + np.sqrt(n_members - 1) * (
        ((pv * f[:, None, :]) @ np.swapaxes(v, 1, 2)) @ yt)
    if rotation is not None:
        anomalies = anomalies @ rotation
    return increment, anomalies

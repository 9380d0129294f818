"""Inverse square roots and inverses of stacks of small symmetric positive definite matrices.

The local filters need, for every local domain, the symmetric inverse square root of a small
(about 16 x 16) symmetric positive definite matrix whose spectrum lies in a known interval. An
eigendecomposition per matrix (LAPACK's ``dsyevd`` through numpy's batched ``eigh``) spends its
time in level-2 operations and costs about as much as 60 to 90 batched 16 x 16 matrix products.
The coupled Newton-Schulz iteration needs only matrix products (numpy's batched ``matmul``, i.e.
one BLAS ``dgemm`` per matrix) and, for the well-conditioned matrices of a square-root filter
(``A^-1 = rho (N-1) I + ...`` has all eigenvalues at least ``rho (N-1)``), converges in four or
five iterations of three products each.

:func:`inverse_sqrt` iterates the whole stack until every matrix's residual
``||Z_k Y_k - I||_F`` is at most :data:`TOLERANCE`, then makes one last update, which squares
the residual (to below ``1e-16``); a matrix that converged earlier stays at its limit meanwhile
(the iteration is stable at its fixed point). Matrices not converged after ``max_iter``
iterations (condition numbers far beyond what the filters produce, or non-finite input) are
computed with ``numpy.linalg.eigh`` instead. :func:`inverse_apply` applies the inverse of a
well-conditioned matrix as a product of ``I + R^(2^j)`` factors, as many as its spectral bounds
require for a remainder below ``1e-16``. The results therefore equal the eigendecomposition's
to round-off, not to a looser tolerance. Scratch arrays come from a
:class:`~pdafpy.filters.workspace.Workspace` (reused from batch to batch).

References
----------
Higham, N. J. (1997). Stable iterations for the matrix square root. Numer. Algorithms 15,
227-242 (the coupled Newton-Schulz iteration).
Higham, N. J. (2008). Functions of Matrices: Theory and Computation. SIAM, Chapter 6.
"""

from __future__ import annotations

import numpy as np

from .workspace import Workspace

__all__ = ["TOLERANCE", "inverse_sqrt", "inverse_apply", "diagonal"]

#: Residual (Frobenius norm) below which one more step reaches round-off: the next residual is
#: ``(3 r^2 + r^3) / 4 < 1e-16`` per eigenvalue.
TOLERANCE = 1e-8


def diagonal(mats: np.ndarray) -> np.ndarray:
    """Writable view ``(B, k)`` of the diagonals of a C-contiguous stack ``(B, k, k)``."""
    b, k = mats.shape[0], mats.shape[-1]
    return mats.reshape(b, k * k)[:, ::k + 1]


def inverse_sqrt(ahat: np.ndarray, upper: np.ndarray, work: Workspace | None = None,
                 max_iter: int = 20) -> np.ndarray:
    """``ahat^(-1/2)`` (symmetric) of a stack of SPD matrices with eigenvalues in ``[1, upper]``.

    Coupled Newton-Schulz iteration ``T = (3 I - Z Y) / 2``, ``Y <- Y T``, ``Z <- T Z`` with
    ``Y -> ahat^(1/2)``, ``Z -> ahat^(-1/2)`` (carried as ``-Z/2``, so that one product gives
    ``T`` up to its diagonal). It starts from the linear polynomial ``Z_0 = alpha I + beta ahat``
    that minimises ``e_0 = max |1 - x (alpha + beta x)^2|`` over ``x in [1, upper]``
    (equioscillation at ``1``, ``s/3`` and ``upper`` with ``s = upper + sqrt(upper) + 1``:
    ``beta = -alpha/s``, ``alpha^2 = 2 / ((1 - 1/s)^2 + 4 s/27)``), which leaves a residual of
    0.1 at ``upper = 2.8`` instead of 0.48 for the scaled identity. Every eigenvalue's residual
    then obeys ``|e_(k+1)| <= (3 e_k^2 + |e_k|^3) / 4``: the residual norm is computed only from
    the iteration at which this bound reaches :data:`TOLERANCE`. About
    ``4 + log(upper) / log(2.25)`` iterations of three products each (the default ``max_iter``
    covers ``upper`` up to about 1e5).

    Parameters
    ----------
    ahat : (B, k, k) ndarray
        Symmetric positive definite, eigenvalues in ``[1, upper]``. Not changed.
    upper : (B,) ndarray
        Upper bounds (>= 1) of the eigenvalues, e.g. ``1 + ||ahat - I||_F``.
    work : Workspace, optional
        Scratch memory (``"ns_*"`` arrays); a fresh one if None.
    max_iter : int
        Iterations before the matrices not yet converged are computed with ``eigh``.

    Returns
    -------
    (B, k, k) ndarray
        The workspace array ``"ns_out"``.
    """
    work = Workspace() if work is None else work
    shape = ahat.shape
    out = work.array("ns_out", shape)
    if shape[0] == 0 or shape[-1] == 0:
        return out
    s = upper + np.sqrt(upper) + 1.0
    alpha = np.sqrt(2.0 / ((1.0 - 1.0 / s) ** 2 + 4.0 * s / 27.0))
    bound = float(np.max(alpha * alpha * 4.0 * s / 27.0 - 1.0))  # e_0
    z = work.array("ns_z", shape)
    np.multiply(ahat, (-alpha / s)[:, None, None], out=z)
    diagonal(z)[...] += alpha[:, None]                            # Z_0
    y = np.matmul(ahat, z, out=work.array("ns_y", shape))         # Y_0 = ahat Z_0
    z *= -0.5                                                     # -Z_0 / 2
    t = work.array("ns_t", shape)
    spare = work.array("ns_spare", shape)
    residual2 = np.full(shape[0], np.inf)
    for _ in range(max_iter):
        np.matmul(z, y, out=t)                                    # -Z Y / 2
        d = diagonal(t)
        if bound <= TOLERANCE:
            d += 0.5                                              # -(Z Y - I) / 2
            residual2 = 4.0 * np.einsum("bij,bij->b", t, t)
            d += 1.0
            if residual2.max() <= TOLERANCE * TOLERANCE:
                np.matmul(t, z, out=out)
                out *= -2.0
                return out
        else:
            d += 1.5                                              # T = (3 I - Z Y) / 2
        bound = (3.0 * bound * bound + bound ** 3) / 4.0
        np.matmul(y, t, out=spare)
        y, spare = spare, y
        np.matmul(t, z, out=spare)
        z, spare = spare, z
    np.multiply(z, -2.0, out=out)
    late = np.flatnonzero(~(residual2 <= TOLERANCE * TOLERANCE))
    lam, u = np.linalg.eigh(ahat[late])
    out[late] = (u / np.sqrt(lam)[:, None, :]) @ np.swapaxes(u, 1, 2)
    return out


def inverse_apply(h: np.ndarray, h_squared: np.ndarray, vectors: np.ndarray,
                  lower: np.ndarray | float, upper: np.ndarray | float,
                  work: Workspace | None = None) -> np.ndarray:
    """``(I + h)^-1 vectors`` for a stack of SPD ``I + h`` with eigenvalues in ``[lower, upper]``.

    For ``M = I + h``, ``X_0 = c (lower + upper) I - c M`` with
    ``c = 8 / (4 lower upper + (lower + upper)^2)`` is the linear polynomial that minimises
    ``max |1 - x X_0(x)|`` over the interval, at ``q = 1 - c lower upper`` (0.06 for
    ``upper/lower = 2``, 0.007 for 1.25). With ``R = I - M X_0`` (spectral radius at most ``q``),
    ``M^-1 = X_0 (I - R)^-1 = X_0 (I + R)(I + R^2)(I + R^4) ... (I + R^(2^(k-1))) + O(q^(2^k))``:
    the factors are applied to the vectors, with the smallest ``k`` for which
    ``q^(2^k) <= 1e-16`` (round-off; 3 for ``upper/lower = 1.25``, 4 for 2). Meant for
    well-conditioned matrices and few vectors.

    Parameters
    ----------
    h : (B, k, k) ndarray
        Not changed.
    h_squared : (B, k, k) ndarray
        ``h @ h`` (the caller has it); not changed.
    vectors : (B, k, q) ndarray
    lower, upper : (B,) ndarray or float
        Bounds of the eigenvalues of ``I + h``, ``0 < lower <= upper``.
    work : Workspace, optional
        Scratch memory (``"inv_*"`` arrays); a fresh one if None.

    Returns
    -------
    (B, k, q) ndarray
        The workspace array ``"inv_out"``.
    """
    work = Workspace() if work is None else work
    shape = h.shape
    out = work.array("inv_out", vectors.shape)
    if shape[0] == 0 or shape[-1] == 0:
        return out
    lower = np.broadcast_to(np.asarray(lower, dtype=float), shape[:1])
    upper = np.broadcast_to(np.asarray(upper, dtype=float), shape[:1])
    c = 8.0 / (4.0 * lower * upper + (lower + upper) ** 2)
    c1 = c * (lower + upper)
    q = float(np.max(1.0 - c * lower * upper))
    factors = 1
    while q ** (2 ** factors) > 1e-16:
        factors += 1
    # R = I - c1 M + c M^2 = (1 - c1 + c) I + (2 c - c1) h + c h^2
    r = np.multiply(h, (2.0 * c - c1)[:, None, None], out=work.array("inv_r", shape))
    spare = work.array("inv_spare", shape)
    r += np.multiply(h_squared, c[:, None, None], out=spare)
    diagonal(r)[...] += (1.0 - c1 + c)[:, None]
    np.copyto(out, vectors)
    tmp = work.array("inv_tmp", vectors.shape)
    for j in range(factors):
        out += np.matmul(r, out, out=tmp)                         # (I + R^(2^j)) ...
        if j + 1 < factors:
            np.matmul(r, r, out=spare)
            r, spare = spare, r
    np.matmul(h, out, out=tmp)                                    # X_0 = (c1 - c) I - c h
    out *= (c1 - c)[:, None, None]
    tmp *= c[:, None, None]
    out -= tmp
    return out

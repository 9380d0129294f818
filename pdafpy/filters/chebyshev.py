"""Functions of stacks of small SPD matrices applied to a few vectors, by Chebyshev series.

When a local analysis domain has few state elements (one grid column, one Lorenz-96 variable),
the transform of its observation-space analysis needs two matrix functions of
``Ahat = I + Yt Yt^T / a`` only as applied to ``n + 1`` vectors (``n`` state elements and the
innovation), not as matrices. On ``[1, upper]`` these functions (``1/x`` and
``1 / (x (1 + x^(-1/2)))``) are analytic with their nearest singularity at ``x = 0``, so their
Chebyshev coefficients fall like ``rho^-k`` with
``rho = (sqrt(upper) + 1) / (sqrt(upper) - 1)`` (4.3 for ``upper = 2.6``): about 25 terms reach
round-off. Clenshaw's recurrence then costs one product of the ``n + 1`` row vectors with the
matrix per term, ``(n + 1) x m`` by ``m x m``, instead of the dozen ``m x m`` products of a
Newton-Schulz inverse square root and the inverse that follows it
(:mod:`pdafpy.filters.newton_schulz`). The series are truncated where the sum of the absolute
values of the coefficients left out is below :data:`TOLERANCE` times the largest coefficient
(round-off, not a looser tolerance); :func:`series_coefficients` returns None where more than
:data:`MAX_TERMS` would be needed (``upper`` large), and the caller then iterates instead.

References
----------
Trefethen, L. N. (2019). Approximation Theory and Approximation Practice, extended edition.
SIAM, chapters 3, 8 (interpolation in Chebyshev points, decay of the coefficients of analytic
functions) and Clenshaw's recurrence.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from .workspace import Workspace

__all__ = ["TOLERANCE", "MAX_TERMS", "CACHE_BYTES", "block_size", "series_coefficients",
           "apply_to_rows"]

#: Truncation: the coefficients left out sum (in absolute value) to at most this fraction of the
#: largest one.
TOLERANCE = 2.0 ** -56
#: Largest number of terms worth summing; the interpolation uses twice as many points.
MAX_TERMS = 96
#: Bytes of matrices summed over together: every term streams them once, so they should stay in
#: the core's cache (a block of 512 16 x 16 or 155 29 x 29 matrices). Measured on a 2 MiB L2 with
#: 53 terms, 29 x 29 matrices took 13 us per domain in blocks of 64 to 128, 21 us in blocks of 512.
CACHE_BYTES = 2 ** 20


def block_size(m: int) -> int:
    """Matrices ``m x m`` summed over together: :data:`CACHE_BYTES` of them, at least 16."""
    return max(16, CACHE_BYTES // (8 * m * m))


def series_coefficients(functions: Sequence[Callable[[np.ndarray], np.ndarray]],
                        upper: float) -> tuple[float, np.ndarray] | None:
    """Chebyshev coefficients of ``functions`` on an interval ``[1, u]`` holding ``[1, upper]``.

    ``u - 1`` is ``upper - 1`` rounded up to a power of ``2^(1/8)``, so that a few intervals
    serve every batch and their coefficients are computed once each (cached per function tuple
    and interval), in extended precision (``numpy.longdouble``): a double-precision transform
    would leave a floor of rounding noise near 1e-15 in the coefficients.

    Parameters
    ----------
    functions : tuple of q callables
        Each maps an array of points (``numpy.longdouble``) in the interval to the function's
        values there. Hashable (module-level functions), since the result is cached.
    upper : float
        Upper bound (>= 1) of the eigenvalues.

    Returns
    -------
    (u, coeffs) or None
        ``coeffs`` ``(d + 1, q)``: ``f_j(x) = sum_k coeffs[k, j] T_k(t)`` with
        ``t = (2 x - u - 1) / (u - 1)``, ``d`` the smallest degree at which every coefficient
        left out is at most :data:`TOLERANCE` times the series' largest. None if that needs more
        than :data:`MAX_TERMS` terms.
    """
    step = int(np.ceil(8.0 * np.log2(max(float(upper) - 1.0, 2.0 ** -20))))
    return _coefficients(tuple(functions), step)


@lru_cache(maxsize=512)
def _coefficients(functions: tuple[Callable[[np.ndarray], np.ndarray], ...], step: int
                  ) -> tuple[float, np.ndarray] | None:
    """:func:`series_coefficients` on ``[1, 1 + 2^(step/8)]``."""
    long = np.longdouble
    width = long(2.0) ** (long(step) / long(8))
    points = 2 * MAX_TERMS
    theta = np.arccos(long(-1.0)) * (np.arange(points, dtype=long) + long(0.5)) / long(points)
    x = long(1.0) + long(0.5) * width * (np.cos(theta) + long(1.0))
    values = np.stack([np.asarray(f(x), dtype=long) for f in functions], axis=1)   # (P, q)
    cosines = np.cos(np.outer(np.arange(points, dtype=long), theta))                # (P, P)
    coeffs = (long(2.0) / long(points)) * np.einsum("kp,pq->kq", cosines, values)
    coeffs[0] *= long(0.5)
    size = np.abs(coeffs)
    envelope = np.maximum.accumulate(size[::-1], axis=0)[::-1]     # max of |c_j| for j >= k
    terms = np.flatnonzero(np.all(envelope <= TOLERANCE * size.max(axis=0), axis=1))
    if terms.size == 0 or terms[0] > MAX_TERMS:
        return None
    return float(1.0 + width), np.ascontiguousarray(coeffs[:max(int(terms[0]), 2)], dtype=float)


def apply_to_rows(ahat: np.ndarray, rows: np.ndarray, upper: float, coeffs: np.ndarray,
                  work: Workspace | None = None) -> np.ndarray:
    """Row ``j`` of every stack's ``rows`` times ``f_j(ahat)``, by Clenshaw's recurrence.

    Parameters
    ----------
    ahat : (B, m, m) ndarray
        Symmetric, eigenvalues in ``[1, upper]``. Not changed.
    rows : (B, q, m) ndarray
        Row vectors. Not changed.
    upper : float
        The upper end ``u`` of the interval of ``coeffs`` (from :func:`series_coefficients`).
    coeffs : (d + 1, q) ndarray
        From :func:`series_coefficients`.
    work : Workspace, optional
        Scratch memory (``"cheb_*"`` arrays); a fresh one if None.

    Returns
    -------
    (B, q, m) ndarray
        ``rows[:, j] @ f_j(ahat)`` (``= f_j(ahat) rows[:, j]``, ``ahat`` being symmetric): the
        workspace array ``"cheb_out"``.
    """
    work = Workspace() if work is None else work
    out = work.array("cheb_out", rows.shape)
    upper = max(float(upper), 1.0 + 1e-12)
    block = block_size(ahat.shape[-1])
    for start in range(0, ahat.shape[0], block):
        part = slice(start, start + block)
        _clenshaw(ahat[part], rows[part], upper, coeffs, work, out[part])
    return out


def _clenshaw(ahat: np.ndarray, rows: np.ndarray, upper: float, coeffs: np.ndarray,
              work: Workspace, out: np.ndarray) -> None:
    """:func:`apply_to_rows` on one block of matrices, into ``out``."""
    shape = rows.shape
    m = ahat.shape[-1]
    # 2 t(ahat) = (4 ahat - 2 (upper + 1) I) / (upper - 1): doubled once here, not every term
    t2 = np.multiply(ahat, 4.0 / (upper - 1.0), out=work.array("cheb_t", ahat.shape))
    t2.reshape(ahat.shape[0], m * m)[:, ::m + 1] -= 2.0 * (upper + 1.0) / (upper - 1.0)
    later = work.array("cheb_b2", shape)                 # b_(k+2)
    now = work.array("cheb_b1", shape)                   # b_(k+1)
    later.fill(0.0)
    np.multiply(rows, coeffs[-1][None, :, None], out=now)
    nxt = work.array("cheb_b0", shape)
    term = work.array("cheb_term", shape)
    for k in range(coeffs.shape[0] - 2, 0, -1):
        np.matmul(now, t2, out=nxt)                      # 2 b_(k+1) t
        nxt -= later
        nxt += np.multiply(rows, coeffs[k][None, :, None], out=term)
        later, now, nxt = now, nxt, later
    np.matmul(now, t2, out=out)
    out *= 0.5                                           # b_1 t
    out -= later
    out += np.multiply(rows, coeffs[0][None, :, None], out=term)

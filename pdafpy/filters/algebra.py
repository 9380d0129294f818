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
  ``f(lam) = ((a+lam)^-1/2 - a^-1/2)/lam = -1/(sqrt(a) sqrt(a+lam) (sqrt(a) + sqrt(a+lam)))``.
  This is the same symmetric square root, computed from an m x m instead of an N x N problem
  (zero eigenvalues of a rank-deficient ``Yt Yt^T``, e.g. from observations of weight 0, add
  nothing: their directions are not in the range of ``Yt^T``).

``A^(1/2)`` is always the symmetric square root (PDAF's ``type_sqrt = 0``). ``Q`` is the identity
for deterministic transforms, or a random mean-preserving orthogonal matrix (see
:func:`random_rotation`).

Local domains do not use an eigendecomposition: with ``Ahat = I + Yt Yt^T / a`` (eigenvalues in
``[1, 1 + ||Yt Yt^T||_F / a]``) and ``H = Ahat^(-1/2)`` from a Newton-Schulz iteration
(:mod:`pdafpy.filters.newton_schulz`), ``V diag(1/(a+lam)) V^T = H^2 / a`` and
``V diag(f(lam)) V^T = -a^(-3/2) (I + H)^-1 H^2``, where ``I + H`` has eigenvalues in
``[1 + (1 + ||Yt Yt^T||_F / a)^(-1/2), 2]`` (its inverse takes three or four Newton-Schulz
steps). In ensemble space ``A^(1/2) = H / sqrt(a)`` and ``A = H^2 / a`` with
``Ahat = A^-1 / a``. Both iterate each matrix to round-off (not to a looser tolerance), so the
results equal the eigendecomposition's to round-off. Where a domain has few state elements
(``n + 1`` rows ``[X' Yt^T; (Yt d)^T]`` against ``m x m`` matrices), the observation-space
update needs these functions of ``Ahat`` only as applied to those rows: ``1/x`` to the
innovation's, ``1 / (x (1 + x^(-1/2)))`` (which is ``(I + H)^-1 H^2``) to the others. Chebyshev
series on ``[1, upper]``, truncated at round-off (:mod:`pdafpy.filters.chebyshev`), then cost one
product of the rows with ``Ahat`` per term instead of the matrix iterations; :func:`_series`
chooses between the two by their measured costs, for every block of matrices summed over together
(:func:`~pdafpy.filters.chebyshev.block_size`) from that block's largest eigenvalue bound. The
global filters keep ``eigh`` (one matrix per analysis).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .chebyshev import CACHE_BYTES, apply_to_rows, block_size, series_coefficients
from .newton_schulz import diagonal, inverse_apply, inverse_sqrt
from .workspace import Workspace

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


def symmetric_inverse_sqrt(ainv: np.ndarray, rhs: np.ndarray, lower: float | None = None,
                           work: Workspace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``A^(1/2)`` (symmetric) and ``A rhs`` from a batch of symmetric positive definite ``A^-1``.

    Parameters
    ----------
    ainv : (B, k, k) ndarray
    rhs : (B, k) ndarray
    lower : float, optional
        A lower bound (> 0) of the eigenvalues of ``A^-1`` (``a = rho (N-1)``): the Newton-Schulz
        iteration of :func:`~pdafpy.filters.newton_schulz.inverse_sqrt` on ``A^-1 / lower``.
        None: one eigendecomposition per matrix (the global filters).
    work : Workspace, optional
        Scratch memory of the Newton-Schulz iteration.

    Returns
    -------
    sqrt_a : (B, k, k) ndarray
    solution : (B, k) ndarray
    """
    if lower is not None:
        work = Workspace() if work is None else work
        sqrt_a, solution = np.empty(ainv.shape), np.empty(rhs.shape)
        for part in cache_blocks(ainv.shape[0], ainv.shape[-1]):
            ahat = np.multiply(ainv[part], 1.0 / lower, out=work.array("ahat", ainv[part].shape))
            diagonal(ahat)[...] -= 1.0
            upper = 1.0 + np.sqrt(np.einsum("bij,bij->b", ahat, ahat))  # >= largest eigenvalue
            diagonal(ahat)[...] += 1.0
            h = inverse_sqrt(ahat, upper, work)                       # (A^-1 / lower)^(-1/2)
            solution[part] = (h @ (h @ rhs[part, :, None]))[:, :, 0] / lower
            np.multiply(h, 1.0 / np.sqrt(lower), out=sqrt_a[part])
        return sqrt_a, solution
    s, u = np.linalg.eigh(ainv)
    solution = np.einsum("bij,bj->bi", u, np.einsum("bji,bj->bi", u, rhs) / s)
    sqrt_a = (u / np.sqrt(s)[:, None, :]) @ np.swapaxes(u, 1, 2)
    return sqrt_a, solution


def estkf_transform(ainv: np.ndarray, rihld: np.ndarray, om: np.ndarray,
                    omega_r_t: np.ndarray, lower: float | None = None,
                    work: Workspace | None = None) -> np.ndarray:
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
    lower : float, optional
        ``a``: solve by Newton-Schulz iteration (see :func:`symmetric_inverse_sqrt`).
    work : Workspace, optional
        Its scratch memory.

    Returns
    -------
    (B, N, N) ndarray
        ``W`` such that ``X^a = mean 1^T + X' W``.
    """
    rank = om.shape[1]
    c, w = symmetric_inverse_sqrt(ainv, rihld, lower, work)
    t = np.sqrt(rank) * (c @ omega_r_t) + w[:, :, None]
    return om @ t


def etkf_transform(ainv: np.ndarray, riyd: np.ndarray, rotation: np.ndarray | None,
                   lower: float | None = None, work: Workspace | None = None) -> np.ndarray:
    """ETKF weight matrices ``W`` from ``A^-1`` and ``Y'^T R^-1 d``.

    Parameters
    ----------
    ainv : (B, N, N) ndarray
    riyd : (B, N) ndarray
    rotation : (N, N) ndarray or None
        Random mean-preserving orthogonal matrix ``Q`` (None: identity).
    lower : float, optional
        ``a``: solve by Newton-Schulz iteration (see :func:`symmetric_inverse_sqrt`).
    work : Workspace, optional
        Its scratch memory.

    Returns
    -------
    (B, N, N) ndarray
    """
    n = ainv.shape[-1]
    sqrt_a, w = symmetric_inverse_sqrt(ainv, riyd, lower, work)
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
                             rinv: np.ndarray, forget: float, rotation: np.ndarray | None,
                             work: Workspace | None = None) -> tuple[np.ndarray, np.ndarray]:
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
    work : Workspace, optional
        Scratch memory, reused by the next call: the returned anomalies are a workspace array.

    Returns
    -------
    increment : (B, n) ndarray
    anomalies : (B, n, N) ndarray
    """
    work = Workspace() if work is None else work
    b, n, n_members = x_anom.shape
    m = y_anom.shape[1]
    a = forget * (n_members - 1)
    anomalies = np.multiply(x_anom, 1.0 / np.sqrt(forget),
                            out=work.array("anomalies", x_anom.shape))
    if m == 0:
        increment = np.zeros((b, n))
    else:
        scale = np.sqrt(rinv)
        y_s = work.array("y_s", y_anom.shape)                         # Yt / sqrt(a)
        np.multiply(y_anom, (scale / np.sqrt(a))[:, :, None], out=y_s)
        y_s_t = np.swapaxes(y_s, 1, 2)
        ahat = np.matmul(y_s, y_s_t, out=work.array("ahat", (b, m, m)))   # Yt Yt^T / a
        upper = 1.0 + np.sqrt(np.einsum("bij,bij->b", ahat, ahat))    # >= its largest eigenvalue
        diagonal(ahat)[...] += 1.0
        rows = work.array("rows", (b, n + 1, m))              # [X' Yt^T / sqrt(a); (Yt d)^T]
        pv = np.matmul(x_anom, y_s_t, out=rows[:, :n])
        np.multiply(innovation, scale, out=rows[:, n])
        solved = work.array("solved", rows.shape)
        block = block_size(m)
        for start in range(0, b, block):          # each block of matrices for its own bound
            part = slice(start, start + block)
            series = _series(float(upper[part].max()), n + 1, m)
            if series is not None:                                    # few state elements
                u, coeffs = series
                np.copyto(solved[part], apply_to_rows(ahat[part], rows[part], u, coeffs, work))
            else:
                np.copyto(solved[part], _rows_by_iteration(ahat[part], upper[part], rows[part],
                                                           work))
        increment = np.einsum("bnk,bk->bn", pv, solved[:, n]) / np.sqrt(a)
        fw = np.multiply(solved[:, :n], scale[:, None, :],            # -a X' Yt^T F R^-1/2
                         out=work.array("fw", (b, n, m)))
        corr = np.matmul(fw, y_anom, out=work.array("corr", x_anom.shape))
        corr *= np.sqrt(n_members - 1) / a
        anomalies -= corr
    if rotation is not None:
        anomalies = np.matmul(anomalies, rotation, out=work.array("rotated", anomalies.shape))
    return increment, anomalies


def _inverse(x: np.ndarray) -> np.ndarray:
    """``1 / x``: ``Ahat^-1 = a A^-1`` as a function of ``Ahat``'s eigenvalues."""
    return 1.0 / x


def _square_root_correction(x: np.ndarray) -> np.ndarray:
    """``x^-1 / (1 + x^(-1/2))``: ``(I + H)^-1 H^2`` as a function of ``Ahat``'s eigenvalues."""
    return 1.0 / (x * (1.0 + 1.0 / np.sqrt(x)))


def _series(upper: float, n_rows: int, m: int) -> tuple[float, np.ndarray] | None:
    """The Chebyshev coefficients for :func:`observation_space_update` (rows ``0..n_rows-2``:
    :func:`_square_root_correction`, last row: :func:`_inverse`), or None where iterating on
    the matrices is cheaper.

    The series cost one product of the rows with an ``m x m`` matrix per term; the iteration
    about 16 products of ``m x m`` matrices. Measured on batches of 64 to 4096 matrices
    (``m`` 4 to 48, 2 to 33 rows, 24 to 51 terms; docs/filters.md), the series are the cheaper
    where ``terms * rows <= min(10, m / 2) * m``.
    """
    series = series_coefficients((_square_root_correction, _inverse), upper)
    if series is None or series[1].shape[0] * n_rows > min(10.0, m / 2.0) * m:
        return None
    u, pair = series
    coeffs = np.empty((pair.shape[0], n_rows))
    coeffs[:, :-1] = pair[:, :1]
    coeffs[:, -1] = pair[:, 1]
    return u, coeffs


def _rows_by_iteration(ahat: np.ndarray, upper: np.ndarray, rows: np.ndarray,
                       work: Workspace) -> np.ndarray:
    """What :func:`~pdafpy.filters.chebyshev.apply_to_rows` computes for
    :func:`observation_space_update`, by Newton-Schulz iterations on the matrices.

    Parameters
    ----------
    ahat : (B, m, m) ndarray
        ``I + Yt Yt^T / a``.
    upper : (B,) ndarray
        Upper bounds of its eigenvalues.
    rows : (B, n + 1, m) ndarray
        ``[X' Yt^T; (Yt d)^T]``.
    work : Workspace

    Returns
    -------
    (B, n + 1, m) ndarray
        ``[X' Yt^T (I + H)^-1 H^2; (H^2 Yt d)^T]`` with ``H = Ahat^(-1/2)``.
    """
    n = rows.shape[1] - 1
    out = work.array("rows_solved", rows.shape)
    for part in cache_blocks(ahat.shape[0], ahat.shape[-1]):
        h = inverse_sqrt(ahat[part], upper[part], work)               # H = Ahat^(-1/2)
        h2 = np.matmul(h, h, out=work.array("h2", h.shape))           # Ahat^-1 = a A^-1
        block_rows = rows[part]
        vec = np.matmul(h2, np.swapaxes(block_rows, 1, 2),
                        out=work.array("vec_tmp", block_rows.shape[:1] + block_rows.shape[:0:-1]))
        fw = inverse_apply(h, h2, vec, 1.0 + 1.0 / np.sqrt(upper[part]), 2.0, work)
        np.copyto(out[part, :n], np.swapaxes(fw[:, :, :n], 1, 2))
        np.copyto(out[part, n], vec[:, :, n])
    return out


def cache_blocks(batch: int, k: int) -> list[slice]:
    """Slices of a batch of ``k x k`` matrices, each holding about
    :data:`~pdafpy.filters.chebyshev.CACHE_BYTES` / 2 of one matrix array.

    The iterations keep about six such arrays. In blocks that stay in the core's cache (measured
    on a 2 MiB L2) the observation-space iteration alone ran 7 to 9 % faster for 16 x 16 matrices
    (blocks of 256 instead of 512) and 16 to 22 % for 29 x 29 and 31 x 31 (blocks of 64 to 77); a
    whole observation-space update of 16 or 30 state elements 8 to 15 %, the ensemble-space
    transform (N = 32) 5 %.
    """
    size = max(16, CACHE_BYTES // (16 * k * k))
    return [slice(start, start + size) for start in range(0, batch, size)]

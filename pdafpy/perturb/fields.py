"""Standard-normal perturbation fields on a block of the global grid, identical on every layout.

A field is uniform per member, independent per column, or a stationary Gaussian random field:
a sum of random Fourier modes ("randomisation method", Shinozuka & Deodatis 1991; Mantoglou &
Wilson 1982) evaluated only on the rank's columns: no global grid, no FFT, cost
``O(n_modes * local columns)``, no periodic wrap-around.

The spherical covariance of range ``a`` (LI's texture variogram),
``C(r) = 1 - 1.5 r/a + 0.5 (r/a)^3`` for ``r < a`` and 0 beyond, is the overlap volume of two
balls of diameter ``a`` whose centres are ``r`` apart, so in 3-D its spectral density is the
squared Fourier transform of a ball of radius ``R = a/2``: ``|k|`` is distributed as
``u/R`` with ``u`` of density ``(6/pi) (sin u - u cos u)^2 / u^4`` on ``(0, inf)`` and the
direction uniform on the sphere. The covariance on a plane is the 3-D one restricted to it,
whose 2-D spectral density is the 3-D one integrated over ``k_z``: drawing a 3-D wave vector
and dropping ``k_z`` samples it exactly. ``u`` is drawn by inverting its closed-form CDF
(:func:`_spherical_cdf`) on a table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Tuple

import numpy as np
from scipy import special

from ..decomposition import Box
from ..errors import ConfigError
from ..random import standard_normal
from .checks import BoxLike, check_box, check_grid, check_int, check_members, check_positive

__all__ = ["SpatialStructure", "standard_field"]

_MODE_STRIDE = 8          # index slots per Fourier mode (5 used; 6 by "spherical")
#: Covariances of a "correlated" field.
COVARIANCES = ("exponential", "gaussian", "spherical")


@dataclass(frozen=True)
class SpatialStructure:
    """How a perturbation varies in the horizontal.

    Attributes
    ----------
    kind : {"uniform", "independent", "correlated"}
        ``"uniform"``: one value per member for the whole grid (the studies' default);
        ``"independent"``: white in space, one draw per global column;
        ``"correlated"``: a stationary Gaussian random field with correlation length
        ``correlation_length_m`` (random Fourier modes, :func:`standard_field`).
    correlation_length_m : float, m
        ``L`` with correlation ``C(L) = exp(-1)``: ``exp(-r/L)`` ("exponential") or
        ``exp(-(r/L)^2)`` ("gaussian"); for "spherical" the range ``a``:
        ``C(r) = 1 - 1.5 r/a + 0.5 (r/a)^3`` for ``r < a``, 0 beyond (see the module notes).
    covariance : {"exponential", "gaussian", "spherical"}
    dx_m, dy_m : float, m
        Grid spacing along x (columns) and y (rows); the position of column ``(row, col)`` is
        ``(col * dx_m, row * dy_m)``.
    n_modes : int
        Fourier modes per field. Each member's field is exactly N(0, 1) at every point; its
        spatial covariance equals ``C`` in expectation over members, with O(1/sqrt(2 n_modes))
        scatter per member (0.044 for 256).
    """

    kind: str = "uniform"
    correlation_length_m: Optional[float] = None
    covariance: str = "exponential"
    dx_m: float = 1.0
    dy_m: float = 1.0
    n_modes: int = 256

    def __post_init__(self) -> None:
        if self.kind not in ("uniform", "independent", "correlated"):
            raise ConfigError(f"spatial.kind={self.kind!r} must be 'uniform', 'independent' or "
                              "'correlated'")
        if self.kind == "correlated":
            if self.correlation_length_m is None:
                raise ConfigError("spatial.correlation_length_m=None: a correlated field needs "
                                  "a correlation length in metres > 0")
            check_positive("spatial.correlation_length_m", self.correlation_length_m)
            check_positive("spatial.dx_m", self.dx_m)
            check_positive("spatial.dy_m", self.dy_m)
            check_int("spatial.n_modes", self.n_modes, 1)
            if self.covariance not in COVARIANCES:
                raise ConfigError(f"spatial.covariance={self.covariance!r} must be "
                                  "'exponential', 'gaussian' or 'spherical'")


#: Values per temporary array of :func:`_fourier_field` (bounds its memory to ~16 MB).
_FIELD_CHUNK_VALUES = 2 ** 21


def _fourier_field(seed: int, purpose: str, cycle: int, members: np.ndarray, stream: int,
                   box: Box, sp: SpatialStructure) -> np.ndarray:
    """Sum of random Fourier modes on the box's columns; (n_members, ny, nx), N(0, 1)."""
    n_modes = sp.n_modes
    length = float(sp.correlation_length_m)
    base = (np.uint64(stream) * np.uint64(n_modes) + np.arange(n_modes, dtype=np.uint64)) \
        * np.uint64(_MODE_STRIDE)
    mem = members.astype(np.uint64)[:, None]
    n_draws = 6 if sp.covariance == "spherical" else 5
    index = base[None, None, :] + np.arange(n_draws, dtype=np.uint64)[None, :, None]
    draws = standard_normal(seed, purpose, cycle, mem[:, :, None], index)   # (n_members, 5|6, M)
    g = [draws[:, j] for j in range(n_draws)]                               # each (n_members, M)
    if sp.covariance == "exponential":
        # 2-D spectral density of exp(-r/L) is bivariate Cauchy: k = g / (L |w|)
        scale = 1.0 / (length * np.maximum(np.abs(g[2]), 1e-300))
    elif sp.covariance == "gaussian":
        # exp(-r^2/L^2) has spectral density N(0, 2/L^2 I)
        scale = np.full_like(g[2], math.sqrt(2.0) / length)
    else:
        # spherical of range a: a 3-D wave vector |k| = u / (a/2) in direction (g0, g1, g5)/|.|,
        # its k_z dropped (module notes)
        norm = np.maximum(np.sqrt(g[0] ** 2 + g[1] ** 2 + g[5] ** 2), 1e-300)
        scale = _spherical_radius(g[2]) / (0.5 * length * norm)
    kx, ky, a, b = g[0] * scale, g[1] * scale, g[3], g[4]
    x = np.arange(box.x0, box.x1, dtype=float) * float(sp.dx_m)
    y = np.arange(box.y0, box.y1, dtype=float) * float(sp.dy_m)
    # a cos(kx x + ky y) + b sin(...) = cos(ky y) u(x) + sin(ky y) v(x): trig on 1-D vectors only
    ax = kx[:, :, None] * x[None, None, :]
    ca, sa = np.cos(ax), np.sin(ax)
    u = a[:, :, None] * ca + b[:, :, None] * sa                      # (n_members, M, nx)
    v = b[:, :, None] * ca - a[:, :, None] * sa
    by = ky[:, :, None] * y[None, None, :]
    cb, sb = np.cos(by), np.sin(by)                                  # (n_members, M, ny)
    # terms cos(ky y) u, sin(ky y) v of mode 0, then of mode 1, ...: summed strictly in this order
    # (a running sum, never pairwise), so every layout gets the same numbers
    acc = np.zeros((members.size, 1, box.ny, box.nx))
    chunk = max(1, _FIELD_CHUNK_VALUES // max(1, 2 * members.size * box.ny * box.nx))
    for m0 in range(0, n_modes, chunk):
        m1 = min(n_modes, m0 + chunk)
        terms = np.empty((members.size, 1 + 2 * (m1 - m0), box.ny, box.nx))
        terms[:, :1] = acc
        terms[:, 1::2] = cb[:, m0:m1, :, None] * u[:, m0:m1, None, :]
        terms[:, 2::2] = sb[:, m0:m1, :, None] * v[:, m0:m1, None, :]
        acc = np.add.accumulate(terms, axis=1, out=terms)[:, -1:]
    return acc[:, 0] * (1.0 / math.sqrt(n_modes))


def _spherical_cdf(u: np.ndarray) -> np.ndarray:
    """CDF of ``u = |k| a/2`` for the spherical covariance of range ``a`` (module notes).

    ``P(u) = (2/pi) [Si(2u) - 1/u - sin(u)^2/u - sin(u)^2/u^3 + sin(2u)/u^2]``, the integral of
    the density ``(6/pi) (sin u - u cos u)^2 / u^4``; below ``u = 0.3`` its series
    ``(6/pi) (u^3/27 - u^5/225 + u^7/3675 - 4 u^9/382725)`` (the closed form cancels there).
    """
    u = np.asarray(u, dtype=float)
    small = u < 0.3
    us = np.where(small, 1.0, u)
    s2 = np.sin(us) ** 2
    closed = (2.0 / math.pi) * (special.sici(2.0 * us)[0] - 1.0 / us - s2 / us - s2 / us ** 3
                                + np.sin(2.0 * us) / us ** 2)
    series = (6.0 / math.pi) * (u ** 3 / 27.0 - u ** 5 / 225.0 + u ** 7 / 3675.0
                                - 4.0 * u ** 9 / 382725.0)
    return np.where(small, series, closed)


@lru_cache(maxsize=1)
def _spherical_table() -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log u`` from 1e-3 to 1e4 and ``log P(u)``, ``log(1 - P(u))``: geometric steps to
    ``u = 10``, then steps of 0.05, which resolve the density's oscillation (period pi)."""
    u = np.concatenate([np.geomspace(1e-3, 10.0, 4000, endpoint=False),
                        np.arange(10.0, 1e4 + 0.025, 0.05)])
    p = _spherical_cdf(u)
    return np.log(u), np.log(p), np.log(np.maximum(1.0 - p, 1e-300))


def _spherical_radius(z: np.ndarray) -> np.ndarray:
    """``u = P^-1(Phi(z))``: the spherical spectral radius of standard-normal draws ``z``.

    Interpolated in ``log u`` against ``log P`` (lower half) or ``log(1 - P)`` (upper half) on
    :func:`_spherical_table`; beyond it the asymptotes ``P ~ 2 u^3 / (9 pi)`` and
    ``1 - P ~ 3 / (pi u)``.
    """
    lu, lp, lq = _spherical_table()
    lower = special.log_ndtr(z)                 # log Phi(z)
    upper = special.log_ndtr(-z)                # log(1 - Phi(z))
    low = np.exp(np.interp(lower, lp, lu))
    high = np.exp(np.interp(-upper, -lq, lu))
    low = np.where(lower < lp[0], np.cbrt(4.5 * math.pi * np.exp(lower)), low)
    high = np.where(upper < lq[-1], 3.0 / (math.pi * np.exp(upper)), high)
    return np.where(z <= 0.0, low, high)


def standard_field(seed: int, purpose: str, cycle: int, members, stream: int, box: BoxLike,
                   grid_shape: Tuple[int, int], spatial: SpatialStructure = SpatialStructure()
                   ) -> np.ndarray:
    """Standard-normal perturbation field of the given members on a box of the global grid.

    Parameters
    ----------
    seed, purpose, cycle
        Keys of :func:`pdafpy.random.standard_normal`.
    members : (n,) int
        Global member indices, any order.
    stream : int >= 0
        Which variable/layer/fraction (folded into ``index``; see :mod:`pdafpy.perturb`).
    box : Box or (y0, y1, x0, x1)
        The block of global columns wanted.
    grid_shape : (Ny, Nx)
        The global grid.
    spatial : SpatialStructure

    Returns
    -------
    (n, 1, 1) float64 for ``spatial.kind == "uniform"``, else (n, box.ny, box.nx); marginally
    N(0, 1). Identical numbers for a member/column whatever the box, member order or rank.

    Notes
    -----
    Correlated fields: ``f(p) = M^-1/2 sum_m a_m cos(k_m.p) + b_m sin(k_m.p)`` with ``a_m, b_m``
    ~ N(0, 1) and wave vectors ``k_m`` drawn from the covariance's spectral density (bivariate
    Cauchy with scale 1/L for ``exp(-r/L)``, N(0, 2/L^2) for ``exp(-r^2/L^2)``, the projected
    3-D density of a ball's overlap for the spherical model, module notes). Given the
    modes, ``f(p)`` is exactly N(0, 1); ``E[f(p) f(q)] = C(|p - q|)``. Memory ~
    ``8 * n * M * (ny + nx) * 6`` bytes for the mode tables plus the ``(n, ny, nx)`` result; no
    global array.
    """
    grid = check_grid(grid_shape)
    bx = check_box(box, grid)
    mem = check_members("members", members, 2**62)
    stream = check_int("stream", stream)
    if spatial.kind == "uniform":
        return standard_normal(seed, purpose, cycle, mem[:, None, None],
                               np.full((1, 1), stream, dtype=np.uint64))
    if spatial.kind == "independent":
        ny, nx = grid
        gid = (np.arange(bx.y0, bx.y1, dtype=np.uint64)[:, None] * np.uint64(nx)
               + np.arange(bx.x0, bx.x1, dtype=np.uint64)[None, :])
        idx = np.uint64(stream) * np.uint64(ny * nx) + gid
        return standard_normal(seed, purpose, cycle, mem[:, None, None], idx[None, :, :])
    return _fourier_field(seed, purpose, cycle, mem, stream, bx, spatial)

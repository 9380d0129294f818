"""Ensemble generation: perturbations of forcing, initial states and soil parameters.

Every random number comes from :mod:`pdafpy.random`, keyed by
``(seed, purpose, cycle, member, index)`` where ``member`` is the *global* member index and
``index`` is derived from the *global* grid position, so a rank that computes any member for
any block of columns gets exactly the numbers every other layout gets (bit for bit): the same
member on 1 or 4096 ranks, members in any order, a grid split in any boxes.

Keys
----
* ``cycle``: the time-step counter (forcing) or the cycle at which a state/parameter is
  perturbed (0 for the initial ensemble).
* ``index``: one *stream* ``s`` per variable, layer or texture fraction is folded in:

  - spatially uniform: ``index = s``;
  - independent per column: ``index = s * (Ny * Nx) + (row * Nx + col)`` (for a layer ``s`` this
    is the C-order index of cell ``(layer, row, col)`` of the global ``(levels, Ny, Nx)`` array);
  - correlated field: the random Fourier modes ``m`` of stream ``s`` use
    ``index = (s * n_modes + m) * 8 + j`` for their components ``j`` (see :func:`standard_field`).

Choices (see ``docs/perturbations.md`` for the why)
--------------------------------------------------
* **Truncation** of the standard-normal innovations at ``+-c`` sd (c = 2.5 in the HEY study) is
  deterministic and redraw-free: by default a *variance-preserving quantile map*
  (:func:`truncate_normal`), which maps N(0, 1) monotonically onto a truncated normal on
  ``[-c', c']`` and rescales it to unit variance with ``c'`` chosen so the bound after
  rescaling is exactly ``c``. Unit variance keeps the AR(1) stationary variance and the
  Cholesky cross-correlation exact. Plain clipping is available (its variance is 0.978 for
  c = 2.5).
* **Spatially correlated fields** are sums of random Fourier modes ("randomisation method",
  Shinozuka & Deodatis 1991; Mantoglou & Wilson 1982) evaluated only on the rank's columns:
  no global grid, no FFT, cost ``O(n_modes * local columns)``, no periodic wrap-around.
* **Pedotransfer rules**: Cosby et al. (1984) univariate regressions in the form CLM 3.5 uses
  (continuous in texture: Ks, theta_s, psi_s, Clapp-Hornberger b; van Genuchten by matching
  the dry-end asymptote), and the Rosetta class-average table (Schaap et al. 2001) with the
  USDA texture triangle (van Genuchten theta_r, theta_s, alpha, n, Ks directly).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from scipy import optimize, special

from .decomposition import Box
from .errors import ConfigError
from .random import standard_normal

__all__ = [
    "FORCING_VARIABLES",
    "DEFAULT_KIND",
    "SpatialStructure",
    "ForcingVariable",
    "ForcingPerturbation",
    "truncate_normal",
    "truncation_inner_limit",
    "standard_field",
    "perturb_state",
    "perturb_log10_ks",
    "perturb_texture",
    "cosby1984",
    "USDA_CLASSES",
    "usda_texture_class",
    "rosetta_class_average",
]

BoxLike = Union[Box, Sequence[int]]

#: Forcing variables the perturbations know (the names of ``models/forcing.py``).
FORCING_VARIABLES = ("precipitation", "shortwave", "longwave", "air_temperature",
                     "specific_humidity", "wind_speed", "surface_pressure")
#: The studies' convention: fluxes that must stay >= 0 are multiplied, the rest offset.
DEFAULT_KIND = {"precipitation": "multiplicative", "shortwave": "multiplicative",
                "longwave": "additive", "air_temperature": "additive",
                "specific_humidity": "multiplicative", "wind_speed": "multiplicative",
                "surface_pressure": "additive"}
_KINDS = ("multiplicative", "additive")
_MODE_STRIDE = 8          # index slots per Fourier mode (5 used)


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------

def _int(name: str, value, lo: int = 0, hi: Optional[int] = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name}={value!r} must be an integer")
    v = int(value)
    if v < lo or (hi is not None and v >= hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi})"
        raise ConfigError(f"{name}={value!r} must be an integer {rng}")
    return v


def _pos(name: str, value, allow_inf: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} must be a number > 0") from None
    if not (v > 0.0) or (math.isinf(v) and not allow_inf) or math.isnan(v):
        raise ConfigError(f"{name}={value!r} must be a {'' if allow_inf else 'finite '}"
                          "number > 0")
    return v


def _nonneg(name: str, value) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} must be a finite number >= 0") from None
    if not math.isfinite(v) or v < 0.0:
        raise ConfigError(f"{name}={value!r} must be a finite number >= 0")
    return v


def _grid(grid_shape) -> Tuple[int, int]:
    try:
        ny, nx = grid_shape
    except (TypeError, ValueError):
        raise ConfigError(f"grid_shape={grid_shape!r} must be (Ny, Nx), the global grid") from None
    return _int("grid_shape[0] (Ny)", ny, 1), _int("grid_shape[1] (Nx)", nx, 1)


def _box(box: BoxLike, grid: Tuple[int, int]) -> Box:
    if not isinstance(box, Box):
        try:
            y0, y1, x0, x1 = (int(v) for v in box)
        except (TypeError, ValueError):
            raise ConfigError(f"box={box!r} must be a Box or (y0, y1, x0, x1)") from None
        box = Box(y0, y1, x0, x1)
    ny, nx = grid
    if not (0 <= box.y0 <= box.y1 <= ny and 0 <= box.x0 <= box.x1 <= nx):
        raise ConfigError(f"box={box} must lie in the global grid of shape {grid} "
                          "(0 <= y0 <= y1 <= Ny, 0 <= x0 <= x1 <= Nx)")
    return box


def _members(name: str, members, n_members: int) -> np.ndarray:
    m = np.atleast_1d(np.asarray(members))
    if m.ndim != 1 or (m.size and m.dtype.kind not in "iu"):
        raise ConfigError(f"{name}={members!r} must be a 1-D sequence of member indices")
    m = m.astype(np.int64)
    if m.size and (m.min() < 0 or m.max() >= n_members):
        raise ConfigError(f"{name}={members!r} must lie in [0, n_members={n_members})")
    if np.unique(m).size != m.size:
        raise ConfigError(f"{name}={members!r} must not repeat a member")
    return m


def _correlation(name: str, corr, n: int) -> np.ndarray:
    """Validate a correlation matrix and return its lower Cholesky factor."""
    if corr is None:
        return np.eye(n)
    c = np.asarray(corr, dtype=float)
    if c.shape != (n, n):
        raise ConfigError(f"{name} has shape {c.shape}, expected ({n}, {n})")
    if not np.all(np.isfinite(c)):
        raise ConfigError(f"{name} must be finite")
    if not np.allclose(c, c.T, rtol=0.0, atol=1e-12):
        raise ConfigError(f"{name} must be symmetric (max |C - C^T| = "
                          f"{np.abs(c - c.T).max():.3g})")
    if not np.allclose(np.diag(c), 1.0, rtol=0.0, atol=1e-12):
        raise ConfigError(f"{name} must have a unit diagonal, got {np.diag(c).tolist()}")
    try:
        return np.linalg.cholesky(c)
    except np.linalg.LinAlgError:
        lam = np.linalg.eigvalsh(c).min()
        raise ConfigError(f"{name} must be positive definite (smallest eigenvalue "
                          f"{lam:.3g})") from None


# --------------------------------------------------------------------------------------------
# truncation
# --------------------------------------------------------------------------------------------

def _tn_sd(c: float) -> float:
    """Standard deviation of N(0, 1) truncated to [-c, c]."""
    mass = 2.0 * special.ndtr(c) - 1.0
    return math.sqrt(1.0 - 2.0 * c * math.exp(-0.5 * c * c) / math.sqrt(2.0 * math.pi) / mass)


_INNER_CACHE: Dict[float, float] = {}


def truncation_inner_limit(limit_sd: float) -> float:
    """The inner bound ``c'`` of the variance-preserving truncation at ``limit_sd``.

    ``c' / sd(TN(-c', c')) = limit_sd``: the normal truncated at ``c'`` and rescaled to unit
    variance has bound ``limit_sd``. For ``limit_sd = 2.5``, ``c' = 2.3414``. Requires
    ``limit_sd >= 1.75``: the ratio tends to sqrt(3) (the uniform distribution's max/sd) as
    ``c' -> 0``.
    """
    c = float(limit_sd)
    if not c >= 1.75:
        raise ConfigError(f"truncate_sd={limit_sd!r} must be >= 1.75 (> sqrt(3)) for the "
                          "variance-preserving truncation (use truncation='clip' below)")
    if c >= 30.0:
        return c
    if c not in _INNER_CACHE:
        _INNER_CACHE[c] = optimize.brentq(lambda t: t / _tn_sd(t) - c, 0.05, c, xtol=1e-14)
    return _INNER_CACHE[c]


def truncate_normal(z: np.ndarray, limit_sd: Optional[float], method: str = "quantile"
                    ) -> np.ndarray:
    """Deterministic, redraw-free truncation of standard-normal deviates at ``+-limit_sd``.

    Parameters
    ----------
    z : ndarray float
        Standard-normal deviates, any shape.
    limit_sd : float or None
        The bound in standard deviations (2.5 in the HEY study); None returns ``z`` unchanged.
    method : {"quantile", "clip"}
        ``"quantile"`` (default): the monotone map ``t = Phi^-1(Phi(-c') + (1 - 2 Phi(-c'))
        Phi(z)) / s(c')`` sends N(0, 1) exactly onto the normal truncated to ``[-c', c']``,
        rescaled by its sd ``s(c')`` to **unit variance**; ``c'`` is chosen so that the bound
        after rescaling is ``limit_sd`` (:func:`truncation_inner_limit`). Unit variance keeps
        the AR(1) stationary variance and Cholesky correlations exact. Evaluated through the
        upper tail for ``z > 0`` so the map is exactly odd.
        ``"clip"``: ``clip(z, -c, c)``; variance ``< 1`` (0.9776 for c = 2.5).

    Returns
    -------
    ndarray float64, shape of ``z``; ``|t| <= limit_sd``.
    """
    z = np.asarray(z, dtype=float)
    if limit_sd is None:
        return z
    if method == "clip":
        c = _pos("truncate_sd", limit_sd)
        return np.clip(z, -c, c)
    if method != "quantile":
        raise ConfigError(f"truncation={method!r} must be 'quantile' or 'clip'")
    c_in = truncation_inner_limit(limit_sd)
    if c_in >= 30.0:
        return z
    s = _tn_sd(c_in)
    p0 = special.ndtr(-c_in)
    w = 1.0 - 2.0 * p0
    t = special.ndtri(p0 + special.ndtr(-np.abs(z)) * w)        # <= 0, the lower half
    t = np.where(z > 0.0, -t, t) / s
    return np.clip(t, -float(limit_sd), float(limit_sd))       # guards the last ulp


# --------------------------------------------------------------------------------------------
# spatial structure and standard-normal fields
# --------------------------------------------------------------------------------------------

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
        ``exp(-(r/L)^2)`` ("gaussian"). A spherical variogram of range ``a`` is commonly
        approximated by an exponential with ``L = a/3`` (same practical range).
    covariance : {"exponential", "gaussian"}
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
            _pos("spatial.correlation_length_m", self.correlation_length_m)
            _pos("spatial.dx_m", self.dx_m)
            _pos("spatial.dy_m", self.dy_m)
            _int("spatial.n_modes", self.n_modes, 1)
            if self.covariance not in ("exponential", "gaussian"):
                raise ConfigError(f"spatial.covariance={self.covariance!r} must be "
                                  "'exponential' or 'gaussian'")


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
    index = base[None, None, :] + np.arange(5, dtype=np.uint64)[None, :, None]
    draws = standard_normal(seed, purpose, cycle, mem[:, :, None], index)   # (n_members, 5, M)
    g = [draws[:, j] for j in range(5)]                                     # each (n_members, M)
    if sp.covariance == "exponential":
        # 2-D spectral density of exp(-r/L) is bivariate Cauchy: k = g / (L |w|)
        scale = 1.0 / (length * np.maximum(np.abs(g[2]), 1e-300))
    else:
        # exp(-r^2/L^2) has spectral density N(0, 2/L^2 I)
        scale = np.full_like(g[2], math.sqrt(2.0) / length)
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
        Which variable/layer/fraction (folded into ``index``; see the module docstring).
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
    Cauchy with scale 1/L for ``exp(-r/L)``, N(0, 2/L^2) for ``exp(-r^2/L^2)``). Given the
    modes, ``f(p)`` is exactly N(0, 1); ``E[f(p) f(q)] = C(|p - q|)``. Memory ~
    ``8 * n * M * (ny + nx) * 6`` bytes for the mode tables plus the ``(n, ny, nx)`` result; no
    global array.
    """
    grid = _grid(grid_shape)
    bx = _box(box, grid)
    mem = _members("members", members, 2**62)
    stream = _int("stream", stream)
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


# --------------------------------------------------------------------------------------------
# forcing perturbations
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ForcingVariable:
    """The perturbation of one forcing variable.

    Attributes
    ----------
    name : str
        One of :data:`FORCING_VARIABLES` (``"precipitation"``, ``"shortwave"``, ``"longwave"``,
        ``"air_temperature"``, ...).
    sd : float >= 0
        ``"additive"``: sd of the offset, in the variable's unit (K, W m-2). ``"multiplicative"``:
        sd of the factor in linear space when ``sd_space="factor"`` (the HEY/KW26 convention:
        log-space sd ``s = sqrt(ln(1 + sd^2))``), or ``s`` itself when ``sd_space="log"``.
    kind : {"multiplicative", "additive"} or None
        None takes :data:`DEFAULT_KIND` (P, SW multiplicative; LW, T additive).
    time_scale_s : float > 0, math.inf, or None; s
        AR(1) time scale ``tau``: ``phi = exp(-dt/tau)`` (24 h in the studies). ``None``: white
        in time (``phi = 0``); ``math.inf``: one draw per member, constant in time (Z25).
    mean : float or None
        Mean factor (default 1) or mean offset (default 0). Z25's constant precipitation factor
        0.95 is ``mean=0.95, lognormal_bias_correction=False`` in the perturbation.
    sd_space : {"factor", "log"}
        See ``sd``; ignored for additive variables.
    """

    name: str
    sd: float
    kind: Optional[str] = None
    time_scale_s: Optional[float] = 86400.0
    mean: Optional[float] = None
    sd_space: str = "factor"

    def __post_init__(self) -> None:
        if self.name not in FORCING_VARIABLES:
            raise ConfigError(f"forcing variable name={self.name!r} is unknown; expected one of "
                              f"{FORCING_VARIABLES}")
        kind = DEFAULT_KIND[self.name] if self.kind is None else self.kind
        if kind not in _KINDS:
            raise ConfigError(f"{self.name}.kind={self.kind!r} must be 'multiplicative' or "
                              "'additive'")
        object.__setattr__(self, "kind", kind)
        _nonneg(f"{self.name}.sd", self.sd)
        if self.time_scale_s is not None:
            _pos(f"{self.name}.time_scale_s", self.time_scale_s, allow_inf=True)
        if self.sd_space not in ("factor", "log"):
            raise ConfigError(f"{self.name}.sd_space={self.sd_space!r} must be 'factor' or "
                              "'log'")
        mean = (1.0 if kind == "multiplicative" else 0.0) if self.mean is None else self.mean
        try:
            mean = float(mean)
        except (TypeError, ValueError):
            raise ConfigError(f"{self.name}.mean={self.mean!r} must be a number") from None
        if not math.isfinite(mean) or (kind == "multiplicative" and mean <= 0.0):
            raise ConfigError(f"{self.name}.mean={self.mean!r} must be finite"
                              + (" and > 0 for a multiplicative factor"
                                 if kind == "multiplicative" else ""))
        object.__setattr__(self, "mean", mean)

    @property
    def log_sd(self) -> float:
        """Log-space sd ``s`` of a multiplicative factor (or ``sd`` of an additive offset)."""
        if self.kind == "additive" or self.sd_space == "log":
            return float(self.sd)
        return math.sqrt(math.log1p(float(self.sd) ** 2))

    def phi(self, dt_s: float) -> float:
        """AR(1) coefficient ``exp(-dt/tau)`` (0 for white noise, 1 for constant)."""
        if self.time_scale_s is None:
            return 0.0
        return math.exp(-dt_s / float(self.time_scale_s))


class ForcingPerturbation:
    """Cross-correlated, AR(1)-in-time forcing perturbations for the members a rank holds.

    The standardised perturbation ``e`` (one per member, variable and column) follows

    ``e_t = phi e_{t-1} + sqrt(1 - phi^2) w_t,  w_t = L z_t``,  ``phi = exp(-dt/tau)``,

    with ``z_t`` independent standard-normal fields (truncated at ``truncate_sd``, see
    :func:`truncate_normal`) drawn with ``cycle = t`` and ``L`` the Cholesky factor of the
    cross-correlation matrix. The first step draws ``e = w`` (stationary from the start). The
    output is

    * multiplicative: ``mean * exp(s e - s^2/2)`` (mean ``mean`` in linear space for normal
      ``e``) or ``mean * exp(s e)`` with ``lognormal_bias_correction=False``;
    * additive: ``mean + sd * e``.

    With ``remove_ensemble_mean`` the factors are divided by their ensemble mean (offsets: the
    ensemble mean is subtracted) and multiplied by ``mean`` (offsets: ``mean`` added), so the
    ensemble-mean forcing is unperturbed (up to rounding). This needs every member's ``e``: each
    rank then carries the AR(1) state of all ``n_members`` for its columns (no communication,
    the same on every layout; ``n_members / len(members)`` times the work).

    Parameters
    ----------
    variables : sequence of ForcingVariable
        Order = order of ``correlation``'s rows.
    seed : int
        Experiment seed.
    n_members : int
        Ensemble size N.
    members : sequence of int
        The global members this rank holds (any order; the output follows it).
    box : Box or (y0, y1, x0, x1)
        This rank's block of the global grid.
    grid_shape : (Ny, Nx)
        The global grid.
    dt_s : float, s
        Time between two consecutive ``cycle`` values (the forcing/model step).
    correlation : (n_vars, n_vars) array or None
        Cross-correlation of the innovations (symmetric positive definite, unit diagonal);
        None: independent. With equal time scales it is also the stationary correlation of ``e``.
    truncate_sd : float or None
        Bound of the standard-normal innovations ``z`` (default 2.5 sd); None: no truncation.
    truncation : {"quantile", "clip"}
        See :func:`truncate_normal`.
    spatial : SpatialStructure
        Uniform per member (default), independent per column, or correlated field.
    remove_ensemble_mean : bool
        See above.
    lognormal_bias_correction : bool
        The ``-s^2/2`` shift that makes the mean factor 1 (default True).
    purpose : str
        Random stream name (change it to get a second, independent set of perturbations).
    """

    def __init__(self, variables: Sequence[ForcingVariable], *, seed: int, n_members: int,
                 members: Sequence[int], box: BoxLike, grid_shape: Tuple[int, int], dt_s: float,
                 correlation=None, truncate_sd: Optional[float] = 2.5,
                 truncation: str = "quantile",
                 spatial: SpatialStructure = SpatialStructure(),
                 remove_ensemble_mean: bool = False, lognormal_bias_correction: bool = True,
                 purpose: str = "forcing_perturbation") -> None:
        variables = tuple(variables)
        if not variables:
            raise ConfigError("variables=() must name at least one forcing variable")
        for v in variables:
            if not isinstance(v, ForcingVariable):
                raise ConfigError(f"variables entry {v!r} must be a ForcingVariable")
        names = [v.name for v in variables]
        if len(set(names)) != len(names):
            raise ConfigError(f"variables={names} must not repeat a name")
        if not isinstance(spatial, SpatialStructure):
            raise ConfigError(f"spatial={spatial!r} must be a SpatialStructure")
        self.variables = variables
        self.seed = _int("seed", seed, 0, 2**64)
        self.n_members = _int("n_members", n_members, 1)
        self.members = _members("members", members, self.n_members)
        self.grid_shape = _grid(grid_shape)
        self.box = _box(box, self.grid_shape)
        self.dt_s = _pos("dt_s", dt_s)
        self._chol = _correlation("correlation", correlation, len(variables))
        if truncate_sd is not None:
            if truncation == "quantile":
                truncation_inner_limit(truncate_sd)
            elif truncation == "clip":
                _pos("truncate_sd", truncate_sd)
            else:
                raise ConfigError(f"truncation={truncation!r} must be 'quantile' or 'clip'")
        self.truncate_sd = truncate_sd
        self.truncation = truncation
        self.spatial = spatial
        self.remove_ensemble_mean = bool(remove_ensemble_mean)
        self.lognormal_bias_correction = bool(lognormal_bias_correction)
        self.purpose = str(purpose)
        self._phi = np.array([v.phi(self.dt_s) for v in variables])
        self._innov = np.sqrt(1.0 - self._phi ** 2)
        # members whose AR(1) state this rank advances
        self._held = (np.arange(self.n_members, dtype=np.int64) if self.remove_ensemble_mean
                      else self.members.copy())
        pos = {int(m): i for i, m in enumerate(self._held)}
        self._out_rows = np.array([pos[int(m)] for m in self.members], dtype=np.int64)
        self._values: Optional[np.ndarray] = None   # (n_held, n_vars, ny|1, nx|1)
        self._cycle: Optional[int] = None

    # -- the process ----------------------------------------------------------------------

    @property
    def cycle(self) -> Optional[int]:
        """The last cycle stepped to (None before the first :meth:`step`)."""
        return self._cycle

    def _innovations(self, cycle: int) -> np.ndarray:
        """``w = L z`` for every held member; (n_held, n_vars, ny|1, nx|1)."""
        nv = len(self.variables)
        z = [truncate_normal(standard_field(self.seed, self.purpose, cycle, self._held, k,
                                            self.box, self.grid_shape, self.spatial),
                             self.truncate_sd, self.truncation) for k in range(nv)]
        w = np.empty((self._held.size, nv) + z[0].shape[1:])
        for k in range(nv):
            acc = self._chol[k, 0] * z[0]
            for j in range(1, k + 1):
                acc = acc + self._chol[k, j] * z[j]
            w[:, k] = acc
        return w

    def step(self, cycle: int) -> Dict[str, np.ndarray]:
        """Advance the AR(1) state to ``cycle`` and return this rank's perturbations.

        Parameters
        ----------
        cycle : int >= 0
            Time-step counter. The first call starts the process at ``cycle``; later calls
            advance one step per counter value (a skipped counter is stepped through); the same
            counter again returns the same perturbations; an earlier counter is an error
            (restore a saved :meth:`state` instead).

        Returns
        -------
        dict name -> (len(members), box.ny, box.nx) float64
            Multiplicative factors (dimensionless) or additive offsets (the variable's unit),
            rows in the order of ``members``.
        """
        cycle = _int("cycle", cycle)
        if self._cycle is None:
            self._values = self._innovations(cycle)
            self._cycle = cycle
        elif cycle < self._cycle:
            raise ConfigError(f"cycle={cycle} is before the current cycle {self._cycle}: the "
                              "AR(1) process cannot step back (restore a saved state)")
        else:
            white = bool(np.all(self._innov == 0.0))
            for c in range(self._cycle + 1, cycle + 1):
                if white:   # constant in time: nothing to draw
                    continue
                w = self._innovations(c)
                for k in range(len(self.variables)):
                    self._values[:, k] = (self._phi[k] * self._values[:, k]
                                          + self._innov[k] * w[:, k])
            self._cycle = cycle
        return self._output()

    def _output(self) -> Dict[str, np.ndarray]:
        shape = (self.members.size, self.box.ny, self.box.nx)
        out: Dict[str, np.ndarray] = {}
        for k, var in enumerate(self.variables):
            e = self._values[:, k]
            s = var.log_sd
            if var.kind == "multiplicative":
                g = np.exp(s * e - 0.5 * s * s) if self.lognormal_bias_correction \
                    else np.exp(s * e)
            else:
                g = s * e
            if self.remove_ensemble_mean:
                total = np.zeros_like(g[0])
                for i in range(g.shape[0]):        # sequential: identical on every layout
                    total = total + g[i]
                ens_mean = total / g.shape[0]
                g = g / ens_mean if var.kind == "multiplicative" else g - ens_mean
            val = var.mean * g if var.kind == "multiplicative" else var.mean + g
            out[var.name] = np.ascontiguousarray(np.broadcast_to(val[self._out_rows], shape))
        return out

    # -- restart --------------------------------------------------------------------------

    def state(self) -> Dict[str, np.ndarray]:
        """The AR(1) state for a checkpoint (copies).

        Returns
        -------
        dict
            ``"cycle"``: int64 scalar array (-1 before the first step); ``"members"``: (n_held,)
            int64 global members; ``"box"``: (4,) int64 ``y0, y1, x0, x1``; ``"grid_shape"``:
            (2,) int64; ``"variables"``: (n_vars,) str; ``"values"``: (n_held, n_vars, ny, nx)
            float64 standardised perturbations ``e`` ((n_held, n_vars, 1, 1) when uniform).
        """
        nv = len(self.variables)
        shape = (1, 1) if self.spatial.kind == "uniform" else (self.box.ny, self.box.nx)
        vals = (np.zeros((self._held.size, nv) + shape) if self._values is None
                else self._values.copy())
        b = self.box
        return {"cycle": np.array(-1 if self._cycle is None else self._cycle, dtype=np.int64),
                "members": self._held.copy(),
                "box": np.array([b.y0, b.y1, b.x0, b.x1], dtype=np.int64),
                "grid_shape": np.array(self.grid_shape, dtype=np.int64),
                "variables": np.array([v.name for v in self.variables]),
                "values": vals}

    @classmethod
    def from_state(cls, state: Mapping[str, np.ndarray], variables: Sequence[ForcingVariable],
                   **kwargs) -> "ForcingPerturbation":
        """A perturbation that continues bit-identically from a saved :meth:`state`.

        ``variables`` and ``kwargs`` are those of the constructor. The saved state may hold more
        members and a larger box than the new object needs (e.g. a state gathered onto one
        file): the needed members and columns are picked out, so a restart may use another
        rank layout.
        """
        obj = cls(variables, **kwargs)
        obj.restore(state)
        return obj

    def restore(self, state: Mapping[str, np.ndarray]) -> None:
        """Continue bit-identically from a saved :meth:`state` (see :meth:`from_state`).

        Raises
        ------
        ConfigError
            If ``state`` is not a state of this process (other variables, grid, members or
            spatial structure), naming what differs.
        """
        try:
            cycle = int(np.asarray(state["cycle"]))
            members = np.asarray(state["members"], dtype=np.int64)
            y0, y1, x0, x1 = (int(v) for v in np.asarray(state["box"]))
            names = [str(n) for n in np.asarray(state["variables"])]
            values = np.asarray(state["values"], dtype=float)
            grid = tuple(int(v) for v in np.asarray(state["grid_shape"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"state is not a ForcingPerturbation state: {exc!r}") from None
        if names != [v.name for v in self.variables]:
            raise ConfigError(f"state variables={names} differ from variables="
                              f"{[v.name for v in self.variables]}")
        if grid != self.grid_shape:
            raise ConfigError(f"state grid_shape={grid} differs from grid_shape="
                              f"{self.grid_shape}")
        if cycle < 0:
            self._values, self._cycle = None, None
            return
        lookup = {int(m): i for i, m in enumerate(members)}
        missing = [int(m) for m in self._held if int(m) not in lookup]
        if missing:
            raise ConfigError(f"state members lack {missing[:8]} needed by this rank")
        rows = np.array([lookup[int(m)] for m in self._held], dtype=np.int64)
        vals = values[rows]
        if self.spatial.kind != "uniform":
            b = self.box
            if not (y0 <= b.y0 and b.y1 <= y1 and x0 <= b.x0 and b.x1 <= x1):
                raise ConfigError(f"state box={(y0, y1, x0, x1)} does not contain box={b}")
            vals = vals[:, :, b.y0 - y0:b.y1 - y0, b.x0 - x0:b.x1 - x0]
        want = (self._held.size, len(self.variables)) + (
            (1, 1) if self.spatial.kind == "uniform" else (self.box.ny, self.box.nx))
        if vals.shape != want:
            raise ConfigError(f"state values select to shape {vals.shape}, expected {want} "
                              "(saved with another spatial.kind?)")
        self._values = np.array(vals, dtype=float, copy=True)
        self._cycle = cycle


# --------------------------------------------------------------------------------------------
# state perturbations
# --------------------------------------------------------------------------------------------

def _field3(name: str, field, box: Box) -> np.ndarray:
    f = np.asarray(field, dtype=float)
    if f.ndim == 2:
        f = f[None]
    if f.ndim != 3 or f.shape[1:] != (box.ny, box.nx):
        raise ConfigError(f"{name} has shape {np.shape(field)}, expected (levels, {box.ny}, "
                          f"{box.nx}) for box {box}")
    return f


def perturb_state(field, sd, seed: int, member: int, box: BoxLike,
                  grid_shape: Tuple[int, int], *, vertical_correlation=None,
                  spatial: SpatialStructure = SpatialStructure("independent"),
                  truncate_sd: Optional[float] = None, truncation: str = "quantile",
                  bounds: Optional[Tuple[Optional[float], Optional[float]]] = None,
                  cycle: int = 0, purpose: str = "state_perturbation") -> np.ndarray:
    """Additive normal perturbation of a layered state field for one member.

    ``x' = x + sd_k * sum_l L_kl z_l`` with ``z_l`` standard-normal fields per level (stream
    ``l``) and ``L`` the Cholesky factor of ``vertical_correlation``.

    Parameters
    ----------
    field : (levels, ny, nx) float
        The member's state on ``box`` (e.g. pressure head [m] or water content [m3/m3] per soil
        layer); a (ny, nx) field is one level.
    sd : float or (levels,) float >= 0
        Standard deviation per level, in the field's unit.
    seed : int
    member : int
        Global member index.
    box, grid_shape
        The block of the global grid the field covers and the global grid (Ny, Nx).
    vertical_correlation : (levels, levels) array or None
        Correlation between levels (SPD, unit diagonal); None: independent levels.
    spatial : SpatialStructure
        Default independent per column (layout-independent keys: ``level*Ny*Nx + row*Nx + col``).
    truncate_sd, truncation
        See :func:`truncate_normal` (applied to ``z``); default no truncation.
    bounds : (lower, upper) or None
        Clip the perturbed field (e.g. ``(theta_r, theta_s)``); either may be None.
    cycle : int
        0 for the initial ensemble; the cycle counter for repeated (white) perturbations.
    purpose : str

    Returns
    -------
    (levels, ny, nx) float64 (a new array).
    """
    grid = _grid(grid_shape)
    bx = _box(box, grid)
    f = _field3("field", field, bx)
    nl = f.shape[0]
    sd_arr = np.broadcast_to(np.asarray(sd, dtype=float), (nl,)) if np.ndim(sd) == 0 \
        else np.asarray(sd, dtype=float)
    if sd_arr.shape != (nl,):
        raise ConfigError(f"sd has shape {np.shape(sd)}, expected () or ({nl},) (one per level)")
    if not np.all(np.isfinite(sd_arr)) or np.any(sd_arr < 0):
        raise ConfigError(f"sd={np.asarray(sd).tolist()} must be finite and >= 0 per level")
    chol = _correlation("vertical_correlation", vertical_correlation, nl)
    if not isinstance(spatial, SpatialStructure):
        raise ConfigError(f"spatial={spatial!r} must be a SpatialStructure")
    member = _int("member", member)
    cycle = _int("cycle", cycle)
    if truncate_sd is not None:
        if truncation == "quantile":
            truncation_inner_limit(truncate_sd)
        else:
            _pos("truncate_sd", truncate_sd)
    mem = np.array([member])
    z = [truncate_normal(standard_field(seed, purpose, cycle, mem, lv, bx, grid, spatial)[0],
                         truncate_sd, truncation) for lv in range(nl)]
    out = np.empty_like(f)
    for k in range(nl):
        acc = chol[k, 0] * z[0]
        for j in range(1, k + 1):
            acc = acc + chol[k, j] * z[j]
        out[k] = f[k] + sd_arr[k] * acc
    if bounds is not None:
        lo, hi = bounds
        if lo is not None and hi is not None and not lo <= hi:
            raise ConfigError(f"bounds={bounds!r} must have lower <= upper")
        out = np.clip(out, -np.inf if lo is None else lo, np.inf if hi is None else hi)
    return out


# --------------------------------------------------------------------------------------------
# parameter perturbations
# --------------------------------------------------------------------------------------------

def perturb_log10_ks(ks, seed: int, member: int, box: BoxLike, grid_shape: Tuple[int, int], *,
                     sd_log10: Optional[float] = None, half_width_log10: Optional[float] = None,
                     spatial: SpatialStructure = SpatialStructure(),
                     independent_layers: bool = False, layer_mask=None,
                     truncate_sd: Optional[float] = None, cycle: int = 0,
                     purpose: str = "ks_perturbation") -> np.ndarray:
    """Log-normal (or log-uniform) perturbation of saturated hydraulic conductivity.

    ``Ks' = Ks * 10**d`` with ``d = sd_log10 * z`` (log10 Ks + N(0, sd_log10^2)), or
    ``d = half_width_log10 * (2 Phi(z) - 1)`` (uniform on ``[-h, h]``, the LI study's aquifer
    offset "range -0.5 to 0.5"), ``z`` a standard-normal field (:func:`standard_field`).
    ``10**d`` is the multiplicative factor.

    Parameters
    ----------
    ks : (levels, ny, nx) or (ny, nx) float > 0, m/s
        Unperturbed conductivity on ``box``.
    seed, member, box, grid_shape
        As :func:`perturb_state`.
    sd_log10, half_width_log10 : float >= 0
        Exactly one: normal sd or uniform half-width of the log10 offset.
    spatial : SpatialStructure
        Uniform per member (default), independent, or correlated in space.
    independent_layers : bool
        False (default): one offset field shared by all layers; True: one per layer.
    layer_mask : (levels,) bool or None
        Layers to perturb (e.g. only 0-3 m as in Z25); None: all.
    truncate_sd : float or None
        Truncation of ``z`` (normal case).
    cycle, purpose
        Keys.

    Returns
    -------
    float64 array of ``ks``'s shape, m/s.
    """
    grid = _grid(grid_shape)
    bx = _box(box, grid)
    k = np.asarray(ks, dtype=float)
    k3 = _field3("ks", k, bx)
    if not np.all(np.isfinite(k3)) or np.any(k3 <= 0):
        raise ConfigError("ks must be finite and > 0 (m/s) everywhere")
    if (sd_log10 is None) == (half_width_log10 is None):
        raise ConfigError("give exactly one of sd_log10 and half_width_log10, got "
                          f"sd_log10={sd_log10!r}, half_width_log10={half_width_log10!r}")
    if sd_log10 is not None:
        width = _nonneg("sd_log10", sd_log10)
    else:
        width = _nonneg("half_width_log10", half_width_log10)
    nl = k3.shape[0]
    mask = np.ones(nl, bool) if layer_mask is None else np.asarray(layer_mask, dtype=bool)
    if mask.shape != (nl,):
        raise ConfigError(f"layer_mask has shape {np.shape(layer_mask)}, expected ({nl},)")
    member = _int("member", member)
    out = k3.copy()
    mem = np.array([member])
    shared = None
    for lv in range(nl):
        if not mask[lv]:
            continue
        if independent_layers or shared is None:
            z = standard_field(seed, purpose, _int("cycle", cycle), mem,
                               lv if independent_layers else 0, bx, grid, spatial)[0]
            if sd_log10 is not None:
                d = width * truncate_normal(z, truncate_sd)
            else:
                d = width * (2.0 * special.ndtr(z) - 1.0)
            shared = d
        out[lv] = k3[lv] * 10.0 ** shared
    return out.reshape(k.shape)


def perturb_texture(sand_pct, clay_pct, seed: int, member: int, box: BoxLike,
                    grid_shape: Tuple[int, int], *, sd_pct: float,
                    correlation_sand_clay: float = 0.0,
                    spatial: SpatialStructure = SpatialStructure(),
                    truncate_sd: Optional[float] = None, max_sand_plus_clay_pct: float = 100.0,
                    cycle: int = 0, purpose: str = "texture_perturbation"
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """Additive normal perturbation of sand and clay percentages.

    ``sand' = sand + sd z_s``, ``clay' = clay + sd (rho z_s + sqrt(1 - rho^2) z_c)`` (streams 0
    and 1), then each is clipped to [0, 100] % and, where ``sand' + clay'`` exceeds
    ``max_sand_plus_clay_pct``, both are scaled down proportionally to that sum (silt, the
    residual, stays >= ``100 - max``). Z25: uniform "+-10 %" per member; LI: a spherical
    field of variance 50 %^2, range 12.5 km (``sd_pct=sqrt(50)``, exponential ``L ~ 12.5/3``
    km).

    Parameters
    ----------
    sand_pct, clay_pct : (levels, ny, nx) or (ny, nx) float, %
    seed, member, box, grid_shape
        As :func:`perturb_state`.
    sd_pct : float >= 0, percentage points
    correlation_sand_clay : float in [-1, 1]
    spatial : SpatialStructure
        Default uniform per member. The same draw applies to every layer.
    truncate_sd : float or None
    max_sand_plus_clay_pct : float in (0, 100]
    cycle, purpose
        Keys.

    Returns
    -------
    (sand, clay) float64 arrays of the inputs' shape, %.
    """
    grid = _grid(grid_shape)
    bx = _box(box, grid)
    s = np.asarray(sand_pct, dtype=float)
    c = np.asarray(clay_pct, dtype=float)
    if s.shape != c.shape:
        raise ConfigError(f"sand_pct shape {s.shape} differs from clay_pct shape {c.shape}")
    _field3("sand_pct", s, bx)
    for name, a in (("sand_pct", s), ("clay_pct", c)):
        if not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a > 100):
            raise ConfigError(f"{name} must lie in [0, 100] %")
    sd = _nonneg("sd_pct", sd_pct)
    rho = float(correlation_sand_clay)
    if not -1.0 <= rho <= 1.0:
        raise ConfigError(f"correlation_sand_clay={correlation_sand_clay!r} must be in [-1, 1]")
    tot = float(max_sand_plus_clay_pct)
    if not 0.0 < tot <= 100.0:
        raise ConfigError(f"max_sand_plus_clay_pct={max_sand_plus_clay_pct!r} must be in "
                          "(0, 100]")
    mem = np.array([_int("member", member)])
    cyc = _int("cycle", cycle)
    zs, zc = (truncate_normal(standard_field(seed, purpose, cyc, mem, st, bx, grid, spatial)[0],
                              truncate_sd) for st in (0, 1))
    zc = rho * zs + math.sqrt(max(0.0, 1.0 - rho * rho)) * zc
    sand = np.clip(s + sd * zs, 0.0, 100.0)
    clay = np.clip(c + sd * zc, 0.0, 100.0)
    total = sand + clay
    over = total > tot
    scale = np.where(over, tot / np.where(over, total, 1.0), 1.0)
    return sand * scale, clay * scale


# --------------------------------------------------------------------------------------------
# pedotransfer rules
# --------------------------------------------------------------------------------------------

_IN_PER_H = 0.0254 / 3600.0      # m/s per inch/hour


def _texture(sand_pct, clay_pct) -> Tuple[np.ndarray, np.ndarray]:
    s = np.asarray(sand_pct, dtype=float)
    c = np.asarray(clay_pct, dtype=float)
    try:
        s, c = np.broadcast_arrays(s, c)
    except ValueError:
        raise ConfigError(f"sand_pct shape {s.shape} and clay_pct shape {c.shape} do not "
                          "broadcast") from None
    for name, a in (("sand_pct", s), ("clay_pct", c)):
        if not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a > 100):
            raise ConfigError(f"{name} must lie in [0, 100] %")
    if np.any(s + c > 100.0 + 1e-9):
        raise ConfigError("sand_pct + clay_pct must be <= 100 %")
    return s, c


def cosby1984(sand_pct, clay_pct) -> Dict[str, np.ndarray]:
    """Cosby et al. (1984) univariate pedotransfer regressions, in CLM 3.5's form.

    Cosby, B. J., Hornberger, G. M., Clapp, R. B. & Ginn, T. R. (1984), Water Resour. Res. 20,
    682-690, Table 4; as used by CLM 3.5 (Oleson et al. 2004, Eqs. 7.87-7.91) and the Z25 study
    (its Eqs. 6-8):

    * ``Ks = 0.0070556 mm/s * 10**(-0.884 + 0.0153 sand)`` (0.0070556 mm/s = 1 inch/h),
    * ``theta_s = 0.489 - 0.00126 sand``,
    * ``psi_s = 10 mm * 10**(1.88 - 0.0131 sand)`` (air-entry suction, magnitude),
    * ``b = 2.91 + 0.159 clay`` (Clapp-Hornberger / Campbell exponent).

    van Genuchten parameters by matching the dry-end asymptote of the Brooks-Corey/Campbell curve
    ``S = (psi/psi_s)^(-1/b)`` with ``S ~ (alpha psi)^(-(n-1))``: ``n = 1 + 1/b``,
    ``alpha = 1/psi_s``, ``theta_r = 0``. This gives low ``n`` (1.1-1.35): Campbell's b is fitted
    over the whole retention range; prefer :func:`rosetta_class_average` for vG-Mualem models.

    Parameters
    ----------
    sand_pct, clay_pct : float array_like, %, broadcastable; sand + clay <= 100

    Returns
    -------
    dict of float64 arrays: ``ks_m_s`` [m/s], ``theta_s`` [m3/m3], ``psi_s_m`` [m, > 0],
    ``b`` [-], ``alpha_per_m`` [1/m], ``n`` [-], ``theta_r`` [m3/m3].
    """
    s, c = _texture(sand_pct, clay_pct)
    ks = _IN_PER_H * 10.0 ** (-0.884 + 0.0153 * s)
    theta_s = 0.489 - 0.00126 * s
    psi_s = 0.01 * 10.0 ** (1.88 - 0.0131 * s)
    b = 2.91 + 0.159 * c
    return {"ks_m_s": ks, "theta_s": theta_s, "psi_s_m": psi_s, "b": b,
            "alpha_per_m": 1.0 / psi_s, "n": 1.0 + 1.0 / b, "theta_r": np.zeros_like(s)}


#: USDA texture classes in the order of :func:`usda_texture_class`'s codes.
USDA_CLASSES = ("sand", "loamy sand", "sandy loam", "loam", "silt loam", "silt",
                "sandy clay loam", "clay loam", "silty clay loam", "sandy clay", "silty clay",
                "clay")

# Rosetta class averages (Schaap, Leij & van Genuchten 2001, J. Hydrol. 251, 163-176, the
# class-average table of Rosetta's model H1): theta_r, theta_s [cm3/cm3], log10 alpha [1/cm],
# log10 n, log10 Ks [cm/day]; rows in USDA_CLASSES order.
_ROSETTA_H1 = np.array([
    [0.053, 0.375, -1.453, 0.502, 2.808],   # sand
    [0.049, 0.390, -1.459, 0.242, 2.022],   # loamy sand
    [0.039, 0.387, -1.574, 0.161, 1.583],   # sandy loam
    [0.061, 0.399, -1.954, 0.168, 1.081],   # loam
    [0.065, 0.439, -2.296, 0.221, 1.261],   # silt loam
    [0.050, 0.489, -2.182, 0.225, 1.641],   # silt
    [0.063, 0.384, -1.676, 0.124, 1.120],   # sandy clay loam
    [0.079, 0.442, -1.801, 0.151, 0.913],   # clay loam
    [0.090, 0.482, -2.076, 0.182, 1.046],   # silty clay loam
    [0.117, 0.385, -1.476, 0.082, 1.055],   # sandy clay
    [0.111, 0.481, -1.790, 0.121, 0.983],   # silty clay
    [0.098, 0.459, -1.825, 0.098, 1.169],   # clay
])


def usda_texture_class(sand_pct, clay_pct) -> np.ndarray:
    """USDA texture class (index into :data:`USDA_CLASSES`) of each sand/clay pair.

    The texture-triangle boundaries of the USDA Soil Survey Manual, silt = 100 - sand - clay;
    vectorised (``np.select`` over the 12 classes, first match wins).
    """
    s, c = _texture(sand_pct, clay_pct)
    si = 100.0 - s - c
    conds = [
        si + 1.5 * c < 15,                                                    # sand
        (si + 1.5 * c >= 15) & (si + 2 * c < 30),                             # loamy sand
        ((c >= 7) & (c < 20) & (s > 52) & (si + 2 * c >= 30))
        | ((c < 7) & (si < 50) & (si + 2 * c >= 30)),                         # sandy loam
        (c >= 7) & (c < 27) & (si >= 28) & (si < 50) & (s <= 52),             # loam
        ((si >= 50) & (c >= 12) & (c < 27)) | ((si >= 50) & (si < 80) & (c < 12)),  # silt loam
        (si >= 80) & (c < 12),                                                # silt
        (c >= 20) & (c < 35) & (si < 28) & (s > 45),                          # sandy clay loam
        (c >= 27) & (c < 40) & (s > 20) & (s <= 45),                          # clay loam
        (c >= 27) & (c < 40) & (s <= 20),                                     # silty clay loam
        (c >= 35) & (s > 45),                                                 # sandy clay
        (c >= 40) & (si >= 40),                                               # silty clay
        (c >= 40) & (s <= 45) & (si < 40),                                    # clay
    ]
    return np.select(conds, np.arange(12), default=3).astype(np.int64)


def rosetta_class_average(sand_pct, clay_pct) -> Dict[str, np.ndarray]:
    """van Genuchten-Mualem parameters from the Rosetta class-average table.

    Schaap, Leij & van Genuchten (2001), Rosetta model H1 (texture class only): each sand/clay
    pair is classified in the USDA triangle (:func:`usda_texture_class`) and given its class's
    average parameters. Piecewise constant in texture: a texture perturbation changes the
    parameters only where it crosses a class boundary.

    Returns
    -------
    dict of float64 arrays (``texture_class`` int64): ``theta_r``, ``theta_s`` [m3/m3],
    ``alpha_per_m`` [1/m], ``n`` [-], ``ks_m_s`` [m/s], ``texture_class``.
    """
    cls = usda_texture_class(sand_pct, clay_pct)
    t = _ROSETTA_H1[cls]
    return {"theta_r": t[..., 0], "theta_s": t[..., 1],
            "alpha_per_m": 100.0 * 10.0 ** t[..., 2], "n": 10.0 ** t[..., 3],
            "ks_m_s": 0.01 / 86400.0 * 10.0 ** t[..., 4], "texture_class": cls}

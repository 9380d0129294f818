"""Argument checks shared by the perturbations: each raises :class:`~pdafpy.errors.ConfigError`
naming the parameter, the value and what is allowed."""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple, Union

import numpy as np

from ..decomposition import Box
from ..errors import ConfigError

__all__ = ["BoxLike", "check_int", "check_positive", "check_nonnegative", "check_grid",
           "check_box", "check_members", "correlation_cholesky", "check_layered_field"]

#: A block of the global grid: a Box or ``(y0, y1, x0, x1)``.
BoxLike = Union[Box, Sequence[int]]


def check_int(name: str, value, lo: int = 0, hi: Optional[int] = None) -> int:
    """``value`` as an int in ``[lo, hi)`` (booleans refused); ConfigError naming ``name``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name}={value!r} must be an integer")
    v = int(value)
    if v < lo or (hi is not None and v >= hi):
        rng = f">= {lo}" if hi is None else f"in [{lo}, {hi})"
        raise ConfigError(f"{name}={value!r} must be an integer {rng}")
    return v


def check_positive(name: str, value, allow_inf: bool = False) -> float:
    """``value`` as a float > 0 (finite unless ``allow_inf``); ConfigError naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} must be a number > 0") from None
    if not (v > 0.0) or (math.isinf(v) and not allow_inf) or math.isnan(v):
        raise ConfigError(f"{name}={value!r} must be a {'' if allow_inf else 'finite '}"
                          "number > 0")
    return v


def check_nonnegative(name: str, value) -> float:
    """``value`` as a finite float >= 0; ConfigError naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}={value!r} must be a finite number >= 0") from None
    if not math.isfinite(v) or v < 0.0:
        raise ConfigError(f"{name}={value!r} must be a finite number >= 0")
    return v


def check_grid(grid_shape) -> Tuple[int, int]:
    """The global grid ``(Ny, Nx)`` as two ints >= 1."""
    try:
        ny, nx = grid_shape
    except (TypeError, ValueError):
        raise ConfigError(f"grid_shape={grid_shape!r} must be (Ny, Nx), the global grid") from None
    return check_int("grid_shape[0] (Ny)", ny, 1), check_int("grid_shape[1] (Nx)", nx, 1)


def check_box(box: BoxLike, grid: Tuple[int, int]) -> Box:
    """``box`` as a :class:`~pdafpy.decomposition.Box` inside the global ``grid``."""
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


def check_members(name: str, members, n_members: int) -> np.ndarray:
    """Distinct global member indices in ``[0, n_members)`` as a 1-D int64 array."""
    m = np.atleast_1d(np.asarray(members))
    if m.ndim != 1 or (m.size and m.dtype.kind not in "iu"):
        raise ConfigError(f"{name}={members!r} must be a 1-D sequence of member indices")
    m = m.astype(np.int64)
    if m.size and (m.min() < 0 or m.max() >= n_members):
        raise ConfigError(f"{name}={members!r} must lie in [0, n_members={n_members})")
    if np.unique(m).size != m.size:
        raise ConfigError(f"{name}={members!r} must not repeat a member")
    return m


def correlation_cholesky(name: str, corr, n: int) -> np.ndarray:
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


def check_layered_field(name: str, field, box: Box) -> np.ndarray:
    """``field`` as a float (levels, box.ny, box.nx) array; a (ny, nx) field is one level."""
    f = np.asarray(field, dtype=float)
    if f.ndim == 2:
        f = f[None]
    if f.ndim != 3 or f.shape[1:] != (box.ny, box.nx):
        raise ConfigError(f"{name} has shape {np.shape(field)}, expected (levels, {box.ny}, "
                          f"{box.nx}) for box {box}")
    return f

"""Additive normal perturbations of layered state fields (initial states, repeated perturbations)."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..errors import ConfigError
from .checks import (BoxLike, check_box, check_grid, check_int, check_layered_field,
                     check_positive, correlation_cholesky)
from .fields import SpatialStructure, standard_field
from .truncation import truncate_normal, truncation_inner_limit

__all__ = ["perturb_state"]


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
        The member's state on ``box`` (e.g. one value per vertical level of a column
        model); a (ny, nx) field is one level.
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
        Clip the perturbed field to physical bounds; either may be None.
    cycle : int
        0 for the initial ensemble; the cycle counter for repeated (white) perturbations.
    purpose : str

    Returns
    -------
    (levels, ny, nx) float64 (a new array).
    """
    grid = check_grid(grid_shape)
    bx = check_box(box, grid)
    f = check_layered_field("field", field, bx)
    nl = f.shape[0]
    sd_arr = np.broadcast_to(np.asarray(sd, dtype=float), (nl,)) if np.ndim(sd) == 0 \
        else np.asarray(sd, dtype=float)
    if sd_arr.shape != (nl,):
        raise ConfigError(f"sd has shape {np.shape(sd)}, expected () or ({nl},) (one per level)")
    if not np.all(np.isfinite(sd_arr)) or np.any(sd_arr < 0):
        raise ConfigError(f"sd={np.asarray(sd).tolist()} must be finite and >= 0 per level")
    chol = correlation_cholesky("vertical_correlation", vertical_correlation, nl)
    if not isinstance(spatial, SpatialStructure):
        raise ConfigError(f"spatial={spatial!r} must be a SpatialStructure")
    member = check_int("member", member)
    cycle = check_int("cycle", cycle)
    if truncate_sd is not None:
        if truncation == "quantile":
            truncation_inner_limit(truncate_sd)
        else:
            check_positive("truncate_sd", truncate_sd)
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

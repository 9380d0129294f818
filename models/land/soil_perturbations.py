"""Perturbations of soil parameters for one member: log10 Ks and sand/clay texture.

Keyed like every perturbation of :mod:`pdafpy.perturb` (global member, global column, a stream
per layer or texture fraction), so the numbers do not depend on the rank layout.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import numpy as np
from scipy import special

from pdafpy.errors import ConfigError
from pdafpy.perturb import SpatialStructure, standard_field, truncate_normal
from pdafpy.perturb.checks import (BoxLike, check_box, check_grid, check_int, check_layered_field,
                                   check_nonnegative)

__all__ = ["perturb_log10_ks", "perturb_texture"]


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
        As :func:`pdafpy.perturb.perturb_state`.
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
    grid = check_grid(grid_shape)
    bx = check_box(box, grid)
    k = np.asarray(ks, dtype=float)
    k3 = check_layered_field("ks", k, bx)
    if not np.all(np.isfinite(k3)) or np.any(k3 <= 0):
        raise ConfigError("ks must be finite and > 0 (m/s) everywhere")
    if (sd_log10 is None) == (half_width_log10 is None):
        raise ConfigError("give exactly one of sd_log10 and half_width_log10, got "
                          f"sd_log10={sd_log10!r}, half_width_log10={half_width_log10!r}")
    if sd_log10 is not None:
        width = check_nonnegative("sd_log10", sd_log10)
    else:
        width = check_nonnegative("half_width_log10", half_width_log10)
    nl = k3.shape[0]
    mask = np.ones(nl, bool) if layer_mask is None else np.asarray(layer_mask, dtype=bool)
    if mask.shape != (nl,):
        raise ConfigError(f"layer_mask has shape {np.shape(layer_mask)}, expected ({nl},)")
    member = check_int("member", member)
    out = k3.copy()
    mem = np.array([member])
    shared = None
    for lv in range(nl):
        if not mask[lv]:
            continue
        if independent_layers or shared is None:
            z = standard_field(seed, purpose, check_int("cycle", cycle), mem,
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
    field of variance 50 %^2, range 12.5 km (``sd_pct=sqrt(50)``, ``spatial=SpatialStructure(
    "correlated", 12500.0, covariance="spherical", ...)``).

    Parameters
    ----------
    sand_pct, clay_pct : (levels, ny, nx) or (ny, nx) float, %
    seed, member, box, grid_shape
        As :func:`pdafpy.perturb.perturb_state`.
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
    grid = check_grid(grid_shape)
    bx = check_box(box, grid)
    s = np.asarray(sand_pct, dtype=float)
    c = np.asarray(clay_pct, dtype=float)
    if s.shape != c.shape:
        raise ConfigError(f"sand_pct shape {s.shape} differs from clay_pct shape {c.shape}")
    check_layered_field("sand_pct", s, bx)
    for name, a in (("sand_pct", s), ("clay_pct", c)):
        if not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a > 100):
            raise ConfigError(f"{name} must lie in [0, 100] %")
    sd = check_nonnegative("sd_pct", sd_pct)
    rho = float(correlation_sand_clay)
    if not -1.0 <= rho <= 1.0:
        raise ConfigError(f"correlation_sand_clay={correlation_sand_clay!r} must be in [-1, 1]")
    tot = float(max_sand_plus_clay_pct)
    if not 0.0 < tot <= 100.0:
        raise ConfigError(f"max_sand_plus_clay_pct={max_sand_plus_clay_pct!r} must be in "
                          "(0, 100]")
    mem = np.array([check_int("member", member)])
    cyc = check_int("cycle", cycle)
    zs, zc = (truncate_normal(standard_field(seed, purpose, cyc, mem, st, bx, grid, spatial)[0],
                              truncate_sd) for st in (0, 1))
    zc = rho * zs + math.sqrt(max(0.0, 1.0 - rho * rho)) * zc
    sand = np.clip(s + sd * zs, 0.0, 100.0)
    clay = np.clip(c + sd * zc, 0.0, 100.0)
    total = sand + clay
    over = total > tot
    scale = np.where(over, tot / np.where(over, total, 1.0), 1.0)
    return sand * scale, clay * scale

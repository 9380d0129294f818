"""Soil texture as the source of the hydraulic parameters: the texture constraint, pedotransfer
rules by name, and the ``[soil]`` table's texture keys.

With ``[soil] sand_percent`` and ``clay_percent`` given, the van Genuchten parameters and the
saturated conductivity of every cell follow from the texture through a pedotransfer rule
(``[soil] pedotransfer``):

* ``"cosby1984"`` (default): :func:`models.land.pedotransfer.cosby1984`, Cosby et al. (1984)
  in CLM 3.5's form (Z25's rule). **Continuous in texture**: a small texture increment moves
  every parameter, so an ensemble's texture-parameter covariances are what an analysis of the
  texture needs. Its van Genuchten ``n = 1 + 1/b`` is low (1.1-1.35) and ``theta_r = 0``.
* ``"rosetta_class_average"``: :func:`models.land.pedotransfer.rosetta_class_average`, the
  Rosetta H1 class averages over the USDA triangle. **Piecewise constant**: a texture
  increment changes nothing unless it crosses a class boundary, where the parameters jump, so
  the ensemble covariance between texture and the simulated state is mostly sampling noise.
  Fine for a fixed texture map or texture perturbations whose spread spans several classes;
  not for estimating texture.

**The texture constraint** (:func:`project_texture`): sand and clay are first clipped to
``[0, 100]`` %, then, where ``sand + clay > 100 - TEXTURE_MARGIN``, both are scaled by the same
factor onto ``sand + clay = 100 - TEXTURE_MARGIN`` (a radial projection: the sand:clay ratio
is kept and silt, the residual, becomes ``TEXTURE_MARGIN``). The same rule as
:func:`models.land.soil_perturbations.perturb_texture` and the land analysis's constraint
(:mod:`models.landda.analysis_state`), so a texture is moved the same way wherever it is
constrained.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import numpy as np

from pdafpy.errors import ConfigError

from .pedotransfer import cosby1984, rosetta_class_average

__all__ = ["PEDOTRANSFER_RULES", "TEXTURE_KEYS", "DERIVED_SOIL_KEYS", "TEXTURE_MARGIN",
           "TEXTURE_MAX", "project_texture", "texture_soil", "texture_table", "texture_form"]

#: Pedotransfer rules by the name ``[soil] pedotransfer`` gives them.
PEDOTRANSFER_RULES: Dict[str, Callable[..., Dict[str, np.ndarray]]] = {
    "cosby1984": cosby1984, "rosetta_class_average": rosetta_class_average}
#: The ``[soil]`` keys of the texture [%].
TEXTURE_KEYS = ("sand_percent", "clay_percent")
#: ``[soil]`` keys a texture derives; a table giving one of them beside a texture is refused.
DERIVED_SOIL_KEYS = ("theta_r", "theta_s", "alpha_per_m", "n", "ks_m_per_s", "ks_h_m_per_s",
                     "ks_v_m_per_s")
#: Least silt [%] a constrained texture keeps (``sand + clay <= 100 - TEXTURE_MARGIN``).
TEXTURE_MARGIN = 1e-6
TEXTURE_MAX = 100.0 - TEXTURE_MARGIN
_ALIASES = {"alpha": "alpha_per_m", "ks": "ks_m_per_s"}


def project_texture(sand_pct, clay_pct, margin: float = TEXTURE_MARGIN
                    ) -> Tuple[np.ndarray, np.ndarray]:
    """Sand and clay moved onto ``0 <= sand, 0 <= clay, sand + clay <= 100 - margin`` [%].

    Each is clipped to ``[0, 100]``; where the sum still exceeds ``100 - margin`` both are
    scaled by ``(100 - margin) / (sand + clay)`` (the sand:clay ratio is kept; see the module
    notes). NaN stays NaN.

    Parameters
    ----------
    sand_pct, clay_pct : float array_like, %, broadcastable
    margin : float, %, in [0, 100)

    Returns
    -------
    (sand, clay) : float64 arrays of the broadcast shape, %
    """
    s, c = np.broadcast_arrays(np.clip(np.asarray(sand_pct, dtype=float), 0.0, 100.0),
                               np.clip(np.asarray(clay_pct, dtype=float), 0.0, 100.0))
    top = 100.0 - float(margin)
    total = s + c
    over = total > top
    scale = np.where(over, top / np.where(over, total, 1.0), 1.0)
    return s * scale, c * scale


def texture_soil(sand_pct, clay_pct, rule: str = "cosby1984") -> Dict[str, np.ndarray]:
    """The Richards solver's soil parameters of a texture (after :func:`project_texture`).

    Parameters
    ----------
    sand_pct, clay_pct : float array_like, %, broadcastable (any shape, e.g.
        ``(members, nz, ny, nx)``)
    rule : str
        A name of :data:`PEDOTRANSFER_RULES`.

    Returns
    -------
    dict of float64 arrays of the broadcast shape: ``theta_r``, ``theta_s`` [m3 m-3], ``alpha``
    [m-1], ``n`` [-], ``ks_h`` [m s-1] (the caller keeps its own ``ks_v / ks_h`` ratio).
    """
    if rule not in PEDOTRANSFER_RULES:
        raise ConfigError(f"soil.pedotransfer = {rule!r}: expected one of "
                          f"{list(PEDOTRANSFER_RULES)}")
    s, c = project_texture(sand_pct, clay_pct)
    p = PEDOTRANSFER_RULES[rule](s, c)
    shape = s.shape
    return {"theta_r": np.broadcast_to(p["theta_r"], shape).astype(float),
            "theta_s": np.broadcast_to(p["theta_s"], shape).astype(float),
            "alpha": np.broadcast_to(p["alpha_per_m"], shape).astype(float),
            "n": np.broadcast_to(p["n"], shape).astype(float),
            "ks_h": np.broadcast_to(p["ks_m_s"], shape).astype(float)}


def texture_form(sand: Any, clay: Any, where: str = "soil") -> Tuple[np.ndarray, np.ndarray]:
    """Configured sand and clay in one common form the subsurface model accepts.

    Each may be one value, one per layer ``(nz,)``, one per column ``(ny, nx)`` or one per cell
    ``(nz, ny, nx)``. Two values of the same form (or one scalar) broadcast as given; two of
    different forms are lifted to cells (a layer profile to ``(nz, 1, 1)``, a map to
    ``(1, ny, nx)``) and broadcast to ``(nz, ny, nx)``.
    """
    s, c = np.asarray(sand, dtype=float), np.asarray(clay, dtype=float)
    if s.ndim and c.ndim and s.ndim != c.ndim:
        lift = {1: lambda a: a.reshape(-1, 1, 1), 2: lambda a: a[None], 3: lambda a: a}
        s, c = lift[s.ndim](s), lift[c.ndim](c)
    try:
        return tuple(np.array(a) for a in np.broadcast_arrays(s, c))
    except ValueError:
        raise ConfigError(f"{where}.sand_percent (shape {np.shape(sand)}) and "
                          f"{where}.clay_percent (shape {np.shape(clay)}) do not fit each "
                          "other; give each as one value, per layer, per column or per cell"
                          ) from None


def _check_texture(s: np.ndarray, c: np.ndarray, where: str) -> None:
    for key, a in (("sand_percent", s), ("clay_percent", c)):
        if not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a > 100):
            raise ConfigError(f"{where}.{key}: values must lie in [0, 100] % (found "
                              f"{float(np.nanmin(a)):g} to {float(np.nanmax(a)):g})")
    total = s + c
    if np.any(total > 100.0):
        raise ConfigError(f"{where}.sand_percent + {where}.clay_percent = "
                          f"{float(total.max()):g} %: must not exceed 100 % (silt is the rest)")


def texture_table(soil: Mapping[str, Any], where: str = "soil"
                  ) -> Tuple[Dict[str, Any], Optional[Dict[str, Any]]]:
    """Split a ``[soil]`` table into what the Richards model reads and the texture.

    Without ``sand_percent``/``clay_percent`` the table is returned unchanged (``pedotransfer``
    removed) with texture None. With them, the derived ``theta_r``, ``theta_s``,
    ``alpha_per_m``, ``n`` and ``ks_m_per_s`` (horizontal = vertical) are put in their place,
    in the texture's form (:func:`texture_form`), and the texture is returned as ``{"sand":
    ..., "clay": ..., "rule": ...}``.

    Raises
    ------
    ConfigError
        One line: one texture key without the other, a texture beside explicit hydraulic
        parameters (naming them: the texture derives them; explicit values do not override it,
        since every analysis of the texture would re-derive them), a texture with the
        ``gardner`` model, an unknown rule, a texture outside [0, 100] % or summing above 100 %.
    """
    table = {_ALIASES.get(k, k): v for k, v in soil.items()}
    rule = table.pop("pedotransfer", "cosby1984")
    given = [k for k in TEXTURE_KEYS if table.get(k) is not None]
    if not given:
        for k in TEXTURE_KEYS:
            table.pop(k, None)
        if rule != "cosby1984":
            raise ConfigError(f"{where}.pedotransfer = {rule!r}: derives the soil from "
                              f"{where}.sand_percent and {where}.clay_percent, which are not "
                              "given")
        return table, None
    if len(given) == 1:
        other = [k for k in TEXTURE_KEYS if k not in given][0]
        raise ConfigError(f"{where}.{given[0]}: given without {where}.{other}; a texture needs "
                          "both")
    if rule not in PEDOTRANSFER_RULES:
        raise ConfigError(f"{where}.pedotransfer = {rule!r}: expected one of "
                          f"{list(PEDOTRANSFER_RULES)}")
    explicit = [k for k in DERIVED_SOIL_KEYS if table.get(k) is not None]
    if explicit:
        raise ConfigError(f"{where}.sand_percent, {where}.clay_percent: the texture gives "
                          f"theta_r, theta_s, alpha_per_m, n and ks through {where}.pedotransfer"
                          f" = {rule!r}; remove {', '.join(f'{where}.{k}' for k in explicit)} "
                          "(or the texture)")
    if table.get("model", "van_genuchten") != "van_genuchten":
        raise ConfigError(f"{where}.model = {table['model']!r}: a texture derives van "
                          "Genuchten parameters; use model = 'van_genuchten'")
    sand, clay = texture_form(table.pop("sand_percent"), table.pop("clay_percent"), where)
    _check_texture(sand, clay, where)
    derived = texture_soil(sand, clay, rule)
    table.update(theta_r=derived["theta_r"], theta_s=derived["theta_s"],
                 alpha_per_m=derived["alpha"], n=derived["n"], ks_m_per_s=derived["ks_h"])
    return table, {"sand": sand, "clay": clay, "rule": rule}

"""The land state on the filter ranks between analysis modules: masks, derived variables,
constraints.

``[[analysis]]`` modules at one time run one after the other (:mod:`pdafpy.cycle.modules`);
each observes the ensemble the previous one left. This module gives the land twin's part of
that, without loading the members into the model:

- **masks** (:meth:`LandAnalysisState.mask`): ``unsaturated`` or ``saturated`` cells, decided
  from the pressure head the module receives (saturated: ``h >= 0``), for every layered field
  of the module's subset (head, water content and the layered parameters: a saturated-only
  module changes a cell's log10 Ks only where the cell is saturated, TSMP #185); single-level
  fields (land stores, water-table depth) are not masked;
- **derived variables** (:meth:`LandAnalysisState.reconcile`): after a module, the pressure
  head is set per its update variable, as :class:`~models.landda.model.LandDAModel` does when
  it loads a member: ``pressure_head`` keeps the analysed head; ``water_content`` takes head
  from the analysed water content (inverse van Genuchten, clipped to ``[theta_r, theta_s]``, no
  drier than the drier of the received head and the surface's evaporation limit) in cells
  unsaturated in the state it received and keeps the received head in saturated ones;
  ``both`` does the same but keeps the analysed head in saturated cells. Water content and
  water-table depth are then recomputed from the head through each member's retention curve
  (its own porosity, ln alpha and n where they are state fields), and LAI from leaf biomass;
- **constraints** (:meth:`LandAnalysisState.constrain`): estimated parameters clipped to their
  bounds (``[[parameter]]``, else :data:`PARAMETER_BOUNDS`), porosity above theta_r, sand and
  clay percentages non-negative with sand + clay <= 100, land stores non-negative, bare ground
  kept bare (no leaf biomass where the land cover has no leaves).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from pdafpy.errors import ConfigError

from models.land.parameters import column_parameters
from models.richards.balance import water_table_depth
from models.richards.retention import van_genuchten

from .analysis_plan import ANALYSED, TYPE_UPDATE_KEYS
from .observations import LandObservationSection

__all__ = ["LandAnalysisState", "PARAMETER_BOUNDS", "MASKS", "UPDATE_VARIABLES",
           "soil_parameters", "analysis_state", "check_analysis_tables"]

#: Masks an ``[[analysis]]`` table may name, besides ``all``.
MASKS = ("unsaturated", "saturated")
#: Update variables an ``[[analysis]]`` table may name.
UPDATE_VARIABLES = ("pressure_head", "water_content", "both")
#: Physical bounds of the estimable parameters (used where ``[[parameter]]`` gives none).
PARAMETER_BOUNDS = {"log10_ks": (-11.0, -2.0),        # log10(m s-1): 1e-11 (clay) .. 1 cm s-1
                    "porosity": (0.05, 0.75),         # m3 m-3
                    "ln_alpha": (-4.6, 4.6),          # ln(m-1): 0.01 .. 100 m-1
                    "vg_n": (1.05, 8.0),
                    "sand_percent": (0.0, 100.0), "clay_percent": (0.0, 100.0),
                    "specific_leaf_area": (1.0, 100.0),   # m2 kg-1
                    "root_beta": (0.5, 0.999)}
#: Land stores kept non-negative after an analysis.
STORES = ("canopy_water", "swe", "leaf_biomass")
THETA_MARGIN = 1e-6          # keeps water content strictly inside (theta_r, theta_s]
TEXTURE_MAX = 100.0 - 1e-6   # sand + clay stays below 100 %


def soil_parameters(soil: Mapping[str, Any], nz: int, box: Any) -> dict[str, np.ndarray]:
    """``theta_r``, ``theta_s``, ``alpha``, ``n`` of the ``[soil]`` table on a block of
    columns, each broadcastable to ``(nz, box.ny, box.nx)``."""
    from .setup import soil_values

    return dict(zip(("theta_r", "theta_s", "alpha", "n"), soil_values(
        soil, ("theta_r", "theta_s", "alpha_per_m", "n"), nz, box)))


class LandAnalysisState:
    """Masks, derived variables and constraints of the land state on one filter rank.

    Parameters
    ----------
    layout : StateLayout
        The filter rank's layout.
    soil : mapping
        :func:`soil_parameters` on the filter rank's block.
    centres : (nz,) ndarray
        Layer-centre depths [m].
    bottom : float
        Depth of the domain's bottom [m] (the water-table depth of a column without one).
    h_min : float
        The surface's evaporation limit [m] (``[boundary] top.h_min_m``).
    specific_leaf_area : (ny, nx) ndarray
        [m2 kg-1] on the block (LAI = leaf biomass x specific leaf area).
    bare_ground : (ny, nx) bool ndarray
        Columns without leaves, on the block.
    bounds : mapping of str to (float, float)
        Bounds of the estimated parameters (defaults: :data:`PARAMETER_BOUNDS`).
    default_update : str
        The update variable of modules that name none (``[update] variable``).
    pedotransfer : str
        The rule deriving van Genuchten parameters from texture (``[soil] pedotransfer``),
        where the state carries sand and clay.
    """

    def __init__(self, layout: Any, soil: Mapping[str, np.ndarray], centres: np.ndarray,
                 bottom: float, h_min: float, specific_leaf_area: np.ndarray,
                 bare_ground: np.ndarray, bounds: Mapping[str, tuple[float, float]] = {},
                 default_update: str = "pressure_head", pedotransfer: str = "cosby1984"):
        self.layout = layout
        self.soil = soil
        self.centres = np.asarray(centres, dtype=float)
        self.bottom, self.h_min = float(bottom), float(h_min)
        self.sla = np.asarray(specific_leaf_area, dtype=float)
        self.bare = np.asarray(bare_ground, dtype=bool)
        self.bounds = dict(PARAMETER_BOUNDS, **bounds)
        self.default_update = default_update
        self.pedotransfer = pedotransfer
        self.names = {f.name for f in layout.fields}
        nz = self.centres.size
        head = layout.field_slice("pressure_head")
        # the head element each state element's cell has (-1: a single-level field)
        self._cell = np.full(layout.size, -1, dtype=np.int64)
        for f in layout.fields:
            if f.levels == nz:
                self._cell[layout.field_slice(f.name)] = np.arange(head.start, head.stop)

    # -- masks ----------------------------------------------------------------------------------
    def mask(self, kind: str, runs: np.ndarray, index: np.ndarray) -> np.ndarray:
        """``(n_runs, index.size)`` bool: the elements ``index`` a module with mask ``kind``
        may change in each run, from the head of ``runs`` (the state the module receives)."""
        if kind not in MASKS:
            raise ConfigError(f"mask = {kind!r}: the land twin offers {MASKS} (or 'all')")
        cell = self._cell[index]
        layered = cell >= 0
        saturated = runs[:, np.where(layered, cell, 0)] >= 0.0
        wanted = saturated if kind == "saturated" else ~saturated
        return np.where(layered, wanted, True)

    # -- derived variables ----------------------------------------------------------------------
    def _retention(self, runs: np.ndarray) -> dict[str, np.ndarray]:
        """Each run's van Genuchten parameters ``(n_runs | 1, nz, ny, nx)``: its state fields
        where it carries them, else the configured soil."""
        view = self.layout.view
        soil = {k: np.asarray(v)[None] for k, v in self.soil.items()}
        if "sand_percent" in self.names:            # texture first, as the model loads it
            from models.land.texture import texture_soil
            derived = texture_soil(view(runs, "sand_percent"), view(runs, "clay_percent"),
                                   self.pedotransfer)
            soil.update({k: derived[k] for k in ("theta_r", "theta_s", "alpha", "n")})
        if "porosity" in self.names:
            soil["theta_s"] = view(runs, "porosity")
        if "ln_alpha" in self.names:
            soil["alpha"] = np.exp(view(runs, "ln_alpha"))
        if "vg_n" in self.names:
            soil["n"] = view(runs, "vg_n")
        return soil

    def reconcile(self, runs: np.ndarray, received: np.ndarray, update: str,
                  fields: Sequence[str] | None) -> None:
        """Derived variables of ``runs`` after a module that updated ``fields`` (in place; see
        the module notes); ``received`` is the state the module received."""
        update = update or self.default_update
        if update not in UPDATE_VARIABLES:
            raise ConfigError(f"update = {update!r}: the land twin writes back one of "
                              f"{UPDATE_VARIABLES}")
        view = self.layout.view
        head, theta = view(runs, "pressure_head"), view(runs, "water_content")
        soil = self._retention(runs)
        analysed_theta = fields is None or "water_content" in fields
        if update != "pressure_head" and analysed_theta:
            head_f = view(received, "pressure_head")
            changed = theta != view(received, "water_content")
            tr, ts = np.broadcast_arrays(soil["theta_r"], soil["theta_s"], theta)[:2]
            clipped = np.clip(theta, tr + THETA_MARGIN, ts)
            se = (clipped - tr) / (ts - tr)
            from_theta = np.minimum(_head_from_saturation(se, soil["alpha"], soil["n"]), 0.0)
            from_theta = np.maximum(from_theta, np.minimum(head_f, self.h_min))
            keep = head_f if update == "water_content" else head
            new = np.where(head_f >= 0.0, keep, from_theta)
            head[...] = np.where(changed, new, head)
        theta[...] = van_genuchten(head, soil["theta_r"], soil["theta_s"], soil["alpha"],
                                   soil["n"], derivatives=False)[0]
        self._water_table(runs)
        if "leaf_biomass" in self.names and "leaf_area_index" in self.names:
            sla = view(runs, "specific_leaf_area") if "specific_leaf_area" in self.names \
                else self.sla
            view(runs, "leaf_area_index")[...] = view(runs, "leaf_biomass") * sla

    def _water_table(self, runs: np.ndarray) -> None:
        """Water-table depth [m] of every run from its head (the bottom where there is none)."""
        if "water_table_depth" not in self.names:
            return
        head = self.layout.view(runs, "pressure_head")          # (R, nz, ny, nx)
        r, nz, ny, nx = head.shape
        stacked = np.moveaxis(head, 1, 0).reshape(nz, r * ny, nx)
        wtd = water_table_depth(stacked, self.centres).reshape(r, ny, nx)
        self.layout.view(runs, "water_table_depth")[:, 0] = np.where(np.isfinite(wtd), wtd,
                                                                    self.bottom)

    # -- constraints ----------------------------------------------------------------------------
    def constrain(self, runs: np.ndarray, estimated: Sequence[str]) -> None:
        """Bounds of the estimated parameters and of the land stores (in place)."""
        view = self.layout.view
        for name in estimated:
            lo, hi = self.bounds.get(name, (-np.inf, np.inf))
            v = view(runs, name)
            np.clip(v, lo, hi, out=v)
        if "porosity" in estimated:
            v = view(runs, "porosity")
            np.maximum(v, np.asarray(self.soil["theta_r"]) + 0.01, out=v)
        if "sand_percent" in estimated or "clay_percent" in estimated:
            sand, clay = view(runs, "sand_percent"), view(runs, "clay_percent")
            total = sand + clay
            scale = np.where(total > TEXTURE_MAX, TEXTURE_MAX / np.maximum(total, 1e-300), 1.0)
            sand *= scale
            clay *= scale
        for name in STORES:
            if name in self.names:
                v = view(runs, name)
                np.maximum(v, 0.0, out=v)
        if "leaf_biomass" in self.names and self.bare.any():
            view(runs, "leaf_biomass")[:, :, self.bare] = 0.0


def _head_from_saturation(se: np.ndarray, alpha: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Inverse van Genuchten: pressure head [m] for effective saturation ``se`` in (0, 1]
    (``se >= 1`` gives 0)."""
    se = np.clip(se, 1e-300, 1.0)
    m = 1.0 - 1.0 / n
    with np.errstate(all="ignore"):
        h = -((se ** (-1.0 / m) - 1.0) ** (1.0 / n)) / alpha
    return np.where(se >= 1.0, 0.0, h)


def analysis_state(cfg: Any, tables: Mapping[str, Any], layout: Any,
                    interfaces: np.ndarray, facts: Mapping[str, Any], box: Any
                    ) -> LandAnalysisState:
    """The land state's masks, derived variables and constraints on a filter rank's block;
    a ``[[parameter]]`` bound replaces the physical bound on its side only."""
    land = tables.get("land", {})
    cover = np.asarray(land.get("land_cover", "grass"), dtype=object)
    if cover.ndim == 2:
        cover = cover[box.y0:box.y1, box.x0:box.x1]
    params = column_parameters(cover.tolist() if cover.ndim else cover.item(),
                               (box.ny, box.nx), land.get("parameters"))
    bounds = {}
    for p in cfg.parameter:
        lo, hi = PARAMETER_BOUNDS.get(p.name, (-np.inf, np.inf))
        bounds[p.name] = (lo if p.minimum is None else p.minimum,
                          hi if p.maximum is None else p.maximum)
    top = tables.get("boundary", {}).get("top", {})
    return LandAnalysisState(layout, soil_parameters(tables.get("soil", {}),
                                                     interfaces.size - 1, box),
                             0.5 * (interfaces[:-1] + interfaces[1:]), float(interfaces[-1]),
                             float(top.get("h_min_m", -100.0)),
                             np.broadcast_to(params.specific_leaf_area, (box.ny, box.nx)),
                             facts["bare_ground"][box.y0:box.y1, box.x0:box.x1], bounds,
                             tables.get("update", {}).get("variable", "pressure_head"),
                             tables.get("soil", {}).get("pedotransfer", "cosby1984"))


def check_analysis_tables(cfg: Any, fields: list[str]) -> None:
    """What the land twin adds to the ``[[analysis]]`` tables' checks: their masks, update
    variables and fields; the observation types' shorthand keys are refused beside them."""
    if not cfg.analysis:
        return
    defaults = LandObservationSection()
    for i, s in enumerate(cfg.observations):
        for key in TYPE_UPDATE_KEYS:
            if getattr(s, key, None) != getattr(defaults, key):
                raise ConfigError(f"observations[{i}].{key}: with [[analysis]] tables what an "
                                  "analysis updates is set there (fields, depth_m, parameters)")
    analysable = list(ANALYSED) + [f for f in fields if f in ("canopy_water", "swe",
                                                             "leaf_biomass", "soil_temperature")]
    for i, m in enumerate(cfg.analysis):
        path = f"analysis[{i}]"
        if m.mask not in ("all",) + MASKS:
            raise ConfigError(f"{path}.mask = {m.mask!r}: expected 'all' or one of {MASKS}")
        if m.update and m.update not in UPDATE_VARIABLES:
            raise ConfigError(f"{path}.update = {m.update!r}: expected one of "
                              f"{UPDATE_VARIABLES}")
        for f in m.fields:
            if f not in analysable:
                raise ConfigError(f"{path}.fields: {f!r} is not a field an analysis updates; "
                                  f"expected some of {analysable} (parameters go in "
                                  f"{path}.parameters)")
        for key in m.damping:
            if key not in tuple(m.fields or ANALYSED) + m.parameters:
                raise ConfigError(f"{path}.damping.{key}: not among the fields or parameters "
                                  "this module updates")

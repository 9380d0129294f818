"""``CoupledModel``: land columns on top of the 3D Richards subsurface, coupled as in TSMP.

Per coupling step ``[t, t + dt]`` (default one hour), on every rank for the columns it owns:

1. the land reads the subsurface state of its root layers at ``t``: pressure head, water content
   and saturation (TSMP's ParFlow -> CLM fields PFLPSI/PFLSAT);
2. the land advances its stores with the forcing of the step and returns net infiltration
   (throughfall + melt - soil evaporation) and the transpiration of each root layer;
3. these become the Richards top flux [m s-1] (an atmospheric condition: ponding beyond the
   soil's capacity becomes runoff, evaporation the soil cannot deliver is not taken) and
   volumetric sources [s-1] ``-T_i / (rho_w dz_i)`` (TSMP's CLM -> ParFlow field PFLFLX,
   ``flux / dz``);
4. the subsurface advances from ``t`` to ``t + dt`` with its own adaptive steps.

Land arrays live on the same ranks and columns as the subsurface (the DMDA's ``(px, py, 1)``
process grid), so the exchange is local: no communication beyond the Richards solver's own.

State for the assimilation (:attr:`CoupledModel.fields`): ``pressure_head`` (nz levels),
``canopy_water``, ``swe``, ``leaf_biomass`` (1 level each), ``soil_temperature`` [K] (nz levels,
:mod:`.land.soil_temperature`, advanced every coupling step from the forcing's air temperature;
the land twin's analysis leaves it alone), then the parameter fields named in
``parameter_fields``: ``log10_ks`` [log10(m s-1)], ``porosity`` [m3 m-3], ``ln_alpha``
[ln(m-1)], ``vg_n`` [-], ``sand_percent``, ``clay_percent`` [%] (nz levels each),
``specific_leaf_area`` [m2 kg-1], ``root_beta`` [-].

**Texture** (:mod:`.land.texture`): ``[subsurface.soil] sand_percent`` and ``clay_percent``
(one value, per layer, per column or per cell) derive ``theta_r``, ``theta_s``, ``alpha``,
``n`` and Ks (horizontal = vertical) through ``[soil] pedotransfer`` (``"cosby1984"``, the
default, continuous in texture; ``"rosetta_class_average"``, piecewise constant); explicit
values of those beside a texture are refused. With ``sand_percent`` and ``clay_percent`` in
``parameter_fields``, :meth:`CoupledModel.set_state` moves the member's texture onto the
constraint (:func:`~.land.texture.project_texture`) and re-derives the member's soil from it,
keeping the anisotropy ratio ``ks_v / ks_h``; a hydraulic parameter field named in
``independent_parameters`` (the land twin: those the analysis estimates, e.g. LI's log10 Ks
beside perturbed texture) then keeps its own value over the derived one, the others are
derived (and read back derived by :meth:`~CoupledModel.get_state`).

Configuration::

    [subsurface]   the RichardsModel configuration (grid, soil, boundary, initial, solver); the
                   top boundary must be "atmospheric" (the default here)
    [land]         land_cover = "grass" (a class name, a code, or a (ny, nx) map),
                   et_method = "penman_monteith" | "priestley_taylor",
                   evap_beta = "linear" | "cosine" | "none", root_depth_m = 3.0,
                   wind_height_m = 10.0, degree_day_factor_mm_per_day_k = 3.0,
                   parameters = {class = {parameter = value}}, lai_initial (optional),
                   soil_temperature_initial_k (optional; default the forcing's air temperature
                   at time 0), soil_heat_conductivity_w_per_m_k = 1.2,
                   soil_heat_capacity_j_per_m3_k = 2.5e6
    [forcing]      see models.forcing.forcing_from_config
    [coupling]     dt_s = 3600
    lateral_flow = true              (false: no lateral subsurface flow, a free-drainage bottom;
                                      the stand-alone land model, models.standalone_land)
    parameter_fields = [...]
    independent_parameters = [...]   (hydraulic parameter fields a state texture does not set)
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from pdafpy.decomposition import Box
from pdafpy.errors import ConfigError
from pdafpy.model import FieldSpec, Grid

from .forcing import ForcingSource, forcing_from_config
from .land.column import STORES, WATER_DENSITY, LandColumns, SoilState
from .land.parameters import column_parameters
from .land.texture import project_texture, texture_soil, texture_table
from .land.soil_temperature import (DEFAULT_CONDUCTIVITY, DEFAULT_HEAT_CAPACITY,
                                    DEFAULT_INITIAL, SoilTemperature)
from .land.vegetation import leaf_biomass_from_lai

__all__ = ["CoupledModel", "PrescribedLand", "PrescribedFluxes", "PARAMETER_FIELDS",
           "LAND_KEYS", "HYDRAULIC_FIELDS", "texture_soil"]

log = logging.getLogger(__name__)

#: Per-member parameter fields: name -> (levels "nz" or 1, units).
PARAMETER_FIELDS = {"log10_ks": ("nz", "log10(m s-1)"), "porosity": ("nz", "m3 m-3"),
                    "ln_alpha": ("nz", "ln(m-1)"), "vg_n": ("nz", "1"),
                    "specific_leaf_area": (1, "m2 kg-1"), "root_beta": (1, "1"),
                    "sand_percent": ("nz", "%"), "clay_percent": ("nz", "%")}
#: Parameter fields of the soil's hydraulic parameters (a state texture derives them).
HYDRAULIC_FIELDS = ("log10_ks", "porosity", "ln_alpha", "vg_n")
_TEXTURE_FIELDS = ("sand_percent", "clay_percent")
_STORE_UNITS = {"canopy_water": "kg m-2", "swe": "kg m-2", "leaf_biomass": "kg m-2"}
LAND_KEYS = {"land_cover", "et_method", "evap_beta", "root_depth_m", "wind_height_m",
             "degree_day_factor_mm_per_day_k", "parameters", "lai_initial",
             "soil_temperature_initial_k", "soil_heat_conductivity_w_per_m_k",
             "soil_heat_capacity_j_per_m3_k"}
_LAND_ITEMS = ("precipitation", "interception_evaporation", "sublimation", "transpiration",
               "soil_evaporation", "land_storage")


def _check_texture_fields(params: tuple[str, ...], texture: Mapping[str, Any] | None,
                          config: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``independent_parameters`` of ``config``, after checking that texture parameter
    fields come as a pair and with a ``[soil]`` texture (one-line :class:`ConfigError`)."""
    carried = [f for f in _TEXTURE_FIELDS if f in params]
    if carried and texture is None:
        raise ConfigError(f"coupled: parameter_fields {carried} need a texture in [soil] "
                          "(soil.sand_percent and soil.clay_percent), from which the soil's "
                          "hydraulic parameters are derived")
    if len(carried) == 1:
        raise ConfigError(f"coupled: parameter_fields has {carried[0]!r} without "
                          f"{[f for f in _TEXTURE_FIELDS if f not in carried][0]!r}; the "
                          "texture is estimated or perturbed as a pair")
    independent = tuple(config.get("independent_parameters", ()))
    bad = [p for p in independent if p not in HYDRAULIC_FIELDS]
    if bad:
        raise ConfigError(f"coupled: independent_parameters {bad} are not hydraulic parameter "
                          f"fields {list(HYDRAULIC_FIELDS)}")
    return independent


@dataclass
class PrescribedFluxes:
    """Fluxes of one step given from outside (the land model replaced): the same interface as
    :class:`~models.land.column.LandFluxes` for the subsurface."""

    top: np.ndarray          # [m s-1], (ny, nx)
    source: np.ndarray       # [s-1], (nl, ny, nx)

    def top_flux(self) -> np.ndarray:
        return self.top

    def sinks(self, dz: np.ndarray) -> np.ndarray:
        return self.source


@dataclass
class PrescribedLand:
    """A stand-in for :class:`LandColumns` that returns prescribed top fluxes and sources.

    Parameters
    ----------
    top_flux : callable ``f(t) -> (ny, nx)`` [m s-1]
    sources : callable ``f(t) -> (nl, ny, nx)`` [s-1]
    """

    top_flux: Callable[[float], np.ndarray]
    sources: Callable[[float], np.ndarray]

    def step(self, forcing, soil, dt, t=0.0) -> PrescribedFluxes:
        return PrescribedFluxes(np.asarray(self.top_flux(t), float),
                                np.asarray(self.sources(t), float))


@dataclass
class _MemberBalance:
    totals: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_LAND_ITEMS, 0.0))


class CoupledModel:
    """Land columns coupled to the Richards subsurface, behind pdafpy's Model protocol.

    Use :meth:`create`. Attributes ``time_land`` and ``time_subsurface`` [s] accumulate the wall
    time of the two parts on this rank. ``soil_temperature`` (a
    :class:`~models.land.soil_temperature.SoilTemperature` on the subsurface layers, or None for
    none: no ``soil_temperature`` field) is advanced every coupling step with the forcing's air
    temperature as its surface temperature.
    """

    def __init__(self, richards: Any, land: Any, forcing: ForcingSource | None,
                 dt_coupling: float = 3600.0, parameter_fields: tuple[str, ...] = (),
                 soil_temperature: SoilTemperature | None = None) -> None:
        self.richards = richards
        self.land = land
        self.soil_temperature = soil_temperature
        self.forcing = forcing
        self.dt_coupling = float(dt_coupling)
        if not self.dt_coupling > 0:
            raise ConfigError(f"coupled: coupling.dt_s must be > 0, got {dt_coupling!r}")
        self._parameter_fields = tuple(parameter_fields)
        #: ``(sand, clay)`` [%] of the loaded member on the owned cells, ``(nz, ny, nx)`` each;
        #: None without a [soil] texture (see :meth:`_with_texture`).
        self.texture: tuple[np.ndarray, np.ndarray] | None = None
        self.pedotransfer = "cosby1984"
        self._independent: tuple[str, ...] = ()
        g = richards.solver.grid
        self.nz = g.nz
        self.area = g.dx * g.dy
        self.dz = g.dz
        self.nl = int(land.z_top.size) if hasattr(land, "z_top") else g.nz
        self.time_land = 0.0
        self.time_subsurface = 0.0
        self.last_fluxes = None
        self.mean_evapotranspiration: np.ndarray | None = None
        #: Running sums [kg m-2] per column ``(ny, nx)`` of land fluxes by their
        #: :class:`~models.land.column.LandFluxes` name (the land twin's: evapotranspiration,
        #: transpiration), added to in place at every coupling step of :meth:`advance` while
        #: set; the caller keeps and resets them (None: not kept).
        self.flux_sums: dict[str, np.ndarray] | None = None
        self._balances: dict[int, _MemberBalance] = {}
        self._member: int | None = None
        self._source_full = np.zeros(g.owned_shape)
        self._h_wilt = getattr(getattr(land, "params", None), "h_wilt", None)
        self._refresh_soil_derived()

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, comm: Any, config: Mapping[str, Any]) -> "CoupledModel":
        """Build the coupled model on the ranks of ``comm`` from a configuration mapping.

        Raises
        ------
        ConfigError
            For a bad key or value (naming it), before anything runs.
        """
        from .richards.model import RichardsModel

        config = copy.deepcopy(dict(config))
        known = {"subsurface", "land", "forcing", "coupling", "parameter_fields",
                 "independent_parameters", "lateral_flow"}
        bad = set(config) - known
        if bad:
            raise ConfigError(f"coupled: unknown sections {sorted(bad)}; known: {sorted(known)}")
        if "subsurface" not in config:
            raise ConfigError("coupled: needs a [subsurface] section (the Richards model)")
        sub = dict(config["subsurface"])
        bnd = dict(sub.get("boundary", {}))
        top = bnd.get("top", {"type": "atmospheric", "h_max_m": 0.0, "h_min_m": -100.0})
        if not isinstance(top, Mapping) or top.get("type") != "atmospheric":
            raise ConfigError(f"coupled: subsurface.boundary.top must be of type 'atmospheric' "
                              f"(the land sets its flux), got {top!r}")
        bnd["top"] = top
        lateral = config.get("lateral_flow", True)
        if not isinstance(lateral, bool):
            raise ConfigError(f"coupled: lateral_flow = {lateral!r}: expected true or false")
        if not lateral:
            from .standalone_land import standalone_boundary
            bnd = standalone_boundary(bnd)
        sub["boundary"] = bnd
        params = tuple(config.get("parameter_fields", ()))
        unknown = set(params) - set(PARAMETER_FIELDS)
        if unknown:
            raise ConfigError(f"coupled: parameter_fields {sorted(unknown)} unknown; available: "
                              f"{sorted(PARAMETER_FIELDS)}")
        sub.pop("parameter_fields", None)
        texture = None
        if isinstance(sub.get("soil"), Mapping):
            sub["soil"], texture = texture_table(dict(sub["soil"]))
        independent = _check_texture_fields(params, texture, config)
        richards = RichardsModel.create(comm, sub)
        if not lateral:
            richards.solver.disc.set_lateral_flow(False)
        g = richards.solver.grid
        box = g.box
        lcfg = dict(config.get("land", {}))
        bad = set(lcfg) - LAND_KEYS
        if bad:
            raise ConfigError(f"coupled: [land] has unknown keys {sorted(bad)}; known: "
                              f"{sorted(LAND_KEYS)}")
        cover = lcfg.get("land_cover", "grass")
        carr = np.asarray(cover, dtype=object)
        if carr.ndim == 2:
            if carr.shape != (g.ny, g.nx):
                raise ConfigError(f"coupled: land.land_cover map must have shape "
                                  f"({g.ny}, {g.nx}), got {carr.shape}")
            carr = carr[box.y0:box.y1, box.x0:box.x1]
        elif carr.ndim != 0:
            raise ConfigError("coupled: land.land_cover must be a class or a (ny, nx) map")
        cp = column_parameters(carr.tolist() if carr.ndim else carr.item(), (box.ny, box.nx),
                               lcfg.get("parameters"))
        root_depth = float(lcfg.get("root_depth_m", 3.0))
        if not root_depth > 0:
            raise ConfigError(f"coupled: land.root_depth_m must be > 0, got {root_depth!r}")
        nl = max(1, int(np.count_nonzero(g.interfaces[:-1] < root_depth - 1e-12)))
        land = LandColumns(cp, g.interfaces[:nl], g.interfaces[1:nl + 1],
                           et_method=lcfg.get("et_method", "penman_monteith"),
                           evap_beta=lcfg.get("evap_beta", "linear"),
                           wind_height_m=float(lcfg.get("wind_height_m", 10.0)),
                           degree_day_factor=float(lcfg.get("degree_day_factor_mm_per_day_k",
                                                            3.0)) / 86400.0)
        if "lai_initial" in lcfg:
            land.leaf_biomass = leaf_biomass_from_lai(
                np.broadcast_to(np.asarray(lcfg["lai_initial"], float), land.shape),
                cp.specific_leaf_area) * np.ones(land.shape)
        fcfg = dict(config.get("forcing", {}))
        forcing = forcing_from_config(fcfg, box, g.ny, g.nx, comm=g.mpi_comm)
        ccfg = dict(config.get("coupling", {}))
        bad = set(ccfg) - {"dt_s"}
        if bad:
            raise ConfigError(f"coupled: [coupling] has unknown keys {sorted(bad)}")
        initial = lcfg.get("soil_temperature_initial_k")
        if initial is None:         # uniform at the air temperature of time 0, per column
            initial = forcing.at(0.0)["air_temperature"] if forcing is not None \
                else DEFAULT_INITIAL
        heat = SoilTemperature(
            g.dz, land.shape,
            float(lcfg.get("soil_heat_conductivity_w_per_m_k", DEFAULT_CONDUCTIVITY)),
            float(lcfg.get("soil_heat_capacity_j_per_m3_k", DEFAULT_HEAT_CAPACITY)), initial)
        return cls(richards, land, forcing, float(ccfg.get("dt_s", 3600.0)), params,
                   heat)._with_texture(texture, independent)

    # ------------------------------------------------------------------ protocol
    @property
    def grid(self) -> Grid:
        """The global horizontal grid; ``z`` holds the subsurface layer-centre depths [m]."""
        return self.richards.grid

    @property
    def box(self) -> Box:
        return self.richards.box

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        out = [FieldSpec("pressure_head", self.nz, "m", "state")]
        out += [FieldSpec(k, 1, _STORE_UNITS[k], "state") for k in STORES]
        if self.soil_temperature is not None:
            out.append(FieldSpec("soil_temperature", self.nz, "K", "state"))
        for name in self._parameter_fields:
            lev, units = PARAMETER_FIELDS[name]
            out.append(FieldSpec(name, self.nz if lev == "nz" else 1, units, "parameter"))
        return tuple(out)

    def _soil(self) -> dict[str, np.ndarray]:
        return self.richards.solver.disc.soil

    def get_state(self) -> dict[str, np.ndarray]:
        """Pressure head ``(nz, ny, nx)``, the land stores ``(1, ny, nx)``, the soil temperature
        ``(nz, ny, nx)`` [K] and parameters."""
        out = {"pressure_head": self.richards.solver.get_head()}
        if hasattr(self.land, "stores"):
            for k, v in self.land.stores().items():
                out[k] = v[None]
        if self.soil_temperature is not None:
            out["soil_temperature"] = self.soil_temperature.temperature.copy()
        soil = self._soil()
        for name in self._parameter_fields:
            if name == "log10_ks":
                out[name] = np.log10(soil["ks_h"])
            elif name == "porosity":
                out[name] = soil["theta_s"].copy()
            elif name == "ln_alpha":
                out[name] = np.log(soil["alpha"])
            elif name == "vg_n":
                out[name] = soil["n"].copy()
            elif name in _TEXTURE_FIELDS:
                out[name] = self.texture[_TEXTURE_FIELDS.index(name)].copy()
            else:
                out[name] = getattr(self.land.params, name).copy()[None]
        return out

    def set_state(self, member: int, state: Mapping[str, np.ndarray]) -> None:
        """Load member ``member``'s head, land stores, soil temperature and parameters
        (collective)."""
        if "pressure_head" not in state:
            raise ConfigError("coupled: set_state needs the field 'pressure_head'")
        soil_new = self._soil_from_texture(state)      # None unless the state has a texture
        derived = soil_new is not None
        for name in HYDRAULIC_FIELDS:
            if name in self._parameter_fields and name in state and (
                    not derived or name in self._independent):
                if soil_new is None:
                    soil_new = {k: v.copy() for k, v in self._soil().items()}
                v = np.asarray(state[name], float).reshape(soil_new["ks_h"].shape)
                if name == "log10_ks":
                    ratio = soil_new["ks_v"] / soil_new["ks_h"]
                    soil_new["ks_h"] = 10.0 ** v
                    soil_new["ks_v"] = soil_new["ks_h"] * ratio
                elif name == "porosity":
                    soil_new["theta_s"] = v.copy()
                elif name == "ln_alpha":
                    soil_new["alpha"] = np.exp(v)
                else:
                    soil_new["n"] = v.copy()
        if soil_new is not None:
            self.richards.solver.disc.set_parameters(soil_new)
            self._refresh_soil_derived()
        land_params = [n for n in ("specific_leaf_area", "root_beta")
                       if n in self._parameter_fields and n in state]
        for name in land_params:
            self.land.params.values[name] = np.asarray(state[name], float).reshape(
                self.land.shape).copy()
        if land_params:
            self.land.update_parameters()
        self.richards.set_state(member, {"pressure_head": state["pressure_head"]})
        if hasattr(self.land, "set_stores"):
            self.land.set_stores({k: np.asarray(state[k]).reshape(self.land.shape)
                                  for k in STORES if k in state})
        if self.soil_temperature is not None and "soil_temperature" in state:
            self.soil_temperature.set_temperature(state["soil_temperature"])
        self._balances.setdefault(member, _MemberBalance())
        self._member = member

    # ------------------------------------------------------------------ texture
    def _with_texture(self, texture: Mapping[str, Any] | None,
                      independent: tuple[str, ...] = ()) -> "CoupledModel":
        """Keep the configured texture (:func:`~.land.texture.texture_table`) on the owned
        cells, the pedotransfer rule and the hydraulic fields a state texture does not set."""
        self._independent = tuple(independent)
        if texture is not None:
            g = self.richards.solver.grid
            self.texture = (g.owned(texture["sand"], "soil.sand_percent"),
                            g.owned(texture["clay"], "soil.clay_percent"))
            self.pedotransfer = texture["rule"]
        return self

    def _soil_from_texture(self, state: Mapping[str, np.ndarray]
                           ) -> dict[str, np.ndarray] | None:
        """The member's soil derived from the texture in ``state`` (None when the state has
        none): sand and clay projected onto the constraint (kept as :attr:`texture`), then
        ``theta_r``, ``theta_s``, ``alpha``, ``n`` and ``ks_h`` from the pedotransfer rule;
        ``ks_v`` keeps the current ``ks_v / ks_h`` ratio, ``ss`` stays."""
        if not all(f in self._parameter_fields and f in state for f in _TEXTURE_FIELDS):
            return None
        soil = {k: v.copy() for k, v in self._soil().items()}
        shape = soil["ks_h"].shape
        sand, clay = (np.asarray(state[f], float).reshape(shape) for f in _TEXTURE_FIELDS)
        self.texture = project_texture(sand, clay)
        derived = texture_soil(*self.texture, self.pedotransfer)
        ratio = soil["ks_v"] / soil["ks_h"]
        soil.update({k: derived[k] for k in ("theta_r", "theta_s", "alpha", "n", "ks_h")})
        soil["ks_v"] = soil["ks_h"] * ratio
        return soil

    # ------------------------------------------------------------------ soil view
    def _refresh_soil_derived(self) -> None:
        disc = self.richards.solver.disc
        nl = self.nl
        self._ret_root = disc.retention_owned.subset(lambda a: a[:nl])
        soil = disc.soil
        self._theta_s_top = soil["theta_s"][0].copy()
        self._res_sat_top = soil["theta_r"][0] / soil["theta_s"][0]
        if self._h_wilt is not None:
            hw = np.broadcast_to(self._h_wilt, self._theta_s_top.shape)
            self._theta_wilt = self._ret_root.evaluate(
                np.broadcast_to(hw, (nl,) + hw.shape).copy(), derivatives=False)[0]
        else:
            self._theta_wilt = np.zeros((nl,) + self._theta_s_top.shape)

    def soil_state(self) -> SoilState:
        """The root layers' state now (what TSMP's ParFlow sends CLM)."""
        h = self.richards.solver.get_head()[: self.nl]
        theta = self._ret_root.evaluate(h, derivatives=False)[0]
        return SoilState(h, theta, self._theta_wilt, theta[0] / self._theta_s_top,
                         self._res_sat_top)

    # ------------------------------------------------------------------ time stepping
    def advance(self, t0: float, t1: float) -> None:
        """Advance the loaded member from ``t0`` to ``t1`` [s] in coupling steps.

        Sets :attr:`mean_evapotranspiration` [kg m-2 s-1], ``(ny, nx)``: the land's
        evapotranspiration (interception evaporation + sublimation + transpiration + soil
        evaporation, :attr:`LandFluxes.evapotranspiration`) averaged over ``[t0, t1]``.
        Transpiration is already limited to the water above the wilting point; soil evaporation
        the subsurface could not deliver (the Richards solver's ``evaporation_deficit``, known
        for the whole domain only, see :meth:`water_balance`) is not subtracted.
        ``None`` after an empty interval or with a land stand-in that reports no
        evapotranspiration. Adds each step's ``rate * dt`` to :attr:`flux_sums` where set.
        """
        if self._member is None:
            self.set_state(0, self.get_state())
        t = float(t0)
        eps = 1e-9 * max(1.0, abs(t1))
        et_sum = None
        while t < t1 - eps:
            dt = min(self.dt_coupling, t1 - t)
            self.step(t, dt)
            et = getattr(self.last_fluxes, "evapotranspiration", None)
            if et is not None:
                et_sum = et * dt if et_sum is None else et_sum + et * dt
                for name, total in (self.flux_sums or {}).items():
                    total += getattr(self.last_fluxes, name) * dt
            t = t1 if abs(t + dt - t1) <= eps else t + dt
        self.mean_evapotranspiration = None if et_sum is None else et_sum / (t - float(t0))

    def step(self, t: float, dt: float) -> None:
        """One coupling step from ``t`` of length ``dt`` [s]."""
        c0 = time.perf_counter()
        soil = self.soil_state()
        forcing = self.forcing.at(t) if self.forcing is not None else None
        water0 = self.land.water() if hasattr(self.land, "water") else None
        fl = self.land.step(forcing, soil, dt, t)
        self.last_fluxes = fl
        if self.soil_temperature is not None and forcing is not None:
            self.soil_temperature.step(dt, surface_temperature=forcing["air_temperature"])
        src = self._source_full
        src[: self.nl] = fl.sinks(self.dz[: self.nl])
        if water0 is not None:
            b = self._balances[self._member].totals
            a = self.area / WATER_DENSITY * dt          # kg m-2 s-1 -> m3 per column
            b["precipitation"] += a * float(np.sum(fl.precipitation))
            b["interception_evaporation"] += a * float(np.sum(fl.interception_evaporation))
            b["sublimation"] += a * float(np.sum(fl.sublimation))
            b["transpiration"] += a * float(np.sum(fl.transpiration))
            b["soil_evaporation"] += a * float(np.sum(fl.soil_evaporation))
            b["land_storage"] += self.area / WATER_DENSITY * float(
                np.sum(self.land.water() - water0))
        self.richards.set_top_flux(fl.top_flux())
        self.richards.set_source(src)
        c1 = time.perf_counter()
        self.richards.advance(t, t + dt)
        c2 = time.perf_counter()
        self.time_land += c1 - c0
        self.time_subsurface += c2 - c1

    # ------------------------------------------------------------------ restart
    def checkpoint_state(self) -> dict[str, Any]:
        """Per-member state beyond the state vector that a restart needs, by member.

        The subsurface's step controller and water balance (:meth:`RichardsModel.checkpoint_state
        <models.richards.model.RichardsModel.checkpoint_state>`) and the land water-balance
        totals [m3]. The land columns keep nothing else per member: their stores
        (``canopy_water``, ``swe``, ``leaf_biomass``), the soil temperature and any per-member
        land parameters travel in the state vector, and :attr:`last_fluxes` is recomputed by
        every coupling step.
        """
        return {"richards": self.richards.checkpoint_state(),
                "land_balance": {m: dict(b.totals) for m, b in self._balances.items()}}

    def restore_checkpoint(self, saved: Mapping[str, Any]) -> None:
        """Inverse of :meth:`checkpoint_state` (members keyed by ``int`` or ``str``)."""
        self.richards.restore_checkpoint(saved.get("richards", {}))
        for m, totals in saved.get("land_balance", {}).items():
            self._balances[int(m)] = _MemberBalance({k: float(v) for k, v in totals.items()})

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self) -> dict[str, np.ndarray]:
        """Subsurface ``theta``, ``saturation`` (per cell), ``water_table_depth`` and land
        ``lai`` (per column)."""
        out = self.richards.diagnostics()
        if hasattr(self.land, "lai"):
            out["lai"] = self.land.lai
        return out

    def water_balance(self) -> dict[str, float]:
        """Cumulative water balance of the loaded member over all ranks [m3] (collective).

        ``residual = precipitation - et - runoff - drainage - storage_change`` with
        ``et`` the evapotranspiration actually taken (interception evaporation + sublimation +
        transpiration + soil evaporation - the evaporation the soil could not deliver),
        ``runoff`` the rain the soil could not take, ``drainage`` the net outflow through the
        bottom and side faces, ``storage_change`` that of the subsurface and the land stores.
        """
        from mpi4py import MPI

        b = self._balances[self._member].totals
        comm = self.richards.solver.grid.mpi_comm
        loc = np.array([b[k] for k in _LAND_ITEMS])
        glob = np.empty_like(loc)
        comm.Allreduce(loc, glob, op=MPI.SUM)
        land = dict(zip(_LAND_ITEMS, glob.tolist()))
        rt = self.richards.water_balance.totals
        et = (land["interception_evaporation"] + land["sublimation"] + land["transpiration"]
              + land["soil_evaporation"] - rt["evaporation_deficit"])
        drainage = -sum(rt[f"in_{f}"] for f in ("bottom", "west", "east", "south", "north"))
        storage = rt["storage"] + land["land_storage"]
        out = dict(land)
        out.update(et=et, runoff=rt["runoff"], drainage=drainage,
                   subsurface_storage=rt["storage"], storage_change=storage,
                   evaporation_deficit=rt["evaporation_deficit"],
                   uptake_subsurface=-rt["source"])
        out["residual"] = land["precipitation"] - et - rt["runoff"] - drainage - storage
        out["relative_residual"] = (abs(out["residual"]) / land["precipitation"]
                                    if land["precipitation"] > 0 else abs(out["residual"]))
        return out

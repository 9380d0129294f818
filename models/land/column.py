"""``LandColumns``: the land columns of one rank, their stores and one coupling step.

All columns of a rank advance together as numpy arrays; there is no loop over columns. Per step,
in this order (ParFlow-CLM's split, with the subsurface state of the start of the step):

1. precipitation split into rain and snow by air temperature (:mod:`.snow`);
2. potential ET (FAO-56 Penman-Monteith or Priestley-Taylor on the grass reference, times the
   class's Kc; :mod:`.evapotranspiration`), split by the vegetated fraction ``1 - exp(-k LAI)``
   into a canopy part and a ground part;
3. interception of rain and evaporation from the wet canopy fraction (:mod:`.interception`);
4. snow accumulation, degree-day melt, sublimation of the ground part over the snow-covered
   fraction;
5. transpiration ``= canopy potential x (1 - f_wet) x btran``, distributed over the root layers
   by ``r_i w_i / btran`` (Jackson roots x Feddes stress, :mod:`.roots`) and limited in each
   layer to the water above its wilting point;
6. soil evaporation ``= ground potential x (1 - f_snow) x beta`` (EvapBeta from the top layer);
7. net infiltration ``= throughfall + melt - soil evaporation``, the subsurface's top flux;
8. leaf biomass phenology (:mod:`.vegetation`).

Units: stores in kg m-2 (= mm of water; leaf biomass in kg m-2 dry mass), rates in kg m-2 s-1,
temperatures in K in the forcing. The fluxes for the subsurface are converted to m s-1 and s-1 by
:class:`LandFluxes`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from pdafpy.errors import ConfigError

from . import interception, roots, snow, vegetation
from .evapotranspiration import ET_METHODS, potential_evaporation
from .parameters import ColumnParameters

__all__ = ["LandColumns", "SoilState", "LandFluxes", "WATER_DENSITY", "STORES"]

log = logging.getLogger(__name__)

#: Density of water [kg m-3].
WATER_DENSITY = 1000.0
#: The prognostic stores, in state order.
STORES = ("canopy_water", "swe", "leaf_biomass")


@dataclass
class SoilState:
    """What the land needs from the subsurface for its root layers (top-down).

    Attributes
    ----------
    pressure_head : (nl, ny, nx) ndarray
        [m].
    theta : (nl, ny, nx) ndarray
        Volumetric water content [m3 m-3].
    theta_wilt : (nl, ny, nx) ndarray
        Water content at the wilting point head [m3 m-3] (uptake never takes a layer below it).
    saturation_top : (ny, nx) ndarray
        Saturation ``theta / theta_s`` of the top layer [-].
    residual_saturation_top : (ny, nx) ndarray
        ``theta_r / theta_s`` of the top layer [-].
    """

    pressure_head: np.ndarray
    theta: np.ndarray
    theta_wilt: np.ndarray
    saturation_top: np.ndarray
    residual_saturation_top: np.ndarray


@dataclass
class LandFluxes:
    """Fluxes of one step, per column, averaged over the step [kg m-2 s-1] unless noted.

    Attributes
    ----------
    precipitation, rain, snowfall, throughfall, melt, interception_evaporation, sublimation,
    transpiration, soil_evaporation, net_infiltration : (ny, nx) ndarray
    transpiration_layers : (nl, ny, nx) ndarray
        Uptake per root layer [kg m-2 s-1].
    btran : (ny, nx) ndarray
        Root-zone stress factor [-].
    potential_et : (ny, nx) ndarray
        Potential ET after Kc [kg m-2 s-1].
    """

    precipitation: np.ndarray
    rain: np.ndarray
    snowfall: np.ndarray
    throughfall: np.ndarray
    melt: np.ndarray
    interception_evaporation: np.ndarray
    sublimation: np.ndarray
    transpiration: np.ndarray
    soil_evaporation: np.ndarray
    net_infiltration: np.ndarray
    transpiration_layers: np.ndarray
    btran: np.ndarray
    potential_et: np.ndarray

    @property
    def evapotranspiration(self) -> np.ndarray:
        """Total ET requested of the land and soil [kg m-2 s-1]."""
        return (self.interception_evaporation + self.sublimation + self.transpiration
                + self.soil_evaporation)

    def top_flux(self) -> np.ndarray:
        """Net infiltration as the subsurface's top flux [m s-1], positive into the soil."""
        return self.net_infiltration / WATER_DENSITY

    def sinks(self, dz: np.ndarray) -> np.ndarray:
        """Transpiration as volumetric sources [s-1] (negative), ``(nl, ny, nx)``; ``dz`` [m]."""
        return -self.transpiration_layers / (WATER_DENSITY * np.asarray(dz)[:, None, None])


@dataclass
class LandColumns:
    """The land columns of one rank.

    Parameters
    ----------
    params : ColumnParameters
        Per-column parameters (``(ny, nx)`` arrays).
    z_top, z_bottom : (nl,) ndarray
        Depths of the tops and bottoms of the root layers [m] (the top subsurface layers).
    et_method : str
        ``"penman_monteith"`` or ``"priestley_taylor"``.
    evap_beta : str
        ``"linear"``, ``"cosine"`` or ``"none"``.
    wind_height_m : float
        Height of the forcing wind speed [m].
    degree_day_factor : float
        [kg m-2 s-1 K-1].

    Attributes
    ----------
    canopy_water, swe, leaf_biomass : (ny, nx) ndarray
        The stores [kg m-2].
    """

    params: ColumnParameters
    z_top: np.ndarray
    z_bottom: np.ndarray
    et_method: str = "penman_monteith"
    evap_beta: str = "linear"
    wind_height_m: float = 10.0
    degree_day_factor: float = 3.0 / 86400.0
    canopy_water: np.ndarray = field(init=False)
    swe: np.ndarray = field(init=False)
    leaf_biomass: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if self.et_method not in ET_METHODS:
            raise ConfigError(f"land: et_method must be one of {ET_METHODS}, "
                              f"got {self.et_method!r}")
        if self.evap_beta not in roots.EVAP_BETA_KINDS:
            raise ConfigError(f"land: evap_beta must be one of {roots.EVAP_BETA_KINDS}, "
                              f"got {self.evap_beta!r}")
        self.z_top = np.asarray(self.z_top, float)
        self.z_bottom = np.asarray(self.z_bottom, float)
        self.dz = self.z_bottom - self.z_top
        shape = self.params.land_cover.shape
        self.canopy_water = np.zeros(shape)
        self.swe = np.zeros(shape)
        p = self.params
        self.leaf_biomass = vegetation.leaf_biomass_from_lai(
            0.5 * (p.lai_min + p.lai_max), p.specific_leaf_area)
        self.update_parameters()

    # ------------------------------------------------------------------ parameters
    def update_parameters(self) -> None:
        """Recompute what derives from the parameters (root fractions); call after changing
        ``params`` (e.g. a member's ``root_beta``)."""
        self.root_fractions = roots.jackson_root_fractions(self.params.root_beta, self.z_top,
                                                           self.z_bottom)

    @property
    def shape(self) -> tuple[int, int]:
        return self.params.land_cover.shape

    @property
    def lai(self) -> np.ndarray:
        """Leaf area index [m2 m-2]."""
        return vegetation.leaf_area_index(self.leaf_biomass, self.params.specific_leaf_area)

    def stores(self) -> dict[str, np.ndarray]:
        """Copies of the stores [kg m-2], keyed as :data:`STORES`."""
        return {k: getattr(self, k).copy() for k in STORES}

    def set_stores(self, values: Mapping[str, np.ndarray]) -> None:
        """Set stores (any of :data:`STORES`), each ``(ny, nx)``; negative values are clipped."""
        for k, v in values.items():
            if k not in STORES:
                raise ConfigError(f"land: unknown store {k!r}; stores are {STORES}")
            a = np.asarray(v, float).reshape(self.shape)
            setattr(self, k, np.maximum(a, 0.0).copy())

    def water(self) -> np.ndarray:
        """Water held by the land stores (canopy + snow) [kg m-2] per column."""
        return self.canopy_water + self.swe

    # ------------------------------------------------------------------ one step
    def step(self, forcing: Mapping[str, np.ndarray], soil: SoilState, dt: float,
             t: float = 0.0) -> LandFluxes:
        """Advance the stores by ``dt`` [s] and return the step's fluxes.

        Parameters
        ----------
        forcing : mapping of str to (ny, nx) ndarray
            ``precipitation`` [kg m-2 s-1], ``shortwave``, ``longwave`` [W m-2],
            ``air_temperature`` [K], ``specific_humidity`` [kg kg-1], ``wind_speed`` [m s-1],
            ``surface_pressure`` [Pa] (see :mod:`models.forcing`).
        soil : SoilState
            Root-layer state at the start of the step.
        dt : float
            Step [s].
        t : float
            Model time of the start of the step [s] (unused by the physics; for stand-ins).
        """
        p = self.params
        t_c = forcing["air_temperature"] - 273.15
        precip = np.maximum(forcing["precipitation"], 0.0)
        f_snow = snow.snow_fraction_of_precipitation(t_c)
        snowfall = precip * f_snow
        rain = precip - snowfall
        # potential ET, split by vegetated fraction
        fsno0 = snow.snow_cover_fraction(self.swe)
        albedo = p.albedo + fsno0 * (0.6 - p.albedo)
        pet = p.kc * potential_evaporation(forcing, albedo, self.et_method, self.wind_height_m)
        lai = self.lai
        fveg = interception.vegetated_fraction(lai, p.extinction)
        pet_canopy = fveg * pet
        pet_ground = pet - pet_canopy
        # canopy interception and wet-canopy evaporation
        cap = interception.canopy_capacity(lai, p.interception_per_lai)
        w, throughfall = interception.intercept(self.canopy_water, cap, rain, fveg, dt)
        fwet = interception.wet_fraction(w, cap)
        e_int = interception.evaporate_canopy(w, pet_canopy, fwet, dt)
        self.canopy_water = w - e_int
        # snow
        swe = self.swe + snowfall * dt
        melt = snow.degree_day_melt(swe, t_c, dt, self.degree_day_factor)
        swe = swe - melt
        fsno = snow.snow_cover_fraction(swe)
        sub = np.minimum(fsno * pet_ground * dt, swe)
        self.swe = swe - sub
        # transpiration by root fraction x Feddes stress, limited by water above wilting
        stress = roots.feddes_stress(soil.pressure_head, p.h_wilt, p.h_field_capacity,
                                     1.0)
        if np.any(p.stress_exponent != 1.0):
            stress = stress ** p.stress_exponent
        weights, btran = roots.uptake_weights(self.root_fractions, stress)
        t_pot = pet_canopy * (1.0 - fwet) * btran
        t_layers = weights * t_pot
        avail = (np.maximum(soil.theta - soil.theta_wilt, 0.0) * self.dz[:, None, None]
                 * WATER_DENSITY / dt)
        t_layers = np.minimum(t_layers, avail)
        transp = t_layers.sum(axis=0)
        # bare-soil evaporation limited by EvapBeta
        beta = roots.evap_beta(soil.saturation_top, soil.residual_saturation_top,
                               self.evap_beta)
        e_soil = (1.0 - fsno) * pet_ground * beta
        # vegetation
        self.leaf_biomass = vegetation.phenology_step(self.leaf_biomass, t_c,
                                                      forcing["shortwave"], btran, dt, p)
        # drip when the capacity shrank with LAI
        cap_new = interception.canopy_capacity(self.lai, p.interception_per_lai)
        drip = np.maximum(self.canopy_water - cap_new, 0.0)
        self.canopy_water = self.canopy_water - drip
        throughfall = throughfall + drip
        inv = 1.0 / dt
        return LandFluxes(
            precipitation=precip, rain=rain, snowfall=snowfall, throughfall=throughfall * inv,
            melt=melt * inv, interception_evaporation=e_int * inv, sublimation=sub * inv,
            transpiration=transp, soil_evaporation=e_soil,
            net_infiltration=(throughfall + melt) * inv - e_soil,
            transpiration_layers=t_layers, btran=btran, potential_et=pet)

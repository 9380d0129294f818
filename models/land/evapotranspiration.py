"""Potential evapotranspiration: FAO-56 Penman-Monteith (default) and Priestley-Taylor.

Elementwise numpy functions. Pressures are in kPa and temperatures in degrees Celsius where the
name says so (FAO-56's conventions, so the worked examples check number for number); the model
entry point :func:`potential_evaporation` takes the forcing in SI units (K, Pa, W m-2, kg kg-1,
m s-1) and returns a rate in kg m-2 s-1 (= mm s-1 of water).

References
----------
Allen, R. G., Pereira, L. S., Raes, D., Smith, M. (1998): Crop evapotranspiration. FAO
Irrigation and Drainage Paper 56 (Eqs. 6, 7, 8, 11, 13, 39, 45-47, 53).
Priestley, C. H. B., Taylor, R. J. (1972): Mon. Weather Rev. 100, 81-92.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from pdafpy.errors import ConfigError

__all__ = ["LATENT_HEAT", "STEFAN_BOLTZMANN", "atmospheric_pressure_kpa",
           "psychrometric_constant_kpa", "saturation_vapour_pressure_kpa",
           "saturation_slope_kpa", "vapour_pressure_from_specific_humidity_kpa",
           "wind_speed_2m", "net_longwave_fao56_mj", "penman_monteith_fao56", "priestley_taylor",
           "soil_heat_flux_fao56_hourly", "net_radiation", "potential_evaporation",
           "ET_METHODS"]

#: Latent heat of vaporisation [J kg-1] (FAO-56's 2.45 MJ kg-1, i.e. the factor 0.408).
LATENT_HEAT = 2.45e6
#: Stefan-Boltzmann constant [W m-2 K-4].
STEFAN_BOLTZMANN = 5.670374e-8
ET_METHODS = ("penman_monteith", "priestley_taylor")


def atmospheric_pressure_kpa(elevation_m):
    """Atmospheric pressure [kPa] from elevation [m] (FAO-56 Eq. 7)."""
    return 101.3 * ((293.0 - 0.0065 * np.asarray(elevation_m, float)) / 293.0) ** 5.26


def psychrometric_constant_kpa(pressure_kpa):
    """Psychrometric constant gamma [kPa K-1] (FAO-56 Eq. 8)."""
    return 0.665e-3 * np.asarray(pressure_kpa, float)


def saturation_vapour_pressure_kpa(t_c):
    """Saturation vapour pressure e0(T) [kPa] at air temperature ``t_c`` [degC] (FAO-56 Eq. 11)."""
    t_c = np.asarray(t_c, float)
    return 0.6108 * np.exp(17.27 * t_c / (t_c + 237.3))


def saturation_slope_kpa(t_c):
    """Slope of the saturation vapour pressure curve Delta [kPa K-1] (FAO-56 Eq. 13)."""
    t_c = np.asarray(t_c, float)
    return 4098.0 * saturation_vapour_pressure_kpa(t_c) / (t_c + 237.3) ** 2


def vapour_pressure_from_specific_humidity_kpa(q, pressure_kpa):
    """Actual vapour pressure e_a [kPa] from specific humidity ``q`` [kg kg-1] and pressure."""
    q = np.asarray(q, float)
    return q * pressure_kpa / (0.622 + 0.378 * q)


def wind_speed_2m(wind, height_m):
    """Wind speed at 2 m [m s-1] from a measurement at ``height_m`` (FAO-56 Eq. 47)."""
    if height_m == 2.0:
        return np.asarray(wind, float)
    return np.asarray(wind, float) * 4.87 / np.log(67.8 * height_m - 5.42)


def net_longwave_fao56_mj(t_k4_mean, ea_kpa, rs_over_rso, sigma_mj):
    """Net outgoing long-wave radiation R_nl [MJ m-2 per period] (FAO-56 Eq. 39).

    Parameters
    ----------
    t_k4_mean : ndarray
        Mean of the fourth powers of the absolute temperatures [K4] (daily: (Tmax^4 + Tmin^4)/2).
    ea_kpa : ndarray
        Actual vapour pressure [kPa].
    rs_over_rso : ndarray
        Relative shortwave radiation, limited to <= 1.
    sigma_mj : float
        Stefan-Boltzmann constant per period: 4.903e-9 MJ K-4 m-2 day-1, 2.043e-10 per hour.
    """
    return (sigma_mj * t_k4_mean * (0.34 - 0.14 * np.sqrt(ea_kpa))
            * (1.35 * np.minimum(rs_over_rso, 1.0) - 0.35))


def penman_monteith_fao56(net_radiation, soil_heat_flux, t_c, u2, es_kpa, ea_kpa, pressure_kpa,
                          cn=37.0, period_s=3600.0, cd=0.34):
    """FAO-56 Penman-Monteith reference evapotranspiration ET0 as a rate [kg m-2 s-1].

    ``ET0 = [Delta (Rn - G) / lambda + gamma (Cn / period) / (T + 273) u2 (es - ea)]
    / [Delta + gamma (1 + Cd u2)]`` (FAO-56 Eq. 6 with ``Cn = 900``, period one day; Eq. 53 with
    ``Cn = 37``, period one hour), radiation as the mean flux over the period.

    Parameters
    ----------
    net_radiation, soil_heat_flux : ndarray
        R_n and G [W m-2], mean over the period.
    t_c : ndarray
        Mean air temperature [degC].
    u2 : ndarray
        Wind speed at 2 m [m s-1].
    es_kpa, ea_kpa : ndarray
        Saturation and actual vapour pressure [kPa].
    pressure_kpa : ndarray
        Atmospheric pressure [kPa].
    cn : float
        Numerator constant of the reference grass per period (900 daily, 37 hourly).
    period_s : float
        Length of the period ``cn`` refers to [s].
    cd : float
        Denominator constant (0.34 for the grass reference, daily and hourly in FAO-56).

    Returns
    -------
    ndarray
        ET0 [kg m-2 s-1]; multiply by the period length for mm per period. Not clipped.
    """
    delta = saturation_slope_kpa(t_c)
    gamma = psychrometric_constant_kpa(pressure_kpa)
    rad = delta * (np.asarray(net_radiation) - soil_heat_flux) / LATENT_HEAT
    aero = gamma * (cn / period_s) / (np.asarray(t_c) + 273.0) * u2 * (es_kpa - ea_kpa)
    return (rad + aero) / (delta + gamma * (1.0 + cd * np.asarray(u2)))


def priestley_taylor(net_radiation, soil_heat_flux, t_c, pressure_kpa, alpha=1.26):
    """Priestley-Taylor potential evaporation [kg m-2 s-1]:
    ``alpha Delta / (Delta + gamma) (Rn - G) / lambda`` with radiation in W m-2."""
    delta = saturation_slope_kpa(t_c)
    gamma = psychrometric_constant_kpa(pressure_kpa)
    return alpha * delta / (delta + gamma) * (np.asarray(net_radiation) - soil_heat_flux) \
        / LATENT_HEAT


def soil_heat_flux_fao56_hourly(net_radiation, shortwave):
    """Soil heat flux G [W m-2] for hourly periods: 0.1 Rn by day, 0.5 Rn by night
    (FAO-56 Eqs. 45-46; day is ``shortwave > 0``)."""
    return np.where(np.asarray(shortwave) > 0.0, 0.1, 0.5) * net_radiation


def net_radiation(shortwave, longwave, t_air_k, albedo, emissivity=0.97):
    """Net radiation [W m-2] with the surface at air temperature:
    ``(1 - albedo) SW + emissivity (LW_down - sigma T^4)``."""
    return ((1.0 - albedo) * shortwave
            + emissivity * (longwave - STEFAN_BOLTZMANN * np.asarray(t_air_k) ** 4))


def potential_evaporation(forcing: Mapping[str, np.ndarray], albedo, method="penman_monteith",
                          wind_height_m=10.0, pt_alpha=1.26):
    """Reference (grass) potential evapotranspiration from hourly forcing [kg m-2 s-1], >= 0.

    Parameters
    ----------
    forcing : mapping
        ``shortwave``, ``longwave`` [W m-2], ``air_temperature`` [K], ``specific_humidity``
        [kg kg-1], ``wind_speed`` [m s-1] at ``wind_height_m``, ``surface_pressure`` [Pa];
        arrays of one shape.
    albedo : ndarray
        Surface albedo [-] per column.
    method : str
        ``"penman_monteith"`` (FAO-56 hourly, Eq. 53) or ``"priestley_taylor"``.

    Returns
    -------
    pet : ndarray
        Potential evaporation rate [kg m-2 s-1], clipped at 0 (no dew).
    """
    t_k = forcing["air_temperature"]
    t_c = t_k - 273.15
    p_kpa = forcing["surface_pressure"] * 1e-3
    rn = net_radiation(forcing["shortwave"], forcing["longwave"], t_k, albedo)
    g = soil_heat_flux_fao56_hourly(rn, forcing["shortwave"])
    if method == "penman_monteith":
        es = saturation_vapour_pressure_kpa(t_c)
        ea = np.minimum(vapour_pressure_from_specific_humidity_kpa(
            forcing["specific_humidity"], p_kpa), es)
        u2 = wind_speed_2m(forcing["wind_speed"], wind_height_m)
        pet = penman_monteith_fao56(rn, g, t_c, u2, es, ea, p_kpa, cn=37.0, period_s=3600.0)
    elif method == "priestley_taylor":
        pet = priestley_taylor(rn, g, t_c, p_kpa, pt_alpha)
    else:
        raise ConfigError(f"land: et_method must be one of {ET_METHODS}, got {method!r}")
    return np.maximum(pet, 0.0)

"""Solar geometry and clear-sky radiation after FAO-56 (Allen et al. 1998, chapter 3).

All functions are elementwise over numpy arrays. Angles in radians unless the name says degrees.
Radiation is returned in W m-2 (mean over the period) unless the name ends in ``_mj``, which
follows FAO-56's MJ m-2 per period (day or hour) so the published worked examples can be checked
number for number.

References
----------
Allen, R. G., Pereira, L. S., Raes, D., Smith, M. (1998): Crop evapotranspiration. FAO
Irrigation and Drainage Paper 56, equations 21-39.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SOLAR_CONSTANT_MJ_PER_MIN", "inverse_relative_distance", "solar_declination",
           "sunset_hour_angle", "daylight_hours", "extraterrestrial_radiation_daily_mj",
           "seasonal_correction_hours", "extraterrestrial_radiation_period_mj",
           "clear_sky_radiation", "extraterrestrial_radiation_wm2"]

#: Solar constant G_sc [MJ m-2 min-1] (FAO-56 Eq. 21).
SOLAR_CONSTANT_MJ_PER_MIN = 0.0820


def inverse_relative_distance(day_of_year):
    """Inverse relative Earth-Sun distance d_r [-] (FAO-56 Eq. 23); ``day_of_year`` 1..366."""
    return 1.0 + 0.033 * np.cos(2.0 * np.pi * np.asarray(day_of_year, float) / 365.0)


def solar_declination(day_of_year):
    """Solar declination delta [rad] (FAO-56 Eq. 24)."""
    return 0.409 * np.sin(2.0 * np.pi * np.asarray(day_of_year, float) / 365.0 - 1.39)


def sunset_hour_angle(latitude, declination):
    """Sunset hour angle omega_s [rad] (FAO-56 Eq. 25); latitude in radians, clipped for polar
    day and night."""
    x = -np.tan(latitude) * np.tan(declination)
    return np.arccos(np.clip(x, -1.0, 1.0))


def daylight_hours(latitude, day_of_year):
    """Maximum possible sunshine duration N [h] (FAO-56 Eq. 34)."""
    return 24.0 / np.pi * sunset_hour_angle(latitude, solar_declination(day_of_year))


def extraterrestrial_radiation_daily_mj(latitude, day_of_year):
    """Daily extraterrestrial radiation R_a [MJ m-2 day-1] (FAO-56 Eq. 21).

    Parameters
    ----------
    latitude : float or ndarray
        Latitude [rad], positive north.
    day_of_year : int or ndarray
        Day of the year, 1..366.
    """
    dr = inverse_relative_distance(day_of_year)
    d = solar_declination(day_of_year)
    ws = sunset_hour_angle(latitude, d)
    return (24.0 * 60.0 / np.pi * SOLAR_CONSTANT_MJ_PER_MIN * dr
            * (ws * np.sin(latitude) * np.sin(d) + np.cos(latitude) * np.cos(d) * np.sin(ws)))


def seasonal_correction_hours(day_of_year):
    """Seasonal correction for solar time S_c [h] (equation of time, FAO-56 Eqs. 32-33)."""
    b = 2.0 * np.pi * (np.asarray(day_of_year, float) - 81.0) / 364.0
    return 0.1645 * np.sin(2.0 * b) - 0.1255 * np.cos(b) - 0.025 * np.sin(b)


def extraterrestrial_radiation_period_mj(latitude, day_of_year, clock_hour_mid, period_h=1.0,
                                         lz_deg=0.0, lm_deg=0.0):
    """Extraterrestrial radiation R_a [MJ m-2 per period] for a period shorter than a day
    (FAO-56 Eqs. 28-31).

    Parameters
    ----------
    latitude : float or ndarray
        Latitude [rad].
    day_of_year : int or ndarray
    clock_hour_mid : float or ndarray
        Standard clock time at the midpoint of the period [h] (14.5 for 14:00-15:00).
    period_h : float
        Length of the period [h].
    lz_deg, lm_deg : float
        Longitude of the centre of the local time zone and of the site [degrees west of
        Greenwich]. With both 0 the clock time is local mean solar time.

    Returns
    -------
    float or ndarray
        R_a, zero when the sun is below the horizon for the whole period.
    """
    dr = inverse_relative_distance(day_of_year)
    d = solar_declination(day_of_year)
    ws = sunset_hour_angle(latitude, d)
    sc = seasonal_correction_hours(day_of_year)
    w = np.pi / 12.0 * ((np.asarray(clock_hour_mid, float) + 0.06667 * (lz_deg - lm_deg) + sc)
                        - 12.0)
    # wrap to [-pi, pi) so that a period around midnight is handled as night
    w = (w + np.pi) % (2.0 * np.pi) - np.pi
    w1 = np.clip(w - np.pi * period_h / 24.0, -ws, ws)
    w2 = np.clip(w + np.pi * period_h / 24.0, -ws, ws)
    ra = (12.0 * 60.0 / np.pi * SOLAR_CONSTANT_MJ_PER_MIN * dr
          * ((w2 - w1) * np.sin(latitude) * np.sin(d)
             + np.cos(latitude) * np.cos(d) * (np.sin(w2) - np.sin(w1))))
    return np.maximum(ra, 0.0)


def extraterrestrial_radiation_wm2(latitude, day_of_year, clock_hour_mid, period_h=1.0):
    """Mean extraterrestrial radiation over a period [W m-2] (local mean solar time)."""
    return extraterrestrial_radiation_period_mj(latitude, day_of_year, clock_hour_mid,
                                                period_h) * 1e6 / (period_h * 3600.0)


def clear_sky_radiation(extraterrestrial, elevation_m=0.0):
    """Clear-sky solar radiation R_so = (0.75 + 2e-5 z) R_a (FAO-56 Eq. 37), same units as R_a."""
    return (0.75 + 2e-5 * elevation_m) * extraterrestrial

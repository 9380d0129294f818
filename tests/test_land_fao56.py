"""FAO-56 worked examples (Allen et al. 1998): reference ET daily (Example 18, Brussels, 6 July)
and hourly (Example 19, N'Diaye, Senegal, 1 October 14-15 h), with their intermediate values."""

import numpy as np
import pytest

from models.land.evapotranspiration import (atmospheric_pressure_kpa, net_longwave_fao56_mj,
                                            penman_monteith_fao56, potential_evaporation,
                                            priestley_taylor, saturation_vapour_pressure_kpa,
                                            wind_speed_2m)
from models.land.solar import (clear_sky_radiation, daylight_hours,
                               extraterrestrial_radiation_daily_mj,
                               extraterrestrial_radiation_period_mj)


def brussels_daily():
    """FAO-56 Example 18: returns (ET0 mm/day, intermediate values)."""
    lat = np.deg2rad(50 + 48 / 60)
    doy = 187
    ra = extraterrestrial_radiation_daily_mj(lat, doy)
    n_max = daylight_hours(lat, doy)
    rs = (0.25 + 0.5 * 9.25 / n_max) * ra
    rso = clear_sky_radiation(ra, 100.0)
    tmax, tmin = 21.5, 12.3
    es = 0.5 * (saturation_vapour_pressure_kpa(tmax) + saturation_vapour_pressure_kpa(tmin))
    ea = 0.5 * (saturation_vapour_pressure_kpa(tmin) * 0.84
                + saturation_vapour_pressure_kpa(tmax) * 0.63)
    rnl = net_longwave_fao56_mj(0.5 * ((tmax + 273.16) ** 4 + (tmin + 273.16) ** 4), ea,
                                rs / rso, 4.903e-9)
    rn = 0.77 * rs - rnl
    u2 = wind_speed_2m(10.0 / 3.6, 10.0)
    p = atmospheric_pressure_kpa(100.0)
    et0 = penman_monteith_fao56(rn * 1e6 / 86400, 0.0, 0.5 * (tmax + tmin), u2, es, ea, p,
                                cn=900.0, period_s=86400.0) * 86400.0
    return float(et0), dict(ra=ra, N=n_max, rs=rs, rso=rso, rnl=rnl, rn=rn, u2=u2, es=es, ea=ea)


def ndiaye_hourly():
    """FAO-56 Example 19, 14:00-15:00: returns (ET0 mm/h, intermediate values)."""
    lat = np.deg2rad(16 + 13 / 60)
    ra = extraterrestrial_radiation_period_mj(lat, 274, 14.5, 1.0, lz_deg=15.0, lm_deg=16.25)
    rso = clear_sky_radiation(ra, 8.0)
    es = saturation_vapour_pressure_kpa(38.0)
    ea = 0.52 * es
    rs = 2.450
    rnl = net_longwave_fao56_mj((38.0 + 273.16) ** 4, ea, rs / rso, 2.043e-10)
    rn = 0.77 * rs - rnl
    g = 0.1 * rn
    p = atmospheric_pressure_kpa(8.0)
    et0 = penman_monteith_fao56(rn * 1e6 / 3600, g * 1e6 / 3600, 38.0, 3.3, es, ea, p,
                                cn=37.0, period_s=3600.0) * 3600.0
    return float(et0), dict(ra=ra, rso=rso, rnl=rnl, rn=rn, es=es, ea=ea)


def test_fao56_daily_example_brussels_within_0p1_mm():
    et0, v = brussels_daily()
    assert abs(et0 - 3.9) <= 0.1
    # intermediate values as printed in Example 18
    assert v["ra"] == pytest.approx(41.09, abs=0.01)
    assert v["N"] == pytest.approx(16.1, abs=0.05)
    assert v["rs"] == pytest.approx(22.07, abs=0.01)
    assert v["rso"] == pytest.approx(30.90, abs=0.01)
    assert v["rnl"] == pytest.approx(3.71, abs=0.01)
    assert v["rn"] == pytest.approx(13.28, abs=0.01)
    assert v["u2"] == pytest.approx(2.078, abs=0.001)
    assert v["es"] == pytest.approx(1.997, abs=0.002)
    assert v["ea"] == pytest.approx(1.409, abs=0.002)


def test_fao56_hourly_example_ndiaye_within_0p02_mm_per_hour():
    et0, v = ndiaye_hourly()
    assert abs(et0 - 0.63) <= 0.02
    assert v["ra"] == pytest.approx(3.543, abs=0.002)
    assert v["rso"] == pytest.approx(2.658, abs=0.002)
    assert v["es"] == pytest.approx(6.625, abs=0.002)
    assert v["rn"] == pytest.approx(1.749, abs=0.002)


def test_priestley_taylor_is_near_penman_monteith_in_humid_calm_conditions():
    # humid, light wind: PT (alpha = 1.26) and PM agree within about a third; PT ignores the
    # vapour deficit, which PM responds to
    rn, g, t, p = 400.0, 40.0, 20.0, 101.3
    es = saturation_vapour_pressure_kpa(t)
    pm = penman_monteith_fao56(rn, g, t, 2.0, es, 0.7 * es, p)
    pt = priestley_taylor(rn, g, t, p)
    assert 0.75 < pt / pm < 1.35
    pm_dry = penman_monteith_fao56(rn, g, t, 2.0, es, 0.3 * es, p)
    assert pm_dry > 1.1 * pm


def test_potential_evaporation_is_zero_at_night_with_net_loss_and_positive_by_day():
    base = dict(longwave=np.array([300.0, 300.0]), air_temperature=np.array([288.0, 288.0]),
                specific_humidity=np.array([0.006, 0.006]), wind_speed=np.array([3.0, 3.0]),
                surface_pressure=np.array([101325.0, 101325.0]))
    f = dict(base, shortwave=np.array([0.0, 600.0]))
    for method in ("penman_monteith", "priestley_taylor"):
        pet = potential_evaporation(f, 0.23, method)
        assert pet[0] >= 0.0 and pet[0] < 0.05 / 3600
        assert pet[1] * 3600 > 0.2       # > 0.2 mm/h under 600 W m-2

"""Land-column physics: roots, stress, interception, snow, phenology, land-cover table."""

import numpy as np
import pytest

from pdafpy.decomposition import Box
from pdafpy.errors import ConfigError
from models.forcing import WeatherGenerator
from models.land import interception, roots, snow
from models.land.column import LandColumns, SoilState
from models.land.parameters import LAND_COVER, column_parameters

Z = np.array([0.0, 0.02, 0.05, 0.10, 0.17, 0.30, 0.50, 0.80, 1.30, 2.00, 3.00])


def forcing(n, **over):
    f = dict(precipitation=np.zeros(n), shortwave=np.full(n, 500.0), longwave=np.full(n, 320.0),
             air_temperature=np.full(n, 293.15), specific_humidity=np.full(n, 0.007),
             wind_speed=np.full(n, 3.0), surface_pressure=np.full(n, 101325.0))
    f.update({k: np.broadcast_to(np.asarray(v, float), (n,)).reshape(1, n).copy()
              for k, v in over.items()})
    return {k: np.asarray(v).reshape(1, n) for k, v in f.items()}


def soil_state(h, n):
    h = np.broadcast_to(np.asarray(h, float).reshape(-1, 1, 1) if np.ndim(h) else h,
                        (10, 1, n)).copy()
    # a simple retention for tests: theta from head (van Genuchten loam)
    se = (1 + (3.6 * np.maximum(-h, 0)) ** 1.56) ** (-(1 - 1 / 1.56))
    theta = 0.078 + 0.352 * se
    sew = (1 + (3.6 * 150.0) ** 1.56) ** (-(1 - 1 / 1.56))
    return SoilState(h, theta, np.full_like(h, 0.078 + 0.352 * sew), theta[0] / 0.43,
                     np.full((1, n), 0.078 / 0.43))


def columns(n=1, cover="grass"):
    return LandColumns(column_parameters(cover, (1, n)), Z[:-1], Z[1:])


def test_jackson_root_fractions_match_the_cumulative_profile_and_sum_to_one():
    r = roots.jackson_root_fractions(0.943, Z[:-1], Z[1:], normalise=False)
    np.testing.assert_allclose(np.cumsum(r), 1 - 0.943 ** (100 * Z[1:]), rtol=1e-12)
    rn = roots.jackson_root_fractions(np.array([[0.943, 0.976]]), Z[:-1], Z[1:])
    np.testing.assert_allclose(rn.sum(axis=0), 1.0)
    assert rn[0, 0, 0] > rn[0, 0, 1]          # grassland roots are shallower than conifers'


def test_feddes_stress_is_zero_at_wilting_one_at_field_capacity_linear_between():
    w = roots.feddes_stress(np.array([-200.0, -150.0, -76.7, -3.4, -1.0]), -150.0, -3.4)
    np.testing.assert_allclose(w, [0.0, 0.0, (150 - 76.7) / (150 - 3.4), 1.0, 1.0])


def test_no_transpiration_from_layers_at_or_below_the_wilting_point():
    land = columns(3)
    h = np.full((10, 1, 3), -1.0)
    h[:4, 0, 0] = -150.0          # column 0: top four layers exactly at the wilting point
    h[:, 0, 1] = -300.0           # column 1: everything below it
    h[2, 0, 2] = -151.0           # column 2: one layer below it
    st = soil_state(-1.0, 3)
    st.pressure_head = h
    fl = land.step(forcing(3), st, 3600.0)
    assert np.all(fl.transpiration_layers[:4, 0, 0] == 0.0)
    assert np.all(fl.transpiration_layers[:, 0, 1] == 0.0) and fl.transpiration[0, 1] == 0.0
    assert fl.transpiration_layers[2, 0, 2] == 0.0
    assert fl.transpiration[0, 0] > 0 and fl.transpiration[0, 2] > 0
    # btran = sum r_i w_i: losing layer 2 scales the total by 1 - r_2 (ParFlow-CLM); the
    # remaining layers share it in proportion to r_i w_i (renormalised)
    r = land.root_fractions[:, 0, 2]
    ref = columns(3).step(forcing(3), soil_state(-1.0, 3), 3600.0)
    assert fl.transpiration[0, 2] == pytest.approx(ref.transpiration[0, 2] * (1 - r[2]),
                                                   rel=1e-9)
    np.testing.assert_allclose(fl.transpiration_layers[:, 0, 2] / fl.transpiration[0, 2],
                               np.where(np.arange(10) == 2, 0.0, r / (1 - r[2])), rtol=1e-9)


def test_evap_beta_linear_and_cosine_bounds():
    s = np.array([0.1, 0.55, 1.0])
    np.testing.assert_allclose(roots.evap_beta(s, 0.1, "linear"), [0.0, 0.5, 1.0])
    np.testing.assert_allclose(roots.evap_beta(s, 0.1, "cosine"), [0.0, 0.5, 1.0], atol=1e-12)
    with pytest.raises(ConfigError, match="evap_beta"):
        roots.evap_beta(s, 0.1, "quadratic")


def test_interception_store_fills_to_capacity_proportional_to_lai_then_drips():
    cap = interception.canopy_capacity(np.array([1.0, 4.0]))
    np.testing.assert_allclose(cap, [0.1, 0.4])
    w, thr = interception.intercept(np.zeros(2), cap, np.full(2, 10 / 3600), np.ones(2), 3600.0)
    np.testing.assert_allclose(w, cap)
    np.testing.assert_allclose(w + thr, 10.0)


def test_snow_that_accumulates_in_a_cold_spell_melts_when_it_warms():
    land = columns(1)
    st = soil_state(-1.0, 1)
    for _ in range(72):           # three cold days with snowfall
        land.step(forcing(1, air_temperature=268.15, precipitation=1 / 3600, shortwave=50.0),
                  st, 3600.0)
    assert land.swe[0, 0] > 60.0
    melt = 0.0
    for _ in range(24 * 15):      # warm, dry
        melt += land.step(forcing(1, air_temperature=281.15), st, 3600.0).melt[0, 0] * 3600
    assert land.swe[0, 0] == 0.0
    assert melt > 60.0


def test_rain_and_snow_split_by_temperature():
    np.testing.assert_allclose(snow.snow_fraction_of_precipitation([-1.0, 1.0, 3.0]),
                               [1.0, 0.5, 0.0])


def test_lai_higher_in_summer_than_in_winter_under_the_default_grassland():
    land = columns(1)
    gen = WeatherGenerator(Box(0, 1, 0, 1), 1, seed=4)
    st = soil_state(-2.0, 1)
    lai = []
    for h in range(24 * 365):
        land.step(gen.at(h * 3600.0), st, 3600.0)
        if h % 24 == 12:
            lai.append(land.lai[0, 0])
    lai = np.array(lai)
    winter = np.r_[lai[:59], lai[334:]].mean()
    summer = lai[151:243].mean()
    assert summer > winter + 1.0
    assert 0.4 <= lai.min() and lai.max() <= 4.0


def test_unknown_land_cover_class_is_named_in_the_error():
    with pytest.raises(ConfigError, match="'tundra'"):
        column_parameters([["grass", "tundra"]], (1, 2))
    with pytest.raises(ConfigError, match="99"):
        column_parameters(99, (1, 1))
    p = column_parameters([[1, "evergreen_forest"]], (1, 2))
    assert p.root_beta[0, 0] == LAND_COVER["crop"].root_beta
    assert p.root_beta[0, 1] == 0.976


def test_water_of_one_land_step_closes():
    land = columns(2, "deciduous_forest")
    st = soil_state(-1.0, 2)
    w0 = land.water()
    f = forcing(2, precipitation=[2 / 3600, 0.0], air_temperature=[274.15, 272.15])
    fl = land.step(f, st, 3600.0)
    lhs = (land.water() - w0)
    rhs = (fl.precipitation - fl.interception_evaporation - fl.sublimation - fl.throughfall
           - fl.melt) * 3600.0
    np.testing.assert_allclose(lhs, rhs, atol=1e-12)

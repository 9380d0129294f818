"""The coupled land / subsurface model: protocol, water balance, coupling consistency,
physical response, bad configuration, decomposition invariance."""

import copy

import numpy as np
import pytest

petsc4py = pytest.importorskip("petsc4py")
from mpi4py import MPI  # noqa: E402

from pdafpy.errors import ConfigError  # noqa: E402
from pdafpy.model import Model  # noqa: E402
from models import coupled_verify as cv  # noqa: E402
from models.coupled import CoupledModel  # noqa: E402

DAY = 86400.0


def _model(cfg, comm=None):
    m = CoupledModel.create(comm or MPI.COMM_WORLD, copy.deepcopy(cfg))
    m.set_state(0, m.get_state())
    return m


def test_coupled_model_satisfies_the_protocol_and_round_trips_state_and_parameters():
    cfg = cv.grass_config(3)
    cfg["parameter_fields"] = ["log10_ks", "porosity", "ln_alpha", "vg_n",
                               "specific_leaf_area", "root_beta"]
    m = _model(cfg)
    assert isinstance(m, Model)
    names = [f.name for f in m.fields]
    assert names[:4] == ["pressure_head", "canopy_water", "swe", "leaf_biomass"]
    st = m.get_state()
    for f in m.fields:
        assert st[f.name].shape == (f.levels, m.box.ny, m.box.nx)
    st["log10_ks"] = st["log10_ks"] + 0.5
    st["leaf_biomass"] = st["leaf_biomass"] * 0 + 0.2
    st["root_beta"] = st["root_beta"] * 0 + 0.97
    m.set_state(1, st)
    back = m.get_state()
    np.testing.assert_allclose(back["log10_ks"], st["log10_ks"])
    np.testing.assert_allclose(m.land.lai, 0.2 * 15.0)
    assert np.all(m.land.root_fractions[0] < cv._land(1).root_fractions[0, 0, 0])


def test_coupled_water_balance_closes_over_ten_days_on_a_heterogeneous_grid():
    cfg = cv.heterogeneous_config(8, 8)
    m = _model(cfg)
    m.advance(0.0, 10 * DAY)
    wb = m.water_balance()
    assert wb["precipitation"] > 0 and wb["et"] > 0 and wb["transpiration"] > 0
    assert wb["relative_residual"] <= 1e-6
    # the subsurface took exactly the uptake the land computed
    assert wb["uptake_subsurface"] == pytest.approx(wb["transpiration"], rel=1e-12)


def test_coupling_with_prescribed_fluxes_equals_the_standalone_richards_solution():
    res = cv.consistency_case(MPI.COMM_WORLD, hours=12)
    assert res["max_rel_diff"] <= 1e-12


def test_land_reads_back_pressure_saturation_and_water_content_of_its_root_layers():
    m = _model(cv.grass_config(2))
    s = m.soil_state()
    d = m.diagnostics()
    assert s.pressure_head.shape == (10, m.box.ny, m.box.nx)
    np.testing.assert_allclose(s.theta, d["theta"][:10])
    np.testing.assert_allclose(s.saturation_top, d["saturation"][0])
    assert np.all(s.theta_wilt < s.theta)


def test_rain_wets_the_top_layer_and_transpiration_dries_the_root_zone():
    m = _model(cv.grass_config(2))
    th0 = m.diagnostics()["theta"][:10].copy()
    m.advance(0.0, 5 * DAY)
    fl = m.last_fluxes
    assert np.all(fl.transpiration_layers >= 0)
    wb = m.water_balance()
    assert wb["transpiration"] > 0
    assert not np.allclose(m.diagnostics()["theta"][:10], th0)


def test_bad_coupled_configuration_names_the_key():
    cfg = cv.grass_config(2)
    bad = copy.deepcopy(cfg)
    bad["subsurface"]["boundary"]["top"] = {"type": "head", "value_m": 0.0}
    with pytest.raises(ConfigError, match="atmospheric"):
        CoupledModel.create(MPI.COMM_WORLD, bad)
    bad = copy.deepcopy(cfg)
    bad["land"]["land_cover"] = "savanna"
    with pytest.raises(ConfigError, match="'savanna'"):
        CoupledModel.create(MPI.COMM_WORLD, bad)
    bad = copy.deepcopy(cfg)
    bad["parameter_fields"] = ["manning"]
    with pytest.raises(ConfigError, match="manning"):
        CoupledModel.create(MPI.COMM_WORLD, bad)


@pytest.mark.mpi(min_size=2)
def test_decomposition_invariance_one_rank_versus_all_ranks_over_one_day():
    world = MPI.COMM_WORLD
    single = world.Split(world.rank, 0)          # every rank runs the 1-rank case itself
    ref = cv.decomposition_case(single, days=1.0, nx=8)
    single.Free()
    par = cv.decomposition_case(world, days=1.0, nx=8)
    assert cv.compare_fields(ref, par) <= 1e-8


@pytest.mark.slow
def test_water_balance_of_one_year_on_the_16x16x20_grid_within_1e_6():
    res = cv.water_balance_case(MPI.COMM_WORLD, 365.0)
    assert res["relative_residual"] <= 1e-6


@pytest.mark.slow
def test_grassland_year_lai_seasonal_and_et_over_p_between_0p3_and_0p8():
    res = cv.grass_year_case(MPI.COMM_WORLD, 365.0)
    assert res["lai_summer"] > res["lai_winter"]
    assert 0.3 <= res["et_over_p"] <= 0.8
    assert res["swe_max_mm"] > 0


def test_coupled_runs_identically_from_the_generator_and_from_its_netcdf_file(tmp_path):
    from pdafpy.decomposition import Box
    from models.forcing import WeatherGenerator, write_netcdf

    cfg = cv.grass_config(3)
    cfg["forcing"] = {"seed": 5, "precipitation_spatial_sd": 0.4, "start_day_of_year": 180}
    path = tmp_path / "forcing.nc"
    if MPI.COMM_WORLD.rank == 0:
        gen = WeatherGenerator(Box(0, 3, 0, 3), 3, seed=5, precipitation_spatial_sd=0.4,
                               start_day_of_year=180)
        write_netcdf(path, gen, 30, 3, 3)
    path = MPI.COMM_WORLD.bcast(str(path))
    a = _model(cfg)
    a.advance(0.0, 30 * 3600.0)
    cfg_nc = copy.deepcopy(cfg)
    cfg_nc["forcing"] = {"type": "netcdf", "path": path}
    b = _model(cfg_nc)
    b.advance(0.0, 30 * 3600.0)
    sa, sb = a.get_state(), b.get_state()
    for k in sa:
        np.testing.assert_allclose(sb[k], sa[k], rtol=1e-12, atol=1e-15)
    assert a.water_balance()["precipitation"] > 0

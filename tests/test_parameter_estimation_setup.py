"""Parameter estimation for the land twin: texture as parameter fields (pedotransfer re-applied
in set_state), spherical random fields, parameter perturbations on chosen layers, export and
import of the estimated parameters."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from pdafpy.decomposition import Box
from pdafpy.errors import ConfigError, InputFileError
from pdafpy.model import FieldSpec, Grid
from pdafpy.perturb import SpatialStructure, standard_field

from models.land.pedotransfer import cosby1984
from models.land.texture import TEXTURE_MAX, project_texture, texture_table

petsc4py = pytest.importorskip("petsc4py")
from mpi4py import MPI  # noqa: E402

DZ = [0.1, 0.2, 0.7, 1.0, 2.0]          # centres 0.05, 0.2, 0.65, 1.5, 3.0 m


def _coupled(parameter_fields=("log10_ks", "sand_percent", "clay_percent"), **extra):
    from models.coupled import CoupledModel

    cfg = {"subsurface": {"grid": {"nx": 3, "ny": 2, "dx_m": 100.0, "dy_m": 100.0, "dz_m": DZ},
                          "soil": {"sand_percent": [60.0, 50, 40, 30, 20],
                                   "clay_percent": 15.0, "ss_per_m": 1e-4},
                          "boundary": {"bottom": {"type": "free_drainage"}},
                          "initial": {"pressure_head_m": -1.0}},
           "land": {"land_cover": "grass"}, "parameter_fields": list(parameter_fields)}
    cfg.update(extra)
    return CoupledModel.create(MPI.COMM_SELF, cfg)


# ------------------------------------------------------------------ texture in the state
def test_set_state_rederives_the_soil_from_the_texture_by_cosby1984_keeping_anisotropy():
    m = _coupled()
    soil = {k: v.copy() for k, v in m.richards.solver.disc.soil.items()}
    soil["ks_v"] = 0.1 * soil["ks_h"]                  # an anisotropic soil: ratio 0.1
    m.richards.solver.disc.set_parameters(soil)
    st = m.get_state()
    expect = cosby1984(st["sand_percent"], st["clay_percent"])
    np.testing.assert_allclose(10.0 ** st["log10_ks"], expect["ks_m_s"], rtol=1e-13)
    sand = st["sand_percent"] + np.linspace(-70.0, 70.0, st["sand_percent"].size).reshape(
        st["sand_percent"].shape)                      # negative and sand + clay > 100
    clay = st["clay_percent"] + 30.0
    st.update(sand_percent=sand, clay_percent=clay, log10_ks=st["log10_ks"] + 1.0)
    m.set_state(1, st)
    back = m.get_state()
    s, c = back["sand_percent"], back["clay_percent"]
    assert s.min() == 0.0 and c.min() >= 0.0 and (s + c).max() <= TEXTURE_MAX
    over = sand + clay > 100.0
    np.testing.assert_allclose((s / c)[over], (sand / clay)[over], rtol=1e-12)   # ratio kept
    np.testing.assert_array_equal(s[~over & (sand >= 0)], sand[~over & (sand >= 0)])
    want = cosby1984(*project_texture(sand, clay))
    got = m.richards.solver.disc.soil
    np.testing.assert_allclose(got["theta_s"], want["theta_s"], rtol=1e-14)
    np.testing.assert_allclose(got["alpha"], want["alpha_per_m"], rtol=1e-14)
    np.testing.assert_allclose(got["n"], want["n"], rtol=1e-14)
    np.testing.assert_allclose(got["theta_r"], 0.0)
    np.testing.assert_allclose(got["ks_h"], want["ks_m_s"], rtol=1e-14)   # not log10_ks + 1
    np.testing.assert_allclose(got["ks_v"] / got["ks_h"], 0.1, rtol=1e-12)
    np.testing.assert_allclose(back["log10_ks"], np.log10(want["ks_m_s"]), rtol=1e-14)


def test_an_independent_log10_ks_keeps_its_own_value_beside_a_state_texture():
    m = _coupled(independent_parameters=["log10_ks"])
    st = m.get_state()
    st["sand_percent"] = st["sand_percent"] + 10.0
    st["log10_ks"] = np.full_like(st["log10_ks"], -6.0)
    m.set_state(0, st)
    got = m.richards.solver.disc.soil
    np.testing.assert_allclose(got["ks_h"], 1e-6, rtol=1e-14)
    np.testing.assert_allclose(got["theta_s"], cosby1984(st["sand_percent"],
                                                         st["clay_percent"])["theta_s"])


def test_texture_configuration_refusals_are_one_line_and_name_the_keys():
    with pytest.raises(ConfigError, match=r"parameter_fields \['sand_percent', 'clay_percent'\] "
                       r"need a texture in \[soil\]"):
        from models.coupled import CoupledModel
        CoupledModel.create(MPI.COMM_SELF, {"subsurface": {
            "grid": {"nx": 1, "ny": 1, "dz_m": [1.0]},
            "soil": {"theta_r": 0.05, "theta_s": 0.4, "alpha_per_m": 2.0, "n": 1.5,
                     "ks_m_per_s": 1e-6}},
            "parameter_fields": ["sand_percent", "clay_percent"]})
    with pytest.raises(ConfigError) as err:
        texture_table({"sand_percent": 40.0, "clay_percent": 20.0, "theta_s": 0.4, "n": 1.3})
    assert "\n" not in str(err.value) and "remove soil.theta_s, soil.n" in str(err.value)
    with pytest.raises(ConfigError, match="soil.clay_percent: given without soil.sand_percent"):
        texture_table({"clay_percent": 20.0})
    with pytest.raises(ConfigError, match="must not exceed 100"):
        texture_table({"sand_percent": [60.0, 70.0], "clay_percent": 35.0})
    with pytest.raises(ConfigError, match="one value, per layer, per column or per cell"):
        texture_table({"sand_percent": [60.0, 70.0], "clay_percent": [1.0, 2.0, 3.0]})
    # forms combine: a profile and a map give per-cell parameters
    table, tex = texture_table({"sand_percent": [60.0, 40.0], "clay_percent": [[10.0, 20.0]]})
    assert table["theta_s"].shape == (2, 1, 2) and tex["rule"] == "cosby1984"
    table, _ = texture_table({"sand_percent": 40.0, "clay_percent": 20.0,
                              "pedotransfer": "rosetta_class_average"})
    assert table["n"] == pytest.approx(10 ** 0.168)                       # loam's class average


# ------------------------------------------------------------------ spherical fields
def test_spherical_spectral_cdf_matches_quadrature():
    from scipy import integrate

    from pdafpy.perturb.fields import _spherical_cdf, _spherical_radius

    def density(u):
        return 6.0 / math.pi * (math.sin(u) - u * math.cos(u)) ** 2 / u ** 4

    for u in (0.05, 0.29, 0.31, 1.0, 4.0, 30.0):
        assert _spherical_cdf(np.array(u)) == pytest.approx(
            integrate.quad(density, 0.0, u, limit=400)[0], rel=1e-9, abs=1e-15)
    from scipy.special import ndtr
    z = np.linspace(-8.0, 8.0, 161)
    p = _spherical_cdf(_spherical_radius(z))
    np.testing.assert_allclose(p, ndtr(z), rtol=1e-3, atol=1e-15)


def test_spherical_field_has_unit_variance_and_the_spherical_correlation():
    """200 members on 40 x 40 columns, range 10 columns (a fixed seed). Tolerances: 0.05 for
    the correlations, whose estimator's sd over 12 seeds is 0.008-0.015 by lag (bias <= 0.003:
    the exact spherical model is sampled); 0.04 for the variance (sd 0.011)."""
    a = 10.0
    sp = SpatialStructure("correlated", a, covariance="spherical")
    f = np.concatenate([standard_field(3, "test", 0, np.arange(m, m + 50), 0, (0, 40, 0, 40),
                                       (40, 40), sp) for m in range(0, 200, 50)])
    assert f.var() == pytest.approx(1.0, abs=0.04)
    assert np.abs(f.mean()) < 0.05
    for lag in (2, 5, 8, 10, 13, 20):
        r = lag / a
        model = 1.0 - 1.5 * r + 0.5 * r ** 3 if r < 1 else 0.0
        cx = np.mean(f[:, :, :-lag] * f[:, :, lag:])
        cy = np.mean(f[:, :-lag, :] * f[:, lag:, :])
        assert cx == pytest.approx(model, abs=0.05), lag
        assert cy == pytest.approx(model, abs=0.05), lag


def test_spherical_field_is_identical_on_any_box_and_member_order():
    sp = SpatialStructure("correlated", 3.0, covariance="spherical", dx_m=1.0, dy_m=2.0)
    full = standard_field(5, "test", 2, [0, 1, 2], 1, (0, 6, 0, 7), (6, 7), sp)
    part = standard_field(5, "test", 2, [2, 0], 1, (2, 5, 3, 7), (6, 7), sp)
    np.testing.assert_array_equal(part[0], full[2, 2:5, 3:7])
    np.testing.assert_array_equal(part[1], full[0, 2:5, 3:7])
    with pytest.raises(ConfigError, match="'exponential', 'gaussian' or 'spherical'"):
        SpatialStructure("correlated", 3.0, covariance="circular")


# ------------------------------------------------------------------ the twin's perturbations
@pytest.fixture(scope="module")
def land():
    from models.landda.model import LandDAModel
    from models.landda.setup import load, model_config

    cfg, tables = load({"grid": {"nx": 4, "ny": 3, "dz_m": DZ},
                        "soil": {"sand_percent": 40.0, "clay_percent": 20.0},
                        "filter": {"parameters": ["log10_ks", "sand_percent", "clay_percent"]},
                        "perturbations": {"texture_sd_percent": 7.0}})
    return LandDAModel.create(MPI.COMM_SELF, model_config(cfg, tables, range(7)))


def _members(model, pert, keys=range(6)):
    from models.landda.initial_state import initial_member

    base = model.get_state()
    return {k: np.array([initial_member(model, base, key, 3, pert)[k] for key in keys])
            for k in ("log10_ks", "sand_percent", "clay_percent")}


def test_the_layer_mask_limits_log10_ks_spread_and_the_offset_is_uniform_within_bounds(land):
    layers = [0.5, 2.0]                               # centres 0.65 and 1.5 m
    inside = np.array([False, False, True, True, False])
    base = land.get_state()["log10_ks"]
    sd = _members(land, {"log10_ks_sd": 0.4, "log10_ks_layers_m": layers})["log10_ks"]
    assert np.all(sd[:, ~inside] == base[None, ~inside])
    assert np.ptp(sd[:, inside], axis=0).min() > 0
    off = _members(land, {"log10_ks_offset_half_width": 0.5, "log10_ks_layers_m": layers},
                   range(200))["log10_ks"] - base
    assert np.all(off[:, ~inside] == 0.0)
    d = off[:, inside]
    assert np.all(np.abs(d) <= 0.5) and np.ptp(d.reshape(200, -1), axis=1).max() < 1e-12
    # uniform on [-0.5, 0.5]: variance 1/12, mean 0 (4 sd of the estimators over 200 draws)
    assert d[:, 0, 0, 0].var() == pytest.approx(1 / 12, abs=4 * 0.0745 / math.sqrt(200))
    assert abs(d[:, 0, 0, 0].mean()) < 4 * math.sqrt(1 / 12 / 200)


def test_texture_perturbation_gives_each_member_its_soil_and_the_truth_its_own_draw(land):
    tex = _members(land, {"texture_sd_percent": 7.0, "texture_correlation_length_m": 1500.0,
                          "texture_variogram": "spherical"}, range(7))
    s, c = tex["sand_percent"], tex["clay_percent"]
    assert np.ptp(s[:, 0, 0, 0]) > 1.0 and np.all(s + c <= TEXTURE_MAX)
    assert np.ptp(s[0, 0]) > 0                    # varies in space (range 1.5 km, dx 500 m)
    np.testing.assert_array_equal(s[:, 0], s[:, -1])                # one draw for all layers
    np.testing.assert_allclose(tex["log10_ks"], np.log10(cosby1984(s, c)["ks_m_s"]),
                               rtol=1e-14)
    assert len({round(float(v), 9) for v in s[:, 0, 0, 0]}) == 7   # the truth (key 6) differs
    with pytest.raises(ConfigError, match="Ks follows the members' texture"):
        from models.landda.parameter_files import check_parameter_setup
        from models.landda.setup import load
        cfg, tables = load({"grid": {"nx": 4, "ny": 3, "dz_m": DZ},
                            "soil": {"sand_percent": 40.0, "clay_percent": 20.0},
                            "perturbations": {"texture_sd_percent": 7.0, "log10_ks_sd": 0.4}})
        check_parameter_setup(cfg, tables, 1)


# ------------------------------------------------------------------ export and import
def _write(path, n=3, fields=("log10_ks", "sand_percent", "root_beta"), seed=0):
    from pdafpy.state import StateLayout

    from models.landda.parameter_files import write_parameters

    grid = Grid(3, 4, 50.0 + 100.0 * np.arange(4), 50.0 + 100.0 * np.arange(3),
                np.array([0.05, 0.2, 0.65, 1.5, 3.0]))
    specs = [FieldSpec(f, 1 if f == "root_beta" else 5, "", "parameter") for f in fields]
    box = Box(0, 3, 0, 4)
    layout = StateLayout([FieldSpec("pressure_head", 5, "m", "state")] + specs, box)
    ens = np.random.default_rng(seed).normal(size=(n, layout.size))
    write_parameters(path, MPI.COMM_SELF, [box], grid, layout, ens, list(fields),
                     {"valid_time": "2020-05-03T00:00:00"})
    return grid, layout, ens


def test_export_and_import_round_trip_bit_identical(tmp_path):
    from models.landda.parameter_files import parameters_in, read_parameters

    path = tmp_path / "parameters.nc"
    grid, layout, ens = _write(path)
    assert parameters_in(path) == (["log10_ks", "sand_percent", "root_beta"], 3)
    back = read_parameters(path, grid, None, 3)
    for name in ("log10_ks", "sand_percent", "root_beta"):
        np.testing.assert_array_equal(back[name], layout.view(ens, name))
    block = read_parameters(path, grid, ["sand_percent"], 3, box=Box(1, 3, 2, 4), members=[2])
    np.testing.assert_array_equal(block["sand_percent"][0],
                                  layout.view(ens, "sand_percent")[2, :, 1:3, 2:4])
    import netCDF4
    with netCDF4.Dataset(path) as ds:
        np.testing.assert_allclose(ds["log10_ks_mean"][:], layout.view(ens, "log10_ks").mean(0))
        assert ds["sand_percent"].units == "%" and ds.valid_time == "2020-05-03T00:00:00"


def test_members_start_from_the_file_and_the_truth_keeps_its_draw(tmp_path, land):
    from models.landda.parameter_files import write_parameters
    from models.landda.initial_state import initial_member

    model = land
    base = model.get_state()
    layout_fields = [f for f in model.fields if f.name in ("log10_ks", "sand_percent",
                                                           "clay_percent")]
    from pdafpy.state import StateLayout
    layout = StateLayout(layout_fields, model.box)
    rng = np.random.default_rng(4)
    ens = np.empty((6, layout.size))
    layout.view(ens, "log10_ks")[:] = -5.0 + 0.1 * rng.normal(size=(6,) + base["log10_ks"].shape)
    layout.view(ens, "sand_percent")[:] = 30.0 + rng.uniform(size=(6,) + base["log10_ks"].shape)
    layout.view(ens, "clay_percent")[:] = 25.0
    path = tmp_path / "p.nc"
    write_parameters(path, MPI.COMM_SELF, [model.box], model.grid, layout, ens,
                     ["sand_percent", "clay_percent"])
    pert = {"texture_sd_percent": 7.0, "parameters_file": str(path)}
    got = [initial_member(model, base, k, 3, pert) for k in (0, 5, 6)]
    for member, k in zip(got[:2], (0, 5)):
        np.testing.assert_array_equal(member["sand_percent"], layout.view(ens, "sand_percent")[k])
        np.testing.assert_allclose(member["log10_ks"], np.log10(cosby1984(
            member["sand_percent"], member["clay_percent"])["ks_m_s"]), rtol=1e-14)
    truth = initial_member(model, base, 6, 3, {"texture_sd_percent": 7.0})
    np.testing.assert_array_equal(got[2]["sand_percent"], truth["sand_percent"])


def test_a_bad_parameters_file_is_refused_in_one_line(tmp_path):
    from models.landda.parameter_files import read_parameters

    path = tmp_path / "parameters.nc"
    grid, _, _ = _write(path)
    other = dataclasses.replace(grid, x=grid.x + 1.0)
    notnc = tmp_path / "text.nc"
    notnc.write_text("hello")
    cases = [(tmp_path / "missing.nc", grid, None, 3, "cannot read the parameters file: no such "
              "file"),
             (notnc, grid, None, 3, "not NetCDF"),
             (path, grid, None, 4, "3 members, but this run has 4"),
             (path, grid, ["vg_n"], 3, "no variable 'vg_n'; the file holds log10_ks"),
             (path, other, None, 3, "variable 'x': not this run's grid")]
    for p, g, fields, n, message in cases:
        with pytest.raises(InputFileError) as err:
            read_parameters(p, g, fields, n)
        assert message in str(err.value) and str(p) in str(err.value)
        assert "\n" not in str(err.value)


def test_a_missing_parameters_file_stops_the_run_before_any_model_work(tmp_path):
    from models.landda.setup import load
    from models.landda.experiment import LandTwinExperiment

    cfg, tables = load({"grid": {"nx": 4, "ny": 3, "dz_m": DZ},
                        "perturbations": {"parameters_file": str(tmp_path / "none.nc")}})
    with pytest.raises(InputFileError, match="none.nc: cannot read the parameters file"):
        LandTwinExperiment().check_layout(cfg, tables, 1)
    # a file holding a field this run does not carry
    _write(tmp_path / "p.nc", fields=("vg_n",))
    cfg, tables = load({"grid": {"nx": 4, "ny": 3, "dz_m": DZ},
                        "perturbations": {"parameters_file": str(tmp_path / "p.nc")}})
    with pytest.raises(InputFileError, match="holds 'vg_n', which this run's model does not "
                       "carry"):
        LandTwinExperiment().check_layout(cfg, tables, 1)

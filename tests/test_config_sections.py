"""The coupled model's typed tables: the packaged files parse, every bad key or value is named
with its key path, and the declared defaults are the ones the model uses."""

from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from models.landda.config_sections import (FACE_KEYS, FORCING_KEYS, MODEL_SECTIONS,
                                           FaceSection, ForcingSection, GridSection,
                                           InitialSection, LandSection, SoilSection,
                                           SolverSection)
from models.landda.setup import packaged_defaults as packaged_table
from pdafpy.config import parse_tables
from pdafpy.errors import ConfigError


def _tables(name: str = "example.toml") -> dict:
    """The model tables of a packaged experiment (example.toml has all seven)."""
    table = packaged_table(name)
    return {k: copy.deepcopy(table[k]) for k in MODEL_SECTIONS if k in table}


@pytest.mark.parametrize("name", ["default.toml", "example.toml"])
def test_every_key_of_the_packaged_files_parses_and_only_the_keys_given_come_back(name):
    tables = _tables(name)
    parsed = parse_tables(MODEL_SECTIONS, tables)
    assert parsed == tables
    for key, table in tables.items():
        assert list(parsed[key]) == list(table)
    assert set(_tables("example.toml")) == set(MODEL_SECTIONS)


def test_values_are_converted_and_aliases_given_under_the_key_s_own_name():
    soil = {"theta_r": 0, "theta_s": 0.4, "alpha": 2, "n": 1.5, "ks_m_per_s": [1e-5, 1e-6],
            "ss": 0}
    parsed = parse_tables(MODEL_SECTIONS, {"soil": soil, "grid": {"nx": 2, "ny": 2, "dz_m": [1, 2]}})
    assert parsed["soil"] == {"theta_r": 0.0, "theta_s": 0.4, "alpha_per_m": 2.0, "n": 1.5,
                              "ks_m_per_s": [1e-5, 1e-6], "ss_per_m": 0.0}
    assert isinstance(parsed["soil"]["alpha_per_m"], float)
    assert all(isinstance(v, float) for v in parsed["grid"]["dz_m"])
    assert isinstance(parsed["grid"]["nx"], int)


def test_maps_per_column_and_per_cell_parse():
    tables = _tables()
    tables["soil"]["ks_m_per_s"] = [[1e-5, 2e-5], [3e-5, 4e-5]]
    tables["soil"]["theta_s"] = [[[0.4, 0.4], [0.4, 0.4]]] * 2
    tables["land"]["land_cover"] = [["grass", 1], ["crop", "bare_soil"]]
    tables["initial"] = {"pressure_head_m": [[-1, -2], [-1.5, -1]]}
    parsed = parse_tables(MODEL_SECTIONS, tables)
    assert parsed["soil"]["ks_m_per_s"] == [[1e-5, 2e-5], [3e-5, 4e-5]]
    assert parsed["land"]["land_cover"] == [["grass", 1], ["crop", "bare_soil"]]
    assert parsed["initial"] == {"pressure_head_m": [[-1.0, -2.0], [-1.5, -1.0]]}


@pytest.mark.parametrize("section", list(MODEL_SECTIONS))
def test_an_unknown_key_names_its_path_and_the_keys_accepted(section):
    tables = _tables()
    tables[section]["colour"] = 1
    with pytest.raises(ConfigError, match=rf"^{section}\.colour: unknown key; \[{section}\] "
                                          "accepts "):
        parse_tables(MODEL_SECTIONS, tables)


def test_a_typo_in_a_key_is_an_error_not_the_default():
    tables = _tables()
    tables["initial"] = {"water_table_dept_m": 3.0}
    with pytest.raises(ConfigError, match=r"^initial\.water_table_dept_m: unknown key; "
                                          r"\[initial\] accepts pressure_head_m, "
                                          "water_table_depth_m$"):
        parse_tables(MODEL_SECTIONS, tables)
    tables = _tables()
    tables["boundary"]["bottom"]["water_table_dept_m"] = 3.0
    with pytest.raises(ConfigError, match=r"^boundary\.bottom\.water_table_dept_m: unknown key; "
                                          r"\[boundary\.bottom\] accepts"):
        parse_tables(MODEL_SECTIONS, tables)
    with pytest.raises(ConfigError, match="^perturbations: not a table of the model"):
        parse_tables(MODEL_SECTIONS, {"perturbations": {}})


BAD = [
    ("grid", "nx", 2.5, r"grid\.nx = 2\.5: expected an integer"),
    ("grid", "nx", 0, r"grid\.nx = 0: must be >= 1"),
    ("grid", "dx_m", 0.0, r"grid\.dx_m = 0\.0: must be > 0\.0"),
    ("grid", "dz_m", [0.1, -0.2], r"grid\.dz_m = -0\.2: must be > 0\.0"),
    ("grid", "layers", "zhao2025", r"grid\.layers: give dz_m or layers, not both"),
    ("soil", "n", 1.0, r"soil\.n = 1\.0: must be > 1\.0"),
    ("soil", "theta_s", "porous", r"soil\.theta_s = 'porous': expected a number or"),
    ("soil", "ks_m_per_s", [[1e-5, 1e-5], [1e-5]], r"soil\.ks_m_per_s: rows of different "
                                                   "lengths"),
    ("soil", "ks_m_per_s", [[1e-5, 1e-5], [1e-5, 0.0]], r"soil\.ks_m_per_s = 0\.0: must be "
                                                        r"> 0\.0"),
    ("soil", "theta_r", 0.5, r"soil\.theta_r = 0\.5: must be below theta_s = 0\.43"),
    ("soil", "model", "brooks_corey", r"soil\.model = 'brooks_corey': expected one of"),
    ("soil", "kr_se_high", 1.0, r"soil\.kr_se_high = 1\.0: must lie in \(0, 1\)"),
    ("soil", "ss", 1e-4, r"soil\.ss: 'ss_per_m' is given twice \(as 'ss_per_m' and 'ss'\)"),
    ("boundary", "top", {"type": "flux"}, r"boundary\.top\.type = 'flux': the land sets the top"
                                          " flux; expected 'atmospheric'"),
    ("boundary", "west", {"type": "free_drainage"}, r"boundary\.west\.type = 'free_drainage': "
                                                    "only for the bottom"),
    ("boundary", "bottom", {"type": "head"}, r"boundary\.bottom: a 'head' boundary needs "
                                             "value_m or water_table_depth_m"),
    ("boundary", "bottom", {"water_table_depth_m": 6.0}, r"boundary\.bottom\.type: missing"),
    ("boundary", "bottom", {"type": "seepage"}, r"boundary\.bottom\.type = 'seepage': expected "
                                                "one of"),
    ("boundary", "bottom", "head", r"boundary\.bottom = 'head': expected a table"),
    ("initial", "pressure_head_m", -1.0, r"initial\.pressure_head_m: give water_table_depth_m "
                                         "or pressure_head_m, not both"),
    ("initial", "water_table_depth_m", "deep", r"initial\.water_table_depth_m = 'deep': expected"
                                               " a number"),
    ("solver", "kr_averaging", "geometric", r"solver\.kr_averaging = 'geometric': expected one "
                                            "of"),
    ("solver", "fixed_dt", 1, r"solver\.fixed_dt = 1: expected true or false"),
    ("solver", "dt_max_s", -1.0, r"solver\.dt_max_s = -1\.0: must be > 0\.0"),
    ("solver", "petsc_options", {"snes_rtol": [1]}, r"solver\.petsc_options\.snes_rtol = \[1\]: "
                                                    "expected a string"),
    ("land", "land_cover", "savanna", r"land\.land_cover = 'savanna': expected one of"),
    ("land", "land_cover", [["grass", 9]], r"land\.land_cover = 9: expected one of"),
    ("land", "land_cover", True, r"land\.land_cover = True: expected a string or an integer"),
    ("land", "et_method", "hargreaves", r"land\.et_method = 'hargreaves': expected one of"),
    ("land", "root_depth_m", 0.0, r"land\.root_depth_m = 0\.0: must be > 0\.0"),
    ("land", "parameters", {"grass": {"albdo": 0.2}}, r"land\.parameters\.grass\.albdo: unknown "
                                                      "parameter; accepts albedo"),
    ("land", "parameters", {"savanna": {}}, r"land\.parameters\.savanna: unknown land-cover "
                                            "class"),
    ("land", "parameters", {"grass": {"kc": "x"}}, r"land\.parameters\.grass\.kc = 'x': expected "
                                                   "a number"),
    ("forcing", "type", "era5", r"forcing\.type = 'era5': expected one of"),
    ("forcing", "latitude_deg", 91.0, r"forcing\.latitude_deg = 91\.0: must be <= 90\.0"),
    ("forcing", "wet_day_probability", 0.0, r"forcing\.wet_day_probability = 0\.0: must be > "
                                            r"0\.0"),
    ("forcing", "anomaly_corr", 1.0, r"forcing\.anomaly_corr = 1\.0: must be < 1"),
    ("forcing", "seed", 1.5, r"forcing\.seed = 1\.5: expected an integer"),
]


@pytest.mark.parametrize("section,key,value,message", BAD,
                         ids=[f"{s}.{k}={v!r}" for s, k, v, _ in BAD])
def test_a_wrong_type_or_value_names_the_key_path(section, key, value, message):
    tables = _tables()
    tables[section][key] = value
    with pytest.raises(ConfigError, match="^" + message):
        parse_tables(MODEL_SECTIONS, tables)


@pytest.mark.parametrize("section,key,message", [
    ("grid", "nx", r"grid\.nx: missing"),
    ("grid", "dz_m", r"grid\.dz_m: missing; \[grid\] needs dz_m"),
    ("soil", "theta_r", r"soil\.theta_r: missing"),
    ("soil", "n", r"soil\.n: missing; the van_genuchten model needs it"),
    ("soil", "ks_m_per_s", r"soil\.ks_m_per_s: missing; \[soil\] needs ks_m_per_s or both"),
])
def test_a_missing_required_key_is_named(section, key, message):
    tables = _tables()
    del tables[section][key]
    with pytest.raises(ConfigError, match="^" + message):
        parse_tables(MODEL_SECTIONS, tables)


def test_layers_replace_dz_and_gardner_needs_no_n():
    tables = _tables()
    tables["grid"] = {"nx": 2, "ny": 2, "layers": "zhao2025"}
    tables["soil"] = {"model": "gardner", "theta_r": 0.05, "theta_s": 0.4, "alpha_per_m": 1.0,
                      "ks_h_m_per_s": 1e-5, "ks_v_m_per_s": 1e-6}
    assert parse_tables(MODEL_SECTIONS, tables)["soil"]["model"] == "gardner"


#: A valid value other than the default for every [forcing] key but ``type``.
FORCING_VALUES = {"seed": 3, "latitude_deg": 10.0, "elevation_m": 500.0,
                  "start_day_of_year": 200, "mean_temperature_c": 5.0,
                  "annual_amplitude_k": 4.0, "diurnal_amplitude_k": 3.0, "anomaly_sd_k": 1.0,
                  "anomaly_corr": 0.5, "annual_precipitation_m": 1.2,
                  "wet_day_probability": 0.3, "precipitation_spatial_sd": 0.2, "wind_mean": 2.0,
                  "path": "forcing.nc", "start": "2020-05-01T00:00:00",
                  "block_records": 24}


def test_every_forcing_key_belongs_to_one_type():
    keys = [f.name for f in dataclasses.fields(ForcingSection) if f.name != "type"]
    assert sorted(keys) == sorted(FORCING_VALUES)
    assert sorted(keys) == sorted(FORCING_KEYS["synthetic"] + FORCING_KEYS["netcdf"])


@pytest.mark.parametrize("kind,other", [("synthetic", "netcdf"), ("netcdf", "synthetic")])
def test_a_key_of_the_other_forcing_type_is_refused(kind, other):
    base = {"type": kind, "path": "forcing.nc"} if kind == "netcdf" else {"type": kind}
    assert parse_tables(MODEL_SECTIONS, {"forcing": dict(base, **{k: FORCING_VALUES[k] for k in
                                                        FORCING_KEYS[kind]})})
    for key in FORCING_KEYS[other]:
        with pytest.raises(ConfigError, match=rf"^forcing\.{key}: not a key of a '{kind}' "
                                              "forcing; it takes "):
            parse_tables(MODEL_SECTIONS, {"forcing": dict(base, **{key: FORCING_VALUES[key]})})


def test_a_netcdf_forcing_needs_a_path_and_an_iso_start():
    with pytest.raises(ConfigError, match=r"^forcing\.path: missing"):
        parse_tables(MODEL_SECTIONS, {"forcing": {"type": "netcdf"}})
    with pytest.raises(ConfigError, match=r"^forcing\.start = 'May 1st': expected an ISO 8601"):
        parse_tables(MODEL_SECTIONS, {"forcing": {"type": "netcdf", "path": "f.nc", "start": "May 1st"}})


def test_a_key_of_another_boundary_type_is_refused():
    values = {"flux_m_per_s": 1e-6, "value_m": -1.0, "water_table_depth_m": 3.0,
              "h_max_m": 0.01, "h_min_m": -50.0, "surface_kr": "averaging"}
    assert sorted(values) == sorted(f.name for f in dataclasses.fields(FaceSection)
                                    if f.name != "type")
    for kind, keys in FACE_KEYS.items():
        face = "top" if kind == "atmospheric" else "bottom"
        for key in set(values) - set(keys):
            tables = {"boundary": {face: {"type": kind, key: values[key]}}}
            with pytest.raises(ConfigError, match=rf"^boundary\.{face}\.{key}: not a key of a "
                                                  f"'{kind}' boundary"):
                parse_tables(MODEL_SECTIONS, tables)


# ------------------------------------------------------------- the defaults are the model's
def _coupled(**tables):
    """A 2 x 2 coupled model from the fewest keys: every other key at the model's default."""
    pytest.importorskip("petsc4py")
    from mpi4py import MPI

    from models.coupled import CoupledModel

    sub = {"grid": {"nx": 2, "ny": 2, "dz_m": [1.0, 1.9, 0.2, 2.0]},
           "soil": {"theta_r": 0.078, "theta_s": 0.43, "alpha_per_m": 3.6, "n": 1.56,
                    "ks_m_per_s": 2.89e-6}}
    sub.update({k: v for k, v in tables.items() if k not in ("land", "forcing")})
    return CoupledModel.create(MPI.COMM_WORLD, {"subsurface": sub,
                                                "land": tables.get("land", {}),
                                                "forcing": tables.get("forcing", {})})


def test_the_declared_defaults_are_the_ones_the_model_uses():
    from models.forcing import WeatherGenerator
    from models.land.parameters import LAND_COVER

    m = _coupled()
    solver = m.richards.solver
    g, disc = solver.grid, solver.disc
    grid, soil, solv, land, forcing = (GridSection(), SoilSection(), SolverSection(),
                                       LandSection(), ForcingSection())
    assert (g.dx, g.dy) == (grid.dx_m, grid.dy_m)
    assert disc.model == soil.model and disc.mualem_l == soil.mualem_l
    assert disc.kr_se_high is soil.kr_se_high
    assert np.all(disc.soil["ss"] == soil.ss_per_m)
    boundary = MODEL_SECTIONS["boundary"]()
    for face, bc in disc.boundaries.items():
        expected = getattr(boundary, face)
        assert bc.kind == expected.type, face
    top = disc.boundaries["top"]
    assert (top.value, top.h_max, top.h_min, top.surface_kr) == (
        boundary.top.flux_m_per_s, boundary.top.h_max_m, boundary.top.h_min_m,
        boundary.top.surface_kr)
    np.testing.assert_array_equal(solver.get_head(), np.broadcast_to(
        (g.depth - InitialSection().water_table_depth_m)[:, None, None], g.owned_shape))
    ctl = m.richards._template
    assert (ctl.dt, ctl.dt_min, ctl.dt_max, ctl.fixed) == (
        solv.dt_initial_s, solv.dt_min_s, solv.dt_max_s, solv.fixed_dt)
    assert disc.scheme == solv.kr_averaging and solver.prefix == solv.options_prefix
    assert solv.petsc_options == {}
    lc = m.land
    assert (lc.et_method, lc.evap_beta, lc.wind_height_m) == (
        land.et_method, land.evap_beta, land.wind_height_m)
    assert lc.degree_day_factor * 86400.0 == pytest.approx(land.degree_day_factor_mm_per_day_k)
    assert m.nl == np.count_nonzero(g.interfaces[:-1] < land.root_depth_m) == 3
    assert np.all(lc.params.land_cover == list(LAND_COVER).index(land.land_cover))
    assert np.all(lc.params.albedo == LAND_COVER[land.land_cover].albedo)   # no overrides
    np.testing.assert_allclose(lc.lai, 0.5 * (lc.params.lai_min + lc.params.lai_max))
    assert isinstance(m.forcing, WeatherGenerator)
    for key in FORCING_KEYS["synthetic"]:
        assert getattr(m.forcing, key) == getattr(forcing, key), key


def test_the_model_s_other_defaults_fixed_steps_an_empty_initial_table_and_face_types():
    from models.richards.boundary import boundary_from_config

    m = _coupled(initial={}, solver={"fixed_dt": True, "dt_initial_s": 120.0})
    ctl, g = m.richards._template, m.richards.solver.grid
    assert ctl.dt_min == ctl.dt_max == 120.0                 # fixed_dt: dt_initial_s
    np.testing.assert_array_equal(m.richards.solver.get_head()[:, 0, 0],
                                  g.depth - InitialSection().water_table_depth_m)
    with pytest.raises(ConfigError, match="water_table_dept_m"):
        _coupled(initial={"water_table_dept_m": 2.0})
    face = FaceSection()
    assert boundary_from_config("bottom", {"type": "flux"}).value == face.flux_m_per_s
    top = boundary_from_config("top", {"type": "atmospheric"})
    assert (top.value, top.h_max, top.h_min, top.surface_kr) == (
        face.flux_m_per_s, face.h_max_m, face.h_min_m, face.surface_kr)
    head = boundary_from_config("bottom", {"type": "head", "water_table_depth_m": 2.0})
    assert head.value is face.value_m


def test_the_netcdf_defaults_are_the_reader_s(tmp_path):
    pytest.importorskip("netCDF4")
    from models.forcing import VARIABLES, forcing_from_config, write_netcdf
    from pdafpy.decomposition import Box

    path = tmp_path / "forcing.nc"
    write_netcdf(path, lambda t: dict.fromkeys(VARIABLES, 1.0), 3, 2, 2,
                 start="2020-05-01 00:00:00")
    src = forcing_from_config({"type": "netcdf", "path": str(path)}, Box(0, 2, 0, 2), 2, 2)
    forcing = ForcingSection()
    assert src.block_records == forcing.block_records
    assert forcing.start is None and src.start == src.times[0]     # the file's first record
    src.close()

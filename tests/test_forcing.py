"""Forcing: the synthetic weather generator and the NetCDF reader (CF and CLM names), bad input."""

import numpy as np
import pytest

netCDF4 = pytest.importorskip("netCDF4")

from pdafpy.decomposition import Box, block_boxes  # noqa: E402
from pdafpy.errors import ConfigError, InputFileError  # noqa: E402
from models.forcing import (VARIABLES, NetCDFForcing, WeatherGenerator,  # noqa: E402
                            forcing_from_config, write_netcdf)

NY, NX = 4, 6
FULL = Box(0, NY, 0, NX)


def year(gen, hours=8760):
    return [gen.at(h * 3600.0) for h in range(hours)]


def test_generator_gives_a_temperate_climate_with_about_800_mm_of_rain():
    recs = year(WeatherGenerator(Box(0, 1, 0, 1), 1, seed=7))
    rain_mm = sum(float(r["precipitation"][0, 0]) for r in recs) * 3600
    t = np.array([float(r["air_temperature"][0, 0]) for r in recs]) - 273.15
    daily = t.reshape(365, 24)
    assert 650 < rain_mm < 950
    assert abs(t.mean() - 10.0) < 0.5
    # annual cycle: July about 16 K warmer than January; diurnal range about 10 K
    assert 12 < daily[182:213].mean() - daily[0:31].mean() < 20
    assert 8 < np.mean(daily.max(axis=1) - daily.min(axis=1)) < 12
    sw = np.array([float(r["shortwave"][0, 0]) for r in recs]).reshape(365, 24)
    assert np.all(sw[:, 0] == 0.0) and np.all(sw[:, 12] > 0.0)
    assert sw[165:180].sum() > 3 * sw[348:363].sum()     # around the solstices at 50.8 N
    wet = np.array([r["precipitation"][0, 0] > 0 for r in recs]).reshape(365, 24).any(axis=1)
    assert sw[wet].sum(axis=1).mean() < 0.7 * sw[~wet].sum(axis=1).mean()   # rainy days darker
    for r in recs[:48]:
        assert set(r) == set(VARIABLES)
        assert np.all(r["specific_humidity"] > 0) and np.all(r["longwave"] > 150)


def test_generator_is_reproducible_and_seed_dependent():
    a = year(WeatherGenerator(FULL, NX, seed=3), 200)
    b = year(WeatherGenerator(FULL, NX, seed=3), 200)
    c = year(WeatherGenerator(FULL, NX, seed=4), 200)
    for ra, rb in zip(a, b):
        for k in VARIABLES:
            np.testing.assert_array_equal(ra[k], rb[k])
    assert any(not np.array_equal(ra["precipitation"], rc["precipitation"])
               for ra, rc in zip(a, c))


def test_gridded_generator_gives_the_same_arrays_on_any_block_layout():
    full = WeatherGenerator(FULL, NX, seed=5, precipitation_spatial_sd=0.5)
    parts = [WeatherGenerator(b, NX, seed=5, precipitation_spatial_sd=0.5)
             for b in block_boxes(NY, NX, 2, 2)]
    boxes = block_boxes(NY, NX, 2, 2)
    seen_gridded = False
    for h in range(0, 24 * 20):
        ref = full.at(h * 3600.0)
        for box, g in zip(boxes, parts):
            got = g.at(h * 3600.0)
            for k in VARIABLES:
                np.testing.assert_array_equal(got[k], ref[k][box.y0:box.y1, box.x0:box.x1])
        seen_gridded |= np.ptp(ref["precipitation"]) > 0
    assert seen_gridded


def test_netcdf_reader_with_cf_standard_names_gives_the_generator_arrays(tmp_path):
    gen = WeatherGenerator(FULL, NX, seed=2, precipitation_spatial_sd=0.3)
    path = tmp_path / "cf.nc"
    write_netcdf(path, gen, 30, NY, NX)
    box = Box(1, 3, 2, 6)
    rd = NetCDFForcing(path, box, NY, NX, block_records=7)
    for h in (0, 5, 7, 29):
        ref = gen.at(h * 3600.0)
        got = rd.at(h * 3600.0 + 1800.0)
        for k in VARIABLES:
            np.testing.assert_allclose(got[k], ref[k][1:3, 2:6], rtol=1e-14)


def _clm_file(path, hours=5, gridded=False, **changes):
    """A CLM-style forcing file: PRECTmms in mm/h, TBOT in degC, PSRF in hPa, QBOT in g/kg."""
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("time", hours)
        dims = ("time",)
        if gridded:
            ds.createDimension("lat", NY)
            ds.createDimension("lon", NX)
            dims = ("time", "lat", "lon")
        t = ds.createVariable("time", "f8", ("time",))
        t.units = "days since 2018-06-01 00:00:00"
        t[:] = np.arange(hours) / 24.0
        shape = (hours,) + ((NY, NX) if gridded else ())
        spec = {"PRECTmms": ("mm/h", 2.0), "FSDS": ("W/m2", 400.0), "FLDS": ("W m-2", 330.0),
                "TBOT": ("degC", 15.0), "QBOT": ("g/kg", 8.0), "WIND": ("m/s", 3.0),
                "PSRF": ("hPa", 1000.0)}
        for name, (units, value) in spec.items():
            if changes.get("drop") == name:
                continue
            v = ds.createVariable(name, "f8", dims)
            v.units = changes.get("units", {}).get(name, units)
            data = np.full(shape, value)
            if changes.get("nan") == name:
                data[3] = np.nan
            v[:] = data
    return path


def test_netcdf_reader_accepts_clm_names_and_converts_units(tmp_path):
    rd = NetCDFForcing(_clm_file(tmp_path / "clm.nc"), Box(0, 2, 0, 3), NY, NX)
    f = rd.at(3600.0)
    np.testing.assert_allclose(f["precipitation"], 2.0 / 3600)
    np.testing.assert_allclose(f["air_temperature"], 288.15)
    np.testing.assert_allclose(f["surface_pressure"], 1e5)
    np.testing.assert_allclose(f["specific_humidity"], 8e-3)
    assert f["shortwave"].shape == (2, 3)
    g = NetCDFForcing(_clm_file(tmp_path / "grid.nc", gridded=True), Box(0, 2, 0, 3), NY, NX)
    np.testing.assert_allclose(g.at(0.0)["wind_speed"], 3.0)


def test_missing_variable_names_file_and_variable(tmp_path):
    path = _clm_file(tmp_path / "m.nc", drop="QBOT")
    with pytest.raises(InputFileError, match=r"m\.nc.*specific_humidity.*QBOT"):
        NetCDFForcing(path, FULL, NY, NX)


def test_unknown_units_name_file_variable_and_units(tmp_path):
    path = _clm_file(tmp_path / "u.nc", units={"TBOT": "degF"})
    with pytest.raises(InputFileError, match=r"u\.nc.*'TBOT'.*'degF'"):
        NetCDFForcing(path, FULL, NY, NX)


def test_nan_names_file_variable_and_time(tmp_path):
    path = _clm_file(tmp_path / "n.nc", nan="FSDS")
    rd = NetCDFForcing(path, FULL, NY, NX)
    with pytest.raises(InputFileError, match=r"n\.nc.*'FSDS'.*2018-06-01 03:00:00"):
        rd.at(0.0)


def test_gap_in_time_names_file_and_times(tmp_path):
    path = _clm_file(tmp_path / "g.nc")
    with netCDF4.Dataset(path, "a") as ds:
        ds["time"][3] = 4.0 / 24.0
        ds["time"][4] = 5.0 / 24.0
    with pytest.raises(InputFileError, match=r"g\.nc.*gap.*2018-06-01 02:00:00.*04:00:00"):
        NetCDFForcing(path, FULL, NY, NX)


def test_time_outside_the_file_and_wrong_grid_are_clear_errors(tmp_path):
    rd = NetCDFForcing(_clm_file(tmp_path / "o.nc"), FULL, NY, NX)
    with pytest.raises(InputFileError, match="no record for model time"):
        rd.at(5 * 3600.0)
    with pytest.raises(InputFileError, match=r"shape.*\(time, 5, 6\)"):
        NetCDFForcing(_clm_file(tmp_path / "w.nc", gridded=True), FULL, 5, NX)
    with pytest.raises(InputFileError, match="no such file"):
        NetCDFForcing(tmp_path / "absent.nc", FULL, NY, NX)


def test_forcing_config_rejects_unknown_keys_and_types():
    with pytest.raises(ConfigError, match="rain_mm"):
        forcing_from_config({"rain_mm": 3}, FULL, NY, NX)
    with pytest.raises(ConfigError, match="'grib'"):
        forcing_from_config({"type": "grib"}, FULL, NY, NX)
    with pytest.raises(ConfigError, match="path"):
        forcing_from_config({"type": "netcdf"}, FULL, NY, NX)

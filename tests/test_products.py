"""The product readers and ``pdafpy convert`` on files written here in each provider's layout:
SMAP L2/L3 (HDF5), ASCAT SSM swath and CGLS LAI (NetCDF), LPDR v3 VOD (GeoTIFF), CRNS and well
series (pdafpy's CSV). Values, errors, times against hand-computed seconds, EASE-2 coordinates
against the grid's definition, the flag -> qc mapping, a conversion read back as an observation
file, and malformed files refused in one line naming the file and the field."""

from __future__ import annotations

import importlib.util
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from pdafpy import cli
from pdafpy.errors import ConfigError, InputFileError
from pdafpy.obs.files import read_observation_file
from pdafpy.registry import registered

from models.products import ascat, cgls_lai, convert, lpdr_vod, smap, stations
from models.products.common import LONLAT, LonLatBox, ReadOptions
from models.products.grid import model_grid, model_setup

import h5py
import netCDF4

needs_pyproj = pytest.mark.skipif(importlib.util.find_spec("pyproj") is None,
                                  reason="pyproj is not installed (Debian python3-pyproj): it "
                                  "places longitude/latitude on the model grid")

START = "2020-05-01T00:00:00"
#: 2020-05-01T06:00:00 UTC in SMAP J2000 seconds, by hand: 7426 days from 2000-01-01, less
#: 11:58:55.816, plus 6 h, plus the 5 leap seconds inserted since 2000.
SMAP_0600 = 7426 * 86400 - 43135.816 + 21600 + 5
#: The same instant in seconds since 2000-01-01 00:00:00 (ASCAT's utc_line_nodes).
ASCAT_0600 = 7426 * 86400 + 21600
CONFIG = """
[grid]
nx = {nx}
ny = {ny}
dx_m = {dx}
dy_m = {dx}
dz_m = [0.05, 0.1, 0.35]
crs = "EPSG:32632"
{origin}
[schedule]
start = "2020-04-30T00:00:00"
"""
ORIGIN = (500000.0, 5000000.0)                       # UTM 32N: about 9.0 E, 45.14 N


def write_config(folder: Path, nx: int = 4, ny: int = 3, dx: float = 1000.0,
                 origin: tuple | None = ORIGIN) -> Path:
    path = folder / "grid.toml"
    line = f"origin_m = [{origin[0]}, {origin[1]}]" if origin else ""
    path.write_text(CONFIG.format(nx=nx, ny=ny, dx=dx, origin=line))
    return path


def lonlat_of(x, y):
    """UTM 32N points as longitude, latitude."""
    import pyproj

    t = pyproj.Transformer.from_crs("EPSG:32632", "EPSG:4326", always_xy=True)
    return t.transform(np.asarray(x, float), np.asarray(y, float))


def assert_refused(call, path: Path, field: str):
    """``call()`` raises InputFileError in one line naming ``path`` and ``field``."""
    with pytest.raises(InputFileError) as info:
        call()
    message = str(info.value)
    assert str(path) in message and field in message and "\n" not in message, message


# ----------------------------------------------------------------------------- SMAP
def put(group, name, data, fill=None, units=None, valid=None):
    ds = group.create_dataset(name, data=data)
    if fill is not None:
        ds.attrs["_FillValue"] = np.array([fill], dtype=ds.dtype)
    if units is not None:
        ds.attrs["units"] = units
    if valid is not None:
        ds.attrs["valid_min"], ds.attrs["valid_max"] = np.float32(valid[0]), np.float32(valid[1])
    return ds


def write_smap_l2(path: Path, lon, lat, sm, error, flags, seconds, units="cm**3/cm**3",
                  skip=(), utc=None):
    with h5py.File(path, "w") as f:
        g = f.create_group("Soil_Moisture_Retrieval_Data")
        fields = {"soil_moisture": (np.float32(sm), -9999.0, units, (0.02, 0.5)),
                  "soil_moisture_error": (np.float32(error), -9999.0, units, (0.0, 0.2)),
                  "latitude": (np.float32(lat), -9999.0, "degrees_north", None),
                  "longitude": (np.float32(lon), -9999.0, "degrees_east", None),
                  "retrieval_qual_flag": (np.uint16(flags), 65534, None, None),
                  "tb_time_seconds": (np.float64(seconds), -9999.0, "seconds", None)}
        for name, (data, fill, unit, valid) in fields.items():
            if name not in skip:
                put(g, name, data, fill, unit, valid)
        if utc is not None:
            g.create_dataset("tb_time_utc", data=np.array(utc, dtype="S24"))


def fixed_points(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude of ``n`` points for the readers alone (no grid involved)."""
    return 9.0 + 0.004 * np.arange(n), np.full(n, 45.12)


def inside_points(n: int):
    """``n`` points inside the 4 x 3 km test grid, as UTM and as longitude/latitude."""
    x = ORIGIN[0] + 500.0 + 900.0 * np.arange(n) % 4000.0
    y = np.full(n, ORIGIN[1] + 1500.0)
    return x, y, *lonlat_of(x, y)


def smap_l2_file(folder: Path, on_grid: bool = False) -> tuple[Path, np.ndarray, np.ndarray]:
    """An L2 file of 6 retrievals; with ``on_grid`` all but the fifth inside the test grid."""
    x, y, lon, lat = inside_points(6) if on_grid else (None, None, *fixed_points(6))
    lon[4], lat[4] = 12.0, 50.0                                  # outside the grid
    path = folder / "SMAP_L2_SM_P_30058_D_20200501T055900_R19240_001.h5"
    write_smap_l2(path, lon, lat, sm=[0.25, 0.30, -9999.0, 0.6, 0.2, 0.35],
                  error=[0.03, -9999.0, 0.03, 0.03, 0.03, 0.05],
                  flags=[0, 1, 0, 0, 0, 65534],
                  seconds=SMAP_0600 + np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0]))
    return path, x, y


def test_j2000_seconds_count_the_leap_seconds_since_2000():
    # 2015-04-01T00:00:00 UTC: 5569 days after 2000-01-01, 3 leap seconds (2005, 2008, 2012)
    assert smap.j2000_to_posix(5569 * 86400 - 43135.816 + 3) == pytest.approx(1427846400.0,
                                                                              abs=1e-6)
    assert smap.j2000_to_posix(0.0) == pytest.approx(946727935.816, abs=1e-6)
    assert smap.j2000_to_posix(SMAP_0600) == pytest.approx(1588312800.0, abs=1e-6)


def test_smap_l2_values_errors_times_and_flags(tmp_path):
    path, _, _ = smap_l2_file(tmp_path)
    got = smap.read_l2(path, ReadOptions(error_std=0.04))
    assert got.type_name == "satellite_soil_moisture" and got.units == "m3 m-3"
    assert got.crs == LONLAT
    np.testing.assert_allclose(got.value, [0.25, 0.30, 0.2, 0.35], rtol=1e-6)
    np.testing.assert_allclose(got.error_std, [0.03, 0.04, 0.03, 0.05], rtol=1e-6)
    np.testing.assert_allclose(got.time_utc, 1588312800.0 + np.array([0, 1, 4, 5]), atol=1e-5)
    assert got.qc.tolist() == [0, 1, 0, 1]
    assert got.flagged_by[1] == "retrieval_qual_flag bit 0: not recommended quality"
    assert got.flagged_by[3] == "retrieval_qual_flag is fill"
    assert got.dropped == {"soil_moisture is fill": 1,
                           "soil_moisture outside valid_min/valid_max": 1}


def test_smap_tb_time_utc_gives_the_same_times(tmp_path):
    lon, lat = fixed_points(2)
    path = tmp_path / "l2_utc.h5"
    write_smap_l2(path, lon, lat, [0.2, 0.3], [0.02, 0.02], [8, 0], [0, 0],
                  skip=("tb_time_seconds",),
                  utc=[b"2020-05-01T06:00:00.000Z", b"2020-05-01T06:00:01.500Z"])
    got = smap.read_l2(path, ReadOptions())
    np.testing.assert_allclose(got.time_utc, [1588312800.0, 1588312801.5], atol=1e-6)
    assert got.qc.tolist() == [0, 0]                   # bit 3 (freeze/thaw) is no rejection


def ease2_y(lat_deg: np.ndarray) -> np.ndarray:
    """Northing [m] of the EASE-2 Global map (Lambert cylindrical equal area on WGS 84, true
    scale at 30 degrees), from its definition."""
    a, e2 = 6378137.0, 0.00669437999014
    e = math.sqrt(e2)
    k0 = math.cos(math.radians(30.0)) / math.sqrt(1 - e2 * math.sin(math.radians(30.0)) ** 2)
    s = np.sin(np.radians(lat_deg))
    q = (1 - e2) * (s / (1 - e2 * s ** 2) - np.log((1 - e * s) / (1 + e * s)) / (2 * e))
    return a * q / (2 * k0)


@needs_pyproj
def test_ease2_cells_match_the_grid_definition():
    from models.products.projection import ease2_lonlat, ease2_rowcol

    # 36 km: 964 columns over 360 degrees, rows of 36032.220840584 m from y0 = 7314540.83 m
    rows, cols = np.array([0, 202, 203, 405]), np.array([0, 481, 482, 963])
    lon, lat = ease2_lonlat(rows, cols, 36)
    np.testing.assert_allclose(lon, -180.0 + (cols + 0.5) * 360.0 / 964, atol=1e-9)
    np.testing.assert_allclose(ease2_y(lat), 7314540.8306386 - (rows + 0.5) * 36032.220840584,
                               atol=1e-3)
    np.testing.assert_allclose(lat[1], -lat[2], atol=1e-9)          # rows 202/203 straddle 0
    # 9 km: 3856 columns; the grid's top edge is 85.0445664 N
    lon9, _ = ease2_lonlat(np.array([0]), np.array([1927]), 9)
    np.testing.assert_allclose(lon9, -180.0 + 1927.5 * 360.0 / 3856, atol=1e-9)
    assert ease2_y(np.array([85.0445664]))[0] == pytest.approx(7314540.8306386, abs=1.0)
    assert [r.tolist() for r in ease2_rowcol(lon, lat, 36)] == [rows.tolist(), cols.tolist()]


def write_smap_l3(path: Path, cells: dict, shape=(406, 964), groups=("AM", "PM")):
    with h5py.File(path, "w") as f:
        for name in groups:
            suffix = "_pm" if name == "PM" else ""
            g = f.create_group(f"Soil_Moisture_Retrieval_Data_{name}")
            fields = {"soil_moisture": ("f4", -9999.0, "cm**3/cm**3", (0.02, 0.5)),
                      "soil_moisture_error": ("f4", -9999.0, "cm**3/cm**3", None),
                      "retrieval_qual_flag": ("u2", 65534, None, None),
                      "tb_time_seconds": ("f8", -9999.0, "seconds", None)}
            for field, (dtype, fill, units, valid) in fields.items():
                ds = g.create_dataset(field + suffix, shape, dtype, fillvalue=fill, chunks=True,
                                      compression="gzip")
                ds.attrs["_FillValue"] = np.array([fill], dtype=dtype)
                if units:
                    ds.attrs["units"] = units
                if valid:
                    ds.attrs["valid_min"], ds.attrs["valid_max"] = np.float32(valid)
            for (row, col), (value, flag, t) in cells.get(name, {}).items():
                g["soil_moisture" + suffix][row, col] = value
                g["retrieval_qual_flag" + suffix][row, col] = flag
                g["tb_time_seconds" + suffix][row, col] = t


@needs_pyproj
def test_smap_l3_places_cells_at_their_ease2_centres(tmp_path):
    path = tmp_path / "SMAP_L3_SM_P_20200501_R19240_001.h5"
    write_smap_l3(path, {"AM": {(100, 500): (0.2, 0, SMAP_0600), (101, 501): (0.3, 5, 0.0)},
                         "PM": {(100, 500): (0.4, 0, SMAP_0600 + 43200)}})
    got = smap.read_l3(path, ReadOptions(error_std=0.04))
    np.testing.assert_allclose(got.value, [0.2, 0.3, 0.4], rtol=1e-6)
    np.testing.assert_allclose(got.x, -180.0 + (np.array([500, 501, 500]) + 0.5) * 360 / 964)
    np.testing.assert_allclose(ease2_y(got.y), 7314540.8306386 - (np.array([100, 101, 100])
                                                                 + 0.5) * 36032.220840584,
                               atol=1e-3)
    np.testing.assert_allclose(got.time_utc[[0, 2]], [1588312800.0, 1588356000.0], atol=1e-5)
    assert got.qc.tolist() == [0, 1, 0] and got.flagged_by[1].startswith("retrieval_qual_flag "
                                                                            "bit 2")
    assert got.error_std.tolist() == [0.04] * 3
    pm = smap.read_l3(path, ReadOptions(error_std=0.04, overpass="pm"))
    np.testing.assert_allclose(pm.value, [0.4], rtol=1e-6)
    box = LonLatBox(-180.0 + 500.1 * 360 / 964, -180.0 + 500.9 * 360 / 964, -90.0, 90.0)
    assert smap.read_l3(path, ReadOptions(error_std=0.04, region=box)).size == 2


@needs_pyproj
def test_smap_l3_enhanced_9km_grid_and_its_region(tmp_path):
    path = tmp_path / "SMAP_L3_SM_P_E_20200501_R19240_001.h5"
    write_smap_l3(path, {"AM": {(400, 2000): (0.22, 8, SMAP_0600),
                                (1500, 100): (0.33, 0, SMAP_0600)}},
                  shape=(1624, 3856), groups=("AM",))
    lon = -180.0 + 2000.5 * 360 / 3856
    box = LonLatBox(lon - 0.01, lon + 0.01, 25.0, 35.0)             # row 400: 30.3 N
    got = smap.read_l3(path, ReadOptions(error_std=0.04, overpass="am", region=box))
    np.testing.assert_allclose(got.value, [0.22], rtol=1e-6)
    np.testing.assert_allclose(got.x, [lon], atol=1e-9)
    np.testing.assert_allclose(ease2_y(got.y), 7314540.8306386 - 400.5 * 9008.055210146,
                               atol=1e-3)
    assert got.qc.tolist() == [0] and "9 km" in got.attributes["source_product"]
    assert smap.read_l3(path, ReadOptions(error_std=0.04, overpass="am")).size == 2


# ----------------------------------------------------------------------------- ASCAT
def write_ascat(path: Path, units="percent", flag_attrs=False, time_units=None, lon=None,
                lat=None):
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("numRows", 2)
        ds.createDimension("numCells", 3)
        t = ds.createVariable("utc_line_nodes", "f8", ("numRows",))
        t.units = time_units or "seconds since 2000-01-01 00:00:00"
        t[:] = [ASCAT_0600, ASCAT_0600 + 10.0]
        if lon is None:
            lon, lat = fixed_points(6)
        for name, values, unit in (("latitude", lat, "degrees_north"),
                                   ("longitude", lon, "degrees_east")):
            v = ds.createVariable(name, "i4", ("numRows", "numCells"), fill_value=-2147483647)
            v.scale_factor, v.units = 1e-6, unit
            v[:] = np.reshape(values, (2, 3))
        for name, values in (("soil_moisture", [50.0, np.nan, 40.0, 30.0, 20.0, 30.0]),
                             ("soil_moisture_error", [5.0, 5.0, 5.0, 5.0, 5.0, np.nan])):
            v = ds.createVariable(name, "i2", ("numRows", "numCells"), fill_value=-32767)
            v.scale_factor, v.units = 0.01, units
            v.valid_min, v.valid_max = np.int16(0), np.int16(10000)
            v[:] = np.ma.masked_invalid(np.reshape(values, (2, 3)))
        flags = {"proc_flag1": [0, 0, 1, 0, 0, 0], "corr_flags": [0, 0, 0, 1, 0, 0],
                 "snow_cover_probability": [0] * 6,
                 "frozen_soil_probability": [0, 0, 0, 80, 0, 0],
                 "wetland_flag": [0, 0, 0, 0, 20, 0], "topography_flag": [5] * 6}
        for name, values in flags.items():
            v = ds.createVariable(name, "u1", ("numRows", "numCells"), fill_value=255)
            v[:] = np.reshape(values, (2, 3))
        if flag_attrs:
            v = ds["proc_flag1"]
            v.flag_masks = np.array([1, 2], dtype="u1")
            v.flag_meanings = "not_soil sensitivity_below_limit"


def test_ascat_saturation_flags_and_times(tmp_path):
    path = tmp_path / ("W_XX-EUMETSAT-Darmstadt,SURFACE+SATELLITE,METOPB+ASCAT_C_EUMP_"
                       "20200501055900_39000_eps_o_125_ssm_l2.nc")
    write_ascat(path)
    got = ascat.read(path, ReadOptions(error_std=0.07, ascat_units="saturation"))
    assert got.units == "1" and got.attributes["ascat_units"] == "saturation"
    np.testing.assert_allclose(got.value, [0.5, 0.4, 0.3, 0.2, 0.3], atol=1e-6)
    np.testing.assert_allclose(got.error_std, [0.05, 0.05, 0.05, 0.05, 0.07], atol=1e-6)
    np.testing.assert_allclose(got.time_utc, 1588312800.0 + np.array([0, 0, 10, 10, 10]),
                               atol=1e-6)
    assert got.qc.tolist() == [0, 1, 1, 1, 0]
    assert got.flagged_by[1:4].tolist() == ["proc_flag1 1: not soil",
                                            "frozen_soil_probability above 50%",
                                            "wetland_flag above 15%"]
    assert got.dropped == {"soil_moisture is fill or outside its valid range": 1}
    np.testing.assert_allclose(got.x, np.delete(fixed_points(6)[0], 1), atol=2e-6)
    looser = ReadOptions(error_std=0.07, ascat_units="saturation",
                         ascat_limits={"frozen": 90.0, "wetland": 25.0})
    assert ascat.read(path, looser).qc.tolist() == [0, 1, 0, 0, 0]


def test_ascat_volumetric_with_a_porosity_value_and_a_map(tmp_path):
    path = tmp_path / "ascat.nc"
    write_ascat(path, flag_attrs=True)
    got = ascat.read(path, ReadOptions(error_std=0.02, porosity=0.4))
    assert got.units == "m3 m-3"
    np.testing.assert_allclose(got.value, [0.2, 0.16, 0.12, 0.08, 0.12], atol=1e-6)
    np.testing.assert_allclose(got.error_std[:4], 0.02, atol=1e-6)
    assert got.flagged_by[1] == "proc_flag1 1: not soil"        # the file's flag_meanings
    porosity = tmp_path / "porosity.nc"
    with netCDF4.Dataset(porosity, "w") as ds:
        ds.createDimension("lat", 3)
        ds.createDimension("lon", 4)
        ds.createVariable("lat", "f8", ("lat",))[:] = [46.0, 45.0, 44.0]
        ds.createVariable("lon", "f8", ("lon",))[:] = [8.0, 9.0, 10.0, 11.0]
        ds.createVariable("porosity", "f4", ("lat", "lon"))[:] = np.full((3, 4), 0.5)
    mapped = ascat.read(path, ReadOptions(error_std=0.02, porosity=porosity))
    np.testing.assert_allclose(mapped.value, [0.25, 0.2, 0.15, 0.1, 0.15], atol=1e-6)
    with pytest.raises(InputFileError, match="--porosity"):
        ascat.read(path, ReadOptions(error_std=0.02))


# ----------------------------------------------------------------------------- CGLS LAI
def write_lai(path: Path, skip=()):
    lat = np.round(45.2 - 0.01 * np.arange(4), 6)
    lon = np.round(8.97 + 0.01 * np.arange(5), 6)
    with netCDF4.Dataset(path, "w") as ds:
        for name, values in (("time", None), ("lat", lat), ("lon", lon)):
            ds.createDimension(name, 1 if values is None else values.size)
        t = ds.createVariable("time", "f8", ("time",))
        t.units, t[:] = "days since 1970-01-01 00:00:00", [18392.0]      # 2020-05-10
        ds.createVariable("lat", "f8", ("lat",))[:] = lat
        ds.createVariable("lon", "f8", ("lon",))[:] = lon
        dn = np.arange(20, dtype=np.uint8).reshape(1, 4, 5) * 10
        dn[0, 0, 0] = 255                                        # fill
        for name, values in (("LAI", dn), ("RMSE", np.full((1, 4, 5), 15, np.uint8))):
            if name in skip:
                continue
            v = ds.createVariable(name, "u1", ("time", "lat", "lon"), fill_value=255)
            v.scale_factor, v.add_offset = 1.0 / 30.0, 0.0
            v.valid_range = np.array([0, 210], dtype=np.uint8)
            v.set_auto_scale(False)                              # digital numbers
            v[:] = values
        if "QFLAG" not in skip:
            q = np.zeros((1, 4, 5), np.uint16)
            q[0, 0, 1], q[0, 0, 2], q[0, 0, 3] = 1, 4, 2            # sea, filled, unused bit
            ds.createVariable("QFLAG", "u2", ("time", "lat", "lon"))[:] = q
    return lat, lon


def test_cgls_lai_scaling_fill_flags_and_region(tmp_path):
    path = tmp_path / "c_gls_LAI300-RT0_202005100000_GLOBE_OLCI_V1.1.2.nc"
    lat, lon = write_lai(path)
    got = cgls_lai.read(path, ReadOptions())
    assert got.size == 19 and got.dropped == {"LAI is fill or outside valid_range": 1}
    dn = np.arange(20) * 10
    valid = (dn <= 210) & (np.arange(20) != 0)
    np.testing.assert_allclose(got.value, dn[valid] / 30.0, atol=1e-6)
    assert got.dropped["LAI is fill or outside valid_range"] == 1
    np.testing.assert_allclose(got.error_std, 0.5, atol=1e-6)
    np.testing.assert_allclose(got.time_utc, 1589068800.0)
    assert got.qc[:3].tolist() == [1, 1, 0]
    assert got.flagged_by[:2].tolist() == ["QFLAG bit 1: sea", "QFLAG bit 3: filled (no valid "
                                           "observation in the window)"]
    np.testing.assert_allclose(got.x[:4], lon[1:])
    box = LonLatBox(8.985, 9.005, 45.175, 45.205)
    part = cgls_lai.read(path, ReadOptions(region=box))
    np.testing.assert_allclose(np.unique(part.x), lon[2:4])
    np.testing.assert_allclose(np.unique(part.y), np.sort(lat[:3]))


# ----------------------------------------------------------------------------- LPDR VOD
def write_geotiff(path: Path, bands: np.ndarray, tie=None, scale=None, epsg=6933,
                  deflate=False, order="<"):
    """A (Geo)TIFF of float32 ``bands`` (b, h, w): interleaved pixels, one strip per row."""
    b, h, w = bands.shape
    pixels = np.moveaxis(bands.astype(order + "f4"), 0, -1)
    strips = [pixels[r].tobytes() for r in range(h)]
    strips = [zlib.compress(s) for s in strips] if deflate else strips
    entries = [(256, 3, [w]), (257, 3, [h]), (258, 3, [32] * b), (259, 3, [8 if deflate else 1]),
               (262, 3, [1]), (273, 4, None), (277, 3, [b]), (278, 3, [1]),
               (279, 4, [len(s) for s in strips]), (284, 3, [1]), (339, 3, [3] * b)]
    if tie is not None:
        entries += [(33550, 12, list(scale) + [0.0]), (33922, 12, [0.0, 0.0, 0.0, *tie, 0.0]),
                    (34735, 3, [1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, epsg])]
    entries += [(42113, 2, b"-999\0")]
    codes = {3: "H", 4: "I", 12: "d"}
    data = bytearray(b"II*\0" if order == "<" else b"MM\0*") + struct.pack(order + "I", 0)
    offsets = []
    for s in strips:
        offsets.append(len(data))
        data += s
    entries = [(t, k, offsets if v is None else v) for t, k, v in entries]
    blobs = {}
    for tag, kind, values in entries:
        raw = values if kind == 2 else struct.pack(order + codes[kind] * len(values), *values)
        if len(raw) > 4:
            blobs[tag] = len(data)
            data += raw
    ifd = len(data)
    data[4:8] = struct.pack(order + "I", ifd)
    data += struct.pack(order + "H", len(entries))
    for tag, kind, values in entries:
        raw = values if kind == 2 else struct.pack(order + codes[kind] * len(values), *values)
        count = len(values)
        field = raw.ljust(4, b"\0") if len(raw) <= 4 else struct.pack(order + "I", blobs[tag])
        data += struct.pack(order + "HHI", tag, kind, count) + field
    data += struct.pack(order + "I", 0)
    path.write_bytes(bytes(data))


def lpdr_bands(h=3, w=4) -> np.ndarray:
    bands = np.zeros((7, h, w), np.float32)
    bands[4] = 0.1 * np.arange(1, h * w + 1).reshape(h, w)          # VOD 0.1 ... 1.2
    bands[4, 0, 0], bands[4, 0, 1] = -999.0, 3.5                     # fill, out of range
    return bands


@needs_pyproj
def test_lpdr_vod_from_a_georeferenced_tiff(tmp_path):
    from models.landda.ease2 import ease2_grid

    ease = ease2_grid(25)
    row, col = (int(v) for v in ease.rowcol_of_lonlat(np.array([9.0]), np.array([45.1])))
    x0, y0 = ease.x0 + col * ease.cell_m, ease.y0 - row * ease.cell_m
    for deflate, order in ((False, "<"), (True, ">")):
        path = tmp_path / f"AMSRU_Mland_2020122{'A' if deflate else 'D'}.tif"
        write_geotiff(path, lpdr_bands(), tie=(x0, y0), scale=(ease.cell_m, ease.cell_m),
                      deflate=deflate, order=order)
        got = lpdr_vod.read(path, ReadOptions(error_std=0.05))
        np.testing.assert_allclose(got.value, 0.1 * np.arange(3, 13), atol=1e-6)
        assert got.dropped == {"VOD is fill (-999)": 1, "VOD outside 0-3": 1}
        lon, lat = ease.lonlat_of_rowcol(np.array([row, row + 2]), np.array([col + 2, col + 3]))
        np.testing.assert_allclose([got.x[0], got.x[-1]], lon, atol=1e-9)
        np.testing.assert_allclose([got.y[0], got.y[-1]], lat, atol=1e-9)
        hour = 13.5 if deflate else 1.5                         # day 122 of 2020 is 1 May
        np.testing.assert_allclose(got.time_utc, 1588291200.0 + 3600 * hour - 240 * got.x)
        assert got.units == "1" and got.qc.tolist() == [0] * 10
    with pytest.raises(InputFileError, match="--error"):
        lpdr_vod.read(path, ReadOptions())


@needs_pyproj
def test_lpdr_without_georeferencing_is_the_ease2_25km_grid(tmp_path):
    from models.landda.ease2 import ease2_grid

    ease = ease2_grid(25)
    bands = np.full((7, ease.rows, ease.columns), -999.0, np.float32)
    bands[4, 100, 700], bands[4, 583, 1387] = 0.8, 1.1
    path = tmp_path / "AMSRU_Mland_2020122A.tif"
    write_geotiff(path, bands, deflate=True)
    got = lpdr_vod.read(path, ReadOptions(error_std=0.05))
    np.testing.assert_allclose(got.value, [0.8, 1.1], atol=1e-6)
    lon, lat = ease.lonlat_of_rowcol(np.array([100, 583]), np.array([700, 1387]))
    np.testing.assert_allclose(got.x, lon, atol=1e-9)
    np.testing.assert_allclose(got.y, lat, atol=1e-9)
    assert got.dropped == {"VOD is fill (-999)": ease.rows * ease.columns - 2}


# ----------------------------------------------------------------------------- stations
def test_crns_and_wells_csv(tmp_path):
    lon, lat = fixed_points(3)
    x, y = ORIGIN[0] + 500.0 + 900.0 * np.arange(3), np.full(3, ORIGIN[1] + 1500.0)
    crns = tmp_path / "crns.csv"
    crns.write_text("# CRNS series\nstation,time,latitude,longitude,soil_moisture,"
                    "soil_moisture_error,depth,qc\n"
                    f"A,2020-05-01T06:00:00Z,{lat[0]},{lon[0]},0.25,0.02,0.15,0\n"
                    f"A,2020-05-01T07:00:00Z,{lat[0]},{lon[0]},,0.02,0.15,0\n"
                    f"B,2020-05-01T06:00:00,{lat[1]},{lon[1]},0.31,,0.12,1\n"
                    f"B,2020-05-01T08:00:00,{lat[1]},{lon[1]},1.31,,0.12,2\n")
    got = stations.read_crns(crns, ReadOptions(error_std=0.03))
    assert got.type_name == "crns_soil_moisture" and got.station.tolist() == ["A", "B"]
    np.testing.assert_allclose(got.value, [0.25, 0.31])
    np.testing.assert_allclose(got.error_std, [0.02, 0.03])
    np.testing.assert_allclose(got.depth, [0.15, 0.12])
    np.testing.assert_allclose(got.time_utc, [1588312800.0, 1588312800.0])
    assert got.qc.tolist() == [0, 1] and got.dropped == {"soil_moisture is missing": 1,
                                                         "soil_moisture outside 0-1": 1}
    wells = tmp_path / "wells.csv"
    wells.write_text("station,time,x,y,ground_elevation,head,depth_to_water,screen_depth,qc\n"
                     f"W1,2020-05-01T06:00:00,{x[0]},{y[0]},120.0,118.5,,10.0,0\n"
                     f"W2,2020-05-01T06:00:00,{x[1]},{y[1]},,,2.25,8.0,2\n")
    got = stations.read_wells(wells, ReadOptions(error_std=0.1))
    assert got.crs == "grid" and got.type_name == "groundwater_level" and got.units == "m"
    np.testing.assert_allclose(got.value, [1.5, 2.25])
    np.testing.assert_allclose(got.depth, [10.0, 8.0])
    assert got.qc.tolist() == [0, 2]


# ----------------------------------------------------------------------------- the command
def test_model_grid_of_a_configuration(tmp_path):
    grid = model_grid(write_config(tmp_path))
    np.testing.assert_allclose(grid.x, ORIGIN[0] + 500.0 + 1000.0 * np.arange(4))
    np.testing.assert_allclose(grid.y, ORIGIN[1] + 500.0 + 1000.0 * np.arange(3))
    np.testing.assert_allclose(grid.z, [0.025, 0.1, 0.325])
    assert grid.crs == "EPSG:32632" and model_setup(write_config(tmp_path)).start == \
        "2020-04-30T00:00:00"
    np.testing.assert_allclose(model_grid(write_config(tmp_path, origin=None)).x,
                               500.0 + 1000.0 * np.arange(4))


@needs_pyproj
def test_convert_smap_l2_end_to_end(tmp_path, capsys):
    path, x, y = smap_l2_file(tmp_path, on_grid=True)
    config, out = write_config(tmp_path), tmp_path / "obs.nc"
    assert convert.main(["smap_l2", str(path), "--grid", str(config), "--out", str(out),
                         "--error", "0.04", "--start", START]) == 0
    printed = capsys.readouterr().out
    for line in ("read 6 entries", "left out 1: outside the model grid",
                 "left out 1: soil_moisture is fill",
                 "left out 1: soil_moisture outside valid_min/valid_max",
                 "flagged (qc = 1) 1: retrieval_qual_flag bit 0: not recommended quality",
                 "flagged (qc = 1) 1: retrieval_qual_flag is fill",
                 f"wrote 3 observations (1 good) of satellite_soil_moisture [m3 m-3] to {out}"):
        assert line in printed, printed
    records = read_observation_file(out, START, registered("pdafpy.observations"),
                                    {"satellite_soil_moisture": "m3 m-3"}, "EPSG:32632")
    np.testing.assert_allclose(records.time, 21600.0 + np.array([0.0, 1.0, 5.0]), atol=1e-5)
    np.testing.assert_allclose(records.x, x[[0, 1, 5]], atol=0.05)      # float32 lat/lon
    np.testing.assert_allclose(records.y, y[[0, 1, 5]], atol=0.05)
    np.testing.assert_allclose(records.value, [0.25, 0.30, 0.35], rtol=1e-6)
    np.testing.assert_allclose(records.error_std, [0.03, 0.04, 0.05], rtol=1e-6)
    assert records.qc.tolist() == [0, 1, 1] and set(records.type) == {"satellite_soil_moisture"}
    with netCDF4.Dataset(out) as ds:
        assert ds["flagged_by"][1] == "retrieval_qual_flag bit 0: not recommended quality"
        assert "smap_l2" in ds.history and ds.source_files == path.name
    assert convert.main(["smap_l2", str(path), "--grid", str(config), "--out", str(out),
                         "--error", "0.04", "--drop-flagged"]) == 0
    records = read_observation_file(out, "2020-04-30T00:00:00",
                                    registered("pdafpy.observations"), {}, "EPSG:32632")
    assert records.qc.tolist() == [0] and records.time[0] == pytest.approx(86400 + 21600,
                                                                          abs=1e-5)


@needs_pyproj
def test_convert_wells_ascat_and_lai_and_the_unit_choice(tmp_path, capsys):
    config = write_config(tmp_path)
    x, y, _, _ = inside_points(2)
    wells = tmp_path / "wells.csv"
    wells.write_text("station,time,x,y,depth_to_water,screen_depth\n"
                     f"W2,2020-05-01T07:00:00Z,{x[1]},{y[1]},2.5,8.0\n"
                     f"W1,2020-05-01T06:00:00Z,{x[0]},{y[0]},1.5,10.0\n"
                     f"W9,2020-05-01T06:00:00Z,{x[0] + 9000.0},{y[0]},1.5,10.0\n")
    out = tmp_path / "wells.nc"
    assert convert.main(["wells", str(wells), "--grid", str(config), "--out", str(out),
                         "--error", "0.1", "--start", START]) == 0
    records = read_observation_file(out, START, registered("pdafpy.observations"),
                                    {"groundwater_level": "m"}, "EPSG:32632")
    assert records.station.tolist() == ["W1", "W2"]                   # in time order
    np.testing.assert_allclose(records.depth, [10.0, 8.0])
    np.testing.assert_allclose(records.time, [21600.0, 25200.0])
    nc = tmp_path / "ascat.nc"
    write_ascat(nc, lon=inside_points(6)[2], lat=inside_points(6)[3])
    out = tmp_path / "ascat_obs.nc"
    assert convert.main(["ascat", str(nc), "--grid", str(config), "--out", str(out),
                         "--error", "0.07", "--ascat-units", "saturation",
                         "--ascat-limits", "frozen=90"]) == 0
    with pytest.raises(InputFileError, match="units '1' for type 'satellite_soil_moisture', "
                                             "expected 'm3 m-3'"):
        read_observation_file(out, START, registered("pdafpy.observations"),
                              {"satellite_soil_moisture": "m3 m-3"}, "EPSG:32632")
    with netCDF4.Dataset(out) as ds:
        assert ds.ascat_units == "saturation" and ds["value"].units == "1"
    lai = tmp_path / "lai.nc"
    write_lai(lai)
    out = tmp_path / "lai_obs.nc"
    assert convert.main(["cgls_lai", str(lai), "--grid", str(config), "--out", str(out)]) == 0
    assert "outside the model grid" in capsys.readouterr().out
    records = read_observation_file(out, START, registered("pdafpy.observations"),
                                    {"leaf_area_index": "m2 m-2"}, "EPSG:32632")
    assert records.size > 0 and set(records.type) == {"leaf_area_index"}


def test_convert_on_a_geographic_grid_writes_longitude_and_latitude(tmp_path):
    config = tmp_path / "lonlat.toml"
    config.write_text(CONFIG.format(nx=4, ny=3, dx=0.01, origin="origin_m = [8.98, 45.1]")
                      .replace("EPSG:32632", "EPSG:4326"))
    crns = tmp_path / "crns.csv"
    crns.write_text("station,time,latitude,longitude,soil_moisture\n"
                    "A,2020-05-01T06:00:00Z,45.125,9.005,0.25\n"
                    "B,2020-05-01T06:00:00Z,45.125,9.055,0.25\n")
    out = tmp_path / "crns.nc"
    assert convert.main(["crns", str(crns), "--grid", str(config), "--out", str(out),
                         "--error", "0.03"]) == 0
    records = read_observation_file(out, "2020-04-30T00:00:00",
                                    registered("pdafpy.observations"),
                                    {"crns_soil_moisture": "m3 m-3"}, "EPSG:4326")
    assert records.x.tolist() == [9.005] and records.y.tolist() == [45.125]


@needs_pyproj
def test_convert_refuses_bad_options(tmp_path):
    path, _, _ = smap_l2_file(tmp_path, on_grid=True)
    config, out = write_config(tmp_path), tmp_path / "obs.nc"
    base = ["smap_l2", str(path), "--grid", str(config), "--out", str(out)]
    assert_refused(lambda: convert.main(base), path, "soil_moisture_error")   # no --error
    with pytest.raises(ConfigError, match="--type 'soil_temperature'"):
        convert.main(base + ["--error", "0.04", "--type", "soil_temperature"])
    with pytest.raises(ConfigError, match="--error"):
        convert.main(base + ["--error", "-1"])
    with pytest.raises(ConfigError, match="--ascat-limits"):
        convert.main(base + ["--ascat-limits", "rain=3"])


@needs_pyproj
def test_the_pdafpy_command_reports_a_bad_file_in_one_line(tmp_path, capsys):
    bad = tmp_path / "not_smap.h5"
    bad.write_bytes(b"this is no HDF5 file\n" * 10)
    status = cli.main(["convert", "smap_l2", str(bad), "--grid", str(write_config(tmp_path)),
                       "--out", str(tmp_path / "obs.nc"), "--error", "0.04"])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and str(bad) in err and "HDF5" in err


# ----------------------------------------------------------------------------- malformed files
def _truncated(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def malformed_cases(folder: Path):
    """(name, reader call, file, field the message must name)."""
    opts = ReadOptions(error_std=0.04)
    lon, lat = fixed_points(3)
    args = (lon, lat, [0.2] * 3, [0.02] * 3, [0] * 3, [SMAP_0600] * 3)

    def l2(name, **kw):
        path = folder / f"{name}.h5"
        write_smap_l2(path, *args, **kw)
        return path

    cases = []
    garbage = folder / "garbage.h5"
    garbage.write_bytes(b"\x89HDF\r\n garbage" * 40)
    cases.append(("not HDF5", smap.read_l2, garbage, "HDF5"))
    cases.append(("truncated HDF5", smap.read_l2, _truncated(l2("truncated")), "HDF5"))
    l3 = folder / "l3_as_l2.h5"
    write_smap_l3(l3, {})
    cases.append(("wrong product", smap.read_l2, l3, "Soil_Moisture_Retrieval_Data"))
    cases.append(("missing dataset", smap.read_l2, l2("noflag", skip=("retrieval_qual_flag",)),
                  "retrieval_qual_flag"))
    cases.append(("wrong units", smap.read_l2, l2("kelvin", units="K"), "soil_moisture"))
    short = folder / "short.h5"
    write_smap_l2(short, lon[:2], lat, [0.2] * 3, [0.02] * 3, [0] * 3, [SMAP_0600] * 3)
    cases.append(("wrong shape", smap.read_l2, short, "longitude"))
    small = folder / "small_l3.h5"
    write_smap_l3(small, {}, shape=(10, 10))
    cases.append(("L3 not on EASE-2", smap.read_l3, small, "soil_moisture"))
    am_only = folder / "am_only.h5"
    write_smap_l3(am_only, {}, groups=("AM",))
    cases.append(("L3 without PM", lambda p, o: smap.read_l3(p, ReadOptions(overpass="pm")),
                  am_only, "Soil_Moisture_Retrieval_Data_PM"))
    lai_as_ascat = folder / "lai_as_ascat.nc"
    write_lai(lai_as_ascat)
    cases.append(("ASCAT: wrong product", ascat.read, lai_as_ascat, "soil_moisture"))
    volumetric = folder / "ascat_m3.nc"
    write_ascat(volumetric, units="m3 m-3")
    cases.append(("ASCAT: wrong units", ascat.read, volumetric, "soil_moisture"))
    no_epoch = folder / "ascat_time.nc"
    write_ascat(no_epoch, time_units="seconds")
    cases.append(("ASCAT: time units", ascat.read, no_epoch, "utc_line_nodes"))
    no_flag = folder / "lai_noflag.nc"
    write_lai(no_flag, skip=("QFLAG",))
    cases.append(("LAI: missing QFLAG", cgls_lai.read, no_flag, "QFLAG"))
    cut = folder / "lai_shape.nc"
    with netCDF4.Dataset(cut, "w") as ds:
        ds.createDimension("lat", 3)
        ds.createDimension("lon", 2)
        ds.createVariable("lat", "f8", ("lat",))[:] = [1.0, 2.0, 3.0]
        ds.createVariable("lon", "f8", ("lon",))[:] = [1.0, 2.0]
        ds.createVariable("LAI", "u1", ("lon", "lat"))[:] = np.zeros((2, 3))
    cases.append(("LAI: wrong shape", cgls_lai.read, cut, "LAI"))
    tif = folder / "AMSRU_Mland_2020122A.tif"
    tif.write_bytes(b"GIF89a not a tiff")
    cases.append(("LPDR: not a TIFF", lpdr_vod.read, tif, "TIFF"))
    three = folder / "AMSRU_Mland_2020123A.tif"
    write_geotiff(three, lpdr_bands()[:3], tie=(0.0, 0.0), scale=(25025.26, 25025.26))
    cases.append(("LPDR: three bands", lpdr_vod.read, three, "bands"))
    renamed = folder / "vod.tif"
    renamed.write_bytes(three.read_bytes())
    cases.append(("LPDR: file name", lpdr_vod.read, renamed, "file name"))
    cut_tif = folder / "AMSRU_Mland_2020124D.tif"
    write_geotiff(cut_tif, lpdr_bands(), tie=(0.0, 0.0), scale=(25025.26, 25025.26))
    data = cut_tif.read_bytes()
    cut_tif.write_bytes(data[:40] + b"\0" * 4)
    cases.append(("LPDR: truncated", lpdr_vod.read, cut_tif, "TIFF"))
    csv_missing = folder / "crns_missing.csv"
    csv_missing.write_text("station,time,latitude,longitude,theta\nA,2020-05-01T00:00:00,1,1,0.2\n")
    cases.append(("CRNS: missing column", stations.read_crns, csv_missing, "soil_moisture"))
    csv_time = folder / "crns_time.csv"
    csv_time.write_text("station,time,latitude,longitude,soil_moisture\n"
                        "A,yesterday noon,45,9,0.2\n")
    cases.append(("CRNS: bad time", stations.read_crns, csv_time, "time"))
    head = folder / "wells_head.csv"
    head.write_text("station,time,latitude,longitude,head\nW,2020-05-01T00:00:00,45,9,101.5\n")
    cases.append(("wells: head without ground", stations.read_wells, head, "ground_elevation"))
    number = folder / "wells_number.csv"
    number.write_text("station,time,x,y,depth_to_water\nW,2020-05-01T00:00:00,1,2,deep\n")
    cases.append(("wells: not a number", stations.read_wells, number, "depth_to_water"))
    return [(name, call, path, field, opts) for name, call, path, field in cases]


def test_malformed_files_are_refused_in_one_line_naming_file_and_field(tmp_path):
    cases = malformed_cases(tmp_path)
    assert len(cases) >= 10
    for name, call, path, field, opts in cases:
        assert_refused(lambda: call(path, opts), path, field)

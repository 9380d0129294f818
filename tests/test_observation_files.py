"""pdafpy's observation file: written and read back, malformed files refused in one line, and
observations taken into the analysis window that contains them."""

from __future__ import annotations

import numpy as np
import pytest

from pdafpy.errors import InputFileError
from pdafpy.model import Grid
from pdafpy.obs.files import ObservationWriter, check_inside_grid, read_observation_file
from pdafpy.obs.records import QC_GOOD, QC_WITHHELD, ObservationRecords
from pdafpy.schedule import AnalysisSchedule
from pdafpy.segments import segment_paths

START = "2020-04-01T00:00:00"
UNITS = {"grid_point": "K"}
REGISTERED = ("grid_point", "surface_soil_moisture")


def records(m: int = 5) -> ObservationRecords:
    return ObservationRecords.build(
        time=3600.0 * np.arange(m), x=np.arange(m, dtype=float), y=2.0 * np.arange(m),
        value=280.0 + np.arange(m), error_std=0.5, type_name="grid_point",
        qc=np.where(np.arange(m) == 1, QC_WITHHELD, QC_GOOD),
        station=[f"s{k}" for k in range(m)])


def write(path, recs=None, units=None):
    """Write one segment of records; its file."""
    w = ObservationWriter(path, START, units or UNITS, {"title": "test"})
    w.write(recs if recs is not None else records())
    w.close()
    return segment_paths(path)[0]


def test_written_records_read_back_identically(tmp_path):
    assert write(tmp_path / "obs.nc").name == "obs.00000.nc"
    assert [p.name for p in tmp_path.iterdir()] == ["obs.00000.nc"]
    back = read_observation_file(tmp_path / "obs.nc", START, REGISTERED, UNITS)
    want = records()
    for name in ("time", "x", "y", "value", "error_std", "qc"):
        np.testing.assert_array_equal(getattr(back, name), getattr(want, name))
    assert back.type.tolist() == want.type.tolist()
    assert back.station.tolist() == want.station.tolist()
    assert np.all(np.isnan(back.depth))


def test_the_segments_of_a_run_read_as_one_file(tmp_path):
    w = ObservationWriter(tmp_path / "obs.nc", START, UNITS)
    whole = records(7)
    w.write(whole.subset(np.arange(3)))
    w.roll()                                                  # a checkpoint
    w.write(whole.subset(np.arange(3, 7)))
    w.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["obs.00000.nc", "obs.00001.nc"]
    back = read_observation_file(tmp_path / "obs.nc", START, REGISTERED, UNITS)
    np.testing.assert_array_equal(back.time, whole.time)
    assert back.station.tolist() == whole.station.tolist()
    (tmp_path / "obs.00000.nc").rename(tmp_path / "obs.00002.nc")
    with pytest.raises(InputFileError, match=r"obs.nc: segment obs.00000.nc is missing"):
        read_observation_file(tmp_path / "obs.nc", START, REGISTERED, UNITS)


def test_times_count_from_the_runs_start(tmp_path):
    path = write(tmp_path / "obs.nc")
    back = read_observation_file(path, "2020-03-31T23:00:00", REGISTERED, UNITS)
    np.testing.assert_allclose(back.time, records().time + 3600.0)


def _edit(path, edit):
    import netCDF4
    with netCDF4.Dataset(path, "a") as ds:
        edit(ds)
    return path


def _rename_variable(name):
    return lambda ds: ds.renameVariable(name, name + "_old")


def _set(name, index, value):
    def edit(ds):
        ds[name][index] = value
    return edit


def _attr(name, attr, value):
    return lambda ds: setattr(ds[name], attr, value)


MALFORMED = [
    ("missing value", _rename_variable("value"), "variable 'value' is missing"),
    ("missing error", _rename_variable("error_std"), "variable 'error_std' is missing"),
    ("missing time", _rename_variable("time"), "variable 'time' is missing"),
    ("wrong units", _attr("value", "units", "degC"), "variable 'value': units 'degC' for type "
                                                       "'grid_point', expected 'K'"),
    ("error units", _attr("error_std", "units", "mK"), "variable 'error_std': units 'mK'"),
    ("NaN value", _set("value", 2, np.nan), "variable 'value': values must be finite (obs "
                                            "index 2"),
    ("NaN error", _set("error_std", 3, np.nan), "variable 'error_std': error standard "
                                                "deviations must be finite and > 0 (obs "
                                                "index 3"),
    ("zero error", _set("error_std", 0, 0.0), "variable 'error_std': error standard deviations "
                                              "must be finite and > 0 (obs index 0"),
    ("negative error", _set("error_std", 4, -1.0), "must be finite and > 0 (obs index 4"),
    ("times out of order", _set("time", 3, 0.0), "variable 'time': times out of order (they "
                                                 "must not decrease) (obs index 3"),
    ("bad time units", _attr("time", "units", "fortnights since 2020"),
     "variable 'time': units 'fortnights since 2020'"),
    ("bad calendar", _attr("time", "calendar", "360_day"), "variable 'time': calendar "
                                                            "'360_day'"),
    ("unknown type", _set("type", 1, "no_such_sensor"), "variable 'type': 'no_such_sensor' (obs "
                                                        "index 1) is not a registered "
                                                        "observation type"),
    ("bad qc flag", _set("qc", 2, 7), "variable 'qc': flags must be one of"),
    ("NaN coordinate", _set("x", 0, np.nan), "variable 'x': coordinates must be finite"),
]


@pytest.mark.parametrize("edit,message", [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_a_malformed_file_is_refused_in_one_line_naming_file_and_variable(tmp_path, edit,
                                                                           message):
    path = _edit(write(tmp_path / "obs.nc"), edit)
    with pytest.raises(InputFileError) as err:
        read_observation_file(path, START, REGISTERED, UNITS)
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    assert message in text


def test_a_file_without_an_obs_dimension_or_not_netcdf_is_refused(tmp_path):
    import netCDF4
    path = tmp_path / "other.nc"
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("n", 3)
    with pytest.raises(InputFileError, match=r"other.nc: no dimension 'obs'"):
        read_observation_file(path, START, REGISTERED, UNITS)
    text = tmp_path / "obs.nc"
    text.write_text("time,x,y\n")
    with pytest.raises(InputFileError, match=r"obs.nc: not a readable NetCDF file"):
        read_observation_file(text, START, REGISTERED, UNITS)
    with pytest.raises(InputFileError, match=r"missing.nc: observation file not found"):
        read_observation_file(tmp_path / "missing.nc", START, REGISTERED, UNITS)


def test_coordinates_outside_the_grid_are_refused_naming_the_first():
    grid = Grid.uniform(4, 5, dy=2.0, dx=1.0)          # cells x in [-0.5, 4.5], y in [-1, 7]
    check_inside_grid(records(4), grid, "obs.nc")          # (3, 6) is inside
    with pytest.raises(InputFileError, match=r"obs.nc: variables 'x', 'y': observation 4 at "
                                             r"\(4, 8\) lies outside the model grid"):
        check_inside_grid(records(5), grid, "obs.nc")


def test_files_mixing_types_give_each_types_units(tmp_path):
    mixed = ObservationRecords.concatenate([
        records(2), ObservationRecords.build(7200.0, [1.0], [1.0], [0.3], [0.04],
                                             "surface_soil_moisture")])
    path = write(tmp_path / "mixed.nc", mixed, {"grid_point": "K",
                                                "surface_soil_moisture": "m3 m-3"})
    back = read_observation_file(path, START, REGISTERED,
                                 {"grid_point": "K", "surface_soil_moisture": "m3 m-3"})
    assert back.type.tolist() == ["grid_point", "grid_point", "surface_soil_moisture"]
    _edit(path, _attr("value", "units", "grid_point: K"))
    with pytest.raises(InputFileError, match="give no unit for type 'surface_soil_moisture'"):
        read_observation_file(path, START, REGISTERED, {"grid_point": "K"})


def test_lat_lon_files_need_a_geographic_grid(tmp_path):
    import netCDF4
    path = write(tmp_path / "obs.nc")
    with netCDF4.Dataset(path, "a") as ds:
        ds.renameVariable("x", "lon")
        ds.renameVariable("y", "lat")
    back = read_observation_file(path, START, REGISTERED, UNITS, crs="EPSG:4326")
    np.testing.assert_array_equal(back.x, records().x)
    with pytest.raises(InputFileError, match="variables 'lat', 'lon': the model grid's CRS is "
                                             "'EPSG:32632', not geographic"):
        read_observation_file(path, START, REGISTERED, UNITS, crs="EPSG:32632")


def test_each_observation_falls_in_exactly_one_window():
    # hourly observations over two days; 6-hourly analyses with 6-hour windows, at the end
    # (every observation in one window) or at the centre (the first three hours precede the
    # first window); and 2-hour windows centred on each analysis (leaving gaps)
    recs = ObservationRecords.build(3600.0 * np.arange(1, 49), np.zeros(48), 0.0, 1.0, 1.0,
                                    "grid_point")
    for window, centred, expected in ((6.0, False, 48), (6.0, True, 45), (2.0, True, 15)):
        s = AnalysisSchedule([6.0], 48.0, windows=[window], centred=[centred])
        hits = np.zeros(recs.size, dtype=int)
        for i in range(len(s)):
            lo, hi = s.observation_window(i, 0)
            hits += recs.in_window(lo * 3600.0, hi * 3600.0)
        assert hits.max() == 1
        assert hits.sum() == expected
    s = AnalysisSchedule([6.0], 48.0, windows=[6.0], centred=[True])
    assert s.observation_window(0, 0) == (3.0, 9.0)


def test_a_window_longer_than_its_interval_is_refused():
    from pdafpy.config import parse_section
    from pdafpy.errors import ConfigError
    from pdafpy.obs.grid_point import GridPointSection
    with pytest.raises(ConfigError, match=r"observations.window_h = 12.0: longer than "
                                          r"interval_h = 6.0"):
        parse_section(GridPointSection, {"interval_h": 6.0, "window_h": 12.0}, "observations")

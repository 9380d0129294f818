"""Two ``[[observations]]`` tables of one type (two sensors: KW26's ASCAT and SMAP, BAI's SMAP,
ASCAT and MWRI), told apart in observation files by their names (variable ``sensor``).

Unit level: the file layout (unchanged without names; ``sensor`` and per-sensor units with
them), which records a table owns (:func:`pdafpy.obs.module.own_records`) and the one-line
refusals, bias calibrations per sensor (``pdafpy calibrate bias --sensor``) and the check of a
table's calibration. Run level: a Lorenz-96 twin (the generic experiment) and a tiny land twin,
each with two named tables of one type, through a truth pass and its file: each table reads
back exactly its own records, and the assimilation's skill is the inline twin's.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from pdafpy.errors import ConfigError, InputFileError
from pdafpy.obs.calibration import BiasCorrection, check_calibration_file
from pdafpy.obs.calibration import main as calibrate
from pdafpy.obs.diagnostics_file import ObservationDiagnosticsWriter
from pdafpy.obs.files import ObservationWriter, read_observation_file
from pdafpy.obs.module import own_records
from pdafpy.obs.records import ObservationRecords
from pdafpy.obs.training_data import TrainingData, read_training_data
from pdafpy.segments import segment_paths

netCDF4 = pytest.importorskip("netCDF4")

START = "2020-05-01T00:00:00"
SSM = "satellite_soil_moisture"
TYPES = [SSM, "groundwater_level"]


def _module(name, units, label=""):
    """What a writer needs of an observation module."""
    return SimpleNamespace(name=name, units=units, section=SimpleNamespace(name=label))


def _records(sensors, type_name=SSM, value=0.3, first_h=1.0):
    n = len(sensors)
    return ObservationRecords.build((first_h + np.arange(n)) * 3600.0, np.arange(n) * 10.0,
                                    0.0, value, 0.04, type_name, sensor=list(sensors))


def _write(path, modules, records):
    writer = ObservationWriter.for_modules(path, START, modules)
    writer.write(records)
    writer.close()
    return segment_paths(path)[0]


# --- the file ---------------------------------------------------------------------------------

def test_without_names_the_file_has_todays_layout(tmp_path):
    segment = _write(tmp_path / "obs.nc", [_module(SSM, "m3 m-3"), _module(SSM, "m3 m-3")],
                     _records(["", ""]))
    with netCDF4.Dataset(segment) as ds:
        assert "sensor" not in ds.variables and ds["value"].units == "m3 m-3"
    records = read_observation_file(segment, START, TYPES, {SSM: "m3 m-3"})
    assert records.sensor.tolist() == ["", ""]


def test_named_tables_label_their_records_with_their_units(tmp_path):
    modules = [_module(SSM, "1", "ascat"), _module(SSM, "m3 m-3", "smap"),
               _module("groundwater_level", "m")]
    segment = _write(tmp_path / "obs.nc", modules,
                     ObservationRecords.concatenate([_records(["ascat", "smap", "smap"]),
                                                     _records([""], "groundwater_level", 1.0, 4.0)]))
    with netCDF4.Dataset(segment) as ds:
        assert ds["sensor"][:].tolist() == ["ascat", "smap", "smap", ""]
        assert ds["value"].units == (f"{SSM}/ascat: 1; {SSM}/smap: m3 m-3; "
                                     "groundwater_level: m")
    units = {f"{SSM}/ascat": "1", f"{SSM}/smap": "m3 m-3", "groundwater_level": "m"}
    records = read_observation_file(segment, START, TYPES, units)
    assert records.sensor.tolist() == ["ascat", "smap", "smap", ""]
    with pytest.raises(InputFileError, match=r"units 'm3 m-3' for type 'satellite_soil_moisture' "
                                             r"\(sensor 'smap'\), expected '1'$"):
        read_observation_file(segment, START, TYPES, {f"{SSM}/smap": "1"})
    # tables of a type that share units keep the type's key
    segment = _write(tmp_path / "same.nc", modules[1:] + [_module(SSM, "m3 m-3", "mwri")],
                     _records(["smap", "mwri"]))
    with netCDF4.Dataset(segment) as ds:
        assert ds["value"].units == f"{SSM}: m3 m-3; groundwater_level: m"


def test_each_table_owns_its_labelled_records_and_a_stray_name_is_refused(tmp_path):
    records = _records(["ascat", "smap", "smap", "ascat"])
    own = own_records(records, [(0, SSM, "ascat"), (1, SSM, "smap")], "obs.nc")
    assert own.owned(SSM, "ascat").sum() == 2 and own.owned(SSM, "smap").sum() == 2
    with pytest.raises(InputFileError, match=r"^obs\.nc: variable 'sensor': observations\[2\] "
                                             r"\(type 'satellite_soil_moisture', name 'mwri'\) "
                                             r"matches none of the file's sensor labels of that "
                                             r"type: 'ascat', 'smap'"):
        own_records(records, [(0, SSM, "ascat"), (2, SSM, "mwri")], "obs.nc")
    with pytest.raises(InputFileError, match=r"observations\[0\] \(type 'satellite_soil_moisture'"
                                             r", no name\) matches none"):
        own_records(records, [(0, SSM, "")], "obs.nc")


def test_records_without_labels_are_their_only_readers(tmp_path):
    """A converted product or an older file: the type's records are the one table's reading
    it; two named tables sharing it cannot be told apart; unnamed ones share it as before."""
    records = _records(["", "", ""])
    own = own_records(records, [(3, SSM, "smap")], "smap.nc")
    assert own.sensor.tolist() == ["smap"] * 3
    assert own_records(records, [(0, SSM, ""), (1, SSM, "")], "a.nc").sensor.tolist() == [""] * 3
    with pytest.raises(InputFileError, match=r"^a\.nc: variable 'sensor': its 3 records of type "
                                             r"'satellite_soil_moisture' carry no sensor label, "
                                             r"and observations\[0\] \('ascat'\), "
                                             r"observations\[1\] \('smap'\) all read them"):
        own_records(records, [(0, SSM, "ascat"), (1, SSM, "smap")], "a.nc")


# --- calibrations per sensor ------------------------------------------------------------------

def _diagnostics(path):
    """Diagnostics of two sensors of one type at the same 3 locations over 60 days: ASCAT's
    observations 0.1 above the model, SMAP's 0.05 below, an hour later."""
    days = np.repeat(np.arange(60), 3)
    x = np.tile([0.0, 50.0, 100.0], 60)
    model = 0.25 + 0.05 * np.sin(days / 9.0) + 0.01 * x / 50.0
    parts = [ObservationRecords.build(days * 86400.0 + 3600.0 * k, x, 0.0, model + shift,
                                      0.04, SSM, sensor=sensor)
             for k, (sensor, shift) in enumerate((("ascat", 0.1), ("smap", -0.05)))]
    records = ObservationRecords.concatenate(parts)
    order = np.argsort(records.time, kind="stable")
    writer = ObservationDiagnosticsWriter.for_modules(
        path, "1970-01-01T00:00:00", [_module(SSM, "1", "ascat"), _module(SSM, "1", "smap")])
    both = np.concatenate([model, model])[order]
    writer.write_diagnostics(records.subset(order), both, np.full(both.size, np.nan))
    writer.close()


def test_calibrate_bias_per_sensor(tmp_path, capsys):
    diagnostics = tmp_path / "diag.nc"
    _diagnostics(diagnostics)
    ascat = read_training_data([diagnostics], SSM, sensor="ascat")
    assert ascat.sensor == "ascat" and ascat.value.size == 180
    np.testing.assert_allclose(ascat.value - ascat.model, 0.1)
    with pytest.raises(InputFileError, match=r"come from several sensors \('ascat', 'smap'\); "
                                             r"calibrate one at a time \(--sensor NAME\)$"):
        read_training_data([diagnostics], SSM)
    with pytest.raises(InputFileError, match=r"no record of type 'satellite_soil_moisture' "
                                             r"labelled 'mwri'; the labels are 'ascat', 'smap'$"):
        read_training_data([diagnostics], SSM, sensor="mwri")
    for sensor in ("ascat", "smap"):
        assert calibrate([str(diagnostics), "--type", SSM, "--sensor", sensor, "--bins", "year",
                          "--out", str(tmp_path / f"{sensor}.nc")]) == 0
    assert "sensor smap" in capsys.readouterr().out
    shifts = {}
    for sensor in ("ascat", "smap"):
        calibration = BiasCorrection.from_file(tmp_path / f"{sensor}.nc", SSM, sensor)
        assert calibration.sensor == sensor
        stats = calibration.statistics
        shifts[sensor] = float(np.mean(stats.obs_mean - stats.model_mean))
    assert shifts == pytest.approx({"ascat": 0.1, "smap": -0.05})
    assert calibrate([str(diagnostics), "--type", SSM, "--out", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--sensor NAME" in err


def test_a_named_table_refuses_another_sensors_calibration(tmp_path):
    diagnostics = tmp_path / "diag.nc"
    _diagnostics(diagnostics)
    path = tmp_path / "ascat.nc"
    assert calibrate([str(diagnostics), "--type", SSM, "--sensor", "ascat", "--bins", "year",
                      "--out", str(path)]) == 0
    check_calibration_file(str(path), SSM, "observations[0].bias_file", "ascat")
    check_calibration_file(str(path), SSM, "observations[0].bias_file", "")   # unnamed: any
    with pytest.raises(ConfigError, match=r"^observations\[1\]\.bias_file = '.*ascat\.nc': a "
                                          r"calibration of sensor 'ascat' \(pdafpy calibrate "
                                          r"bias --sensor\), not of this table's 'smap'"):
        check_calibration_file(str(path), SSM, "observations[1].bias_file", "smap")
    with pytest.raises(InputFileError, match=r"attribute 'sensor' = 'ascat': a calibration of "
                                             r"sensor 'ascat', not of 'smap'$"):
        BiasCorrection.from_file(path, SSM, "smap")
    # a calibration without a sensor (one of today's) serves a named table
    plain = BiasCorrection.build(TrainingData(
        np.zeros(40), np.zeros(40), np.linspace(0.2, 0.4, 40), np.linspace(0.1, 0.3, 40),
        np.datetime64("2020-01-01", "ms") + np.arange(40).astype("timedelta64[D]"), "1",
        ("test",)), SSM, bins="year", min_samples=10)
    plain.write(tmp_path / "plain.nc")
    with netCDF4.Dataset(tmp_path / "plain.nc") as ds:
        assert "sensor" not in ds.ncattrs()
    check_calibration_file(str(tmp_path / "plain.nc"), SSM, "observations[1].bias_file", "smap")


def test_two_tables_may_not_share_a_name():
    from pdafpy.config import parse_section
    from pdafpy.experiment_config import ExperimentConfig
    table = {"observations": [{"name": "a", "field": "x"},
                              {"name": "a", "field": "x", "stride": 2}]}
    with pytest.raises(ConfigError, match=r"^observations\[0\]\.name = 'a': another "
                                          r"\[\[observations\]\] table has this name"):
        parse_section(ExperimentConfig, table)
    table["observations"][1]["name"] = "a;b"
    with pytest.raises(ConfigError, match=r"observations\[1\]\.name = 'a;b': expected a label "
                                          r"without ';' or ':'"):
        parse_section(ExperimentConfig, table)


# --- runs: the generic experiment (Lorenz-96) -------------------------------------------------

L96 = """
model = "lorenz96"
mode = "{mode}"
[ensemble]
size = 10
seed = 5
[localization]
radius_m = 8.0
[inflation]
multiplicative = 1.05
[[observations]]
name = "coarse"
field = "x"
interval_h = 6.0
{coarse}
[[observations]]
name = "fine"
field = "x"
interval_h = 12.0
{fine}
[schedule]
length_days = 5.0
[lorenz96]
n = 20
"""


def _l96(tmp_path, name, mode, coarse="error = 1.0\nstride = 2", fine="error = 0.5\nstride = 5",
         extra=""):
    from pdafpy.run import main
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(L96.format(mode=mode, coarse=coarse, fine=fine) + extra)
    status = main([str(cfg), "--out", str(tmp_path / name), "-q"])
    summary = tmp_path / name / "summary.json"
    return status, json.loads(summary.read_text()) if summary.exists() else None


def test_two_named_grid_point_tables_through_a_truth_pass(tmp_path, capsys):
    status, twin = _l96(tmp_path, "twin", "twin")
    assert status == 0
    status, truth = _l96(tmp_path, "truth", "truth")
    # 20 analyses of 10 (stride 2), 10 of 4 (stride 5)
    assert status == 0 and truth["observations_written"] == 20 * 10 + 10 * 4
    obs = tmp_path / "truth" / "observations.nc"
    records = read_observation_file(obs, START, ["grid_point"], {})
    assert (records.sensor == "coarse").sum() == 200 and (records.sensor == "fine").sum() == 40
    np.testing.assert_array_equal(np.unique(records.error_std[records.sensor == "fine"]), [0.5])
    status, assim = _l96(tmp_path, "assim", "assimilate", f'file = "{obs}"', f'file = "{obs}"',
                         f'[verification]\ntruth = "{tmp_path / "truth" / "truth.nc"}"\n')
    assert status == 0
    assert assim["observations_used"] == twin["observations_used"] == 240   # not 2 x 240
    assert assim["variables"] == twin["variables"]
    capsys.readouterr()                   # a table named after no sensor of the file: refused
    from pdafpy.run import main
    cfg = tmp_path / "stray.toml"
    cfg.write_text(L96.replace('name = "fine"', 'name = "medium"').format(
        mode="assimilate", coarse=f'file = "{obs}"', fine=f'file = "{obs}"'))
    assert main([str(cfg), "--out", str(tmp_path / "stray"), "-q"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "variable 'sensor': observations[1] (type 'grid_point', name 'medium') matches none " \
           "of the file's sensor labels of that type: 'coarse', 'fine'" in err
    assert not (tmp_path / "stray" / "summary.json").exists()
    assert main([str(cfg), "--check"]) == 2              # pdafpy run --check finds it too
    assert "name 'medium') matches none of the file's sensor labels" in capsys.readouterr().err


# --- runs: the land model, KW26's pair ----------------------------------------------------------

LAND = """
mode = "{mode}"
[grid]
nx = 4
ny = 3
dz_m = [0.05, 0.1, 0.35, 0.5, 1.0, 2.0]
[ensemble]
size = 4
[update]
variable = "water_content"
[[observations]]
name = "ascat"
type = "satellite_soil_moisture"
units_space = "saturation"
depth_range_m = [0.0, 0.02]
interval_h = 12.0
{ascat}
[[observations]]
name = "smap"
type = "satellite_soil_moisture"
depth_range_m = [0.0, 0.15]
spacing_cells = 2
interval_h = 6.0
{smap}
[schedule]
length_days = 1.0
checkpoint_every = 2
[output]
members = true
"""
TIMINGS = ("seconds", "wall_s", "core_hours_per_member_per_simulated_year")


def _land(folder, name, mode, ascat="error = 0.08", smap="error = 0.03", extra=""):
    from pdafpy.run import main
    path = folder / f"{name}.toml"
    path.write_text(LAND.format(mode=mode, ascat=ascat, smap=smap) + extra)
    status = main([str(path), "--out", str(folder / name), "-q"])
    summary = folder / name / "summary.json"
    return status, json.loads(summary.read_text()) if status == 0 else None


@pytest.fixture(scope="module")
def land_runs(tmp_path_factory):
    pytest.importorskip("petsc4py")
    folder = tmp_path_factory.mktemp("land_sensors")
    twin = _land(folder, "twin", "twin")
    truth = _land(folder, "truth", "truth")
    obs = folder / "truth" / "observations.nc"
    assim = _land(folder, "assim", "assimilate", f'file = "{obs}"', f'file = "{obs}"',
                  f'[verification]\ntruth = "{folder / "truth" / "truth.nc"}"\n')
    return folder, twin, truth, assim


def _per_sensor(path):
    counts = {}
    for segment in segment_paths(path):
        with netCDF4.Dataset(segment) as ds:
            labels, n = np.unique(np.asarray(ds["sensor"][:], dtype=str), return_counts=True)
            for label, k in zip(labels.tolist(), n.tolist()):
                counts[label] = counts.get(label, 0) + k
    return counts


def test_land_truth_pass_writes_each_tables_records(land_runs):
    folder, _, (status, truth), _ = land_runs
    assert status == 0
    obs = folder / "truth" / "observations.nc"
    records = read_observation_file(obs, START, TYPES, {f"{SSM}/ascat": "1",
                                                        f"{SSM}/smap": "m3 m-3"})
    # ASCAT: all 12 columns at 12 and 24 h; SMAP: every 2nd column each way (2 x 2) 4 times
    assert _per_sensor(obs) == {"ascat": 24, "smap": 16} and truth["observations_written"] == 40
    np.testing.assert_array_equal(np.unique(records.error_std[records.sensor == "ascat"]), [0.08])
    np.testing.assert_array_equal(np.unique(records.error_std[records.sensor == "smap"]), [0.03])
    with netCDF4.Dataset(segment_paths(obs)[0]) as ds:
        assert ds["value"].units == f"{SSM}/ascat: 1; {SSM}/smap: m3 m-3"


def test_land_assimilation_reads_each_tables_own_records_with_the_twins_skill(land_runs):
    folder, (s_twin, twin), (_, truth), (s_assim, assim) = land_runs
    assert s_twin == s_assim == 0
    # each table read exactly its own records: the diagnostics hold the truth pass's per table
    assert _per_sensor(folder / "assim" / "observations.nc") == {"ascat": 24, "smap": 16}
    assert _per_sensor(folder / "twin" / "observations.nc") == {"ascat": 24, "smap": 16}
    for key in TIMINGS + ("runs",):
        twin.pop(key, None), assim.pop(key, None)
    assert assim == twin


def test_land_calibrations_per_sensor_from_the_diagnostics(land_runs, tmp_path):
    folder = land_runs[0]
    diagnostics = folder / "assim" / "observations.nc"
    for sensor, units in (("ascat", "1"), ("smap", "m3 m-3")):
        out = tmp_path / f"{sensor}.nc"
        assert calibrate([str(diagnostics), "--type", SSM, "--sensor", sensor, "--bins", "year",
                          "--min-samples", "2", "--out", str(out)]) == 0
        calibration = BiasCorrection.from_file(out, SSM, sensor)
        assert (calibration.sensor, calibration.units) == (sensor, units)
        # ASCAT at every column, SMAP at every 2nd column each way
        assert calibration.statistics.n_locations == (12 if sensor == "ascat" else 4)
        assert int(calibration.statistics.whole_record_samples.sum()) == \
            (24 if sensor == "ascat" else 16)


def test_land_rejections_are_counted_per_table(tmp_path):
    pytest.importorskip("petsc4py")
    status, summary = _land(tmp_path, "masked", "twin",
                            ascat="error = 0.08\nreject_lai_above = 0.5")   # every ASCAT record
    assert status == 0
    assert summary["observations_rejected_by_rule"] == {"ascat": {"dense_vegetation": 24}}
    assert summary["observations_used"] == 16                                # SMAP's alone

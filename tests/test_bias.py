"""Bias correction per observation type: CDF matching against the analytic map, anomaly,
seasonal and error rescaling on closed-form cases, period bins, the robustness rule and the
flagging of uncalibrated observations, ``pdafpy calibrate bias`` end to end on diagnostics files,
malformed calibration files and the configuration keys."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pdafpy.config import parse_section
from pdafpy.errors import ConfigError, InputFileError
from pdafpy.experiment_config import ExperimentConfig
from pdafpy.obs.bias import (REJECTED_BY, STATUS_OWN_BIN, STATUS_UNCALIBRATED,
                             STATUS_WHOLE_RECORD, bin_index, cdf_match, day_of_cycle, estimate)
from pdafpy.obs.calibration import BiasCorrection, correct_for_section
from pdafpy.obs.training_data import TrainingData
from pdafpy.obs.grid_point import GridPointSection
from pdafpy.obs.records import QC_GOOD, QC_REJECTED, QC_WITHHELD, ObservationRecords

netCDF4 = pytest.importorskip("netCDF4")

START = "2020-01-01T00:00:00"
DAY = 86400.0


def _dates(days):
    """``datetime64[ms]`` of ``days`` after :data:`START`."""
    return np.datetime64(START, "ms") + np.round(np.asarray(days) * DAY * 1000).astype(
        "timedelta64[ms]")


def _training(x, y, value, model, days, units="1"):
    """Paired samples; ``y`` is broadcast to ``x``."""
    x = np.asarray(x, float)
    return TrainingData(x, np.broadcast_to(np.asarray(y, float), x.shape).copy(),
                        np.asarray(value, float), np.asarray(model, float), _dates(days), units,
                        ("test",))


def _records(x, y, value, days, error=0.04, qc=QC_GOOD, type_name="grid_point"):
    return ObservationRecords.build(np.asarray(days, float) * DAY, x, y, value, error,
                                    type_name, qc=qc)


# --- CDF matching -----------------------------------------------------------------------------

OBS_LAW = stats.gamma(a=3.0, scale=0.05)         # skewed observations
MODEL_LAW = stats.norm(loc=0.3, scale=0.06)      # the model's equivalent: another mean and spread


def _max_central_error(n, replicates=8, seed=7):
    """Mean over ``replicates`` locations of the largest error of the matched map against the
    analytic ``F_model^-1(F_obs(y))`` at the observation quantiles 0.05 ... 0.95, ``n``
    samples per location (all calibrated in one vectorised call)."""
    rng = np.random.default_rng(seed)
    obs = OBS_LAW.rvs((replicates, n), random_state=rng).ravel()
    model = MODEL_LAW.rvs((replicates, n), random_state=rng).ravel()
    location = np.repeat(np.arange(replicates), n)
    s = estimate(obs, model, location, replicates, _dates(np.zeros(obs.size)), "year",
                 n_quantiles=101)
    p = np.linspace(0.05, 0.95, 91)
    y = np.tile(OBS_LAW.ppf(p), replicates)
    rows = np.repeat(np.arange(replicates), p.size)
    mapped = cdf_match(y, s.obs_quantiles[rows, 0], s.model_quantiles[rows, 0])
    error = np.abs(mapped - np.tile(MODEL_LAW.ppf(p), replicates)).reshape(replicates, -1)
    return float(error.max(axis=1).mean())


def test_cdf_matching_converges_to_the_analytic_map_like_one_over_sqrt_n():
    coarse, fine = _max_central_error(1000), _max_central_error(16000)
    sd = MODEL_LAW.std()
    assert coarse < 7 * sd / np.sqrt(1000) and fine < 7 * sd / np.sqrt(16000)
    assert coarse / fine >= 2.5                   # 16 times the samples: about 4 times smaller


def test_cdf_matching_is_monotone_and_shifts_beyond_the_training_range():
    rng = np.random.default_rng(3)
    obs, model = OBS_LAW.rvs(500, random_state=rng), MODEL_LAW.rvs(500, random_state=rng)
    s = estimate(obs, model, np.zeros(500, int), 1, _dates(np.zeros(500)), "year")
    y = np.sort(np.concatenate([rng.uniform(-0.2, 1.0, 2000), obs[:50]]))
    xq, yq = s.obs_quantiles[0, 0], s.model_quantiles[0, 0]
    mapped = cdf_match(y, np.broadcast_to(xq, (y.size, xq.size)),
                       np.broadcast_to(yq, (y.size, yq.size)))
    assert np.all(np.diff(mapped) >= 0)                                   # ranks preserved
    below, above = y < xq[0], y > xq[-1]
    assert below.any() and above.any()
    np.testing.assert_allclose(mapped[below], y[below] + yq[0] - xq[0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(mapped[above], y[above] + yq[-1] - xq[-1], rtol=0, atol=1e-15)
    ties = cdf_match(np.array([1.0]), np.array([[0.0, 1.0, 1.0, 2.0]]),
                     np.array([[0.0, 1.0, 3.0, 4.0]]))
    assert ties[0] == 2.0                       # a tied run maps to the middle of its quantiles


def test_cdf_matching_per_calendar_month_applies_each_month_s_map_by_time():
    rng = np.random.default_rng(11)
    january, july = stats.norm(0.20, 0.05), stats.lognorm(s=0.4, scale=0.15)
    model_jan, model_jul = stats.norm(0.30, 0.02), stats.norm(0.10, 0.03)
    n = 3000
    days = np.concatenate([rng.uniform(0, 31, n), rng.uniform(182, 213, n)])   # 2020's
    value = np.concatenate([january.rvs(n, random_state=rng), july.rvs(n, random_state=rng)])
    model = np.concatenate([model_jan.rvs(n, random_state=rng),
                            model_jul.rvs(n, random_state=rng)])
    calibration = BiasCorrection.build(_training(np.zeros(2 * n), 0.0, value, model, days),
                                       "grid_point", bins="month")
    status = calibration.statistics.status[0]
    assert status[0] == status[6] == STATUS_OWN_BIN
    assert np.all(status[[1, 2, 3, 4, 5, 7, 8, 9, 10, 11]] == STATUS_WHOLE_RECORD)
    p = np.linspace(0.1, 0.9, 9)
    y = np.concatenate([january.ppf(p), july.ppf(p)])
    when = np.concatenate([np.full(p.size, 10.5), np.full(p.size, 366 + 195.25)])
    out, lost = calibration.apply(_records(np.zeros(y.size), 0.0, y, when), START,
                                  "cdf_matching", False)
    assert lost == 0
    expected = np.concatenate([model_jan.ppf(p), model_jul.ppf(p)])
    assert np.abs(out.value - expected).max() < 0.01
    # the same observations, their times counted from another start: the months follow
    shifted, _ = calibration.apply(_records(np.zeros(y.size), 0.0, y, when - 9.0),
                                   "2020-01-10T00:00:00", "cdf_matching", False)
    np.testing.assert_array_equal(shifted.value, out.value)


# --- closed-form cases ------------------------------------------------------------------------

def test_anomaly_seasonal_and_error_rescaling_recover_a_linear_relation_exactly():
    rng = np.random.default_rng(5)
    obs = rng.uniform(0.1, 0.4, 400)
    offset, scale = 0.07, 0.5                     # model = offset + scale * observation
    calibration = BiasCorrection.build(_training(np.zeros(400), 0.0, obs, offset + scale * obs,
                                                 rng.uniform(0, 365, 400)), "grid_point",
                                       bins="year")
    y = rng.uniform(0.15, 0.35, 50)
    records = _records(np.zeros(50), 0.0, y, rng.uniform(0, 700, 50), error=0.04)
    seasonal, _ = calibration.apply(records, START, "seasonal_rescaling", True)
    np.testing.assert_allclose(seasonal.value, offset + scale * y, rtol=1e-12)
    np.testing.assert_allclose(seasonal.error_std, 0.04 * scale, rtol=1e-12)
    matched, _ = calibration.apply(records, START, "cdf_matching", False)
    np.testing.assert_allclose(matched.value, offset + scale * y, rtol=1e-12)
    np.testing.assert_array_equal(matched.error_std, records.error_std)
    shift = BiasCorrection.build(_training(np.zeros(400), 0.0, obs, obs - 0.03,
                                           rng.uniform(0, 365, 400)), "grid_point", bins="year")
    anomaly, _ = shift.apply(records, START, "anomaly", False)
    np.testing.assert_allclose(anomaly.value, y - 0.03, rtol=1e-12)
    errors_only, _ = calibration.apply(records, START, "none", True)
    np.testing.assert_array_equal(errors_only.value, y)
    np.testing.assert_allclose(errors_only.error_std, 0.04 * scale, rtol=1e-12)


# --- bins, robustness, flagging ---------------------------------------------------------------

def test_period_bins_months_and_circular_day_of_year_windows():
    dates = np.array(["2020-01-01", "2020-02-29", "2020-03-01", "2021-03-01", "2020-12-31",
                      "1999-07-15T23:59"], dtype="datetime64[ms]")
    np.testing.assert_array_equal(bin_index(dates, "month"), [0, 1, 2, 2, 11, 6])
    np.testing.assert_array_equal(day_of_cycle(dates), [0, 58, 59, 59, 364, 195])
    days = np.arange(366 + 365)                        # one sample a day in 2020 and 2021
    s = estimate(np.sin(days / 7.0), np.cos(days / 5.0), np.zeros(days.size, int), 1,
                 _dates(days), "window", window_days=3, min_samples=10)
    # +-3 days: 2 x 7 samples in every bin, the window wrapping round the new year, and one
    # more (29 February 2020, sharing 28 February's day) in the bins within 3 days of it
    expected = np.full(365, 14)
    expected[55:62] = 15
    np.testing.assert_array_equal(s.samples, [expected])
    assert np.all(s.status == STATUS_OWN_BIN)


def test_robustness_rule_falls_back_to_the_whole_record_then_flags_uncalibrated():
    rng = np.random.default_rng(2)
    x = np.concatenate([np.zeros(60), np.zeros(5), np.full(10, 1000.0), np.full(50, 2000.0)])
    days = np.concatenate([rng.uniform(0, 31, 60), rng.uniform(31, 59, 5),
                           rng.uniform(0, 31, 10), rng.uniform(0, 31, 50)])
    value = np.concatenate([rng.normal(0.2, 0.05, 75), np.full(50, 0.3)])   # last: no spread
    model = value + 0.1
    calibration = BiasCorrection.build(_training(x, 0.0, value, model, days), "grid_point",
                                       min_samples=30)
    status = calibration.statistics.status
    assert status[0, 0] == STATUS_OWN_BIN and status[0, 1] == STATUS_WHOLE_RECORD
    assert np.all(status[1:] == STATUS_UNCALIBRATED)
    assert calibration.tolerance_m == 500.0
    ox = np.array([0.0, 10.0, 1000.0, 2000.0, 5000.0, 0.0, 1000.0])
    qc = np.array([QC_GOOD] * 5 + [QC_WITHHELD, QC_REJECTED])
    records = _records(ox, 0.0, 0.25, [40.0] * 7, qc=qc)
    out, lost = calibration.apply(records, START, "anomaly", False)
    assert lost == 3                      # too few samples, no spread, no location in reach
    np.testing.assert_array_equal(out.qc, [QC_GOOD, QC_GOOD, QC_REJECTED, QC_REJECTED,
                                           QC_REJECTED, QC_WITHHELD, QC_REJECTED])
    assert list(out.rejected_by) == ["", "", REJECTED_BY, REJECTED_BY, REJECTED_BY, "", ""]
    np.testing.assert_allclose(out.value[:2], 0.35, rtol=1e-12)   # February: whole record
    np.testing.assert_array_equal(out.value[2:], records.value[2:])


# --- pdafpy calibrate bias end to end ---------------------------------------------------------

def _write_diagnostics(path, rng):
    """A free run's diagnostics in two segments: 4 cells observed daily in 2020 with model =
    0.8 obs + 0.05 and, to be left out, rejected and withheld observations, another type and a
    2021 period with another bias."""
    from pdafpy.obs.diagnostics_file import ObservationDiagnosticsWriter

    writer = ObservationDiagnosticsWriter(path, START, {"grid_point": "1",
                                                        "surface_soil_moisture": "m3 m-3"})
    cells = np.array([[0.0, 0.0], [0.0, 100.0], [100.0, 0.0], [100.0, 100.0]])
    for day in range(2 * 366):
        value = rng.uniform(0.1, 0.4, 6)
        model = 0.8 * value + 0.05 if day < 366 else value + 1.0
        model[4] = value[4] + 5.0
        records = ObservationRecords.build(
            day * DAY + 3600.0, [*cells[:, 0], 0.0, 0.0], [*cells[:, 1], 0.0, 0.0], value,
            0.04, ["grid_point"] * 5 + ["surface_soil_moisture"],
            qc=[QC_GOOD] * 4 + [day % 2 + 1, QC_GOOD])
        writer.write_diagnostics(records, model, np.full(6, np.nan))
        if day == 200:
            writer.roll()
    writer.close()


def test_calibrate_bias_command_end_to_end(tmp_path, capsys):
    from pdafpy.cli import main

    diagnostics, out = tmp_path / "free" / "observations.nc", tmp_path / "bias.nc"
    _write_diagnostics(diagnostics, np.random.default_rng(1))
    assert not diagnostics.exists() and (tmp_path / "free" / "observations.00001.nc").exists()
    assert main(["calibrate", "bias", str(diagnostics), "--type", "grid_point", "--out",
                 str(out), "--train-start", "2020-01-01", "--train-end", "2020-12-31"]) == 0
    table = capsys.readouterr().out
    rows = dict(line.split("  ", 1) for line in table.splitlines())
    rows = {k.strip(): v.strip() for k, v in rows.items()}
    assert rows["locations"] == "4 (tolerance 50 m)"
    assert rows["bins calibrated"] == "44 of 48"                # February: 29 days, fewer
    assert rows["bins from the whole record"] == "4"            # than min_samples
    assert rows["samples per bin, median / min"] == "31 / 29"
    calibration = BiasCorrection.from_file(out, "grid_point")
    assert (calibration.bins, calibration.units, calibration.min_samples) == ("month", "1", 30)
    assert calibration.train_end == "2020-12-31"
    np.testing.assert_array_equal(calibration.statistics.samples.sum(axis=1), [366] * 4)
    y = np.array([0.15, 0.2, 0.3, 0.35])
    records = _records([0.0, 10.0, 100.0, 90.0], [0.0, 100.0, 0.0, 95.0], y,
                       [40.0, 100.0, 200.0, 300.0])
    cache = {}
    section = GridPointSection(field="x", bias_correction="seasonal_rescaling",
                               bias_file=str(out), error_rescaling=True)
    corrected, lost = correct_for_section(records, section, START, cache)
    assert lost == 0 and list(cache) == [(str(out), "grid_point")]
    np.testing.assert_allclose(corrected.value, 0.8 * y + 0.05, rtol=1e-9)
    np.testing.assert_allclose(corrected.error_std, 0.8 * 0.04, rtol=1e-9)
    with pytest.raises(InputFileError, match=r"bias\.nc: attribute 'units' = '1': type "
                                             r"'grid_point' has units 'K'$"):
        correct_for_section(records, section, START, cache, units="K")
    with pytest.raises(InputFileError, match="a calibration of type 'grid_point', not of "
                                             "'surface_soil_moisture'"):
        BiasCorrection.from_file(out, "surface_soil_moisture")
    assert main(["calibrate", "bias", str(diagnostics), "--type", "grid_point", "--out",
                 str(out), "--train-start", "2030-01-01"]) == 2
    assert "no good (qc 0) observation of type 'grid_point'" in capsys.readouterr().err


def test_calibrate_command_lists_its_calibrations_and_refuses_in_one_line(capsys, monkeypatch):
    from importlib.metadata import EntryPoint

    from pdafpy.obs import calibrate_cli

    assert calibrate_cli.main(["--help"]) == 0
    assert "bias  Bias calibrations" in capsys.readouterr().out
    assert calibrate_cli.main(["colour"]) == 2
    assert capsys.readouterr().err == ("pdafpy calibrate: error: unknown calibration 'colour'; "
                                       "installed: bias, sekf, vod\n")
    assert calibrate_cli.main([]) == 2
    assert capsys.readouterr().err.endswith("error: expected a calibration NAME first\n")
    broken = EntryPoint("vod", "models.no_such_module:main", calibrate_cli.CALIBRATE_GROUP)
    monkeypatch.setattr(calibrate_cli, "registered", lambda group: {"vod": broken})
    assert calibrate_cli.main(["vod", "--out", "x.nc"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("pdafpy calibrate: error: calibration 'vod' is registered but cannot "
                          "be loaded (No module named 'models.no_such_module')")
    assert err.count("\n") == 1


# --- malformed calibration files --------------------------------------------------------------

def _copy(source, target, drop=(), replace_var=None, attrs=None):
    """A copy of a calibration file without variables ``drop``, one variable written anew
    (``replace_var``: name, dimensions, dtype, values) and attributes changed."""
    with netCDF4.Dataset(source) as src, netCDF4.Dataset(target, "w") as dst:
        dst.setncatts({**{k: src.getncattr(k) for k in src.ncattrs()}, **(attrs or {})})
        for name, dim in src.dimensions.items():
            dst.createDimension(name, len(dim))
        for name, var in src.variables.items():
            if name in drop or (replace_var and name == replace_var[0]):
                continue
            dst.createVariable(name, var.dtype, var.dimensions)[:] = var[:]
        if replace_var:
            name, dims, dtype, values = replace_var
            dst.createVariable(name, dtype, dims)[:] = values
    return target


def test_malformed_calibration_files_are_refused_in_one_line(tmp_path):
    rng = np.random.default_rng(4)
    good = tmp_path / "good.nc"
    obs = rng.uniform(0.1, 0.4, 200)
    BiasCorrection.build(_training(np.zeros(200), 0.0, obs, obs + 0.1, rng.uniform(0, 365, 200)),
                         "grid_point", bins="year").write(good)
    text = tmp_path / "text.nc"
    text.write_text("not netcdf")
    cases = [
        (_copy(good, tmp_path / "a.nc", drop=("obs_mean",)), "variable 'obs_mean' is missing"),
        (_copy(good, tmp_path / "b.nc", replace_var=("status", ("bin", "location"), "i1",
                                                     np.zeros((1, 1)))),
         "variable 'status' has dimensions ('bin', 'location'), expected ('location', 'bin')"),
        (_copy(good, tmp_path / "c.nc", replace_var=("obs_sd", ("location", "bin"), "f8",
                                                     np.zeros((1, 1)))),
         "variable 'obs_sd': calibrated bins need standard deviations > 0"),
        (_copy(good, tmp_path / "d.nc", replace_var=("x", ("location",), str,
                                                     np.array(["a"], dtype=object))),
         "variable 'x' has type"),
        (_copy(good, tmp_path / "e.nc", attrs={"bins": "month"}),
         "dimension 'bin' has 1 entries, expected 12 for bins = 'month'"),
        (_copy(good, tmp_path / "f.nc", attrs={"min_samples": "many"}),
         "attribute 'min_samples' = 'many': expected a finite number >= 0"),
        (text, "not a readable NetCDF file"),
        (tmp_path / "missing.nc", "calibration file not found"),
    ]
    for path, message in cases:
        with pytest.raises(InputFileError) as err:
            BiasCorrection.from_file(path, "grid_point")
        assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
        assert "\n" not in str(err.value)


# --- configuration ----------------------------------------------------------------------------

def _observations(**keys):
    return parse_section(ExperimentConfig, {"observations": [
        {"type": "grid_point", "field": "x", **keys}]}).observations[0]


def test_configuration_keys_are_checked_in_one_line(tmp_path):
    assert _observations().bias_correction == "none"
    rng = np.random.default_rng(6)
    path = tmp_path / "bias.nc"
    obs = rng.uniform(0.1, 0.4, 100)
    BiasCorrection.build(_training(np.zeros(100), 0.0, obs, obs, rng.uniform(0, 365, 100)),
                         "grid_point", bins="year").write(path)
    section = _observations(bias_correction="cdf_matching", bias_file=str(path))
    assert (section.bias_correction, section.error_rescaling) == ("cdf_matching", False)
    bad = [({"bias_correction": "anomaly"},
            "observations[0].bias_file: bias_correction = 'anomaly' needs the type's "
            "calibration file"),
           ({"error_rescaling": True},
            "observations[0].bias_file: error_rescaling = true needs"),
           ({"bias_correction": "quantile_mapping", "bias_file": str(path)},
            "observations[0].bias_correction = 'quantile_mapping': expected one of ['none', "
            "'cdf_matching', 'anomaly', 'seasonal_rescaling']"),
           ({"bias_correction": "anomaly", "bias_file": str(tmp_path / "none.nc")},
            f"observations[0].bias_file = '{tmp_path / 'none.nc'}': no such file"),
           ({"error_rescaling": "yes", "bias_file": str(path)},
            "observations[0].error_rescaling = 'yes': expected true or false")]
    for keys, message in bad:
        with pytest.raises(ConfigError) as err:
            _observations(**keys)
        assert message in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="a calibration of type 'grid_point', not of "
                                          "'surface_soil_moisture'"):
        parse_section(ExperimentConfig, {"observations": [
            {"type": "surface_soil_moisture", "bias_correction": "anomaly",
             "bias_file": str(path)}]})


def test_a_free_run_refuses_a_bias_correction_of_its_training_data(tmp_path):
    rng = np.random.default_rng(6)
    path = tmp_path / "bias.nc"
    obs = rng.uniform(0.1, 0.4, 100)
    BiasCorrection.build(_training(np.zeros(100), 0.0, obs, obs, rng.uniform(0, 365, 100)),
                         "grid_point", bins="year").write(path)
    table = {"mode": "free", "observations": [
        {"type": "grid_point", "field": "x", "file": str(path), "bias_correction": "anomaly",
         "bias_file": str(path)}]}
    with pytest.raises(ConfigError, match=r"observations\[0\].bias_correction: a free run "
                       "writes the raw observations"):
        parse_section(ExperimentConfig, table)


def test_a_corrected_value_stays_within_its_types_valid_range(tmp_path):
    from models.landda.obs_surface_soil_moisture import SurfaceSoilMoisture
    from pdafpy.localize import Localization
    from pdafpy.model import Grid
    from pdafpy.obs.module import ObservationContext

    path = tmp_path / "bias.nc"
    rng = np.random.default_rng(2)
    obs = rng.uniform(0.2, 0.3, 200)
    data = _training(np.zeros(200), 0.0, obs, obs - 0.15, rng.uniform(0, 365, 200), "m3 m-3")
    BiasCorrection.build(data, "surface_soil_moisture", bins="year").write(path)
    section = parse_section(ExperimentConfig, {"observations": [
        {"type": "surface_soil_moisture", "bias_correction": "anomaly",
         "bias_file": str(path)}]}).observations[0]
    context = ObservationContext(Grid.uniform(2, 2), (), 1, Localization.from_pdaf(1.0, 1.0, 0),
                                 {"interfaces": np.array([0.0, 0.05])}, "1970-01-01T00:00:00")
    module = SurfaceSoilMoisture(section, context, 0)
    out = module.bias_correct(_records([0.0, 0.0], 0.0, [0.05, 0.3], [10, 20],
                                       type_name="surface_soil_moisture"))
    mu_obs, mu_model = obs.mean(), (obs - 0.15).mean()
    np.testing.assert_allclose(out.value, [0.0, 0.3 + mu_model - mu_obs])   # floored at 0

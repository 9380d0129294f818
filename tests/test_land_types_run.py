"""The land observation suite in real runs of a tiny twin (4 x 3 columns of 6 layers, 4
members, one day): every type assimilated through the cycle (surface, satellite and CRNS soil
moisture, LAI updating the leaf state only, wells), the stage-2 rules counted in the
summary and named in the diagnostics file, wells as hydrostatic pseudo-observations, and a free
run writing the open loop's operator values at a file's observations, from which a bias
calibration is built and an assimilation of the truth's file corrects the soil moisture."""

from __future__ import annotations


import numpy as np
import pytest
from models.landda.faults import CONFIG
from land_runs import run_config as _run

pytest.importorskip("petsc4py")
netCDF4 = pytest.importorskip("netCDF4")

EXTRA_TYPES = """
[[observations]]
type = "surface_soil_moisture"
interval_h = 6.0
reject_rain_mm_h = 0.0
reject_relative_saturation = [0.0, 0.3]
[[observations]]
type = "satellite_soil_moisture"
interval_h = 6.0
footprint = "radius"
footprint_radius_m = 1.5
depth_range_m = [0.0, 0.1]
[[observations]]
type = "crns_soil_moisture"
interval_h = 12.0
count = 2
[[observations]]
type = "leaf_area_index"
interval_h = 12.0
update_soil = false
update_land_state = ["leaf_biomass"]
"""


def _columns(path, names):
    """Variables ``names`` of an observation output, its segments one after another."""
    from pdafpy.segments import segment_paths

    parts = {n: [] for n in names}
    for segment in segment_paths(path):
        with netCDF4.Dataset(segment) as ds:
            for n in names:
                parts[n].append(np.asarray(ds[n][:], dtype=object if n in (
                    "rejected_by", "type") else float))
    return [np.concatenate(parts[n]) for n in names]



def _config(mode="twin", days=1.0):
    text = f'mode = "{mode}"\n' + CONFIG.format(days=days, ensemble="", checkpoint_every=2)
    text = text.replace('count = 3\n', 'count = 3\nform = "hydrostatic_head"\n')
    return text + "[forcing]\nwet_day_probability = 1.0\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("land_types")
    twin = _run(folder, "twin", _config() + EXTRA_TYPES)
    truth = _run(folder, "truth", _config("truth"))
    obs = folder / "truth" / "observations.nc"
    free_text = _config("free").replace("interval_h = 6.0\n", f'interval_h = 6.0\nfile = "{obs}"\n')
    free_text = free_text.replace("interval_h = 12.0\n", f'interval_h = 12.0\nfile = "{obs}"\n')
    free_text = free_text.replace("error = 0.1\n", "").replace("withheld_fraction = 0.34\n", "")
    free = _run(folder, "free", free_text)
    return folder, twin, truth, free


def test_stage_two_rejections_are_counted_by_rule_and_named_in_the_diagnostics(runs):
    folder, (status, summary), _, _ = runs
    assert status == 0
    rejected = summary["observations_rejected_by_rule"]["surface_soil_moisture"]
    assert set(rejected) <= {"rain", "near_saturation"} and sum(rejected.values()) > 0
    rules, types, qc, depth = _columns(folder / "twin" / "observations.nc",
                                       ("rejected_by", "type", "qc", "depth"))
    named = rules[types == "surface_soil_moisture"]
    assert sum((named == rule).sum() for rule in rejected) == sum(rejected.values())
    assert np.all(qc[rules != ""] == 1)
    wells = (types == "groundwater_level") & (qc == 0)
    assert wells.any() and np.all(np.isfinite(depth[wells]))      # pseudo-observations
    assert "wells_assimilated" in summary["variables"]
    for name in ("satellite_soil_moisture", "crns_soil_moisture", "leaf_area_index"):
        assert np.count_nonzero((types == name) & (qc == 0)) > 0      # assimilated
    assert summary["theta_out_of_bounds_cycles"] == 0


def test_a_free_run_writes_the_open_loop_at_a_files_observations(runs):
    from pdafpy.obs.files import read_observation_file

    folder, _, (truth_status, _), (status, summary) = runs
    assert truth_status == 0 and status == 0
    written = read_observation_file(folder / "free" / "observations.nc", "2020-05-01T00:00:00",
                                    {"surface_soil_moisture", "groundwater_level"}, {})
    drawn = read_observation_file(folder / "truth" / "observations.nc", "2020-05-01T00:00:00",
                                  {"surface_soil_moisture", "groundwater_level"}, {})
    assert written.size == drawn.size
    forecast, analysis = _columns(folder / "free" / "observations.nc",
                                  ("forecast_mean", "analysis_mean"))
    assert np.all(np.isfinite(forecast)) and np.all(np.isnan(analysis))


def test_an_assimilation_reads_a_bias_calibration_built_from_the_free_run(runs):
    from pdafpy.obs.calibration import main as calibrate

    folder, _, _, (status, _) = runs
    assert status == 0
    cdf = folder / "ssm_bias.nc"
    assert calibrate([str(folder / "free" / "observations.nc"), "--type",
                      "surface_soil_moisture", "--bins", "year", "--min-samples", "3",
                      "--out", str(cdf)]) == 0
    obs = folder / "truth" / "observations.nc"
    text = _config("assimilate").replace(
        "interval_h = 6.0\n", f'interval_h = 6.0\nfile = "{obs}"\nbias_correction = "anomaly"\n'
        f'bias_file = "{cdf}"\n')
    text = text.replace("interval_h = 12.0\n", f'interval_h = 12.0\nfile = "{obs}"\n')
    text = text.replace("error = 0.1\n", "").replace("withheld_fraction = 0.34\n", "")
    status, summary = _run(folder, "assim", text)
    assert status == 0 and summary["observations_used"] > 0
    value, rules, types = _columns(folder / "assim" / "observations.nc",
                                   ("value", "rejected_by", "type"))
    from pdafpy.obs.files import read_observation_file
    raw = read_observation_file(obs, "2020-05-01T00:00:00",
                                {"surface_soil_moisture", "groundwater_level"}, {})
    from pdafpy.obs.calibration import BiasCorrection

    soil = types == "surface_soil_moisture"
    expected, _ = BiasCorrection.from_file(cdf, "surface_soil_moisture").apply(
        raw.of_type("surface_soil_moisture"), "2020-05-01T00:00:00", "anomaly", False)
    assert np.all(rules[soil] == "")
    np.testing.assert_allclose(value[soil], expected.value, rtol=0, atol=1e-15)
    assert np.max(np.abs(value[soil] - raw.of_type("surface_soil_moisture").value)) > 1e-4

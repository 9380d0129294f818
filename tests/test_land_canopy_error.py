"""A twin's satellite soil moisture whose true error grows with the canopy (BAI's X-band, MWRI)
while the filter assumes its nominal error, and BAI's vegetation mask on such a product read
from a file.

A truth pass of 5 x 40 columns, one land cover per grid column (bare soil, deciduous forest,
crop, grass, evergreen forest: leaf area index 0, about 2.4, 2.6, 2.3 and 4.3), observed every
3 h for 5 days (8000 retrievals), draws with ``truth_error_growth_per_lai = g`` and
``truth_bias_per_lai = b``: the departures of its file's values from the truth's operator values
(the top layer's water content in ``truth.nc``) must have the standard deviation
``error * (1 + g * LAI)`` and the mean ``b * LAI`` per land cover (a fit over the five bins),
while the file records ``error``. With g = b = 0 the draw is the framework's, bit for bit; on
two ranks the file is the one rank's. An assimilation of the file with ``reject_lai_above``
rejects exactly the evergreen columns' retrievals, as ``dense_vegetation``.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from models.landda.obs_satellite_soil_moisture import (SatelliteSoilMoisture,
                                                       SatelliteSoilMoistureSection)
from pdafpy.errors import ConfigError
from pdafpy.localize import Localization
from pdafpy.model import FieldSpec, Grid
from pdafpy.obs.module import ObservationContext, ObservationModule
from pdafpy.obs.synthetic import synthetic_values

ERROR, GROWTH, BIAS = 0.005, 1.0, 0.004
COVERS = ["bare_soil", "deciduous_forest", "crop", "grass", "evergreen_forest"]
NX, NY, DAYS, INTERVAL_H = len(COVERS), 40, 5.0, 3.0
START = "2020-05-01T00:00:00"
LAI_FIELD = FieldSpec("leaf_area_index", 1, "m2 m-2", "diagnostic")
LOC = Localization.from_pdaf(1500.0, 1500.0, "gaspari_cohn")
INTERFACES = np.array([0.0, 0.05, 0.15, 0.45, 1.0])


def _config(mode: str, observation: str = "", days: float = DAYS) -> str:
    covers = "[" + ", ".join(['["' + '", "'.join(COVERS) + '"]'] * NY) + "]"
    return f"""mode = "{mode}"
[grid]
nx = {NX}
ny = {NY}
dz_m = [0.05, 0.1, 0.35, 0.5, 1.0, 2.0]
[ensemble]
size = 4
[update]
variable = "water_content"
[[observations]]
type = "satellite_soil_moisture"
interval_h = {INTERVAL_H}
{observation}
[land]
land_cover = {covers}
[schedule]
length_days = {days}
"""


def _run(folder, name, text):
    from pdafpy.run import main
    path = folder / f"{name}.toml"
    path.write_text(text)
    return main([str(path), "--out", str(folder / name), "-q"]), path


def _drawn(folder):
    """The file's records and, at each, the truth's top-layer water content (the operator's
    value: nearest column, depth range [0, 0.05], the top layer exactly) and leaf area index."""
    import netCDF4
    from pdafpy.obs.files import read_observation_file
    from pdafpy.segments import segment_paths

    records = read_observation_file(folder / "observations.nc", START,
                                    {"satellite_soil_moisture"}, {})
    times, theta, lai = [], [], []
    for segment in segment_paths(folder / "truth.nc"):
        with netCDF4.Dataset(segment) as ds:
            first = np.asarray(ds["kind"][:]) == 0
            times.append(np.asarray(ds["time"][:])[first])
            theta.append(np.asarray(ds["water_content_mean"][:])[first][:, 0])
            lai.append(np.asarray(ds["leaf_area_index_mean"][:])[first])
    times, theta, lai = np.concatenate(times), np.concatenate(theta), np.concatenate(lai)
    rows = np.searchsorted(np.unique(records.y), records.y)   # every column is observed
    cols = np.searchsorted(np.unique(records.x), records.x)
    k = np.searchsorted(times, records.time)
    assert np.allclose(times[k], records.time)
    return records, theta[k, rows, cols], lai[k, rows, cols], cols


@pytest.fixture(scope="module")
def passes(tmp_path_factory):
    pytest.importorskip("petsc4py")
    pytest.importorskip("netCDF4")
    folder = tmp_path_factory.mktemp("canopy_error")
    grown = _run(folder, "grown", _config("truth", f"error = {ERROR}\n"
                                          f"truth_error_growth_per_lai = {GROWTH}\n"
                                          f"truth_bias_per_lai = {BIAS}"))[0]
    plain = _run(folder, "plain", _config("truth", f"error = {ERROR}"))[0]
    assert grown == plain == 0
    return folder


def test_the_drawn_noise_grows_with_the_truths_lai_and_the_file_records_the_nominal_error(
        passes):
    records, truth, lai, cols = _drawn(passes / "grown")
    assert records.size == NX * NY * 8 * DAYS
    np.testing.assert_array_equal(records.error_std, ERROR)         # what the filter uses
    assert np.all((records.value > 0) & (records.value < 1))        # none clipped
    departure = records.value - truth
    bins = [cols == c for c in range(NX)]                            # one land cover each
    mean_lai = np.array([lai[b].mean() for b in bins])
    sd = np.array([departure[b].std() for b in bins])
    mean = np.array([departure[b].mean() for b in bins])
    assert mean_lai[0] == 0 and mean_lai[-1] > 4                     # bare to evergreen
    assert np.polyfit(mean_lai, sd, 1)[1] == pytest.approx(ERROR, rel=0.1)   # sd at LAI 0
    # g fitted over the bins, sd / error - 1 = g LAI (its spread over seeds: about 2 %)
    fitted = np.sum(mean_lai * (sd / ERROR - 1)) / np.sum(mean_lai ** 2)
    assert fitted == pytest.approx(GROWTH, rel=0.07)
    np.testing.assert_allclose(sd, ERROR * (1 + GROWTH * mean_lai), rtol=0.1)
    assert np.polyfit(mean_lai, mean, 1)[0] == pytest.approx(BIAS, rel=0.15)
    assert abs(mean[0]) < 3 * ERROR / np.sqrt(bins[0].sum())        # no bias without leaves


def test_the_grown_noise_is_the_nominal_draw_scaled_and_zero_growth_is_the_frameworks(passes):
    _, truth, _, _ = _drawn(passes / "grown")
    plain, truth_plain, _, _ = _drawn(passes / "plain")
    np.testing.assert_array_equal(truth, truth_plain)                 # the same truth
    cycle = np.rint(plain.time / (INTERVAL_H * 3600.0)).astype(int) - 1
    per_cycle = NX * NY
    for c in np.unique(cycle):                       # g = b = 0: the framework's draw, exactly
        at = cycle == c
        np.testing.assert_array_equal(plain.value[at],
                                      synthetic_values(truth[at], ERROR, 1, int(c), 0))
        assert at.sum() == per_cycle
    np.testing.assert_allclose(_noise(passes / "grown"), (plain.value - truth) / ERROR,
                               atol=1e-9)


def _noise(folder):
    """The standard normal draws behind a canopy-grown file, recovered with its truth."""
    records, truth, lai, _ = _drawn(folder)
    return (records.value - truth - BIAS * lai) / (ERROR * (1 + GROWTH * lai))


def test_the_draw_is_the_same_on_two_ranks(passes, tmp_path):
    from models.landda.faults import run_pdafpy

    path = tmp_path / "grown.toml"
    path.write_text((passes / "grown.toml").read_text())
    proc = run_pdafpy([path, "--out", tmp_path / "out", "-q"], ranks=2)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # the two layouts' truths agree to round-off (the solver's parallel sums), the draws exactly
    np.testing.assert_allclose(_noise(tmp_path / "out"), _noise(passes / "grown"), atol=1e-8)


def test_the_vegetation_mask_rejects_a_files_retrievals_under_dense_canopy(passes):
    from pdafpy.obs.files import read_observation_file

    obs = passes / "grown" / "observations.nc"
    status, _ = _run(passes, "masked", _config(
        "assimilate", f'file = "{obs}"\nreject_lai_above = 3.0', days=1.0))
    assert status == 0
    summary = json.loads((passes / "masked" / "summary.json").read_text())
    rejected = summary["observations_rejected_by_rule"]["satellite_soil_moisture"]
    per_cover = NY * 8                                   # the evergreen columns, 8 analyses
    assert rejected == {"dense_vegetation": per_cover}
    import netCDF4
    from pdafpy.segments import segment_paths
    rules, xs = [], []
    for segment in segment_paths(passes / "masked" / "observations.nc"):
        with netCDF4.Dataset(segment) as ds:
            rules.append(np.asarray(ds["rejected_by"][:], dtype=object))
            xs.append(np.asarray(ds["x"][:], dtype=float))
    rules, xs = np.concatenate(rules), np.concatenate(xs)
    evergreen = xs == xs.max()                           # the east column
    assert np.all(rules[evergreen] == "dense_vegetation") and evergreen.sum() == per_cover
    assert np.all(rules[~evergreen] == "")
    assert read_observation_file(obs, START, {"satellite_soil_moisture"}, {}).size > xs.size


@pytest.mark.parametrize("key, value", [("truth_error_growth_per_lai", 1.0),
                                        ("truth_bias_per_lai", -0.01)])
def test_the_canopy_keys_are_refused_with_an_observation_file(tmp_path, key, value):
    from pdafpy.experiment import load_configuration

    obs = tmp_path / "observations.nc"
    obs.write_bytes(b"")
    text = _config("assimilate", f'file = "{obs}"\n{key} = {value}', days=1.0)
    path = tmp_path / "refused.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=rf"observations\[0\]\.{key}: shapes a twin's"):
        load_configuration(path)


def _module(section, fields=(LAI_FIELD,)):
    context = ObservationContext(Grid.uniform(20, 20, dy=500.0, dx=500.0), tuple(fields), 3,
                                 LOC, {"interfaces": INTERFACES}, START)
    return SatelliteSoilMoisture(section, context, 0)


def test_zero_growth_is_the_frameworks_draw_and_asks_for_no_covariate():
    module = _module(SatelliteSoilMoistureSection(error=0.03))
    network = module.network()
    truth = np.linspace(0.1, 0.4, network.size)
    assert module.synthesis_covariates(network) == {}
    base = ObservationModule.synthetic(module, network, truth, 4, 17, 3600.0)
    drawn = module.synthetic(network, truth, 4, 17, 3600.0)
    np.testing.assert_array_equal(drawn.value, base.value)
    np.testing.assert_array_equal(drawn.error_std, base.error_std)


def test_a_grown_draw_is_clipped_to_the_valid_range_and_keeps_the_nominal_error():
    module = _module(SatelliteSoilMoistureSection(error=0.04, truth_error_growth_per_lai=20.0))
    network = module.network()
    assert module.synthesis_covariates(network)["leaf_area_index"].field == "leaf_area_index"
    lai = np.full(network.size, 5.0)
    drawn = module.synthetic(network, np.full(network.size, 0.3), 0, 0, 0.0,
                             {"leaf_area_index": lai})
    assert drawn.value.min() == 0.0 and drawn.value.max() == 1.0      # sd 4: many clipped
    np.testing.assert_array_equal(drawn.error_std, 0.04)


def test_a_canopy_draw_without_a_leaf_area_index_is_refused():
    section = SatelliteSoilMoistureSection(truth_error_growth_per_lai=1.0)
    with pytest.raises(ConfigError, match=r"truth_error_growth_per_lai: the model has no leaf"):
        _module(section, fields=())
    module = _module(section)
    network = module.network()
    with pytest.raises(ConfigError, match="gives no truth leaf area index"):
        module.synthetic(network, np.zeros(network.size), 0, 0, 0.0)
    assert replace(section, truth_error_growth_per_lai=0.0).canopy_dependent is False

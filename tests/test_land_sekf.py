"""The SEKF from the land experiment's configuration (``[filter] type = "sekf"``, ``[sekf]``).

One column of 6 layers, the water content of its top 3 layers the control vector, surface soil
moisture of the top layer every 6 h for half a day, members (every run) written. From the run's
own files the analysis is recomputed by hand: the Jacobian from the perturbed runs' forecasts
(``perturbed.nc``), ``B`` from ``[sekf]``, ``y`` from ``observations.nc`` and ``R`` from the
type's error, ``K = B H^T (H B H^T + R)^-1``; the increment in ``assimilation.nc`` must be
``K (y - H x)`` in the control layers and zero below. The perturbed runs restart from the
analysis plus ``delta`` in their own layer, the open loop is the control run, and a restarted
run ends as the uninterrupted one.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pdafpy.errors import ConfigError
from pdafpy.segments import open_output

pytest.importorskip("petsc4py")
pytest.importorskip("netCDF4")

DELTA = [0.001, 0.0001, 0.0005]
SD = [0.03, 0.02, 0.01]
CORRELATION_M = 0.3
ERROR = 0.02
DZ = [0.05, 0.1, 0.35, 0.5, 1.0, 2.0]
CONFIG = f"""
[grid]
nx = 1
ny = 1
dz_m = {DZ}
[ensemble]
size = 1
[filter]
type = "sekf"
[inflation]
multiplicative = 1.0
[sekf]
delta = {DELTA}
background_sd = {SD}
vertical_correlation_m = {CORRELATION_M}
[update]
variable = "water_content"
[[observations]]
type = "surface_soil_moisture"
interval_h = 6.0
error = {ERROR}
depth_m = 0.05
footprint_cells = 1
[schedule]
start = "2020-05-01T00:00:00"
length_days = {{days}}
checkpoint_every = 1
[output]
members = true
"""


def _run(folder, name, days, *args):
    from pdafpy.run import main
    path = folder / f"{name}.toml"
    path.write_text(CONFIG.format(days=days))
    assert main([str(path), "--out", str(folder / name), "-q", *args]) == 0
    return json.loads((folder / name / "summary.json").read_text())


def _read(folder, run, group, variable):
    with open_output(folder / run / f"{group}.nc") as ds:
        return (np.asarray(ds["time"][:]), np.asarray(ds["kind"][:]),
                np.asarray(ds[variable][:], dtype=float))


@pytest.fixture(scope="module")
def sekf_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("land_sekf")
    whole = _run(folder, "whole", 0.5)
    _run(folder, "first", 0.25)
    shutil.copytree(folder / "first", folder / "resumed")
    (folder / "resumed" / "checkpoint.h5").rename(folder / "first.h5")
    resumed = _run(folder, "resumed", 0.5, "--restart", str(folder / "first.h5"))
    return folder, whole, resumed


def test_the_increment_is_the_sekf_gain_computed_from_the_runs_files(sekf_runs):
    folder, summary, _ = sekf_runs
    assert summary["filter"] == "sekf" and summary["runs"] == 1 + 3 + 1 + 1
    assert summary["analyses"] == 2
    t, kind, theta = _read(folder, "whole", "assimilation", "water_content_mean")
    tp, kind_p, perturbed = _read(folder, "whole", "perturbed", "water_content")
    from pdafpy.obs.files import read_observation_file
    obs = read_observation_file(folder / "whole" / "observations.nc", "2020-05-01T00:00:00",
                                ["surface_soil_moisture"], {"surface_soil_moisture": "m3 m-3"})
    z = np.cumsum(DZ) - 0.5 * np.asarray(DZ)
    sd = np.asarray(SD)
    b = sd[:, None] * sd[None, :] * np.exp(-np.abs(z[:3, None] - z[None, :3]) / CORRELATION_M)
    for time in (21600.0, 43200.0):
        forecast = theta[(t == time) & (kind == 0)][0, :, 0, 0]
        analysis = theta[(t == time) & (kind == 1)][0, :, 0, 0]
        runs = perturbed[(tp == time) & (kind_p == 0)][0, :, :, 0, 0]     # (3 runs, 6 layers)
        h = (runs[:, 0] - forecast[0]) / np.asarray(DELTA)               # d theta_0 / d x_k
        assert 0.2 < h[0] < 1.0 and np.all(np.abs(h[1:]) < h[0])      # it drains down
        y = obs.value[obs.time == time]
        assert y.size == 1
        gain = b @ h / (h @ b @ h + ERROR ** 2)
        increment = analysis - forecast
        expected = gain * (y[0] - forecast[0])
        assert np.abs(increment[:3]).max() > 1e-4                       # it analyses
        assert np.allclose(increment[:3], expected, rtol=2e-3, atol=1e-7), (increment, expected)
        assert np.abs(increment[3:]).max() < 1e-12


def test_the_perturbed_runs_restart_from_the_analysis_and_the_open_loop_is_the_control(
        sekf_runs):
    folder, _, _ = sekf_runs
    t, kind, theta = _read(folder, "whole", "assimilation", "water_content_mean")
    tp, kind_p, perturbed = _read(folder, "whole", "perturbed", "water_content")
    for time in (21600.0, 43200.0):
        analysis = theta[(t == time) & (kind == 1)][0, :, 0, 0]
        runs = perturbed[(tp == time) & (kind_p == 1)][0, :, :, 0, 0]
        # float32 members: the perturbation to a few 1e-8
        assert np.allclose(runs - analysis, np.eye(3, 6) * np.asarray(DELTA)[:, None],
                           atol=5e-8)
    to, ko, open_loop = _read(folder, "whole", "open_loop", "water_content_mean")
    first = (t == 21600.0) & (kind == 0)
    assert np.array_equal(open_loop[(to == 21600.0) & (ko == 0)], theta[first])
    assert not np.allclose(open_loop[(to == 43200.0) & (ko == 0)],
                           theta[(t == 43200.0) & (kind == 0)], rtol=0, atol=1e-6)


def test_an_sekf_run_restarted_from_its_checkpoint_ends_as_the_uninterrupted_one(sekf_runs):
    folder, whole, resumed = sekf_runs
    for key in ("seconds", "wall_s", "core_hours_per_member_per_simulated_year"):
        whole.pop(key), resumed.pop(key)
    assert whole == resumed
    for group in ("assimilation", "perturbed", "open_loop", "truth"):
        a, b = (_read(folder, run, group, "water_content_mean") for run in ("whole", "resumed"))
        assert all(np.array_equal(x, y) for x, y in zip(a, b)), group


@pytest.mark.parametrize("change, message", [
    (("[ensemble]\nsize = 1", "[ensemble]\nsize = 8"), r"ensemble.size = 8: the SEKF advances 1 "
     r"analysed run and 3 perturbed runs .*set 1 .* or 4"),
    (("[ensemble]\nsize = 1", "[ensemble]\nsize = 4"), None),
    (("multiplicative = 1.0", "multiplicative = 1.1"), r"inflation.multiplicative = 1.1: the "
     r"SEKF's B is static"),
    (('variable = "water_content"', 'variable = "pressure_head"'),
     r"update.variable = 'pressure_head': the SEKF's control field is 'water_content'"),
    (("background_sd = [0.03, 0.02, 0.01]", "background_sd = [0.03]"),
     r"sekf.background_sd: 1 values for the 3 control layers"),
    (("delta = [0.001, 0.0001, 0.0005]", "delta = [0.001, 0, 0.0005]"), r"sekf.delta = 0"),
    (('size = 1\n[filter]\ntype = "sekf"', 'size = 4\n[filter]\ntype = "letkf"'),
     r"sekf: read only with \[filter\] type = 'sekf'"),
    (("footprint_cells = 1", "footprint_cells = 1\nupdate_depth_m = [0.0, 0.5]"),
     r"observations\[0\].update_depth_m: what the SEKF updates is its control vector"),
    (("delta = [0.001, 0.0001, 0.0005]", "delta = [1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3, 1e-3]"),
     r"sekf.delta: 7 control layers, but the grid has 6"),
])
def test_the_sekfs_configuration_is_checked_against_the_rest(change, message):
    from models.landda.setup import load
    import tomllib
    text = CONFIG.format(days=0.5).replace(*change)
    if "delta = [1e-3" in text:                          # 7 layers: 7 standard deviations
        text = text.replace(f"background_sd = {SD}", f"background_sd = {[0.01] * 7}")
    if message is None:
        cfg, tables = load(tomllib.loads(text))
        assert cfg.ensemble.size == 4
        return
    with pytest.raises(ConfigError, match=message) as err:
        load(tomllib.loads(text))
    assert "\n" not in str(err.value)


def test_only_the_land_experiment_configures_an_sekf():
    from pdafpy.experiment import load_configuration
    with pytest.raises(ConfigError, match="generic twin of model 'lorenz96' has no SEKF"):
        load_configuration({"model": "lorenz96", "filter": {"type": "sekf"},
                            "ensemble": {"size": 1},
                            "observations": [{"type": "grid_point"}]})
    with pytest.raises(ConfigError, match=r"ensemble.size = 1: an ensemble needs at least 2"):
        load_configuration({"model": "lorenz96", "ensemble": {"size": 1},
                            "observations": [{"type": "grid_point"}]})

"""Run control of the land twin: analyses then a free forecast (``[schedule]
assimilate_until_days``) and the state export (``[state_export]``).

A tiny twin (4 x 3 columns of 6 layers, 4 members, surface soil moisture every 6 h, wells every
12 h, one day: analyses at 6, 12, 18 and 24 h) runs in this process:

- ``base``: as it is;
- ``cut``: analyses until day 0.5 (6 and 12 h), then a free forecast to day 1, exporting the
  members' water content and water-table depth every 12 h (at the analysis times, so the
  forecasts are not cut); checkpoints every 2 analyses;
- ``half`` and ``resumed``: the same cut for half a day, then continued to the full day from its
  checkpoint into a folder that also holds the whole run's export (as a run that failed after
  the checkpoint leaves it): the file is cut back and continued;
- ``offset``: ``base`` exporting the mean state every 6 h, 3 h before each analysis.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from models.landda.faults import CONFIG

from pdafpy.errors import ConfigError
from pdafpy.segments import open_output

pytest.importorskip("petsc4py")
netCDF4 = pytest.importorskip("netCDF4")

TIMINGS = ("seconds", "wall_s", "core_hours_per_member_per_simulated_year")
EXPORT_AT_ANALYSES = ('[state_export]\nevery_h = 12.0\nmembers = true\n'
                      'fields = ["water_content", "water_table_depth"]\n')
EXPORT_BEFORE = "[state_export]\nevery_h = 6.0\noffset_h = -3.0\n"


def _config(days: float, export: str = "", checkpoint_every: int = 0, cut: bool = False
            ) -> str:
    text = CONFIG.format(days=days, ensemble="", checkpoint_every=checkpoint_every)
    if cut:
        text = text.replace("[schedule]\n", "[schedule]\nassimilate_until_days = 0.5\n")
    return text + export


def _run(folder, name, text, *args):
    from pdafpy.run import main
    path = folder / f"{name}.toml"
    path.write_text(text)
    status = main([str(path), "--out", str(folder / name), "-q", *args])
    assert status == 0, name
    return json.loads((folder / name / "summary.json").read_text())


def _series(folder, name, variable):
    """Times, kinds and values of ``variable`` in output ``RUN/GROUP``."""
    run, group = name.split("/")
    with open_output(folder / run / f"{group}.nc") as ds:
        return (np.asarray(ds["time"][:]), np.asarray(ds["kind"][:]),
                np.asarray(ds[variable][:]))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("land_run_control")
    out = {"base": _run(folder, "base", _config(1.0))}
    out["cut"] = _run(folder, "cut", _config(1.0, EXPORT_AT_ANALYSES, 2, cut=True))
    out["half"] = _run(folder, "half", _config(0.5, EXPORT_AT_ANALYSES, 2, cut=True))
    shutil.copytree(folder / "half", folder / "resumed")
    shutil.copy(folder / "cut" / "state_export.nc", folder / "resumed" / "state_export.nc")
    (folder / "resumed" / "checkpoint.h5").rename(folder / "half.h5")
    out["resumed"] = _run(folder, "resumed", _config(1.0, EXPORT_AT_ANALYSES, 2, cut=True),
                          "--restart", str(folder / "half.h5"))
    out["offset"] = _run(folder, "offset", _config(1.0, EXPORT_BEFORE))
    return folder, out


def test_no_analysis_after_the_cut_and_the_open_loop_is_unchanged(runs):
    folder, s = runs
    assert s["base"]["analyses"] == 4 and s["cut"]["analyses"] == 2
    # surface soil moisture: 2 footprints at 6 and 12 h; wells: 2 assimilated at 12 h
    assert s["cut"]["observations_used"] == 2 + 2 + 2
    for name in ("open_loop", "truth"):                  # bit for bit
        for var in ("water_content_mean", "water_table_depth_mean", "pressure_head_spread"):
            a, b = _series(folder, f"base/{name}", var), _series(folder, f"cut/{name}", var)
            assert all(np.array_equal(x, y) for x, y in zip(a, b)), (name, var)
    t, kind, wc = _series(folder, "cut/assimilation", "water_content_mean")
    tb, _, wcb = _series(folder, "base/assimilation", "water_content_mean")
    jump = np.abs(wc[kind == 1] - wc[kind == 0]).reshape(4, -1).max(axis=1)
    after = t[kind == 1] > 43200.0
    assert np.all(jump[~after] > 1e-4) and np.all(jump[after] < 1e-12), jump
    assert np.array_equal(wc[t <= 43200.0], wcb[tb <= 43200.0])
    assert not np.allclose(wc[t > 43200.0], wcb[tb > 43200.0])


def test_the_summary_scores_each_phase_and_the_free_forecast_per_time(runs):
    folder, s = runs
    cut = s["cut"]
    assert set(cut["phases"]) == {"assimilation", "free_forecast"}
    assert cut["assimilate_until_days"] == 0.5
    for phase in cut["phases"].values():
        assert set(phase) == set(cut["variables"])
        assert {"open_loop", "assimilation", "ubrmse_reduction"} <= set(phase["surface"])
    series = cut["free_forecast_rmse"]
    assert series["days"] == [0.75, 1.0]
    assert len(series["root_zone"]["assimilation"]) == 2
    assert series["root_zone"]["assimilation"] != series["root_zone"]["open_loop"]
    assert "phases" not in s["base"]
    # the assimilation phase is the run that stops at the cut, score for score
    assert cut["phases"]["assimilation"] == s["half"]["variables"]
    assert cut["phases"]["free_forecast"] != cut["phases"]["assimilation"]
    assert s["half"]["free_forecast_rmse"] == {"days": []}


def test_the_summary_has_each_runs_spread_and_the_analysis_narrows_it(runs):
    folder, s = runs
    for name in ("base", "cut", "resumed"):
        surface = s[name]["variables"]["surface"]
        spreads = {run: surface[run]["spread"]
                   for run in ("open_loop", "assimilation_forecast", "assimilation")}
        assert all(v > 0.0 for v in spreads.values()), (name, spreads)
        # the analysed surface soil moisture is narrower than its forecast
        assert spreads["assimilation"] < spreads["assimilation_forecast"], (name, spreads)
        assert surface["spread_over_rmse"] == pytest.approx(
            spreads["assimilation_forecast"] / surface["assimilation_forecast"]["rmse"],
            rel=1e-12)
    # the restarted run's spreads are the uninterrupted run's (the checkpoint keeps them)
    assert s["resumed"]["variables"]["surface"] == s["cut"]["variables"]["surface"]


def test_the_export_at_analysis_times_holds_the_analysed_members(runs):
    folder, _ = runs
    with netCDF4.Dataset(folder / "cut" / "state_export.nc") as ds:
        assert ds["time"][:].tolist() == [43200.0, 86400.0]
        assert ds["analysed"][:].tolist() == [1, 0]          # 24 h lies after the cut
        assert set(ds.variables) >= {"water_content", "water_table_depth", "x", "y", "z",
                                     "z_bnds"}
        assert "pressure_head" not in ds.variables
        assert ds["water_content"].dimensions == ("time", "member", "z", "y", "x")
        assert ds["water_table_depth"].dimensions == ("time", "member", "y", "x")
        exported = np.asarray(ds["water_content"][:])
    t, kind, mean = _series(folder, "cut/assimilation", "water_content_mean")
    analysis = mean[(kind == 1) & np.isin(t, [43200.0, 86400.0])]
    assert np.array_equal(exported.mean(axis=1), analysis)
    _, _, members = _series(folder, "cut/assimilation", "water_content")   # float32 there
    assert np.allclose(exported, members[(kind == 1) & np.isin(t, [43200.0, 86400.0])],
                       atol=1e-6)


def test_a_restart_cuts_the_export_back_and_ends_as_the_uninterrupted_run(runs):
    folder, s = runs
    with netCDF4.Dataset(folder / "half" / "state_export.nc") as ds:
        assert ds["time"][:].tolist() == [43200.0]
    with netCDF4.Dataset(folder / "cut" / "state_export.nc") as a, \
            netCDF4.Dataset(folder / "resumed" / "state_export.nc") as b:
        assert set(a.variables) == set(b.variables)
        for var in a.variables:
            assert np.array_equal(a[var][:], b[var][:]), var
    whole, resumed = dict(s["cut"]), dict(s["resumed"])
    for key in TIMINGS:
        whole.pop(key), resumed.pop(key)
    assert whole == resumed
    for name in ("assimilation", "open_loop"):
        a, b = (_series(folder, f"{run}/{name}", "water_content_mean")
                for run in ("cut", "resumed"))
        assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_an_export_before_each_analysis_cuts_the_forecasts_without_changing_the_run(runs):
    folder, _ = runs
    with netCDF4.Dataset(folder / "offset" / "state_export.nc") as ds:
        assert (ds["time"][:] / 3600.0).tolist() == [3.0, 9.0, 15.0, 21.0]
        assert ds["analysed"][:].tolist() == [0, 0, 0, 0]
        assert ds.statistic == "ensemble mean" and ds.offset_h == -3.0
        assert ds["water_content"].dimensions == ("time", "z", "y", "x")
        assert "pressure_head" in ds.variables and "leaf_area_index" in ds.variables
        theta = np.asarray(ds["water_content"][:])
    assert np.all((theta > 0.0) & (theta < 0.5))
    for name in ("assimilation", "open_loop"):
        a, b = (_series(folder, f"{run}/{name}", "water_content_mean")
                for run in ("base", "offset"))
        assert np.array_equal(a[0], b[0]) and np.allclose(a[2], b[2], rtol=0, atol=1e-12)


@pytest.mark.parametrize("extra, message", [
    ("[state_export]\nevery_h = 6.0\noffset_h = -6.0\n", r"offset_h = -6: expected a shift"),
    ("[state_export]\nevery_h = 6.0\noffset_h = 6.5\n", r"offset_h = 6.5: expected a shift"),
    ("[state_export]\noffset_h = -3.0\n", r"offset_h: exports nothing without"),
    ('[state_export]\nevery_h = 6.0\nfields = ["soil_moisture"]\n',
     r"'soil_moisture' is not a field of the state vector"),
    ("[schedule]\nassimilate_until_days = 1.5\n", r"after the end of the run"),
    ("[schedule]\nassimilate_until_days = 0.1\n", r"before the first analysis"),
    ('mode = "truth"\n[schedule]\nassimilate_until_days = 0.5\n', r"mode 'truth' analyses"),
])
def test_bad_run_control_keys_are_refused_in_one_line(extra, message):
    from models.landda.setup import load
    import tomllib
    table = tomllib.loads(CONFIG.format(days=1.0, ensemble="", checkpoint_every=0))
    for key, value in tomllib.loads(extra).items():
        table[key] = dict(table.get(key, {}), **value) if isinstance(value, dict) else value
    with pytest.raises(ConfigError, match=message) as err:
        load(table)
    assert "\n" not in str(err.value)

"""``[schedule] assimilate_until_days`` and ``[state_export]`` in pdafpy's generic twin (Lorenz-96,
one model time unit = 5 days, observations every 6 h, 5 days).

With the cut at day 3 the analyses stop after 12 of the 20 times, the open loop and the truth
are the same as without the cut, the summary scores each phase (the free forecast drifting
away from the truth), and the export every 12 h holds the analysis means where it meets an
analysis and the forecast means after the cut.
"""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from pdafpy.segments import open_output

netCDF4 = pytest.importorskip("netCDF4")

TWIN = {"model": "lorenz96", "ensemble": {"size": 10, "seed": 5},
        "filter": {"type": "letkf"}, "localization": {"radius_m": 8.0},
        "inflation": {"multiplicative": 1.05},
        "observations": [{"type": "grid_point", "field": "x", "error": 1.0, "interval_h": 6.0,
                          "stride": 2}],
        "schedule": {"length_days": 5.0}}


def _run(config, out, restart=None):
    from pdafpy.experiment import load_configuration
    loaded = load_configuration(config)
    saved = None if restart is None else loaded.experiment.read_restart(
        restart, MPI.COMM_SELF, loaded.cfg, loaded.tables)
    return loaded.experiment.run(MPI.COMM_SELF, loaded.cfg, loaded.tables, out, saved)


def _cut(days):
    return dict(TWIN, schedule={"length_days": days, "assimilate_until_days": 3.0,
                                "checkpoint_every": 4}, state_export={"every_h": 12.0})


@pytest.fixture(scope="module")
def generic(tmp_path_factory):
    folder = tmp_path_factory.mktemp("generic_run_control")
    base = _run(TWIN, folder / "base")
    cut = _run(_cut(5.0), folder / "cut")
    _run(_cut(4.0), folder / "first")                     # its last checkpoint: day 4
    (folder / "first" / "checkpoint.h5").rename(folder / "first.h5")
    resumed = _run(_cut(5.0), folder / "first", folder / "first.h5")
    return folder, base, cut, resumed


def test_the_generic_twin_stops_analysing_at_the_cut_and_scores_each_phase(generic):
    folder, base, cut, _ = generic
    assert base["analyses_made"] == 20 and cut["analyses_made"] == 12
    assert "phases" not in base and cut["assimilate_until_days"] == 3.0
    assert cut["variables"]["x"]["open_loop"] == base["variables"]["x"]["open_loop"]
    phases = cut["phases"]
    assert set(phases) == {"assimilation", "free_forecast"}
    da = {p: phases[p]["x"]["assimilation"]["rmse"] for p in phases}
    assert da["free_forecast"] > da["assimilation"]           # the forecast drifts away
    for name in ("open_loop", "truth"):
        with open_output(folder / "base" / f"{name}.nc") as a, \
                open_output(folder / "cut" / f"{name}.nc") as b:
            assert np.array_equal(a["x_mean"][:], b["x_mean"][:])


def test_the_generic_export_holds_the_analysis_means_at_analysis_times(generic):
    folder, _, _, _ = generic
    with netCDF4.Dataset(folder / "cut" / "state_export.nc") as ds:
        t = np.asarray(ds["time"][:])
        assert (t / 3600.0).tolist() == [12.0 * k for k in range(1, 11)]
        assert ds["analysed"][:].tolist() == [1] * 6 + [0] * 4
        exported = np.asarray(ds["x_state"][:])      # the field x beside the coordinate x
        assert ds["x_state"].field == "x"
    with open_output(folder / "cut" / "assimilation.nc") as ds:
        times, kind, mean = (np.asarray(ds[v][:]) for v in ("time", "kind", "x_mean"))
    for k, time in enumerate(t):                       # the outputs' times carry round-off
        at = np.isclose(times, time, rtol=1e-12) & (kind == 1)
        assert np.array_equal(exported[k], mean[at][0])


def test_a_restarted_generic_run_continues_its_phases_and_its_export(generic):
    folder, _, cut, resumed = generic
    for key in ("seconds", "wall_s"):
        cut.pop(key), resumed.pop(key)
    assert resumed == cut
    with netCDF4.Dataset(folder / "cut" / "state_export.nc") as a, \
            netCDF4.Dataset(folder / "first" / "state_export.nc") as b:
        for var in ("time", "analysed", "x_state"):
            assert np.array_equal(a[var][:], b[var][:]), var

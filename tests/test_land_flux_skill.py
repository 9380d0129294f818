"""Evapotranspiration and transpiration in the land twin's skill: each run's mean rates over the
forecast window ending at each analysis, against the truth's (inline or from a truth file)."""

from __future__ import annotations


import numpy as np
import pytest
from mpi4py import MPI

pytest.importorskip("petsc4py")
netCDF4 = pytest.importorskip("netCDF4")

from models.landda.faults import CONFIG  # noqa: E402
from models.landda.model import FLUX_FIELDS, LandDAModel  # noqa: E402
from models.landda.setup import load, model_config  # noqa: E402
from pdafpy.segments import segment_paths  # noqa: E402
from land_runs import run_config as _run  # noqa: E402

HOUR = 3600.0
SMALL = {"grid": {"nx": 3, "ny": 2, "dz_m": [0.05, 0.1, 0.35, 0.5, 1.0]},
         "schedule": {"length_days": 1.0}, "ensemble": {"size": 2}}


def _model(window_starts):
    cfg, tables = load(SMALL)
    config = dict(model_config(cfg, tables, range(2)), flux_window_starts_s=window_starts)
    model = LandDAModel.create(MPI.COMM_SELF, config)
    model.set_state(0, model.get_state())
    return model


def _recording(model, monkeypatch):
    fluxes = []
    step = model.coupled.land.step

    def recording_step(*args, **kwargs):
        fluxes.append(step(*args, **kwargs))
        return fluxes[-1]

    monkeypatch.setattr(model.coupled.land, "step", recording_step)
    return fluxes


def test_the_flux_window_runs_from_the_last_analysis_over_forecast_pieces(monkeypatch):
    pieces, whole = _model([0.0, 12 * HOUR]), _model([0.0, 12 * HOUR])
    fluxes = _recording(pieces, monkeypatch)
    pieces.advance(0.0, 6 * HOUR)                       # a record between analyses
    pieces.set_state(0, pieces.get_state())             # as the ensemble runner reloads it
    pieces.advance(6 * HOUR, 12 * HOUR)
    whole.advance(0.0, 12 * HOUR)
    a, b = pieces.get_state(), whole.get_state()
    for name in FLUX_FIELDS:                            # bit for bit: the same running sums
        assert np.array_equal(a[name], b[name]), name
    assert len(fluxes) == 12
    for name in FLUX_FIELDS:                            # the mean of the window's 12 steps
        expected = 86400.0 * np.mean([getattr(f, name) for f in fluxes], axis=0)
        assert np.allclose(a[name][0], expected, rtol=1e-12, atol=0.0), name
    assert np.all(a["transpiration"] > 0.0)
    assert np.all(a["evapotranspiration"] > a["transpiration"])
    del fluxes[:]
    pieces.advance(12 * HOUR, 18 * HOUR)                # 12 h is an analysis: a new window
    expected = 86400.0 * np.mean([f.evapotranspiration for f in fluxes], axis=0)
    assert len(fluxes) == 6
    assert np.allclose(pieces.get_state()["evapotranspiration"][0], expected, rtol=1e-12)


def test_without_window_starts_every_advance_is_its_own_window(monkeypatch):
    model = _model(None)
    model.advance(0.0, 6 * HOUR)
    fluxes = _recording(model, monkeypatch)
    model.advance(6 * HOUR, 12 * HOUR)
    expected = 86400.0 * np.mean([f.transpiration for f in fluxes], axis=0)
    assert np.allclose(model.get_state()["transpiration"][0], expected, rtol=1e-12)



def test_open_loop_and_assimilation_score_the_same_fluxes_when_nothing_is_assimilated(tmp_path):
    text = 'mode = "twin"\nobservations = []\n' + CONFIG.format(days=2.0, ensemble="",
                                                                 checkpoint_every=0)
    text = text[:text.index("[[observations]]")] + text[text.index("[schedule]"):]
    status, summary = _run(tmp_path, "none", text)
    assert status == 0 and summary["observations_used"] == 0
    for name in FLUX_FIELDS:
        v = summary["variables"][name]
        assert v["open_loop"] == v["assimilation"] == v["assimilation_forecast"], name
        assert v["open_loop"]["rmse"] > 0.0 and v["spread_over_rmse"] > 0.0


def test_a_truth_file_without_fluxes_scores_the_rest(tmp_path, caplog):
    base = CONFIG.format(days=1.0, ensemble="", checkpoint_every=2)
    assert _run(tmp_path, "truth", 'mode = "truth"\n' + base)[0] == 0
    for segment in segment_paths(tmp_path / "truth" / "truth.nc"):   # an older truth file
        with netCDF4.Dataset(segment, "a") as ds:
            for name in FLUX_FIELDS:
                ds.renameVariable(f"{name}_mean", f"old_{name}")
    obs = tmp_path / "truth" / "observations.nc"
    text = ('mode = "assimilate"\n' + base
            .replace("interval_h = 6.0\n", f'interval_h = 6.0\nfile = "{obs}"\n')
            .replace("interval_h = 12.0\n", f'interval_h = 12.0\nfile = "{obs}"\n')
            .replace("error = 0.1\n", "").replace("withheld_fraction = 0.34\n", "")
            + f'[verification]\ntruth = "{tmp_path / "truth" / "truth.nc"}"\n')
    with caplog.at_level("WARNING", logger="pdafpy.twin"):
        status, summary = _run(tmp_path, "assim", text)
    assert status == 0
    assert "surface" in summary["variables"]
    assert not set(FLUX_FIELDS) & set(summary["variables"])
    assert "no evapotranspiration_mean record; evapotranspiration is not scored" in caplog.text

"""The land experiment's spin-up (``[spinup]``, models.landda.spinup): one forcing window cycled
until every run's column water storage stops changing, the experiment started from the states
written to ``spinup.nc``, the hot start from that file and its refusals, non-convergence, the
same states on one and two model tasks, a restart keeping the spin-up's summary, and the
stand-alone land model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pdafpy.groups import RunGroups
from land_runs import netcdf_variables, same_variables

#: 3 x 2 columns of 5 layers to 2 m over a freely draining bottom, a wet start (water table at
#: 1 m) that drains over the cycles, two members: the spin-up converges in a few 1-day cycles.
CONFIG = """
mode = "{mode}"
model = "{model}"
[grid]
nx = 3
ny = 2
dz_m = [0.1, 0.2, 0.3, 0.4, 1.0]
[ensemble]
size = 2
[[observations]]
type = "surface_soil_moisture"
interval_h = 12.0
[schedule]
length_days = {days}
checkpoint_every = {checkpoint_every}
[boundary]
bottom = {{type = "free_drainage"}}
[initial]
water_table_depth_m = 1.0
[spinup]
window_days = 1.0
tolerance_mm = 5.0
{spinup}
"""
TOLERANCE_MM = 5.0


def _text(mode: str = "twin", spinup: str = "max_cycles = 10", model: str = "coupled",
          days: float = 1.0, checkpoint_every: int = 0) -> str:
    return CONFIG.format(mode=mode, model=model, spinup=spinup, days=days,
                         checkpoint_every=checkpoint_every)


def _skill(summary: dict) -> dict:
    """The summary without its timings."""
    return {k: v for k, v in summary.items()
            if k not in ("seconds", "wall_s", "core_hours_per_member_per_simulated_year")}


@pytest.fixture(scope="module")
def spun(tmp_path_factory):
    """A twin spun up, and the same twin started from its spin-up file (a hot start)."""
    pytest.importorskip("petsc4py")
    from land_runs import run_config
    folder = tmp_path_factory.mktemp("land_spinup")
    runs = {"spun": run_config(folder, "spun", _text())}
    hot = f'max_cycles = 10\nfile = "{folder / "spun" / "spinup.nc"}"'
    runs["hot"] = run_config(folder, "hot", _text(spinup=hot))
    return folder, runs


# ------------------------------------------------------------------ convergence
def test_the_spin_up_converges_with_a_decreasing_storage_change(spun):
    folder, runs = spun
    status, summary = runs["spun"]
    assert status == 0
    entry = summary["spinup"]
    f = netcdf_variables(folder / "spun" / "spinup.nc")
    history = f["storage_change_mm"]                       # (cycle, run)
    assert entry["converged"] is True
    assert entry["cycles"] == history.shape[0] > 2
    assert entry["storage_change_mm"] == pytest.approx(history[-1].max())
    assert np.all(history[-1] < TOLERANCE_MM)               # every run below the tolerance
    assert history[-2].max() >= TOLERANCE_MM                # not before
    largest = history.max(axis=1)
    assert np.all(np.diff(largest) < 0)
    # one row per perturbation key: members 0 and 1 (the open loop shares them), the truth 2
    assert f["run"].tolist() == [0, 1, 2]
    assert np.all(np.isfinite(f["pressure_head"]))


def test_the_experiment_starts_from_the_written_states(spun):
    """The truth advanced 12 h from its row of spinup.nc by the model alone is the twin's truth
    at its first record."""
    from mpi4py import MPI

    from models.landda.model import LandDAModel
    from models.landda.setup import load, model_config

    folder, _ = spun
    cfg, tables = load(folder / "spun.toml")
    groups = RunGroups.for_mode("twin", 2)
    model = LandDAModel.create(MPI.COMM_SELF, model_config(cfg, tables, groups.keys()))
    f = netcdf_variables(folder / "spun" / "spinup.nc")
    fields = f["pressure_head"].shape[1:]
    row = {name: f[name][2].reshape((-1,) + fields[-2:])
           for name in ("pressure_head", "canopy_water", "swe", "leaf_biomass",
                        "soil_temperature", "log10_ks")}
    truth = groups.runs("truth")[0]
    model.set_state(truth, row)
    model.advance(0.0, 12 * 3600.0)
    record = netcdf_variables(folder / "spun" / "truth.00000.nc")
    assert record["time"][0] == 12 * 3600.0
    assert np.array_equal(model.get_state()["pressure_head"], record["pressure_head_mean"][0])
    # ... and not from the unspun state the spin-up started with
    assert f["storage_change_mm"][0, 2] > 1.0


# ------------------------------------------------------------------ hot start
def test_a_hot_start_gives_the_run_that_spun_up(spun):
    folder, runs = spun
    (status, summary), (hot_status, hot) = runs["spun"], runs["hot"]
    assert status == hot_status == 0
    assert _skill(summary) == _skill(hot)
    assert hot["spinup"]["file"] == str(folder / "spun" / "spinup.nc")
    assert not (folder / "hot" / "spinup.nc").exists()      # read, not written again
    for name in ("assimilation", "open_loop", "truth"):
        assert same_variables(netcdf_variables(folder / "spun" / f"{name}.00000.nc"),
                     netcdf_variables(folder / "hot" / f"{name}.00000.nc")), name


@pytest.mark.parametrize("change, message", [
    (("[ensemble]\nsize = 2", "[ensemble]\nsize = 2\nseed = 5"),
     "spun up with ensemble.seed = 1, this run has 5"),
    (("nx = 3", "nx = 4"), "spun up on another grid: 3 x coordinates, this run has 4"),
    (("size = 2", "size = 3"), "holds the runs of perturbation keys 0-2; this run also needs 3"),
    (("water_table_depth_m = 1.0", "water_table_depth_m = 1.2"),
     "spun up with another configuration: initial.water_table_depth_m = 1.0 (this run: 1.2)"),
    (("window_days = 1.0", "window_days = 2.0"),
     "spinup.window_days = 1.0 (this run: 2.0)"),
    (('model = "coupled"', 'model = "land"'), 'model = "coupled" (this run: "land")'),
])
def test_a_hot_start_refuses_a_file_of_another_run(spun, capsys, change, message):
    from pdafpy.run import main

    folder, _ = spun
    path = folder / "spun" / "spinup.nc"
    text = _text(spinup=f'max_cycles = 10\nfile = "{path}"').replace(*change)
    config = folder / "mismatch.toml"
    config.write_text(text)
    assert main([str(config), "--check", "-q"]) == 2          # before any model work
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and message in err[0], err


def test_a_hot_start_refuses_a_missing_file_and_one_of_no_spin_up(spun, capsys):
    from pdafpy.run import main

    folder, _ = spun
    for path, message in ((folder / "nosuch.nc", "no such file"),
                          (folder / "spun" / "truth.00000.nc", "not a spin-up file")):
        config = folder / "missing.toml"
        config.write_text(_text(spinup=f'file = "{path}"'))
        assert main([str(config), "--check", "-q"]) == 2
        err = capsys.readouterr().err
        assert str(path) in err and message in err, err


def test_a_truth_pass_and_a_free_run_start_from_a_twins_file(spun, capsys):
    """Their runs' keys (the truth's, the members') are among the twin's."""
    from pdafpy.run import main

    folder, _ = spun
    for mode in ("truth", "free"):
        config = folder / f"{mode}.toml"
        config.write_text(_text(mode, f'max_cycles = 10\nfile = '
                                      f'"{folder / "spun" / "spinup.nc"}"'))
        assert main([str(config), "--check", "-q"]) == 0, capsys.readouterr().err


# ------------------------------------------------------------------ no convergence
def test_a_spin_up_that_does_not_converge_stops_the_run_or_warns(tmp_path, capsys, caplog):
    pytest.importorskip("petsc4py")
    from land_runs import run_config

    status, _ = run_config(tmp_path, "strict", _text(spinup="max_cycles = 2"))
    err = capsys.readouterr().err
    assert status == 1
    assert "spinup: not converged after max_cycles = 2 cycles" in err
    assert not (tmp_path / "strict" / "truth.00000.nc").exists()   # before the experiment
    assert netcdf_variables(tmp_path / "strict" / "spinup.nc")["storage_change_mm"].shape[0] == 2
    status, summary = run_config(tmp_path, "lenient",
                                 _text(spinup="max_cycles = 2\nrequire_convergence = false"))
    assert status == 0
    assert summary["spinup"]["converged"] is False and summary["spinup"]["cycles"] == 2
    assert "not converged" in caplog.text
    # its file is refused by a hot start that requires convergence
    from pdafpy.run import main
    config = tmp_path / "hot.toml"
    config.write_text(_text(spinup=f'max_cycles = 2\nfile = "{tmp_path / "lenient"}'
                                   '/spinup.nc"'))
    assert main([str(config), "--check", "-q"]) == 2
    assert "its spin-up did not converge" in capsys.readouterr().err


# ------------------------------------------------------------------ layouts, restarts, models
def test_one_and_two_model_tasks_spin_up_the_same_states(spun, tmp_path):
    pytest.importorskip("petsc4py")
    from models.landda.faults import run_pdafpy

    folder, _ = spun
    proc = run_pdafpy([folder / "spun.toml", "--out", tmp_path / "two", "--tasks", "2", "-q"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert same_variables(netcdf_variables(folder / "spun" / "spinup.nc"),
                 netcdf_variables(tmp_path / "two" / "spinup.nc"))
    for name in ("assimilation", "open_loop", "truth"):
        assert same_variables(netcdf_variables(folder / "spun" / f"{name}.00000.nc"),
                     netcdf_variables(tmp_path / "two" / f"{name}.00000.nc")), name


def test_a_restart_keeps_the_spin_up_in_the_summary(spun, tmp_path):
    pytest.importorskip("petsc4py")
    from pdafpy.run import main

    folder, runs = spun
    half = tmp_path / "half.toml"
    half.write_text(_text(days=0.5, checkpoint_every=1))
    assert main([str(half), "--out", str(tmp_path / "out"), "-q"]) == 0
    whole = tmp_path / "whole.toml"
    whole.write_text(_text(days=1.0, checkpoint_every=1))
    assert main([str(whole), "--out", str(tmp_path / "out"), "--restart",
                 str(tmp_path / "out" / "checkpoint.h5"), "-q"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    expected = dict(runs["spun"][1]["spinup"], file=str(tmp_path / "out" / "spinup.nc"))
    assert summary["spinup"] == expected
    assert summary["variables"] == runs["spun"][1]["variables"]


def test_the_stand_alone_land_model_spins_up(tmp_path):
    pytest.importorskip("petsc4py")
    from land_runs import run_config

    status, summary = run_config(tmp_path, "land", _text("free", model="land"))
    assert status == 0 and summary["spinup"]["converged"] is True
    f = netcdf_variables(tmp_path / "land" / "spinup.nc")
    assert f["run"].tolist() == [0, 1]                        # a free run's members
    assert np.all(f["storage_change_mm"][-1] < TOLERANCE_MM)


# ------------------------------------------------------------------ pieces
def test_each_key_is_spun_up_once_unless_the_tasks_need_more_runs():
    from models.landda.spinup import spinup_keys

    twin = RunGroups.for_mode("twin", 3)                       # keys 0 1 2 0 1 2 3
    assert spinup_keys(twin, 1).tolist() == [0, 1, 2, 3]
    assert spinup_keys(twin, 4).tolist() == [0, 1, 2, 3]
    assert spinup_keys(twin, 5).tolist() == twin.keys().tolist()
    sekf = RunGroups.sekf(3, truth=True, open_loop=True, truth_key=4)
    assert spinup_keys(sekf, 2).tolist() == [0, 4]


def test_column_storage_sums_soil_canopy_and_snow():
    from models.landda.spinup import column_storage_mm
    from pdafpy.decomposition import Box
    from pdafpy.model import FieldSpec
    from pdafpy.state import StateLayout

    layout = StateLayout((FieldSpec("water_content", 2), FieldSpec("canopy_water", 1),
                          FieldSpec("swe", 1)), Box(0, 1, 0, 2))
    ens = np.zeros((2, layout.size))
    layout.view(ens, "water_content")[:] = [[[[0.1, 0.2]], [[0.3, 0.4]]],
                                            [[[0.2, 0.2]], [[0.2, 0.2]]]]
    layout.view(ens, "canopy_water")[1] = 0.5
    layout.view(ens, "swe")[1, 0, 0, 1] = 2.0
    storage = column_storage_mm(layout, ens, np.array([0.1, 0.5]))
    assert np.allclose(storage, [[[160.0, 220.0]], [[120.5, 122.5]]])


@pytest.mark.parametrize("table, message", [
    ({"window_days": 0.0}, "spinup.window_days"),
    ({"max_cycles": 0}, "spinup.max_cycles"),
    ({"tolerance": 1.0}, "spinup.tolerance: unknown key"),
])
def test_the_spinup_table_is_checked(table, message):
    from models.landda.setup import load

    from pdafpy.errors import ConfigError
    with pytest.raises(ConfigError, match=message):
        load({"spinup": table})


def test_no_spinup_table_means_no_spin_up():
    from models.landda.setup import load
    from models.landda.spinup import SpinupSection, spinup_section

    assert spinup_section(load(None)[1]) is None
    assert spinup_section(load({"spinup": {}})[1]) == SpinupSection()

"""scripts/twin_design.py: the ceiling on the wells' ubRMSE reduction of a twin design."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("petsc4py")

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("twin_design", ROOT / "scripts/twin_design.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_steady_drift_reset_weekly_leaves_the_sawtooth_in_closed_form():
    # error 0.1 m/day at one well over 14 days: the open loop's ubRMSE is the standard deviation
    # of 0.1 x (1..14), 0.1 sqrt((14^2 - 1) / 12); weekly resets leave 0.1 x (0..6), twice,
    # whose standard deviation is 0.1 sqrt((7^2 - 1) / 12) = 0.2
    days = np.arange(15.0)
    truth = np.zeros((15, 2, 3))
    members = np.zeros((4, 15, 2, 3))
    members[:, :, 1, 2] = 0.1 * days[:, None].T
    network = {"rows": np.array([1]), "cols": np.array([2]), "interval_days": 7.0}
    got = _script().reset_ceiling(truth, members, network)
    ol = 0.1 * np.sqrt((14 ** 2 - 1) / 12.0)
    assert got["open_loop_ubrmse_m"] == pytest.approx(ol, rel=1e-12)
    assert got["reset_ubrmse_m"] == pytest.approx(0.2, rel=1e-12)
    assert got["ceiling"] == pytest.approx(1.0 - 0.2 / ol, rel=1e-12)


def test_a_bias_alone_has_no_unbiased_error_to_remove():
    truth = np.zeros((15, 2, 2))
    members = np.full((3, 15, 2, 2), 0.4)
    got = _script().reset_ceiling(truth, members, {"rows": np.array([0]),
                                                   "cols": np.array([1]), "interval_days": 7.0})
    assert got["open_loop_ubrmse_m"] == pytest.approx(0.0, abs=1e-15)
    assert got["ceiling"] == 0.0


def test_the_script_runs_a_small_twin_and_writes_its_record(tmp_path, capsys):
    config = tmp_path / "small.toml"
    config.write_text('[grid]\nnx = 4\nny = 3\ndz_m = [0.05, 0.1, 0.35, 0.5, 1.0, 2.0]\n'
                      '[schedule]\nlength_days = 2.0\n[ensemble]\nsize = 4\n'
                      '[[observations]]\ntype = "groundwater_level"\nerror = 0.1\n'
                      'interval_h = 24.0\ncount = 6\nwithheld_fraction = 0.5\n')
    out = tmp_path / "design.json"
    assert _script().main([str(config), "--members", "2", "--json", str(out)]) == 0
    record = json.loads(out.read_text())
    assert record["members"] == 2 and record["days"] == 2 and len(record["per_well"]) == 3
    assert record["open_loop_ubrmse_m"] >= 0.0 and record["ceiling"] <= 1.0
    assert "ceiling of the wells' ubRMSE reduction" in capsys.readouterr().out

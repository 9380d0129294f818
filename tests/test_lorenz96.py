"""Lorenz-96 and a short run of the Sakov & Oke (2008) benchmark (full run: pdafpy bench l96)."""

from __future__ import annotations

import numpy as np
import pytest

from models.lorenz96 import Lorenz96Model, rk4_step, tendency
from models.lorenz96_benchmark import EXPERIMENTS, run_experiment


def test_tendency_matches_the_equation():
    x = np.arange(6.0)
    i = 2
    expected = (x[i + 1] - x[i - 2]) * x[i - 1] - x[i] + 8.0
    assert tendency(x, 8.0)[i] == pytest.approx(expected)


def test_rk4_is_fourth_order():
    x0 = 8.0 + np.sin(np.arange(40))
    def run(dt):
        x = x0.copy()
        for _ in range(int(round(0.2 / dt))):
            x = rk4_step(x, dt)
        return x
    ref = run(0.0005)
    e1, e2 = np.abs(run(0.02) - ref).max(), np.abs(run(0.01) - ref).max()
    assert 3.6 < np.log2(e1 / e2) < 4.4


def test_model_protocol_advance():
    model = Lorenz96Model.create(None, {"n": 40})
    model.set_state(0, {"x": np.full((1, 1, 40), 8.0)})
    model.advance(0.0, 0.5)
    assert np.allclose(model.get_state()["x"], 8.0)           # the fixed point stays


@pytest.mark.parametrize("name", ["ETKF N=24", "LETKF N=7"])
def test_short_run_is_near_the_published_rmse(name):
    exp = next(e for e in EXPERIMENTS if e.name.startswith(name))
    rec = run_experiment(exp, cycles=1500, seed=2)
    assert not rec["diverged"]
    assert abs(rec["rmse"] - exp.expected) <= 0.035            # short runs scatter more

"""The performance model: each term as its formula says, linear where it should be."""

from __future__ import annotations

import pytest

from pdafpy.performance import Costs, Setup, predict

SETUP = Setup(nx=10, ny=20, nz=5, runs=9, members=8, hours=100.0, analyses=4,
              elements_per_column=26, local_obs=16.0, cores=4, records=4)


def test_the_forecast_term_is_cells_hours_runs_cost_over_cores_and_efficiency():
    p = predict(SETUP, Costs(forecast_s=2e-6, model_efficiency=0.5))
    assert p.seconds["forecast"] == pytest.approx(1000 * 100.0 * 9 * 2e-6 / (4 * 0.5))


def test_doubling_the_period_doubles_forecast_and_analyses_but_not_their_unit_costs():
    costs = Costs(forecast_s=1e-6)
    one = predict(SETUP, costs)
    two = predict(Setup(**{**SETUP.__dict__, "hours": 200.0, "analyses": 8, "records": 8}),
                  costs)
    for phase in one.seconds:
        assert two.seconds[phase] == pytest.approx(2 * one.seconds[phase])
    assert two.core_s_per_cell_hour == pytest.approx(one.core_s_per_cell_hour)
    assert 0.0 < one.analysis_fraction < 1.0


def test_the_transform_scales_with_the_cube_of_the_local_observations():
    costs = Costs(forecast_s=0.0, apply_s=0.0, io_bandwidth=1e30, bandwidth=1e30,
                  latency_s=0.0)
    a = predict(SETUP, costs).seconds["analysis"]
    b = predict(Setup(**{**SETUP.__dict__, "local_obs": 32.0}), costs).seconds["analysis"]
    assert b == pytest.approx(8 * a)

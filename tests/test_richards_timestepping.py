"""The step controller grows, cuts and lands exactly on the requested end time."""

import pytest

from pdafpy.errors import ConfigError
from models.richards.timestepping import StepController


def test_steps_land_exactly_on_the_end_time_without_slivers():
    c = StepController(dt=100.0, dt_max=100.0)
    t, steps = 0.0, []
    while t < 1050.0:
        dt = c.propose(t, 1050.0)
        steps.append(dt)
        t = 1050.0 if dt == 1050.0 - t else t + dt
    assert t == 1050.0
    assert min(steps) >= 50.0 and max(steps) <= 120.0


def test_easy_steps_grow_hard_steps_shrink_failures_cut():
    c = StepController(dt=10.0, dt_max=1e4)
    c.accept(10.0, 2, 0.01)
    assert c.dt == 15.0
    c.accept(15.0, 12, 0.01)
    assert c.dt == pytest.approx(10.5)
    c.reject()
    assert c.dt == pytest.approx(5.25)
    c.accept(5.25, 2, 50.0)                   # large pressure change limits growth
    assert c.dt < 5.25


def test_controller_state_round_trips():
    c = StepController(dt=7.0)
    c.accept(7.0, 1, 0.1)
    assert StepController.from_state(c.state()) == c


def test_bad_step_bounds_are_rejected():
    with pytest.raises(ConfigError, match="dt_min_s"):
        StepController(dt_min=10.0, dt_max=1.0)

"""The step controller grows, cuts and lands exactly on the requested end time; the Newton
update corrections keep a saturated cell from overshooting its own balance."""

import numpy as np
import pytest

from pdafpy.errors import ConfigError
from models.richards.timestepping import StepController


def _intervals(c: StepController, ends, its: int = 3, max_dh: float = 0.01):
    """The steps the controller takes to each interval end, all accepted after ``its``
    iterations (the solver's loop: ``t`` snaps to the end on the last step)."""
    t, out = 0.0, []
    for end in ends:
        steps = []
        while t < end:
            dt = c.propose(t, end)
            c.accept(dt, its, max_dh)
            t = end if dt == end - t else t + dt
            steps.append(dt)
        assert t == end
        out.append(steps)
    return out


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


def test_after_a_short_step_forced_by_the_interval_end_the_next_interval_takes_one_step():
    # the old controller wanted 2025 s, split each hour into two equal 1800 s steps and never
    # grew from them: two steps per hour for good
    c = StepController(dt=2025.0, dt_max=3600.0)
    steps = _intervals(c, [3600.0 * k for k in range(1, 6)])
    assert steps[0] == [2025.0, 1575.0]         # the wanted step is tested, then the remainder
    assert steps[1:] == [[3600.0]] * 4          # it grew: one step per coupling interval


def test_steps_land_exactly_on_interval_ends_that_are_not_multiples_of_the_step():
    c = StepController(dt=700.0, dt_max=700.0)
    ends = [1000.0, 2500.0, 2600.0, 9999.5]
    steps = _intervals(c, ends, its=8)
    assert [len(s) for s in steps] == [2, 2, 1, 11]
    assert max(max(s) for s in steps) <= 700.0 * 1.2


def test_dt_grows_after_successful_steps_with_a_bounded_ratio():
    c = StepController(dt=100.0, dt_max=1e5)
    c.accept(100.0, 2, 0.0)                     # 8/2 = 4, bounded to grow = 1.5
    assert c.dt == 150.0
    c.accept(150.0, 0, 0.0)                     # nothing to solve: grow
    assert c.dt == 225.0
    c.accept(225.0, 6, 0.0)                     # fewer iterations than the target of 8
    assert c.dt == pytest.approx(300.0)
    c.accept(300.0, 8, 0.0)                     # on target: kept
    assert c.dt == pytest.approx(300.0)
    c.accept(300.0, 10, 0.0)                    # above it: shrunk in proportion
    assert c.dt == pytest.approx(240.0)
    c.accept(240.0, 25, 0.0)                    # bounded to shrink = 0.7
    assert c.dt == pytest.approx(168.0)


def test_a_short_step_never_grows_the_wanted_step_but_a_hard_one_cuts_it():
    c = StepController(dt=1000.0, dt_max=1e4)
    c.accept(300.0, 2, 0.01)
    assert c.dt == 1000.0
    c.accept(300.0, 16, 0.01)
    assert c.dt == pytest.approx(700.0)


def test_a_stretched_step_grows_from_the_step_taken_and_the_head_change_limits_it():
    c = StepController(dt=1000.0, dt_max=1e4)
    assert c.propose(0.0, 1150.0) == 1150.0
    c.accept(1150.0, 4, 0.0)
    assert c.dt == pytest.approx(1725.0)
    c.accept(1725.0, 2, 1.25 * c.dh_target)    # a quarter above the wanted head change
    assert c.dt == pytest.approx(1380.0)
    c.accept(1380.0, 2, 10.0 * c.dh_target)    # far above it: bounded to shrink = 0.7
    assert c.dt == pytest.approx(966.0)


def test_dry_cells_count_their_head_change_relative_to_the_head():
    c = StepController(dry_head=10.0)
    h0 = np.array([-2.0, -80.0, 0.5])
    # wet cell: 0.5 m counts as 0.5 m; dry cell: 8 m at -72..-80 m counts as 8 * 10 / 72
    h1 = np.array([-1.5, -72.0, 3.0])
    assert c.head_change(h0, h1) == pytest.approx(8.0 * 10.0 / 72.0)
    h1 = np.array([-0.5, -79.0, 3.0])                  # now the wet cell's 1.5 m is the largest
    assert c.head_change(h0, h1) == pytest.approx(1.5)
    # a cell crossing -10 m counts at its wetter end's magnitude: 12 m from -20 to -8 is 12 m
    assert c.head_change(np.array([-20.0]), np.array([-8.0])) == pytest.approx(12.0)
    # saturated at both ends: no limit, whatever the change
    assert c.head_change(np.array([0.1]), np.array([5.0])) == 0.0
    with pytest.raises(ConfigError, match="dry_head"):
        StepController(dry_head=0.0)


def test_a_checkpoint_of_the_earlier_controller_is_read():
    old = {"dt": 900.0, "dt_min": 1e-3, "dt_max": 3600.0, "fixed": False, "grow": 1.5,
           "shrink": 0.7, "cut": 0.5, "easy_iterations": 4, "hard_iterations": 8,
           "dh_target": 5.0, "max_cuts": 12, "stretch": 0.2}
    c = StepController.from_state(old)
    assert c.dt == 900.0 and c.target_iterations == 8.0


# ------------------------------------------------------------------ solver-level (one column)
petsc4py = pytest.importorskip("petsc4py")


def _column(h_init, top=None, ss=1e-4, controller=None, options=None):
    from petsc4py import PETSc

    from models.richards import cases
    from models.richards.boundary import Head

    dz = [0.05] * 4 + [0.1] * 4 + [0.25] * 4
    s = cases.make_solver(PETSc.COMM_SELF, nx=1, ny=1, dz=dz, dx=10.0, dy=10.0,
                          soil=dict(cases._vg("sandy_loam"), ss=ss),
                          boundaries={"top": top, "bottom": Head(0.0)},
                          controller=controller, options=options)
    s.set_head(np.broadcast_to(np.asarray(h_init, float)[:, None, None],
                               s.grid.owned_shape).copy())
    return s


def test_a_draining_column_lands_on_each_interval_end_and_takes_one_step_when_dt_allows():
    depth = np.cumsum([0.05] * 4 + [0.1] * 4 + [0.25] * 4) - 0.5 * np.asarray(
        [0.05] * 4 + [0.1] * 4 + [0.25] * 4)
    s = _column(depth - 0.5, controller=StepController(dt=2025.0, dt_max=3600.0))
    try:
        counts = []
        for k in range(3):
            before = s.stats.steps
            s.advance(3600.0 * k, 3600.0 * (k + 1))
            assert s.t == 3600.0 * (k + 1)
            counts.append(s.stats.steps - before)
        assert counts[-1] == 1
        assert s.balance.relative_error <= 1e-9
    finally:
        s.destroy()


def _newton_update(s, dt):
    """Set up a step of ``dt`` from the current head and return (X, Y) of the first Newton
    iteration, the Jacobian formed at X (PETSc's update is X - Y)."""
    from petsc4py import PETSc

    s._h0 = s.get_head()
    s._theta0 = s.disc.theta_owned(s._h0)
    s._dt, s._steady = dt, False
    X = s.h.copy()
    F = X.duplicate()
    s._form_function(None, X, F)
    s._form_jacobian(None, X, s.J, s.J)
    ksp = PETSc.KSP().create(PETSc.COMM_SELF)
    ksp.setOperators(s.J)
    ksp.setType("preonly")
    ksp.getPC().setType("lu")
    Y = X.duplicate()
    ksp.solve(F, Y)
    ksp.destroy()
    return X, F, Y


def test_a_saturated_cell_crossing_zero_takes_the_root_of_its_own_row():
    # a saturated column held at h = 0 below: the cells near h = 0 drain in the step, and the
    # linear model, which sees only Ss there, sends them far into the unsaturated range
    depth = np.cumsum([0.05] * 4 + [0.1] * 4 + [0.25] * 4) - 0.5 * np.asarray(
        [0.05] * 4 + [0.1] * 4 + [0.25] * 4)
    s = _column(0.02 + 0.0 * depth)
    try:
        X, F, Y = _newton_update(s, 60.0)
        h, y = X.getArray(readonly=True).copy(), Y.getArray().copy()
        idx = s.correction.candidates(h, y)
        crossing = idx[(h[idx] >= 0) & (h[idx] - y[idx] < 0)]
        assert crossing.size                     # the situation the correction is for
        yc = y.copy()
        assert s.correction.own_row(h, yc, idx, s._jac_diag, s._h0)
        moved = np.flatnonzero(yc != y)
        assert np.all(np.abs(yc[moved]) < np.abs(y[moved]))       # shorter, same direction
        assert np.all(np.sign(yc[moved]) == np.sign(y[moved]))
        # each corrected cell satisfies its own row with the exact storage
        J = s._jac_diag
        ret = s.disc.retention_owned
        shape = s.grid.owned_shape

        def storage(hh):
            th = ret.evaluate(hh.reshape(shape), derivatives=False)[0].ravel()
            return th + s.disc.ss.ravel() * th / s.disc.theta_s.ravel() * (hh - s._h0.ravel())

        th, dth = [a.ravel() for a in ret.evaluate(h.reshape(shape), derivatives=True)[:2]]
        ss, ts = s.disc.ss.ravel(), s.disc.theta_s.ravel()
        da = dth + ss * ((dth / ts) * (h - s._h0.ravel()) + th / ts)
        d = -yc[moved]
        phi = J[moved] * (d + y[moved]) + storage(h - yc)[moved] - storage(h)[moved] \
            - da[moved] * d
        assert np.all(np.abs(phi) <= 1e-2 * np.abs(J[moved] * y[moved]))
    finally:
        s.destroy()


def test_no_cell_changes_its_effective_saturation_by_more_than_the_limit_in_one_iteration():
    from models.richards.boundary import Atmospheric

    depth = np.cumsum([0.05] * 4 + [0.1] * 4 + [0.25] * 4) - 0.5 * np.asarray(
        [0.05] * 4 + [0.1] * 4 + [0.25] * 4)
    s = _column(depth - 3.0, top=Atmospheric(20e-3 / 3600.0, h_max=0.0))   # storm on dry soil
    try:
        X, F, Y = _newton_update(s, 3600.0)
        h = X.getArray(readonly=True).copy()
        Yc = Y.copy()
        assert s._precheck(X, Yc)
        ret = s.disc.retention_owned
        p = ret.params

        def se(hh):
            th = ret.evaluate(hh.reshape(s.grid.owned_shape), derivatives=False)[0]
            return ((th - p["theta_r"]) / (p["theta_s"] - p["theta_r"])).ravel()

        assert np.max(np.abs(se(h - Y.getArray())) - se(h)) > s.correction.desaturation_limit
        limit = s.correction.desaturation_limit
        assert np.max(np.abs(se(h - Yc.getArray()) - se(h))) <= limit + 1e-9
    finally:
        s.destroy()


def test_the_corrections_leave_the_converged_step_within_the_newton_tolerance():
    # the same step with and without the own-row correction: the same solution to the
    # tolerance (the correction changes the path, not the equations)
    depth = np.cumsum([0.05] * 4 + [0.1] * 4 + [0.25] * 4) - 0.5 * np.asarray(
        [0.05] * 4 + [0.1] * 4 + [0.25] * 4)
    heads = []
    for on in ("true", "false"):
        s = _column(depth - 0.5, controller=StepController(dt=600.0, dt_max=600.0, fixed=True),
                    options={"own_row_correction": on, "snes_rtol": 1e-12, "snes_atol": 1e-14,
                             "snes_stol": 1e-16, "ksp_rtol": 1e-12})
        try:
            s.advance(0.0, 1800.0)
            heads.append(s.get_head())
        finally:
            s.destroy()
    np.testing.assert_allclose(heads[0], heads[1], rtol=0, atol=1e-7)

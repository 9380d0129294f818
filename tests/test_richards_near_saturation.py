"""Newton updates near saturation are taken in ``z = -(alpha |h|)^(n-1)``
(:meth:`Retention.newton_step_near_saturation`): the map, and a clay column whose solution sits
within rounding of ``h = 0`` (``kr`` well below 1), which crawled without it."""

import numpy as np
import pytest

from models.richards.retention import Retention

PARAMS = {"theta_r": 0.1, "theta_s": 0.4, "alpha": 2.0, "n": 1.1}


def _z(h: np.ndarray, alpha: float, n: float) -> np.ndarray:
    """The variable of the map: ``-(alpha |h|)^(n-1)`` below saturation, ``alpha h`` above."""
    return np.where(h < 0, -np.abs(alpha * h) ** (n - 1.0), alpha * h)


def _mapped(ret: Retention, h: np.ndarray, y: np.ndarray) -> np.ndarray:
    cells, updates = ret.newton_step_near_saturation(h, y)
    out = y.copy()
    out[cells] = updates
    return out


def test_an_update_below_saturation_is_the_newton_update_in_z():
    ret = Retention("van_genuchten", PARAMS)
    a, n = PARAMS["alpha"], PARAMS["n"]
    h = np.array([-1e-12, -1e-6, -1e-3, -0.1, -0.3])
    y = np.array([-5e-13, 2e-6, 4e-4, -0.02, 0.05])          # wetting and drying
    ym = _mapped(ret, h, y)
    assert np.all(ym != y)
    dz_dh = (n - 1.0) * a * (-a * h) ** (n - 2.0)
    np.testing.assert_allclose(_z(h - ym, a, n), _z(h, a, n) - dz_dh * y, rtol=1e-12)
    assert np.all(h - ym < 0) and np.all(h - ym > -1.0 / a)


def test_the_map_differs_from_the_update_by_terms_of_second_order():
    ret = Retention("van_genuchten", PARAMS)
    h = np.full(3, -0.1)
    y = np.array([1e-4, 1e-5, 1e-6])
    gap = np.abs(_mapped(ret, h, y) - y)
    np.testing.assert_allclose(gap[1:] / gap[:-1], 0.01, rtol=0.05)


def test_a_saturated_cell_leaving_saturation_lands_at_its_z_not_metres_below():
    ret = Retention("van_genuchten", PARAMS)
    a, p = PARAMS["alpha"], PARAMS["n"] - 1.0
    h = np.array([0.0, 0.3])
    y = np.array([0.1, 0.5])                                    # ends at -0.1 and -0.2 m
    ym = _mapped(ret, h, y)
    np.testing.assert_allclose(h - ym, -(a * np.abs(h - y)) ** (1.0 / p) / a, rtol=1e-12)
    assert np.all(h - ym < 0) and np.all(np.abs(h - ym) < 1e-3 * np.abs(h - y))
    # a target below the rounding of h: the cell lands at h = 0, saturated, as near as it gets
    h, y = np.array([1e-9]), np.array([2e-9])
    assert _mapped(ret, h, y)[0] == 1e-9


def test_updates_that_reach_saturation_or_leave_the_last_inverse_alpha_are_kept():
    ret = Retention("van_genuchten", PARAMS)
    h = np.array([-1e-8, 0.2, 0.1, -0.4, -0.6, -1.0])
    y = np.array([-1e-3, 0.1, -0.3, -5.0, 0.1, 0.01])
    # reaches h >= 0 (z_1 >= 0); stays saturated; both; reaches h > 0; leaves z > -1;
    # starts beyond 1/alpha
    cells, _ = ret.newton_step_near_saturation(h, y)
    assert cells.size == 0
    assert ret.newton_step_near_saturation(np.array([-0.1]), np.array([0.0]))[0].size == 0


def test_gardner_and_van_genuchten_with_n_of_2_or_more_are_left_alone():
    h, y = np.array([-1e-3, 0.0]), np.array([1e-3, 1e-3])
    assert Retention("gardner", PARAMS).newton_step_near_saturation(h, y)[0].size == 0
    assert Retention("van_genuchten", dict(PARAMS, n=2.0)).newton_step_near_saturation(
        h, y)[0].size == 0


def test_the_map_broadcasts_per_cell_parameters():
    params = dict(PARAMS, alpha=np.array([[1.0], [3.0]]), n=np.array([[1.1], [1.5]]))
    ret = Retention("van_genuchten", params)
    h = np.full((2, 3), -0.01)
    y = np.full((2, 3), 1e-3)
    cells, updates = ret.newton_step_near_saturation(h, y)
    assert cells.size == 6
    for row, (a, n) in enumerate(((1.0, 1.1), (3.0, 1.5))):
        one = Retention("van_genuchten", dict(PARAMS, alpha=a, n=n))
        np.testing.assert_allclose(updates.reshape(2, 3)[row],
                                   _mapped(one, h[row], y[row]), rtol=1e-14)


# ------------------------------------------------------------------------- a clay column
def _clay_column(comm, near_saturation_step: str, nx: int = 1, options=None):
    """A clay column (``n = 1.1``) under infiltration at 0.9 ``Ks`` over a water table at its
    bottom face: at steady state ``kr = 0.9`` with unit gradient, so ``h = -1.3e-13`` m."""
    from models.richards import cases
    from models.richards.boundary import Flux, Head
    from models.richards.timestepping import StepController

    dz = [0.05] * 4 + [0.1] * 4 + [0.25] * 4
    soil = dict(cases._vg("vdb_clay"), ss=1e-4)
    ks = soil["ks"] * (1.0 + 0.1 * np.arange(nx))                 # per column
    soil["ks"] = ks[None, :]
    s = cases.make_solver(comm, nx=nx, ny=1, dz=dz, dx=10.0, dy=10.0, soil=soil,
                          boundaries={"top": Flux(0.9 * ks.min()), "bottom": Head(0.0)},
                          controller=StepController(dt=600.0, dt_max=3600.0),
                          options=dict(options or {}, near_saturation_step=near_saturation_step))
    depth = np.cumsum(dz) - 0.5 * np.asarray(dz)
    s.set_head(np.broadcast_to((depth - 2.0)[:, None, None], s.grid.owned_shape).copy())
    return s


def test_a_clay_column_at_the_kink_converges_without_crawling():
    from petsc4py import PETSc

    runs = {}
    for on in ("true", "false"):
        s = _clay_column(PETSc.COMM_SELF, on)
        try:
            s.advance(0.0, 24 * 3600.0)
            runs[on] = (s.stats, s.get_head())
        finally:
            s.destroy()
    on, off = runs["true"][0], runs["false"][0]
    assert off.rejected >= 5                    # without the map: cut steps, 15 Newton its a step
    assert on.rejected == 0 and on.stalled_accepted == 0
    assert on.newton_its < 0.1 * off.newton_its
    h = runs["true"][1]
    assert np.all(h < 0) and np.all(h > -1e-9)  # kr = 0.9 within rounding of h = 0
    np.testing.assert_allclose(h, runs["false"][1], rtol=0, atol=1e-9)


@pytest.mark.mpi(min_size=2)
def test_one_and_two_ranks_take_the_same_steps_at_the_kink():
    from petsc4py import PETSc

    options = {"snes_ksp_ew": "false", "ksp_rtol": 1e-13}      # the same linear solves
    out = {}
    for name, comm in (("serial", PETSc.COMM_SELF), ("split", PETSc.COMM_WORLD)):
        s = _clay_column(comm, "true", nx=4, options=options)
        try:
            s.advance(0.0, 12 * 3600.0)
            out[name] = (s.stats.steps, s.stats.newton_its, s.grid.gather(s.get_head()))
        finally:
            s.destroy()
    assert out["serial"][:2] == out["split"][:2]
    np.testing.assert_allclose(out["serial"][2], out["split"][2], rtol=0, atol=1e-12)

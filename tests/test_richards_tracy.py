"""Tracy (2006) 3D Gardner solution: steady accuracy and convergence order."""

import numpy as np
import pytest

petsc4py = pytest.importorskip("petsc4py")
from petsc4py import PETSc  # noqa: E402

from models.richards import cases  # noqa: E402
from models.richards.analytic import TracyProblem, tracy_3d, tracy_top_head  # noqa: E402


def test_tracy_series_at_late_time_approaches_the_steady_state_and_fits_the_top():
    p = TracyProblem()
    x, y = np.meshgrid(np.linspace(0.5, 14.7, 7), np.linspace(0.5, 14.7, 7))
    top = tracy_3d(p, x, y, p.L, t=None)
    np.testing.assert_allclose(top, tracy_top_head(p, x, y), rtol=1e-12)
    z = np.linspace(0.1, p.L - 0.1, 9)[:, None, None]
    np.testing.assert_allclose(tracy_3d(p, x, y, z, t=1e9), tracy_3d(p, x, y, z), rtol=1e-12)


def test_tracy_steady_upstream_error_falls_with_refinement_10_to_20():
    e10 = cases.tracy_steady(PETSc.COMM_WORLD, 10)["rel_l2"]
    e20 = cases.tracy_steady(PETSc.COMM_WORLD, 20)["rel_l2"]
    assert e20 < e10
    assert np.log2(e10 / e20) >= 0.5


@pytest.mark.slow
def test_tracy_steady_upstream_40_cubed_error_below_3e_2_and_order_at_least_half():
    e = [cases.tracy_steady(PETSc.COMM_WORLD, n)["rel_l2"] for n in (10, 20, 40)]
    assert e[2] <= 3e-2
    order = np.polyfit(np.log([10, 20, 40]), -np.log(e), 1)[0]
    assert order >= 0.5


@pytest.mark.slow
def test_tracy_steady_arithmetic_kr_order_at_least_1_2():
    e = [cases.tracy_steady(PETSc.COMM_WORLD, n, "arithmetic")["rel_l2"] for n in (10, 20, 40)]
    order = np.polyfit(np.log([10, 20, 40]), -np.log(e), 1)[0]
    assert order >= 1.2

"""Hydrostatic equilibrium stays put; the water balance closes to solver tolerance."""

import pytest

petsc4py = pytest.importorskip("petsc4py")
from petsc4py import PETSc  # noqa: E402

from models.richards import cases  # noqa: E402


def test_layered_3d_hydrostatic_equilibrium_drifts_less_than_1e_8_m_in_10_days():
    out = cases.hydrostatic(PETSc.COMM_WORLD, days=10.0)
    assert out["max_abs_dh"] <= 1e-8
    assert out["steps"] > 5


def test_water_balance_of_30_days_rain_and_evaporation_closes_to_1e_8():
    out = cases.water_balance(PETSc.COMM_WORLD, days=30.0)
    assert out["relative_error"] <= 1e-8
    assert out["gross_m3"] > 100.0          # the check is not vacuous
    assert out["runoff_m3"] > 0.0           # ponding was exercised

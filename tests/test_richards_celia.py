"""Celia et al. (1990): infiltration front position and mass balance (1D, serial)."""

import pytest

petsc4py = pytest.importorskip("petsc4py")
from petsc4py import PETSc  # noqa: E402

from models.richards import cases  # noqa: E402


def test_celia_front_within_2_cm_and_mass_balance_ratio_within_1e_6():
    out = cases.celia(PETSc.COMM_SELF, dz=0.0025)
    assert abs(out["depth_200_cm"] - 53.5) <= 2.0
    assert abs(out["depth_500_cm"] - 56.6) <= 2.0
    assert abs(out["depth_900_cm"] - 57.4) <= 2.0
    assert abs(out["mass_balance_ratio"] - 1.0) <= 1e-6

"""The same 3D problem on one rank and on all ranks agrees to 1e-8 relative in h."""

import numpy as np
import pytest

petsc4py = pytest.importorskip("petsc4py")
from petsc4py import PETSc  # noqa: E402

from models.richards import cases  # noqa: E402


@pytest.mark.mpi(min_size=2)
def test_pressure_head_is_independent_of_the_number_of_ranks():
    one = cases.decomposition(PETSc.COMM_SELF)
    many = cases.decomposition(PETSc.COMM_WORLD)
    rel = np.abs(one - many).max() / np.abs(one).max()
    assert rel <= 1e-8

"""Shared test fixtures: where PDAF's reference data lives, and MPI helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pdafpy.parallel import limit_threads

limit_threads()

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PDAFPY_SHARED", REPO.parent / "shared"))
TUTORIAL = SHARED / "pdaf-tutorial"


@pytest.fixture(scope="session")
def tutorial_refs() -> Path:
    """PDAF's tutorial inputs and reference outputs (../shared/pdaf-tutorial)."""
    if not (TUTORIAL / "verification").is_dir():
        pytest.skip(f"PDAF's tutorial reference data not found at {TUTORIAL} "
                    "(set PDAFPY_SHARED to the folder holding pdaf-tutorial/)")
    return TUTORIAL


@pytest.fixture(scope="session")
def world():
    """MPI.COMM_WORLD (the tests run serially or under mpirun)."""
    from mpi4py import MPI
    return MPI.COMM_WORLD

"""pdafpy reproduces PDAF's own tutorial reference outputs (max |difference| <= 1e-9)."""

from __future__ import annotations

import shutil

import pytest

from pdafpy.verify_tutorial import CASES, TOLERANCE, run_case

pytestmark = pytest.mark.skipif(shutil.which("mpirun") is None, reason="mpirun not installed")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_tutorial_case_matches_pdaf_reference(case, tutorial_refs, tmp_path):
    record = run_case(case, tutorial_refs, tmp_path)
    assert record["error"] == ""
    assert record["files"] >= 10
    assert record["max_abs_diff"] <= TOLERANCE

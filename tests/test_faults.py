"""The quick subset of ``pdafpy verify faults``: real 2-rank runs of a tiny twin with one fault
each, every job under a timeout that fails the case (models/landda/verify_faults.py has them all).

Each case asserts that the job ends within 60 s, its exit status and one-line message, that the
closed segments and the checkpoint open, and, for crashes, that the restart from the last
checkpoint reproduces the uninterrupted run bit for bit.
"""

from __future__ import annotations

import pytest

from models.landda.verify_faults import CASES, Workspace, run_case

pytest.importorskip("petsc4py")
pytest.importorskip("netCDF4")

QUICK = ("sigterm_rank", "disk_full", "concurrent_runs", "truncated_checkpoint",
         "out_of_range_obs")


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    return Workspace(tmp_path_factory.mktemp("faults"))


@pytest.mark.parametrize("case", QUICK)
def test_fault(workspace, case):
    outcome = run_case(case, workspace)
    assert outcome.status == "pass", outcome.detail


def test_the_suite_covers_the_faults_of_the_reliability_issue():
    wanted = {"kill9_rank", "sigint_rank", "sigterm_rank", "sigint_mpirun", "sigterm_mpirun",
              "disk_full", "read_only_output", "truncated_checkpoint", "foreign_checkpoint",
              "nan_observation", "out_of_range_obs", "truncated_forcing", "concurrent_runs",
              "diverging_member"}
    assert wanted <= set(CASES)

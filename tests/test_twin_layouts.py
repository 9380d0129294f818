"""The twin experiment does not depend on the parallel layout.

A tiny twin (4 x 3 columns of 6 layers, 4 members, 2 days: 2 analyses) runs once per layout, as
``mpirun`` subprocesses: 1 rank (1 task), 2 ranks as 1 task and as 2 tasks, 4 ranks as 2 tasks of 2
ranks. Measured (2 cores, Open MPI 4.1.4, PETSc 3.18.5):

- runs whose model tasks have the same number of ranks are bit-identical, whatever the number of
  tasks: the member order on a task and the transfer to the filter change nothing;
- runs with 1 and 2 ranks per task differ by at most 4.1e-12 relative in the analysis records
  of water content (4.2e-12 in the forecast records): the PETSc solve of a member on 2 ranks sums
  in another order. The issue's bound is 1e-6.

The analysis alone on 1, 2 and 4 filter ranks is covered by
``tests/test_landda.py::test_land_analysis_identical_on_any_number_of_ranks``; here the analysis
of the same forecast ensemble, brought to the filter through 1 or 2 model tasks, is compared.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from pdafpy.segments import open_output

netCDF4 = pytest.importorskip("netCDF4")
pytest.importorskip("petsc4py")

CONFIG = ('[grid]\nnx = 4\nny = 3\ndz_m = [0.05, 0.1, 0.35, 0.5, 1.0, 2.0]\n'
          '[schedule]\nlength_days = 2.0\n[ensemble]\nsize = 4\n[parallel]\ntasks = {tasks}\n')
#: name -> (ranks, model tasks)
LAYOUTS = {"1rank_1task": (1, 1), "2ranks_1task": (2, 1), "2ranks_2tasks": (2, 2),
           "4ranks_2tasks": (4, 2)}
VARIABLES = ("water_content_mean", "water_content_spread", "pressure_head_mean",
             "pressure_head_spread")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict[str, np.ndarray]]:
    """The assimilation's records of every layout: ``kind`` and :data:`VARIABLES`."""
    root = tmp_path_factory.mktemp("layouts")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    out = {}
    for name, (ranks, tasks) in LAYOUTS.items():
        cfg = root / f"{name}.toml"
        cfg.write_text(CONFIG.format(tasks=tasks))
        proc = subprocess.run(["mpirun", "--oversubscribe", "-n", str(ranks), sys.executable, "-m",
                               "pdafpy.cli", "run", str(cfg), "--out", str(root / name)],
                              capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, f"{name}: {proc.stderr[-2000:]}"
        with open_output(root / name / "assimilation.nc") as ds:
            ds.set_auto_mask(False)
            out[name] = {k: np.asarray(ds[k][:]) for k in ("kind",) + VARIABLES}
    return out


def max_relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(b)))


@pytest.mark.parametrize("layout", ["2ranks_1task", "2ranks_2tasks", "4ranks_2tasks"])
def test_whole_run_water_content_agrees_with_the_serial_run(runs, layout, record_property):
    serial, other = runs["1rank_1task"], runs[layout]
    assert serial["kind"].tolist() == other["kind"].tolist() == [0, 1, 0, 1]
    analysis = serial["kind"] == 1
    rel = max_relative(other["water_content_mean"][analysis],
                       serial["water_content_mean"][analysis])
    record_property("max_relative_difference_water_content", rel)
    assert rel <= 1e-6                                  # measured: 4.1e-12 or 0 (see above)
    ranks, tasks = LAYOUTS[layout]
    if ranks // tasks == 1:                             # 1 rank per task, as the serial run
        assert rel == 0.0


@pytest.mark.parametrize("one_task, two_tasks", [("1rank_1task", "2ranks_2tasks"),
                                                 ("2ranks_1task", "4ranks_2tasks")],
                         ids=["1_rank_per_task", "2_ranks_per_task"])
def test_analysis_of_the_same_forecast_through_one_or_two_tasks_is_identical(runs, one_task,
                                                                              two_tasks):
    a, b = runs[one_task], runs[two_tasks]
    forecast, analysis = 0, 1                            # the first cycle's records
    for v in VARIABLES:
        assert np.max(np.abs(a[v][forecast] - b[v][forecast])) <= 1e-12, v   # same forecast
    increment = np.abs(a["water_content_mean"][analysis] - a["water_content_mean"][forecast])
    assert np.max(increment) > 1e-4                      # the analysis does change the state
    for v in VARIABLES:
        assert np.max(np.abs(a[v][analysis] - b[v][analysis])) <= 1e-12, v

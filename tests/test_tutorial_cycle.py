"""PDAF's online tutorial run in-process through pdafpy's assimilation cycle (TutorialHooks),
serially and under mpirun (``--with-mpi -m mpi``), against PDAF's reference outputs."""

from __future__ import annotations

import pytest

from models.pdaf_tutorial import TutorialHooks, TutorialSettings, run_online
from pdafpy.cycle import CycleStep
from pdafpy.model import Grid
from pdafpy.verify_tutorial import TOLERANCE, compare_folders

REFERENCE = "online_2D_serialmodel"
N_FILES = 9 * (9 + 1) * 2      # 9 analyses, 9 members and the mean, forecast and analysis


def test_hooks_read_the_step_files(tutorial_refs, tmp_path):
    grid = Grid.uniform(18, 36, x0=1.0, y0=1.0)
    hooks = TutorialHooks(TutorialSettings(obs_types="A,B,C"), grid,
                          tutorial_refs / "inputs_online", tmp_path, None, None, None)
    observed = hooks.observe(CycleStep(0, 0.0, 2.0, [0]), None)
    assert [t.name for t in observed.types] == ["A", "B", "C"]
    assert all(t.value.size > 0 for t in observed.types)
    assert hooks.describe_time(4.0) == "step 4"


def test_online_tutorial_serial(tutorial_refs, tmp_path):
    from mpi4py import MPI

    run_online(MPI.COMM_SELF, tutorial_refs / "inputs_online", tmp_path, TutorialSettings())
    diff, files = compare_folders(tutorial_refs / "verification" / REFERENCE, tmp_path)
    assert files == N_FILES
    assert diff <= TOLERANCE


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("filter_ranks,one_task", [(0, False), (0, True), (1, False)],
                         ids=["task-per-rank", "one-task", "filter-rank"])
def test_online_tutorial_layouts(tutorial_refs, tmp_path_factory, world, filter_ranks,
                                 one_task):
    folder = world.bcast(str(tmp_path_factory.mktemp("online")) if world.rank == 0 else None)
    tasks = 1 if one_task else world.Get_size() - filter_ranks
    run_online(world, tutorial_refs / "inputs_online", folder,
               TutorialSettings(tasks=tasks, filter_ranks=filter_ranks))
    world.Barrier()
    diff, files = compare_folders(tutorial_refs / "verification" / REFERENCE, folder)
    assert files == N_FILES
    assert diff <= TOLERANCE

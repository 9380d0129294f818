"""PDAF's parallel layout, member distribution and the ensemble collect/distribute."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from mpi4py import MPI

from pdafpy.decomposition import block_boxes, split_extent
from pdafpy.errors import LayoutError
from pdafpy.model import FieldSpec
from pdafpy.parallel import make_layout, member_counts
from pdafpy.transfer import EnsembleTransfer


def test_member_counts_follow_pdaf():
    assert member_counts(9, 4) == [3, 2, 2, 2]
    assert member_counts(9, 9) == [1] * 9
    assert member_counts(32, 3) == [11, 11, 10]
    with pytest.raises(LayoutError, match="3 members"):
        member_counts(3, 4)


def test_split_extent_is_petscs_rule():
    assert split_extent(10, 3).tolist() == [0, 4, 7, 10]
    with pytest.raises(LayoutError):
        split_extent(2, 3)


def test_wrong_world_size_is_an_error_on_every_rank():
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    code = ("from mpi4py import MPI\nfrom pdafpy.parallel import make_layout\n"
            "from pdafpy.errors import LayoutError\n"
            "try:\n    make_layout(MPI.COMM_WORLD, 2, 4)\n"
            "except LayoutError as e:\n    print('LayoutError', e)\n")
    out = subprocess.run(["mpirun", "-n", "3", "--oversubscribe", sys.executable, "-c", code],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.stdout.count("LayoutError") == 3
    assert "world size must be n_tasks * p" in out.stdout


def test_cli_reports_bad_layout_and_exits_nonzero(tmp_path, tutorial_refs):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    out = subprocess.run(
        ["mpirun", "-n", "3", "--oversubscribe", sys.executable, "-m", "pdafpy.cli",
         "tutorial", "online", "--inputs", str(tutorial_refs / "inputs_online"), "--out",
         str(tmp_path), "--tasks", "2"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode != 0
    assert "cannot be arranged as 2 model tasks" in out.stderr


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("filter_ranks", [0, 1])
def test_layout_communicators(filter_ranks):
    world = MPI.COMM_WORLD
    n_tasks = world.Get_size() - filter_ranks
    layout = make_layout(world, n_tasks, 2 * n_tasks + 1, filter_ranks)
    assert layout.n_filter == (filter_ranks or 1)
    sizes = world.allgather(None if layout.task is None else len(layout.members))
    assert sorted(s for s in sizes if s is not None) == sorted(member_counts(2 * n_tasks + 1,
                                                                           n_tasks))
    if layout.comm_couple is not None and filter_ranks in (0, 1):
        assert layout.comm_couple.Get_size() == n_tasks + filter_ranks
    layout.free()


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("n_tasks,filter_ranks", [(1, 0), (2, 0), (1, 1)])
def test_collect_then_distribute_round_trip(n_tasks, filter_ranks):
    world = MPI.COMM_WORLD
    size = world.Get_size()
    if (size - filter_ranks) % n_tasks:
        pytest.skip("layout does not fit this world size")
    n_members, ny, nx = 5, 7, 9
    layout = make_layout(world, n_tasks, n_members, filter_ranks)
    fields = (FieldSpec("h", levels=3), FieldSpec("k", levels=1, kind="parameter"))
    truth = {f.name: np.random.default_rng(0).normal(size=(n_members, f.levels, ny, nx))
             for f in fields}
    mbox = (block_boxes(ny, nx, 1, layout.ranks_per_task)[layout.model_rank]
            if layout.is_model else None)
    fbox = block_boxes(ny, nx, layout.n_filter, 1)[layout.filter_rank] \
        if layout.is_filter else None                 # filter splits rows, model splits columns
    transfer = EnsembleTransfer(layout, fields, mbox, fbox)
    task_ens = None
    if mbox is not None:
        task_ens = np.empty((len(layout.members), transfer.model_layout.size))
        for i, m in enumerate(layout.members):
            transfer.model_layout.pack({f.name: truth[f.name][m][:, mbox.y0:mbox.y1,
                                                                 mbox.x0:mbox.x1]
                                        for f in fields}, out=task_ens[i])
    ens = transfer.collect(task_ens)
    if fbox is not None:
        for f in fields:
            assert np.array_equal(transfer.filter_layout.view(ens, f.name),
                                  truth[f.name][:, :, fbox.y0:fbox.y1, fbox.x0:fbox.x1])
        ens *= 2.0
    back = transfer.distribute(ens)
    if mbox is not None:
        assert np.array_equal(back, 2.0 * task_ens)
    layout.free()


@pytest.mark.mpi(min_size=2)
def test_transfer_uses_comm_couple_when_the_filter_shares_the_model_decomposition():
    world = MPI.COMM_WORLD
    layout = make_layout(world, world.Get_size(), world.Get_size())     # tasks of one rank
    box = block_boxes(3, 4, 1, 1)[0]
    transfer = EnsembleTransfer(layout, (FieldSpec("f"),), box, box if layout.is_filter else None)
    assert transfer.comm is layout.comm_couple
    layout.free()
    layout = make_layout(world, 1, 3, 0)                                  # one task of all ranks
    boxes = block_boxes(8, 8, 1, world.Get_size())
    fbox = block_boxes(8, 8, world.Get_size(), 1)[layout.filter_rank]     # rows, not columns
    transfer = EnsembleTransfer(layout, (FieldSpec("f"),), boxes[layout.model_rank], fbox)
    assert transfer.comm is world
    layout.free()

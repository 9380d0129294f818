"""The memory model (pdafpy.memory): the estimate's terms per rank role, the memory a rank has,
the refusal's message, and the land twin's state size as the model really builds it."""

from __future__ import annotations

import pytest

from pdafpy.errors import ConfigError
from pdafpy.memory import (GIB, SQUARE_MATRICES, TRANSFER_BYTES, MemoryConstants,
                           MemoryProblem, available_per_rank, check_memory, estimate_peak,
                           peak_rss_bytes, ranks_on_this_node)

UNIT = MemoryConstants(base=100.0, cell=10.0, cell_run=1.0, element_run=2.0)


def test_one_rank_holds_the_model_its_runs_and_the_filter():
    problem = MemoryProblem(nx=4, ny=3, nz=5, elements_per_column=7, runs=9, analysed=4,
                            tasks=1, ranks_per_task=1)
    est = estimate_peak(problem, UNIT)
    cells, elements = 4 * 3 * 5, 4 * 3 * 7
    assert est.parts == {"base": 100.0, "model": 10.0 * cells, "runs": 1.0 * cells * 9,
                         "filter": 2.0 * elements * 9, "transfer": 0.0}     # one rank: none
    assert est.peak == sum(est.parts.values()) and est.role == "model and filter rank"


def test_tasks_share_the_runs_and_ranks_the_columns():
    # 2 tasks of 2 ranks: the 5 x 4 grid splits into 2 x 1 blocks (the squarer split), of at
    # most 3 x 4 columns (PETSc's rule: the first blocks take the remainder); task 0 holds
    # ceil(9 / 2) = 5 runs
    problem = MemoryProblem(nx=4, ny=5, nz=2, elements_per_column=3, runs=9, analysed=4,
                            tasks=2, ranks_per_task=2)
    est = estimate_peak(problem, UNIT)
    block = 3 * 4
    assert est.parts["model"] == 10.0 * block * 2
    assert est.parts["runs"] == 1.0 * block * 2 * 5
    assert est.parts["filter"] == 2.0 * block * 3 * 9
    # the packed states task 0's rank sends (its 5 runs) and those it receives (all 9)
    assert est.parts["transfer"] == TRANSFER_BYTES * block * 3 * (5 + 9)


def test_separate_filter_ranks_are_estimated_apart_and_the_larger_is_reported():
    problem = MemoryProblem(nx=10, ny=10, nz=1, elements_per_column=1, runs=100, analysed=50,
                            tasks=1, ranks_per_task=1, filter_ranks=1)
    est = estimate_peak(problem, UNIT)
    assert est.role == "filter rank" and est.parts["model"] == est.parts["runs"] == 0.0
    global_ = estimate_peak(MemoryProblem(10, 10, 1, 1, 100, 50, 1, 1, 1, global_filter=True),
                            UNIT)
    assert global_.parts["filter"] - est.parts["filter"] == 8.0 * SQUARE_MATRICES * 50 ** 2


def test_the_memory_a_rank_has_is_the_configured_limit_or_the_node_s_share():
    assert available_per_rank(4, 2.5) == (2.5 * GIB, "parallel.memory_per_rank_gib = 2.5")
    one, how = available_per_rank(1)
    four, _ = available_per_rank(4)              # not this process's world: the world size
    assert one == pytest.approx(4 * four) and "MemTotal" in how
    assert ranks_on_this_node(3) == 3 and ranks_on_this_node(1) == 1


def test_a_refusal_names_the_keys_the_estimate_and_the_memory():
    est = estimate_peak(MemoryProblem(4, 3, 5, 7, 9, 4, 1, 1), MemoryConstants(2 * GIB, 0, 0, 0))
    check_memory(est, "ensemble.size = 4", 1, limit_gib=3.0)
    with pytest.raises(ConfigError, match=r"^ensemble.size = 4: the run needs about 2 GiB per "
                                          r"rank \(base 2, model 0, runs 0, filter 0, transfer 0 "
                                          r"GiB; model and filter rank\), more than the 1 GiB a "
                                          r"rank has \(parallel.memory_per_rank_gib = 1\)"):
        check_memory(est, "ensemble.size = 4", 1, limit_gib=1.0)


def test_peak_rss_is_this_process_s():
    assert 10e6 < peak_rss_bytes() < 100e9


def test_the_land_model_s_state_has_the_elements_per_column_the_estimate_counts():
    from mpi4py import MPI

    from models.landda.model import LandDAModel
    from models.landda.setup import model_config
    from models.landda.validation import elements_per_column, memory_problem
    from pdafpy.experiment import load_configuration

    loaded = load_configuration({"grid": {"nx": 3, "ny": 3}})
    model = LandDAModel.create(MPI.COMM_SELF, model_config(loaded.cfg, loaded.tables, [0]))
    nz = model.coupled.nz
    assert sum(f.levels for f in model.fields) == elements_per_column(nz) == 4 * nz + 7
    problem = memory_problem(loaded.cfg, loaded.tables, 1)
    assert (problem.nx, problem.ny, problem.nz, problem.runs) == (3, 3, nz, 17)

"""Exchange plans (pdafpy/exchange_plan.py): counted without a model, exactly what runs move."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from pdafpy.decomposition import Box
from pdafpy.exchange_plan import (PlannedObservations, allgather_plan, every_kth_column,
                                  halo_plan, observation_payload, plan_exchanges, transfer_plan)
from pdafpy.localize import Localization
from pdafpy.model import Grid

ROOT = Path(__file__).resolve().parents[1]


def bench():
    """scripts/bench_exchange_plans.py as a module (its problems and its check)."""
    spec = importlib.util.spec_from_file_location("bench_exchange_plans",
                                                  ROOT / "scripts/bench_exchange_plans.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def network(grid: Grid, radius: float, stride: int = 2) -> list[PlannedObservations]:
    return [PlannedObservations("obs", every_kth_column(grid, stride),
                                Localization.from_pdaf(radius))]


def test_payload_is_value_variance_coords_index_and_the_observed_ensemble():
    assert observation_payload(32, vertical=False) == 8 * (5 + 32)
    assert observation_payload(32, vertical=True) == 8 * (5 + 32 + 2)


def test_one_filter_rank_exchanges_nothing():
    grid = Grid.uniform(10, 12)
    plan = plan_exchanges(grid, network(grid, 3.0), 4, ranks_per_task=1)
    for counts in (plan.halo, plan.allgather, plan.transfer.collect, plan.transfer.distribute):
        assert counts.bytes_received.sum() == counts.messages_sent.sum() == 0
    assert plan.halo.owned_obs.tolist() == [every_kth_column(grid, 2).shape[0]]


def test_weak_scaling_keeps_bytes_per_rank_flat_and_far_below_an_allgather():
    b = bench()
    rows = b.weak_scaling([16, 64, 256], n_tasks=4, radius_m=10_000.0)
    halo = [r["halo"]["bytes_received_max"] for r in rows]
    assert halo[0] == halo[1] == halo[2]
    at_64 = rows[1]
    assert at_64["allgather"]["bytes_received_max"] >= 10 * at_64["halo"]["bytes_received_max"]
    assert at_64["partners_max"] == 8                     # 10 km < a 32 km block: neighbours only


def test_halo_of_a_domain_wide_cutoff_is_the_allgather():
    grid = Grid.uniform(24, 30, 2.0, 1.5)
    plan = plan_exchanges(grid, network(grid, 1e3, stride=3), 5, ranks_per_task=6)
    assert np.all(plan.halo.partners == 5)
    for name in ("bytes_sent", "bytes_received", "messages_sent", "messages_received"):
        assert np.array_equal(getattr(plan.halo, name), getattr(plan.allgather, name)), name


def test_allgather_counts_every_other_ranks_observations():
    counts = allgather_plan(np.array([3, 0, 5]), payload_bytes=100)
    assert counts.bytes_received.tolist() == [2 * 8 + 500, 2 * 8 + 800, 2 * 8 + 300]
    assert counts.bytes_sent.tolist() == [2 * (8 + 300), 2 * 8, 2 * (8 + 500)]
    assert counts.messages_sent.tolist() == [4, 4, 4]


def test_halo_sends_only_observations_within_the_cutoff_of_the_partners_block():
    grid = Grid.uniform(1, 10)                                  # x = 0..9, one row
    boxes = [Box(0, 1, 0, 5), Box(0, 1, 5, 10)]
    obs = [PlannedObservations("a", np.array([[0.0, 0.0], [3.0, 0.0], [4.0, 0.0], [9.0, 0.0]]),
                               Localization.from_pdaf(1.0))]
    plan = halo_plan(grid, boxes, obs, n_members=2)
    # rank 0 sends x = 4 (1 from rank 1's first column at x = 5); rank 1 sends nothing
    assert plan.sent_obs.tolist() == [1, 0]
    assert plan.received_obs.tolist() == [0, 1]
    assert plan.bytes_sent.tolist() == [8 * 7 + 8, 8]
    assert plan.messages_sent.tolist() == [2, 2]


def test_collect_on_the_models_blocks_is_one_message_per_other_task():
    boxes = [Box(0, 4, 0, 3), Box(0, 4, 3, 6)]
    plan = transfer_plan(boxes, boxes, n_tasks=3, n_members=7, state_per_column=2)
    collect = plan.collect
    # tasks hold 3, 2, 2 members; filter rank j (task 0's rank j) hears from tasks 1 and 2
    assert collect.messages_received[:2].tolist() == [2, 2]
    assert collect.bytes_received[:2].tolist() == [8 * 4 * 2 * 12] * 2
    assert collect.self_bytes[:2].tolist() == [8 * 3 * 2 * 12] * 2
    assert collect.bytes_sent[2:].tolist() == [8 * 2 * 2 * 12] * 4
    assert np.array_equal(plan.distribute.bytes_sent, collect.bytes_received)


def layouts(size: int) -> list[tuple[int, int]]:
    """(tasks, separate filter ranks) that ``size`` ranks can be cut into."""
    cases = [(1, 0), (size, 0), (size - 1, 1), (1, size // 2)]
    if size % 4 == 0:
        cases += [(2, 0), (2, size // 2)]
    return sorted(set(cases))


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("radii, vertical", [((3.0, 8.0), True), ((1.0, 2.0), False),
                                             ((40.0, 100.0), True)])
def test_plan_is_exactly_what_the_real_exchanges_move(radii, vertical):
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    b = bench()
    for tasks, filter_ranks in layouts(world.Get_size()):
        bad, moved = b.check_exchanges(world, tasks, filter_ranks, radii=radii,
                                       vertical=vertical, ny=20, nx=24,
                                       n_members=max(5, world.Get_size()))
        assert bad == [], (tasks, filter_ranks, bad)
        if tasks > 1 or filter_ranks:
            assert moved["collect_bytes"] > 0
    bad, moved = b.check_exchanges(world, 1, 0, radii=radii, vertical=vertical, ny=20, nx=24)
    assert moved["halo_bytes"] > 0                             # something was compared


@pytest.mark.mpi(min_size=2)
def test_check_notices_a_plan_off_by_one_value():
    from mpi4py import MPI

    b = bench()
    plan, got = b.measure_exchanges(MPI.COMM_WORLD, 1, 0, ny=20, nx=24)
    assert b.compare(plan, got) == []
    plan.halo.bytes_received[0] += 8
    assert len(b.compare(plan, got)) == 1

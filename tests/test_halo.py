"""The observation halo exchange delivers exactly the observations each rank's domains need."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from pdafpy.decomposition import block_boxes, choose_process_grid
from pdafpy.halo import exchange_observations, local_observations
from pdafpy.localize import Localization
from pdafpy.model import FieldSpec, Grid
from pdafpy.obs.observe import observe_owned
from pdafpy.obs.operators import bilinear, grid_point
from pdafpy.obs.types import ObservationType
from pdafpy.state import StateLayout

NY, NX, N = 23, 41, 5


def scattered_obs(grid: Grid, loc: Localization, seed: int = 7) -> list[ObservationType]:
    """Grid-point observations and observations between grid points, the same on every rank."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(0, grid.ny, 60)
    cols = rng.integers(0, grid.nx, 60)
    a = ObservationType("points", rng.normal(size=60), np.full(60, 0.5),
                        np.column_stack([grid.x[cols], grid.y[rows]]),
                        grid_point("f", rows, cols), loc)
    x = rng.uniform(grid.x[0], grid.x[-1], 40)
    y = rng.uniform(grid.y[0], grid.y[-1], 40)
    b = ObservationType("between", rng.normal(size=40), np.full(40, 0.3),
                        np.column_stack([x, y]), bilinear("f", grid, x, y), loc)
    return [a, b]


def run_halo(comm, cradius: float):
    grid = Grid.uniform(NY, NX, dy=2.0, dx=1.5)
    py, px = choose_process_grid(comm.Get_size(), NY, NX)
    boxes = block_boxes(NY, NX, py, px)
    box = boxes[comm.Get_rank()]
    layout = StateLayout((FieldSpec("f"),), box)
    field = np.random.default_rng(1).normal(size=(N, NY, NX))
    ens = np.empty((N, layout.size))
    layout.view(ens, "f")[:, 0] = field[:, box.y0:box.y1, box.x0:box.x1]
    loc = Localization.from_pdaf(cradius, cradius, 2)
    types = scattered_obs(grid, loc)
    owned = observe_owned(types, ens, layout, grid, comm, boxes)
    domains = grid.column_coords(box)
    candidates, stats = exchange_observations(comm, owned, domains, [loc, loc])
    local = local_observations(candidates, domains, [loc, loc], stats)
    return grid, field, types, domains, local, owned


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("cradius", [3.0, 40.0])
def test_halo_delivers_exactly_the_observations_within_cradius(cradius):
    comm = MPI.COMM_WORLD
    grid, field, types, domains, local, owned = run_halo(comm, cradius)
    all_xy = np.concatenate([t.coords for t in types])
    d = np.hypot(domains[:, None, 0] - all_xy[None, :, 0], domains[:, None, 1] - all_xy[None, :, 1])
    needed = np.flatnonzero((d <= cradius).any(axis=0))
    assert np.array_equal(local.obs.global_index, needed)
    # observed ensemble of received observations equals H applied to the global field
    expected = np.concatenate([
        np.einsum("kmr,mr->km", field[:, t.operator.row, t.operator.col], t.operator.coeff)
        for t in types], axis=1)
    assert np.allclose(local.obs.hx, expected[:, needed], rtol=0, atol=1e-14)
    # each domain's list: exactly the observations within cradius, ascending global index
    for dom in (0, domains.shape[0] // 2, domains.shape[0] - 1):
        mine = local.obs.global_index[local.index[local.indptr[dom]:local.indptr[dom + 1]]]
        assert np.array_equal(mine, np.flatnonzero(d[dom] <= cradius))
    # owned observations are disjoint across ranks and cover all
    counts = comm.allreduce(owned.size)
    assert counts == all_xy.shape[0]
    if cradius > max(NY * 2.0, NX * 1.5):
        assert local.stats.partners == comm.Get_size() - 1          # reaches past neighbours


@pytest.mark.mpi(min_size=2)
def test_halo_bytes_scale_with_radius_not_domain():
    comm = MPI.COMM_WORLD
    small = run_halo(comm, 2.0)[4].stats.bytes_sent
    wide = run_halo(comm, 40.0)[4].stats.bytes_sent
    assert comm.allreduce(small) < comm.allreduce(wide)

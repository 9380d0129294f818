"""The spin-up's filter side on any number of filter ranks: the storage change of every run
(each rank's block of columns, summed over the ranks) and the spin-up file (each rank's block
gathered onto rank 0) are those of one rank holding the whole grid, and each rank reads its
block back."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from mpi4py import MPI

NZ, NY, NX, RUNS = 3, 4, 6, 3
DZ = np.array([0.1, 0.3, 0.6])


def _fields():
    from pdafpy.model import FieldSpec

    return (FieldSpec("pressure_head", NZ, "m", "state"),
            FieldSpec("canopy_water", 1, "kg m-2", "state"),
            FieldSpec("swe", 1, "kg m-2", "state"),
            FieldSpec("log10_ks", NZ, "log10(m s-1)", "parameter"),
            FieldSpec("water_content", NZ, "m3 m-3", "diagnostic"))


def _full(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"pressure_head": rng.normal(-0.5, 0.3, (RUNS, NZ, NY, NX)),
            "canopy_water": rng.uniform(0.0, 0.2, (RUNS, 1, NY, NX)),
            "swe": rng.uniform(0.0, 5.0, (RUNS, 1, NY, NX)),
            "log10_ks": rng.normal(-5.5, 0.3, (RUNS, NZ, NY, NX)),
            "water_content": rng.uniform(0.1, 0.4, (RUNS, NZ, NY, NX))}


def _spin_side(comm, folder):
    """The storage change between two ensembles and the file written from the second."""
    from models.landda.spinup import _storage_change, column_storage_mm
    from models.landda.spinup_file import write_spinup
    from pdafpy.decomposition import block_boxes, choose_process_grid
    from pdafpy.model import Grid
    from pdafpy.state import StateLayout

    grid = Grid.uniform(NY, NX, dy=100.0, dx=100.0, z=np.cumsum(DZ) - DZ / 2)
    boxes = block_boxes(NY, NX, *choose_process_grid(comm.Get_size(), NY, NX))
    box = boxes[comm.Get_rank()]
    layout = StateLayout(_fields(), box)
    ens = []
    for seed in (1, 2):
        e = np.empty((RUNS, layout.size))
        for k, v in _full(seed).items():
            layout.view(e, k)[:] = v[..., box.y0:box.y1, box.x0:box.x1]
        ens.append(e)
    job = SimpleNamespace(layout=SimpleNamespace(is_filter=True, comm_filter=comm, world=comm),
                          runner=SimpleNamespace(filter_layout=layout), grid=grid)
    before = column_storage_mm(layout, ens[0], DZ)
    change, after = _storage_change(job, ens[1], before, DZ)
    path = folder / f"spinup_{comm.Get_size()}.nc"
    fields = [f for f in _fields() if f.kind != "diagnostic"]
    write_spinup(path, comm, boxes, grid, layout, ens[1], fields, np.array([0, 1, 4]),
                 np.array([change]), after, {"seed": np.int64(1), "converged": np.int32(1),
                                             "configuration": "{}"})
    comm.Barrier()
    return change, path, grid, box, fields


@pytest.mark.mpi(min_size=2)
def test_storage_change_and_spinup_file_identical_on_any_number_of_ranks(tmp_path):
    from models.landda.spinup_file import read_states

    world = MPI.COMM_WORLD
    folder = tmp_path.__class__(world.bcast(str(tmp_path)))       # rank 0's folder
    serial = _spin_side(MPI.COMM_SELF, folder) if world.Get_rank() == 0 else None
    world.Barrier()
    change, path, grid, box, fields = _spin_side(world, folder)
    if world.Get_rank() == 0:
        assert np.allclose(change, serial[0], rtol=1e-13, atol=0.0)
        assert np.all(change > 1.0)
        netCDF4 = pytest.importorskip("netCDF4")
        with netCDF4.Dataset(serial[1]) as a, netCDF4.Dataset(path) as b:
            for name in ("pressure_head", "canopy_water", "swe", "log10_ks", "run",
                         "column_storage_mm", "storage_change_mm"):
                assert np.allclose(a[name][:], b[name][:], rtol=1e-13, atol=0.0), name
    full = _full(2)
    states = read_states(path, [4, 0], fields, box)               # this rank's block
    for f in fields:
        want = full[f.name][[2, 0], :, box.y0:box.y1, box.x0:box.x1]
        assert np.array_equal(states[f.name], want), f.name

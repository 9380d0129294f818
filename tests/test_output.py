"""NetCDF output: CF metadata, gathered statistics, nothing lost on failure."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from pdafpy.decomposition import block_boxes
from pdafpy.model import FieldSpec, Grid
from pdafpy.output import EnsembleWriter
from pdafpy.state import StateLayout

netCDF4 = pytest.importorskip("netCDF4")


def write_two_records(comm, path, members=False):
    ny, nx, n = 5, 6, 4
    grid = Grid.uniform(ny, nx, dy=100.0, dx=100.0, z=[0.05, 0.2, 0.5])
    fields = (FieldSpec("theta", 3, "m3 m-3"), FieldSpec("lai", 1, "m2 m-2"))
    boxes = block_boxes(ny, nx, 1, comm.Get_size())
    box = boxes[comm.Get_rank()]
    layout = StateLayout(fields, box)
    full = {"theta": np.random.default_rng(0).uniform(0.1, 0.4, (n, 3, ny, nx)),
            "lai": np.random.default_rng(1).uniform(0, 5, (n, 1, ny, nx))}
    ens = np.empty((n, layout.size))
    for name, arr in full.items():
        layout.view(ens, name)[:] = arr[..., box.y0:box.y1, box.x0:box.x1]
    writer = EnsembleWriter(path, comm, boxes, grid, fields, "2020-04-01T00:00:00", n, members,
                            {"title": "test"})
    writer.write(3600.0, False, ens, layout)
    writer.write(3600.0, True, ens, layout)
    return writer, full


def check_file(path, full, members):
    with netCDF4.Dataset(path) as ds:
        assert ds.Conventions == "CF-1.8" and ds.title == "test"
        assert ds["time"].units == "seconds since 2020-04-01 00:00:00"
        assert ds["theta_mean"].dimensions == ("time", "z", "y", "x")
        assert ds["lai_mean"].dimensions == ("time", "y", "x")
        assert ds["kind"][:].tolist() == [0, 1]
        assert np.allclose(ds["theta_mean"][1], full["theta"].mean(0))
        assert np.allclose(ds["theta_spread"][0], full["theta"].std(0, ddof=1))
        assert np.allclose(ds["lai_mean"][0], full["lai"][:, 0].mean(0))
        assert list(ds["z"][:]) == [0.05, 0.2, 0.5]
        if members:
            assert np.allclose(ds["theta"][0], full["theta"], atol=1e-6)


def test_records_are_kept_in_the_part_file_until_close(tmp_path):
    comm = MPI.COMM_SELF
    writer, full = write_two_records(comm, tmp_path / "out.nc", members=True)
    assert (tmp_path / "out.nc.part").exists() and not (tmp_path / "out.nc").exists()
    check_file(tmp_path / "out.nc.part", full, True)          # readable mid-run
    writer.close()
    assert (tmp_path / "out.nc").exists() and not (tmp_path / "out.nc.part").exists()
    check_file(tmp_path / "out.nc", full, True)


@pytest.mark.mpi(min_size=2)
def test_blocks_are_gathered_from_every_filter_rank(tmp_path_factory):
    comm = MPI.COMM_WORLD
    folder = comm.bcast(str(tmp_path_factory.mktemp("out")) if comm.rank == 0 else None)
    writer, full = write_two_records(comm, f"{folder}/out.nc")
    writer.close()
    if comm.rank == 0:
        check_file(f"{folder}/out.nc", full, False)

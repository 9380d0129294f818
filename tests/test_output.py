"""NetCDF output: CF metadata, gathered statistics, segments, nothing lost on failure."""

from __future__ import annotations

import errno
import os

import numpy as np
import pytest
from mpi4py import MPI

from pdafpy.decomposition import block_boxes
from pdafpy.errors import InputFileError, OutputError
from pdafpy.model import FieldSpec, Grid
from pdafpy.output import EnsembleWriter
from pdafpy.segments import open_output, segment_paths
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
    with open_output(path) as ds:
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


def one_part(folder, segment):
    parts = list(folder.glob(f"out.{segment:05d}.nc.part-*"))
    assert len(parts) == 1, parts
    return parts[0]


def test_records_are_kept_in_the_open_segment_until_it_is_closed(tmp_path):
    comm = MPI.COMM_SELF
    writer, full = write_two_records(comm, tmp_path / "out.nc", members=True)
    part = one_part(tmp_path, 0)
    assert part.name.endswith(f"-{os.getpid()}") and not list(tmp_path.glob("out*.nc"))
    check_file(part, full, True)                               # readable mid-run
    writer.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.00000.nc"]
    check_file(tmp_path / "out.00000.nc", full, True)
    check_file(tmp_path / "out.nc", full, True)                # the name stands for its segments


def small_writer(folder):
    """A writer of one 2 x 3 field of 3 members to ``folder/out.nc``, and its state layout."""
    grid = Grid.uniform(2, 3, dy=100.0, dx=100.0, z=[0.1])
    fields = (FieldSpec("lai", 1, "m2 m-2"),)
    boxes = block_boxes(2, 3, 1, 1)
    writer = EnsembleWriter(folder / "out.nc", MPI.COMM_SELF, boxes, grid, fields,
                            "2020-04-01T00:00:00", 3)
    return writer, StateLayout(fields, boxes[0])


def write_segments(folder, counts=(2, 0, 1)):
    """Segments of ``counts`` records each (a checkpoint after each), closed; the values."""
    writer, layout = small_writer(folder)
    rng, values, t = np.random.default_rng(3), [], 0.0
    for count in counts:
        for _ in range(count):
            t += 3600.0
            ens = rng.uniform(0, 5, (3, layout.size))
            writer.write(t, True, ens, layout)
            values.append(ens.mean(axis=0).reshape(2, 3))
        writer.roll()
    writer.close()
    return writer, np.array(values)


def test_segments_continue_each_other_and_read_as_one(tmp_path):
    writer, values = write_segments(tmp_path)
    # an interval without records leaves no file and no gap in the numbering
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.00000.nc", "out.00001.nc"]
    assert writer.state() == {"segment": 2, "rows": 3}
    with open_output(tmp_path / "out.nc") as ds:
        assert len(ds.dimensions["time"]) == 3
        assert np.allclose(ds["time"][:], [3600.0, 7200.0, 10800.0])
        assert np.allclose(ds["lai_mean"][:], values)
    xarray = pytest.importorskip("xarray")
    with xarray.open_mfdataset(str(tmp_path / "out.*.nc"), combine="by_coords") as ds:
        assert ds.sizes["time"] == 3 and np.allclose(ds["lai_mean"].values, values)


def test_a_missing_segment_is_named(tmp_path):
    write_segments(tmp_path, counts=(1, 1, 1))
    (tmp_path / "out.00001.nc").unlink()
    with pytest.raises(InputFileError, match=r"out.nc: segment out.00001.nc is missing"):
        segment_paths(tmp_path / "out.nc")
    with pytest.raises(InputFileError, match=r"other.nc: not found"):
        segment_paths(tmp_path / "other.nc")


def test_a_restart_keeps_the_closed_segments_and_rewrites_the_rest(tmp_path):
    write_segments(tmp_path, counts=(1, 1, 1))
    stale = tmp_path / "out.00001.nc.part-elsewhere-1"         # left by a killed run
    stale.write_bytes(b"half a segment")
    writer, layout = small_writer(tmp_path)
    writer.resume({"segment": 1, "rows": 1})
    writer.write(7200.0, True, np.zeros((3, layout.size)), layout)
    assert not stale.exists() and not (tmp_path / "out.00002.nc").exists()
    writer.close()
    assert writer.rows == 2
    with open_output(tmp_path / "out.nc") as ds:
        assert len(ds.dimensions["time"]) == 2 and np.all(ds["lai_mean"][1] == 0.0)


def test_a_write_error_names_the_file_and_the_reason(tmp_path):
    writer, _ = write_two_records(MPI.COMM_SELF, tmp_path / "out.nc")
    part = one_part(tmp_path, 0)

    class FullDisk:                    # the dataset as a full disk leaves it
        def sync(self):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    writer._ds.close()
    writer._ds = FullDisk()
    with pytest.raises(OutputError) as info:
        writer.written(1)
    assert str(info.value) == f"{part}: writing failed: No space left on device"


@pytest.mark.mpi(min_size=2)
def test_blocks_are_gathered_from_every_filter_rank(tmp_path_factory):
    comm = MPI.COMM_WORLD
    folder = comm.bcast(str(tmp_path_factory.mktemp("out")) if comm.rank == 0 else None)
    writer, full = write_two_records(comm, f"{folder}/out.nc")
    writer.close()
    if comm.rank == 0:
        check_file(f"{folder}/out.nc", full, False)

"""Checkpoints give every rank back exactly what it wrote, and refuse another layout."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from pdafpy.checkpoint import read_checkpoint, write_checkpoint
from pdafpy.errors import InputFileError

pytest.importorskip("h5py")


def roundtrip(comm, path):
    rng = np.random.default_rng(comm.Get_rank())
    payload = {"ensemble": rng.normal(size=(3, 17)), "dt_s": np.float64(123.456789),
               "cycle": np.int64(7), "ar1": rng.normal(size=(3, 4, 2, 2))}
    signature = {"world": comm.Get_size(), "tasks": 1}
    write_checkpoint(path, comm, payload, signature, {"time_s": 86400.0, "config": "[ensemble]"})
    back, attrs = read_checkpoint(path, comm, signature)
    for k, v in payload.items():
        assert np.array_equal(back[k], v) and back[k].dtype == np.asarray(v).dtype
    assert attrs["time_s"] == 86400.0 and attrs["config"] == "[ensemble]"
    with pytest.raises(InputFileError, match="tasks = 1 \\(this run: 2\\)"):
        read_checkpoint(path, comm, {"world": comm.Get_size(), "tasks": 2})


def test_checkpoint_round_trip_is_exact(tmp_path):
    roundtrip(MPI.COMM_SELF, tmp_path / "ck.h5")
    assert not list(tmp_path.glob(".*tmp*"))                  # no temporary left behind
    with pytest.raises(InputFileError, match="not found"):
        read_checkpoint(tmp_path / "nope.h5", MPI.COMM_SELF, {})


@pytest.mark.mpi(min_size=2)
def test_checkpoint_round_trip_on_every_rank(tmp_path_factory):
    comm = MPI.COMM_WORLD
    folder = comm.bcast(str(tmp_path_factory.mktemp("ck")) if comm.rank == 0 else None)
    roundtrip(comm, f"{folder}/ck.h5")

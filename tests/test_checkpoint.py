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


def test_nested_payload_strings_and_configuration_check(tmp_path):
    comm = MPI.COMM_SELF
    payload = {"runner": {"members": np.arange(3), "model": {7: {"dt": np.float64(12.5),
                                                                 "fixed": True}}},
               "variables": np.array(["precipitation", "shortwave"]),
               "skill": {"surface/da": np.linspace(0.0, 1.0, 5)}}
    config = {"ensemble": {"size": 4, "seed": 1}, "grid": {"dz_m": [0.1, 0.2]},
              "observations": [{"error": 0.04}, {"error": 0.1}]}
    write_checkpoint(tmp_path / "ck.h5", comm, payload, {"world": 1}, {"cycle": 3}, config)
    back, attrs = read_checkpoint(tmp_path / "ck.h5", comm, {"world": 1}, config)
    assert np.array_equal(back["runner"]["members"], np.arange(3))
    assert back["runner"]["model"]["7"]["dt"] == 12.5 and bool(back["runner"]["model"]["7"]
                                                               ["fixed"])
    assert back["variables"].tolist() == ["precipitation", "shortwave"]
    assert np.array_equal(back["skill"]["surface"]["da"], payload["skill"]["surface/da"])
    assert attrs["cycle"] == 3 and len(attrs["config_sha256"]) == 64
    other = {"ensemble": {"size": 4, "seed": 2}, "grid": {"dz_m": [0.1, 0.3]},
             "observations": [{"error": 0.04}, {"error": 0.2}]}
    with pytest.raises(InputFileError) as info:
        read_checkpoint(tmp_path / "ck.h5", comm, {"world": 1}, other)
    message = str(info.value)
    assert "\n" not in message
    for part in ("another configuration", "ensemble.seed = 1 (this run: 2)",
                 "grid.dz_m = [0.1, 0.2] (this run: [0.1, 0.3])",
                 "observations[1].error = 0.1 (this run: 0.2)"):
        assert part in message


def test_a_checkpoint_the_disk_has_no_room_for_is_refused_and_the_old_one_kept(tmp_path,
                                                                             monkeypatch):
    import shutil
    from collections import namedtuple

    from pdafpy.errors import OutputError

    path = tmp_path / "ck.h5"
    roundtrip(MPI.COMM_SELF, path)
    before = path.read_bytes()
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage(10**6, 10**6 - 5000, 5000))
    with pytest.raises(OutputError) as info:
        write_checkpoint(path, MPI.COMM_SELF, {"ensemble": np.zeros((4, 1000))}, {}, {})
    assert str(info.value).startswith(f"{path}: writing failed: No space left on device: 5000 "
                                      "bytes free, the checkpoint needs about ")
    assert path.read_bytes() == before and not list(tmp_path.glob(".*tmp*"))

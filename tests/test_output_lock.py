"""One run per output folder: a second ``pdafpy run`` into a folder in use is refused in one line
before it writes anything; a lock left by a killed run is replaced."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from pdafpy.errors import RefusedOnEveryRank
from pdafpy.output_lock import LOCK_NAME, output_lock

CONFIG = """
model = "lorenz96"
mode = "twin"
[ensemble]
size = 6
[[observations]]
type = "grid_point"
field = "x"
interval_h = 6.0
error = 1.0
[schedule]
length_days = 1.0
[lorenz96]
n = 10
"""


class _World:
    """One rank, as mpi4py's COMM_WORLD answers the lock's calls."""

    def Get_rank(self) -> int:
        return 0

    def bcast(self, value, root=0):
        return value


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _run(tmp_path, capsys):
    from pdafpy.run import main
    cfg = tmp_path / "l96.toml"
    cfg.write_text(CONFIG)
    status = main([str(cfg), "--out", str(tmp_path / "out"), "-q"])
    return status, capsys.readouterr()


def test_a_folder_in_use_is_refused_in_one_line_and_nothing_is_written(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text(f"{socket.gethostname()} {os.getpid()} 2026-01-01T00:00:00\n")
    status, captured = _run(tmp_path, capsys)
    assert status == 2
    err = captured.err.strip()
    assert len(err.splitlines()) == 1
    assert str(out) in err and f"PID {os.getpid()}" in err and "in use" in err
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]        # nothing else written


def test_a_stale_lock_is_replaced_and_the_run_removes_its_own(tmp_path, capsys, caplog):
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text(f"{socket.gethostname()} {_dead_pid()} 2026-01-01T00:00:00\n")
    status, _ = _run(tmp_path, capsys)
    assert status == 0
    assert "replacing the lock" in caplog.text
    assert not (out / LOCK_NAME).exists()
    assert json.loads((out / "summary.json").read_text())["variables"]


def test_the_lock_is_released_when_the_run_fails(tmp_path):
    with pytest.raises(RuntimeError):
        with output_lock(_World(), tmp_path):
            assert (tmp_path / LOCK_NAME).read_text().split()[1] == str(os.getpid())
            raise RuntimeError("the run failed")
    assert not (tmp_path / LOCK_NAME).exists()


def test_a_lock_of_another_host_is_not_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text("node-17.example 4242 2026-01-01T00:00:00\n")
    with pytest.raises(RefusedOnEveryRank, match=r"host node-17\.example, PID 4242"):
        with output_lock(_World(), tmp_path):
            pass
    assert (tmp_path / LOCK_NAME).exists()


def test_an_output_path_that_is_a_file_is_one_line(tmp_path):
    target = tmp_path / "a_file"
    target.write_text("")
    with pytest.raises(RefusedOnEveryRank, match="cannot lock the output folder"):
        with output_lock(_World(), target):
            pass

"""Ctrl-C reaching one rank of a running job ends the whole job (it used to leave both ranks
spinning: the interrupted rank waited at exit for the other, which waited for it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pdafpy.output_lock import LOCK_NAME

CONFIG = """
model = "lorenz96"
[ensemble]
size = 30
[[observations]]
type = "grid_point"
field = "x"
interval_h = 6.0
error = 1.0
[schedule]
length_days = 100000.0
[lorenz96]
n = 40
[parallel]
tasks = 2
"""


def _children(pid: int) -> list[int]:
    """Process ids whose parent is ``pid`` (from /proc)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the ranks")
def test_ctrl_c_reaching_one_rank_ends_the_job(tmp_path):
    cfg = tmp_path / "long.toml"
    cfg.write_text(CONFIG)
    out = tmp_path / "out"
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    job = subprocess.Popen(["mpirun", "--oversubscribe", "-n", "2", sys.executable, "-m",
                            "pdafpy.cli", "run", str(cfg), "--out", str(out), "-q"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / LOCK_NAME).exists():          # the run has started cycling
            assert job.poll() is None, job.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the run did not start"
            time.sleep(0.2)
        time.sleep(1.0)
        ranks = [p for p in _children(job.pid) if "python" in
                 Path(f"/proc/{p}/cmdline").read_bytes().decode(errors="replace")]
        assert ranks, "no rank found under mpirun"
        os.kill(ranks[-1], signal.SIGINT)
        start = time.monotonic()
        job.wait(timeout=60)
        assert time.monotonic() - start < 60
        assert job.returncode != 0
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()

"""``pdafpy run --restart``: a restarted twin ends bit-identical to an uninterrupted one.

A tiny twin (4 x 3 columns of 6 layers, 4 members, analyses every 6 h for one day: 4 cycles,
``checkpoint_every = 2``, members written) runs under ``mpirun -n 2`` as subprocesses. The
uninterrupted run is compared with (a) a run that crashes in cycle 3 (an injected solver failure
with ``on_failure = "abort"``) and is restarted from its cycle-2 checkpoint, and (b) a half-day
run extended to the full day from its last checkpoint. Every variable of every NetCDF segment
(two per output: one per checkpoint interval), the summary (less its timings) and the final
checkpoint's ensemble and model-internal state must be equal bit for bit; the crashed run keeps
its first segments closed and readable, and a checkpoint does not grow with the run. A checkpoint
of another rank layout or another configuration is refused with one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from models.landda.faults import run_pdafpy, write_config

from pdafpy.segments import open_output

netCDF4 = pytest.importorskip("netCDF4")
h5py = pytest.importorskip("h5py")
pytest.importorskip("petsc4py")

FILES = ("assimilation.nc", "open_loop.nc", "truth.nc")
SEGMENTS = [f"{name[:-3]}.{k:05d}.nc" for name in FILES + ("observations.nc",) for k in (0, 1)]
TIMINGS = ("seconds", "wall_s", "core_hours_per_member_per_simulated_year")


def datasets(path: Path) -> dict[str, np.ndarray]:
    """Every dataset of a checkpoint but the timings."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(path, "r") as h5:
        h5.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                      if isinstance(obj, h5py.Dataset) and "/seconds/" not in name
                      and not name.endswith("wall_s") else None)
    return out


def assert_same_run(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.glob("*.nc"))
    assert names == sorted(SEGMENTS) and names == sorted(p.name for p in b.glob("*.nc"))
    for name in names:
        with netCDF4.Dataset(a / name) as da, netCDF4.Dataset(b / name) as db:
            assert set(da.variables) == set(db.variables), name
            for var in da.variables:
                x, y = np.asarray(da[var][:]), np.asarray(db[var][:])
                same = np.array_equal(x, y, equal_nan=True) if x.dtype.kind == "f" \
                    else np.array_equal(x, y)
                assert same, f"{name}: {var} differs"
    for name in FILES:
        with open_output(a / name) as ds:
            assert len(ds.dimensions["time"]) == 8
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    for key in TIMINGS:
        sa.pop(key), sb.pop(key)
    assert sa == sb
    ca, cb = datasets(a / "checkpoint.h5"), datasets(b / "checkpoint.h5")
    assert set(ca) == set(cb)
    assert any("runner/ensemble" in k for k in ca) and any("forcing" in k for k in ca)
    for key in ca:
        x, y = np.asarray(ca[key]), np.asarray(cb[key])
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), key
    with h5py.File(a / "checkpoint.h5") as h5:
        assert h5.attrs["cycle"] == 3 and h5.attrs["time"] == 86400.0


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("restart")
    proc = run_pdafpy([write_config(folder, "twin.toml"), "--out", folder / "whole"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folder / "whole"


def test_run_restarted_after_a_crash_ends_bit_identical(uninterrupted, tmp_path):
    out = tmp_path / "crashed"
    aborting = write_config(tmp_path, "abort.toml", ensemble='on_failure = "abort"')
    crash = run_pdafpy([aborting, "--out", out], inject=["solve", "1", "43200", "64800"])
    assert crash.returncode != 0
    assert crash.stderr.count("assimilation member 1 (run 1) failed") == 1
    # the first interval's segments, closed at the checkpoint; the failure came in the
    # forecast before the second interval's first record, so no segment was open
    closed = sorted(n for n in SEGMENTS if ".00000." in n)
    assert sorted(p.name for p in out.iterdir()) == sorted(["checkpoint.h5"] + closed)
    for name in closed:                                      # written before the crash, valid
        with netCDF4.Dataset(out / name) as ds:
            assert len(ds.dimensions["obs" if name.startswith("obs") else "time"]) > 0
    with h5py.File(out / "checkpoint.h5") as h5:
        assert h5.attrs["cycle"] == 1 and h5.attrs["time"] == 43200.0
    # on_failure may change on restart; the failure is not injected again
    restart = run_pdafpy([write_config(tmp_path, "twin.toml"), "--out", out, "--restart",
                          out / "checkpoint.h5"])
    assert restart.returncode == 0, restart.stderr[-3000:]
    assert not list(out.glob("*.part*"))
    assert_same_run(uninterrupted, out)


def test_run_extended_from_its_last_checkpoint_ends_bit_identical(uninterrupted, tmp_path):
    out = tmp_path / "extended"
    half = run_pdafpy([write_config(tmp_path, "half.toml", days=0.5), "--out", out])
    assert half.returncode == 0, half.stderr[-3000:]
    shapes = {k: np.shape(v) for k, v in datasets(out / "checkpoint.h5").items()}
    more = run_pdafpy([write_config(tmp_path, "twin.toml"), "--out", out, "--restart",
                       out / "checkpoint.h5"])
    assert more.returncode == 0, more.stderr[-3000:]
    assert_same_run(uninterrupted, out)
    # the checkpoint after 4 cycles holds the same arrays as after 2: it does not grow
    assert {k: np.shape(v) for k, v in datasets(out / "checkpoint.h5").items()} == shapes


def test_checkpoint_of_another_layout_or_configuration_is_refused(uninterrupted, tmp_path):
    checkpoint = uninterrupted / "checkpoint.h5"
    one_rank = run_pdafpy([write_config(tmp_path, "twin.toml"), "--out", tmp_path / "a",
                           "--restart", checkpoint], ranks=1)
    assert one_rank.returncode == 2
    assert one_rank.stderr.count("written with another rank layout: world = 2 (this run: 1)") \
        == 1
    seed = run_pdafpy([write_config(tmp_path, "seed.toml", ensemble="seed = 2"), "--out",
                       tmp_path / "b", "--restart", checkpoint])
    assert seed.returncode == 2
    lines = [ln for ln in seed.stderr.splitlines() if ln.startswith("pdafpy run: error:")]
    assert len(lines) == 1
    assert "written with another configuration: ensemble.seed = 1 (this run: 2)" in lines[0]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()

"""``pdafpy verify faults``: faults and bad inputs injected into real runs, each under a timeout.

Every case runs ``pdafpy run`` on a tiny land twin (:data:`models.landda.faults.CONFIG`: 4 x 3
columns, 4 members, analyses every 6 h for 2 days, a checkpoint every 2 analyses, so each output
has 4 segments) under ``mpirun -n 2`` (run this command itself serially, not under ``mpirun``),
injects one fault, and checks what the user gets:

- the job ends within :data:`LIMIT_S` seconds (a hang fails the case);
- the exit status and the one-line message;
- which files exist, and that every closed segment and the checkpoint open;
- where the case is a crash: that the restart from the last checkpoint reproduces an
  uninterrupted run exactly (every variable of every segment, the summary less its timings).

======================  ==========================================================================
case                    fault
======================  ==========================================================================
kill9_rank              SIGKILL to rank 1 after the first checkpoint
sigint_rank             SIGINT (Ctrl-C) to rank 1 after the first checkpoint
sigterm_rank            SIGTERM to rank 1 after the first checkpoint
sigint_mpirun           SIGINT to mpirun after the first checkpoint
sigterm_mpirun          SIGTERM to mpirun (Slurm's time limit) after the first checkpoint
bug_on_one_rank         an unexpected exception on rank 1 only, mid-run
disk_full               the output folder on a 1.2 MB tmpfs (where mounting is allowed; otherwise
                        the writers fail with ENOSPC once 12 records are written)
read_only_output        the output folder on a read-only file system
truncated_checkpoint    a restart from a checkpoint cut to half its length
foreign_checkpoint      a restart from a NetCDF output given as the checkpoint
nan_observation         an observation file (a truth pass's) with one value NaN
out_of_range_obs        an observation file with a soil moisture of 7 m3 m-3
truncated_forcing       a NetCDF forcing file cut to half its length
concurrent_runs         a second run into the folder of a running one
diverging_member        one member's solver fails in every forecast (redrawn every analysis)
diverging_abort         the same with ``on_failure = "abort"``
======================  ==========================================================================

Prints a table (case, pass/FAIL/not run, seconds, what was seen) and exits with status 1 if any
case fails; ``--cases`` picks cases, ``--json`` writes the outcomes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from pdafpy.atomic import write_json

from .faults import mpi_environment, run_pdafpy, start_pdafpy, write_config

__all__ = ["CASES", "Workspace", "Outcome", "run_case", "main", "LIMIT_S"]

#: Seconds a faulty job may take to end (the issue's bound).
LIMIT_S = 60.0
#: Seconds a whole run of the tiny twin may take before it counts as hung.
RUN_LIMIT_S = 180.0
#: Outputs of the twin, each written in segments.
OUTPUTS = ("assimilation", "open_loop", "truth", "observations")
#: Summary entries that differ between runs of the same configuration.
TIMINGS = ("seconds", "wall_s", "core_hours_per_member_per_simulated_year")
DAYS = 2.0


class CaseFailed(AssertionError):
    """What a case saw differs from what it expects."""


class NotRunnable(Exception):
    """The case cannot be set up on this system (the reason is reported, not a failure)."""


def expect(condition: bool, message: str) -> None:
    """Fail the case with ``message`` unless ``condition``."""
    if not condition:
        raise CaseFailed(message)


@dataclass
class Outcome:
    """One case's result: ``status`` is "pass", "FAIL" or "not run"."""

    case: str
    status: str
    seconds: float
    detail: str


class Workspace:
    """A folder for the cases, with the configuration and, made once on first use, the
    uninterrupted run and the truth pass the cases compare with."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.config = write_config(self.root, "twin.toml", days=DAYS)
        self._reference: Path | None = None
        self._truth: Path | None = None

    def folder(self, name: str) -> Path:
        """An empty folder for a case (its outputs go in ``folder / "out"``)."""
        path = self.root / name
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    @property
    def reference(self) -> Path:
        """The uninterrupted run's output folder."""
        if self._reference is None:
            out = self.root / "reference"
            shutil.rmtree(out, ignore_errors=True)
            proc = run_pdafpy([self.config, "--out", out, "-q"], timeout=RUN_LIMIT_S)
            if proc.returncode != 0:
                raise RuntimeError(f"the uninterrupted run failed: {proc.stderr[-2000:]}")
            self._reference = out
        return self._reference

    @property
    def truth(self) -> Path:
        """A truth pass of the configuration (its ``observations.nc``, ``truth.nc``)."""
        if self._truth is None:
            text = 'mode = "truth"\n' + self.config.read_text()
            config = self.root / "truth.toml"
            config.write_text(text)
            out = self.root / "truth"
            shutil.rmtree(out, ignore_errors=True)
            proc = run_pdafpy([config, "--out", out, "-q"], timeout=RUN_LIMIT_S)
            if proc.returncode != 0:
                raise RuntimeError(f"the truth pass failed: {proc.stderr[-2000:]}")
            self._truth = out
        return self._truth


# -- checks shared by the cases ------------------------------------------------------------------

def error_lines(stderr: str) -> list[str]:
    """pdafpy's own error lines of a job's stderr."""
    return [ln for ln in stderr.splitlines() if ln.startswith("pdafpy run:")]


def closed_segments_open(out: Path) -> int:
    """Open every closed segment in ``out`` and the checkpoint; the number of segments."""
    import h5py
    import netCDF4

    segments = sorted(p for p in out.glob("*.nc") if ".part-" not in p.name)
    for path in segments:
        with netCDF4.Dataset(path) as ds:
            expect(len(ds.dimensions) > 0, f"{path.name}: no dimensions")
    if (out / "checkpoint.h5").exists():
        with h5py.File(out / "checkpoint.h5", "r") as h5:
            expect("cycle" in h5.attrs, "checkpoint.h5 has no cycle")
    return len(segments)


def same_run(a: Path, b: Path) -> None:
    """Every variable of every segment and the summary (less timings) of ``a`` and ``b`` are
    equal bit for bit."""
    import netCDF4
    import numpy as np

    names = sorted(p.name for p in a.glob("*.nc"))
    expect(names == sorted(p.name for p in b.glob("*.nc")),
           f"segments differ: {names} and {sorted(p.name for p in b.glob('*.nc'))}")
    for name in names:
        with netCDF4.Dataset(a / name) as da, netCDF4.Dataset(b / name) as db:
            expect(set(da.variables) == set(db.variables), f"{name}: variables differ")
            for var in da.variables:
                x, y = np.asarray(da[var][:]), np.asarray(db[var][:])
                same = np.array_equal(x, y, equal_nan=x.dtype.kind == "f")
                expect(same, f"{name}: {var} differs from the uninterrupted run's")
    sa, sb = (json.loads((d / "summary.json").read_text()) for d in (a, b))
    for key in TIMINGS:
        sa.pop(key, None), sb.pop(key, None)
    expect(sa == sb, "summary.json differs from the uninterrupted run's")


def wait_for(path: Path, proc: subprocess.Popen, limit_s: float = RUN_LIMIT_S) -> None:
    """Wait until ``path`` exists (the run must still be going)."""
    start = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            _, err = proc.communicate()
            raise CaseFailed(f"the run ended before {path.name} appeared: {err[-1000:]}")
        expect(time.monotonic() - start < limit_s, f"{path.name} did not appear")
        time.sleep(0.05)


def ended_within(proc: subprocess.Popen, since: float) -> tuple[int, str, float]:
    """Wait for the job to end; its status, stderr and seconds since ``since``. A job still
    running after :data:`LIMIT_S` is killed and the case fails."""
    try:
        _, err = proc.communicate(timeout=max(1.0, LIMIT_S - (time.monotonic() - since)))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise CaseFailed(f"the job did not end within {LIMIT_S:g} s") from None
    return proc.returncode, err, time.monotonic() - since


def lock_released(out: Path) -> None:
    """Wait until the process named in ``out``'s lock (left by a killed run) has exited: the
    ranks of a killed job may take a moment after mpirun returns."""
    from pdafpy.output_lock import LOCK_NAME, process_alive, lock_holder

    lock = out / LOCK_NAME
    start = time.monotonic()
    while lock.exists():
        _, pid, _ = lock_holder(lock)
        if pid is None or not process_alive(pid):
            return
        expect(time.monotonic() - start < 10.0, f"the killed run's rank 0 (PID {pid}) is still "
               "running 10 s after the job ended")
        time.sleep(0.1)


def restart_reproduces(ws: Workspace, out: Path) -> str:
    """Restart from ``out``'s checkpoint and compare with the uninterrupted run."""
    lock_released(out)
    proc = run_pdafpy([ws.config, "--out", out, "--restart", out / "checkpoint.h5", "-q"],
                      timeout=RUN_LIMIT_S)
    expect(proc.returncode == 0, f"the restart failed: {error_lines(proc.stderr)}")
    expect(not list(out.glob("*.part-*")), "the restart left open segments")
    same_run(ws.reference, out)
    return "restart reproduces the uninterrupted run"


# -- the cases -----------------------------------------------------------------------------------

def _signalled(ws: Workspace, name: str, sig: signal.Signals, to_mpirun: bool) -> str:
    out = ws.folder(name) / "out"
    proc = start_pdafpy([ws.config, "--out", out, "-q"])
    wait_for(out / "checkpoint.h5", proc)
    sent = time.monotonic()
    if to_mpirun:
        proc.send_signal(sig)
    else:
        ranks = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                               text=True).stdout.split()
        expect(len(ranks) == 2, f"expected 2 rank processes under mpirun, found {ranks}")
        os.kill(int(sorted(ranks, key=int)[-1]), sig)
    status, _, seconds = ended_within(proc, sent)
    expect(status != 0, "the job exited 0 after the signal")
    segments = closed_segments_open(out)
    expect(segments >= len(OUTPUTS), f"{segments} closed segments (expected one per output at "
           "least)")
    return (f"ended {seconds:.1f} s after {sig.name}, status {status}; {segments} closed "
            f"segments open; " + restart_reproduces(ws, out))


def kill9_rank(ws: Workspace) -> str:
    return _signalled(ws, "kill9_rank", signal.SIGKILL, False)


def sigint_rank(ws: Workspace) -> str:
    return _signalled(ws, "sigint_rank", signal.SIGINT, False)


def sigterm_rank(ws: Workspace) -> str:
    return _signalled(ws, "sigterm_rank", signal.SIGTERM, False)


def sigint_mpirun(ws: Workspace) -> str:
    return _signalled(ws, "sigint_mpirun", signal.SIGINT, True)


def sigterm_mpirun(ws: Workspace) -> str:
    return _signalled(ws, "sigterm_mpirun", signal.SIGTERM, True)


def bug_on_one_rank(ws: Workspace) -> str:
    out = ws.folder("bug_on_one_rank") / "out"
    start = time.monotonic()
    proc = start_pdafpy([ws.config, "--out", out, "-q"], inject=["bug", "1", "43200"])
    status, err, seconds = ended_within(proc, start)
    lines = error_lines(err)
    expect(status != 0 and any("error on rank 1: injected bug" in ln for ln in lines),
           f"status {status}, lines {lines or err.strip().splitlines()[-3:]}")
    closed_segments_open(out)
    return f"status {status} in {seconds:.1f} s: {lines[0]}; " + restart_reproduces(ws, out)


def _mount_tmpfs(folder: Path, options: str) -> bool:
    """Mount a tmpfs on ``folder`` (True) where this system allows it."""
    if shutil.which("mount") is None:
        return False
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True)
    return proc.returncode == 0


def _unmount(folder: Path) -> None:
    subprocess.run(["umount", str(folder)], capture_output=True)


def disk_full(ws: Workspace) -> str:
    case = ws.folder("disk_full")
    disk = case / "disk"
    disk.mkdir()
    mounted = _mount_tmpfs(disk, "size=1200k")
    try:
        out = disk / "out"
        start = time.monotonic()
        proc = start_pdafpy([ws.config, "--out", out, "-q"],
                            inject=() if mounted else ["enospc", "12"])
        status, err, seconds = ended_within(proc, start)
        lines = error_lines(err)
        expect(status != 0 and any("writing failed: No space left on device" in ln
                                   and str(out) in ln for ln in lines),
               f"status {status}, lines {lines}")
        segments = closed_segments_open(out)
        expect((out / "checkpoint.h5").exists(), "no checkpoint survived")
        saved = case / "saved"               # the closed segments and checkpoint, on a disk
        shutil.copytree(out, saved, ignore=shutil.ignore_patterns("*.part-*", ".pdafpy*"))
    finally:
        if mounted:
            _unmount(disk)
    how = "a 1.2 MB tmpfs" if mounted else "injected ENOSPC (no tmpfs mount here)"
    return (f"{how}: status {status} in {seconds:.1f} s: {lines[0]}; {segments} closed segments "
            "open; " + restart_reproduces(ws, saved))


def read_only_output(ws: Workspace) -> str:
    case = ws.folder("read_only_output")
    disk = case / "disk"
    disk.mkdir()
    if not _mount_tmpfs(disk, "ro,size=64k"):
        if os.geteuid() == 0:
            raise NotRunnable("a read-only folder needs a read-only mount, which this system "
                              "refuses, and root ignores permissions")
        disk.chmod(0o555)
    try:
        start = time.monotonic()
        proc = start_pdafpy([ws.config, "--out", disk / "out", "-q"])
        status, err, seconds = ended_within(proc, start)
    finally:
        _unmount(disk)
        disk.chmod(0o755)
    lines = error_lines(err)
    expect(status == 2 and len(lines) == 1 and "cannot lock the output folder" in lines[0],
           f"status {status}, lines {lines}")
    return f"status 2 in {seconds:.1f} s: {lines[0]}"


def _refused_restart(checkpoint: Path, ws: Workspace, wanted: str) -> str:
    out = checkpoint.parent / "out"
    start = time.monotonic()
    proc = start_pdafpy([ws.config, "--out", out, "--restart", checkpoint, "-q"])
    status, err, seconds = ended_within(proc, start)
    lines = error_lines(err)
    expect(status == 2 and len(lines) == 1 and wanted in lines[0] and "Traceback" not in err,
           f"status {status}, lines {lines}")
    expect(not out.exists(), "the output folder was created")
    return f"status 2 in {seconds:.1f} s: {lines[0]}"


def truncated_checkpoint(ws: Workspace) -> str:
    bad = ws.folder("truncated_checkpoint") / "checkpoint.h5"
    data = (ws.reference / "checkpoint.h5").read_bytes()
    bad.write_bytes(data[:len(data) // 2])
    return _refused_restart(bad, ws, "cannot read checkpoint")


def foreign_checkpoint(ws: Workspace) -> str:
    bad = ws.folder("foreign_checkpoint") / "checkpoint.h5"
    shutil.copy(ws.reference / "truth.00000.nc", bad)
    return _refused_restart(bad, ws, "not a pdafpy checkpoint")


def _assimilating(ws: Workspace, name: str, edit: Callable[[object], None],
                  wanted: str) -> str:
    """An assimilation of the truth pass's observations, ``edit`` applied to its first
    segment; the run must be refused before any model work."""
    import netCDF4

    case = ws.folder(name)
    obs = case / "observations.nc"
    shutil.copy(ws.truth / "observations.00000.nc", obs)
    with netCDF4.Dataset(obs, "a") as ds:
        edit(ds)
    text = ws.config.read_text().replace(
        'type = "surface_soil_moisture"', f'type = "surface_soil_moisture"\nfile = "{obs}"')
    text = text.replace('type = "groundwater_level"\nerror = 0.1',
                        f'type = "groundwater_level"\nfile = "{obs}"')
    config = case / "assimilate.toml"
    config.write_text('mode = "assimilate"\n' + text.replace("count = 3\n", "").replace(
        "withheld_fraction = 0.34\n", ""))
    start = time.monotonic()
    proc = start_pdafpy([config, "--out", case / "out", "-q"])
    status, err, seconds = ended_within(proc, start)
    lines = error_lines(err)
    expect(status == 2 and len(lines) == 1 and wanted in lines[0] and "Traceback" not in err,
           f"status {status}, lines {lines}")
    expect(not (case / "out").exists(), "the output folder was created")
    return f"status 2 in {seconds:.1f} s: {lines[0]}"


def nan_observation(ws: Workspace) -> str:
    def spoil(ds):
        ds["value"][3] = float("nan")
    return _assimilating(ws, "nan_observation", spoil, "values must be finite")


def out_of_range_obs(ws: Workspace) -> str:
    def spoil(ds):
        kinds = list(ds["type"][:])
        ds["value"][kinds.index("surface_soil_moisture")] = 7.0
    return _assimilating(ws, "out_of_range_obs", spoil, "outside the valid range")


def truncated_forcing(ws: Workspace) -> str:
    from pdafpy.decomposition import Box

    from models.forcing import WeatherGenerator, write_netcdf

    case = ws.folder("truncated_forcing")
    forcing = case / "forcing.nc"
    write_netcdf(forcing, WeatherGenerator(Box(0, 3, 0, 4), 4), int(24 * (DAYS + 1)), 3, 4,
                 start="2020-05-01 00:00:00")
    data = forcing.read_bytes()
    forcing.write_bytes(data[:len(data) // 2])
    config = case / "forcing.toml"
    config.write_text(ws.config.read_text() + f'[forcing]\ntype = "netcdf"\npath = "{forcing}"\n')
    start = time.monotonic()
    proc = start_pdafpy([config, "--out", case / "out", "-q"])
    status, err, seconds = ended_within(proc, start)
    lines = error_lines(err)
    expect(status == 2 and len(lines) == 1 and str(forcing) in lines[0]
           and "Traceback" not in err, f"status {status}, lines {lines}")
    expect(not (case / "out").exists(), "the output folder was created")
    return f"status 2 in {seconds:.1f} s: {lines[0]}"


def concurrent_runs(ws: Workspace) -> str:
    out = ws.folder("concurrent_runs") / "out"
    first = start_pdafpy([ws.config, "--out", out, "-q"])
    wait_for(out / ".pdafpy-run.lock", first)
    start = time.monotonic()
    second = start_pdafpy([ws.config, "--out", out, "-q"])
    status, err, seconds = ended_within(second, start)
    lines = error_lines(err)
    expect(status == 2 and len(lines) == 1 and "in use by another pdafpy run" in lines[0],
           f"status {status}, lines {lines}")
    done, first_err, _ = ended_within(first, time.monotonic())
    expect(done == 0, f"the first run failed: {error_lines(first_err)}")
    same_run(ws.reference, out)
    return (f"second run refused in {seconds:.1f} s: {lines[0]}; the first finished with "
            "outputs equal to the uninterrupted run's")


def _diverging(ws: Workspace, name: str, policy: str) -> tuple[int, str, float, Path]:
    case = ws.folder(name)
    config = write_config(case, "twin.toml", days=DAYS, ensemble=f'on_failure = "{policy}"')
    start = time.monotonic()
    proc = start_pdafpy([config, "--out", case / "out", "-q"],
                        inject=["solve", "1", "0", str(DAYS * 86400.0)])
    status, err, seconds = ended_within(proc, start)
    return status, err, seconds, case / "out"


def diverging_member(ws: Workspace) -> str:
    status, err, seconds, out = _diverging(ws, "diverging_member", "redraw")
    expect(status == 0, f"status {status}: {error_lines(err)}")
    summary = json.loads((out / "summary.json").read_text())
    analyses = int(DAYS * 4)
    expect(summary["members_redrawn"] == analyses, f"{summary['members_redrawn']} redrawn, "
           f"expected one per analysis ({analyses})")
    expect(summary["theta_out_of_bounds_cycles"] == 0, "water content out of bounds")
    closed_segments_open(out)
    return (f"finished in {seconds:.1f} s with the member redrawn {analyses} times; "
            f"surface ubRMSE reduction {100 * summary['variables']['surface']['ubrmse_reduction']:.0f} %")


def diverging_abort(ws: Workspace) -> str:
    status, err, seconds, out = _diverging(ws, "diverging_abort", "abort")
    lines = error_lines(err)
    expect(status == 1 and len(lines) == 1 and 'on_failure = "abort"' in lines[0],
           f"status {status}, lines {lines}")
    closed_segments_open(out)
    return f"status 1 in {seconds:.1f} s: {lines[0][:120]}"


CASES: dict[str, Callable[[Workspace], str]] = {f.__name__: f for f in (
    kill9_rank, sigint_rank, sigterm_rank, sigint_mpirun, sigterm_mpirun, bug_on_one_rank,
    disk_full, read_only_output, truncated_checkpoint, foreign_checkpoint, nan_observation,
    out_of_range_obs, truncated_forcing, concurrent_runs, diverging_member, diverging_abort)}


def run_case(name: str, ws: Workspace) -> Outcome:
    """Run one case; its outcome (never raises for a failed case)."""
    start = time.monotonic()
    try:
        detail, status = CASES[name](ws), "pass"
    except NotRunnable as exc:
        detail, status = str(exc), "not run"
    except CaseFailed as exc:
        detail, status = str(exc), "FAIL"
    return Outcome(name, status, round(time.monotonic() - start, 1), detail)


def main(argv: list[str] | None = None) -> int:
    """Run the cases; prints the table; 0 when none fails."""
    parser = argparse.ArgumentParser(prog="pdafpy verify faults",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), metavar="CASE",
                        help=f"cases to run (default: all): {', '.join(CASES)}")
    parser.add_argument("--work", type=Path, help="folder for the runs (default: a temporary "
                        "one, removed at the end)")
    parser.add_argument("--json", type=Path, help="write the outcomes here")
    args = parser.parse_args(argv)
    if "OMPI_COMM_WORLD_SIZE" in os.environ:
        print("pdafpy verify faults: error: run it directly, not under mpirun (it starts its "
              "own mpirun jobs)", file=sys.stderr)
        return 2
    os.environ.update(mpi_environment())
    root = args.work or Path(tempfile.mkdtemp(prefix="pdafpy-faults-"))
    ws = Workspace(root)
    outcomes = []
    print(f"{'case':22s} {'result':8s} {'s':>6s}  what was seen")
    for name in args.cases or list(CASES):
        outcome = run_case(name, ws)
        outcomes.append(outcome)
        print(f"{outcome.case:22s} {outcome.status:8s} {outcome.seconds:6.1f}  {outcome.detail}",
              flush=True)
    failed = [o.case for o in outcomes if o.status == "FAIL"]
    print(f"\n{len(outcomes) - len(failed)} of {len(outcomes)} cases without failure"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    if args.json:
        write_json(args.json, {"limit_s": LIMIT_S, "outcomes": [asdict(o) for o in outcomes]})
    if args.work is None:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0

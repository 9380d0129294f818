"""``pdafpy verify soak``: one simulated year of a small twin with daily analyses, watched from
outside for leaks.

The twin (:data:`models.landda.faults.CONFIG`: 4 x 3 columns of 6 layers, 4 members) runs
``--days`` days (default 365) under ``mpirun -n 2`` with surface soil moisture assimilated daily,
wells weekly, and a checkpoint every 30 analyses (so every output has a segment per month).
While it runs, this command samples each rank process every second from ``/proc``: resident and
peak memory (``VmRSS``, ``VmHWM``) and open file descriptors; at each new checkpoint it records
the simulated day and the checkpoint's size. At the end every output must open as one dataset
with one forecast and one analysis record per day.

=========================================  =====================================================
check                                      bound
=========================================  =====================================================
peak memory per rank after the first       within 10 % of its value at the first checkpoint
month                                      (VmHWM, each rank)
open file descriptors per rank             the same at every checkpoint after the first
checkpoint size                            within 1 % of the first checkpoint's
outputs at the end                         every output opens with 2 records per day
=========================================  =====================================================

Prints the samples per checkpoint and the checks; ``--json`` writes them. Run it directly, not
under ``mpirun`` (it starts its own job).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pdafpy.atomic import write_json

from .faults import CONFIG, mpi_environment, start_pdafpy

__all__ = ["main", "soak_config", "MEMORY_GROWTH_MAX", "CHECKPOINT_GROWTH_MAX"]

#: Largest growth of a rank's peak memory after the first month (fraction).
MEMORY_GROWTH_MAX = 0.10
#: Largest relative change of the checkpoint's size.
CHECKPOINT_GROWTH_MAX = 0.01
#: Analyses between checkpoints (a month of daily analyses).
CHECKPOINT_EVERY = 30


def soak_config(days: float) -> str:
    """The soak twin: daily surface soil moisture, weekly wells, monthly checkpoints."""
    text = CONFIG.format(days=days, ensemble="", checkpoint_every=CHECKPOINT_EVERY)
    text = text.replace("interval_h = 6.0", "interval_h = 24.0")
    text = text.replace("interval_h = 12.0", "interval_h = 168.0")
    return text.replace("members = true", "members = false")


def _status(pid: int) -> dict[str, int]:
    """``VmRSS``, ``VmHWM`` [bytes] and open descriptors of a process (empty once it ended)."""
    try:
        fields = dict(line.split(":", 1) for line in
                      Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except (OSError, ValueError):
        return {}
    if "VmRSS" not in fields or fields.get("State", "").split()[:1] in (["Z"], ["X"]):
        return {}                                   # exiting
    kib = {k: int(fields[k].split()[0]) * 1024 for k in ("VmRSS", "VmHWM")}
    return {"rss": kib["VmRSS"], "hwm": kib["VmHWM"], "fds": fds}


def _checkpoint_day(path: Path) -> float | None:
    import h5py

    try:
        with h5py.File(path, "r") as h5:
            return float(h5.attrs["time"]) / 86400.0
    except (OSError, KeyError):
        return None


def watch(proc: subprocess.Popen, out: Path) -> list[dict]:
    """Sample the ranks of ``proc`` every second; one row per new checkpoint."""
    rows: list[dict] = []
    ranks: list[int] = []
    seen = None
    checkpoint = out / "checkpoint.h5"
    while proc.poll() is None:
        if len(ranks) < 2:
            ranks = sorted(int(p) for p in subprocess.run(
                ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split())
        stamp = checkpoint.stat().st_mtime_ns if checkpoint.exists() else None
        if stamp is not None and stamp != seen:
            day = _checkpoint_day(checkpoint)
            status = [_status(pid) for pid in ranks]
            if day is not None and all(s and s["rss"] > 0 for s in status):
                seen = stamp
                rows.append({"day": day, "checkpoint_bytes": checkpoint.stat().st_size,
                             "ranks": status})
        time.sleep(1.0)
    return rows


def checks(rows: list[dict], outputs_ok: tuple[bool, str]) -> list[tuple[str, bool, str]]:
    """The soak's checks: (name, passed, figures)."""
    out = []
    if len(rows) < 3:
        return [("checkpoints sampled", False, f"{len(rows)}, expected at least 3")]
    first = rows[0]
    for r in range(len(first["ranks"])):
        hwm = [row["ranks"][r]["hwm"] for row in rows]
        growth = max(hwm[1:]) / hwm[0] - 1.0
        out.append((f"peak memory, rank {r}", growth <= MEMORY_GROWTH_MAX,
                    f"{hwm[0] / 2**20:.1f} MiB at day {first['day']:g}, at most "
                    f"{max(hwm) / 2**20:.1f} MiB after: +{100 * growth:.1f} % (bound "
                    f"{100 * MEMORY_GROWTH_MAX:g} %)"))
        fds = [row["ranks"][r]["fds"] for row in rows[1:]]
        out.append((f"open descriptors, rank {r}", len(set(fds)) == 1,
                    f"{min(fds)}-{max(fds)} after the first month"))
    sizes = [row["checkpoint_bytes"] for row in rows]
    change = max(sizes) / min(sizes) - 1.0
    out.append(("checkpoint size", change <= CHECKPOINT_GROWTH_MAX,
                f"{min(sizes)}-{max(sizes)} bytes (+{100 * change:.2f} %)"))
    out.append(("outputs at the end", *outputs_ok))
    return out


def outputs_valid(out: Path, days: float) -> tuple[bool, str]:
    """Every ensemble output opens as one dataset with a forecast and an analysis per day."""
    from pdafpy.errors import InputFileError
    from pdafpy.segments import open_output, segment_paths

    found = []
    for name in ("assimilation", "open_loop", "truth"):
        try:
            with open_output(out / f"{name}.nc") as ds:
                records = len(ds.dimensions["time"])
        except InputFileError as exc:
            return False, str(exc)
        found.append(f"{name} {records} records in {len(segment_paths(out / f'{name}.nc'))} "
                     "segments")
        if records != 2 * int(days):
            return False, f"{name}: {records} records, expected {2 * int(days)}"
    return True, "; ".join(found)


def main(argv: list[str] | None = None) -> int:
    """Run the soak; 0 when every check passes."""
    parser = argparse.ArgumentParser(prog="pdafpy verify soak", description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365, help="simulated days (default 365)")
    parser.add_argument("--work", type=Path, help="folder for the run (default: a temporary one, "
                        "removed at the end)")
    parser.add_argument("--json", type=Path, help="write the samples and checks here")
    args = parser.parse_args(argv)
    if "OMPI_COMM_WORLD_SIZE" in os.environ:
        print("pdafpy verify soak: error: run it directly, not under mpirun", file=sys.stderr)
        return 2
    if args.days < 3 * CHECKPOINT_EVERY:
        parser.error(f"--days {args.days}: at least {3 * CHECKPOINT_EVERY} (three checkpoints)")
    os.environ.update(mpi_environment())
    root = args.work or Path(tempfile.mkdtemp(prefix="pdafpy-soak-"))
    root.mkdir(parents=True, exist_ok=True)
    config = root / "soak.toml"
    config.write_text(soak_config(args.days))
    out = root / "out"
    start = time.monotonic()
    proc = start_pdafpy([config, "--out", out, "-q"])
    rows = watch(proc, out)
    _, err = proc.communicate()
    wall = time.monotonic() - start
    if proc.returncode != 0:
        print(f"pdafpy verify soak: the run failed (status {proc.returncode}): {err[-2000:]}",
              file=sys.stderr)
        return 1
    results = checks(rows, outputs_valid(out, args.days))
    print(f"{'day':>6s} {'checkpoint B':>12s}" + "".join(
        f" {'rss r' + str(r):>9s} {'peak r' + str(r):>9s} {'fds r' + str(r):>6s}"
        for r in range(2)))
    for row in rows:
        print(f"{row['day']:6g} {row['checkpoint_bytes']:12d}" + "".join(
            f" {s['rss'] / 2**20:8.1f}M {s['hwm'] / 2**20:8.1f}M {s['fds']:6d}"
            for s in row["ranks"]))
    print(f"\n{args.days} days in {wall:.0f} s on 2 ranks")
    for name, passed, figures in results:
        print(f"{name:28s} {'pass' if passed else 'FAIL':5s} {figures}")
    if args.json:
        write_json(args.json, {"days": args.days, "wall_s": wall, "samples": rows,
                               "checks": [{"check": n, "passed": p, "figures": f}
                                          for n, p, f in results]})
    if args.work is None:
        shutil.rmtree(root, ignore_errors=True)
    return 0 if all(p for _, p, _ in results) else 1

"""``pdafpy verify tutorial``: reproduce PDAF's own tutorial reference outputs.

Each case runs ``pdafpy tutorial`` as an ``mpirun`` subprocess (this process never initialises
MPI) and compares every reference file with the output of the same name: the maximum absolute
difference over all files must not exceed 1e-9 (the tolerance of PDAF's own regression checks).

Cases: offline LESTKF and ESTKF on 1, 2 and 4 ranks (the analysis split over the filter ranks);
offline ETKF against the ESTKF reference; online LESTKF with (ranks, tasks) = (1, 1), (3, 3),
(9, 9), (18, 9) (two ranks per task, the field split), (11, 9) with 2 separate filter ranks; and
online LETKF against the same reference (with the symmetric square root LETKF equals LESTKF).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .atomic import write_json

__all__ = ["Case", "CASES", "compare_folders", "main"]

TOLERANCE = 1e-9


@dataclass(frozen=True)
class Case:
    """One verification run."""

    name: str
    mode: str
    filter: str
    ranks: int
    reference: str
    tasks: int = 1
    filter_ranks: int = 0


CASES = (
    [Case(f"offline lestkf n={n}", "offline", "lestkf", n, "offline_2D_serial") for n in (1, 2, 4)]
    + [Case(f"offline estkf n={n}", "offline", "estkf", n, "offline_2D_serial_ESTKF")
       for n in (1, 2, 4)]
    + [Case("offline etkf n=2", "offline", "etkf", 2, "offline_2D_serial_ESTKF")]
    + [Case(f"online lestkf n={n} tasks={t}" + (f" filter={f}" if f else ""), "online",
            "lestkf", n, "online_2D_serialmodel", t, f)
       for n, t, f in ((1, 1, 0), (3, 3, 0), (9, 9, 0), (18, 9, 0), (11, 9, 2))]
    + [Case("online letkf n=9 tasks=9", "online", "letkf", 9, "online_2D_serialmodel", 9, 0)]
)


def compare_folders(reference: Path, output: Path) -> tuple[float, int]:
    """Maximum absolute difference over every reference file, and the number of files.

    A reference file without a counterpart in ``output`` counts as an infinite difference.
    """
    worst, count = 0.0, 0
    for ref in sorted(Path(reference).glob("*.txt")):
        count += 1
        mine = Path(output) / ref.name
        if not mine.is_file():
            return float("inf"), count
        a, b = np.loadtxt(ref), np.loadtxt(mine)
        if a.shape != b.shape:
            return float("inf"), count
        worst = max(worst, float(np.max(np.abs(a - b))))
    return worst, count


def mpirun_command(ranks: int) -> list[str]:
    """``mpirun`` with the options a run of ``ranks`` ranks needs on this machine."""
    cmd = [os.environ.get("PDAFPY_MPIRUN", "mpirun"), "-n", str(ranks)]
    if ranks > (os.cpu_count() or 1):
        cmd.append("--oversubscribe")
    return cmd


def run_case(case: Case, refs: Path, workdir: Path) -> dict:
    """Run one case and compare it with its reference; returns the result record."""
    out = workdir / case.name.replace(" ", "_").replace("=", "")
    inputs = refs / ("inputs_offline" if case.mode == "offline" else "inputs_online")
    cmd = mpirun_command(case.ranks) + [
        sys.executable, "-m", "pdafpy.cli", "-q", "tutorial", case.mode, "--inputs", str(inputs),
        "--out", str(out), "--filter", case.filter, "--tasks", str(case.tasks),
        "--filter-ranks", str(case.filter_ranks)]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode:
        diff, files = float("inf"), 0
        detail = proc.stderr.strip().splitlines()[-1:] or ["failed"]
    else:
        diff, files = compare_folders(refs / "verification" / case.reference, out)
        detail = []
    record = asdict(case)
    record.update(max_abs_diff=diff, files=files, bound=TOLERANCE, passed=diff <= TOLERANCE,
                  error=" ".join(detail))
    return record


def main(argv: list[str] | None = None) -> int:
    """Run the suite; print a table; return 1 if any case fails."""
    parser = argparse.ArgumentParser(prog="pdafpy verify tutorial", description=__doc__)
    parser.add_argument("--refs", type=Path, required=True,
                        help="folder with PDAF's tutorial inputs and verification outputs")
    parser.add_argument("--json", type=Path, help="write the results to this JSON file")
    parser.add_argument("--keep", type=Path, help="keep the outputs in this folder")
    args = parser.parse_args(argv)
    if not (args.refs / "verification").is_dir():
        print(f"pdafpy verify tutorial: {args.refs}/verification not found", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="pdafpy-verify-")) if args.keep is None else args.keep
    workdir.mkdir(parents=True, exist_ok=True)
    records = []
    print(f"{'case':44s} {'files':>5s} {'max |diff|':>11s}  pass")
    for case in CASES:
        rec = run_case(case, args.refs, workdir)
        records.append(rec)
        print(f"{case.name:44s} {rec['files']:5d} {rec['max_abs_diff']:11.3e}  "
              f"{'yes' if rec['passed'] else 'NO ' + rec['error']}", flush=True)
    if args.json:
        write_json(args.json, records)
    if args.keep is None:
        shutil.rmtree(workdir, ignore_errors=True)
    failed = sum(not r["passed"] for r in records)
    print(f"{len(records) - failed} passed, {failed} failed")
    return 1 if failed else 0

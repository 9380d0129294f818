#!/usr/bin/env python3
"""Calibrate the land twin's memory model (:mod:`pdafpy.memory`, :data:`models.landda.validation.
LAND_MEMORY`) on short real runs of ``pdafpy run``.

Each case is the model's defaults (``default.toml``: twin mode, 15 layers) on an ``nx x ny``
grid with ``size`` members, one surface-soil-moisture type and wells every 6 h, 6 simulated
hours (one analysis), run as ``mpirun -n RANKS`` with ``[parallel] tasks`` and
``filter_ranks``. Every rank runs ``pdafpy run`` in-process and reports its peak resident memory
(``VmHWM``, :func:`pdafpy.memory.peak_rss_bytes`). The four constants are fitted to every
rank's peak, less its transfer buffers, by non-negative least squares (of relative errors) on
the rank's own terms (its cells, cells x runs of its task, its filter block's state elements x
runs); the table compares each case's largest rank with the estimate ``pdafpy run`` makes
(:func:`pdafpy.memory.estimate_peak`).

    python scripts/calibrate_memory.py --json out/memory.json        # all cases, then the fit
    python scripts/calibrate_memory.py --only 12x12x8                  # one case
    python scripts/calibrate_memory.py --refit out/memory.json         # fit again, no runs

The machine, load and library versions change the figures; docs/benchmarks.md has one run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

log = logging.getLogger("calibrate_memory")

#: (nx, ny, members, ranks, tasks, filter_ranks)
CASES = [(12, 12, 8, 1, 1, 0), (24, 24, 8, 1, 1, 0), (48, 48, 8, 1, 1, 0),
         (12, 12, 32, 1, 1, 0), (12, 12, 128, 1, 1, 0), (24, 24, 64, 1, 1, 0),
         (12, 12, 8, 2, 2, 0), (24, 24, 32, 2, 2, 0), (48, 48, 8, 2, 1, 0),
         (24, 24, 32, 2, 1, 1)]


def case_name(case: tuple[int, ...]) -> str:
    nx, ny, size, ranks, tasks, filt = case
    return f"{nx}x{ny}x{size}" + (f"-n{ranks}t{tasks}f{filt}" if ranks > 1 else "")


def config_text(case: tuple[int, ...], out: Path) -> str:
    nx, ny, size, ranks, tasks, filt = case
    return (f'[ensemble]\nsize = {size}\n[grid]\nnx = {nx}\nny = {ny}\n'
            f'[[observations]]\ntype = "surface_soil_moisture"\ninterval_h = 6.0\n'
            f'[[observations]]\ntype = "groundwater_level"\ninterval_h = 6.0\ncount = 4\n'
            f'[schedule]\nlength_days = 0.25\n'
            f'[parallel]\ntasks = {tasks}\nfilter_ranks = {filt}\n'
            f'[output]\ndirectory = "{out}"\n')


def rank_main(config: str, report: str) -> int:
    """One rank: run ``pdafpy run CONFIG -q`` in this process, then write its peak RSS."""
    from mpi4py import MPI

    from pdafpy.memory import peak_rss_bytes
    from pdafpy.run import main

    status = main([config, "-q"])
    Path(f"{report}.{MPI.COMM_WORLD.Get_rank()}").write_text(json.dumps(
        {"rank": MPI.COMM_WORLD.Get_rank(), "status": status, "peak": peak_rss_bytes()}))
    return status


def measure(case: tuple[int, ...], work: Path) -> list[dict]:
    """Run one case; every rank's peak [bytes] with its role's terms."""
    nx, ny, size, ranks, tasks, filt = case
    folder = work / case_name(case)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = folder / "case.toml"
    cfg.write_text(config_text(case, folder / "out"))
    report = folder / "peak"
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--rank", str(cfg), str(report)]
    if ranks > 1:
        cmd = ["mpirun", "-n", str(ranks), "--bind-to", "none", "--oversubscribe"] + cmd
    subprocess.run(cmd, check=True, env=env, cwd=REPO, stdout=subprocess.DEVNULL)
    rows = [json.loads(Path(f"{report}.{r}").read_text()) for r in range(ranks)]
    for row in rows:
        row["case"] = case_name(case)
    return rows


def with_terms(rows: list[dict]) -> list[dict]:
    """``rows`` with each rank's terms and fixed bytes (from its case's name)."""
    cases = {case_name(c): c for c in CASES}
    for row in rows:
        row["terms"], row["fixed"] = rank_terms(cases[row["case"]], row["rank"])
    return rows


def rank_terms(case: tuple[int, ...], rank: int) -> tuple[list[float], float]:
    """This rank's multipliers of (base, cell, cell_run, element_run) and its fixed bytes (the
    transfer's buffers, :data:`pdafpy.memory.TRANSFER_BYTES` per element and run sent or
    received; none on one rank)."""
    from pdafpy.decomposition import block_boxes, choose_process_grid
    from pdafpy.groups import RunGroups
    from pdafpy.memory import TRANSFER_BYTES
    from pdafpy.parallel import member_counts

    from models.landda.validation import elements_per_column

    nx, ny, size, ranks, tasks, filt = case
    nz, per_column = 15, elements_per_column(15)
    runs = RunGroups.for_mode("twin", size).total
    per_task = (ranks - filt) // tasks
    cells = cell_runs = elements = fixed = 0.0
    if rank >= filt:
        task, local = divmod(rank - filt, per_task)
        box = block_boxes(ny, nx, *choose_process_grid(per_task, ny, nx))[local]
        cells = box.ny * box.nx * nz
        cell_runs = cells * member_counts(runs, tasks)[task]
        fixed += TRANSFER_BYTES * box.ny * box.nx * per_column * member_counts(runs, tasks)[task]
    if rank < filt or (filt == 0 and rank < per_task):
        n = filt or per_task
        box = block_boxes(ny, nx, *choose_process_grid(n, ny, nx))[rank]
        elements = box.ny * box.nx * per_column * runs
        fixed += TRANSFER_BYTES * elements
    return [1.0, cells, cell_runs, elements], (0.0 if ranks == 1 else fixed)


def fit(rows: list[dict]) -> list[float]:
    """Non-negative least squares of the ranks' peaks less their fixed bytes on their terms,
    in relative errors."""
    import numpy as np
    from scipy.optimize import nnls

    a = np.array([r["terms"] for r in rows])
    b = np.array([r["peak"] for r in rows])
    fixed = np.array([r["fixed"] for r in rows])
    scale = a.max(axis=0)
    coef, _ = nnls(a / scale / b[:, None], (b - fixed) / b)
    return (coef / scale).tolist()


def table(rows: list[dict], constants: list[float]) -> str:
    """Markdown: each case's largest rank, measured and modelled."""
    from pdafpy.memory import MemoryConstants, MemoryProblem, estimate_peak

    from models.landda.validation import elements_per_column

    c = MemoryConstants(*constants)
    lines = ["| case (nx x ny x members, ranks) | runs | measured peak [MiB] | modelled [MiB] | "
             "modelled / measured |", "|---|---|---|---|---|"]
    for case in CASES:
        name = case_name(case)
        peaks = [r["peak"] for r in rows if r["case"] == name]
        if not peaks:
            continue
        nx, ny, size, ranks, tasks, filt = case
        runs = 2 * size + 1
        problem = MemoryProblem(nx, ny, 15, elements_per_column(15), runs, size, tasks,
                                (ranks - filt) // tasks, filt)
        est = estimate_peak(problem, c).peak
        lines.append(f"| {name} | {runs} | {max(peaks) / 2**20:.0f} | {est / 2**20:.0f} | "
                     f"{est / max(peaks):.2f} |")
    return "\n".join(lines)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--rank":
        return rank_main(sys.argv[2], sys.argv[3])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the measurements and the fit here")
    parser.add_argument("--only", help="run only this case (e.g. 12x12x8)")
    parser.add_argument("--work", type=Path, help="folder for the runs (default: a temporary "
                                                  "one)")
    parser.add_argument("--refit", type=Path, metavar="JSON",
                        help="fit the measurements of an earlier --json instead of running")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    work = args.work or Path(tempfile.mkdtemp(prefix="pdafpy_memory_"))
    rows = json.loads(args.refit.read_text())["rows"] if args.refit else []
    for case in CASES if not args.refit else ():
        if args.only and case_name(case) != args.only:
            continue
        rows += measure(case, work)
        log.info("%s: peak per rank %s MiB", case_name(case),
                 ", ".join(f"{r['peak'] / 2**20:.0f}" for r in rows if r["case"] ==
                           case_name(case)))
    constants = fit(with_terms(rows))
    log.info("constants: base %.4g B, cell %.4g B, cell_run %.4g B, element_run %.4g B",
             *constants)
    print(table(rows, constants))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"rows": rows, "constants": constants}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

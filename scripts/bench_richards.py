#!/usr/bin/env python3
"""Benchmark of the Richards solver: 64 x 64 columns x 30 layers, one simulated day.

Run on P ranks with ``mpirun -n P python scripts/bench_richards.py --json FILE``; the JSON record
(appended to FILE's list if it exists) holds ranks, cells, sim_hours, wall_s, newton_its, ksp_its,
steps, mass_balance_rel, core_seconds_per_cell_hour and the time split (residual assembly,
Jacobian assembly, PETSc's solve). PETSc options after ``--`` go to the solver, e.g.
``-- -richards_pc_type hypre``. See docs/richards.md for the setup and the measured figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    petsc_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, petsc_args = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", metavar="FILE", help="append the record to FILE (a JSON list)")
    ap.add_argument("--nx", type=int, default=64)
    ap.add_argument("--ny", type=int, default=64)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--bottom", choices=("noflow", "free_drainage"), default="noflow",
                    help="bottom boundary (default: closed, as in TSMP's ParFlow setups)")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import petsc4py
    petsc4py.init([sys.argv[0]] + petsc_args)
    from petsc4py import PETSc

    from models.richards import cases

    rec = cases.benchmark(PETSc.COMM_WORLD, nx=args.nx, ny=args.ny, hours=args.hours,
                          bottom=args.bottom)
    rec["bottom"] = args.bottom
    rec["petsc_options"] = " ".join(petsc_args)
    if PETSc.COMM_WORLD.getRank() == 0:
        tot = rec["t_residual"] + rec["t_jacobian"] + rec["t_solve"]
        print(f"ranks {int(rec['ranks'])}  cells {int(rec['cells'])}  sim_hours "
              f"{rec['sim_hours']:.0f}  wall {rec['wall_s']:.2f} s  steps {int(rec['steps'])} "
              f"(rejected {int(rec['rejected'])})  newton {int(rec['newton_its'])}  ksp "
              f"{int(rec['ksp_its'])}")
        print(f"core-s per cell per simulated hour {rec['core_seconds_per_cell_hour']:.3g} "
              f"(goal 3e-5)  mass balance rel {rec['mass_balance_rel']:.2g} (goal 1e-8)")
        print(f"time split: residual {rec['t_residual']:.2f} s ({100 * rec['t_residual'] / tot:.0f}"
              f"%), Jacobian {rec['t_jacobian']:.2f} s ({100 * rec['t_jacobian'] / tot:.0f}%), "
              f"PETSc solve {rec['t_solve']:.2f} s ({100 * rec['t_solve'] / tot:.0f}%)")
        if args.json:
            records = []
            if os.path.exists(args.json):
                with open(args.json, encoding="utf-8") as fh:
                    old = json.load(fh)
                records = old if isinstance(old, list) else [old]
            records.append(rec)
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump(records, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmark of the coupled land / subsurface model: the subsurface benchmark's grid (64 x 64
columns at 500 m, Zhao et al.'s 30 layers, loam over sandy loam, log-normal Ks, closed bottom,
water table at 3 m) under the default grassland with synthetic hourly forcing from 1 June,
7 simulated days.

Run on P ranks with ``mpirun -n P python scripts/bench_coupled.py --json FILE``; the JSON record
(appended to FILE's list if it exists) holds ranks, cells, columns, sim_hours, wall_s,
land_s and subsurface_s (the slowest rank's), land_share, core_seconds_per_cell_hour (the
subsurface benchmark's key: wall x ranks / (cells x simulated hours)), the Richards solver's
counters and the water-balance residual. PETSc options after ``--`` go to the solver.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time


def config(nx: int, ny: int, seed: int = 2025, forcing_seed: int = 2027) -> dict:
    import numpy as np

    from models.richards.cases import SOILS, lognormal_field
    from models.richards.grid import ZHAO2025_DZ

    dz = np.asarray(ZHAO2025_DZ)
    depth = np.cumsum(dz) - 0.5 * dz
    lower = depth > 1.5
    loam, sl = SOILS["loam"], SOILS["sandy_loam"]
    pick = lambda i: np.where(lower, sl[i], loam[i]).tolist()          # noqa: E731
    f = lognormal_field(ny, nx, 500.0, 500.0, 2000.0, 1.0, seed)
    ks = np.where(lower, sl[4], loam[4])[:, None, None] * f[None]
    return {
        "subsurface": {
            "grid": {"nx": nx, "ny": ny, "dx_m": 500.0, "dy_m": 500.0, "layers": "zhao2025"},
            "soil": {"theta_r": pick(0), "theta_s": pick(1), "alpha_per_m": pick(2),
                     "n": pick(3), "ks_m_per_s": ks.tolist(), "ss_per_m": 1e-4},
            "boundary": {"top": {"type": "atmospheric", "h_max_m": 0.0, "h_min_m": -100.0}},
            "initial": {"water_table_depth_m": 3.0},
            "solver": {"dt_initial_s": 900.0, "dt_max_s": 3600.0,
                       "petsc_options": {"snes_rtol": 1e-8}}},
        "land": {"land_cover": "grass"},
        "forcing": {"seed": forcing_seed, "start_day_of_year": 152},
        "coupling": {"dt_s": 3600.0},
    }


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
    ap.add_argument("--days", type=float, default=7.0)
    ap.add_argument("--forcing-seed", type=int, default=2027,
                    help="weather seed (2027: 14.7 mm in the 7 days from 1 June, about the "
                         "weekly mean of 800 mm/yr; 2031: a wet week, 50 mm)")
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import petsc4py
    petsc4py.init([sys.argv[0]] + petsc_args)
    from mpi4py import MPI

    from models.coupled import CoupledModel

    comm = MPI.COMM_WORLD
    m = CoupledModel.create(comm, config(args.nx, args.ny, forcing_seed=args.forcing_seed))
    m.set_state(0, m.get_state())
    g = m.richards.solver.grid
    hours = args.days * 24.0
    comm.Barrier()
    t0 = time.perf_counter()
    m.advance(0.0, hours * 3600.0)
    comm.Barrier()
    wall = time.perf_counter() - t0
    wb = m.water_balance()
    st = m.richards.solver.stats
    ranks = comm.Get_size()
    land_s = comm.allreduce(m.time_land, op=MPI.MAX)
    sub_s = comm.allreduce(m.time_subsurface, op=MPI.MAX)
    rec = {"ranks": ranks, "cells": g.n_cells, "columns": g.nx * g.ny, "sim_hours": hours,
           "wall_s": wall, "land_s": land_s, "subsurface_s": sub_s,
           "land_share": land_s / wall,
           "core_seconds_per_cell_hour": wall * ranks / (g.n_cells * hours),
           "land_core_seconds_per_column_hour": land_s * ranks / (g.nx * g.ny * hours),
           "steps": st.steps, "rejected": st.rejected, "newton_its": st.newton_its,
           "ksp_its": st.ksp_its, "water_balance_rel": wb["relative_residual"],
           "precipitation_mm": wb["precipitation"] * 1e3 / (g.nx * g.ny * g.dx * g.dy),
           "et_mm": wb["et"] * 1e3 / (g.nx * g.ny * g.dx * g.dy),
           "forcing_seed": args.forcing_seed, "petsc_options": " ".join(petsc_args)}
    if comm.rank == 0:
        print(f"ranks {ranks}  cells {g.n_cells}  sim_hours {hours:.0f}  wall {wall:.1f} s  "
              f"steps {st.steps} (rejected {st.rejected})  newton {st.newton_its}")
        print(f"coupled core-s per cell per simulated hour {rec['core_seconds_per_cell_hour']:.3g}"
              f" (goal 4e-5)")
        print(f"land {land_s:.2f} s = {100 * rec['land_share']:.1f} % of wall (goal <= 10 %), "
              f"subsurface {sub_s:.1f} s;  water balance rel {wb['relative_residual']:.2g};  "
              f"P {rec['precipitation_mm']:.1f} mm, ET {rec['et_mm']:.1f} mm")
        if args.json:
            records = []
            if os.path.exists(args.json):
                with open(args.json, encoding="utf-8") as fh:
                    old = json.load(fh)
                records = old if isinstance(old, list) else [old]
            records.append(rec)
            from pdafpy.atomic import write_json
            write_json(args.json, records)
    return 0


if __name__ == "__main__":
    sys.exit(main())

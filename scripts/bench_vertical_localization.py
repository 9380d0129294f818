"""Benchmark of vertical localisation: the LETKF analysis of a column grid with and without it.

Problem (generated here): 64 x 64 grid columns (unit spacing), ``nz`` levels of one field
``theta`` (layer centres between interfaces ``0`` and ``geomspace(0.05, 3, nz)`` [m]) plus one
single-level field ``lai`` (not vertically localised), ``N = 16`` members drawn from a seeded
generator (a common column factor decaying with depth plus noise). Observations of ``theta``'s top
level at every 2nd column and row (1,024 observations, error 0.03, vertical range [0, 0.05] m);
``cradius = sradius = 4.5`` grid units with Gaspari-Cohn weights, about 16 local observations per
column. Vertical localisation: Gaspari-Cohn, ``length_m = 1`` (zero 1 m below the range).

One analysis = :func:`pdafpy.cycle.analysis_step` on one rank (observe, local search, transform);
the ``analyse`` phase is the filter alone. Median of ``--repeats``.

Usage::

    OMP_NUM_THREADS=1 python scripts/bench_vertical_localization.py --json bench_vertical.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

NY = NX = 64
N_MEMBERS = 16
RADIUS = 4.5
LENGTH_M = 1.0


def make_problem(nz: int):
    """Grid, full ensemble ``(N, nz + 1, NY, NX)`` (theta levels then lai) and the observation
    type."""
    import numpy as np

    from pdafpy.localize import Localization
    from pdafpy.model import Grid
    from pdafpy.obs.operators import grid_point
    from pdafpy.obs.types import ObservationType

    interfaces = np.concatenate([[0.0], np.geomspace(0.05, 3.0, nz)])
    z = 0.5 * (interfaces[1:] + interfaces[:-1])
    grid = Grid.uniform(NY, NX, z=z)
    rng = np.random.default_rng(0)
    common = rng.normal(size=(N_MEMBERS, 1, NY, NX))
    theta = 0.25 + 0.05 * (common * np.exp(-z / 2.0)[None, :, None, None]
                           + 0.5 * rng.normal(size=(N_MEMBERS, nz, NY, NX)))
    lai = 2.0 + 0.5 * common + 0.2 * rng.normal(size=(N_MEMBERS, 1, NY, NX))
    rows, cols = (a.ravel() for a in np.meshgrid(np.arange(0, NY, 2), np.arange(0, NX, 2),
                                                 indexing="ij"))
    m = rows.size
    obs = ObservationType("surface", 0.3 + 0.03 * rng.normal(size=m), np.full(m, 0.03),
                          np.column_stack([grid.x[cols], grid.y[rows]]),
                          grid_point("theta", rows, cols, 0),
                          Localization.from_pdaf(RADIUS, RADIUS, 2),
                          vertical_range=np.tile([0.0, 0.05], (m, 1)))
    return grid, np.concatenate([theta, lai], axis=1), obs


def run(nz: int, vertical: bool, repeats: int) -> dict:
    """Time the analysis of the problem with ``nz`` levels; one record."""
    import numpy as np
    from mpi4py import MPI

    from pdafpy.cycle import analysis_step
    from pdafpy.decomposition import Box
    from pdafpy.filters import make_filter
    from pdafpy.localize import VerticalLocalization
    from pdafpy.model import FieldSpec
    from pdafpy.state import StateLayout

    grid, full, obs = make_problem(nz)
    box = Box(0, NY, 0, NX)
    layout = StateLayout((FieldSpec("theta", nz), FieldSpec("lai", 1)), box)
    filt = make_filter("letkf")
    v = VerticalLocalization(LENGTH_M) if vertical else None
    seconds, analyse, local = [], [], 0
    for _ in range(repeats):
        ens = full.reshape(N_MEMBERS, -1).copy()
        t0 = time.perf_counter()
        report = analysis_step(filt, ens, layout, grid, [obs], MPI.COMM_SELF, [box], vertical=v)
        seconds.append(time.perf_counter() - t0)
        analyse.append(report.seconds["analyse"])
        local = report.local_obs
    deep = layout.view(ens, "theta")[:, grid.z >= 0.05 + LENGTH_M]
    before = full[:, :nz][:, grid.z >= 0.05 + LENGTH_M]
    return {"nz": nz, "vertical": vertical, "columns": NY * NX, "members": N_MEMBERS,
            "observations": obs.size, "local_obs_per_column": 0.0,
            "local_observations": int(local), "seconds": float(np.median(seconds)),
            "seconds_all": seconds, "analyse_seconds": float(np.median(analyse)),
            "deep_levels": int(deep.shape[1]),
            "deep_max_change": float(np.max(np.abs(deep - before))) if deep.size else 0.0}


def local_per_column() -> float:
    """Mean number of local observations per column of the problem."""
    import numpy as np

    _, _, obs = make_problem(1)
    xx, yy = np.meshgrid(np.arange(NX, dtype=float), np.arange(NY, dtype=float))
    d = np.hypot(xx.ravel()[:, None] - obs.coords[None, :, 0],
                 yy.ravel()[:, None] - obs.coords[None, :, 1])
    return float((d <= RADIUS).sum(axis=1).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the records to this file")
    parser.add_argument("--repeats", type=int, default=3, help="analyses per configuration")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 8, 16, 30],
                        help="numbers of levels nz")
    args = parser.parse_args()
    per_column = local_per_column()
    print(f"64 x 64 columns, N = {N_MEMBERS}, {per_column:.1f} local observations per column")
    print(f"{'nz':>3s} {'s (plain)':>10s} {'s (vertical)':>12s} {'analyse plain':>13s} "
          f"{'analyse vert.':>13s} {'ratio':>6s} {'deep change':>11s}")
    records = []
    for nz in args.levels:
        pair = [run(nz, vertical, args.repeats) for vertical in (False, True)]
        for rec in pair:
            rec["local_obs_per_column"] = per_column
        records += pair
        plain, vert = pair
        print(f"{nz:3d} {plain['seconds']:10.3f} {vert['seconds']:12.3f} "
              f"{plain['analyse_seconds']:13.3f} {vert['analyse_seconds']:13.3f} "
              f"{vert['analyse_seconds'] / plain['analyse_seconds']:6.2f} "
              f"{vert['deep_max_change']:11.1e}", flush=True)
    if args.json:
        from pdafpy.atomic import write_json
        write_json(args.json, records)
    return 0


if __name__ == "__main__":
    sys.exit(main())

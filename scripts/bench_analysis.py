"""Benchmark of the analysis: PDAF's tutorial scaled up, and halo bytes in weak scaling.

Problem (generated here): ``nx = 720`` columns, ``ny = 360`` rows, ``N = 32`` members. With 1-based
row ``i`` and column ``j``: truth ``sin(pi (i/ny + j/nx))``, member ``k`` (1..N)
``sin(pi (i/ny + j/nx) + 0.5 pi (k+5)/N)``; observations are the truth plus
``numpy.random.seed(0); 0.5 * numpy.random.randn(ny, nx)``, kept at every 5th column from column 5
and every 4th row from row 4 (12,960 observations, error 0.5). LESTKF and LETKF with
``cradius = sradius = 10`` grid points and Gaspari-Cohn weights; ESTKF.

Part 1 times one analysis (observe, halo exchange, local search, transform; median of
``--repeats``) on 1 and 2 ranks. Part 2 (weak scaling) gives every rank a fixed 180 x 180 block on
1, 2, 4 and 8 ranks (more ranks than cores are oversubscribed: bytes are meaningful there,
seconds are not) and reports the largest number of halo bytes a rank sends and receives, next to
what an allgather of all observations would move to every rank.

Usage::

    python scripts/bench_analysis.py --json bench_analysis.json

Each configuration runs as an ``mpirun`` subprocess of this script (``--worker``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

N_MEMBERS = 32
RADIUS = 10.0


def make_problem(ny: int, nx: int, n_members: int = N_MEMBERS):
    """Truth ``(ny, nx)``, ensemble ``(N, ny, nx)`` and the observation mask and values."""
    import numpy as np

    i = np.arange(1, ny + 1)[:, None]
    j = np.arange(1, nx + 1)[None, :]
    phase = np.pi * (i / ny + j / nx)
    truth = np.sin(phase)
    k = np.arange(1, n_members + 1)[:, None, None]
    ens = np.sin(phase[None] + 0.5 * np.pi * (k + 5) / n_members)
    np.random.seed(0)
    obs = truth + 0.5 * np.random.randn(ny, nx)
    mask = np.zeros((ny, nx), dtype=bool)
    mask[3::4, 4::5] = True
    return truth, ens, obs, mask


def worker(filter_name: str, ny: int, nx: int, repeats: int, profile: int = 0) -> None:
    """Run inside ``mpirun``: time the analysis on COMM_WORLD, print one JSON record on rank 0
    (and, with ``profile``, the top functions of one more analysis on rank 0)."""
    import numpy as np
    from mpi4py import MPI

    from pdafpy.cycle import analysis_step
    from pdafpy.decomposition import block_boxes, choose_process_grid
    from pdafpy.filters import make_filter
    from pdafpy.localize import Localization
    from pdafpy.model import FieldSpec, Grid
    from pdafpy.obs.operators import grid_point
    from pdafpy.obs.types import ObservationType
    from pdafpy.state import StateLayout

    comm = MPI.COMM_WORLD
    truth, ens_full, obs_field, mask = make_problem(ny, nx)
    grid = Grid.uniform(ny, nx, x0=1.0, y0=1.0)
    py, px = choose_process_grid(comm.Get_size(), ny, nx)
    boxes = block_boxes(ny, nx, py, px)
    box = boxes[comm.Get_rank()]
    layout = StateLayout((FieldSpec("field"),), box)
    cols, rows = np.nonzero(mask.T)                      # PDAF's column-major order
    loc = Localization.from_pdaf(RADIUS, RADIUS, 2)
    obs = ObservationType("A", obs_field[rows, cols], np.full(rows.size, 0.5),
                          np.column_stack([grid.x[cols], grid.y[rows]]),
                          grid_point("field", rows, cols), loc)
    filt = make_filter(filter_name)
    seconds, reports = [], []
    for _ in range(repeats):
        ens = np.empty((N_MEMBERS, layout.size))
        layout.view(ens, "field")[:, 0] = ens_full[:, box.y0:box.y1, box.x0:box.x1]
        comm.Barrier()
        t0 = time.perf_counter()
        report = analysis_step(filt, ens, layout, grid, [obs], comm, boxes)
        comm.Barrier()
        seconds.append(time.perf_counter() - t0)
        reports.append(report)
    if profile:
        from pdafpy.profiling import profile_table, profiled
        copy = np.empty((N_MEMBERS, layout.size))
        layout.view(copy, "field")[:, 0] = ens_full[:, box.y0:box.y1, box.x0:box.x1]
        _, stats = profiled(analysis_step, filt, copy, layout, grid, [obs], comm, boxes)
        if comm.Get_rank() == 0:
            for line in profile_table(stats, profile).splitlines():
                print("PROFILE " + line, flush=True)
    analysed = layout.view(ens, "field")[:, 0].mean(axis=0)
    err = comm.allreduce(float(np.sum((analysed - truth[box.y0:box.y1, box.x0:box.x1]) ** 2)))
    prior = float(np.sqrt(np.mean((ens_full.mean(axis=0) - truth) ** 2)))
    halo_sent = comm.allreduce(reports[-1].halo.bytes_sent, op=MPI.MAX)
    halo_recv = comm.allreduce(reports[-1].halo.bytes_received, op=MPI.MAX)
    phases = {k: comm.allreduce(v, op=MPI.MAX) for k, v in reports[-1].seconds.items()}
    n_obs = int(mask.sum())
    # an allgather of all observations: value, variance, x, y, global index, H(x) per member
    allgather = n_obs * (5 + N_MEMBERS) * 8
    if comm.Get_rank() == 0:
        print("RESULT " + json.dumps({
            "filter": filter_name, "ranks": comm.Get_size(), "ny": ny, "nx": nx,
            "members": N_MEMBERS, "observations": n_obs, "cradius": RADIUS,
            "seconds": float(np.median(seconds)), "seconds_all": seconds,
            "phase_seconds": phases, "halo_bytes_max": int(max(halo_sent, halo_recv)),
            "halo_bytes_sent_max": int(halo_sent), "halo_bytes_received_max": int(halo_recv),
            "allgather_bytes": allgather, "rmse_prior": prior,
            "rmse_analysis": float(np.sqrt(err / (ny * nx)))}), flush=True)


def launch(filter_name: str, ranks: int, ny: int, nx: int, repeats: int,
           profile: int = 0) -> dict:
    cmd = ["mpirun", "-n", str(ranks)]
    if ranks > (os.cpu_count() or 1):
        cmd.append("--oversubscribe")
    cmd += [sys.executable, __file__, "--worker", filter_name, str(ny), str(nx), str(repeats),
            str(profile)]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("PROFILE "):
            print(f"  {filter_name} on {ranks}: {line[len('PROFILE '):]}")
        if line.startswith("RESULT "):
            record = json.loads(line[len("RESULT "):])
            record["oversubscribed"] = ranks > (os.cpu_count() or 1)
            return record
    raise RuntimeError(f"benchmark run failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the records to this file")
    parser.add_argument("--repeats", type=int, default=3, help="analyses per configuration")
    parser.add_argument("--ranks", type=int, nargs="+", default=[1, 2],
                        help="rank counts of the timing part")
    parser.add_argument("--weak", type=int, nargs="*", default=[1, 2, 4, 8, 16],
                        help="rank counts of the weak-scaling part")
    parser.add_argument("--filters", nargs="+", default=["lestkf", "letkf", "estkf"],
                        help="filters of the timing part")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="print the N functions with the most own time of one analysis "
                        "(rank 0)")
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        name, ny, nx, repeats, profile = args.worker
        worker(name, int(ny), int(nx), int(repeats), int(profile))
        return 0

    records = []
    print(f"{'part':6s} {'filter':7s} {'ranks':>5s} {'grid':>9s} {'s/analysis':>10s} "
          f"{'halo B max':>11s} {'allgather B':>11s} {'rmse f->a':>15s}")
    for name in args.filters:
        for ranks in args.ranks:
            rec = launch(name, ranks, 360, 720, args.repeats, args.profile)
            rec["part"] = "time"
            records.append(rec)
            print(f"{'time':6s} {name:7s} {ranks:5d} {'360x720':>9s} {rec['seconds']:10.2f} "
                  f"{rec['halo_bytes_max']:11d} {rec['allgather_bytes']:11d} "
                  f"{rec['rmse_prior']:.3f}->{rec['rmse_analysis']:.3f}", flush=True)
    shapes = {1: (180, 180), 2: (180, 360), 4: (360, 360), 8: (360, 720), 16: (720, 720)}
    for ranks in args.weak:
        ny, nx = shapes[ranks]
        rec = launch("lestkf", ranks, ny, nx, 1)
        rec["part"] = "weak"
        records.append(rec)
        print(f"{'weak':6s} {'lestkf':7s} {ranks:5d} {f'{ny}x{nx}':>9s} {rec['seconds']:10.2f} "
              f"{rec['halo_bytes_max']:11d} {rec['allgather_bytes']:11d}", flush=True)
    if args.json:
        from pdafpy.atomic import write_json
        write_json(args.json, records)
    return 0


if __name__ == "__main__":
    sys.exit(main())

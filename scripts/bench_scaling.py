"""Scaling of the whole assimilation cycle over rank layouts: the packaged land twin, per phase.

Each layout runs the packaged example (``models/landda/example.toml``: LETKF, surface soil
moisture twice a day and daily wells, 16 members, with the open loop and the truth 33 runs,
records every 6 h) for ``--days`` days under ``mpirun`` and reports the wall time of every phase of the cycle
(forecast, collect, observe, halo, analyse, distribute, output), the maximum over ranks, and the
cost in core-seconds per cell per simulated hour. Layouts are ``TxR`` (``T`` model tasks of
``R`` ranks each) or ``TxR+F`` (``F`` separate filter ranks).

- **strong** scaling: the same grid (``--grid``, columns per side) on every layout;
- **weak** scaling: ``--grid`` x ``--grid`` columns per model rank, the grid growing with the
  ranks of one task as their process grid, so that every rank advances the same columns.

Usage::

    .venv/bin/python scripts/bench_scaling.py --json out/bench_scaling.json \
        --png out/bench_scaling.png                    # 1 and 2 ranks, as this machine allows
    .venv/bin/python scripts/bench_scaling.py --strong 1x1 1x2 2x2 4x4 --weak 1 2 4 8 16 \
        --json scaling.json                            # on a node with 16 cores

More ranks than cores are run oversubscribed, and their timings are marked so: they check the
layout, not the speed.

On a cluster, ``--slurm DIR --nodes 1 2 4 8 --cores-per-node 128`` writes one batch script per
node count into ``DIR`` (an array's tasks would share one resource request): each runs this
script on its allocation with layouts that fill it (strong: the ``--grid`` grid over ``T x R``,
``T x 4R`` and ``T x 16R`` layouts, ``R`` the fewest ranks per task that leave no more tasks than
the 33 runs; weak: one task over every core), writing
``scaling_<nodes>n.json``; ``--merge FILES --json all.json --png all.png`` joins their records::

    .venv/bin/python scripts/bench_scaling.py --slurm jobs --nodes 1 2 4 8 \
        --cores-per-node 128 --grid 64 --days 1 --partition batch --account myproject
    for f in jobs/*.sbatch; do sbatch "$f"; done
    .venv/bin/python scripts/bench_scaling.py --merge jobs/scaling_*n.json --json all.json \
        --png all.png
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

PHASES = ("forecast", "collect", "observe", "halo", "analyse", "distribute", "output")
#: Runs of the packaged example: 16 members, their open loop and the truth.
RUNS = 33


def parse_layout(text: str) -> tuple[int, int, int]:
    """``"TxR"`` or ``"TxR+F"`` -> (tasks, ranks per task, filter ranks)."""
    head, _, filters = text.partition("+")
    tasks, _, per_task = head.partition("x")
    try:
        return int(tasks), int(per_task), int(filters or 0)
    except ValueError:
        raise SystemExit(f"bench_scaling: layout {text!r}: expected TxR or TxR+F, e.g. 2x1 or "
                         "1x1+1") from None


def worker(table_json: str, out: str) -> None:
    """Inside ``mpirun``: run the example with the table's overrides; print the summary."""
    from mpi4py import MPI

    from models.landda.setup import load
    from models.landda.twin import EXAMPLE_FILE, run_twin

    cfg, tables = load(json.loads(table_json), EXAMPLE_FILE)
    summary = run_twin(MPI.COMM_WORLD, cfg, tables, Path(out))
    if MPI.COMM_WORLD.Get_rank() == 0:
        print("RESULT " + json.dumps(summary), flush=True)


def launch(layout: str, nx: int, ny: int, days: float, out: Path) -> dict:
    """Run one layout; its record."""
    tasks, per_task, filters = parse_layout(layout)
    ranks = tasks * per_task + filters
    table = {"grid": {"nx": nx, "ny": ny}, "schedule": {"length_days": days},
             "parallel": {"tasks": tasks, "filter_ranks": filters}}
    cmd = ["mpirun", "-n", str(ranks), "--bind-to", "none"]
    oversubscribed = ranks > (os.cpu_count() or 1)
    if oversubscribed:
        cmd.append("--oversubscribe")
    cmd += [sys.executable, __file__, "--worker", json.dumps(table),
            str(out / f"{layout}_{nx}x{ny}")]
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            summary = json.loads(line[len("RESULT "):])
            cells = nx * ny * summary["grid"][2]
            hours = days * 24.0
            return {"layout": layout, "tasks": tasks, "ranks_per_task": per_task,
                    "filter_ranks": filters, "ranks": ranks, "nx": nx, "ny": ny,
                    "nz": summary["grid"][2], "runs": summary["runs"], "days": days,
                    "wall_s": summary["wall_s"], "seconds": summary["seconds"],
                    "core_s_per_cell_hour": summary["wall_s"] * ranks / cells / hours,
                    "oversubscribed": oversubscribed}
    raise RuntimeError(f"bench_scaling: {' '.join(cmd[:4])} failed:\n{proc.stderr[-2000:]}")


def plot(records: list[dict], path: Path) -> None:
    """Stacked bars of the phases' seconds per run of the table."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(1.2 * len(records) + 3, 4))
    bottom = np.zeros(len(records))
    labels = [f"{r['kind']}\n{r['layout']}\n{r['nx']}x{r['ny']}" for r in records]
    for phase in PHASES:
        values = np.array([r["seconds"].get(phase, 0.0) for r in records])
        ax.bar(labels, values, bottom=bottom, label=phase)
        bottom += values
    ax.set_ylabel("wall time [s] (maximum over ranks)")
    ax.set_title("the whole cycle per phase: packaged land twin")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def slurm_jobs(folder: Path, nodes: list[int], cores: int, grid: int, days: float,
               time_limit: str, partition: str, account: str) -> list[Path]:
    """One batch script per node count (see the module notes); their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    script = Path(__file__).resolve()
    paths = []
    for n in nodes:
        ranks = n * cores
        per_task = 1
        while ranks // per_task > RUNS:                  # no more tasks than runs
            per_task *= 2
        strong = [f"{ranks // r}x{r}" for r in (per_task, 4 * per_task, 16 * per_task)
                  if ranks // r >= 1]
        lines = ["#!/bin/bash", f"#SBATCH --job-name=pdafpy-scaling-{n}n",
                 f"#SBATCH --nodes={n}", f"#SBATCH --ntasks-per-node={cores}",
                 f"#SBATCH --time={time_limit}", "#SBATCH --exclusive",
                 f"#SBATCH --output={folder.resolve()}/scaling_{n}n.log"]
        lines += [f"#SBATCH --partition={partition}"] if partition else []
        lines += [f"#SBATCH --account={account}"] if account else []
        lines += ["set -euo pipefail", f"cd {script.parents[1]}",
                  "export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1",
                  f".venv/bin/python {script} --strong {' '.join(strong)} --weak {ranks} "
                  f"--grid {grid} --days {days:g} --json {folder.resolve()}/scaling_{n}n.json "
                  f"--out {folder.resolve()}/out_{n}n"]
        path = folder / f"scaling_{n}n.sbatch"
        path.write_text("\n".join(lines) + "\n")
        paths.append(path)
    return paths


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strong", nargs="*", default=["1x1", "1x2", "2x1"],
                        help="layouts of the strong-scaling part (TxR or TxR+F)")
    parser.add_argument("--weak", type=int, nargs="*", default=[1, 2],
                        help="model ranks of the weak-scaling part (one task)")
    parser.add_argument("--grid", type=int, default=8, help="columns per side (per model rank "
                        "along x in the weak part)")
    parser.add_argument("--days", type=float, default=2.0, help="simulated days per run")
    parser.add_argument("--json", type=Path, help="write the records here")
    parser.add_argument("--png", type=Path, help="draw the phases per run here")
    parser.add_argument("--out", type=Path, default=Path("out/bench_scaling"))
    parser.add_argument("--slurm", type=Path, metavar="DIR",
                        help="write one batch script per node count here instead of running")
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2, 4, 8],
                        help="node counts of --slurm")
    parser.add_argument("--cores-per-node", type=int, default=128)
    parser.add_argument("--time", default="02:00:00", help="time limit of each job")
    parser.add_argument("--partition", default="")
    parser.add_argument("--account", default="")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="FILE",
                        help="join these JSON files' records (with --json, --png)")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return 0
    if args.slurm:
        for path in slurm_jobs(args.slurm, args.nodes, args.cores_per_node, args.grid,
                               args.days, args.time, args.partition, args.account):
            print(path)
        return 0
    if args.merge:
        records = [r for f in args.merge for r in json.loads(f.read_text())]
        if args.json:
            from pdafpy.atomic import write_json
            write_json(args.json, records)
        if args.png:
            plot(records, args.png)
        print(f"{len(records)} records from {len(args.merge)} files")
        return 0
    runs = [("strong", layout, args.grid, args.grid) for layout in args.strong]
    for r in args.weak:
        from pdafpy.decomposition import choose_process_grid
        py, px = choose_process_grid(r, args.grid * r, args.grid * r)
        runs.append(("weak", f"1x{r}", args.grid * px, args.grid * py))
    records = []
    head = " ".join(f"{p:>8s}" for p in PHASES)
    print(f"{'kind':6s} {'layout':>7s} {'grid':>7s} {'ranks':>5s} {head} {'wall':>8s} "
          f"{'core-s/cell/h':>13s}")
    for kind, layout, nx, ny in runs:
        record = dict(launch(layout, nx, ny, args.days, args.out), kind=kind)
        records.append(record)
        phases = " ".join(f"{record['seconds'].get(p, 0.0):8.2f}" for p in PHASES)
        mark = " (oversubscribed)" if record["oversubscribed"] else ""
        print(f"{kind:6s} {layout:>7s} {f'{nx}x{ny}':>7s} {record['ranks']:5d} {phases} "
              f"{record['wall_s']:8.2f} {record['core_s_per_cell_hour']:13.3e}{mark}",
              flush=True)
    if args.json:
        from pdafpy.atomic import write_json
        write_json(args.json, records)
    if args.png:
        plot(records, args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())

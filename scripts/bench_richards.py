#!/usr/bin/env python3
"""Benchmark of the Richards solver: 64 x 64 columns x 30 layers, one simulated day.

Run on P ranks with ``mpirun -n P python scripts/bench_richards.py --json FILE``; the JSON record
(appended to FILE's list if it exists) holds ranks, cells, sim_hours, wall_s, cpu_s, newton_its,
ksp_its, steps, mass_balance_rel, core_seconds_per_cell_hour and the time split (residual
assembly, Jacobian assembly, PETSc's solve). ``--forcing storm`` rains 20 mm/h from 01 to 04
instead of the benign day; ``--bottom open`` holds h = 0 at the bottom face. PETSc options after
``--`` go to the solver, e.g. ``-- -richards_pc_type hypre``. See docs/richards.md for the setup
and docs/benchmarks.md for the measured figures.

``--anchor DIR`` compares this checkout with the code of another checkout ``DIR`` (e.g. a git
worktree of an older commit: ``git worktree add /tmp/richards_base HEAD``) in the same sitting,
serially: the comparison cases (``--cases``: the benign day and the storm on 64 x 64 columns, the
storm over an open bottom on 16 x 16) run in subprocesses, DIR's code (``PYTHONPATH=DIR``) and
this checkout's interleaved, ``--repeat`` times each. Both run this checkout's case definitions
(``models/richards/cases.py``, loaded into the package found on the path), so only the solver,
controller and discretisation differ. Per case it reports steps, Newton iterations, wall and CPU
seconds (medians), core-s per cell per simulated hour, the new/old cost ratios, the implied cost
ratio to ParFlow (the ratio measured against ParFlow with the old code, times new/old), the RMS
and largest difference of the final heads and both mass-balance errors; with ``--json FILE`` the
records are appended to FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES_FILE = ROOT / "models" / "richards" / "cases.py"

#: The comparison cases of ``--anchor``: grid, forcing, bottom, and pdafpy's cost over ParFlow's
#: measured with the old code (shared/reference/benchmarks.md section 5.3a: 0.71 in wall time on
#: the benign day, about 0.32 in CPU on the storm; ParFlow did not finish the open bottom).
COMPARE_CASES: dict[str, dict] = {
    "benign": {"nx": 64, "ny": 64, "forcing": "benign", "bottom": "noflow", "parflow": 0.71},
    "storm": {"nx": 64, "ny": 64, "forcing": "storm", "bottom": "noflow", "parflow": 0.32},
    "open_storm": {"nx": 16, "ny": 16, "forcing": "storm", "bottom": "open", "parflow": None},
}


def _load_cases(path: str):
    """``cases.py`` at ``path`` loaded as a module of the ``models.richards`` package found on
    the path, so that its relative imports take that package's solver."""
    import importlib.util

    import models.richards  # noqa: F401  (the package the file's relative imports resolve in)

    spec = importlib.util.spec_from_file_location("models.richards._bench_cases", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _git_head(path: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--",
                                "models/richards"], capture_output=True, text=True,
                               check=True).stdout.strip()
        return out + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _run_worker(code: Path, case: dict, hours: int, petsc_args: list[str], out: Path) -> dict:
    """One case in a subprocess with ``code`` first on the path; the record, with the final
    head in ``out.npy``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(code)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
        OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(out),
           "--nx", str(case["nx"]), "--ny", str(case["ny"]), "--hours", str(hours),
           "--forcing", case["forcing"], "--bottom", case["bottom"]]
    if petsc_args:
        cmd += ["--"] + petsc_args
    subprocess.run(cmd, env=env, check=True, cwd=str(code))
    with open(f"{out}.json", encoding="utf-8") as fh:
        return json.load(fh)


def compare(anchor: Path, names: list[str], repeat: int, hours: int,
            petsc_args: list[str]) -> list[dict]:
    """Run the comparison cases with ``anchor``'s code and this checkout's, interleaved (the
    order alternating between repetitions); one record per case."""
    import numpy as np

    runs: dict[tuple[str, str], list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_richards_") as tmp:
        for rep in range(repeat):
            for name in names:
                order = ("old", "new") if rep % 2 == 0 else ("new", "old")
                for which in order:
                    code = anchor if which == "old" else ROOT
                    out = Path(tmp) / f"{name}_{which}_{rep}"
                    rec = _run_worker(code, COMPARE_CASES[name], hours, petsc_args, out)
                    if rep == 0:
                        rec["head"] = np.load(f"{out}.npy")
                    runs.setdefault((name, which), []).append(rec)
                    print(f"  {name:10s} {which} rep {rep}: wall {rec['wall_s']:.2f} s, "
                          f"{int(rec['steps'])} steps, {int(rec['newton_its'])} Newton",
                          flush=True)
    records = []
    for name in names:
        old, new = runs[(name, "old")], runs[(name, "new")]
        d = new[0]["head"] - old[0]["head"]
        rec = {"kind": "anchor_comparison", "case": name, **{k: v for k, v in
               COMPARE_CASES[name].items() if k != "parflow"},
               "sim_hours": hours, "cells": new[0]["cells"], "repeat": repeat,
               "anchor": str(anchor), "anchor_commit": _git_head(anchor),
               "commit": _git_head(ROOT), "petsc_options": " ".join(petsc_args),
               "head_rms_diff_m": float(np.sqrt(np.mean(d ** 2))),
               "head_max_abs_diff_m": float(np.max(np.abs(d)))}
        for tag, rs in (("old", old), ("new", new)):
            rec[f"{tag}_steps"] = rs[0]["steps"]
            rec[f"{tag}_rejected"] = rs[0]["rejected"]
            rec[f"{tag}_newton_its"] = rs[0]["newton_its"]
            rec[f"{tag}_wall_s"] = [r["wall_s"] for r in rs]
            rec[f"{tag}_cpu_s"] = [r["cpu_s"] for r in rs]
            rec[f"{tag}_mass_balance_rel"] = rs[0]["mass_balance_rel"]
            rec[f"{tag}_core_seconds_per_cell_hour"] = statistics.median(
                r["core_seconds_per_cell_hour"] for r in rs)
        for t in ("wall", "cpu"):
            rec[f"ratio_{t}"] = (statistics.median(rec[f"new_{t}_s"])
                                 / statistics.median(rec[f"old_{t}_s"]))
            # the same ratio per interleaved pair, median: robust to a load change mid-run
            rec[f"ratio_{t}_paired"] = statistics.median(
                n / o for n, o in zip(rec[f"new_{t}_s"], rec[f"old_{t}_s"]))
        pf = COMPARE_CASES[name]["parflow"]
        rec["parflow_ratio_old"] = pf
        rec["parflow_ratio_new"] = None if pf is None else pf * rec["ratio_cpu"]
        records.append(rec)
    return records


def print_comparison(records: list[dict]) -> None:
    """The table of :func:`compare`'s records."""
    print(f"\nanchor {records[0]['anchor']} ({records[0]['anchor_commit'][:12]}), this checkout "
          f"{records[0]['commit'][:12]}; medians over {records[0]['repeat']} interleaved runs")
    head = (f"{'case':10s} {'steps old/new':>14s} {'Newton old/new':>15s} {'wall old/new [s]':>17s}"
            f" {'cpu old/new [s]':>16s} {'core-s/cell/h old/new':>22s} {'new/old wall':>12s}"
            f" {'new/old cpu':>11s} {'ParFlow old->new':>16s} {'head RMS/max diff [m]':>22s}"
            f" {'mass bal. old/new':>18s}")
    print(head)
    for r in records:
        med = statistics.median
        pf = ("-" if r["parflow_ratio_old"] is None else
              f"{r['parflow_ratio_old']:.2f}->{r['parflow_ratio_new']:.2f}")
        print(f"{r['case']:10s} {int(r['old_steps']):>6d}/{int(r['new_steps']):<7d} "
              f"{int(r['old_newton_its']):>7d}/{int(r['new_newton_its']):<7d} "
              f"{med(r['old_wall_s']):>8.2f}/{med(r['new_wall_s']):<8.2f} "
              f"{med(r['old_cpu_s']):>7.2f}/{med(r['new_cpu_s']):<8.2f} "
              f"{r['old_core_seconds_per_cell_hour']:>10.2e}/"
              f"{r['new_core_seconds_per_cell_hour']:<11.2e} {r['ratio_wall']:>12.3f} "
              f"{r['ratio_cpu']:>11.3f} {pf:>16s} "
              f"{r['head_rms_diff_m']:>10.2e}/{r['head_max_abs_diff_m']:<11.2e} "
              f"{r['old_mass_balance_rel']:>8.1e}/{r['new_mass_balance_rel']:<8.1e}")


def _append_json(path: str, records: list[dict]) -> None:
    old: list = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            loaded = json.load(fh)
        old = loaded if isinstance(loaded, list) else [loaded]
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(old + records, fh, indent=2)


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
    ap.add_argument("--bottom", choices=("noflow", "free_drainage", "open"), default="noflow",
                    help="bottom boundary (default: closed, as in TSMP's ParFlow setups; open: "
                         "h = 0 at the bottom face)")
    ap.add_argument("--forcing", choices=("benign", "storm"), default="benign",
                    help="top flux: the benign day (default) or 20 mm/h from 01 to 04")
    ap.add_argument("--anchor", metavar="DIR", type=Path,
                    help="compare with the code of the checkout DIR (see above)")
    ap.add_argument("--cases", default=",".join(COMPARE_CASES),
                    help=f"comparison cases of --anchor (default {','.join(COMPARE_CASES)})")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each comparison case and code (default 3)")
    ap.add_argument("--worker", metavar="OUT", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.anchor is not None:
        names = [c for c in args.cases.split(",") if c]
        bad = [c for c in names if c not in COMPARE_CASES]
        if bad:
            ap.error(f"unknown cases {bad}; known: {', '.join(COMPARE_CASES)}")
        if not (args.anchor / "models" / "richards" / "solver.py").is_file():
            ap.error(f"--anchor {args.anchor}: no models/richards/solver.py there")
        records = compare(args.anchor.resolve(), names, args.repeat, args.hours, petsc_args)
        print_comparison(records)
        if args.json:
            _append_json(args.json, records)
        return 0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    import petsc4py
    petsc4py.init([sys.argv[0]] + petsc_args)
    from petsc4py import PETSc

    if args.worker:
        cases = _load_cases(str(CASES_FILE))
    else:
        from models.richards import cases

    rec = cases.benchmark(PETSc.COMM_WORLD, nx=args.nx, ny=args.ny, hours=args.hours,
                          bottom=args.bottom, forcing=args.forcing,
                          return_head=bool(args.worker))
    rec["bottom"] = args.bottom
    rec["forcing"] = args.forcing
    rec["petsc_options"] = " ".join(petsc_args)
    if args.worker:
        import numpy as np

        import models.richards

        head = rec.pop("head")
        rec["code"] = str(Path(models.richards.__file__).resolve().parents[2])
        if PETSc.COMM_WORLD.getRank() == 0:
            np.save(f"{args.worker}.npy", head)
            with open(f"{args.worker}.json", "w", encoding="utf-8") as fh:
                json.dump(rec, fh)
        return 0
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
            _append_json(args.json, [rec])
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Benchmark of the whole assimilation cycle on a Z25-like setup: core-seconds per cell, simulated
hour and run, with the shares of model, analysis, exchange and output.

The setup (written by :func:`experiment`): a twin of the coupled land-subsurface model on
12 x 12 columns of 500 m (``--nx``) with Z25's 14 layers to 8.4 m (CLM-ParFlow's ten to 3 m
plus four of 1.35 m), loam (Carsel and Parrish 1988), a regional head at 6 m below the surface,
16 members (``--members``) with Z25's weather perturbations (with their cross-correlations) and
Ks (sd 0.1 in log10, standing in for Z25's texture perturbation, which main of 2026-12-04
cannot run: its truth fails at the smallest time step), LEnKF with a 1.5 km radius, SMAP-like
surface soil moisture (0-5 cm, 2 x 2 footprints, 0.04) and 10 wells, both daily, daily
analyses, output every 24 h (ensemble mean and spread, the open loop, the truth). The forcing
window: 6 days from 1 May, synthetic weather of seed 2 (a wet day in three, 1 m a year): two dry
days, a storm of 47 mm on day 3, three dry days (the script prints the daily precipitation it
generates).

The anchor needs its own entry points: in its worktree, ``python setup.py -q egg_info`` (the
folder comes first on ``PYTHONPATH``, so its ``pdafpy.egg-info`` is the one read).

``pdafpy run`` runs it on ``--ranks`` ranks (one model task), from each ``--code`` folder in
turn (a ``git worktree`` of another commit, for the same-sitting comparison the speed goals ask
for), ``--repeat`` times, alternating. Each record (JSON) holds the wall time, the phase seconds
of ``summary.json``, ``core_s_per_cell_hour_run`` = wall x ranks / (cells x simulated hours x
runs), the same for the forecast alone, and the ratio to TSMP-PDAF's 1.2e-3 core-s per cell,
hour and member for Z25's year (250,000 core-hours for 300 x 300 x 30 cells, 32 members, 8760
hours). The table gives the median per code.

Usage::

    python scripts/bench_cycle.py --json out/bench_cycle.json [--code . /tmp/anchor] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: TSMP-PDAF for Z25: 250,000 core-hours / (300 x 300 x 30 cells x 8760 h x 32 members).
TSMP_PDAF_CORE_S = 250_000 * 3600.0 / (300 * 300 * 30 * 8760 * 32)
DAYS, FORCING_SEED, START_DOY = 6.0, 2, 121
Z25_DZ = [0.02, 0.03, 0.05, 0.07, 0.13, 0.2, 0.3, 0.5, 0.7, 1.0, 1.35, 1.35, 1.35, 1.35]


def experiment(out: Path, nx: int = 12, members: int = 16) -> str:
    """The TOML of the setup (see the module notes), output under ``out``."""
    forcing = ('{ precipitation = { sd = 0.5, sd_space = "factor", mean = 0.95, '
               'time_scale_s = 86400.0 }, shortwave = { sd = 0.3, sd_space = "factor", '
               'time_scale_s = 86400.0 }, longwave = { sd = 30.0, time_scale_s = 86400.0 }, '
               'air_temperature = { sd = 1.5, time_scale_s = 86400.0 } }')
    return f"""mode = "twin"
model = "coupled"
[ensemble]
size = {members}
seed = 2
[filter]
type = "lenkf"
[localization]
radius_m = 1500.0
[inflation]
multiplicative = 1.0
[[observations]]
type = "surface_soil_moisture"
error = 0.04
interval_h = 24.0
depth_m = 0.05
footprint_cells = 2
[[observations]]
type = "groundwater_level"
error = 0.05
interval_h = 24.0
count = 10
withheld_fraction = 0.5
[schedule]
start = "2020-05-01T00:00:00"
length_days = {DAYS}
[output]
directory = "{out}"
every_h = 24.0
[update]
variable = "water_content"
[grid]
nx = {nx}
ny = {nx}
dx_m = 500.0
dy_m = 500.0
dz_m = {Z25_DZ}
[soil]
theta_r = 0.078
theta_s = 0.43
alpha_per_m = 3.6
n = 1.56
ks_m_per_s = 2.89e-6
ss_per_m = 1e-4
[boundary]
bottom = {{ type = "head", water_table_depth_m = 6.0 }}
[initial]
water_table_depth_m = 2.0
[forcing]
seed = {FORCING_SEED}
start_day_of_year = {START_DOY}
wet_day_probability = 0.3
annual_precipitation_m = 1.0
[perturbations]
log10_ks_sd = 0.1
initial_head_sd_m = 0.05
forcing = {forcing}
forcing_correlation = [[1.0, -0.8, 0.5, 0.0], [-0.8, 1.0, -0.5, 0.4], [0.5, -0.5, 1.0, 0.4], [0.0, 0.4, 0.4, 1.0]]
"""


def daily_precipitation_mm() -> list[float]:
    """The unperturbed forcing's domain-mean precipitation per day of the window [mm]."""
    from models.forcing import forcing_from_config
    from pdafpy.decomposition import Box

    source = forcing_from_config({"seed": FORCING_SEED, "start_day_of_year": START_DOY,
                                  "wet_day_probability": 0.3, "annual_precipitation_m": 1.0},
                                 Box(0, 2, 0, 2), 2, 2)
    return [sum(float(source.at(d * 86400.0 + h * 3600.0)["precipitation"].mean()) * 3600.0
                for h in range(24)) for d in range(int(DAYS))]


def run_once(code: Path, ranks: int, nx: int, members: int) -> dict:
    """One ``pdafpy run`` of the setup from the code in ``code``: its record."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        cfg = Path(tmp) / "cycle.toml"
        cfg.write_text(experiment(out, nx, members))
        env = dict(os.environ, PYTHONPATH=str(code), OMP_NUM_THREADS="1",
                   OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
                   OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        cmd = ["mpirun", "-n", str(ranks), "--bind-to", "none", "-x", "PYTHONPATH",
               sys.executable, "-m", "pdafpy.cli", "run", str(cfg), "--tasks", "1"]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=code, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode:
            raise RuntimeError(f"{' '.join(cmd)} in {code} failed:\n{proc.stderr[-2000:]}")
        summary = json.loads((out / "summary.json").read_text())
    seconds = summary["seconds"]
    runs = int(summary["runs"])
    cells = nx * nx * len(Z25_DZ)
    hours = 24.0 * DAYS
    per = ranks / (cells * hours * runs)
    exchange = sum(seconds.get(k, 0.0) for k in ("collect", "halo", "distribute"))
    return {"code": str(code), "ranks": ranks, "cells": cells, "runs": runs, "hours": hours,
            "wall_s": wall, "summary_wall_s": summary["wall_s"], "seconds": seconds,
            "shares": {"model": seconds["forecast"] / summary["wall_s"],
                       "analysis": (seconds.get("observe", 0.0) + seconds["analyse"])
                       / summary["wall_s"],
                       "exchange": exchange / summary["wall_s"],
                       "output": (seconds["output"] + seconds.get("checkpoint", 0.0))
                       / summary["wall_s"]},
            "core_s_per_cell_hour_run": summary["wall_s"] * per,
            "forecast_core_s_per_cell_hour_run": seconds["forecast"] * per,
            "tsmp_pdaf_ratio": summary["wall_s"] * per / TSMP_PDAF_CORE_S}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--code", type=Path, nargs="+", default=[REPO],
                        help="folders holding the code to time (default this checkout); the "
                        "first is the one the ratios are for, the second its anchor")
    parser.add_argument("--ranks", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--nx", type=int, default=12, help="columns per side (default 12)")
    parser.add_argument("--members", type=int, default=16)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rain = daily_precipitation_mm()
    print("daily precipitation [mm]: " + ", ".join(f"{p:.1f}" for p in rain), flush=True)
    records = []
    for _ in range(args.repeat):
        for code in args.code:
            rec = run_once(code.resolve(), args.ranks, args.nx, args.members)
            records.append(rec)
            s = rec["shares"]
            print(f"{str(code):30s} wall {rec['summary_wall_s']:7.1f} s  "
                  f"{rec['core_s_per_cell_hour_run']:.2e} core-s/cell/h/run  model "
                  f"{100 * s['model']:.1f} %  analysis {100 * s['analysis']:.1f} %  exchange "
                  f"{100 * s['exchange']:.1f} %  output {100 * s['output']:.1f} %", flush=True)
    medians = {}
    for code in args.code:
        mine = [r["core_s_per_cell_hour_run"] for r in records if r["code"] == str(code.resolve())]
        medians[str(code)] = statistics.median(mine)
    first = str(args.code[0])
    print(f"{first}: {medians[first]:.2e} core-s per cell, hour and run; TSMP-PDAF's Z25 "
          f"{TSMP_PDAF_CORE_S:.2e} ({medians[first] / TSMP_PDAF_CORE_S:.3f}x)")
    result = {"daily_precipitation_mm": rain, "records": records, "median": medians,
              "tsmp_pdaf_core_s": TSMP_PDAF_CORE_S}
    if len(args.code) > 1:
        anchor = str(args.code[1])
        result["speed_up_over_anchor"] = medians[anchor] / medians[first]
        print(f"{anchor} / {first}: {result['speed_up_over_anchor']:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

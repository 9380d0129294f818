"""What a planned run will cost: the performance model (pdafpy.performance) on the Z25, LI and
a continental setup, with the uncertainty of its calibration.

The unit costs come from benchmarks measured on this project's 2-core machines
(docs/benchmarks.md): the coupled model's forecast per cell, hour and run on one core on a
benign week (``scripts/bench_coupled.py``: 9.2e-7 s) and in a draining water table
(``scripts/bench_richards.py --nx 16 --ny 16 --hours 12 --bottom free_drainage``: 4.6e-5 s; the
open-bottom storm 1.1e-5 s), measured with the Richards step controller of 2026-12 (the
previous code: 1.9e-6, 4.7e-4 and 2.0e-4 s in the same sitting);
the LESTKF transform of a domain with about 16 local observations (``scripts/bench_analysis.py``:
eigh 3.8 s for 259,200 domains, 1.5e-5 s each) and the cost of applying a transform
(``scripts/bench_vertical_localization.py``: 4.8e-9 s per element and member squared). Network
and file-system bandwidths are assumptions (5 GB/s per rank, 2 us per message, 200 MB/s of
output), stated as such. The spread of each prediction comes from the weather (the share of
hours in a draining regime: 0, 1 % or 10 %) and the model's parallel efficiency (0.6 to 0.9).

Usage::

    .venv/bin/python scripts/performance_model.py --json out/performance_model.json
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict
from pathlib import Path

from pdafpy.memory import MemoryProblem, estimate_peak
from pdafpy.performance import Costs, Setup, predict

#: Forecast cost per cell, simulated hour and run on one core [s].
BENIGN_S = 9.2e-7
DRAINING_S = 4.6e-5
#: Shares of the simulated hours in a draining regime, and parallel efficiencies of a model task.
DRAINING_SHARES = (0.0, 0.01, 0.1)
EFFICIENCIES = (0.9, 0.6)
CORES_PER_NODE = 128
HOURS_PER_YEAR = 8760.0

#: name -> (Setup, layout (tasks, ranks per task), description)
SETUPS = {
    "Z25": (Setup(nx=300, ny=300, nz=30, runs=33, members=32, hours=HOURS_PER_YEAR,
                  analyses=365, elements_per_column=4 * 30 + 6, local_obs=16.0,
                  cores=33 * 8, records=365, output_fields=2),
            (33, 8), "300 x 300 x 30 cells, 32 members and an open loop, one year hourly, daily "
            "analyses (TSMP-PDAF: 250,000 core-hours)"),
    "LI": (Setup(nx=100, ny=162, nz=25, runs=129, members=128, hours=HOURS_PER_YEAR,
                 analyses=365 + 52, elements_per_column=4 * 25 + 6, local_obs=16.0,
                 cores=129 * 2, records=365, output_fields=2),
           (129, 2), "100 x 162 x 25 cells, 128 members and an open loop, one year, daily soil "
           "moisture and weekly wells"),
    "continental": (Setup(nx=3000, ny=3000, nz=30, runs=65, members=64, hours=HOURS_PER_YEAR,
                          analyses=365, elements_per_column=4 * 30 + 6, local_obs=16.0,
                          cores=65 * 256, records=365, output_fields=2),
                    (65, 256), "1 km over 3000 x 3000 columns x 30 layers, 64 members and an "
                    "open loop, one year, daily analyses"),
}


def predictions(name: str) -> list[dict]:
    """Every calibration variant of one setup: its prediction and memory per rank."""
    from models.landda.validation import LAND_MEMORY

    setup, (tasks, per_task), _ = SETUPS[name]
    memory = estimate_peak(MemoryProblem(setup.nx, setup.ny, setup.nz,
                                         setup.elements_per_column, setup.runs, setup.members,
                                         tasks, per_task), LAND_MEMORY)
    out = []
    for share in DRAINING_SHARES:
        for efficiency in EFFICIENCIES:
            forecast_s = (1.0 - share) * BENIGN_S + share * DRAINING_S
            p = predict(setup, Costs(forecast_s=forecast_s, model_efficiency=efficiency))
            out.append({"setup": name, "draining_share": share, "model_efficiency": efficiency,
                        "cores": setup.cores, "nodes": -(-setup.cores // CORES_PER_NODE),
                        "core_hours": p.core_hours, "wall_h": p.wall_s / 3600.0,
                        "analysis_fraction": p.analysis_fraction,
                        "core_s_per_cell_hour": p.core_s_per_cell_hour,
                        "seconds": p.seconds, "memory_per_rank_gib": memory.peak / 1024 ** 3,
                        "memory_role": memory.role})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the predictions here")
    args = parser.parse_args()
    rows = []
    print(f"{'setup':12s} {'drain':>6s} {'eff':>4s} {'cores':>6s} {'nodes':>5s} "
          f"{'core-hours':>11s} {'wall h':>8s} {'analysis':>8s} {'core-s/cell/h':>13s} "
          f"{'GiB/rank':>8s}")
    for name in SETUPS:
        for r in predictions(name):
            rows.append(r)
            print(f"{name:12s} {r['draining_share']:6.2f} {r['model_efficiency']:4.1f} "
                  f"{r['cores']:6d} {r['nodes']:5d} {r['core_hours']:11.4g} {r['wall_h']:8.3g} "
                  f"{100 * r['analysis_fraction']:7.1f}% {r['core_s_per_cell_hour']:13.3e} "
                  f"{r['memory_per_rank_gib']:8.2f}")
    if args.json:
        from pdafpy.atomic import write_json
        write_json(args.json, {"setups": {k: {"setup": asdict(v[0]), "layout": list(v[1]),
                                               "description": v[2]}
                                           for k, v in SETUPS.items()},
                               "predictions": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())

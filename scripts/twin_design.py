#!/usr/bin/env python3
"""How much of a twin's water-table error could weekly wells remove? A design check.

Runs the truth and ``K`` open-loop members of a twin experiment (``pdafpy run`` configuration)
without assimilation, records the water-table depth every day, and reports at the assimilated
wells (the network of ``[[observations]] type = "groundwater_level"``):

- the open loop's water-table ubRMSE against the truth (per well over time, then averaged);
- the ubRMSE left if every well observation reset the error to zero: perfect observations and
  no parameter learning. The error made before the first observation, and the error growing
  again between observations, stay. ``1 - reset / open loop`` is about the most a design lets
  the wells' ubRMSE reduction reach; an assimilation with 0.1 m well errors gets less.

A design whose reset ceiling is below the bound it is meant to show cannot show it, however good
the filter: the twin's water table then moves too fast for the observation interval, or the
open loop's error is mostly a bias, which ubRMSE removes. Each free run costs about a tenth of an
assimilation cycle's forecast, so this takes about a twentieth of the experiment itself.

Run on P ranks (members are shared out, each run on one rank)::

    mpirun -n 2 python scripts/twin_design.py CONFIG [--members K] [--json FILE]

The JSON record holds the configuration, members, days, the two ubRMSE figures, the ceiling and
the per-well figures; ``--json`` replaces FILE atomically.
"""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np

SECONDS_PER_DAY = 86400.0
#: An open-loop ubRMSE below this [m] is rounding: no error for the wells to remove.
NOTHING_M = 1e-9


def free_runs(config: str | None, members: int, comm
              ) -> tuple[dict, np.ndarray | None, np.ndarray | None]:
    """Daily water-table depth [m] of the truth ``(days + 1, ny, nx)`` and of the open-loop
    members ``(members, days + 1, ny, nx)`` on rank 0 (None elsewhere), and the well network."""
    from mpi4py import MPI

    from models.landda.model import LandDAModel
    from models.landda.obs_groundwater_level import GroundwaterLevel
    from models.landda.setup import load, model_config
    from models.landda.initial_state import initial_member
    from pdafpy.groups import RunGroups
    from pdafpy.localize import Localization
    from pdafpy.obs.module import ObservationContext, nearest_columns
    from pdafpy.obs.records import QC_GOOD

    cfg, tables = load(config)
    n = cfg.ensemble.size
    if not 1 <= members <= n:
        raise SystemExit(f"twin_design: --members {members}: expected 1 .. [ensemble] size = {n}")
    section = next((o for o in cfg.observations if o.type == "groundwater_level"), None)
    if section is None:
        raise SystemExit("twin_design: the configuration has no groundwater_level observations")
    if section.interval_h % 24.0:
        raise SystemExit(f"twin_design: well interval_h = {section.interval_h:g}: expected whole "
                         "days (the runs are recorded daily)")
    days = int(np.ceil(cfg.schedule.length_days))
    groups = RunGroups.for_mode(cfg.mode, cfg.ensemble.size)
    runs = list(groups.runs("truth")) + list(groups.runs("open_loop"))[:members]
    model = LandDAModel.create(MPI.COMM_SELF, model_config(cfg, tables, groups.keys()))
    base = model.get_state()
    pert = dict(tables.get("perturbations", {}))
    mine = {}
    for run in runs[comm.Get_rank()::comm.Get_size()]:
        model.set_state(run, initial_member(model, base, groups.key(run), cfg.ensemble.seed,
                                           pert))
        series = [model.get_state()["water_table_depth"][0]]
        for day in range(days):
            model.advance(day * SECONDS_PER_DAY, (day + 1) * SECONDS_PER_DAY)
            series.append(model.get_state()["water_table_depth"][0])
        mine[run] = np.array(series)
    gathered = comm.gather(mine, root=0)
    if comm.Get_rank() != 0:
        return {}, None, None
    every = {k: v for part in gathered for k, v in part.items()}
    context = ObservationContext(model.grid, tuple(model.fields), cfg.ensemble.seed,
                                 Localization.from_pdaf(cfg.localization.radius_m,
                                                        cfg.localization.radius_m))
    module = GroundwaterLevel(section, context, cfg.observations.index(section))
    wells = module.network()
    rows, cols = nearest_columns(model.grid, wells.x, wells.y)
    assimilated = wells.qc == QC_GOOD
    network = {"rows": rows[assimilated], "cols": cols[assimilated],
               "interval_days": section.interval_h / 24.0, "error_m": section.error,
               "config": config or "packaged example", "days": days}
    return network, every[runs[0]], np.array([every[r] for r in runs[1:]])


def reset_ceiling(truth: np.ndarray, members: np.ndarray, network: dict) -> dict:
    """Open-loop ubRMSE and the ubRMSE after perfect resets at the wells [m] (see the module)."""
    error = members.mean(axis=0) - truth                       # (days + 1, ny, nx)
    at_wells = error[:, network["rows"], network["cols"]]       # (days + 1, wells)
    step = int(round(network["interval_days"]))
    reset = at_wells.copy()
    for first in range(step, reset.shape[0], step):
        reset[first:first + step] -= at_wells[first]
    ol = at_wells[1:].std(axis=0)                               # per well, over time
    left = reset[1:].std(axis=0)
    return {"open_loop_ubrmse_m": float(ol.mean()), "reset_ubrmse_m": float(left.mean()),
            "ceiling": float(1.0 - left.mean() / ol.mean()) if ol.mean() > NOTHING_M else 0.0,
            "per_well": [{"row": int(r), "col": int(c), "open_loop_ubrmse_m": float(a),
                          "reset_ubrmse_m": float(b)}
                         for r, c, a, b in zip(network["rows"], network["cols"], ol, left)]}


def main(argv: list[str] | None = None) -> int:
    from mpi4py import MPI

    from pdafpy.atomic import write_json

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?", help="experiment TOML (default: packaged example)")
    parser.add_argument("--members", type=int, default=8, help="open-loop members (default 8)")
    parser.add_argument("--json", help="write the record to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    comm = MPI.COMM_WORLD
    network, truth, members = free_runs(args.config, args.members, comm)
    if comm.Get_rank() != 0:
        return 0
    result = reset_ceiling(truth, members, network)
    print(f"{network['config']}: {args.members} open-loop members, {network['days']} days, "
          f"{len(network['rows'])} assimilated wells every {network['interval_days']:g} d")
    print(f"{'well (row, col)':18s} {'open loop [m]':>14s} {'reset [m]':>10s}")
    for w in result["per_well"]:
        print(f"{str((w['row'], w['col'])):18s} {w['open_loop_ubrmse_m']:14.3f} "
              f"{w['reset_ubrmse_m']:10.3f}")
    print(f"{'mean':18s} {result['open_loop_ubrmse_m']:14.3f} {result['reset_ubrmse_m']:10.3f}")
    print(f"ceiling of the wells' ubRMSE reduction: {100 * result['ceiling']:.0f} % "
          f"(well error {network['error_m']:g} m)")
    if args.json:
        write_json(args.json, {"config": network["config"], "members": args.members,
                               "days": network["days"], **result})
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``pdafpy verify observation-types``: each land observation type assimilated alone must help.

Each twin is the packaged example (``example.toml``: 8 x 8 columns of 500 m, 15 layers to 8 m,
16 members, LETKF, 20 days) with its observation types replaced by one type, run once per seed
of ``--seeds`` (default 2 3 4) in ``OUT/TWIN/seed_<seed>``. The bounds were written down before
the first run, from what each type observes and how the ensemble's spread reaches it:

==============  ==========================================  ======================  ==========
twin            design                                      judged on               bounds
==============  ==========================================  ======================  ==========
``crns``        8 CRNS stations, daily, error 0.02 m3 m-3,  root-zone (0-1 m)       analysis
                TSMP-PDAF's iterated depth weighting; its   water content, every    >= 20 %,
                penetration depth (15-30 cm in this loam)   cell (the stations see  forecast
                reaches the root zone's upper part, and     the top 15-30 cm; the   >= 10 %
                the 4 km radius spreads it over the grid    rest through the
                                                            ensemble's vertical
                                                            covariances)
``lai``         LAI in every column, daily, error 0.05      leaf area index, every  analysis
                m2 m-2, updating the leaf biomass only;     vegetated cell          >= 40 %,
                members' initial leaf biomass log-normal                            forecast
                (sd 0.3 of the log) so the leaf state has                           >= 20 %
                spread
``hydrostatic`` 12 wells (a third withheld), daily, error   water-table depth at    analysis
                0.05 m, as pressure-head pseudo-observa-    the assimilated wells   >= 30 %,
                tions in every cell below the shallowest                            forecast
                water table of the ensemble                                         >= 15 %
``water_table`` the same wells compared with the column's  the same                reported
                water-table depth (the linear form): the                            (the
                reference the hydrostatic form is read                              anchor)
                against
==============  ==========================================  ======================  ==========

Medians over the seeds decide; each seed's figure, the median and the margin are printed, as in
``pdafpy verify twin``, with the RMSE reductions (bias included) as reported rows. Exit status 0
if every bounded check passes, 1 otherwise, 2 on bad input. The figures measured, the LAI
forecast check that is missed and why: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Mapping, Sequence

from pdafpy.atomic import write_json
from pdafpy.errors import ConfigError, PdafpyError

from .setup import load
from .twin import EXAMPLE_FILE
from .verify_twin import DEFAULT_SEEDS, Check, print_table

__all__ = ["TWINS", "main", "checks"]

#: Twin name -> (configuration over the packaged example, scored variable, label, analysis and
#: forecast bounds [%] on the median ubRMSE reduction against the open loop; None: reported).
TWINS: dict[str, tuple[dict, str, str, float | None, float | None]] = {
    "crns": ({"observations": [{"type": "crns_soil_moisture", "error": 0.02, "interval_h": 24.0,
                                "count": 8}]},
             "root_zone", "root-zone water content", 20.0, 10.0),
    "lai": ({"observations": [{"type": "leaf_area_index", "error": 0.05, "interval_h": 24.0,
                               "update_soil": False, "update_land_state": ["leaf_biomass"],
                               "update_parameters": False}],
             "perturbations": {"leaf_biomass_log_sd": 0.3}},
            "leaf_area_index", "leaf area index", 40.0, 20.0),
    "hydrostatic": ({"observations": [{"type": "groundwater_level", "error": 0.05,
                                       "interval_h": 24.0, "count": 12,
                                       "withheld_fraction": 1.0 / 3.0, "radius_m": 2000.0,
                                       "form": "hydrostatic_head"}]},
                    "wells_assimilated", "assimilated wells' water-table depth", 30.0, 15.0),
    "water_table": ({"observations": [{"type": "groundwater_level", "error": 0.05,
                                       "interval_h": 24.0, "count": 12,
                                       "withheld_fraction": 1.0 / 3.0, "radius_m": 2000.0,
                                       "form": "water_table_depth"}]},
                    "wells_assimilated", "assimilated wells' water-table depth", None, None),
}


def checks(twin: str, summaries: Mapping[int, Mapping[str, Any]]) -> list[Check]:
    """The rows of one twin: its variable's analysis and forecast ubRMSE reductions [%]
    (bounded), the open loop's ubRMSE and the RMSE reductions, bias included (reported: where
    the open loop's error is mostly a bias, as the leaf state's, ubRMSE alone hides it)."""
    _, variable, label, analysis_min, forecast_min = TWINS[twin]
    scored = [s["variables"][variable] for s in summaries.values()]
    rows = [_row(f"{twin}: open-loop {label} ubRMSE", [float(v["open_loop"]["ubrmse"])
                                                        for v in scored])]
    for stage, key, minimum in (("analysis", "ubrmse_reduction", analysis_min),
                                ("forecast", "forecast_ubrmse_reduction", forecast_min)):
        figures = [100.0 * float(v[key]) for v in scored]
        name = f"{twin}: {label} {stage} ubRMSE reduction [%]"
        rows.append(_row(name, figures) if minimum is None else
                    _row(name, figures, f">= {minimum:g}", statistics.median(figures) - minimum))
    for stage, run in (("analysis", "assimilation"), ("forecast", "assimilation_forecast")):
        rows.append(_row(f"{twin}: {label} {stage} RMSE reduction [%]",
                         [100.0 * (1.0 - float(v[run]["rmse"]) / float(v["open_loop"]["rmse"]))
                          for v in scored]))
    return rows


def _row(name: str, figures: Sequence[float], bound: str = "reported",
         margin: float | None = None) -> Check:
    return Check(name, tuple(figures), statistics.median(figures), bound, margin,
                 None if margin is None else margin >= 0.0)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen twins on ``MPI.COMM_WORLD``, each once per seed, and check the medians;
    the exit status (the same on every rank)."""
    from mpi4py import MPI

    from .twin import run_twin

    parser = argparse.ArgumentParser(prog="pdafpy verify observation-types",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("twins", nargs="*", metavar="TWIN",
                        help=f"the twins to run, of {', '.join(TWINS)} (default: all but the "
                        "reported-only water_table)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--tasks", type=int, metavar="N", help="model tasks per run")
    parser.add_argument("--days", type=float, help="run length (default: the example's 20)")
    parser.add_argument("--json", type=Path, help="write the checks and the summaries here")
    parser.add_argument("--out", type=Path, default=Path("out/verify_observation_types"))
    args = parser.parse_args(argv)
    world = MPI.COMM_WORLD
    rank0 = world.Get_rank() == 0
    twins = args.twins or [t for t in TWINS if TWINS[t][3] is not None]
    runs, error = {}, None
    try:
        for twin in twins:
            if twin not in TWINS:
                raise ConfigError(f"twin {twin!r}: expected one of {', '.join(TWINS)}")
            table = dict(TWINS[twin][0])
            if args.days:
                table["schedule"] = {"length_days": args.days}
            for seed in args.seeds:
                layout = {"parallel": {"tasks": args.tasks}} if args.tasks else {}
                runs[twin, seed] = load(table, EXAMPLE_FILE, dict(layout,
                                                                  ensemble={"seed": seed}))
    except PdafpyError as exc:
        error = str(exc)
    if world.allreduce(error is not None, op=MPI.LOR):
        if rank0:
            print(f"pdafpy verify observation-types: error: {error}", file=sys.stderr)
        return 2
    summaries: dict[str, dict[int, Any]] = {t: {} for t in twins}
    for (twin, seed), (cfg, tables) in runs.items():
        summary = run_twin(world, cfg, tables, args.out / twin / f"seed_{seed}")
        if rank0:
            summaries[twin][seed] = summary
            print(f"{twin}, seed {seed}: {summary['wall_s']:.0f} s", flush=True)
    ok = True
    if rank0:
        rows = [row for twin in twins for row in checks(twin, summaries[twin])]
        print_table(args.seeds, rows)
        ok = all(r.passed is not False for r in rows)
        if args.json:
            write_json(args.json, {"seeds": list(args.seeds), "twins": twins,
                                   "checks": [asdict(r) for r in rows], "passed": ok,
                                   "summaries": {t: {str(s): v for s, v in by_seed.items()}
                                                 for t, by_seed in summaries.items()}})
    return 0 if world.bcast(ok, root=0) else 1

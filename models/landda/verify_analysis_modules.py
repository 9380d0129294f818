"""``pdafpy verify analysis-modules``: each analysis mechanism must show the effect it exists for.

Every twin is the packaged example (``example.toml``: 8 x 8 columns of 500 m, 15 layers to 8 m,
LETKF, a water table draining from 1.5 m; truth and members differ in log10 Ks and the weather)
with 8 members, 10 days (so that the three seeds of a twin run in 10 minutes on 2 cores) and its
observations and ``[[analysis]]`` tables replaced, run once per seed of ``--seeds`` (default 2 3
4) and per variant in ``OUT/TWIN/VARIANT/seed_<seed>``.
Every variant of a seed has the same truth and open loop. What each twin should show, and the
bounds, were written down before the first run:

``masks`` (LI's central result). Surface soil moisture (0-5 cm, 2 x 2 cell footprints, error
0.02 m3 m-3, twice a day) with a 50 km radius (the whole grid: LI's 100 km) updating whole
columns. The members' surface-to-saturated-zone covariances are sampling noise and the
non-linear response of the table to rain, so the variant ``sm_wide`` (no mask) should move the
water table away from the truth: water-table depth RMSE over every column worse than the open
loop's (reduction < 0, analysis and forecast). ``sm_masked`` (the same observations, mask
``unsaturated`` over all members): the saturated zone and the cells around the members' tables
are not touched, so no worse than -2 %. ``joint`` (``sm_masked`` plus 12 wells, daily, error
0.05 m, radius 2 km, mask ``saturated`` over any member, so that the table can move within the
ensemble's range): both improve, root-zone water content ubRMSE and water-table RMSE
reductions >= 10 %. (A first design read both masks per member: the soil-moisture module then
still changed the unsaturated cell above each member's table, from which the table depth is
interpolated, and the wells could not move a table through cells unsaturated in a member; the
figures of both designs are in docs/benchmarks.md.)

``ks`` (Z25, LI). The 12 wells alone, daily: ``state`` updates the state only, ``ks`` also
log10 Ks with half the increment. Since the truth's Ks offset sets how fast its table drains,
the wells see it every day and a state-only update forgets it in the next forecast: the
assimilated wells' ubRMSE reduction of ``ks`` must exceed that of ``state`` (forecast and
analysis, median of the differences > 0), and the ensemble-mean log10 Ks error at the last
analysis must lie below the open loop's (the per-cycle errors are in the JSON).

``strong`` (HEY). LAI in every column, daily, error 0.05 m2 m-2, members' initial leaf biomass
log-normal (sd 0.3 of the log): ``weak`` updates the leaf biomass only, ``strong`` also head
and water content of the whole column through the ensemble covariances. Expected: no gain,
reported without a bound. The truth's leaf error is drawn independently of its soil and in 20
days of May the leaves' growth barely depends on soil water, so the LAI-to-root-zone
covariances are sampling noise; the root-zone figure of ``strong`` against ``weak`` shows
what that noise costs.

``vertical``. The surface soil moisture of ``masks`` alone within 4 km, updating
whole columns: ``column`` without vertical localisation, ``vertical`` with a Gaspari-Cohn
weight reaching zero 0.5 m below the observed layer. With 8 members the surface-to-deep
covariances are noise: ``column`` should raise the ubRMSE of the water content below 1 m
above the open loop's (reduction < 0), ``vertical`` leave it no worse than -2 %.

Medians over the seeds decide. Exit status 0 if every bounded check passes, 1 otherwise, 2 on
bad input. The figures measured: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from pdafpy.atomic import write_json
from pdafpy.errors import ConfigError, PdafpyError

from .setup import load
from .twin import EXAMPLE_FILE
from .verify_twin import DEFAULT_SEEDS, Check, print_table

__all__ = ["TWINS", "main", "checks"]

SSM = {"type": "surface_soil_moisture", "error": 0.02, "interval_h": 12.0, "depth_m": 0.05,
       "footprint_cells": 2}
WELLS = {"type": "groundwater_level", "error": 0.05, "interval_h": 24.0, "count": 12,
         "withheld_fraction": 1.0 / 3.0, "radius_m": 2000.0}
LAI = {"type": "leaf_area_index", "error": 0.05, "interval_h": 24.0}
SM_WIDE = {"name": "soil_moisture", "observations": ["surface_soil_moisture"],
           "radius_m": 50000.0}
SM_MASKED = dict(SM_WIDE, mask="unsaturated", mask_members="all_members")
WELL_MODULE = {"name": "wells", "observations": ["groundwater_level"], "mask": "saturated",
               "mask_members": "any_member"}
STATE_ONLY = {"filter": {"parameters": []}}
#: What every variant sets over the packaged example.
BASE = {"ensemble": {"size": 8}, "schedule": {"length_days": 10.0}}

#: Twin -> variant -> the configuration over the packaged example.
TWINS: dict[str, dict[str, dict]] = {
    "masks": {
        "sm_wide": dict(STATE_ONLY, observations=[SSM], analysis=[SM_WIDE]),
        "sm_masked": dict(STATE_ONLY, observations=[SSM], analysis=[SM_MASKED]),
        "joint": dict(STATE_ONLY, observations=[SSM, WELLS],
                      analysis=[SM_MASKED, WELL_MODULE])},
    "ks": {
        "state": dict(STATE_ONLY, observations=[WELLS],
                      analysis=[{"observations": ["groundwater_level"]}]),
        "ks": {"filter": {"parameters": ["log10_ks"]}, "observations": [WELLS],
               "analysis": [{"observations": ["groundwater_level"],
                             "parameters": ["log10_ks"]}],
               "parameter": [{"name": "log10_ks", "damping": 0.5}]}},
    "strong": {
        "weak": dict(STATE_ONLY, observations=[LAI],
                     analysis=[{"observations": ["leaf_area_index"],
                                "fields": ["leaf_biomass"]}],
                     perturbations={"leaf_biomass_log_sd": 0.3}),
        "strong": dict(STATE_ONLY, observations=[LAI],
                       analysis=[{"observations": ["leaf_area_index"],
                                  "fields": ["leaf_biomass", "pressure_head",
                                             "water_content"]}],
                       perturbations={"leaf_biomass_log_sd": 0.3})},
    "vertical": {
        "column": dict(STATE_ONLY, observations=[SSM],
                       analysis=[{"observations": ["surface_soil_moisture"]}]),
        "vertical": dict(STATE_ONLY, observations=[SSM],
                         analysis=[{"observations": ["surface_soil_moisture"],
                                    "vertical_length_m": 0.5}])},
}

Summaries = Mapping[str, Mapping[int, Mapping[str, Any]]]     # variant -> seed -> summary


def _reduction(summary: Mapping[str, Any], variable: str, stage: str, metric: str) -> float:
    """``100 (1 - metric(stage) / metric(open loop))`` [%] of one run."""
    v = summary["variables"][variable]
    run = "assimilation" if stage == "analysis" else "assimilation_forecast"
    return 100.0 * (1.0 - float(v[run][metric]) / float(v["open_loop"][metric]))


def _row(name: str, figures: Sequence[float], bound: str = "reported",
         test: Callable[[float], float] | None = None) -> Check:
    median = statistics.median(figures)
    margin = None if test is None else test(median)
    return Check(name, tuple(figures), median, bound, margin,
                 None if margin is None else margin >= 0.0)


def _rows(label: str, runs: Mapping[int, Mapping[str, Any]], seeds: Sequence[int],
          variable: str, metric: str, bound: str | None = None,
          test: Callable[[float], float] | None = None) -> list[Check]:
    return [_row(f"{label} {stage} {metric} reduction [%]",
                 [_reduction(runs[s], variable, stage, metric) for s in seeds],
                 bound or "reported", test) for stage in ("analysis", "forecast")]


def checks(twin: str, summaries: Summaries, seeds: Sequence[int]) -> list[Check]:
    """The rows of one twin (see the module notes)."""
    s = summaries
    if twin == "masks":
        return (_rows("masks sm_wide: water table", s["sm_wide"], seeds, "water_table_depth",
                      "rmse", "< 0", lambda m: -m)
                + _rows("masks sm_masked: water table", s["sm_masked"], seeds,
                        "water_table_depth", "rmse", ">= -2", lambda m: m + 2.0)
                + _rows("masks joint: water table", s["joint"], seeds, "water_table_depth",
                        "rmse", ">= 10", lambda m: m - 10.0)
                + _rows("masks joint: root zone", s["joint"], seeds, "root_zone", "ubrmse",
                        ">= 10", lambda m: m - 10.0)
                + _rows("masks sm_masked: root zone", s["sm_masked"], seeds, "root_zone",
                        "ubrmse")
                + _rows("masks sm_wide: root zone", s["sm_wide"], seeds, "root_zone",
                        "ubrmse"))
    if twin == "ks":
        rows = []
        for stage in ("analysis", "forecast"):
            gain = [_reduction(s["ks"][k], "wells_assimilated", stage, "ubrmse")
                    - _reduction(s["state"][k], "wells_assimilated", stage, "ubrmse")
                    for k in seeds]
            rows.append(_row(f"ks: wells {stage} ubRMSE reduction, ks - state [points]", gain,
                             "> 0", lambda m: m))
        rows += _rows("ks state: wells", s["state"], seeds, "wells_assimilated", "ubrmse")
        rows += _rows("ks ks: wells", s["ks"], seeds, "wells_assimilated", "ubrmse")
        errors = [s["ks"][k]["parameter_error"]["log10_ks"] for k in seeds]
        rows.append(_row("ks: log10 Ks error, open loop - last analysis",
                         [e["open_loop"][-1] - e["assimilation"][-1] for e in errors], "> 0",
                         lambda m: m))
        rows.append(_row("ks: log10 Ks error at the first analysis",
                         [e["assimilation"][0] for e in errors]))
        rows.append(_row("ks: log10 Ks error at the last analysis",
                         [e["assimilation"][-1] for e in errors]))
        return rows
    if twin == "strong":
        rows = []
        for stage in ("analysis", "forecast"):
            rows.append(_row(f"strong: root zone {stage} ubRMSE reduction, strong - weak "
                             "[points]",
                             [_reduction(s["strong"][k], "root_zone", stage, "ubrmse")
                              - _reduction(s["weak"][k], "root_zone", stage, "ubrmse")
                              for k in seeds]))
        rows += _rows("strong weak: leaf area index", s["weak"], seeds, "leaf_area_index",
                      "ubrmse")
        rows += _rows("strong strong: leaf area index", s["strong"], seeds, "leaf_area_index",
                      "ubrmse")
        return rows
    if twin == "vertical":
        return (_rows("vertical column: below 1 m", s["column"], seeds, "deep_soil", "ubrmse",
                      "< 0", lambda m: -m)
                + _rows("vertical vertical: below 1 m", s["vertical"], seeds, "deep_soil",
                        "ubrmse", ">= -2", lambda m: m + 2.0)
                + _rows("vertical column: surface", s["column"], seeds, "surface", "ubrmse")
                + _rows("vertical vertical: surface", s["vertical"], seeds, "surface",
                        "ubrmse"))
    raise ConfigError(f"twin {twin!r}: expected one of {', '.join(TWINS)}")


def main(argv: list[str] | None = None) -> int:
    """Run the chosen twins on ``MPI.COMM_WORLD``, each variant once per seed, and check the
    medians; the exit status (the same on every rank)."""
    from mpi4py import MPI

    from .twin import run_twin

    parser = argparse.ArgumentParser(prog="pdafpy verify analysis-modules",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("twins", nargs="*", metavar="TWIN",
                        help=f"the twins to run, of {', '.join(TWINS)} (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--tasks", type=int, metavar="N", help="model tasks per run")
    parser.add_argument("--days", type=float, help="run length (default: 10)")
    parser.add_argument("--json", type=Path, help="write the checks and the summaries here")
    parser.add_argument("--out", type=Path, default=Path("out/verify_analysis_modules"))
    args = parser.parse_args(argv)
    world = MPI.COMM_WORLD
    rank0 = world.Get_rank() == 0
    twins = args.twins or list(TWINS)
    runs, error = {}, None
    try:
        for twin in twins:
            if twin not in TWINS:
                raise ConfigError(f"twin {twin!r}: expected one of {', '.join(TWINS)}")
            for variant, table in TWINS[twin].items():
                table = dict(BASE, **table)
                if args.days:
                    table["schedule"] = {"length_days": args.days}
                for seed in args.seeds:
                    layout = {"parallel": {"tasks": args.tasks}} if args.tasks else {}
                    ensemble = dict(table.get("ensemble", {}), seed=seed)
                    runs[twin, variant, seed] = load(table, EXAMPLE_FILE,
                                                     dict(layout, ensemble=ensemble))
    except PdafpyError as exc:
        error = str(exc)
    if world.allreduce(error is not None, op=MPI.LOR):
        if rank0:
            print(f"pdafpy verify analysis-modules: error: {error}", file=sys.stderr)
        return 2
    summaries: dict[str, dict[str, dict[int, Any]]] = {
        t: {v: {} for v in TWINS[t]} for t in twins}
    for (twin, variant, seed), (cfg, tables) in runs.items():
        summary = run_twin(world, cfg, tables, args.out / twin / variant / f"seed_{seed}")
        if rank0:
            summaries[twin][variant][seed] = summary
            print(f"{twin} {variant}, seed {seed}: {summary['wall_s']:.0f} s", flush=True)
    ok = True
    if rank0:
        rows = [row for twin in twins for row in checks(twin, summaries[twin], args.seeds)]
        print_table(args.seeds, rows)
        ok = all(r.passed is not False for r in rows)
        if args.json:
            write_json(args.json, {"seeds": list(args.seeds), "twins": twins,
                                   "checks": [asdict(r) for r in rows], "passed": ok,
                                   "summaries": {t: {v: {str(s): x for s, x in by.items()}
                                                     for v, by in sv.items()}
                                                 for t, sv in summaries.items()}})
    return 0 if world.bcast(ok, root=0) else 1

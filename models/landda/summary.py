"""The twin experiment's summary: skill of open loop and assimilation against the truth, timings."""

from __future__ import annotations

import warnings

import numpy as np

from pdafpy.diagnostics import RunningSkill

from .scoring import Skill

__all__ = ["summarize", "print_summary", "variable_table"]


def _metrics(skill: RunningSkill) -> dict[str, float]:
    """Per-cell statistics over time, averaged over the cells where they are defined (NaN,
    written as null, where none is: e.g. the correlation of series of one value)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)        # a mean of no defined value
        return {"ubrmse": float(np.nanmean(skill.ubrmse())),
                "rmse": float(np.nanmean(skill.rmse())), "bias": float(np.nanmean(skill.bias())),
                "correlation": float(np.nanmean(skill.correlation()))}


def _reduction(run: dict[str, float], open_loop: dict[str, float]) -> float:
    """``1 - ubRMSE(run) / ubRMSE(open loop)`` (0 when the open loop has none)."""
    return 1.0 - run["ubrmse"] / open_loop["ubrmse"] if open_loop["ubrmse"] else 0.0


def summarize(cfg, skill: Skill, counts, totals, wall, ranks, grid, runs: int) -> dict:
    """The summary written to ``summary.json`` (skill per variable, counts, timings);
    ``runs`` is the number of runs advanced (every run group's)."""
    variables = variable_table(skill)
    sim_years = cfg.schedule.length_days / 365.25
    return {"variables": variables, "analyses": counts.get("analyses", 0),
            "observations_used": counts.get("used", 0),
            "observations_rejected": counts.get("omitted", 0),
            "theta_out_of_bounds_cycles": counts.get("theta_out_of_bounds", 0),
            "members_redrawn": counts.get("members_redrawn", 0),
            "halo_bytes_max": counts.get("halo_bytes_max", 0),
            "seconds": {k: round(v, 3) for k, v in totals.items()}, "wall_s": round(wall, 2),
            "ranks": ranks, "runs": runs,
            "core_hours_per_member_per_simulated_year":
                wall * ranks / 3600.0 / runs / sim_years,
            "grid": [grid.ny, grid.nx, int(grid.z.size)], "members": cfg.ensemble.size,
            "filter": str(cfg.filter.type), "days": cfg.schedule.length_days}


def variable_table(skill: Skill) -> dict:
    """Per diagnostic scored, the open loop's, the analyses' and the forecasts' metrics
    against the truth and the reductions (``summary.json``'s ``variables``)."""
    variables = {}
    for label in ("surface", "root_zone", "deep_soil", "water_table_depth",
                  "wells_assimilated", "wells_withheld", "leaf_area_index",
                  "evapotranspiration", "transpiration"):
        if skill.get(label, "ol") is None:
            continue
        ol, da, da_f = (_metrics(skill.get(label, run)) for run in ("ol", "da", "da_f"))
        for run, block in (("ol", ol), ("da", da), ("da_f", da_f)):
            spread = skill.mean_spread(label, run)
            if spread is not None:                  # the ensemble standard deviation
                block["spread"] = float(np.mean(spread))
        entry = {"open_loop": ol, "assimilation": da, "assimilation_forecast": da_f,
                 "ubrmse_reduction": _reduction(da, ol),
                 "forecast_ubrmse_reduction": _reduction(da_f, ol)}
        if "spread" in da_f:
            entry["spread_over_rmse"] = float(da_f["spread"]
                                              / np.mean(skill.get(label, "da_f").rmse()))
        variables[label] = entry
    return variables


def print_summary(summary: dict) -> None:
    """The skill and timing tables, as a person reads them."""
    if "observations_written" in summary:
        print(f"truth pass: {summary['observations_written']} observations written to "
              "observations.nc, the truth to truth.nc")
    elif not summary["variables"]:
        print(f"{summary['members']} members, no truth: nothing scored")
    else:
        _print_skill(summary)
        if "phases" in summary:
            _print_phases(summary)
    print(f"\n{'phase':12s} {'seconds':>9s}")
    for k, v in summary["seconds"].items():
        print(f"{k:12s} {v:9.2f}")
    print(f"{'wall':12s} {summary['wall_s']:9.2f}   on {summary['ranks']} ranks; "
          f"{summary['core_hours_per_member_per_simulated_year']:.3f} core-hours per member per "
          "simulated year")


def _print_skill(summary: dict) -> None:
    print("open loop (OL), assimilation's forecasts before each analysis (DA-f) and its analyses "
          "(DA) against the truth")
    print(f"{'variable':18s} {'ubRMSE OL':>9s} {'DA-f':>8s} {'DA':>8s} {'red. DA-f':>9s} "
          f"{'red. DA':>8s} {'RMSE OL':>9s} {'DA-f':>8s} {'DA':>8s} {'spread/RMSE':>11s}")
    for name, v in summary["variables"].items():
        ratio = v.get("spread_over_rmse")
        ol, da, da_f = v["open_loop"], v["assimilation"], v["assimilation_forecast"]
        print(f"{name:18s} {ol['ubrmse']:9.4f} {da_f['ubrmse']:8.4f} {da['ubrmse']:8.4f} "
              f"{100 * v['forecast_ubrmse_reduction']:8.1f}% {100 * v['ubrmse_reduction']:7.1f}% "
              f"{ol['rmse']:9.4f} {da_f['rmse']:8.4f} {da['rmse']:8.4f} "
              + (f"{ratio:11.2f}" if ratio else ""))


def _print_phases(summary: dict) -> None:
    """ubRMSE of the open loop and of the assimilated run per phase of a run with a cut."""
    print(f"\nper phase (analyses until day {summary['assimilate_until_days']:g}, then a free "
          "forecast): ubRMSE OL, DA and its reduction")
    for phase, variables in summary["phases"].items():
        for name, v in variables.items():
            print(f"{phase:14s} {name:18s} {v['open_loop']['ubrmse']:9.4f} "
                  f"{v['assimilation']['ubrmse']:8.4f} {100 * v['ubrmse_reduction']:7.1f}%")

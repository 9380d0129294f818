"""``pdafpy verify twin``: the twin experiment must show that the assimilation helps.

Runs the packaged verification experiment (``verify_twin.toml`` over the packaged example; a
``--config`` file overrides it further), then checks the summary against the bounds below and
prints a table of figure / bound / pass. Exits non-zero if any check fails.

======================================  ==========================================================
check                                   bound
======================================  ==========================================================
open-loop surface ubRMSE                >= 0.02 m3 m-3 (the twin is not trivial)
surface ubRMSE reduction                >= 40 % (analysis ensemble mean against the open loop)
root-zone (0-1 m) ubRMSE reduction      >= 20 %
assimilated wells' WTD ubRMSE reduction >= 50 %
withheld wells' WTD ubRMSE reduction    reported
forecast ubRMSE reductions              reported (surface, root zone, assimilated wells)
spread / RMSE of the forecast           within [0.5, 2] (surface and root zone)
members redrawn after a failed solve    reported
water content after every analysis      within [theta_r, theta_s], no NaN
======================================  ==========================================================

Scores are computed per cell (per well) over the analysis times, then averaged over cells (wells);
ubRMSE removes each cell's mean error over time (see :mod:`models.landda.summary`).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from pdafpy.atomic import write_json
from pdafpy.errors import PdafpyError

from .setup import load

__all__ = ["Check", "checks", "main"]

VERIFY_FILE = "verify_twin.toml"


@dataclass(frozen=True)
class Check:
    """One row of the verification table."""

    name: str
    figure: float
    bound: str
    passed: bool | None          # None: reported only


def _reduction(summary: dict, variable: str) -> float:
    return 100.0 * summary["variables"][variable]["ubrmse_reduction"]


def checks(summary: dict) -> list[Check]:
    """The verification table of a twin-experiment summary."""
    v = summary["variables"]
    ol_surface = v["surface"]["open_loop"]["ubrmse"]
    rows = [Check("open-loop surface ubRMSE [m3 m-3]", ol_surface, ">= 0.02",
                  ol_surface >= 0.02),
            Check("surface ubRMSE reduction [%]", _reduction(summary, "surface"), ">= 40",
                  _reduction(summary, "surface") >= 40.0),
            Check("root-zone ubRMSE reduction [%]", _reduction(summary, "root_zone"), ">= 20",
                  _reduction(summary, "root_zone") >= 20.0)]
    if "wells_assimilated" in v:
        red = _reduction(summary, "wells_assimilated")
        rows.append(Check("assimilated wells' WTD ubRMSE reduction [%]", red, ">= 50",
                          red >= 50.0))
    for name, label in (("surface", "surface"), ("root_zone", "root-zone"),
                        ("wells_assimilated", "assimilated wells'")):
        if name in v:
            rows.append(Check(f"{label} forecast ubRMSE reduction [%]",
                              100.0 * v[name]["forecast_ubrmse_reduction"], "reported", None))
    if "wells_withheld" in v:
        rows.append(Check("withheld wells' WTD ubRMSE reduction [%]",
                          _reduction(summary, "wells_withheld"), "reported", None))
    for name in ("surface", "root_zone"):
        ratio = v[name]["spread_over_rmse"]
        rows.append(Check(f"{name} forecast spread / RMSE", ratio, "0.5 .. 2",
                          0.5 <= ratio <= 2.0))
    rows.append(Check("members redrawn after a failed solve", float(summary.get(
        "members_redrawn", 0)), "reported", None))
    bad = summary["theta_out_of_bounds_cycles"]
    rows.append(Check("analyses with water content out of bounds", float(bad), "== 0", bad == 0))
    return rows


def print_table(rows: list[Check]) -> None:
    """The table as a person reads it."""
    print(f"{'check':46s} {'figure':>10s} {'bound':>10s}  result")
    for r in rows:
        result = "reported" if r.passed is None else ("pass" if r.passed else "FAIL")
        print(f"{r.name:46s} {r.figure:10.4g} {r.bound:>10s}  {result}")


def main(argv: list[str] | None = None) -> int:
    """Run the verification twin experiment on ``MPI.COMM_WORLD`` and check its summary."""
    from mpi4py import MPI

    from .summary import print_summary
    from .twin import run_twin

    parser = argparse.ArgumentParser(prog="pdafpy verify twin", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="TOML overriding the verification experiment")
    parser.add_argument("--json", type=Path, help="write the checks and the summary here")
    parser.add_argument("--out", type=Path, default=Path("out/verify_twin"),
                        help="output folder of the experiment (default: out/verify_twin)")
    args = parser.parse_args(argv)
    world = MPI.COMM_WORLD
    error = None
    try:
        cfg, tables = load(args.config, packaged=VERIFY_FILE)
    except PdafpyError as exc:
        error = str(exc)
    if world.allreduce(error is not None, op=MPI.LOR):
        if world.Get_rank() == 0:
            print(f"pdafpy verify twin: error: {error}", file=sys.stderr)
        return 2
    summary = run_twin(world, cfg, tables, args.out)
    ok = True
    if world.Get_rank() == 0:
        print_summary(summary)
        print()
        rows = checks(summary)
        print_table(rows)
        ok = all(r.passed is not False for r in rows)
        if args.json:
            write_json(args.json, {"checks": [asdict(r) for r in rows], "passed": ok,
                                   "summary": summary})
    return 0 if world.bcast(ok, root=0) else 1


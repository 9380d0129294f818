"""``pdafpy verify twin``: the twin experiment must show that the assimilation helps.

Runs the packaged example (``example.toml``; a ``--config`` file overrides it) once per seed of
``--seeds`` (default 2 3 4, three seeds other than the example's 1), with ``[ensemble] seed`` set
to it and its outputs in ``OUT/seed_<seed>``; ``--tasks N`` sets ``[parallel] tasks``. The seed
draws everything random in the twin: the truth's and the members' perturbations, the
observation errors and which wells are withheld. The checks below are made on
the median over the seeds, so that one lucky or unlucky draw decides nothing. The table prints,
per check, each seed's figure, the median, the bound, the margin (how far the median lies inside
the bound: median minus bound for a lower bound, distance to the nearer edge for a range;
negative outside) and pass / FAIL / reported. Exits with status 0 if every bounded check passes,
1 otherwise, 2 on bad input (``--config`` may not set ``[ensemble] seed``: ``--seeds`` does).

=============================================  ==================================================
check                                          bound
=============================================  ==================================================
open-loop surface ubRMSE                       median >= 0.005 m3 m-3 (the twin is not trivial)
analysis ubRMSE reduction, surface             median >= 30 % (ensemble mean against open loop)
analysis ubRMSE reduction, root zone (0-1 m)   median >= 30 %
analysis ubRMSE reduction, assimilated wells   median >= 30 % (water-table depth)
forecast ubRMSE reduction, the same three      median >= 15 % (the forecast before each analysis)
withheld wells' ubRMSE reduction               reported (median; analysis and forecast)
spread / RMSE of the forecast                  median within [0.5, 2] (surface and root zone)
members redrawn after a failed solve           reported (median)
analyses with water content out of bounds      0 in every seed (within [theta_r, theta_s], no NaN)
=============================================  ==================================================

Scores are computed per cell (per well) over the analysis times, then averaged over cells (wells);
ubRMSE removes each cell's mean error over time (see :mod:`models.landda.summary`). A variable a
configuration does not score (e.g. no wells) has no row.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from pdafpy.atomic import write_json
from pdafpy.config import load_toml
from pdafpy.errors import ConfigError, PdafpyError
from pdafpy.experiment_config import ExperimentConfig

from .setup import load
from .twin import EXAMPLE_FILE

__all__ = ["Check", "checks", "configurations", "print_table", "main", "DEFAULT_SEEDS",
           "OPEN_LOOP_UBRMSE_MIN", "ANALYSIS_REDUCTION_MIN", "FORECAST_REDUCTION_MIN",
           "SPREAD_OVER_RMSE_RANGE"]

#: Seeds run by default: three other than the packaged example's (seed 1).
DEFAULT_SEEDS = (2, 3, 4)
#: Lower bound of the median open-loop surface ubRMSE [m3 m-3]: the twin is not trivial.
OPEN_LOOP_UBRMSE_MIN = 0.005
#: Lower bound of the median ubRMSE reduction of the analyses against the open loop [%].
ANALYSIS_REDUCTION_MIN = 30.0
#: Lower bound of the median ubRMSE reduction of the forecasts before each analysis [%].
FORECAST_REDUCTION_MIN = 15.0
#: Range of the median forecast spread over forecast RMSE.
SPREAD_OVER_RMSE_RANGE = (0.5, 2.0)

#: Scored variables whose reductions are bounded, and their labels.
BOUNDED = (("surface", "surface"), ("root_zone", "root-zone"),
           ("wells_assimilated", "assimilated wells'"))


@dataclass(frozen=True)
class Check:
    """One row of the verification table.

    Attributes
    ----------
    name : str
        What is checked, with its unit.
    figures : tuple of float
        One figure per seed, in the order of the seeds.
    median : float
        Their median.
    bound : str
        The bound, as printed (``"reported"`` for a figure reported only).
    margin : float or None
        How far inside the bound the judged figure lies (negative outside; None if reported
        only): the median minus the bound for a lower bound, the distance to the nearer edge
        for a range, minus the largest figure for "0 in every seed".
    passed : bool or None
        Whether the check passed (None: reported only).
    """

    name: str
    figures: tuple[float, ...]
    median: float
    bound: str
    margin: float | None
    passed: bool | None


def _row(name: str, figures: Sequence[float], bound: str = "reported",
         margin: float | None = None) -> Check:
    """A row whose ``margin`` (None: reported only) decides whether it passed."""
    return Check(name, tuple(figures), statistics.median(figures), bound, margin,
                 None if margin is None else margin >= 0.0)


def _at_least(name: str, figures: Sequence[float], minimum: float) -> Check:
    """A row passed if the median of ``figures`` is at least ``minimum``."""
    return _row(name, figures, f">= {minimum:g}", statistics.median(figures) - minimum)


def _within(name: str, figures: Sequence[float], low: float, high: float) -> Check:
    """A row passed if the median of ``figures`` lies within ``[low, high]``."""
    median = statistics.median(figures)
    return _row(name, figures, f"{low:g} .. {high:g}", min(median - low, high - median))


def checks(summaries: Mapping[int, Mapping[str, Any]]) -> list[Check]:
    """The verification table of the twin experiment's summaries, one per seed.

    Parameters
    ----------
    summaries : mapping of int to dict
        Seed -> summary of :func:`models.landda.twin.run_twin`; the figures of each row follow
        the mapping's order. A variable gets rows only if every summary scores it.

    Returns
    -------
    list of Check
        The rows, in the order printed.
    """
    scored = [s["variables"] for s in summaries.values()]

    def present(variable: str) -> bool:
        return all(variable in v for v in scored)

    def figures(variable: str, key: str, scale: float = 100.0) -> list[float]:
        return [scale * float(v[variable][key]) for v in scored]

    rows = [_at_least("open-loop surface ubRMSE [m3 m-3]",
                      [float(v["surface"]["open_loop"]["ubrmse"]) for v in scored],
                      OPEN_LOOP_UBRMSE_MIN)] if present("surface") else []
    for stage, key, minimum in (("analysis", "ubrmse_reduction", ANALYSIS_REDUCTION_MIN),
                                ("forecast", "forecast_ubrmse_reduction",
                                 FORECAST_REDUCTION_MIN)):
        rows += [_at_least(f"{label} {stage} ubRMSE reduction [%]", figures(name, key), minimum)
                 for name, label in BOUNDED if present(name)]
    if present("wells_withheld"):
        rows += [_row(f"withheld wells' {stage} ubRMSE reduction [%]",
                      figures("wells_withheld", key))
                 for stage, key in (("analysis", "ubrmse_reduction"),
                                    ("forecast", "forecast_ubrmse_reduction"))]
    rows += [_within(f"{label} forecast spread / RMSE", figures(name, "spread_over_rmse", 1.0),
                     *SPREAD_OVER_RMSE_RANGE) for name, label in BOUNDED[:2] if present(name)]
    rows.append(_row("members redrawn after a failed solve",
                     [float(s.get("members_redrawn", 0)) for s in summaries.values()]))
    bad = [float(s["theta_out_of_bounds_cycles"]) for s in summaries.values()]
    rows.append(_row("analyses with water content out of bounds", bad, "0 each",
                     0.0 - max(bad)))
    return rows


def _number(x: float, width: int = 8) -> str:
    """``x`` with as many significant digits (at most 4) as fit in ``width`` characters."""
    for digits in (4, 3, 2, 1):
        text = f"{x:.{digits}g}"
        if len(text) <= width:
            break
    return f"{text:>{width}s}"


def print_table(seeds: Sequence[int], rows: Sequence[Check]) -> None:
    """The table as a person reads it: one line per check (115 columns for 3 seeds)."""
    width = max(len(r.name) for r in rows)
    heads = "".join(f" {'seed ' + str(s):>8s}" for s in seeds)
    print(f"{'check':{width}s}{heads} {'median':>8s} {'bound':>10s} {'margin':>8s}  result")
    for r in rows:
        result = "reported" if r.passed is None else ("pass" if r.passed else "FAIL")
        margin = " " * 8 if r.margin is None else _number(r.margin)
        print(f"{r.name:{width}s}{''.join(' ' + _number(f) for f in r.figures)} "
              f"{_number(r.median)} {r.bound:>10s} {margin}  {result}")


def configurations(config: str | Path | None, seeds: Sequence[int],
                   tasks: int | None = None) -> dict[int, tuple[ExperimentConfig, dict]]:
    """The verification experiment of each seed, validated, before any model work.

    Parameters
    ----------
    config : path or None
        A TOML file overriding the packaged example; it may not set ``[ensemble] seed``.
    seeds : sequence of int
        The seeds; each is laid over ``config`` as ``[ensemble] seed`` and validated like any
        other key.
    tasks : int, optional
        Model tasks, laid over ``config`` as ``[parallel] tasks`` (``--tasks``).

    Returns
    -------
    dict
        Seed -> ``(cfg, tables)`` of :func:`models.landda.setup.load`.

    Raises
    ------
    ConfigError, InputFileError
        On the first problem, naming the key or file.
    """
    if len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds {' '.join(map(str, seeds))}: a seed is given twice")
    if config is not None and "seed" in load_toml(config).get("ensemble", {}):
        raise ConfigError(f"ensemble.seed (in {config}): --seeds chooses the seeds; "
                          "remove it from the file")
    layout = {"parallel": {"tasks": tasks}} if tasks is not None else {}
    return {seed: load(config, EXAMPLE_FILE, dict(layout, ensemble={"seed": seed}))
            for seed in seeds}


def main(argv: list[str] | None = None) -> int:
    """Run the verification twin experiment on ``MPI.COMM_WORLD`` once per seed and check the
    medians of their summaries; the exit status (the same on every rank)."""
    from mpi4py import MPI

    from .summary import print_summary
    from .twin import run_twin

    parser = argparse.ArgumentParser(prog="pdafpy verify twin", description=__doc__.split("\n")[0])
    parser.add_argument("--config", help="TOML overriding the verification experiment (not "
                        "[ensemble] seed)")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS),
                        help="seeds of the runs whose median is checked (default: "
                        f"{' '.join(map(str, DEFAULT_SEEDS))})")
    parser.add_argument("--tasks", type=int, metavar="N",
                        help="model tasks (overrides [parallel] tasks; PDAF's n_modeltasks)")
    parser.add_argument("--json", type=Path, help="write the checks and the summaries here")
    parser.add_argument("--out", type=Path, default=Path("out/verify_twin"),
                        help="output folder; each seed's in seed_<seed> (default: "
                        "out/verify_twin)")
    args = parser.parse_args(argv)
    world = MPI.COMM_WORLD
    rank0 = world.Get_rank() == 0
    error = None
    try:
        runs = configurations(args.config, args.seeds, args.tasks)
    except PdafpyError as exc:
        error = str(exc)
    if world.allreduce(error is not None, op=MPI.LOR):
        if rank0:
            print(f"pdafpy verify twin: error: {error}", file=sys.stderr)
        return 2
    summaries = {}
    for seed, (cfg, tables) in runs.items():
        out = args.out / f"seed_{seed}"
        summary = run_twin(world, cfg, tables, out)
        if rank0:
            print(f"seed {seed} ({out})")
            print_summary(summary)
            print()
            summaries[seed] = summary
    ok = True
    if rank0:
        rows = checks(summaries)
        print_table(args.seeds, rows)
        ok = all(r.passed is not False for r in rows)
        if args.json:
            write_json(args.json, {"seeds": list(args.seeds),
                                   "checks": [asdict(r) for r in rows], "passed": ok,
                                   "summaries": {str(s): v for s, v in summaries.items()}})
    return 0 if world.bcast(ok, root=0) else 1

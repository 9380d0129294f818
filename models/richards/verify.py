"""``pdafpy verify richards``: the verification suite of the Richards solver.

Runs the closed-form and published cases of :mod:`.cases`, prints a table of
figure / value / bound / pass, optionally writes every figure to JSON (``--json FILE``) and
returns non-zero if any bounded figure fails. ``--quick`` runs a subset (no 40^3 Tracy grids).

Run serially, the decomposition check launches ``mpirun -n 2`` and ``mpirun -n 4
--oversubscribe`` subprocesses with ``sys.executable`` before this process initialises MPI
(mpi4py and petsc4py are imported lazily). Run under ``mpirun -n P``, it compares one rank
(``COMM_SELF``) with the ``P`` ranks of ``COMM_WORLD`` instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

__all__ = ["main"]

log = logging.getLogger(__name__)


@dataclass
class Figure:
    """One verified number: its value, the check and whether it passed (None: reported only)."""

    name: str
    value: float
    bound: str
    passed: bool | None

    def as_dict(self) -> dict[str, Any]:
        return {"figure": self.name, "value": self.value, "bound": self.bound,
                "pass": self.passed}


def _under_mpirun() -> bool:
    return any(k in os.environ for k in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"))


def _decomposition_subprocesses(ranks: tuple[int, ...]) -> dict[int, np.ndarray | str]:
    """Run the decomposition case under ``mpirun -n r``; the gathered heads, or an error text."""
    out: dict[int, np.ndarray | str] = {}
    mpirun = shutil.which("mpirun") or shutil.which("mpiexec")
    if mpirun is None:
        return {r: "mpirun not found" for r in ranks}
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        for r in ranks:
            path = os.path.join(tmp, f"h{r}.npy")
            cmd = [mpirun, "-n", str(r), "--oversubscribe", sys.executable, "-m",
                   "models.richards.verify", "--decomposition-worker", path]
            try:
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
            except subprocess.TimeoutExpired:
                out[r] = "timed out"
                continue
            if proc.returncode != 0 or not os.path.exists(path):
                out[r] = f"exit {proc.returncode}: {proc.stderr[-500:]}"
            else:
                out[r] = np.load(path)
    return out


def _worker(path: str) -> int:
    from petsc4py import PETSc

    from . import cases
    h = cases.decomposition(PETSc.COMM_WORLD)
    if PETSc.COMM_WORLD.getRank() == 0:
        np.save(path, h)
    return 0


def _check(figs: list[Figure], name: str, value: float, bound: str,
           ok: Callable[[float], bool] | None) -> None:
    passed = None if ok is None else bool(np.isfinite(value) and ok(value))
    figs.append(Figure(name, float(value), bound, passed))


def run_suite(quick: bool = False) -> list[Figure]:
    """Run the cases; return the figures (collective over COMM_WORLD)."""
    figs: list[Figure] = []
    sub: dict[int, np.ndarray | str] = {}
    if not _under_mpirun():
        sub = _decomposition_subprocesses((2, 4))        # before MPI is initialised here
    from petsc4py import PETSc

    from . import cases
    world, self_ = PETSc.COMM_WORLD, PETSc.COMM_SELF

    # hydrostatic equilibrium
    out = cases.hydrostatic(world, days=10.0)
    _check(figs, "hydrostatic_max_abs_dh_m", out["max_abs_dh"], "<= 1e-8",
           lambda v: v <= 1e-8)
    # water balance
    out = cases.water_balance(world, days=30.0)
    _check(figs, "water_balance_relative_error", out["relative_error"], "<= 1e-8",
           lambda v: v <= 1e-8)
    # Celia
    out = cases.celia(self_, dz=0.0025)
    for level, ref in ((200, 53.5), (500, 56.6), (900, 57.4)):
        _check(figs, f"celia_depth_{level}_cm", out[f"depth_{level}_cm"],
               f"{ref} +- 2", lambda v, r=ref: abs(v - r) <= 2.0)
    _check(figs, "celia_mass_balance_ratio", out["mass_balance_ratio"], "1 +- 1e-6",
           lambda v: abs(v - 1.0) <= 1e-6)
    # Tracy steady
    sizes = (10, 20) if quick else (10, 20, 40)
    for scheme in ("upstream", "arithmetic"):
        errs = [cases.tracy_steady(world, n, scheme)["rel_l2"] for n in sizes]
        for n, e in zip(sizes, errs):
            bounded = scheme == "upstream" and n == 40
            _check(figs, f"tracy_steady_{scheme}_rel_l2_{n}", e,
                   "<= 3e-2" if bounded else "report", (lambda v: v <= 3e-2) if bounded else None)
        order = float(np.polyfit(np.log(sizes), -np.log(errs), 1)[0])
        need = 0.5 if scheme == "upstream" else 1.2
        _check(figs, f"tracy_steady_{scheme}_order", order,
               f">= {need}" + (" (quick: 10,20 only)" if quick else ""),
               lambda v, nd=need: v >= nd)
    # Vanderborght et al. (2005) M2.2 evaporation: cumulative evaporation vs desorptivity solution,
    # 400 cells graded toward the surface (each 1.015 x the one above; top cell 39 um)
    ncell, grading = 400, 1.015
    for label, soil, h_i, rate, days in (("sand", "sand", -0.4, 1.0, 1.0),
                                         ("loam_1mm", "loam", -2.0, 1.0, 10.0),
                                         ("loam_3mm", "loam", -2.0, 3.0, 2.0),
                                         ("clay", "clay", -2.0, 3.0, 6.0)):
        out = cases.vanderborght_evaporation(self_, soil, h_i, rate, days, n_cells=ncell,
                                             grading=grading)
        _check(figs, f"vanderborght_m22_{label}_cum_evap_rel_err_{ncell}g", out["rel_error_final"],
               "<= 0.05", lambda v: v <= 0.05)
        _check(figs, f"vanderborght_m22_{label}_cum_evap_max_rel_err_{ncell}g",
               out["rel_error_max"], "report", None)
    # the same sand case on 1600 uniform cells, Kirchhoff and upstream surface kr (reported)
    for skr in ("kirchhoff", "averaging"):
        out = cases.vanderborght_evaporation(self_, "sand", -0.4, 1.0, 1.0, n_cells=1600,
                                             surface_kr=skr)
        _check(figs, f"vanderborght_m22_sand_uniform_1600_{skr}_rel_err", out["rel_error_final"],
               "report", None)
    # Vanderborght et al. (2005) M2.1 infiltration: cumulative infiltration and profiles vs the
    # travelling wave anchored at DuMux's 1500-cell reference depth
    from pdafpy.errors import ModelError
    for soil in ("sand", "loam", "clay"):
        try:
            out = cases.vanderborght_infiltration(self_, soil, n_cells=400)
        except ModelError as exc:
            log.error("vanderborght M2.1 %s failed: %s", soil, exc)
            _check(figs, f"vanderborght_m21_{soil}_cum_infiltration_rel_err_400", math.nan,
                   "<= 0.05 (run failed)", lambda v: False)
            continue
        for td, e, rm, rf in zip(out["times_d"], out["infiltration_rel_err"], out["theta_rmse"],
                                 out["theta_rmse_fitted"]):
            _check(figs, f"vanderborght_m21_{soil}_cum_infiltration_rel_err_400_t{td:g}d", e,
                   "<= 0.05", lambda v: v <= 0.05)
            _check(figs, f"vanderborght_m21_{soil}_theta_rmse_400_t{td:g}d", rm, "report", None)
            _check(figs, f"vanderborght_m21_{soil}_theta_rmse_shape_400_t{td:g}d", rf, "report",
                   None)
    # Tracy transient
    out = cases.tracy_transient(world, n=10 if quick else 20)
    _check(figs, f"tracy_transient_rel_l2_{10 if quick else 20}_t1e5", out["rel_l2"], "report",
           None)
    # decomposition invariance
    one = cases.decomposition(self_)
    if _under_mpirun():
        many = cases.decomposition(world)
        rel = float(np.abs(one - many).max() / np.abs(one).max())
        _check(figs, f"decomposition_rel_diff_1_vs_{world.getSize()}_ranks", rel, "<= 1e-8",
               lambda v: v <= 1e-8)
    else:
        for r, res in sub.items():
            if isinstance(res, str):
                log.error("decomposition run on %d ranks failed: %s", r, res)
                _check(figs, f"decomposition_rel_diff_1_vs_{r}_ranks", math.nan, "<= 1e-8",
                       lambda v: False)
            else:
                rel = float(np.abs(one - res).max() / np.abs(one).max())
                _check(figs, f"decomposition_rel_diff_1_vs_{r}_ranks", rel, "<= 1e-8",
                       lambda v: v <= 1e-8)
    return figs


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``pdafpy verify richards``; returns the exit status."""
    ap = argparse.ArgumentParser(prog="pdafpy verify richards", description=__doc__.split("\n")[0])
    ap.add_argument("--json", metavar="FILE", help="write every figure to FILE as JSON")
    ap.add_argument("--quick", action="store_true", help="a fast subset (no 40^3 grids)")
    ap.add_argument("--decomposition-worker", metavar="NPY", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.decomposition_worker:
        return _worker(args.decomposition_worker)
    logging.basicConfig(level=logging.WARNING)
    t0 = time.perf_counter()
    figs = run_suite(args.quick)
    wall = time.perf_counter() - t0
    from mpi4py import MPI
    rank = MPI.COMM_WORLD.Get_rank()
    failed = [f for f in figs if f.passed is False]
    if rank == 0:
        w = max(len(f.name) for f in figs)
        lines = [f"{'figure':<{w}}  {'value':>12}  {'bound':<28}  pass"]
        for f in figs:
            mark = "-" if f.passed is None else ("yes" if f.passed else "NO")
            lines.append(f"{f.name:<{w}}  {f.value:>12.5g}  {f.bound:<28}  {mark}")
        lines.append(f"{len(figs)} figures, {len(failed)} failed, {wall:.1f} s")
        sys.stdout.write("\n".join(lines) + "\n")
        if args.json:
            with open(args.json, "w", encoding="utf-8") as fh:
                json.dump({"suite": "richards", "quick": args.quick, "wall_s": wall,
                           "ranks": MPI.COMM_WORLD.Get_size(),
                           "figures": [f.as_dict() for f in figs]}, fh, indent=2)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Problem setups for verification and benchmarks: each builds a solver, runs it, returns figures.

Every function takes the communicator of the ranks that run it (``PETSc.COMM_SELF`` for 1D
columns) and returns a dict of plain floats (and arrays where noted), the material of
:mod:`.verify` and ``scripts/bench_richards.py``. Units are SI throughout; the Celia case is
reported in centimetres as the paper does.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Mapping, Sequence

import numpy as np

from .analytic import TracyProblem, hydrostatic_head, tracy_3d, tracy_top_head
from .boundary import Atmospheric, BoundaryCondition, FreeDrainage, Head
from .grid import ZHAO2025_DZ, RichardsGrid
from .retention import SOIL_KEYS
from .solver import RichardsSolver
from .timestepping import StepController

__all__ = ["make_solver", "lognormal_field", "celia", "tracy_steady", "tracy_transient",
           "hydrostatic", "water_balance", "decomposition", "benchmark", "SOILS",
           "vanderborght_infiltration", "vanderborght_evaporation", "graded_dz", "VDB_M21",
           "VDB_KR_SE_HIGH", "benchmark_top_flux", "storm_top_flux", "BENCHMARK_FORCINGS",
           "BENCHMARK_BOTTOMS"]

log = logging.getLogger(__name__)

DAY = 86400.0

#: Soils as (theta_r, theta_s, alpha [1/m], n, Ks [m/s]).
SOILS: dict[str, tuple[float, float, float, float, float]] = {
    # Carsel & Parrish (1988)
    "loam": (0.078, 0.43, 3.6, 1.56, 2.89e-6),
    "sandy_loam": (0.065, 0.41, 7.5, 1.89, 1.23e-5),
    # Vanderborght et al. (2005)
    "vdb_sand": (0.045, 0.43, 15.0, 3.0, 10.0 / DAY),
    "vdb_loam": (0.08, 0.43, 4.0, 1.6, 0.5 / DAY),
    "vdb_clay": (0.10, 0.40, 1.0, 1.1, 0.1 / DAY),
}


def make_solver(comm: Any, *, nx: int, ny: int, dz: Sequence[float], dx: float = 1.0,
                dy: float = 1.0, soil: Mapping[str, Any], model: str = "van_genuchten",
                boundaries: Mapping[str, BoundaryCondition], kr_averaging: str = "upstream",
                controller: StepController | None = None,
                options: Mapping[str, Any] | None = None, prefix: str = "richards_"
                ) -> RichardsSolver:
    """A grid and solver from global parameter values.

    ``soil`` maps each of ``theta_r, theta_s, alpha, n, ks_h, ks_v, ss`` (``ks`` sets both
    conductivities; ``n`` may be omitted for Gardner) to a scalar, per-layer, per-column or
    per-cell value (see :meth:`RichardsGrid.owned`); an optional scalar ``kr_se_high`` regularises
    van Genuchten's ``kr`` near saturation (:mod:`.retention`).
    """
    grid = RichardsGrid(comm, nx, ny, dz, dx, dy)
    soil = dict(soil)
    if "ks" in soil:
        ks = soil.pop("ks")
        soil.setdefault("ks_h", ks)
        soil.setdefault("ks_v", ks)
    soil.setdefault("n", 2.0)
    soil.setdefault("ss", 0.0)
    kr_se_high = soil.pop("kr_se_high", None)
    owned = {k: grid.owned(soil[k], k) for k in SOIL_KEYS}
    return RichardsSolver(grid, owned, model, boundaries, kr_averaging=kr_averaging,
                          controller=controller, options=options, prefix=prefix,
                          kr_se_high=kr_se_high)


#: Se above which the Vanderborght cases regularise kr, per soil, as in DuMux's benchmark inputs
#: (``VanGenuchtenKrwHighSweThreshold``: 0.9999 for clay, 1.0 = off for loam; see
#: :mod:`.retention`). Soils not listed are not regularised.
VDB_KR_SE_HIGH = {"clay": 0.9999}


def _vg(name: str) -> dict[str, float]:
    tr, ts, a, n, ks = SOILS[name]
    return {"theta_r": tr, "theta_s": ts, "alpha": a, "n": n, "ks": ks}


def lognormal_field(ny: int, nx: int, dx: float, dy: float, corr_len: float, sigma: float,
                    seed: int) -> np.ndarray:
    """A log-normal multiplier field ``exp(sigma Y)``, ``Y`` a standardised Gaussian field.

    ``Y`` has a Gaussian covariance of correlation length ``corr_len`` [m], made by spectral
    synthesis on a periodic grid padded by 3 correlation lengths, then shifted and scaled to
    sample mean 0 and standard deviation 1. Deterministic for a seed, identical on every rank.

    Returns
    -------
    (ny, nx) float ndarray
    """
    pad_y = ny + int(np.ceil(3 * corr_len / dy))
    pad_x = nx + int(np.ceil(3 * corr_len / dx))
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((pad_y, pad_x))
    ky = np.fft.fftfreq(pad_y, d=dy) * 2 * np.pi
    kx = np.fft.fftfreq(pad_x, d=dx) * 2 * np.pi
    k2 = ky[:, None] ** 2 + kx[None, :] ** 2
    spec = np.exp(-k2 * corr_len ** 2 / 8.0)          # sqrt of the Gaussian covariance spectrum
    y = np.real(np.fft.ifft2(np.fft.fft2(noise) * spec))[:ny, :nx]
    y = (y - y.mean()) / y.std()
    return np.exp(sigma * y)


def _gathered_head(s: RichardsSolver) -> np.ndarray:
    return s.grid.gather(s.get_head())


# ------------------------------------------------------------------------------ Celia 1990
def celia(comm: Any, dz: float = 0.0025, kr_averaging: str = "upstream",
          options: Mapping[str, Any] | None = None, dt_max: float = 600.0) -> dict[str, Any]:
    """Celia et al. (1990) infiltration into a dry van Genuchten column (their Fig. 6 problem).

    100 cm column, ``h = -1000 cm`` initially and at the bottom, ``-75 cm`` at the top, one day.

    Returns
    -------
    dict
        ``depth_200_cm``, ``depth_500_cm``, ``depth_900_cm`` (depths [cm] where h crosses
        -200/-500/-900 cm), ``mass_balance_ratio``, ``steps``, ``newton_its``, ``wall_s``.
    """
    n = int(round(1.0 / dz))
    soil = {"theta_r": 0.102, "theta_s": 0.368, "alpha": 3.35, "n": 2.0, "ks": 9.22e-5}
    s = make_solver(comm, nx=1, ny=1, dz=[1.0 / n] * n, soil=soil,
                    boundaries={"top": Head(-0.75), "bottom": Head(-10.0)},
                    kr_averaging=kr_averaging, options=options,
                    controller=StepController(dt=1.0, dt_min=1e-4, dt_max=dt_max))
    s.set_head(np.full(s.grid.owned_shape, -10.0))
    t0 = time.perf_counter()
    s.advance(0.0, DAY)
    wall = time.perf_counter() - t0
    h = _gathered_head(s)[:, 0, 0]
    depth = s.grid.depth
    out: dict[str, Any] = {}
    for level in (-2.0, -5.0, -9.0):
        k = int(np.argmax(h < level))               # first cell below the level
        d = depth[k - 1] + (depth[k] - depth[k - 1]) * (level - h[k - 1]) / (h[k] - h[k - 1])
        out[f"depth_{int(-level * 100)}_cm"] = 100.0 * d
    out.update(mass_balance_ratio=s.balance.ratio, steps=s.stats.steps,
               newton_its=s.stats.newton_its, rejected=s.stats.rejected, wall_s=wall,
               relative_error=s.balance.relative_error)
    s.destroy()
    return out


# ------------------------------------------------------------------------------ Tracy 2006
def _tracy_solver(comm, n, p, kr_averaging, options, controller=None):
    L = p.L
    bcs = {f: Head(p.h_r) for f in ("west", "east", "south", "north", "bottom")}
    bcs["top"] = Head(lambda x, y, d: tracy_top_head(p, x, y))
    return make_solver(comm, nx=n, ny=n, dz=[L / n] * n, dx=p.a / n, dy=p.b / n,
                       soil={"theta_r": p.theta_r, "theta_s": p.theta_s, "alpha": p.alpha,
                             "ks": p.ks, "ss": 0.0}, model="gardner", boundaries=bcs,
                       kr_averaging=kr_averaging, options=options, controller=controller)


def _tracy_exact_owned(s: RichardsSolver, p: TracyProblem, t: float | None) -> np.ndarray:
    g = s.grid
    z = p.L - g.depth
    return tracy_3d(p, g.x_owned[None, None, :], g.y_owned[None, :, None], z[:, None, None], t)


def _rel_l2(s: RichardsSolver, h: np.ndarray, hex_: np.ndarray) -> float:
    num = s.grid.sum(float(np.sum((h - hex_) ** 2)))
    den = s.grid.sum(float(np.sum(hex_ ** 2)))
    return float(np.sqrt(num / den))


def tracy_steady(comm: Any, n: int, kr_averaging: str = "upstream",
                 options: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Steady state of Tracy's problem on an ``n^3`` grid, solved directly (no accumulation).

    Newton starts from ``h = h_r``; if it fails it is continued from a pseudo-transient run.

    Returns
    -------
    dict
        ``rel_l2`` (relative L2 error of h), ``newton_its``, ``wall_s``.
    """
    p = TracyProblem()
    opts = {"snes_max_it": 100, "snes_rtol": 1e-10, "snes_atol": 1e-13}
    opts.update(options or {})
    s = _tracy_solver(comm, n, p, kr_averaging, opts)
    s.set_head(np.full(s.grid.owned_shape, p.h_r))
    t0 = time.perf_counter()
    ok, its = s.solve_steady()
    if not ok:
        log.info("tracy steady n=%d: direct Newton failed, continuing by pseudo-time", n)
        s.set_head(np.full(s.grid.owned_shape, p.h_r))
        s.controller = StepController(dt=1e3, dt_min=1e-2, dt_max=1e9)
        s.advance(0.0, 1e10)
        ok, its2 = s.solve_steady()
        its += its2
    wall = time.perf_counter() - t0
    err = _rel_l2(s, s.get_head(), _tracy_exact_owned(s, p, None))
    out = {"rel_l2": err, "newton_its": float(s.stats.newton_its), "wall_s": wall,
           "converged": float(ok)}
    s.destroy()
    return out


def tracy_transient(comm: Any, n: int = 20, t0: float = 2000.0, t1: float = 1e5,
                    dt_max: float = 500.0, kr_averaging: str = "upstream") -> dict[str, float]:
    """Tracy's transient solution from the exact state at ``t0`` to ``t1`` [s] on ``n^3``.

    Returns
    -------
    dict
        ``rel_l2`` at ``t1``, ``rel_l2_t0`` (the spatial error of the start state after one
        zero-length evaluation, i.e. 0), ``steps``, ``newton_its``, ``wall_s``.
    """
    p = TracyProblem()
    s = _tracy_solver(comm, n, p, kr_averaging, None,
                      StepController(dt=50.0, dt_min=1e-2, dt_max=dt_max))
    s.set_head(_tracy_exact_owned(s, p, t0))
    tw = time.perf_counter()
    s.advance(t0, t1)
    wall = time.perf_counter() - tw
    err = _rel_l2(s, s.get_head(), _tracy_exact_owned(s, p, t1))
    out = {"rel_l2": err, "steps": float(s.stats.steps), "newton_its": float(s.stats.newton_its),
           "wall_s": wall, "mass_balance_rel": s.balance.relative_error}
    s.destroy()
    return out


# ------------------------------------------------------------------------------ hydrostatic
def hydrostatic(comm: Any, days: float = 10.0, nx: int = 6, ny: int = 4) -> dict[str, float]:
    """3D layered column block in equilibrium with a water table at 2 m; drift after ``days``.

    Loam over sandy loam (below 1.5 m), variable layers to 5 m, specific storage 1e-4 1/m,
    heterogeneous Ks per column; bottom held hydrostatic, all other faces closed.

    Returns
    -------
    dict
        ``max_abs_dh`` [m], ``steps``, ``mass_balance_rel``.
    """
    dz = [0.05] * 4 + [0.1] * 5 + [0.25] * 4 + [0.5] * 5
    g_depth = np.cumsum(dz) - 0.5 * np.asarray(dz)
    lower = g_depth > 1.5
    loam, sl = _vg("loam"), _vg("sandy_loam")
    soil = {k: np.where(lower, sl[k], loam[k]) for k in ("theta_r", "theta_s", "alpha", "n")}
    ksf = lognormal_field(ny, nx, 10.0, 10.0, 20.0, 1.0, seed=7)
    ks = np.where(lower, sl["ks"], loam["ks"])[:, None, None] * ksf[None]
    soil.update(ks_h=ks, ks_v=ks, ss=1e-4)
    s = make_solver(comm, nx=nx, ny=ny, dz=dz, dx=10.0, dy=10.0, soil=soil,
                    boundaries={"bottom": Head(water_table_depth=2.0)},
                    controller=StepController(dt=600.0, dt_max=DAY))
    h0 = np.broadcast_to(hydrostatic_head(s.grid.depth, 2.0)[:, None, None],
                         s.grid.owned_shape).copy()
    s.set_head(h0)
    s.advance(0.0, days * DAY)
    dh = s.grid.max(float(np.max(np.abs(s.get_head() - h0))))
    out = {"max_abs_dh": dh, "steps": float(s.stats.steps),
           "mass_balance_rel": s.balance.relative_error, "storage_m3": s.balance.totals["storage"]}
    s.destroy()
    return out


# ------------------------------------------------------------------------------ water balance
def _rain_evap(t: float) -> float:
    """Top flux [m/s] of the water-balance case: 3 mm/d evaporation, rain pulses every 4 days."""
    day = t / DAY
    if int(day) % 4 == 1 and 0.25 <= day % 1.0 < 0.375:
        return 10e-3 / 3600.0                                  # 10 mm/h for 3 h
    return -3e-3 / DAY


def water_balance(comm: Any, days: float = 30.0, nx: int = 8, ny: int = 8,
                  options: Mapping[str, Any] | None = None) -> dict[str, float]:
    """30 days of rain pulses and evaporation with root-water uptake on a heterogeneous 3D grid.

    Atmospheric top (ponding, h_min = -100 m), free drainage at the bottom, a prescribed flux in
    through the west face, a root-zone sink; top flux changed every hour.

    Returns
    -------
    dict
        ``relative_error`` (cumulative |storage - inflow| / cumulative gross flow), the totals.
    """
    dz = [0.05] * 6 + [0.1] * 5 + [0.25] * 4 + [0.5] * 3
    depth = np.cumsum(dz) - 0.5 * np.asarray(dz)
    lower = depth > 1.0
    loam, sl = _vg("loam"), _vg("sandy_loam")
    soil = {k: np.where(lower, sl[k], loam[k]) for k in ("theta_r", "theta_s", "alpha", "n")}
    rng = np.random.default_rng(3)
    ks = np.where(lower, sl["ks"], loam["ks"])[:, None, None] * np.exp(
        rng.normal(0.0, 1.0, (len(dz), ny, nx)))
    soil.update(ks_h=ks, ks_v=0.5 * ks, ss=1e-4)
    top = Atmospheric(0.0, h_max=0.0, h_min=-100.0)
    s = make_solver(comm, nx=nx, ny=ny, dz=dz, dx=5.0, dy=5.0, soil=soil,
                    boundaries={"top": top, "bottom": FreeDrainage(),
                                "west": Head(water_table_depth=2.0)},
                    controller=StepController(dt=60.0, dt_max=3600.0), options=options)
    g = s.grid
    s.set_head(np.broadcast_to((depth - 2.5)[:, None, None], g.owned_shape).copy())
    root = np.where(depth < 0.5, 1.0 / 0.5, 0.0)[:, None, None]     # uniform over 0.5 m
    hours = int(round(days * 24))
    for i in range(hours):
        t = i * 3600.0
        top.value = _rain_evap(t)
        s.source = -np.broadcast_to(root * 1e-3 / DAY, g.owned_shape).copy()  # 1 mm/d uptake
        s.advance(t, t + 3600.0)
    b = s.balance
    out = {"relative_error": b.relative_error, "error_m3": b.error, "gross_m3": b.totals["gross"],
           "storage_m3": b.totals["storage"], "runoff_m3": b.totals["runoff"],
           "steps": float(s.stats.steps), "newton_its": float(s.stats.newton_its),
           "rejected": float(s.stats.rejected)}
    s.destroy()
    return out


# ------------------------------------------------------------------------------ decomposition
def decomposition(comm: Any, hours: float = 6.0, dt: float = 600.0) -> np.ndarray:
    """A 3D problem with a fixed step and tight Newton tolerances; the gathered final head.

    12 x 10 columns, 12 layers, heterogeneous Ks, rain then evaporation; fixed ``dt`` [s];
    SNES rtol 1e-12, atol 1e-14 and a direct-quality linear solve (ksp_rtol 1e-12) so that
    results differ between decompositions only by round-off and linear-solver tolerance.

    Returns
    -------
    (nz, ny, nx) float ndarray
        The pressure head [m] on every rank.
    """
    dz = [0.05] * 4 + [0.1] * 4 + [0.5] * 4
    depth = np.cumsum(dz) - 0.5 * np.asarray(dz)
    nx, ny = 12, 10
    rng = np.random.default_rng(11)
    ks = SOILS["loam"][4] * np.exp(rng.normal(0.0, 1.0, (len(dz), ny, nx)))
    soil = dict(_vg("loam"), ks_h=ks, ks_v=ks, ss=1e-4)
    soil.pop("ks")
    top = Atmospheric(5e-3 / 3600.0)
    opts = {"snes_rtol": 1e-12, "snes_atol": 1e-14, "snes_stol": 1e-16, "snes_ksp_ew": "false",
            "ksp_rtol": 1e-12, "ksp_atol": 1e-30}
    s = make_solver(comm, nx=nx, ny=ny, dz=dz, dx=20.0, dy=20.0, soil=soil,
                    boundaries={"top": top, "bottom": FreeDrainage(),
                                "east": Head(water_table_depth=1.5)},
                    controller=StepController(dt=dt, dt_min=dt, dt_max=dt, fixed=True,
                                              max_cuts=0), options=opts)
    s.set_head(np.broadcast_to((depth - 2.0)[:, None, None], s.grid.owned_shape).copy())
    half = hours * 1800.0
    s.advance(0.0, half)
    top.value = -5e-3 / DAY
    s.advance(half, 2 * half)
    h = _gathered_head(s)
    s.destroy()
    return h


# ------------------------------------------------------------------------------ benchmark
def benchmark_top_flux(hour: float) -> float:
    """Top flux [m/s] of the benchmark at hour-of-day ``hour``: rain 5 mm/h 06-09, 2 mm/h 15-17,
    evaporation 0.2 mm/h in daylight (06-18) otherwise, zero at night."""
    if 6 <= hour < 9:
        return 5e-3 / 3600.0
    if 15 <= hour < 17:
        return 2e-3 / 3600.0
    if 6 <= hour < 18:
        return -0.2e-3 / 3600.0
    return 0.0


def storm_top_flux(hour: float) -> float:
    """Top flux [m/s] of the storm case at hour ``hour``: 20 mm/h from 01 to 04 (60 mm), then
    dry (zero flux)."""
    if 1 <= hour < 4:
        return 20e-3 / 3600.0
    return 0.0


#: Top fluxes of :func:`benchmark` by name: ``benign`` (:func:`benchmark_top_flux`) and ``storm``
#: (:func:`storm_top_flux`).
BENCHMARK_FORCINGS = {"benign": benchmark_top_flux, "storm": storm_top_flux}
#: Bottom conditions of :func:`benchmark`: closed, free drainage, and ``open`` (h = 0 at the
#: bottom face, 30 m deep: the 27 m saturated zone drains toward it).
BENCHMARK_BOTTOMS = ("noflow", "free_drainage", "open")


def benchmark(comm: Any, nx: int = 64, ny: int = 64, hours: int = 24,
              options: Mapping[str, Any] | None = None, seed: int = 2025,
              bottom: str = "noflow", forcing: str = "benign",
              return_head: bool = False) -> dict[str, Any]:
    """The issue's benchmark: 64 x 64 columns at 500 m, Zhao et al.'s 30 layers, one day.

    Loam over sandy loam below 1.5 m, log-normal Ks per column (sigma ln Ks = 1, correlation
    length 2 km, vertically uniform within the 30 m), hydrostatic start with the water table at
    3 m, hourly top flux (``forcing``: :data:`BENCHMARK_FORCINGS`), closed sides and (by default)
    a closed bottom as in ParFlow's TSMP setups (``bottom="free_drainage"`` drains the 27 m
    saturated zone at Ks, a much harder and different problem; ``bottom="open"`` holds h = 0 at
    the bottom face, 30 m deep).

    Returns
    -------
    dict with ``cells``, ``sim_hours``, ``wall_s``, ``cpu_s`` (this process's CPU time, the
    largest over the ranks), ``newton_its``, ``ksp_its``, ``steps``, ``mass_balance_rel``, and
    the time split ``t_residual``, ``t_jacobian``, ``t_solve`` [s];
    with ``return_head`` also ``head``, the gathered final pressure head [m], (nz, ny, nx).
    """
    if forcing not in BENCHMARK_FORCINGS:
        raise ValueError(f"benchmark forcing {forcing!r}: expected one of "
                         f"{sorted(BENCHMARK_FORCINGS)}")
    if bottom not in BENCHMARK_BOTTOMS:
        raise ValueError(f"benchmark bottom {bottom!r}: expected one of {BENCHMARK_BOTTOMS}")
    top_flux = BENCHMARK_FORCINGS[forcing]
    dz = np.asarray(ZHAO2025_DZ)
    depth = np.cumsum(dz) - 0.5 * dz
    lower = depth > 1.5
    loam, sl = _vg("loam"), _vg("sandy_loam")
    soil = {k: np.where(lower, sl[k], loam[k]) for k in ("theta_r", "theta_s", "alpha", "n")}
    f = lognormal_field(ny, nx, 500.0, 500.0, 2000.0, 1.0, seed)
    ks = np.where(lower, sl["ks"], loam["ks"])[:, None, None] * f[None]
    soil.update(ks_h=ks, ks_v=ks, ss=1e-4)
    top = Atmospheric(0.0, h_max=0.0, h_min=-100.0)
    opts = {"snes_rtol": 1e-8}
    opts.update(options or {})
    bottom_bc = {"noflow": None, "free_drainage": FreeDrainage(), "open": Head(0.0)}[bottom]
    s = make_solver(comm, nx=nx, ny=ny, dz=dz, dx=500.0, dy=500.0, soil=soil,
                    boundaries={"top": top, "bottom": bottom_bc},
                    controller=StepController(dt=900.0, dt_max=3600.0), options=opts)
    g = s.grid
    s.set_head(np.broadcast_to((depth - 3.0)[:, None, None], g.owned_shape).copy())
    g.mpi_comm.Barrier()
    t0, c0 = time.perf_counter(), time.process_time()
    for hr in range(hours):
        top.value = top_flux(hr % 24)
        s.advance(hr * 3600.0, (hr + 1) * 3600.0)
    cpu = time.process_time() - c0
    g.mpi_comm.Barrier()
    wall = time.perf_counter() - t0
    st = s.stats
    out = {"ranks": float(g.comm.getSize()), "cells": float(g.n_cells), "sim_hours": float(hours),
           "wall_s": wall, "cpu_s": g.max(cpu), "newton_its": float(st.newton_its),
           "ksp_its": float(st.ksp_its),
           "steps": float(st.steps), "rejected": float(st.rejected),
           "mass_balance_rel": s.balance.relative_error,
           "t_residual": g.max(st.time_residual), "t_jacobian": g.max(st.time_jacobian),
           "t_solve": g.max(st.time_solve)}
    out["core_seconds_per_cell_hour"] = wall * out["ranks"] / (out["cells"] * hours)
    if return_head:
        out["head"] = _gathered_head(s)
    s.destroy()
    return out


# ------------------------------------------------------------------------------ Vanderborght
def graded_dz(depth: float, n_cells: int, grading: float = 1.0) -> np.ndarray:
    """``n_cells`` layer thicknesses [m], top down, summing to ``depth``, each ``grading`` times
    the one above (``grading > 1`` refines toward the surface; 1 is uniform)."""
    if grading == 1.0:
        return np.full(n_cells, depth / n_cells)
    w = grading ** np.arange(n_cells, dtype=float)
    return depth * w / w.sum()


#: M2.1 anchors of the travelling wave: surface water content and the depth [m] of
#: theta_a = (theta_sur + theta_i)/2 at a time [d], from DuMux's 1500-cell runs
#: (``test/porousmediumflow/richards/benchmarks/params_infiltration_*.input``; sand also in
#: shared/reference/benchmarks.md section 1.5), and the output times [d].
VDB_M21 = {"sand": (0.2824, 0.4278, 0.1, (0.1, 0.2, 0.3)),
           "loam": (0.43, 0.4003, 0.2, (0.2, 0.5, 1.0)),
           "clay": (0.40, 0.2441, 0.1, (0.1, 0.2, 0.5))}


def vanderborght_infiltration(comm: Any, soil: str, n_cells: int = 400, dt_max: float = 300.0,
                              surface_kr: str = "kirchhoff",
                              options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Vanderborght et al. (2005) M2.1: 1000 mm/d onto a 200 cm column at h = -400 cm.

    Ponding (h_max = 0) when the soil cannot take the flux; free drainage at the bottom.
    At the soil's three output times the cumulative infiltration and the water-content profile
    are compared with the travelling wave (:func:`.analytic.travelling_wave`) anchored as in
    :data:`VDB_M21`.

    Returns
    -------
    dict
        ``times_d``, ``depth_m``, ``theta`` and ``theta_ref`` (profiles), ``infiltration_m`` and
        ``infiltration_ref_m`` (cumulative), ``infiltration_rel_err`` (per time),
        ``theta_rmse`` and ``theta_max_abs`` (per time, over the column), ``theta_rmse_fitted``
        (the RMSE after the best shift of the reference in depth: the shape error alone),
        ``runoff_m``, ``mass_balance_rel``, ``steps``, ``newton_its``, ``rejected``, ``wall_s``.
    """
    from .analytic import travelling_wave

    theta_sur, ref_depth, ref_time, times = VDB_M21[soil]
    top = Atmospheric(1.0 / DAY, h_max=0.0, surface_kr=surface_kr)
    p = _vg(f"vdb_{soil}")
    s = make_solver(comm, nx=1, ny=1, dz=[2.0 / n_cells] * n_cells,
                    soil=dict(p, ss=0.0, kr_se_high=VDB_KR_SE_HIGH.get(soil)),
                    boundaries={"top": top, "bottom": FreeDrainage()},
                    controller=StepController(dt=1.0, dt_min=1e-4, dt_max=dt_max),
                    options=options)
    s.set_head(np.full(s.grid.owned_shape, -4.0))
    tr, ts, a, n, ks = SOILS[f"vdb_{soil}"]
    wave = travelling_wave(tr, ts, a, n, ks, -4.0, theta_sur, ref_depth, ref_time * DAY)
    depth = s.grid.depth.copy()
    out: dict[str, Any] = {"times_d": times, "depth_m": depth, "theta": [], "theta_ref": [],
                           "infiltration_m": [], "infiltration_ref_m": [],
                           "infiltration_rel_err": [], "theta_rmse": [], "theta_max_abs": [],
                           "theta_rmse_fitted": []}
    area = s.grid.dx * s.grid.dy
    t = 0.0
    tw = time.perf_counter()
    shifts = np.linspace(-0.1, 0.1, 2001)
    for td in times:
        s.advance(t, td * DAY)
        t = td * DAY
        th = s.grid.gather(s.theta())[:, 0, 0]
        ref = wave.water_content(depth, t)
        inf = s.balance.totals["in_top"] / area
        inf_ref = wave.infiltration(t, 2.0)
        fitted = min(float(np.sqrt(np.mean((th - wave.water_content(depth - d, t)) ** 2)))
                     for d in shifts[::20])
        out["theta"].append(th)
        out["theta_ref"].append(ref)
        out["infiltration_m"].append(inf)
        out["infiltration_ref_m"].append(inf_ref)
        out["infiltration_rel_err"].append(abs(inf - inf_ref) / inf_ref)
        out["theta_rmse"].append(float(np.sqrt(np.mean((th - ref) ** 2))))
        out["theta_max_abs"].append(float(np.abs(th - ref).max()))
        out["theta_rmse_fitted"].append(fitted)
    out.update(runoff_m=s.balance.totals["runoff"] / area,
               mass_balance_rel=s.balance.relative_error, steps=float(s.stats.steps),
               newton_its=float(s.stats.newton_its), rejected=float(s.stats.rejected),
               wall_s=time.perf_counter() - tw)
    s.destroy()
    return out


def vanderborght_evaporation(comm: Any, soil: str, h_init: float, rate_mm_d: float,
                             days: float, n_cells: int = 400, dt_max: float = 600.0,
                             surface_kr: str = "kirchhoff", grading: float = 1.0
                             ) -> dict[str, Any]:
    """Vanderborght et al. (2005) M2.2: evaporation from a 100 cm column without gravity.

    Gravity is removed (vertical gravity terms set to zero); the top is atmospheric with
    potential evaporation ``rate_mm_d`` until the surface reaches ``h = -100 m``; the bottom is
    closed. Compares the cumulative actual evaporation with the desorptivity solution
    (:func:`.analytic.desorptivity_evaporation`) at 20 times. ``grading`` > 1 refines the cells
    toward the surface (:func:`graded_dz`; the verify suite uses 400 cells at 1.015);
    ``surface_kr`` is the top condition's surface kr (:class:`.boundary.Atmospheric`).

    Returns
    -------
    dict
        ``times_d``, ``evaporation_m`` and ``reference_m`` (cumulative), ``rel_error_final``
        (relative error of the cumulative evaporation at the end), ``rel_error_max`` (largest
        relative error over the times after the first tenth), ``mass_balance_rel``.
    """
    from .analytic import desorptivity_evaporation

    rate = rate_mm_d * 1e-3 / DAY
    top = Atmospheric(-rate, h_min=-100.0, surface_kr=surface_kr)
    p = _vg(f"vdb_{soil}")
    s = make_solver(comm, nx=1, ny=1, dz=graded_dz(1.0, n_cells, grading),
                    soil=dict(p, ss=0.0, kr_se_high=VDB_KR_SE_HIGH.get(soil)),
                    boundaries={"top": top},
                    controller=StepController(dt=1.0, dt_min=1e-4, dt_max=dt_max))
    s.grid.gravity_z[...] = 0.0
    s.disc.faces["top"].delev = np.asarray(0.0)
    s.set_head(np.full(s.grid.owned_shape, h_init))
    times = np.linspace(0.0, days, 21)[1:]
    evap = []
    t = 0.0
    for td in times:
        s.advance(t, td * DAY)
        t = td * DAY
        evap.append(-s.balance.totals["in_top"] / (s.grid.dx * s.grid.dy))
    evap_arr = np.asarray(evap)
    tr, ts, a, n, ks = SOILS[f"vdb_{soil}"]
    ref = desorptivity_evaporation(tr, ts, a, n, ks, h_init, rate, times * DAY)
    rel = np.abs(evap_arr - ref) / ref
    out = {"times_d": times, "evaporation_m": evap_arr, "reference_m": ref,
           "rel_error_final": float(rel[-1]), "rel_error_max": float(rel[2:].max()),
           "mass_balance_rel": s.balance.relative_error, "steps": float(s.stats.steps),
           "newton_its": float(s.stats.newton_its), "rejected": float(s.stats.rejected)}
    s.destroy()
    return out

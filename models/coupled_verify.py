"""``pdafpy verify coupled``: the land-surface / subsurface checks of issue 4.

Figures, bounds and where they come from:

=========================================  =============  ==================================
figure                                     bound          setup
=========================================  =============  ==================================
FAO-56 daily ET0, Brussels 6 July          |x-3.9|<=0.1   Allen et al. (1998) Example 18
FAO-56 hourly ET0, N'Diaye 14-15 h         |x-0.63|<=0.02 Allen et al. (1998) Example 19
coupled water balance, 1 year              <= 1e-6        16x16x20, heterogeneous, 2 ranks
coupling consistency (prescribed fluxes)   <= 1e-12       coupled vs standalone Richards
transpiration from layers at wilting       == 0           land column, stressed layers
snow melts after a cold spell              SWE 0 at end   land column, 3 cold + 15 warm days
LAI summer / winter, grassland             > 1            2x2 grass columns, 1 year
annual ET / P, grassland                   [0.3, 0.8]     2x2 grass columns, 1 year
decomposition 1/2/4 ranks, 10 days         <= 1e-8 rel.   16x16x20, fixed step
=========================================  =============  ==================================

``--quick`` shortens the water balance to 30 days and the decomposition run to 2 days (the
annual figures keep their year). Cases that need MPI run as ``mpirun`` subprocesses
(``python -m models.coupled_verify --case NAME --out FILE``), so this process never initialises
MPI. Exit status 1 when any figure fails its bound.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

__all__ = ["main", "heterogeneous_config", "grass_config", "water_balance_case",
           "grass_year_case", "consistency_case", "decomposition_case", "wilting_case",
           "snow_case", "fao56_cases"]

log = logging.getLogger(__name__)
DAY = 86400.0
#: 20 layers: Zhao et al.'s 10 to 3 m, then 10 x 0.7 m to 10 m.
DZ20 = [0.02, 0.03, 0.05, 0.07, 0.13, 0.2, 0.3, 0.5, 0.7, 1.0] + [0.7] * 10
LOAM = dict(theta_r=0.078, theta_s=0.43, alpha=3.6, n=1.56, ks=2.89e-6)
SANDY_LOAM = dict(theta_r=0.065, theta_s=0.41, alpha=7.5, n=1.89, ks=1.23e-5)
TIGHT = {"snes_rtol": 1e-12, "snes_atol": 1e-14, "snes_stol": 1e-16, "snes_ksp_ew": "false",
         "ksp_rtol": 1e-12, "ksp_atol": 1e-30}


# ============================================================================ configurations
def heterogeneous_config(nx: int = 16, ny: int = 16, seed: int = 7, fixed_dt: float | None = None,
                         mixed_cover: bool = True, dx: float = 50.0) -> dict[str, Any]:
    """The issue's heterogeneous 3D case: loam over sandy loam below 1 m, log-normal Ks per
    column (sigma ln Ks = 1, correlation length 4 cells), land-cover quadrants (grass, crop,
    deciduous and evergreen forest, a bare-soil strip), free drainage at the bottom, synthetic
    forcing. ``fixed_dt`` [s] gives fixed subsurface steps with tight Newton tolerances."""
    from .richards.cases import lognormal_field

    dz = np.asarray(DZ20)
    depth = np.cumsum(dz) - 0.5 * dz
    lower = depth > 1.0
    f = lognormal_field(ny, nx, dx, dx, 4 * dx, 1.0, seed)
    soil = {k: np.where(lower, SANDY_LOAM[k], LOAM[k]).tolist()
            for k in ("theta_r", "theta_s", "n")}
    soil["alpha_per_m"] = np.where(lower, SANDY_LOAM["alpha"], LOAM["alpha"]).tolist()
    ks = np.where(lower, SANDY_LOAM["ks"], LOAM["ks"])[:, None, None] * f[None]
    soil.update(ks_m_per_s=ks.tolist(), ss_per_m=1e-4)
    if mixed_cover:
        cover = np.empty((ny, nx), dtype=object)
        cover[: ny // 2, : nx // 2] = "grass"
        cover[: ny // 2, nx // 2:] = "crop"
        cover[ny // 2:, : nx // 2] = "deciduous_forest"
        cover[ny // 2:, nx // 2:] = "evergreen_forest"
        cover[:, nx // 2 - 1] = "bare_soil"
        land_cover: Any = cover.tolist()
    else:
        land_cover = "grass"
    solver: dict[str, Any] = {"dt_initial_s": 600.0, "dt_max_s": 3600.0}
    if fixed_dt:
        solver = {"fixed_dt": True, "dt_initial_s": fixed_dt, "petsc_options": dict(TIGHT)}
    return {
        "subsurface": {"grid": {"nx": nx, "ny": ny, "dx_m": dx, "dy_m": dx, "dz_m": DZ20},
                       "soil": soil,
                       "boundary": {"top": {"type": "atmospheric", "h_max_m": 0.0,
                                            "h_min_m": -100.0},
                                    "bottom": {"type": "free_drainage"}},
                       "initial": {"pressure_head_m": -2.0}, "solver": solver},
        "land": {"land_cover": land_cover},
        "forcing": {"seed": seed, "precipitation_spatial_sd": 0.2},
        "coupling": {"dt_s": 3600.0},
    }


def grass_config(n: int = 2, seed: int = 11) -> dict[str, Any]:
    """Homogeneous loam under the default grassland, n x n columns, free drainage."""
    return {
        "subsurface": {"grid": {"nx": n, "ny": n, "dx_m": 100.0, "dy_m": 100.0, "dz_m": DZ20},
                       "soil": {"theta_r": LOAM["theta_r"], "theta_s": LOAM["theta_s"],
                                "alpha_per_m": LOAM["alpha"], "n": LOAM["n"],
                                "ks_m_per_s": LOAM["ks"], "ss_per_m": 1e-4},
                       "boundary": {"bottom": {"type": "free_drainage"}},
                       "initial": {"pressure_head_m": -2.0},
                       "solver": {"dt_initial_s": 600.0, "dt_max_s": 3600.0}},
        "land": {"land_cover": "grass"},
        "forcing": {"seed": seed},
    }


# ============================================================================ MPI cases
def _build(comm, cfg):
    from .coupled import CoupledModel

    m = CoupledModel.create(comm, cfg)
    m.set_state(0, m.get_state())
    return m


def water_balance_case(comm, days: float = 365.0) -> dict[str, float]:
    """One year (or ``days``) of the heterogeneous case: the balance terms [mm] and the relative
    residual."""
    m = _build(comm, heterogeneous_config())
    m.advance(0.0, days * DAY)
    wb = m.water_balance()
    g = m.richards.solver.grid
    mm = 1e3 / (g.nx * g.ny * g.dx * g.dy)
    out = {f"{k}_mm": v * mm for k, v in wb.items() if k != "relative_residual"}
    out["relative_residual"] = wb["relative_residual"]
    out["days"] = days
    return out


def grass_year_case(comm, days: float = 365.0) -> dict[str, float]:
    """The default grassland over a year: ET / P, LAI in summer and winter, SWE."""
    m = _build(comm, grass_config())
    lai, swe = [], []
    for d in range(int(days)):
        m.advance(d * DAY, (d + 1) * DAY)
        lai.append(float(comm.allreduce(float(m.land.lai.sum()))) / (m.grid.nx * m.grid.ny))
        swe.append(float(comm.allreduce(float(m.land.swe.max()), op=_mpi_max())))
    wb = m.water_balance()
    lai = np.array(lai)
    n = lai.size
    winter = np.r_[lai[: min(59, n)], lai[334:]] if n > 334 else lai[: min(59, n)]
    summer = lai[151:243] if n > 243 else lai[-30:]
    return {"et_over_p": wb["et"] / wb["precipitation"],
            "precipitation_mm": wb["precipitation"] * 1e3 / (m.grid.nx * m.grid.ny * 1e4),
            "lai_summer": float(summer.mean()), "lai_winter": float(winter.mean()),
            "swe_max_mm": float(max(swe)), "relative_residual": wb["relative_residual"]}


def _mpi_max():
    from mpi4py import MPI
    return MPI.MAX


def _prescribed(g, nl: int):
    """Nonzero, time-varying top flux [m/s] and sinks [1/s] for the owned columns."""
    b = g.box
    yy, xx = np.meshgrid(np.arange(b.y0, b.y1), np.arange(b.x0, b.x1), indexing="ij")
    pattern = 1.0 + 0.5 * np.sin(0.7 * xx + 0.3 * yy)
    depth = g.depth[:nl]
    root = np.where(depth < 1.0, np.exp(-3.0 * depth), 0.0)[:, None, None]

    def top(t):
        phase = 2 * np.pi * t / DAY
        rain = 2e-3 / 3600.0 * max(np.sin(phase), 0.0) ** 2
        return pattern * (rain - 0.1e-3 / 3600.0 * (1 + np.cos(phase)))

    def sinks(t):
        return -2e-8 * (1.2 + np.sin(2 * np.pi * t / DAY)) * root * pattern[None]

    return top, sinks


def consistency_case(comm, hours: int = 48) -> dict[str, float]:
    """Coupled code with the land replaced by prescribed fluxes vs the standalone Richards model
    fed the same fluxes; the largest head difference relative to the largest head."""
    from .coupled import CoupledModel, PrescribedLand
    from .richards.model import RichardsModel

    cfg = heterogeneous_config(8, 8)
    sub = cfg["subsurface"]
    ref = RichardsModel.create(comm, sub)
    g = ref.solver.grid
    top, sinks = _prescribed(g, g.nz)
    coupled = CoupledModel(RichardsModel.create(comm, sub), PrescribedLand(top, sinks), None,
                           3600.0)
    coupled.set_state(0, coupled.get_state())
    ref.set_state(0, ref.get_state())
    for hr in range(hours):
        t = hr * 3600.0
        ref.set_top_flux(top(t))
        ref.set_source(sinks(t))
        ref.advance(t, t + 3600.0)
    coupled.advance(0.0, hours * 3600.0)
    ha = coupled.richards.solver.grid.gather(coupled.get_state()["pressure_head"])
    hb = g.gather(ref.get_state()["pressure_head"])
    return {"max_rel_diff": float(np.max(np.abs(ha - hb)) / np.max(np.abs(hb))),
            "hours": float(hours)}


def decomposition_case(comm, days: float = 10.0, nx: int = 16) -> dict[str, np.ndarray]:
    """The heterogeneous case with fixed 30-min subsurface steps and tight tolerances; the
    gathered fields (head, land stores) on every rank."""
    m = _build(comm, heterogeneous_config(nx, nx, fixed_dt=1800.0))
    m.advance(0.0, days * DAY)
    g = m.richards.solver.grid
    st = m.get_state()
    out = {}
    for k, v in st.items():
        parts = g.mpi_comm.allgather((m.box, v))
        full = np.empty((v.shape[0], g.ny, g.nx))
        for box, part in parts:
            full[:, box.y0:box.y1, box.x0:box.x1] = part
        out[k] = full
    return out


def compare_fields(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> float:
    """Largest difference over all fields, relative to each field's largest magnitude."""
    worst = 0.0
    for k in a:
        scale = max(float(np.max(np.abs(a[k]))), 1e-300)
        worst = max(worst, float(np.max(np.abs(a[k] - b[k]))) / scale)
    return worst


# ============================================================================ serial cases
def fao56_cases() -> dict[str, float]:
    """ET0 of FAO-56 Examples 18 (mm/day) and 19 (mm/h)."""
    from .land.evapotranspiration import (atmospheric_pressure_kpa, net_longwave_fao56_mj,
                                          penman_monteith_fao56, saturation_vapour_pressure_kpa,
                                          wind_speed_2m)
    from .land.solar import (clear_sky_radiation, daylight_hours,
                             extraterrestrial_radiation_daily_mj,
                             extraterrestrial_radiation_period_mj)
    es0 = saturation_vapour_pressure_kpa
    lat = np.deg2rad(50.8)
    ra = extraterrestrial_radiation_daily_mj(lat, 187)
    rs = (0.25 + 0.5 * 9.25 / daylight_hours(lat, 187)) * ra
    ea = 0.5 * (es0(12.3) * 0.84 + es0(21.5) * 0.63)
    rn = 0.77 * rs - net_longwave_fao56_mj(0.5 * (294.66 ** 4 + 285.46 ** 4), ea,
                                           rs / clear_sky_radiation(ra, 100.0), 4.903e-9)
    daily = penman_monteith_fao56(rn * 1e6 / DAY, 0.0, 16.9, wind_speed_2m(10 / 3.6, 10.0),
                                  0.5 * (es0(21.5) + es0(12.3)), ea,
                                  atmospheric_pressure_kpa(100.0), 900.0, DAY) * DAY
    lat = np.deg2rad(16 + 13 / 60)
    ra = extraterrestrial_radiation_period_mj(lat, 274, 14.5, 1.0, 15.0, 16.25)
    es = es0(38.0)
    rn = 0.77 * 2.45 - net_longwave_fao56_mj(311.16 ** 4, 0.52 * es,
                                             2.45 / clear_sky_radiation(ra, 8.0), 2.043e-10)
    hourly = penman_monteith_fao56(rn * 1e6 / 3600, 0.1 * rn * 1e6 / 3600, 38.0, 3.3, es,
                                   0.52 * es, atmospheric_pressure_kpa(8.0)) * 3600
    return {"daily_mm": float(daily), "hourly_mm": float(hourly)}


def _land(n, cover="grass"):
    from .land.column import LandColumns
    from .land.parameters import column_parameters
    z = np.concatenate([[0.0], np.cumsum(DZ20[:10])])
    return LandColumns(column_parameters(cover, (1, n)), z[:-1], z[1:])


def _forcing(n, **over):
    f = dict(precipitation=0.0, shortwave=500.0, longwave=320.0, air_temperature=293.15,
             specific_humidity=0.007, wind_speed=3.0, surface_pressure=101325.0)
    f.update(over)
    return {k: np.full((1, n), float(v)) for k, v in f.items()}


def _soil(h):
    from .land.column import SoilState
    tr, ts, a, n = LOAM["theta_r"], LOAM["theta_s"], LOAM["alpha"], LOAM["n"]

    def theta(hh):
        return tr + (ts - tr) * (1 + (a * np.maximum(-hh, 0)) ** n) ** (-(1 - 1 / n))
    th = theta(h)
    return SoilState(h, th, np.full_like(h, theta(np.array(-150.0))), th[0] / ts,
                     np.full(h.shape[1:], tr / ts))


def wilting_case() -> dict[str, float]:
    """Largest uptake [kg m-2 s-1] from layers at or below the wilting point, and the uptake of
    the unstressed layers (must be > 0)."""
    land = _land(3)
    h = np.full((10, 1, 3), -1.0)
    h[:4, 0, 0] = -150.0
    h[:, 0, 1] = -400.0
    h[::2, 0, 2] = -150.5
    fl = land.step(_forcing(3), _soil(h), 3600.0)
    at_or_below = h <= -150.0
    return {"max_uptake_dry_layers": float(np.max(fl.transpiration_layers[at_or_below])),
            "uptake_wet_layers": float(np.sum(fl.transpiration_layers[~at_or_below]))}


def snow_case() -> dict[str, float]:
    """Three cold days of snowfall then fifteen warm days: peak and final SWE [mm]."""
    land = _land(1)
    soil = _soil(np.full((10, 1, 1), -1.0))
    for _ in range(72):
        land.step(_forcing(1, air_temperature=268.15, precipitation=1 / 3600, shortwave=50.0),
                  soil, 3600.0)
    peak = float(land.swe.max())
    for _ in range(24 * 15):
        land.step(_forcing(1, air_temperature=281.15), soil, 3600.0)
    return {"swe_peak_mm": peak, "swe_end_mm": float(land.swe.max())}


# ============================================================================ driver
def _run_case(case: str, ranks: int, args: list[str], timeout: float = 1800.0) -> dict:
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.npz"
        cmd = ["mpirun", "-n", str(ranks)]
        if ranks > (os.cpu_count() or 1):
            cmd.append("--oversubscribe")
        cmd += [sys.executable, "-m", "models.coupled_verify", "--case", case, "--out",
                str(out)] + args
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0 or not out.exists():
            raise RuntimeError(f"case {case} on {ranks} ranks failed:\n{res.stdout[-3000:]}\n"
                               f"{res.stderr[-3000:]}")
        with np.load(out) as z:
            return {k: z[k] for k in z.files}


def _case_main(case: str, out: str, extra: list[str]) -> int:
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=float, default=None)
    ap.add_argument("--hours", type=int, default=48)
    a = ap.parse_args(extra)
    if case == "water_balance":
        res = water_balance_case(comm, a.days or 365.0)
    elif case == "grass_year":
        res = grass_year_case(comm, a.days or 365.0)
    elif case == "consistency":
        res = consistency_case(comm, a.hours)
    elif case == "decomposition":
        res = decomposition_case(comm, a.days or 10.0)
    else:
        raise SystemExit(f"unknown case {case!r}")
    if comm.rank == 0:
        np.savez(out, **{k: np.asarray(v) for k, v in res.items()})
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the checks; print a table of figure / bound / pass; write JSON with ``--json``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    ap = argparse.ArgumentParser(prog="pdafpy verify coupled", description=__doc__.split("\n")[0])
    ap.add_argument("--json", metavar="FILE", help="write the table as JSON to FILE")
    ap.add_argument("--quick", action="store_true",
                    help="30-day water balance and 2-day decomposition run")
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args, extra = ap.parse_known_args(argv)
    if args.case:
        return _case_main(args.case, args.out, extra)
    if extra:
        ap.error(f"unrecognised arguments: {extra}")
    rows: list[dict[str, Any]] = []

    def row(figure, value, bound, ok, **info):
        rows.append({"figure": figure, "value": float(value), "bound": bound, "pass": bool(ok),
                     **{k: float(v) for k, v in info.items()}})

    fao = fao56_cases()
    row("FAO-56 daily ET0 Brussels [mm/d] (published 3.9)", fao["daily_mm"], "|x-3.9|<=0.1",
        abs(fao["daily_mm"] - 3.9) <= 0.1)
    row("FAO-56 hourly ET0 N'Diaye 14-15h [mm/h] (published 0.63)", fao["hourly_mm"],
        "|x-0.63|<=0.02", abs(fao["hourly_mm"] - 0.63) <= 0.02)
    wl = wilting_case()
    row("uptake from layers at/below wilting [kg m-2 s-1]", wl["max_uptake_dry_layers"], "== 0",
        wl["max_uptake_dry_layers"] == 0.0 and wl["uptake_wet_layers"] > 0)
    sn = snow_case()
    row("SWE after 15 warm days [mm] (peak of cold spell in info)", sn["swe_end_mm"],
        "== 0, peak > 50", sn["swe_end_mm"] == 0.0 and sn["swe_peak_mm"] > 50,
        swe_peak_mm=sn["swe_peak_mm"])
    days = "30" if args.quick else "365"
    try:
        wb = _run_case("water_balance", 2, ["--days", days])
        row(f"water balance {days} d 16x16x20, |P-ET-R-D-dS|/P", wb["relative_residual"],
            "<= 1e-6", wb["relative_residual"] <= 1e-6,
            precipitation_mm=wb["precipitation_mm"], et_mm=wb["et_mm"],
            runoff_mm=wb["runoff_mm"], drainage_mm=wb["drainage_mm"],
            storage_change_mm=wb["storage_change_mm"])
    except RuntimeError as exc:
        log.error("%s", exc)
        row("water balance 16x16x20 (failed to run)", np.nan, "<= 1e-6", False)
    try:
        gy = _run_case("grass_year", 1, [])
        row("LAI summer / winter, grassland", gy["lai_summer"] / gy["lai_winter"], "> 1",
            gy["lai_summer"] > gy["lai_winter"], lai_summer=gy["lai_summer"],
            lai_winter=gy["lai_winter"])
        row("annual ET / P, grassland", gy["et_over_p"], "in [0.3, 0.8]",
            0.3 <= gy["et_over_p"] <= 0.8, precipitation_mm=gy["precipitation_mm"],
            swe_max_mm=gy["swe_max_mm"])
    except RuntimeError as exc:
        log.error("%s", exc)
        row("grassland year (failed to run)", np.nan, "", False)
    try:
        cs = _run_case("consistency", 2, ["--hours", "48"])
        row("coupled(prescribed) vs standalone Richards, max rel diff", cs["max_rel_diff"],
            "<= 1e-12", cs["max_rel_diff"] <= 1e-12)
    except RuntimeError as exc:
        log.error("%s", exc)
        row("coupling consistency (failed to run)", np.nan, "<= 1e-12", False)
    ddays = "2" if args.quick else "10"
    try:
        ref = _run_case("decomposition", 1, ["--days", ddays])
        for n in (2, 4):
            other = _run_case("decomposition", n, ["--days", ddays])
            d = compare_fields(ref, other)
            row(f"decomposition {ddays} d: 1 vs {n} ranks, max rel diff", d, "<= 1e-8",
                d <= 1e-8)
    except RuntimeError as exc:
        log.error("%s", exc)
        row("decomposition invariance (failed to run)", np.nan, "<= 1e-8", False)
    width = max(len(r["figure"]) for r in rows)
    print(f"{'figure':<{width}}  {'value':>12}  {'bound':<16} pass")
    for r in rows:
        print(f"{r['figure']:<{width}}  {r['value']:>12.4g}  {r['bound']:<16} "
              f"{'yes' if r['pass'] else 'NO'}")
    ok = all(r["pass"] for r in rows)
    if args.json:
        from pdafpy.atomic import write_json
        write_json(args.json, {"suite": "coupled", "quick": args.quick, "pass": ok, "rows": rows})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""Figures of a land twin experiment's outputs: ``pdafpy report OUTDIR``.

Reads what ``pdafpy run`` wrote to ``OUTDIR`` (``assimilation.nc``, ``open_loop.nc``, ``truth.nc``
from :class:`pdafpy.output.EnsembleWriter`, and ``summary.json``) and writes PNG figures:

``soil_moisture_cells.png``
    Surface (0-5 cm) water content at a few cells: truth, open-loop mean, assimilation mean with a
    +-1 spread band. Forecast and analysis records are drawn in time order, so each analysis is
    a vertical step (the saw-tooth of a cycled assimilation).
``rmse.png``
    RMSE of the ensemble mean against the truth over all cells, per record: surface and root-zone
    (0-1 m) water content [m3 m-3] and water-table depth [m], open loop and assimilation.
``increments.png``
    Maps of the mean analysis increment (analysis minus forecast record of ``assimilation.nc``) of
    surface water content at the last analysis and averaged over all analyses.
``spread.png``
    Maps of the assimilation's ensemble spread of surface water content in the forecast and the
    analysis of the last analysis time.
``summary.png``
    The skill table of ``summary.json`` (ubRMSE of the open loop, the forecasts before each
    analysis and the analyses, both reductions, spread/RMSE) and its timing table.

Layer averages are weighted by the thickness of each layer inside the depth range, from the layer
bounds ``z_bnds`` in the files. The files hold the spread of each layer, not of layer averages: the
band is the thickness-weighted mean of the layer spreads, exact when the layers vary together
across the members, an upper bound otherwise.

Every figure is written under a temporary name and renamed when complete
(:func:`pdafpy.atomic.atomic_path`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pdafpy.atomic import atomic_path
from pdafpy.errors import ConfigError, InputFileError
from pdafpy.segments import open_output

__all__ = ["RunRecords", "SummaryTables", "read_run", "read_summary", "default_cells", "parse_cells",
           "layer_weights", "write_report", "FIGURES"]

log = logging.getLogger(__name__)

SURFACE_DEPTH_M = 0.05
ROOT_ZONE_DEPTH_M = 1.0
RUNS = ("assimilation", "open_loop", "truth")
FIGURES = ("soil_moisture_cells.png", "rmse.png", "increments.png", "spread.png", "summary.png")
_VARIABLES = ("time", "kind", "x", "y", "z_bnds", "water_content_mean", "water_content_spread",
              "water_table_depth_mean")
_WHAT = "a NetCDF file written by `pdafpy run` (pdafpy.output.EnsembleWriter)"


@dataclass
class RunRecords:
    """The records of one output file that the figures need.

    Attributes
    ----------
    path : Path
    time_days : (T,) ndarray
        Days since the reference time ``reference``.
    kind : (T,) ndarray of int
        0 forecast record, 1 analysis record.
    x, y : (nx,), (ny,) ndarray
        Column and row coordinates [m].
    bounds : (nz + 1,) ndarray
        Depths of the layer interfaces [m], top down.
    theta_mean, theta_spread : (T, nz, ny, nx) ndarray
        Ensemble mean and spread of water content [m3 m-3].
    wtd_mean : (T, ny, nx) ndarray
        Ensemble mean of the water-table depth [m].
    reference : str
        ``time = 0`` as written in the file's time units.
    """

    path: Path
    time_days: np.ndarray
    kind: np.ndarray
    x: np.ndarray
    y: np.ndarray
    bounds: np.ndarray
    theta_mean: np.ndarray
    theta_spread: np.ndarray
    wtd_mean: np.ndarray
    reference: str

    def layer_mean(self, depth_m: float, spread: bool = False) -> np.ndarray:
        """Thickness-weighted water content over ``[0, depth_m]`` per record and cell ``(T, ny, nx)``
        [m3 m-3] (of the layer spreads with ``spread``)."""
        field = self.theta_spread if spread else self.theta_mean
        return np.einsum("tzyx,z->tyx", field, layer_weights(self.bounds, depth_m, self.path))


def layer_weights(bounds: np.ndarray, depth_m: float, path: Path | str = "") -> np.ndarray:
    """Weights ``(nz,)`` summing to 1: each layer's thickness inside ``[0, depth_m]`` [m].

    Raises
    ------
    InputFileError
        When no layer lies within ``depth_m`` (naming ``path``).
    """
    top, bottom = bounds[:-1], bounds[1:]
    inside = np.clip(np.minimum(bottom, depth_m) - top, 0.0, None)
    if not inside.sum() > 0:
        raise InputFileError(f"{path}: no soil layer within 0-{depth_m} m (z_bnds {bounds[:2]} "
                             "...); expected layers from the surface down")
    return inside / inside.sum()


def read_run(path: Path) -> RunRecords:
    """Read one output of ``pdafpy run`` (its segments, :mod:`pdafpy.segments`, as one).

    Raises
    ------
    InputFileError
        Naming ``path``: missing, not NetCDF, lacking the variables of a twin output, no records.
    """
    try:
        ds = open_output(path)
    except InputFileError as exc:
        raise InputFileError(f"{exc}; expected {_WHAT}") from None
    with ds:
        ds.set_auto_mask(False)
        missing = [v for v in _VARIABLES if v not in ds.variables]
        if missing:
            raise InputFileError(f"{path}: not a pdafpy twin output: variables {missing} missing; "
                                 f"expected {_WHAT} with {list(_VARIABLES)}")
        if len(ds.dimensions["time"]) == 0:
            raise InputFileError(f"{path}: no records; expected forecast and analysis records")
        units = str(getattr(ds["time"], "units", "seconds since start"))
        bnds = np.asarray(ds["z_bnds"][:], dtype=float)
        return RunRecords(
            path=path, time_days=np.asarray(ds["time"][:], dtype=float) / 86400.0,
            kind=np.asarray(ds["kind"][:], dtype=int), x=np.asarray(ds["x"][:], dtype=float),
            y=np.asarray(ds["y"][:], dtype=float),
            bounds=np.concatenate([bnds[:, 0], bnds[-1:, 1]]),
            theta_mean=np.asarray(ds["water_content_mean"][:], dtype=float),
            theta_spread=np.asarray(ds["water_content_spread"][:], dtype=float),
            wtd_mean=np.asarray(ds["water_table_depth_mean"][:], dtype=float),
            reference=units.split("since", 1)[-1].strip())


@dataclass
class SummaryTables:
    """What the summary page shows, from ``summary.json``.

    Attributes
    ----------
    facts : str
        One line: filter, members, days, ranks, grid, observations used and rejected.
    skill : list of list of str
        Per variable: name, ubRMSE of the open loop, of the forecasts before each analysis and of
        the analyses, the two reductions against the open loop, spread/RMSE.
    timing : list of list of str
        Per phase: name, seconds (slowest rank); the wall time last.
    """

    facts: str
    skill: list[list[str]]
    timing: list[list[str]]


def read_summary(path: Path) -> SummaryTables:
    """Read ``summary.json`` into the summary page's tables.

    Raises
    ------
    InputFileError
        Naming ``path``: missing, not JSON, or a key of ``pdafpy run``'s summary missing or
        malformed.
    """
    if not path.is_file():
        raise InputFileError(f"{path}: no such file; expected the summary.json of `pdafpy run`")
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: not JSON ({exc}); expected the summary.json of "
                             "`pdafpy run`") from None
    try:
        skill = [[name, f"{v['open_loop']['ubrmse']:.4f}",
                  f"{v['assimilation_forecast']['ubrmse']:.4f}",
                  f"{v['assimilation']['ubrmse']:.4f}",
                  f"{100 * v['forecast_ubrmse_reduction']:.1f} %",
                  f"{100 * v['ubrmse_reduction']:.1f} %",
                  f"{v['spread_over_rmse']:.2f}" if v.get("spread_over_rmse") else "-"]
                 for name, v in summary["variables"].items()]
        timing = [[k, f"{v:.2f}"] for k, v in summary["seconds"].items()]
        timing.append(["wall", f"{summary['wall_s']:.2f}"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise InputFileError(f"{path}: not a pdafpy run summary ({type(exc).__name__}: {exc}); "
                             "expected 'variables' with ubRMSE of 'open_loop', "
                             "'assimilation_forecast' and 'assimilation', "
                             "'forecast_ubrmse_reduction' and 'ubrmse_reduction' per variable, "
                             "'seconds' per phase and 'wall_s'") from None
    facts = [f"{k} {summary[k]}" for k in ("filter", "members", "days", "ranks", "grid")
             if k in summary]
    if "observations_used" in summary:
        facts.append(f"observations used {summary['observations_used']}, rejected "
                     f"{summary.get('observations_rejected', 0)}")
    return SummaryTables(";  ".join(facts), skill, timing)


def default_cells(ny: int, nx: int, count: int = 3) -> list[tuple[int, int]]:
    """``count`` cells ``(row, col)`` evenly spaced along the grid's diagonal, inside it
    (fewer on grids with fewer distinct cells)."""
    rows = np.rint(np.linspace(0, ny - 1, count + 2)[1:-1]).astype(int)
    cols = np.rint(np.linspace(0, nx - 1, count + 2)[1:-1]).astype(int)
    return list(dict.fromkeys(zip(rows.tolist(), cols.tolist())))


def parse_cells(items: Sequence[str], ny: int, nx: int) -> list[tuple[int, int]]:
    """Cells given as ``"ROW,COL"`` (0-based, row along y, column along x).

    Raises
    ------
    ConfigError
        For an item that is not two integers inside the ``ny`` x ``nx`` grid.
    """
    cells = []
    for item in items:
        try:
            row, col = (int(v) for v in item.split(","))
        except ValueError:
            row = col = -1
        if not (0 <= row < ny and 0 <= col < nx):
            raise ConfigError(f"--cells {item!r}: expected ROW,COL with 0 <= ROW < {ny} and "
                              f"0 <= COL < {nx}")
        cells.append((row, col))
    return cells


def _check_same_records(runs: dict[str, RunRecords]) -> None:
    ref = runs["truth"]
    for r in runs.values():
        same = (r.theta_mean.shape == ref.theta_mean.shape and np.array_equal(r.kind, ref.kind)
                and np.allclose(r.time_days, ref.time_days))
        if not same:
            raise InputFileError(f"{r.path}: records (time, kind, shape) differ from {ref.path}; "
                                 "expected the three files of one run")


def _analysis_pairs(run: RunRecords) -> np.ndarray:
    """Indices of analysis records directly preceded by the forecast record of the same time."""
    a = np.flatnonzero(run.kind == 1)
    a = a[a > 0]
    a = a[(run.kind[a - 1] == 0) & np.isclose(run.time_days[a - 1], run.time_days[a])]
    if a.size == 0:
        raise InputFileError(f"{run.path}: no forecast/analysis record pairs; expected a forecast "
                             "and an analysis record per analysis time")
    return a


def _save(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    log.info("wrote %s", path)
    return path


def _edges(c: np.ndarray) -> np.ndarray:
    """Cell edges from centres [km] (uniform half-spacing at the ends)."""
    if c.size == 1:
        return np.array([c[0] - 0.5, c[0] + 0.5]) / 1000.0
    mid = 0.5 * (c[1:] + c[:-1])
    return np.concatenate([[2 * c[0] - mid[0]], mid, [2 * c[-1] - mid[-1]]]) / 1000.0


def _cells_figure(runs: dict[str, RunRecords], cells: list[tuple[int, int]], path: Path) -> Path:
    from matplotlib.figure import Figure

    da, ol, truth = runs["assimilation"], runs["open_loop"], runs["truth"]
    t = da.time_days
    mean, spread = da.layer_mean(SURFACE_DEPTH_M), da.layer_mean(SURFACE_DEPTH_M, spread=True)
    ol_mean, tr = ol.layer_mean(SURFACE_DEPTH_M), truth.layer_mean(SURFACE_DEPTH_M)
    fig = Figure(figsize=(8, 2.4 * len(cells) + 0.6), layout="constrained")
    axes = fig.subplots(len(cells), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (i, j) in zip(axes, cells):
        ax.fill_between(t, mean[:, i, j] - spread[:, i, j], mean[:, i, j] + spread[:, i, j],
                        color="tab:blue", alpha=0.25, lw=0, label="assimilation +-1 spread")
        ax.plot(t, mean[:, i, j], color="tab:blue", lw=1.2, label="assimilation mean")
        ax.plot(t, ol_mean[:, i, j], color="tab:orange", lw=1.2, label="open-loop mean")
        ax.plot(t, tr[:, i, j], color="k", lw=1.4, ls="--", label="truth")
        ax.set_ylabel("m3 m-3")
        ax.set_title(f"surface 0-{100 * SURFACE_DEPTH_M:.0f} cm water content, cell row {i}, "
                     f"col {j} (x {da.x[j] / 1000:.1f} km, y {da.y[i] / 1000:.1f} km)",
                     fontsize=9)
    axes[0].legend(fontsize=8, ncol=2)
    axes[-1].set_xlabel(f"days since {da.reference}")
    return _save(fig, path)


def _rmse_figure(runs: dict[str, RunRecords], path: Path) -> Path:
    from matplotlib.figure import Figure

    truth = runs["truth"]
    t = truth.time_days
    panels = (("surface 0-5 cm water content", "m3 m-3",
               lambda r: r.layer_mean(SURFACE_DEPTH_M)),
              ("root zone 0-1 m water content", "m3 m-3",
               lambda r: r.layer_mean(ROOT_ZONE_DEPTH_M)),
              ("water-table depth", "m", lambda r: r.wtd_mean))
    fig = Figure(figsize=(8, 7.5), layout="constrained")
    axes = fig.subplots(3, 1, sharex=True)
    for ax, (title, units, value) in zip(axes, panels):
        ref = value(truth)
        for name, color in (("open_loop", "tab:orange"), ("assimilation", "tab:blue")):
            err = np.sqrt(np.nanmean((value(runs[name]) - ref) ** 2, axis=(1, 2)))
            ax.plot(t, err, color=color, lw=1.2, label=name.replace("_", " "))
        ax.set_title(f"RMSE against the truth: {title}", fontsize=9)
        ax.set_ylabel(units)
        ax.set_ylim(bottom=0.0)
    axes[0].legend(fontsize=8)
    axes[-1].set_xlabel(f"days since {truth.reference}")
    return _save(fig, path)


def _map(fig: Any, ax: Any, run: RunRecords, values: np.ndarray, title: str, cmap: str,
         vmin: float, vmax: float) -> None:
    mesh = ax.pcolormesh(_edges(run.x), _edges(run.y), values, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x [km]")
    ax.set_ylabel("y [km]")
    fig.colorbar(mesh, ax=ax, label="m3 m-3", shrink=0.8)


def _increments_figure(da: RunRecords, path: Path) -> Path:
    from matplotlib.figure import Figure

    pairs = _analysis_pairs(da)
    surface = da.layer_mean(SURFACE_DEPTH_M)
    inc = surface[pairs] - surface[pairs - 1]
    last, mean = inc[-1], inc.mean(axis=0)
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, values, title in ((axes[0], last, f"last analysis (day {da.time_days[pairs[-1]]:g})"),
                              (axes[1], mean, f"mean over {pairs.size} analyses")):
        lim = max(float(np.nanmax(np.abs(values))), 1e-12)
        _map(fig, ax, da, values, f"surface water content increment, {title}", "RdBu", -lim, lim)
    return _save(fig, path)


def _spread_figure(da: RunRecords, path: Path) -> Path:
    from matplotlib.figure import Figure

    a = _analysis_pairs(da)[-1]
    spread = da.layer_mean(SURFACE_DEPTH_M, spread=True)
    fig = Figure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    vmax = max(float(np.nanmax(spread[[a - 1, a]])), 1e-12)
    for ax, k, label in ((axes[0], a - 1, "forecast"), (axes[1], a, "analysis")):
        _map(fig, ax, da, spread[k], f"surface water content spread, {label}, day "
             f"{da.time_days[k]:g}", "viridis", 0.0, vmax)
    return _save(fig, path)


def _summary_figure(summary: SummaryTables, path: Path) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8.27, 8.0))
    fig.text(0.05, 0.96, "pdafpy twin experiment: summary", fontsize=14, weight="bold")
    fig.text(0.05, 0.92, summary.facts, fontsize=9)
    ax = fig.add_axes([0.05, 0.52, 0.9, 0.36])
    ax.axis("off")
    ax.set_title("ubRMSE against the truth (m3 m-3 for water content, m for wells) and its "
                 "reduction against the open loop", fontsize=10, loc="left")
    if summary.skill:
        table = ax.table(cellText=summary.skill, loc="upper center",
                         colLabels=["variable", "open loop", "forecast", "analysis",
                                    "red. forecast", "red. analysis", "spread/RMSE"])
        table.auto_set_font_size(False)
        table.set_fontsize(9)
        table.scale(1.0, 1.4)
    ax = fig.add_axes([0.05, 0.05, 0.5, 0.4])
    ax.axis("off")
    ax.set_title("wall time per phase [s], slowest rank", fontsize=10, loc="left")
    table = ax.table(cellText=summary.timing, colLabels=["phase", "seconds"], loc="upper center")
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1.0, 1.3)
    return _save(fig, path)


def write_report(outdir: Path | str, figdir: Path | str | None = None,
                 cells: Sequence[str] | None = None) -> list[Path]:
    """Write the figures of the run in ``outdir``; returns the paths written.

    Parameters
    ----------
    outdir : Path
        Output folder of ``pdafpy run``.
    figdir : Path, optional
        Folder for the PNG files (default ``outdir/report``; created).
    cells : sequence of str, optional
        Cells of the time-series figure as ``"ROW,COL"`` (default: :func:`default_cells`).

    Raises
    ------
    InputFileError
        For a missing folder or file, or a file that is not a pdafpy output, naming it; for a
        figure folder that cannot be made (a file of that name, a read-only parent).
    ConfigError
        For a bad ``cells`` item.
    """
    outdir = Path(outdir)
    if not outdir.is_dir():
        raise InputFileError(f"{outdir}: no such folder; expected the output folder of "
                             f"`pdafpy run` holding {', '.join(r + '.nc' for r in RUNS)} and "
                             "summary.json")
    runs = {name: read_run(outdir / f"{name}.nc") for name in RUNS}
    _check_same_records(runs)
    summary = read_summary(outdir / "summary.json")
    da = runs["assimilation"]
    ny, nx = da.y.size, da.x.size
    chosen = parse_cells(cells, ny, nx) if cells else default_cells(ny, nx)
    figdir = Path(figdir) if figdir is not None else outdir / "report"
    try:
        figdir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:                          # a file of that name, a read-only folder
        raise InputFileError(f"{figdir}: cannot make the folder for the figures "
                             f"({exc.strerror or exc}); expected a folder or a new path") from None
    names = dict(zip(("cells", "rmse", "increments", "spread", "summary"), FIGURES))
    return [_cells_figure(runs, chosen, figdir / names["cells"]),
            _rmse_figure(runs, figdir / names["rmse"]),
            _increments_figure(da, figdir / names["increments"]),
            _spread_figure(da, figdir / names["spread"]),
            _summary_figure(summary, figdir / names["summary"])]

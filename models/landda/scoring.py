"""Skill of the land twin: column diagnostics of every run against the truth, per analysis.

Filter rank 0 accumulates, per cell or well, the skill (:class:`pdafpy.diagnostics.RunningSkill`)
of the thickness-weighted surface (0-5 cm) and root-zone (0-1 m) water content of the
assimilation's forecast and analysis and of the open loop against the truth, the assimilation's
forecast spread, and the same for the water-table depth at the assimilated and the withheld
wells and for the one-level fields per column (:func:`column_field_maps`: water-table depth,
leaf area index, and the mean evapotranspiration and transpiration of the forecast window
ending at the analysis); :mod:`models.landda.summary` turns them into the scores of
``summary.json``. Memory and checkpoints hold a few arrays per cell, whatever the run's length.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from pdafpy.diagnostics import RunningSkill
from pdafpy.output import gather_blocks

__all__ = ["Skill", "SCORED_RUNS", "column_means", "theta_violations", "column_field_maps"]

#: The runs scored against the truth: the assimilation's forecasts before each analysis, its
#: analyses and the open loop.
SCORED_RUNS = ("da_f", "da", "ol")


class Skill:
    """Skill of each run against the truth per diagnostic (``surface``, ``root_zone``,
    ``wells_assimilated``, ``wells_withheld``), on filter rank 0, for the summary.

    Attributes
    ----------
    runs : dict
        ``"LABEL/RUN"`` (runs ``da_f``, ``da``, ``ol``) -> RunningSkill.
    spread_sum : dict
        ``"LABEL/RUN"`` -> the sum over analyses of the ensemble spread (standard deviation)
        per cell, and ``spread_count`` their number.
    """

    def __init__(self) -> None:
        self.runs: dict[str, RunningSkill] = {}
        self.spread_sum: dict[str, np.ndarray] = {}
        self.spread_count: dict[str, int] = {}

    def add(self, label: str, estimates: Mapping[str, np.ndarray], truth: np.ndarray,
            spreads: Mapping[str, np.ndarray] | None = None) -> None:
        """Add one analysis: each run's diagnostic (``(ny, nx)`` map or ``(wells,)``), the
        truth's of the same shape, and optionally each run's ensemble spread (run -> the
        same shape; none for a one-member run)."""
        for run, value in estimates.items():
            self.runs.setdefault(f"{label}/{run}", RunningSkill()).add(value, truth)
        for run, spread in (spreads or {}).items():
            key = f"{label}/{run}"
            self.spread_sum[key] = self.spread_sum.get(key, 0.0) + spread
            self.spread_count[key] = self.spread_count.get(key, 0) + 1

    def get(self, label: str, run: str) -> RunningSkill | None:
        """The skill of ``run`` for diagnostic ``label`` (None before any analysis)."""
        return self.runs.get(f"{label}/{run}")

    def mean_spread(self, label: str, run: str) -> np.ndarray | None:
        """The ensemble spread of ``run`` averaged over the analyses, per cell (None without
        any)."""
        key = f"{label}/{run}"
        if key not in self.spread_sum:
            return None
        return self.spread_sum[key] / self.spread_count[key]

    def state(self) -> dict:
        """Its arrays, for a checkpoint (constant size)."""
        return {"runs": {key.replace("/", "|"): skill.state() for key, skill in self.runs.items()},
                "spread": {key.replace("/", "|"): {"sum": np.asarray(total), "count": np.int64(
                    self.spread_count[key])} for key, total in self.spread_sum.items()}}

    def restore(self, saved: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state` (a checkpoint of the forecast's spread alone, keyed by the
        diagnostic, is read as the forecast's)."""
        self.runs = {key.replace("|", "/"): RunningSkill.restored(value)
                     for key, value in saved.get("runs", {}).items()}
        for key, value in saved.get("spread", {}).items():
            key = key.replace("|", "/") if "|" in key else f"{key}/da_f"
            self.spread_sum[key] = np.asarray(value["sum"], dtype=float)
            self.spread_count[key] = int(value["count"])


def column_means(layout: Any, ens: np.ndarray, weights: np.ndarray,
                 layers: np.ndarray) -> np.ndarray:
    """Thickness-weighted water content over ``layers`` per member and column ``(N, ny, nx)``."""
    theta = layout.view(ens, "water_content")[:, layers]
    return np.einsum("klij,l->kij", theta, weights / weights.sum())


def column_field_maps(layout: Any, comm: Any, boxes: Any, grid: Any,
                      runs: Mapping[str, np.ndarray], name: str,
                      spread_of: tuple[str, ...] = ()) -> dict[str, np.ndarray] | None:
    """The ensemble mean of the one-level field ``name`` of each run, and the ensemble spread
    (standard deviation) of the runs ``spread_of`` (keys ``"RUN_spread"``), as ``(ny, nx)``
    maps on filter rank 0 (collective; None elsewhere).

    Parameters
    ----------
    layout : StateLayout
        The filter rank's layout.
    runs : mapping
        Run label -> its members on this filter rank ``(N, layout.size)``.
    spread_of : tuple of str
        Runs of ``runs`` with more than one member whose spread is wanted.
    """
    local = {run: layout.view(part, name)[:, 0].mean(axis=0) for run, part in runs.items()}
    for run in spread_of:
        local[f"{run}_spread"] = layout.view(runs[run], name)[:, 0].std(axis=0, ddof=1)
    maps = {run: gather_blocks(comm, boxes, value, grid.ny, grid.nx)
            for run, value in local.items()}
    return None if comm.Get_rank() else maps


def theta_violations(layout: Any, ens: np.ndarray,
                     bounds: tuple[np.ndarray, np.ndarray]) -> int:
    """Water-content values outside ``[theta_r, theta_s]`` (or not finite) on this rank."""
    theta = layout.view(ens, "water_content")
    low, high = bounds
    tol = 1e-9
    bad = ~np.isfinite(theta) | (theta < low - tol) | (theta > high + tol)
    return int(np.count_nonzero(bad))


def layers_below(interfaces: np.ndarray, depth_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Layers whose centre lies below ``depth_m`` [m] and their thicknesses (the weights)."""
    centres = 0.5 * (interfaces[:-1] + interfaces[1:])
    layers = np.flatnonzero(centres > depth_m)
    return layers, np.diff(interfaces)[layers]

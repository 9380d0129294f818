"""Skill of the land twin: column diagnostics of every run against the truth, per analysis.

Filter rank 0 keeps time series (one ``(ny, nx)`` map, or one value per well, per analysis) of
the thickness-weighted surface (0-5 cm) and root-zone (0-1 m) water content of the assimilation's
forecast and analysis, the open loop and the truth, the assimilation's forecast spread, and the
water-table depth at the assimilated and the withheld wells; :mod:`models.landda.summary` turns
them into the scores of ``summary.json``.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Mapping

import numpy as np

from pdafpy.checkpoint import flatten
from pdafpy.output import gather_blocks

__all__ = ["Skill", "column_means", "theta_violations"]


class Skill:
    """Time series of column diagnostics on filter rank 0, for the summary."""

    def __init__(self) -> None:
        self.series: dict[str, list[np.ndarray]] = defaultdict(list)

    def add(self, key: str, value: np.ndarray | None) -> None:
        if value is not None:
            self.series[key].append(value)

    def array(self, key: str) -> np.ndarray:
        return np.array(self.series[key])

    def add_columns(self, key: str, comm: Any, boxes: Any, local: np.ndarray, grid: Any) -> None:
        """Add the map assembled from every filter rank's block ``local`` (collective)."""
        self.add(key, gather_blocks(comm, boxes, local, grid.ny, grid.nx))

    def state(self) -> dict:
        """The series as one flat array and the shapes of its entries per key (checkpoints)."""
        keys = [k for k, v in self.series.items() if v]
        return {"values": {k: np.concatenate([np.ravel(a) for a in self.series[k]])
                           for k in keys},
                "shapes": {k: np.array([np.shape(a) for a in self.series[k]], dtype=np.int64)
                           for k in keys}} if keys else {}

    def restore(self, saved: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state`."""
        values, shapes = flatten(saved.get("values", {})), flatten(saved.get("shapes", {}))
        for key, flat in values.items():
            shape = shapes[key].reshape(len(shapes[key]), -1)
            ends = np.cumsum(np.prod(shape, axis=1))
            self.series[key] = [part.reshape(tuple(sh)) for part, sh in
                                zip(np.split(flat, ends[:-1]), shape)]


def column_means(layout: Any, ens: np.ndarray, weights: np.ndarray,
                 layers: np.ndarray) -> np.ndarray:
    """Thickness-weighted water content over ``layers`` per member and column ``(N, ny, nx)``."""
    theta = layout.view(ens, "water_content")[:, layers]
    return np.einsum("klij,l->kij", theta, weights / weights.sum())


def theta_violations(layout: Any, ens: np.ndarray,
                     bounds: tuple[np.ndarray, np.ndarray]) -> int:
    """Water-content values outside ``[theta_r, theta_s]`` (or not finite) on this rank."""
    theta = layout.view(ens, "water_content")
    low, high = bounds
    tol = 1e-9
    bad = ~np.isfinite(theta) | (theta < low - tol) | (theta > high + tol)
    return int(np.count_nonzero(bad))

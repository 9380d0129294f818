"""Water balance and derived diagnostics: storage change, boundary and source flows, water table.

The storage change of a step is the discrete accumulation term
``sum_i V_i (theta(h1_i) - theta(h0_i) + Ss_i S(h1_i) (h1_i - h0_i))`` [m3], and the boundary
flows are those of the residual at the new state, so the balance error of a step is exactly the
volume-weighted sum of the converged residual: it closes to solver tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .boundary import FACES, Atmospheric

if TYPE_CHECKING:                                           # pragma: no cover
    from .discretization import Discretization, Evaluation
    from .grid import RichardsGrid

__all__ = ["WaterBalance", "water_table_depth", "saturation"]

_ITEMS = ("storage",) + tuple(f"in_{f}" for f in FACES) + (
    "source", "runoff", "evaporation_deficit", "gross")


@dataclass
class WaterBalance:
    """Cumulative water balance of one model over all its ranks [m3].

    Attributes
    ----------
    totals : dict of str to float
        Cumulative ``storage`` change, inflow ``in_<face>`` through each face, ``source``,
        surface ``runoff`` (rain the soil did not take), unmet evaporation, and ``gross``
        (the sum over steps of the absolute boundary and source flows, the scale of the
        relative error).
    last : dict of str to float
        The same for the last step.
    """

    grid: "RichardsGrid"
    totals: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_ITEMS, 0.0))
    last: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_ITEMS, 0.0))
    steps: int = 0

    def record(self, dt: float, ev: "Evaluation", source: np.ndarray | None,
               disc: "Discretization") -> dict[str, float]:
        """Add one accepted step of length ``dt`` [s] (collective)."""
        from mpi4py import MPI

        g = self.grid
        local = np.zeros(len(_ITEMS))
        local[0] = float(np.sum(g.volume * ev.accumulation))
        for i, f in enumerate(FACES):
            if f in ev.boundary:
                local[1 + i] = dt * float(np.sum(ev.boundary[f]))
        if source is not None:
            local[7] = dt * float(np.sum(g.volume * source))
        top = disc.boundaries["top"]
        if isinstance(top, Atmospheric) and "top" in disc.faces:
            face = disc.faces["top"]
            parts = top.actual(face, ev.boundary["top"])
            local[8] = dt * float(np.sum(parts["runoff"] * face.area))
            local[9] = dt * float(np.sum(parts["evaporation_deficit"] * face.area))
        glob = np.empty_like(local)
        g.mpi_comm.Allreduce(local, glob, op=MPI.SUM)
        glob[10] = float(np.sum(np.abs(glob[1:8])))
        step = dict(zip(_ITEMS, glob.tolist()))
        for k, v in step.items():
            self.totals[k] += v
        self.last = step
        self.steps += 1
        return step

    @staticmethod
    def _inflow(d: dict[str, float]) -> float:
        return sum(d[f"in_{f}"] for f in FACES) + d["source"]

    @property
    def inflow(self) -> float:
        """Cumulative net inflow through the boundary and from sources [m3]."""
        return self._inflow(self.totals)

    @property
    def error(self) -> float:
        """Cumulative storage change minus net inflow [m3]."""
        return self.totals["storage"] - self.inflow

    @property
    def relative_error(self) -> float:
        """``|error|`` over the cumulative gross boundary and source flow."""
        gross = self.totals["gross"]
        return abs(self.error) / gross if gross > 0 else abs(self.error)

    @property
    def ratio(self) -> float:
        """Celia's mass-balance ratio: storage change over net inflow (1 when conserved)."""
        return self.totals["storage"] / self.inflow if self.inflow != 0 else np.nan

    def state(self) -> dict:
        """The cumulative counters (for checkpoints)."""
        return {"totals": dict(self.totals), "steps": self.steps}


def saturation(theta: np.ndarray, theta_s: np.ndarray) -> np.ndarray:
    """Saturation ``theta / theta_s`` [-] (ParFlow's convention), any shape."""
    return theta / theta_s


def water_table_depth(h: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """Depth of the water table [m] per column: where ``h`` crosses 0, linearly interpolated.

    The water table is the top of the saturated zone connected to the bottom: the crossing
    between the lowest unsaturated cell and the cell below it. A fully saturated column gives
    the depth where ``h`` extrapolates to 0 above the top cell (at most 0: ponding counts as 0);
    a column whose bottom cell is unsaturated gives NaN (the table lies below the domain).

    Parameters
    ----------
    h : (nz, ny, nx) float ndarray
        Pressure head [m], layers top-down.
    depth : (nz,) float ndarray
        Depth of the layer centres [m].

    Returns
    -------
    (ny, nx) float ndarray
    """
    nz = h.shape[0]
    unsat = h < 0
    any_unsat = unsat.any(axis=0)
    # index of the lowest unsaturated cell
    k = nz - 1 - np.argmax(unsat[::-1], axis=0)
    kb = np.minimum(k + 1, nz - 1)
    ha = np.take_along_axis(h, k[None], 0)[0]
    hb = np.take_along_axis(h, kb[None], 0)[0]
    za, zb = depth[k], depth[kb]
    with np.errstate(all="ignore"):
        d = za + (zb - za) * (0.0 - ha) / (hb - ha)
    d = np.where(k == nz - 1, np.nan, d)
    # fully saturated: extrapolate hydrostatically from the top cell
    d_sat = np.maximum(depth[0] - h[0], 0.0)
    return np.where(any_unsat, d, d_sat)

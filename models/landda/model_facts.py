"""What the land observation types and the stage-2 quality control may know of the model
before it runs: the layer interfaces, the soil's water-content bounds, bare ground, the
unperturbed forcing's precipitation."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .setup import soil_bounds

__all__ = ["model_facts", "precipitation"]


def precipitation(tables: Mapping[str, Any], grid: Any) -> Any:
    """``f(t) -> (ny, nx)``: the unperturbed forcing's precipitation [kg m-2 s-1] over the
    whole grid at time ``t`` [s] (the rain rule of the stage-2 QC)."""
    from pdafpy.decomposition import Box

    from models.forcing import forcing_from_config

    source = forcing_from_config(tables.get("forcing", {}), Box(0, grid.ny, 0, grid.nx),
                                 grid.ny, grid.nx)
    return lambda t: source.at(t)["precipitation"]


def model_facts(tables: Mapping[str, Any], interfaces: np.ndarray, grid: Any) -> dict:
    """What the land observation types may know of the model (``ObservationContext.model``):
    ``interfaces`` [m] ``(nz + 1,)``; ``theta_r``, ``theta_s`` [m3 m-3] broadcastable to
    ``(nz, ny, nx)``; ``bare_ground``, ``(ny, nx)`` bool, columns whose land cover has no
    leaves (maximum LAI 0)."""
    from pdafpy.decomposition import Box

    from models.land.parameters import column_parameters

    theta_r, theta_s = soil_bounds(tables.get("soil", {}), interfaces.size - 1,
                                   Box(0, grid.ny, 0, grid.nx))
    land = tables.get("land", {})
    cover = np.asarray(land.get("land_cover", "grass"), dtype=object)
    params = column_parameters(cover.tolist() if cover.ndim else cover.item(),
                               (grid.ny, grid.nx), land.get("parameters"))
    return {"interfaces": interfaces, "theta_r": theta_r, "theta_s": theta_s,
            "bare_ground": np.asarray(params.lai_max) <= 0.0}

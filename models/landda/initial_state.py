"""The initial state of each run of a land experiment: the model's fields perturbed by the run's
perturbation key (initial head, leaf biomass, then the parameters), so that the ensemble's
spread describes the open loop's error and the truth is a draw of its own."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from pdafpy.perturb import SpatialStructure, perturb_state

from .parameter_perturbations import perturb_parameters

__all__ = ["initial_member"]


def initial_member(model: Any, base: Mapping[str, np.ndarray], key: int, seed: int,
                   pert: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Initial fields of the run with perturbation key ``key``: perturbed head and leaf
    biomass, then the parameters (:func:`models.landda.parameter_perturbations.
    perturb_parameters`: texture, log10 Ks on the chosen layers, a parameters file).

    Parameters
    ----------
    model : LandDAModel
    base : mapping of str to (levels, box.ny, box.nx) ndarray
        The unperturbed fields on the model rank's block (``model.get_state()``).
    key : int
        The run's perturbation key (the truth's follows the members').
    seed : int
    pert : mapping
        The ``[perturbations]`` table.

    Returns
    -------
    dict of str to (levels, box.ny, box.nx) ndarray
    """
    g, b = model.grid, model.box
    box = (b.y0, b.y1, b.x0, b.x1)
    state = {k: v.copy() for k, v in base.items()}
    sd_head = np.asarray(pert.get("initial_head_sd_m", 0.0), dtype=float)
    if np.any(sd_head > 0):
        state["pressure_head"] = perturb_state(state["pressure_head"],
                                               np.broadcast_to(sd_head, (model.coupled.nz,)),
                                               seed, key, box, (g.ny, g.nx),
                                               spatial=SpatialStructure("uniform"))
    sd_leaf = float(pert.get("leaf_biomass_log_sd", 0.0))
    if sd_leaf > 0:
        log_leaf = np.log(np.maximum(state["leaf_biomass"], 1e-12))
        state["leaf_biomass"] = np.exp(perturb_state(log_leaf, np.array([sd_leaf]), seed, key,
                                                     box, (g.ny, g.nx),
                                                     spatial=SpatialStructure("uniform"),
                                                     purpose="leaf_biomass_perturbation"))
    perturb_parameters(model, state, key, seed, pert)
    return state

"""The land twin's initial parameters per member: ``[perturbations]`` keys on soil parameters
and the parameters file of an earlier run.

In order, on one member's fields (:func:`perturb_parameters`, called by
:func:`models.landda.twin.initial_member`; every draw keyed by the member's perturbation key,
so the truth, whose key follows the members', gets its own draw):

1. **texture** (``texture_sd_percent``, ``texture_correlation_length_m``,
   ``texture_variogram``): additive sand and clay offsets, one field for all layers
   (:func:`models.land.soil_perturbations.perturb_texture`; a ``"spherical"`` field of range
   ``a`` is LI's variogram), the texture then constrained
   (:func:`models.land.texture.project_texture`'s rule) and the hydraulic parameter fields
   of the state recomputed from it through the model's pedotransfer rule. Needs the texture in
   the state (``sand_percent``, ``clay_percent`` parameter fields, which
   :func:`models.landda.setup.model_parameter_fields` adds whenever a ``[soil]`` texture is
   perturbed): the state vector carries only the parameter fields, so a member's texture can
   differ only there. :meth:`models.coupled.CoupledModel.set_state` re-derives the soil from it;
2. **log10 Ks** (``log10_ks_sd``, ``ks_correlation_length_m``): a normal offset (log-normal
   Ks), on the layers of ``log10_ks_layers_m`` only;
3. **log10 Ks offset** (``log10_ks_offset_half_width`` ``h``): uniform on ``[-h, h]``, one value
   per member for the whole grid (LI's aquifer offset "range -0.5 to 0.5"), on the layers of
   ``log10_ks_layers_m`` only (the layer mask: layers whose centre lies in ``[top, bottom]``;
   the others keep no spread);
4. **parameters file** (``parameters_file``): member ``k`` (key ``k``) takes the file's member
   ``k``'s fields this run carries (:mod:`models.landda.parameter_files`); a key beyond the
   file's members (the truth) keeps its draw. A texture read without log10 Ks gives the
   member's hydraulic fields as in 1.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from pdafpy.errors import ConfigError
from pdafpy.perturb import SpatialStructure

from models.land.soil_perturbations import perturb_log10_ks, perturb_texture
from models.land.texture import TEXTURE_MAX, texture_soil

from .parameter_files import layer_mask, parameters_in, read_parameters

__all__ = ["perturb_parameters", "spatial_structure"]

_TEXTURE = ("sand_percent", "clay_percent")


def spatial_structure(grid: Any, length_m: float | None,
                      covariance: str = "exponential") -> SpatialStructure:
    """One value per member without ``length_m``, else a correlated field of the grid's
    spacing [m] (1 m along an axis of one column) with ``covariance``."""
    if not length_m:
        return SpatialStructure("uniform")
    dx = float(grid.x[1] - grid.x[0]) if grid.x.size > 1 else 1.0
    dy = float(grid.y[1] - grid.y[0]) if grid.y.size > 1 else 1.0
    return SpatialStructure("correlated", float(length_m), covariance=covariance, dx_m=dx,
                            dy_m=dy)


def _follow_texture(model: Any, state: dict[str, np.ndarray], keep: tuple[str, ...] = ()
                    ) -> None:
    """Set the state's hydraulic parameter fields (those not in ``keep``) from its texture."""
    soil = texture_soil(state["sand_percent"], state["clay_percent"],
                        model.coupled.pedotransfer)
    values = {"log10_ks": lambda: np.log10(soil["ks_h"]), "porosity": lambda: soil["theta_s"],
              "ln_alpha": lambda: np.log(soil["alpha"]), "vg_n": lambda: soil["n"]}
    for name, value in values.items():
        if name in state and name not in keep:
            state[name] = np.array(value())


def perturb_parameters(model: Any, state: dict[str, np.ndarray], key: int, seed: int,
                       pert: Mapping[str, Any]) -> None:
    """Perturb (or read) one member's parameter fields in ``state`` (in place; see the module
    notes).

    Parameters
    ----------
    model : LandDAModel
        The model (its grid, box, layer centres and pedotransfer rule).
    state : dict of str to (levels, box.ny, box.nx) ndarray
        The member's fields on the model rank's block, unperturbed parameters.
    key : int
        The member's perturbation key.
    seed : int
    pert : mapping
        The ``[perturbations]`` table.

    Raises
    ------
    ConfigError
        A texture perturbation without texture fields in the state.
    InputFileError
        A parameters file that cannot be read (see
        :func:`models.landda.parameter_files.read_parameters`).
    """
    g, b = model.grid, model.box
    box, shape = (b.y0, b.y1, b.x0, b.x1), (g.ny, g.nx)
    sd_tex = float(pert.get("texture_sd_percent", 0.0))
    if sd_tex > 0:
        if not all(f in state for f in _TEXTURE):
            raise ConfigError(f"perturbations.texture_sd_percent = {sd_tex:g}: the model carries "
                              "no texture fields (sand_percent, clay_percent) to perturb")
        spatial = spatial_structure(g, pert.get("texture_correlation_length_m"),
                                    pert.get("texture_variogram", "spherical"))
        state["sand_percent"], state["clay_percent"] = perturb_texture(
            state["sand_percent"], state["clay_percent"], seed, key, box, shape, sd_pct=sd_tex,
            spatial=spatial, max_sand_plus_clay_pct=TEXTURE_MAX)
        _follow_texture(model, state)
    mask = layer_mask(g.z, pert.get("log10_ks_layers_m") or ())
    sd_ks = float(pert.get("log10_ks_sd", 0.0))
    if sd_ks > 0:
        spatial = spatial_structure(g, pert.get("ks_correlation_length_m"))
        state["log10_ks"] = np.log10(perturb_log10_ks(10.0 ** state["log10_ks"], seed, key, box,
                                                      shape, sd_log10=sd_ks, spatial=spatial,
                                                      layer_mask=mask))
    half = float(pert.get("log10_ks_offset_half_width", 0.0))
    if half > 0:
        state["log10_ks"] = np.log10(perturb_log10_ks(
            10.0 ** state["log10_ks"], seed, key, box, shape, half_width_log10=half,
            layer_mask=mask, purpose="ks_offset_perturbation"))
    path = pert.get("parameters_file")
    if not path:
        return
    held, size = parameters_in(path)
    names = [f for f in held if f in state]
    if key >= size or not names:
        return                                   # the truth (or nothing carried) keeps its draw
    read = read_parameters(path, g, names, box=b, members=[key])
    for name in names:
        state[name] = read[name][0]
    if all(f in names for f in _TEXTURE):
        _follow_texture(model, state, keep=tuple(names))

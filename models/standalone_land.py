"""``model = "land"``: the land columns stand-alone, without lateral subsurface flow.

The same land columns, subsurface layers, tables, state layout, observation types and scores
as ``model = "coupled"`` (:class:`~models.coupled.CoupledModel`), but each column is a 1D
problem, as in a land surface model run on its own (CLM-only, Noah-MP, CoLM runs):

- no lateral subsurface flow: the Richards discretisation's lateral face transmissibilities
  are zero (:meth:`models.richards.discretization.Discretization.set_lateral_flow`); the
  horizontal conductivity stays in the soil, so ``log10_ks`` may be perturbed and estimated and
  the ``ks_v / ks_h`` ratio is kept. The model has no overland or lateral surface routing
  either: water the soil cannot take is runoff that leaves the column;
- the bottom drains freely (``boundary.bottom.type = "free_drainage"``, the default here; any
  other bottom is refused), and the lateral faces are no-flow (any other condition is refused).

Because the state layout is identical, a stand-alone run can be scored against a coupled
truth (``[verification] truth``, the ``truth.nc`` of a ``mode = "truth"`` coupled run).
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from pdafpy.errors import ConfigError

from .coupled import CoupledModel

__all__ = ["StandaloneLandModel", "STANDALONE_MODEL", "standalone_boundary",
           "check_standalone_boundary", "BOTTOM"]

#: The registered name of the stand-alone land model (``model = "land"``).
STANDALONE_MODEL = "land"
#: The only bottom boundary of the stand-alone land model.
BOTTOM = "free_drainage"
_LATERAL = ("west", "east", "south", "north")
_NO_FLOW = ("noflow", "no_flow")


def check_standalone_boundary(boundary: Mapping[str, Any], path: str = "boundary") -> None:
    """Refuse a ``[boundary]`` table the stand-alone land model cannot honour: a bottom other
    than free drainage, a lateral face other than no-flow.

    Parameters
    ----------
    boundary : mapping
        Face name -> ``{type = ..., ...}`` (faces not given take the model's defaults).

    Raises
    ------
    ConfigError
        One line naming ``boundary.<face>.type`` and why.
    """
    bottom = dict(boundary.get("bottom") or {}).get("type", BOTTOM)
    if bottom != BOTTOM:
        raise ConfigError(f"{path}.bottom.type = {bottom!r}: the stand-alone land model "
                          f"(model = {STANDALONE_MODEL!r}) drains its columns freely at the "
                          f"bottom; expected {BOTTOM!r} (or use model = 'coupled')")
    for face in _LATERAL:
        kind = dict(boundary.get(face) or {}).get("type", "noflow")
        if kind not in _NO_FLOW:
            raise ConfigError(f"{path}.{face}.type = {kind!r}: the stand-alone land model "
                              f"(model = {STANDALONE_MODEL!r}) has no lateral flow; expected "
                              "'noflow' (or use model = 'coupled')")


def standalone_boundary(boundary: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ``[boundary]`` table checked (:func:`check_standalone_boundary`) with the
    free-drainage bottom filled in where none is given."""
    out = copy.deepcopy(dict(boundary or {}))
    check_standalone_boundary(out)
    out.setdefault("bottom", {"type": BOTTOM})
    return out


class StandaloneLandModel(CoupledModel):
    """The land columns without lateral flow (``model = "land"``; see the module notes)."""

    @classmethod
    def create(cls, comm: Any, config: Mapping[str, Any]) -> "StandaloneLandModel":
        """Build as :meth:`CoupledModel.create <models.coupled.CoupledModel.create>` with
        ``lateral_flow = false``.

        Raises
        ------
        ConfigError
            For a bottom other than free drainage or a lateral face other than no-flow, and
            for what :meth:`CoupledModel.create` refuses.
        """
        if config.get("lateral_flow", False):
            raise ConfigError(f"lateral_flow = true: model {STANDALONE_MODEL!r} has none; use "
                              "model = 'coupled'")
        return super().create(comm, dict(config, lateral_flow=False))

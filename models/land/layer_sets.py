"""Named soil layerings for ``[grid] layers``: the layer thicknesses of land models' soil columns.

Each set is a tuple of layer thicknesses [m], top-down, which the subsurface grid takes as its
``dz_m``; the grid places each cell's node at the centre of its layer (the interfaces, not the
node depths, are those of the source model).

- ``"zhao2025"``: the 30 layers to 30 m of the ParFlow setup of Zhao et al. (2025): 10 layers
  to 3 m, then 20 x 1.35 m (:data:`models.richards.grid.ZHAO2025_DZ`).
- ``"noah4"``: Noah / Noah-MP's four layers, 0.1, 0.3, 0.6 and 1.0 m, 2 m deep (Chen and
  Dudhia 2001; Niu et al. 2011).
- ``"clm10"``: the ten soil layers of CLM 3.5 / CoLM 2014, 3.8019 m deep: node depths
  ``z_i = f_s (exp(0.5 (i - 0.5)) - 1)``, ``f_s = 0.025`` m, interfaces halfway between nodes
  (CLM's interface rule ``z_h,i = 0.5 (z_i + z_i+1)``, with the eleventh node of the same
  formula below the tenth layer, as in CLM 4's ground column and CoLM 2014), hence thicknesses
  0.0175, 0.0276, 0.0455, 0.0750, 0.1236, 0.2038, 0.3360, 0.5539, 0.9133 and 1.5058 m (Oleson
  et al. 2004, CLM 3.0 technical note, eqs. 6.5-6.7; Dai et al. 2003; the layering of Zhao et
  al. 2025, Table 2).

References
----------
Chen, F., Dudhia, J. (2001): Coupling an advanced land surface-hydrology model with the Penn
State-NCAR MM5 modeling system. Part I. Mon. Wea. Rev. 129, 569-585.
Niu, G.-Y. et al. (2011): The community Noah land surface model with multiparameterization
options (Noah-MP). J. Geophys. Res. 116, D12109.
Oleson, K. W. et al. (2004): Technical description of the Community Land Model (CLM). NCAR/TN-
461+STR.
Dai, Y. et al. (2003): The Common Land Model. Bull. Amer. Meteor. Soc. 84, 1013-1023.
"""

from __future__ import annotations

import numpy as np

from pdafpy.errors import ConfigError

from ..richards.grid import ZHAO2025_DZ

__all__ = ["LAYER_SETS", "layer_thicknesses", "clm_node_depths", "clm_thicknesses",
           "NOAH4_DZ", "CLM10_DZ"]

#: CLM's node-depth scale factor ``f_s`` [m].
CLM_SCALE_M = 0.025

#: Noah / Noah-MP's four soil layers [m], top-down.
NOAH4_DZ: tuple[float, ...] = (0.1, 0.3, 0.6, 1.0)


def clm_node_depths(n: int, scale_m: float = CLM_SCALE_M) -> np.ndarray:
    """CLM's node depths ``z_i = f_s (exp(0.5 (i - 0.5)) - 1)`` [m], ``i = 1 .. n``, ``(n,)``."""
    i = np.arange(1, n + 1, dtype=float)
    return scale_m * (np.exp(0.5 * (i - 0.5)) - 1.0)


def clm_thicknesses(n: int, scale_m: float = CLM_SCALE_M) -> tuple[float, ...]:
    """Thicknesses [m] of CLM's top ``n`` layers, top-down: interfaces halfway between nodes
    ``z_h,i = 0.5 (z_i + z_i+1)`` (node ``n + 1`` below the last layer), the surface at 0."""
    z = clm_node_depths(n + 1, scale_m)
    interfaces = np.concatenate([[0.0], 0.5 * (z[:-1] + z[1:])])
    return tuple(float(d) for d in np.diff(interfaces))


#: CLM 3.5 / CoLM 2014's ten soil layers [m], top-down, 3.8019 m deep.
CLM10_DZ: tuple[float, ...] = clm_thicknesses(10)

#: The named layerings: name -> thicknesses [m], top-down.
LAYER_SETS: dict[str, tuple[float, ...]] = {"zhao2025": ZHAO2025_DZ, "noah4": NOAH4_DZ,
                                            "clm10": CLM10_DZ}


def layer_thicknesses(name: str, key: str = "grid.layers") -> tuple[float, ...]:
    """The thicknesses [m], top-down, of the layer set ``name``.

    Raises
    ------
    ConfigError
        For an unknown name, naming ``key`` and the sets.
    """
    if name not in LAYER_SETS:
        raise ConfigError(f"{key} = {name!r}: expected one of {', '.join(LAYER_SETS)}")
    return LAYER_SETS[name]

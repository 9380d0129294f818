"""Prognostic leaf biomass with a simple phenology; LAI = leaf biomass x specific leaf area.

``dB/dt = growth - senescence`` per column, explicit over the coupling step:

* growth ``= r_g f_T f_R btran max(B, B_seed) (1 - B / B_max)``, with
  ``f_T = clip((T - T_base) / (T_opt - T_base), 0, 1)``, ``f_R = SW / (SW + SW_half)`` and the
  root-zone stress ``btran`` (so there is no growth at night, in the cold or in drought);
* senescence ``= (s_base + s_cold f_cold + s_dry (1 - btran)) (B - B_min)^+``, with
  ``f_cold = clip((T_sen - T) / (T_sen - T_sen_full), 0, 1)``;

``B_max = LAI_max / SLA``, ``B_min = LAI_min / SLA``, ``B_seed = LAI_seed / SLA``. Because LAI
is derived from the state B, an analysis can update LAI by updating B (LIS's leaf mass =
LAI / SLA write-back).

Units: B in kg m-2 (dry leaf mass), SLA in m2 kg-1, rates in s-1, T in degC, SW in W m-2.
"""

from __future__ import annotations

import numpy as np

__all__ = ["leaf_area_index", "leaf_biomass_from_lai", "phenology_step"]


def leaf_area_index(leaf_biomass, specific_leaf_area):
    """LAI [m2 m-2] = B x SLA."""
    return np.maximum(leaf_biomass, 0.0) * specific_leaf_area


def leaf_biomass_from_lai(lai, specific_leaf_area):
    """Leaf biomass [kg m-2] for a LAI (0 where SLA = 0)."""
    sla = np.asarray(specific_leaf_area, float)
    return np.where(sla > 0, np.asarray(lai, float) / np.where(sla > 0, sla, 1.0), 0.0)


def phenology_step(leaf_biomass, t_c, shortwave, btran, dt, p):
    """Leaf biomass after one step [kg m-2].

    Parameters
    ----------
    leaf_biomass : (ny, nx) ndarray
    t_c : (ny, nx) ndarray
        Air temperature [degC].
    shortwave : (ny, nx) ndarray
        Incoming shortwave [W m-2].
    btran : (ny, nx) ndarray
        Root-zone water-stress factor [0, 1].
    dt : float
        Step [s].
    p : ColumnParameters
        ``specific_leaf_area``, ``lai_max``, ``lai_min``, ``lai_seed``, ``growth_rate``,
        ``senescence_rate``, ``cold_senescence_rate``, ``drought_senescence_rate``, ``t_base``,
        ``t_opt``, ``t_senescence``, ``t_senescence_full``, ``light_half_saturation``.
    """
    sla = p.specific_leaf_area
    b_max = leaf_biomass_from_lai(p.lai_max, sla)
    b_min = leaf_biomass_from_lai(p.lai_min, sla)
    b_seed = leaf_biomass_from_lai(p.lai_seed, sla)
    b = leaf_biomass
    f_t = np.clip((t_c - p.t_base) / (p.t_opt - p.t_base), 0.0, 1.0)
    f_r = shortwave / (shortwave + p.light_half_saturation)
    room = np.where(b_max > 0, 1.0 - b / np.where(b_max > 0, b_max, 1.0), 0.0)
    growth = p.growth_rate * f_t * f_r * btran * np.maximum(b, b_seed) * np.maximum(room, 0.0)
    f_cold = np.clip((p.t_senescence - t_c) / (p.t_senescence - p.t_senescence_full), 0.0, 1.0)
    rate = (p.senescence_rate + p.cold_senescence_rate * f_cold
            + p.drought_senescence_rate * (1.0 - btran))
    senescence = rate * np.maximum(b - b_min, 0.0)
    return np.clip(b + dt * (growth - senescence), 0.0, np.maximum(b_max, b_min))

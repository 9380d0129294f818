"""Snowpack as one bucket of snow water equivalent: phase split, accumulation, degree-day melt,
sublimation.

Amounts in kg m-2 (= mm of water), rates in kg m-2 s-1, temperatures in degC. Liquid water is
not retained in the pack: rain on snow and melt go straight to the soil.
"""

from __future__ import annotations

import numpy as np

__all__ = ["snow_fraction_of_precipitation", "degree_day_melt", "snow_cover_fraction"]


def snow_fraction_of_precipitation(t_c, t_all_snow=0.0, t_all_rain=2.0):
    """Fraction of precipitation falling as snow [-]: 1 below ``t_all_snow``, 0 above
    ``t_all_rain``, linear between (CLM 3.5)."""
    return np.clip((t_all_rain - np.asarray(t_c)) / (t_all_rain - t_all_snow), 0.0, 1.0)


def degree_day_melt(swe, t_c, dt, factor=3.0 / 86400.0, t_melt=0.0):
    """Melt over a step [kg m-2]: ``factor (T - t_melt)^+ dt``, at most the pack.

    Parameters
    ----------
    swe : ndarray
        Snow water equivalent [kg m-2].
    t_c : ndarray
        Air temperature [degC].
    dt : float
        Step [s].
    factor : float
        Degree-day factor [kg m-2 s-1 K-1] (3 mm d-1 K-1 by default).
    """
    return np.minimum(factor * np.maximum(np.asarray(t_c) - t_melt, 0.0) * dt, swe)


def snow_cover_fraction(swe, swe_full=10.0):
    """Fraction of the ground covered by snow [-]: ``min(1, SWE / swe_full)``; ``swe_full`` in
    kg m-2."""
    return np.clip(np.asarray(swe) / swe_full, 0.0, 1.0)

"""Canopy interception store: capacity proportional to LAI, throughfall, wet-canopy evaporation.

Water amounts in kg m-2 (= mm), rates in kg m-2 s-1. The fraction of rain that hits the canopy
is the vegetated fraction ``1 - exp(-k LAI)`` (CLM 3.5, Oleson et al. 2004, Eq. 7.2); what the
store cannot hold drips through. The wetted fraction of the canopy is ``(W / W_max)^(2/3)``
(Deardorff 1978; CLM), which evaporates at the canopy's potential rate.
"""

from __future__ import annotations

import numpy as np

__all__ = ["vegetated_fraction", "canopy_capacity", "intercept", "wet_fraction",
           "evaporate_canopy"]


def vegetated_fraction(lai, extinction=0.5):
    """Fraction of the ground covered by vegetation ``1 - exp(-k LAI)`` [-]."""
    return 1.0 - np.exp(-extinction * np.asarray(lai))


def canopy_capacity(lai, per_lai=0.1):
    """Interception capacity W_max [kg m-2] = ``per_lai`` x LAI."""
    return per_lai * np.maximum(lai, 0.0)


def intercept(store, capacity, rain, veg_fraction, dt):
    """Add rain to the canopy store.

    Parameters
    ----------
    store, capacity : ndarray
        Canopy water W and capacity W_max [kg m-2].
    rain : ndarray
        Liquid precipitation [kg m-2 s-1].
    veg_fraction : ndarray
        Fraction of rain falling on the canopy [-].
    dt : float
        Step [s].

    Returns
    -------
    new_store : ndarray
        [kg m-2], at most ``capacity`` (a store above a shrunken capacity drips off).
    throughfall : ndarray
        Rain reaching the ground [kg m-2] over the step (including drip).
    """
    total = rain * dt
    new = np.minimum(store + veg_fraction * total, np.maximum(capacity, 0.0))
    new = np.maximum(new, 0.0)
    throughfall = total - (new - store)
    return new, throughfall


def wet_fraction(store, capacity):
    """Wetted fraction of the canopy ``(W / W_max)^(2/3)`` [-] (0 where W_max = 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(capacity > 0.0, np.clip(store / capacity, 0.0, 1.0), 0.0)
    return f ** (2.0 / 3.0)


def evaporate_canopy(store, potential, fwet, dt):
    """Evaporation from the wet canopy [kg m-2 over the step], at most the store.

    ``potential`` is the canopy's potential evaporation rate [kg m-2 s-1]."""
    return np.minimum(fwet * potential * dt, store)

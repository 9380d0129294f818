"""Quality control of observations against the forecast ensemble.

:func:`omit_by_innovation` is PDAF-OMI's ``inno_omit``: an observation whose innovation
``|y - mean(H(x))|`` exceeds ``k`` times its error standard deviation is left out of the analysis
and counted. (PDAF keeps such an observation with a tiny inverse variance, 1e-12; leaving it out
gives the same analysis without carrying it along.) Each observation type has its own ``k``
(:attr:`pdafpy.obs.types.ObservationType.inno_omit`; 0 switches the check off).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .types import ObservationSet

__all__ = ["omit_by_innovation"]


def omit_by_innovation(obs: ObservationSet, factors: Sequence[float]) -> tuple[ObservationSet,
                                                                             np.ndarray]:
    """Drop the observations whose innovation exceeds their type's factor times their error.

    Parameters
    ----------
    obs : ObservationSet
    factors : sequence of float
        ``k`` per observation type (``<= 0``: keep all of that type).

    Returns
    -------
    ObservationSet
        The observations kept.
    (n_types,) int ndarray
        Observations omitted, per type.
    """
    if not any(f > 0 for f in factors):
        return obs, np.zeros(len(factors), dtype=np.int64)
    k = np.asarray(factors, dtype=float)[obs.type_index] if obs.size else np.zeros(0)
    innovation = np.abs(obs.value - obs.hx.mean(axis=0))
    omit = (k > 0) & (innovation > k * np.sqrt(obs.variance))
    counts = np.bincount(obs.type_index[omit], minlength=len(factors))
    return obs.subset(~omit), counts

"""A twin's synthetic observations: which are withheld for validation, and their noise.

Both are drawn from pdafpy's counter-based generator (:mod:`pdafpy.random`), keyed so that they
are the same on every rank layout: the withheld observations by (seed, purpose), the noise by
(seed, analysis, global observation index).
"""

from __future__ import annotations

import numpy as np

from .. import random as prng

__all__ = ["withheld_mask", "synthetic_values"]


def withheld_mask(count: int, fraction: float, seed: int, purpose: str) -> np.ndarray:
    """``(count,)`` bool: True for the ``round(fraction * count)`` observations kept back,
    drawn at random (counter-based, key ``(seed, purpose)``)."""
    withheld = int(round(fraction * count))
    keys = prng.uniform(seed, purpose, 0, 0, np.arange(count))
    mask = np.zeros(count, dtype=bool)
    mask[np.argsort(keys, kind="stable")[:withheld]] = True
    return mask


def synthetic_values(truth_values: np.ndarray, error: np.ndarray | float, seed: int, cycle: int,
                     offset: int) -> np.ndarray:
    """Truth plus noise ``error * z``, ``z`` keyed by (seed, cycle, ``offset`` + index).

    Parameters
    ----------
    truth_values : (m,) ndarray
    error : float or (m,) ndarray
        Error standard deviations, in the values' units.
    """
    noise = prng.standard_normal(seed, "synthetic_observation", cycle, 0,
                                 offset + np.arange(truth_values.size))
    return truth_values + error * noise

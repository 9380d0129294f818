"""Vertical localisation in metres: :class:`VerticalLocalization`.

The local filters analyse grid columns; vertical localisation makes an observation count less for
state elements far above or below the depths it represents. It multiplies the horizontal weight
of :mod:`pdafpy.localize.weights` by a vertical weight (a separable 2+1D taper):

``w = w_h(d_h) * w_v(d_v)``

where ``d_v`` [m] is the vertical distance between a state element's depth and the observation's
vertical range ``[top, bottom]`` (depths positive down): 0 inside the range, else the distance to
the nearer end. Between two observations (for ``H P H^T`` of the covariance-localised filters)
``d_v`` is the gap between their ranges: 0 if they overlap, else the distance between the nearer
ends.

Conventions (those of PDAF's ``locweight`` and :mod:`pdafpy.localize.weights`)
-----------------------------------------------------------------------------
* ``"gaspari_cohn"``: the Gaspari & Cohn (1999) 5th-order function that **reaches zero at**
  ``length_m`` (PDAF's support radius ``sradius``; its half-width is ``length_m / 2``), evaluated
  by :func:`~pdafpy.localize.weights.gaspari_cohn` exactly as the horizontal one;
* ``"gaussian"``: ``exp(-d^2 / (2 L^2))`` with ``L = length_m`` the standard deviation (PDAF's
  ``locweight = 5`` with ``sradius = L``); never exactly zero.

There is no separate vertical cut-off: every observation local to a column (horizontally) stays
in each of the column's sub-domains, with its vertical weight (zero weights included, as PDAF keeps
zero-weight local observations).

A NaN in an observation's range (an observation without a vertical position, such as a
single-level field) or a NaN element depth (a state element not vertically localised, e.g. a 2D
parameter map or the leaf area index) gives the weight 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import ConfigError
from .weights import gaspari_cohn, gaussian

__all__ = ["VerticalLocalization", "VERTICAL_WEIGHTS", "vertical_distance", "range_gap"]

#: The vertical weight functions.
VERTICAL_WEIGHTS = ("gaspari_cohn", "gaussian")


def vertical_distance(ranges: np.ndarray, depth: float | np.ndarray) -> np.ndarray:
    """Vertical distance [m] of depths from observations' ranges.

    Parameters
    ----------
    ranges : (m, 2) float ndarray
        ``[top, bottom]`` of each observation [m, positive down]; NaN: no vertical position.
    depth : float or (k,) float ndarray
        Depths [m, positive down]; NaN: not vertically localised.

    Returns
    -------
    (m,) or (k, m) float ndarray
        0 where the depth lies in ``[top, bottom]``, else the distance to the nearer end; NaN
        where the range or the depth is NaN.
    """
    ranges = np.asarray(ranges, dtype=float).reshape(-1, 2)
    z = np.asarray(depth, dtype=float)[..., None]           # () -> (1,), (k,) -> (k, 1)
    # np.maximum propagates NaN: a NaN range or depth gives a NaN distance
    return np.maximum(np.maximum(ranges[:, 0] - z, z - ranges[:, 1]), 0.0)


def range_gap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Vertical gap [m] between two sets of observation ranges.

    Parameters
    ----------
    a : (ma, 2) float ndarray
    b : (mb, 2) float ndarray
        ``[top, bottom]`` [m, positive down]; NaN: no vertical position.

    Returns
    -------
    (ma, mb) float ndarray
        0 where the ranges overlap (or touch), else the distance between their nearer ends; NaN
        where either range is NaN.
    """
    a = np.asarray(a, dtype=float).reshape(-1, 2)
    b = np.asarray(b, dtype=float).reshape(-1, 2)
    # np.maximum propagates NaN: a NaN range gives a NaN gap
    return np.maximum(np.maximum(b[None, :, 0] - a[:, None, 1], a[:, None, 0] - b[None, :, 1]),
                      0.0)


@dataclass(frozen=True)
class VerticalLocalization:
    """Vertical localisation: a length scale in metres and a weight function.

    Attributes
    ----------
    length_m : float > 0
        ``"gaspari_cohn"``: the vertical distance [m] at which the weight reaches zero (PDAF's
        support radius; half-width ``length_m / 2``). ``"gaussian"``: the standard deviation
        [m] of ``exp(-d^2 / (2 length_m^2))``.
    weight : str
        ``"gaspari_cohn"`` (default) or ``"gaussian"`` (configuration key ``vertical_weight``;
        ``length_m`` is ``vertical_length_m``).

    Examples
    --------
    >>> v = VerticalLocalization(0.5)
    >>> v.weights(np.array([[0.0, 0.05]]), np.array([0.02, 0.3, 0.6])).ravel().round(3)
    array([1.   , 0.208, 0.   ])
    """

    length_m: float
    weight: str = "gaspari_cohn"

    def __post_init__(self) -> None:
        try:
            length = float(self.length_m)
        except (TypeError, ValueError):
            raise ConfigError(f"vertical_length_m = {self.length_m!r} must be a number") from None
        if not (np.isfinite(length) and length > 0.0):
            raise ConfigError(f"vertical_length_m = {self.length_m!r} must be finite and > 0")
        object.__setattr__(self, "length_m", length)
        if not isinstance(self.weight, str) or self.weight not in VERTICAL_WEIGHTS:
            raise ConfigError(f"vertical_weight = {self.weight!r}: choose one of "
                              f"{list(VERTICAL_WEIGHTS)}")

    def of_distance(self, d: np.ndarray) -> np.ndarray:
        """Weights of vertical distances ``d`` [m] (any shape); NaN gives 1."""
        d = np.asarray(d, dtype=float)
        nan = np.isnan(d)
        dd = np.where(nan, 0.0, d)
        w = gaspari_cohn(dd, self.length_m) if self.weight == "gaspari_cohn" \
            else gaussian(dd, self.length_m)
        return np.where(nan, 1.0, w)

    def weights(self, ranges: np.ndarray, depth: float | np.ndarray) -> np.ndarray:
        """Vertical weights of observations at cell depths.

        Parameters
        ----------
        ranges : (m, 2) float ndarray
            Observations' ``[top, bottom]`` [m, positive down]; NaN: weight 1.
        depth : float or (k,) float ndarray
            Cell depths [m, positive down]; NaN: weight 1.

        Returns
        -------
        (m,) float ndarray for a scalar depth, (k, m) for ``k`` depths
            In [0, 1]; 1 inside ``[top, bottom]``.
        """
        return self.of_distance(vertical_distance(ranges, depth))

    def pair_weights(self, a: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        """Vertical weights between observations (for ``H P H^T``): of the gap between their
        ranges (0 where they overlap), ``(ma, mb)``; ``b`` defaults to ``a``. NaN gives 1."""
        return self.of_distance(range_gap(a, a if b is None else b))

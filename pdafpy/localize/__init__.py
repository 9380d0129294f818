"""Distances, localisation weights and the local-observation search (PDAF's OMI conventions).

This module answers one question for a batch of local analysis domains at once: *which
observations are local to each domain, how far away are they, and with what weight do they
count?* It follows PDAF's ``PDAFomi_check_dist2`` (distances and the cut-off test) and
``PDAFomi_local_weight`` (weight functions) exactly, but replaces PDAF's O(n_domains x n_obs)
double loop by one KD-tree search (``scipy.spatial.cKDTree``) over all domains.

Conventions (PDAF's, see ``src/PDAFomi_obs_l.F90``)
---------------------------------------------------
* ``cradius`` is the **cut-off**: an observation at distance ``d <= cradius`` is local, including
  ``d == cradius`` exactly. Before the final test ``d**2 <= cradius**2`` every per-axis distance
  is checked against ``cradius`` on its own, as PDAF does.
* ``sradius`` is the **support radius**: Gaspari-Cohn reaches zero at ``sradius`` (its half-width
  is ``sradius / 2``), the exponential is ``1/e`` at ``sradius``, the Gaussian has standard
  deviation ``sradius``.
* Local observations whose weight is zero (e.g. Gaspari-Cohn with ``sradius < d <= cradius``)
  are still local, as in PDAF (they count in ``dim_obs_l``).
* Geographic coordinates are ``(longitude, latitude)`` in **radians**; distances are then in
  metres with the Earth radius :data:`R_EARTH` = 6.3675e6 m. A third coordinate (vertical) is in
  its own units and enters the distance unconverted, again as in PDAF.

Modules, by job
---------------
* :mod:`.distances`: :class:`DistanceKind`, :class:`Metric` (PDAF's ``disttype``),
  :func:`haversine`;
* :mod:`.weights`: :class:`WeightKind` (PDAF's ``locweight``), :func:`gaspari_cohn`,
  :func:`exponential`, :func:`gaussian`, :func:`local_weight`;
* :mod:`.localization`: :class:`Localization`, the settings of one domain localisation;
* :mod:`.search`: :func:`find_local_observations` and its result :class:`LocalPairs`;
* :mod:`.vertical`: :class:`VerticalLocalization`, a vertical taper in metres that multiplies
  the horizontal weight (observations' depth ranges against cell depths).
"""

from .distances import R_EARTH, DistanceKind, Metric, haversine
from .localization import Localization
from .search import LocalPairs, find_local_observations
from .vertical import VerticalLocalization
from .weights import WeightKind, exponential, gaspari_cohn, gaussian, local_weight

__all__ = [
    "R_EARTH",
    "DistanceKind",
    "Metric",
    "WeightKind",
    "Localization",
    "LocalPairs",
    "VerticalLocalization",
    "gaspari_cohn",
    "exponential",
    "gaussian",
    "local_weight",
    "haversine",
    "find_local_observations",
]

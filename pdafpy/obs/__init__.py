"""Observations in PDAF-OMI's manner: types, operators, ownership, evaluation, quality control.

- :mod:`pdafpy.obs.types`: :class:`ObservationType` (one kind of observation) and
  :class:`ObservationSet` (what a filter rank holds at analysis time);
- :mod:`pdafpy.obs.operators`: grid point, bilinear and footprint-average operators;
- :mod:`pdafpy.obs.ownership`: which filter rank owns an observation;
- :mod:`pdafpy.obs.observe`: evaluate the operators of owned observations (with a state halo);
- :mod:`pdafpy.obs.qc`: the innovation check (PDAF-OMI's ``inno_omit``).
"""

from .operators import StencilOperator, bilinear, grid_average, grid_point
from .types import ObservationSet, ObservationType

__all__ = ["ObservationType", "ObservationSet", "StencilOperator", "grid_point", "bilinear",
           "grid_average"]

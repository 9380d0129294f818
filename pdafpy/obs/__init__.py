"""Observations in PDAF-OMI's manner: modules, records and files, types, operators, ownership,
evaluation, quality control.

- :mod:`pdafpy.obs.module`: :class:`ObservationModule`, one per observation type, registered by
  name (entry-point group ``pdafpy.observations``); :mod:`pdafpy.obs.grid_point` is the
  framework's own;
- :mod:`pdafpy.obs.records`: :class:`ObservationRecords` (time, place, value, error, type,
  quality flag, sensor label per observation); :mod:`pdafpy.obs.files`: pdafpy's CF
  observation file;
- :mod:`pdafpy.obs.synthetic`: a twin's withheld draws and noise;
- :mod:`pdafpy.obs.types`: :class:`ObservationType` (one kind of observation) and
  :class:`ObservationSet` (what a filter rank holds at analysis time);
- :mod:`pdafpy.obs.operators`: grid point, bilinear and footprint-average operators, and
  non-linear column operators;
- :mod:`pdafpy.obs.ownership`: which filter rank owns an observation;
- :mod:`pdafpy.obs.observe`: evaluate the operators of owned observations (with a state halo);
- :mod:`pdafpy.obs.qc`: the innovation check (PDAF-OMI's ``inno_omit``).
"""

from .operators import StencilOperator, bilinear, grid_average, grid_point
from .types import ObservationSet, ObservationType

__all__ = ["ObservationType", "ObservationSet", "StencilOperator", "grid_point", "bilinear",
           "grid_average"]

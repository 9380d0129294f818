"""1D land-surface columns (canopy interception, snow, FAO-56 evapotranspiration, root-water
uptake, leaf phenology) that run on top of the Richards subsurface; see ``docs/land.md``.

:class:`~models.land.column.LandColumns` holds the stores of all columns of a rank and advances
them one coupling step at a time; :mod:`models.coupled` couples it to the subsurface.
"""

from .column import LandColumns, LandFluxes, SoilState
from .parameters import LAND_COVER, column_parameters

__all__ = ["LandColumns", "LandFluxes", "SoilState", "LAND_COVER", "column_parameters"]

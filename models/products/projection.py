"""Placing product retrievals on the model grid: its CRS, its extent, EASE-2 cells.

Longitude/latitude are projected onto the model grid's CRS with pyproj (``always_xy``:
longitude first); on a geographic grid CRS (``EPSG:4326``) they are the grid's ``x`` and ``y``
themselves, as pdafpy's observation file takes them. A grid without a CRS (local Cartesian) takes
only coordinates already in its own metres. EASE-Grid 2.0 rows and columns of gridded products
(SMAP L3, LPDR) are turned into longitude/latitude of the cell centres through EPSG:6933 at the
product's resolution (:mod:`models.landda.ease2`, which holds the grid definitions).
"""

from __future__ import annotations


import numpy as np

from pdafpy.errors import ConfigError
from pdafpy.model import Grid
from pdafpy.obs.files import GEOGRAPHIC_CRS

from models.landda.ease2 import GRIDS as EASE2_GRIDS
from models.landda.ease2 import transformer

from .common import GRID_COORDINATES, LONLAT, LonLatBox

__all__ = ["transformer", "is_geographic", "to_grid", "grid_extent", "inside_grid",
           "grid_lonlat_box", "ease2_lonlat", "ease2_rowcol", "EASE2_GRID_SHAPES"]

#: (rows, columns) of the EASE-2 Global grids by nominal resolution [km].
EASE2_GRID_SHAPES = {km: (grid.rows, grid.columns) for km, grid in EASE2_GRIDS.items()}
#: Points per edge of the grid's outline when its longitude/latitude box is taken.
_OUTLINE_POINTS = 33


def is_geographic(crs: str) -> bool:
    """Whether ``crs`` names longitude/latitude in degrees (the observation file's lat/lon
    grids)."""
    return crs.strip().upper() in GEOGRAPHIC_CRS


def to_grid(x: np.ndarray, y: np.ndarray, crs: str, grid: Grid
            ) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates ``(x, y)`` given in ``crs`` as coordinates of the model grid.

    Parameters
    ----------
    x, y : (m,) ndarray
        Longitude and latitude [degrees] for :data:`~models.products.common.LONLAT`; the grid's
        own coordinates for :data:`~models.products.common.GRID_COORDINATES`.
    crs : str
    grid : Grid

    Returns
    -------
    gx, gy : (m,) float ndarray
        In the grid's CRS [m]; longitude and latitude on a geographic grid.

    Raises
    ------
    ConfigError
        Longitude/latitude on a grid without a CRS.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if crs == GRID_COORDINATES:
        return x, y
    if not grid.crs:
        raise ConfigError("the model grid has no CRS ([grid] crs = ''); retrievals given in "
                          "longitude/latitude cannot be placed on it")
    if is_geographic(grid.crs) and crs == LONLAT:
        return x, y
    gx, gy = transformer(crs, grid.crs).transform(x, y)
    return np.asarray(gx, dtype=float), np.asarray(gy, dtype=float)


def grid_extent(grid: Grid) -> tuple[float, float, float, float]:
    """The grid's cells' extent ``x_min, x_max, y_min, y_max`` (half a cell past the first and
    last centres), as :func:`pdafpy.obs.files.check_inside_grid` takes it."""
    def extent(c: np.ndarray) -> tuple[float, float]:
        half = 0.5 * (c[1] - c[0]) if c.size > 1 else 0.5
        return float(c[0] - half), float(c[-1] + half)

    (x0, x1), (y0, y1) = extent(np.asarray(grid.x)), extent(np.asarray(grid.y))
    return x0, x1, y0, y1


def inside_grid(gx: np.ndarray, gy: np.ndarray, grid: Grid) -> np.ndarray:
    """``(m,)`` bool: points (grid coordinates) inside the grid's extent."""
    x0, x1, y0, y1 = grid_extent(grid)
    return (gx >= x0) & (gx <= x1) & (gy >= y0) & (gy <= y1)


def grid_lonlat_box(grid: Grid, margin_deg: float = 0.5) -> LonLatBox | None:
    """The longitude/latitude box around the grid's extent, widened by ``margin_deg``: the part
    of a global product worth reading. None on a grid without a CRS."""
    if not grid.crs:
        return None
    x0, x1, y0, y1 = grid_extent(grid)
    t = np.linspace(0.0, 1.0, _OUTLINE_POINTS)
    ox = np.concatenate([x0 + (x1 - x0) * t, np.full_like(t, x1), x1 - (x1 - x0) * t,
                         np.full_like(t, x0)])
    oy = np.concatenate([np.full_like(t, y0), y0 + (y1 - y0) * t, np.full_like(t, y1),
                         y1 - (y1 - y0) * t])
    if is_geographic(grid.crs):
        lon, lat = ox, oy
    else:
        lon, lat = transformer(grid.crs, LONLAT).transform(ox, oy)
    lon, lat = np.asarray(lon), np.asarray(lat)
    return LonLatBox(max(float(lon.min()) - margin_deg, -180.0),
                     min(float(lon.max()) + margin_deg, 180.0),
                     max(float(lat.min()) - margin_deg, -90.0),
                     min(float(lat.max()) + margin_deg, 90.0))


def ease2_lonlat(row: np.ndarray, col: np.ndarray, resolution_km: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude [degrees] of the centres of EASE-2 Global cells ``(row, col)``
    (row 0 northernmost, column 0 westernmost) at ``resolution_km`` (36, 9, 3 or 25)."""
    from models.landda.ease2 import ease2_grid

    return ease2_grid(resolution_km).lonlat_of_rowcol(row, col)


def ease2_rowcol(lon: np.ndarray, lat: np.ndarray, resolution_km: int
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the EASE-2 Global cells holding points at ``lon``, ``lat``
    [degrees]; points off the grid get indices outside its shape."""
    from models.landda.ease2 import ease2_grid

    return ease2_grid(resolution_km).rowcol_of_lonlat(lon, lat)

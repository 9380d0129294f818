"""EASE-Grid 2.0 Global: the equal-area grids of SMAP, AMSR2/LPDR and other satellite products.

The one place in the project that knows EASE-2 geometry. The global grids share one map
projection, EPSG:6933 ("WGS 84 / NSIDC EASE-Grid 2.0 Global": Lambert cylindrical equal area on
the WGS 84 ellipsoid, true scale at 30 degrees N and S), and differ in their cell size and
dimensions. Their definitions are NSIDC's (Brodzik et al. 2012, 2014; the grid parameter
definition files ``EASE2_M36km.gpd``, ``EASE2_M09km.gpd``, ``EASE2_M03km.gpd`` and
``EASE2_M25km.gpd`` of NSIDC's mapx, and https://nsidc.org/ease/ease-grid-projection-gt):

- 36 km: cells of 36032.220840584 m, 964 columns x 406 rows;
- 9 km: cells of 9008.055210146 m, 3856 x 1624;
- 3 km: cells of 3002.6850700487 m, 11568 x 4872;
- 25 km (LPDR, AMSR2): cells of 25025.26000 m, 1388 x 584;

the outer upper-left corner of cell (0, 0) at map (x, y) = (-17367530.4451615, 7314540.8306386)
m for the first three, (-17367530.44, 7307375.92) m for the 25 km grid: half the grid's width and
height in cells, so that the map's x extent is [-17367530.45, 17367530.45] m (-180 to 180
degrees) and its y extent symmetric about the equator.

The 36, 9 and 3 km grids nest (their left and right edges are -180 and 180 degrees, their top
and bottom edges +-85.0445664 degrees); the 25 km grid of LPDR and AMSR2 products is defined on
its own (edges +-84.439790 degrees). Row 0 is the northernmost row, column 0 the westernmost;
the map x grows east and y north, so cell ``(row, col)`` spans
``x in [x0 + col * s, x0 + (col + 1) * s]`` and ``y in [y0 - (row + 1) * s, y0 - row * s]``
with ``(x0, y0)`` the upper-left outer corner and ``s`` the cell size.

References
----------
Brodzik, M. J., Billingsley, B., Haran, T., Raup, B., Savoie, M. H. (2012): EASE-Grid 2.0:
Incremental but significant improvements for Earth-gridded data sets. ISPRS Int. J. Geo-Inf.
1(1), 32-45, doi:10.3390/ijgi1010032 (correction 2014, 3(3), 1154-1156).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from pdafpy.errors import ConfigError

__all__ = ["EASE2_CRS", "Ease2Grid", "GRIDS", "ease2_grid", "to_ease2", "from_ease2",
           "transformer"]

#: The map projection of every EASE-2 Global grid.
EASE2_CRS = "EPSG:6933"
#: Latitude and longitude on WGS 84, longitude first (``always_xy``).
LONLAT_CRS = "EPSG:4326"


@dataclass(frozen=True)
class Ease2Grid:
    """One EASE-2 Global grid.

    Attributes
    ----------
    resolution_km : int
        Its nominal resolution (36, 9, 3 or 25).
    cell_m : float
        Cell size [m] (square cells on the EASE-2 map).
    columns, rows : int
        Grid dimensions.
    x0, y0 : float
        Map coordinates [m] of the outer upper-left corner of cell ``(0, 0)``.
    """

    resolution_km: int
    cell_m: float
    columns: int
    rows: int
    x0: float
    y0: float

    def rowcol_of_xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of the cells holding map points ``(x, y)`` [m] (EPSG:6933).

        Indices of points off the grid fall outside ``[0, rows)`` or ``[0, columns)``
        (:meth:`on_grid` tells); a point on a cell edge belongs to the cell east or south of
        it.

        Returns
        -------
        row, col : int64 ndarray, the shape of ``x``
        """
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        col = np.floor((x - self.x0) / self.cell_m).astype(np.int64)
        row = np.floor((self.y0 - y) / self.cell_m).astype(np.int64)
        return row, col

    def xy_of_rowcol(self, row: np.ndarray, col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Map coordinates [m] of the centres of cells ``(row, col)``."""
        row, col = np.asarray(row, dtype=float), np.asarray(col, dtype=float)
        return self.x0 + (col + 0.5) * self.cell_m, self.y0 - (row + 0.5) * self.cell_m

    def bounds(self, row: np.ndarray, col: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Map bounds [m] of cells ``(row, col)``: ``x_min, x_max, y_min, y_max``."""
        row, col = np.asarray(row, dtype=float), np.asarray(col, dtype=float)
        x_min = self.x0 + col * self.cell_m
        y_max = self.y0 - row * self.cell_m
        return x_min, x_min + self.cell_m, y_max - self.cell_m, y_max

    def on_grid(self, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """Whether cells ``(row, col)`` exist on this grid."""
        row, col = np.asarray(row), np.asarray(col)
        return (row >= 0) & (row < self.rows) & (col >= 0) & (col < self.columns)

    def cell_id(self, row: np.ndarray, col: np.ndarray) -> np.ndarray:
        """One integer per cell, ``row * columns + col`` (row-major, as the products store
        them)."""
        return np.asarray(row, dtype=np.int64) * self.columns + np.asarray(col, dtype=np.int64)

    def rowcol_of_lonlat(self, lon: np.ndarray, lat: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of the cells holding points at longitude ``lon`` and latitude
        ``lat`` [degrees] (WGS 84)."""
        return self.rowcol_of_xy(*to_ease2(LONLAT_CRS, lon, lat))

    def lonlat_of_rowcol(self, row: np.ndarray, col: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
        """Longitude and latitude [degrees] of the centres of cells ``(row, col)``."""
        return from_ease2(LONLAT_CRS, *self.xy_of_rowcol(row, col))


#: The official global grids, by nominal resolution [km].
GRIDS: dict[int, Ease2Grid] = {
    36: Ease2Grid(36, 36032.220840584, 964, 406, -17367530.4451615, 7314540.8306386),
    9: Ease2Grid(9, 9008.055210146, 3856, 1624, -17367530.4451615, 7314540.8306386),
    3: Ease2Grid(3, 3002.6850700487, 11568, 4872, -17367530.4451615, 7314540.8306386),
    25: Ease2Grid(25, 25025.26000, 1388, 584, -17367530.44, 7307375.92),
}


def ease2_grid(resolution_km: int) -> Ease2Grid:
    """The EASE-2 Global grid of nominal resolution ``resolution_km`` (36, 9, 3 or 25).

    Raises
    ------
    ConfigError
        For another resolution.
    """
    try:
        return GRIDS[int(resolution_km)]
    except (KeyError, ValueError, TypeError):
        raise ConfigError(f"EASE-2 resolution {resolution_km!r} km: expected one of "
                          f"{sorted(GRIDS)}") from None


@lru_cache(maxsize=16)
def transformer(source: str, target: str) -> Any:
    """A pyproj Transformer from ``source`` to ``target`` CRS, longitude/easting first (the one
    place the project builds them: the EASE-2 cells here, the product readers'
    :mod:`models.products.projection`).

    Raises
    ------
    ConfigError
        If pyproj is not installed or a CRS is unknown.
    """
    try:
        from pyproj import Transformer
        from pyproj.exceptions import CRSError
    except ImportError:
        raise ConfigError("pyproj is not installed (Debian: python3-pyproj); it places "
                          "longitude/latitude and EASE-2 cells on the model grid") from None
    try:
        return Transformer.from_crs(source, target, always_xy=True)
    except CRSError as exc:
        raise ConfigError(f"CRS {source!r} -> {target!r}: {exc}") from None


def _project(source: str, target: str, x: np.ndarray, y: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(x, y)`` of CRS ``source`` in CRS ``target``; one of them is the grid's, which
    must be set."""
    if not source or not target:
        raise ConfigError("EASE-2 cells need the grid's coordinate reference system; the grid "
                          "has none (a local Cartesian grid)")
    px, py = transformer(source, target).transform(np.asarray(x, dtype=float),
                                                   np.asarray(y, dtype=float))
    return np.asarray(px, dtype=float), np.asarray(py, dtype=float)


def to_ease2(crs: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points ``(x, y)`` of coordinate reference system ``crs`` (longitude first where it is
    geographic) as EASE-2 map coordinates [m] (EPSG:6933).

    Raises
    ------
    ConfigError
        If ``crs`` is empty (a local Cartesian grid cannot be placed on the Earth) or unknown.
    """
    return _project(crs, EASE2_CRS, x, y)


def from_ease2(crs: str, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """EASE-2 map coordinates [m] as points of ``crs`` (longitude first where geographic)."""
    return _project(EASE2_CRS, crs, x, y)

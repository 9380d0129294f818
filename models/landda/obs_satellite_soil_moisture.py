"""Observation type ``satellite_soil_moisture``: SMAP, ASCAT and MWRI retrievals.

An observation is the water content of the soil between the depths ``depth_range_m = [z1, z2]``
[m], each layer weighted by its thickness inside the range (a layer partly inside counts with
the part inside; SMAP's 0-5 cm is ``[0, 0.05]``, HEY's top layer ``[0, 0.1]``, BAI's second layer
e.g. ``[0.1, 0.3]``), averaged with equal weights over the grid columns of its horizontal
``footprint``:

- ``"nearest"``: the grid column nearest to the observation;
- ``"radius"``: the columns whose centres lie within ``footprint_radius_m`` of it (the nearest
  column where none does);
- ``"ease2"``: the columns whose centres lie in the EASE-2 Global cell holding it
  (``ease2_resolution_km`` 36, 9, 3 or 25; :mod:`models.landda.ease2`), the grid's CRS
  projected to EPSG:6933 (the nearest column where none does).

Footprints are cut at the grid's edges, their weights renormalised over the columns inside.

``units_space`` says what the values are: ``"volumetric"`` water content [m3 m-3], or
``"saturation"``, the degree of saturation theta / theta_s [1] (ASCAT's), compared in
saturation space: the mean over the footprint and the depth range of each layer's
theta / theta_s. Where the state holds ``porosity`` (theta_s per member, estimated) the operator
divides each member's water content by that member's porosity (a non-linear
:class:`~pdafpy.obs.operators.ColumnFunctionOperator` on the stacked fields ``("water_content",
"porosity")``); otherwise it is linear, the weights divided by the configured soil's theta_s
(``context.model["theta_s"]``).

A twin observes one location per cell of a lattice every ``spacing_cells`` grid columns, at the
columns' centres (``"nearest"``, ``"radius"``), or every ``spacing_cells``-th EASE-2 cell whose
centre lies inside the grid, at that centre (``"ease2"``); a fraction ``withheld_fraction`` of
them, drawn from the counter-based generator, is withheld for validation.

A twin's retrievals may degrade under the canopy while the assimilation assumes the nominal
error (BAI's X-band, MWRI): with ``truth_error_growth_per_lai = g`` the noise drawn at an
observation has the standard deviation ``error * (1 + g * LAI)``, and with
``truth_bias_per_lai = b`` the bias ``b * LAI`` [units of ``units_space``] is added, ``LAI``
being the truth's leaf area index [m2 m-2] at the observation time, the mean over the
observation's footprint columns (:meth:`SatelliteSoilMoisture.synthesis_covariates`). The error
recorded with the observation, which the filter uses, stays ``error``; such a draw is clipped to
the type's valid range [0, 1], as a retrieval is. Both keys shape synthetic observations only
(refused with observation files); at 0 (the default) the draw is the framework's, unchanged.

For vertical localisation (:meth:`SatelliteSoilMoisture.vertical_range`) an observation
represents the depths ``depth_range_m``, cut at the column's bottom.

This module also holds what the other land types share: :func:`layer_weights` (thickness
weights over a depth range) and :class:`Footprint` (which columns an observation averages).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import ClassVar, Mapping

import numpy as np

from pdafpy.config import option
from pdafpy.errors import ConfigError
from pdafpy.model import Grid
from pdafpy.obs.module import ObservationContext, ObservationModule, nearest_columns
from pdafpy.obs.operators import ColumnFunctionOperator, StencilOperator, grid_average
from pdafpy.obs.records import QC_GOOD, QC_WITHHELD, ObservationRecords
from pdafpy.obs.synthetic import withheld_mask

from .ease2 import ease2_grid, from_ease2, to_ease2
from .observations import LandObservationSection

__all__ = ["SatelliteSoilMoistureSection", "SatelliteSoilMoisture", "Footprint",
           "layer_weights", "footprint_stencil", "saturation_mean", "model_fact", "FOOTPRINTS",
           "UNITS_SPACES"]

log = logging.getLogger(__name__)

#: The observed field, and the state's per-member porosity (saturation space).
FIELD, POROSITY = "water_content", "porosity"
#: The truth's field a canopy-dependent draw reads (and its covariate's name).
LAI = "leaf_area_index"
FOOTPRINTS = ("nearest", "radius", "ease2")
UNITS_SPACES = ("volumetric", "saturation")
#: Units of each space's values.
SPACE_UNITS = {"volumetric": "m3 m-3", "saturation": "1"}


def model_fact(context: ObservationContext, key: str, index: int, type_name: str,
               purpose: str) -> np.ndarray:
    """``context.model[key]`` as a float (or bool) array.

    Raises
    ------
    ConfigError
        If the model does not give it, naming the type and what needs it.
    """
    value = context.model.get(key)
    if value is None:
        raise ConfigError(f"observations[{index}].type = {type_name!r}: the model gives no "
                          f"{key!r} ({purpose})")
    return np.asarray(value)


def layer_weights(interfaces: np.ndarray, top: float, bottom: float,
                  key: str = "depth_range_m") -> tuple[np.ndarray, np.ndarray]:
    """Layers reaching into the depth range ``[top, bottom]`` [m] and the thickness of each
    inside it [m] (its weight), the range cut at the column's bottom.

    Parameters
    ----------
    interfaces : (nz + 1,) ndarray
        Layer interface depths [m], top down, 0 first.
    top, bottom : float
        The range [m], ``top < bottom``.
    key : str
        The configuration key the range comes from (for the message).

    Returns
    -------
    layers : (k,) int64 ndarray
    weights : (k,) float ndarray
        Thickness inside the range [m] (not normalised).

    Raises
    ------
    ConfigError
        If no layer reaches into the range.
    """
    interfaces = np.asarray(interfaces, dtype=float)
    inside = np.clip(np.minimum(interfaces[1:], bottom) - np.maximum(interfaces[:-1], top),
                     0.0, None)
    layers = np.flatnonzero(inside > 0)
    if layers.size == 0:
        raise ConfigError(f"observations.{key} = [{top:g}, {bottom:g}]: no soil layer lies in "
                          f"that range (the column reaches {interfaces[-1]:g} m)")
    if bottom > interfaces[-1]:
        log.warning("observations.%s = [%g, %g]: cut at the column's bottom, %g m", key, top,
                    bottom, interfaces[-1])
    return layers.astype(np.int64), inside[layers]


class Footprint:
    """Which grid columns an observation at ``(x, y)`` averages over (see the module notes).

    Parameters
    ----------
    grid : Grid
        Uniformly spaced column centres ``x``, ``y`` [m] and its ``crs``.
    kind : str
        One of :data:`FOOTPRINTS`.
    radius_m : float, optional
        ``"radius"``: the footprint's radius [m].
    ease2_resolution_km : int, optional
        ``"ease2"``: the EASE-2 grid (36, 9, 3 or 25).

    Raises
    ------
    ConfigError
        A radius on a geographic grid (whose x and y are degrees), or EASE-2 cells on a grid
        without a CRS.
    """

    def __init__(self, grid: Grid, kind: str = "nearest", radius_m: float | None = None,
                 ease2_resolution_km: int = 36):
        self.grid, self.kind, self.radius_m = grid, kind, radius_m
        if kind == "radius" and grid.crs:
            from pyproj import CRS

            if CRS(grid.crs).is_geographic:
                raise ConfigError(f"observations.footprint = 'radius': the grid's CRS "
                                  f"{grid.crs!r} is geographic; a radius in metres needs a "
                                  "projected grid")
        if kind == "ease2":
            if not grid.crs:
                raise ConfigError("observations.footprint = 'ease2': the grid has no CRS "
                                  "([grid] crs); EASE-2 cells cannot be placed on it")
            self.ease2 = ease2_grid(ease2_resolution_km)
            xx, yy = np.meshgrid(grid.x, grid.y)
            row, col = self.ease2.rowcol_of_xy(*to_ease2(grid.crs, xx.ravel(), yy.ravel()))
            self._column_cell = self.ease2.cell_id(row, col)     # (ny * nx,), row-major
            self._by_cell = np.argsort(self._column_cell, kind="stable")

    def columns(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows and columns of each observation's footprint.

        Returns
        -------
        rows, cols : (m, r) int64 ndarray
            Padded with -1 where a footprint has fewer than ``r`` columns.
        """
        row0, col0 = nearest_columns(self.grid, x, y)
        if self.kind == "nearest":
            return row0[:, None], col0[:, None]
        if self.kind == "radius":
            rows, cols, member = self._within_radius(np.asarray(x, float),
                                                     np.asarray(y, float), row0, col0)
        else:
            rows, cols, member = self._in_ease2_cell(x, y)
        lonely = ~member.any(axis=1)                 # the nearest column where none lies in it
        rows[lonely, 0], cols[lonely, 0], member[lonely, 0] = row0[lonely], col0[lonely], True
        return _compact(rows, cols, member)

    def _within_radius(self, x: np.ndarray, y: np.ndarray, row0: np.ndarray,
                       col0: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        grid, radius = self.grid, self.radius_m

        def reach(c: np.ndarray) -> int:                  # cells past the nearest centre
            return int(np.ceil(radius / abs(c[1] - c[0]) + 0.5)) if c.size > 1 else 0

        ky, kx = reach(grid.y), reach(grid.x)
        dy, dx = (a.ravel() for a in np.meshgrid(np.arange(-ky, ky + 1),
                                                 np.arange(-kx, kx + 1), indexing="ij"))
        rows, cols = row0[:, None] + dy[None, :], col0[:, None] + dx[None, :]
        inside = (rows >= 0) & (rows < grid.ny) & (cols >= 0) & (cols < grid.nx)
        rows, cols = np.where(inside, rows, 0), np.where(inside, cols, 0)
        d2 = (grid.x[cols] - x[:, None]) ** 2 + (grid.y[rows] - y[:, None]) ** 2
        return rows, cols, inside & (d2 <= radius ** 2)

    def _in_ease2_cell(self, x: np.ndarray, y: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        cell = self.ease2.cell_id(*self.ease2.rowcol_of_xy(*to_ease2(self.grid.crs, x, y)))
        sorted_cells = self._column_cell[self._by_cell]
        lo = np.searchsorted(sorted_cells, cell, side="left")
        count = np.searchsorted(sorted_cells, cell, side="right") - lo
        width = max(int(count.max(initial=0)), 1)
        slot = np.arange(width)[None, :]
        member = slot < count[:, None]
        flat = self._by_cell[np.clip(lo[:, None] + slot, 0, sorted_cells.size - 1)]
        rows, cols = np.divmod(flat, self.grid.nx)
        return rows, cols, member

    def lattice(self, spacing: int) -> tuple[np.ndarray, np.ndarray]:
        """A twin's observation locations ``(x, y)`` [m]: column centres every ``spacing``
        columns and rows, row by row, or (``"ease2"``) the centres of every ``spacing``-th
        EASE-2 cell (counted from the grid's first) that lie inside the grid.

        Raises
        ------
        ConfigError
            If no EASE-2 cell centre lies inside the grid.
        """
        grid = self.grid
        if self.kind != "ease2":
            yy, xx = np.meshgrid(grid.y[::spacing], grid.x[::spacing], indexing="ij")
            return xx.ravel(), yy.ravel()
        row, col = np.divmod(np.unique(self._column_cell), self.ease2.columns)
        on_lattice = ((row - row.min()) % spacing == 0) & ((col - col.min()) % spacing == 0)
        x, y = from_ease2(grid.crs, *self.ease2.xy_of_rowcol(row[on_lattice], col[on_lattice]))
        (x0, x1), (y0, y1) = _extent(grid.x), _extent(grid.y)
        inside = (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        if not inside.any():
            raise ConfigError(f"observations.ease2_resolution_km = "
                              f"{self.ease2.resolution_km}: no EASE-2 cell centre lies inside "
                              "the grid, so a twin has nowhere to observe; use a finer EASE-2 "
                              "grid or another footprint")
        return x[inside], y[inside]


def _extent(c: np.ndarray) -> tuple[float, float]:
    """The extent of cells centred at ``c`` (half a cell past the first and last centres)."""
    half = 0.5 * abs(c[1] - c[0]) if c.size > 1 else 0.5
    return float(c.min() - half), float(c.max() + half)


def _compact(rows: np.ndarray, cols: np.ndarray, member: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Footprints with their members first, as narrow as the largest, padded with -1."""
    order = np.argsort(~member, axis=1, kind="stable")
    width = int(member.sum(axis=1).max(initial=1))
    keep = np.take_along_axis(member, order, axis=1)[:, :width]
    pick = order[:, :width]
    return (np.where(keep, np.take_along_axis(rows, pick, axis=1), -1),
            np.where(keep, np.take_along_axis(cols, pick, axis=1), -1))


def footprint_stencil(rows: np.ndarray, cols: np.ndarray, layers: np.ndarray,
                      weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                     np.ndarray]:
    """Every (column, layer) point of each footprint, layers fastest, with weight column
    weight (equal) x layer weight, normalised per observation; padding points (row -1) get
    weight 0 and indices 0.

    Returns
    -------
    level, row, col : (m, r * k) int64 ndarray
    coeff : (m, r * k) float ndarray
    """
    m, r = rows.shape
    k = layers.size
    valid = np.repeat(rows >= 0, k, axis=1)
    coeff = np.where(valid, np.tile(weights, r)[None, :], 0.0)
    coeff = coeff / coeff.sum(axis=1, keepdims=True)
    level = np.where(valid, np.tile(layers, r)[None, :], 0)
    return (level.astype(np.int64), np.where(valid, np.repeat(rows, k, axis=1), 0),
            np.where(valid, np.repeat(cols, k, axis=1), 0), coeff)


def saturation_mean(values: np.ndarray, coeff: np.ndarray) -> np.ndarray:
    """The weighted mean degree of saturation theta / porosity per member: ``values``
    ``(n_members, m, 2 p)`` the water content of ``p`` points then their porosity, ``coeff``
    ``(m, 2 p)`` their weights (summing to 1 over the first ``p``; 0 marks padding)."""
    p = coeff.shape[1] // 2
    w = coeff[:, :p]
    porosity = values[..., p:]
    ratio = np.divide(values[..., :p], porosity, out=np.zeros_like(porosity),
                      where=w[None, :, :] != 0)
    return np.einsum("kmp,mp->km", ratio, w)


@dataclass(frozen=True)
class SatelliteSoilMoistureSection(LandObservationSection):
    """Satellite soil moisture retrievals (``type = "satellite_soil_moisture"``)."""

    type: str = option("satellite_soil_moisture", "observation type")
    error: float = option(0.04, "error standard deviation, in the units of units_space",
                          unit="m3 m-3 or 1", minimum=0.0, exclusive_minimum=True)
    depth_range_m: tuple[float, ...] = option((0.0, 0.05), "[top, bottom]: the soil depths "
                                              "the retrieval represents; layers weighted by "
                                              "their thickness inside", unit="m", minimum=0.0)
    footprint: str = option("nearest", "horizontal footprint: the nearest grid column, the "
                            "columns within footprint_radius_m, or those in the EASE-2 cell "
                            "holding the observation", choices=FOOTPRINTS)
    footprint_radius_m: float | None = option(None, "footprint = 'radius': its radius",
                                                 unit="m", minimum=0.0,
                                                 exclusive_minimum=True)
    ease2_resolution_km: int = option(36, "footprint = 'ease2': the EASE-2 Global grid "
                                      "(36, 9, 3 km: SMAP; 25 km: LPDR, AMSR2)", unit="km",
                                      choices=(36, 9, 3, 25))
    units_space: str = option("volumetric", "the retrieval's space: volumetric water content "
                              "[m3 m-3], or degree of saturation theta / theta_s [1] (ASCAT)",
                              choices=UNITS_SPACES)
    spacing_cells: int = option(1, "a twin observes every spacing_cells-th grid column (or "
                                "EASE-2 cell) in each direction", minimum=1)
    truth_error_growth_per_lai: float = option(
        0.0, "twin: the drawn noise's sd is error * (1 + g * LAI), LAI the truth's leaf area "
        "index over the footprint, while the recorded error (the filter's) stays error "
        "(BAI's X-band under canopy)", unit="per m2 m-2", minimum=0.0)
    truth_bias_per_lai: float = option(
        0.0, "twin: a bias b * LAI added to the drawn retrievals (LAI as for "
        "truth_error_growth_per_lai)", unit="m3 m-3 or 1 per m2 m-2")

    synthesis_keys: ClassVar[tuple[str, ...]] = LandObservationSection.synthesis_keys + (
        "truth_error_growth_per_lai", "truth_bias_per_lai")

    @property
    def canopy_dependent(self) -> bool:
        """Whether a twin's draw depends on the truth's leaf area index."""
        return self.truth_error_growth_per_lai != 0 or self.truth_bias_per_lai != 0

    def check(self, path: str) -> None:
        super().check(path)
        r = self.depth_range_m
        if len(r) != 2 or r[0] >= r[1]:
            raise ConfigError(f"{path}.depth_range_m = {list(r)}: expected [top, bottom] with "
                              "top < bottom")
        if self.footprint == "radius" and self.footprint_radius_m is None:
            raise ConfigError(f"{path}.footprint_radius_m: required with footprint = 'radius'")
        if self.footprint != "radius" and self.footprint_radius_m is not None:
            raise ConfigError(f"{path}.footprint_radius_m = {self.footprint_radius_m}: only "
                              f"with footprint = 'radius' (footprint = {self.footprint!r})")


class SatelliteSoilMoisture(ObservationModule):
    """Observation module of ``satellite_soil_moisture`` (see the module notes).

    Parameters
    ----------
    section : SatelliteSoilMoistureSection
    context : ObservationContext
        ``context.model``: ``"interfaces"`` (layer interface depths [m], ``(nz + 1,)``);
        in saturation space without a ``porosity`` state field, ``"theta_s"`` [m3 m-3],
        broadcastable to ``(nz, ny, nx)``. ``context.fields``: a ``leaf_area_index`` field
        where the section's draw depends on the canopy.
    index : int

    Raises
    ------
    ConfigError
        A missing model fact, no layer in ``depth_range_m``, an EASE-2 footprint on a grid
        without a CRS, a canopy-dependent draw without a ``leaf_area_index`` field.
    """

    name = "satellite_soil_moisture"
    #: The class's default; an instance's follows its ``units_space``.
    units = "m3 m-3"
    #: Volumetric water content and degree of saturation are both fractions.
    valid_range = (0.0, 1.0)
    section_class = SatelliteSoilMoistureSection

    def __init__(self, section: SatelliteSoilMoistureSection, context: ObservationContext,
                 index: int):
        super().__init__(section, context, index)
        self.units = SPACE_UNITS[section.units_space]
        interfaces = model_fact(context, "interfaces", index, self.name,
                                "layer interface depths to average over")
        self.nz = interfaces.size - 1
        self.layers, self.weights = layer_weights(interfaces, *section.depth_range_m)
        top, bottom = section.depth_range_m
        self.depth_range = (float(top), float(min(bottom, float(interfaces[-1]))))
        self.footprint = Footprint(context.grid, section.footprint, section.footprint_radius_m,
                                   section.ease2_resolution_km)
        self.per_member = section.units_space == "saturation" and \
            POROSITY in {f.name for f in context.fields}
        self.theta_s = None
        if section.units_space == "saturation" and not self.per_member:
            grid = context.grid
            theta_s = model_fact(context, "theta_s", index, self.name,
                                 "units_space = 'saturation' divides by the porosity").astype(float)
            theta_s = theta_s.reshape((1,) * (3 - theta_s.ndim) + theta_s.shape)
            self.theta_s = np.broadcast_to(theta_s, (self.nz, grid.ny, grid.nx))
        if section.canopy_dependent and LAI not in {f.name for f in context.fields}:
            key = ("truth_error_growth_per_lai" if section.truth_error_growth_per_lai != 0
                   else "truth_bias_per_lai")
            raise ConfigError(f"observations[{index}].{key}: the model has no leaf area index "
                              "field to scale the twin's retrieval error with")

    def network(self) -> ObservationRecords:
        """The lattice of :meth:`Footprint.lattice`; the withheld ones drawn with key
        ``(seed, "withheld_satellite_soil_moisture_<index>")``."""
        x, y = self.footprint.lattice(self.section.spacing_cells)
        withheld = withheld_mask(x.size, self.section.withheld_fraction, self.context.seed,
                                 f"withheld_satellite_soil_moisture_{self.index}")
        return ObservationRecords.build(0.0, x, y, np.nan, self.section.error, self.name,
                                        qc=np.where(withheld, QC_WITHHELD, QC_GOOD))

    def vertical_range(self, records: ObservationRecords) -> np.ndarray:
        """``(m, 2)``: every observation represents ``depth_range_m`` [m], cut at the
        column's bottom."""
        return np.tile(self.depth_range, (records.size, 1))

    def operator(self, records: ObservationRecords) -> StencilOperator:
        """The footprint's thickness-weighted mean water content [m3 m-3] over the depth
        range, or its degree of saturation [1] (see the module notes)."""
        rows, cols = self.footprint.columns(records.x, records.y)
        level, row, col, coeff = footprint_stencil(rows, cols, self.layers, self.weights)
        if self.section.units_space == "volumetric":
            return StencilOperator(FIELD, level, row, col, coeff)
        if not self.per_member:
            live = coeff != 0
            return StencilOperator(FIELD, level, row, col,
                                   np.where(live, coeff / self.theta_s[level, row, col], 0.0))
        return ColumnFunctionOperator((FIELD, POROSITY), np.hstack([level, level + self.nz]),
                                      np.hstack([row, row]), np.hstack([col, col]),
                                      np.hstack([coeff, coeff]), saturation_mean)

    def synthesis_covariates(self, network: ObservationRecords
                             ) -> Mapping[str, StencilOperator]:
        """``{"leaf_area_index": ...}``, the mean leaf area index [m2 m-2] over each network
        entry's footprint columns, where the draw depends on the canopy; otherwise none."""
        if not self.section.canopy_dependent:
            return {}
        rows, cols = self.footprint.columns(network.x, network.y)
        return {LAI: grid_average(LAI, rows, cols)}

    def synthetic(self, network: ObservationRecords, truth_hx: np.ndarray, cycle: int,
                  offset: int, time_s: float,
                  covariates: Mapping[str, np.ndarray] | None = None) -> ObservationRecords:
        """The framework's draw (:meth:`ObservationModule.synthetic`), whose noise, where the
        section asks, has the standard deviation ``error * (1 + g * LAI)`` around the truth plus
        ``b * LAI``, clipped to [0, 1], with ``covariates["leaf_area_index"]`` ``(m,)`` the
        truth's leaf area index [m2 m-2] (see the module notes); the recorded error stays
        ``error``.

        Raises
        ------
        ConfigError
            If the draw depends on the canopy and the twin gives no truth leaf area index.
        """
        section = self.section
        if not section.canopy_dependent:
            return super().synthetic(network, truth_hx, cycle, offset, time_s, covariates)
        lai = None if covariates is None else covariates.get(LAI)
        if lai is None:
            raise ConfigError(f"observations[{self.index}].truth_error_growth_per_lai / "
                              "truth_bias_per_lai: this twin gives no truth leaf area index "
                              "(ObservationModule.synthesis_covariates) to draw with")
        lai = np.asarray(lai, dtype=float)
        widened = replace(network, error_std=network.error_std
                          * (1.0 + section.truth_error_growth_per_lai * lai))
        drawn = super().synthetic(widened, np.asarray(truth_hx, dtype=float)
                                  + section.truth_bias_per_lai * lai, cycle, offset, time_s)
        lo, hi = self.valid_range
        return replace(drawn, value=np.clip(drawn.value, lo, hi), error_std=network.error_std)

"""Observation type ``vegetation_optical_depth``: HEY's statistical VOD operator.

An observation at time t [s after the run's start] is compared with

    VOD = VOD_clim + alpha (LAI - LAI_clim) + beta (RZSM - RZSM_clim),
    beta = b0 + b1 LAI + b2 RZSM + b3 RZSM LAI          (HEY Eqs. 1-2)

[1], with LAI [m2 m-2] the derived field ``leaf_area_index`` and RZSM [m3 m-3] the
thickness-weighted water content over ``root_zone_m`` (default [0, 1] m) of the grid column
nearest to it, member by member, and the climatologies those of its cell and date; beta is
evaluated at the member's own LAI and RZSM, so the operator is non-linear in both (a
:class:`~pdafpy.obs.operators.ColumnFunctionOperator` on the stacked fields ``("water_content",
"leaf_area_index")``). The coefficients and climatologies
are the cell's, in the climatology bin (calendar month or day of year) of the observation's
date (``context.start`` + t), read from ``coefficients_file`` (written by ``pdafpy calibrate
vod``: :mod:`models.landda.vod_calibration`, which documents the layout) and handed to the
operator as per-observation ``parameters``.

Stage-1 quality control rejects, on top of the file's flags, observations over bare ground
(``bare_ground``), in cells or bins without a fit (``vod_no_fit``) and in cells whose fit is
poor (``vod_poor_fit``): HEY's rule "R2 <= 0.5 and RMSE >= 0.08" taken literally
(``poor_fit_rule = "and"``; ``"or"`` rejects on either), with the thresholds
``reject_r2_at_most`` and ``reject_rmse_at_least``.

A twin observes every ``spacing_cells``-th grid column that is not bare. Its truth's VOD is made
by another relation than the operator's, ``truth_relation = [c0, c1, c2, c3]``:
VOD = c0 + c1 LAI + c2 RZSM + c3 LAI RZSM, so that a truth pass can make VOD observations before
any coefficient file exists, and the statistical operator, calibrated afterwards on an open loop
against them, is an imperfect one, as with real data. ``coefficients_file`` is needed wherever
observations are compared with the model (every mode but a truth pass).

For vertical localisation (:meth:`VegetationOpticalDepth.vertical_range`) an observation
represents the root zone ``root_zone_m`` (cut at the column's bottom), the depths of the RZSM its
operator reads: neither the surface alone nor no depth at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pdafpy.config import option
from pdafpy.errors import ConfigError, InputFileError
from pdafpy.obs.module import ObservationContext, ObservationModule, nearest_columns
from pdafpy.obs.operators import ColumnFunctionOperator
from pdafpy.obs.records import QC_GOOD, ObservationRecords

from .obs_leaf_area_index import BARE_RULE, bare_columns, vegetated_network
from .obs_satellite_soil_moisture import layer_weights, model_fact
from .observations import LandObservationSection
from .vod_calibration import (CLIMATOLOGIES, COEFFICIENTS, VodCoefficients, climatology_bins,
                              days_of_year, predict_vod, read_coefficients)

__all__ = ["VegetationOpticalDepthSection", "VegetationOpticalDepth", "vod_function",
           "truth_relation_function", "FIELDS", "POOR_FIT_RULES"]

#: The stacked fields the operator reads: the water content's layers, then the LAI.
FIELDS = ("water_content", "leaf_area_index")
POOR_FIT_RULES = ("and", "or")


def vod_function(values: np.ndarray, coeff: np.ndarray, parameters: np.ndarray) -> np.ndarray:
    """The VOD operator on its stencil: ``values`` ``(n_members, m, p + 1)`` the water content
    of ``p`` root-zone layers then the LAI, ``coeff`` ``(m, p + 1)`` the layers' weights
    (summing to 1) then 1, ``parameters`` ``(m, 8)`` alpha, b0 .. b3, VOD_clim, LAI_clim,
    RZSM_clim. Returns ``(n_members, m)`` [1]."""
    p = coeff.shape[1] - 1
    rzsm = np.einsum("kmp,mp->km", values[..., :p], coeff[:, :p])
    return predict_vod(values[..., p], rzsm, *parameters.T)


def truth_relation_function(values: np.ndarray, coeff: np.ndarray,
                            parameters: np.ndarray) -> np.ndarray:
    """A twin's truth relation on the same stencil: ``parameters`` ``(m, 4)`` c0 .. c3,
    VOD = c0 + c1 LAI + c2 RZSM + c3 LAI RZSM [1]."""
    p = coeff.shape[1] - 1
    rzsm = np.einsum("kmp,mp->km", values[..., :p], coeff[:, :p])
    lai = values[..., p]
    c0, c1, c2, c3 = parameters.T
    return c0 + c1 * lai + c2 * rzsm + c3 * lai * rzsm


@dataclass(frozen=True)
class VegetationOpticalDepthSection(LandObservationSection):
    """Vegetation optical depth (``type = "vegetation_optical_depth"``)."""

    type: str = option("vegetation_optical_depth", "observation type")
    error: float = option(0.03, "error standard deviation (HEY: 0.03)", unit="1", minimum=0.0,
                          exclusive_minimum=True)
    coefficients_file: str = option("", "NetCDF of the operator's coefficients and "
                                    "climatologies per cell (pdafpy calibrate vod); needed "
                                    "wherever observations are compared with the model")
    root_zone_m: tuple[float, ...] = option((0.0, 1.0), "[top, bottom]: the depths of the "
                                            "root-zone water content RZSM (the coefficient "
                                            "file's)", unit="m", minimum=0.0)
    reject_r2_at_most: float = option(0.5, "a cell's fit is poor where its R2 is at most this "
                                      "(HEY: 0.5)", maximum=1.0)
    reject_rmse_at_least: float = option(0.08, "... and (poor_fit_rule) its RMSE at least "
                                         "this (HEY: 0.08)", minimum=0.0)
    poor_fit_rule: str = option("and", "how the two poor-fit thresholds combine (HEY: 'and', "
                                "as written)", choices=POOR_FIT_RULES)
    truth_relation: tuple[float, ...] = option((0.05, 0.08, 0.4, 0.2), "twin: [c0, c1, c2, "
                                               "c3] of the truth's VOD = c0 + c1 LAI + c2 RZSM "
                                               "+ c3 LAI RZSM", unit="1, per m2 m-2, per m3 "
                                               "m-3, per m2 m-2 per m3 m-3")
    spacing_cells: int = option(1, "a twin observes every spacing_cells-th grid column in each "
                                "direction (bare ones left out)", minimum=1)

    def check(self, path: str) -> None:
        super().check(path)
        r = self.root_zone_m
        if len(r) != 2 or r[0] >= r[1]:
            raise ConfigError(f"{path}.root_zone_m = {list(r)}: expected [top, bottom] with "
                              "top < bottom")
        if len(self.truth_relation) != 4:
            raise ConfigError(f"{path}.truth_relation = {list(self.truth_relation)}: expected "
                              "[c0, c1, c2, c3]")
        if self.coefficients_file and not Path(self.coefficients_file).is_file():
            raise ConfigError(f"{path}.coefficients_file = {self.coefficients_file!r}: no such "
                              "file (write one with pdafpy calibrate vod)")


class VegetationOpticalDepth(ObservationModule):
    """Observation module of ``vegetation_optical_depth`` (see the module notes).

    Parameters
    ----------
    section : VegetationOpticalDepthSection
    context : ObservationContext
        ``context.model``: ``"interfaces"`` (layer interface depths [m], ``(nz + 1,)``) and
        ``"bare_ground"`` (``(ny, nx)`` bool); ``context.start`` dates the observations.
    index : int

    Attributes
    ----------
    bare_rejected : int
        Observations rejected over bare ground by :meth:`quality_control` so far.
    bare_left_out : int
        Lattice columns :meth:`network` left out as bare (0 before it is called).

    Raises
    ------
    ConfigError
        A missing model fact, no layer in ``root_zone_m``, a coefficient file made with another
        root zone.
    InputFileError
        A coefficient file that cannot be read or is not on the grid.
    """

    name = "vegetation_optical_depth"
    units = "1"
    #: Vegetation optical depth at microwave frequencies.
    valid_range = (0.0, 5.0)
    section_class = VegetationOpticalDepthSection

    def __init__(self, section: VegetationOpticalDepthSection, context: ObservationContext,
                 index: int):
        super().__init__(section, context, index)
        interfaces = model_fact(context, "interfaces", index, self.name,
                                "layer interface depths of the root zone").astype(float)
        self.nz = interfaces.size - 1
        self.layers, weights = layer_weights(interfaces, *section.root_zone_m, key="root_zone_m")
        top, bottom = section.root_zone_m
        self.root_zone = (float(top), float(min(bottom, float(interfaces[-1]))))
        self.weights = weights / weights.sum()
        self.bare = bare_columns(context, index, self.name)
        self.bare_rejected = 0
        self.bare_left_out = 0
        self.coefficients = self._read(section.coefficients_file) \
            if section.coefficients_file else None

    def _read(self, path: str) -> VodCoefficients:
        """The coefficient file, checked against the grid and the root zone."""
        grid = self.context.grid
        c = read_coefficients(path)
        for axis, mine in (("x", grid.x), ("y", grid.y)):
            theirs = getattr(c, axis)
            if theirs.shape != mine.shape or not np.allclose(theirs, mine, rtol=0.0,
                                                             atol=1e-6 * (1 + np.ptp(mine))):
                raise InputFileError(f"{path}: variable {axis!r}: {theirs.size} column centres "
                                     f"that are not the model grid's {mine.size}")
        if not np.allclose(c.root_zone_m, self.section.root_zone_m):
            raise ConfigError(f"observations[{self.index}].root_zone_m = "
                              f"{list(self.section.root_zone_m)}: the coefficient file {path} "
                              f"was fitted with root_zone_m = {list(c.root_zone_m)}")
        return c

    def _fit(self) -> VodCoefficients:
        if self.coefficients is None:
            raise ConfigError(f"observations[{self.index}].coefficients_file: required to "
                              "compare VOD with the model (write one with pdafpy calibrate "
                              "vod from an open loop and VOD observations)")
        return self.coefficients

    def parameters(self, records: ObservationRecords) -> np.ndarray:
        """``(m, 8)``: alpha, b0 .. b3 and VOD_clim, LAI_clim, RZSM_clim at each observation's
        nearest column and its date's climatology bin (NaN where there is no fit)."""
        c = self._fit()
        rows, cols = nearest_columns(self.context.grid, records.x, records.y)
        which = climatology_bins(days_of_year(self.context.start, records.time), c.bins)
        per_cell = [getattr(c, name)[rows, cols] for name in COEFFICIENTS]
        per_bin = [getattr(c, name)[which, rows, cols] for name in CLIMATOLOGIES]
        return np.column_stack(per_cell + per_bin) if records.size else np.zeros((0, 8))

    def network(self) -> ObservationRecords:
        """The vegetated lattice columns
        (:func:`~models.landda.obs_leaf_area_index.vegetated_network`)."""
        records, self.bare_left_out = vegetated_network(self, self.bare)
        return records

    def quality_control(self, records: ObservationRecords) -> ObservationRecords:
        """The file's flags; then rejected: bare ground (``bare_ground``), no fit in the cell or
        bin (``vod_no_fit``), a poor fit (``vod_poor_fit``)."""
        records = super().quality_control(records)
        c = self._fit()
        rows, cols = nearest_columns(self.context.grid, records.x, records.y)
        bare = self.bare[rows, cols] & (records.qc == QC_GOOD)
        self.bare_rejected += int(bare.sum())
        records = records.reject(bare, BARE_RULE)
        records = records.reject(~np.isfinite(self.parameters(records)).all(axis=1)
                                 | ~np.isfinite(c.r2[rows, cols])
                                 | ~np.isfinite(c.rmse[rows, cols]), "vod_no_fit")
        low_r2 = c.r2[rows, cols] <= self.section.reject_r2_at_most
        high_rmse = c.rmse[rows, cols] >= self.section.reject_rmse_at_least
        poor = low_r2 & high_rmse if self.section.poor_fit_rule == "and" else low_r2 | high_rmse
        return records.reject(poor, "vod_poor_fit")

    def _stencil(self, records: ObservationRecords, function, parameters: np.ndarray
                 ) -> ColumnFunctionOperator:
        """The operator reading the root-zone layers and the LAI of each observation's nearest
        column."""
        rows, cols = nearest_columns(self.context.grid, records.x, records.y)
        m, p = records.size, self.layers.size
        level = np.broadcast_to(np.append(self.layers, self.nz), (m, p + 1)).copy()
        coeff = np.broadcast_to(np.append(self.weights, 1.0), (m, p + 1)).copy()
        return ColumnFunctionOperator(FIELDS, level, np.repeat(rows[:, None], p + 1, axis=1),
                                      np.repeat(cols[:, None], p + 1, axis=1), coeff, function,
                                      np.asarray(parameters, dtype=float))

    def vertical_range(self, records: ObservationRecords) -> np.ndarray:
        """``(m, 2)``: every observation represents the root zone ``root_zone_m`` [m], cut at
        the column's bottom."""
        return np.tile(self.root_zone, (records.size, 1))

    def operator(self, records: ObservationRecords) -> ColumnFunctionOperator:
        """HEY's VOD [1] of each observation (see the module notes)."""
        return self._stencil(records, vod_function, self.parameters(records))

    def synthesis_operator(self, network: ObservationRecords) -> ColumnFunctionOperator:
        """A twin's truth VOD [1] by ``truth_relation`` (see the module notes)."""
        return self._stencil(network, truth_relation_function,
                             np.tile(self.section.truth_relation, (network.size, 1)))

"""Stage-2 quality control, groundwater levels as hydrostatic pseudo-observations, the median of
wells per column, and the rejections in the observation-space diagnostics file."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from pdafpy.decomposition import Box
from pdafpy.errors import ConfigError
from pdafpy.localize import Localization
from pdafpy.model import Grid
from pdafpy.obs.module import ObservationContext
from pdafpy.obs.records import QC_GOOD, QC_REJECTED, QC_WITHHELD, ObservationRecords

from models.landda.analysis_plan import analysis_plan
from models.landda.obs_groundwater_level import (GroundwaterLevel, GroundwaterLevelSection,
                                                 median_per_column)
from models.landda.obs_surface_soil_moisture import SurfaceSoilMoistureSection
from models.landda.qc_rules import check_rules, state_rules

GRID = Grid.uniform(4, 5, dy=100.0, dx=100.0)
INTERFACES = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 5.0])         # centres 0.25 .. 4.0 m
CENTRES = 0.5 * (INTERFACES[:-1] + INTERFACES[1:])
LOC = Localization.from_pdaf(300.0, 300.0, 2)


def forecast_of(fields: dict[str, np.ndarray]):
    """``forecast(op)`` on member fields ``{name: (N, levels, ny, nx)}`` covering the grid."""
    def forecast(op):
        names = (op.field,) if isinstance(op.field, str) else op.field
        stack = np.concatenate([fields[n] for n in names], axis=1)
        return op.apply(stack, Box(0, GRID.ny, 0, GRID.nx))
    return forecast


def columns(rows, cols, value=0.3, time=0.0, type_name="surface_soil_moisture", qc=QC_GOOD):
    return ObservationRecords.build(time, GRID.x[np.asarray(cols)], GRID.y[np.asarray(rows)],
                                    value, 0.04, type_name, qc=qc)


def test_every_stage_two_rule_rejects_what_its_condition_holds_for_and_names_itself(tmp_path):
    import netCDF4

    mask_file = tmp_path / "rivers.nc"
    with netCDF4.Dataset(mask_file, "w") as ds:
        ds.createDimension("y", GRID.ny)
        ds.createDimension("x", GRID.nx)
        ds.createVariable("mask", "i1", ("y", "x"))[:] = np.eye(GRID.ny, GRID.nx)
    section = SurfaceSoilMoistureSection(
        reject_snow_swe_mm=1.0, reject_rain_mm_h=0.0108, reject_lai_above=3.0,
        reject_relative_saturation=(0.05, 0.95), static_mask_file=str(mask_file))
    shape = (3, 1, GRID.ny, GRID.nx)
    swe, lai, theta = np.zeros(shape), np.ones(shape), np.full((3, 2, GRID.ny, GRID.nx), 0.25)
    swe[:, :, 0, 1] = 5.0                                   # snow at (0, 1)
    lai[:, :, 1, 2] = 4.0                                   # dense canopy at (1, 2)
    theta[:, 0, 2, 3] = 0.06                                # near theta_r = 0.05 at (2, 3)
    theta[:, 0, 3, 4] = 0.44                                # near theta_s = 0.45 at (3, 4)
    rain = np.zeros((GRID.ny, GRID.nx))
    rain[3, 0] = 0.02 / 3600.0                              # 0.02 mm/h at (3, 0) [kg m-2 s-1]
    soil = {"theta_r": np.full((2, 1, 1), 0.05), "theta_s": np.full((2, 1, 1), 0.45)}
    rules = state_rules(section, GRID, soil, lambda t: rain)
    rows, cols = [0, 0, 1, 2, 3, 3, 2, 1], [1, 3, 2, 3, 4, 0, 2, 1]
    records = columns(rows, cols)
    forecast = forecast_of({"swe": swe, "leaf_area_index": lai, "water_content": theta})
    for rule in rules:
        records = rule(records, forecast)
    assert records.rejected_by.tolist() == ["snow", "", "dense_vegetation", "near_wilting",
                                            "near_saturation", "rain", "static_mask",
                                            "static_mask"]
    assert records.qc.tolist() == [QC_REJECTED] * 1 + [QC_GOOD] + [QC_REJECTED] * 6


def test_rules_leave_withheld_and_already_rejected_records_alone():
    section = SurfaceSoilMoistureSection(reject_snow_swe_mm=1.0)
    (rule,) = state_rules(section, GRID)
    records = columns([0, 0], [1, 1], qc=[QC_WITHHELD, QC_REJECTED])
    out = rule(records, forecast_of({"swe": np.full((2, 1, GRID.ny, GRID.nx), 9.0)}))
    assert out.qc.tolist() == [QC_WITHHELD, QC_REJECTED] and out.rejected_by.tolist() == ["", ""]


def test_frozen_soil_is_refused_without_a_soil_temperature():
    with pytest.raises(ConfigError, match=r"observations\[0\].reject_frozen_soil = true: the "
                       "land model has no soil temperature"):
        check_rules(SurfaceSoilMoistureSection(reject_frozen_soil=True), "observations[0]",
                    ["pressure_head", "water_content"])
    check_rules(SurfaceSoilMoistureSection(reject_frozen_soil=True), "observations[0]",
                ["pressure_head", "soil_temperature"])


def test_wells_in_one_column_are_replaced_by_their_median():
    records = ObservationRecords.build(
        [0, 0, 0, 0, 0, 3600.0], GRID.x[[1, 1, 1, 2, 2, 1]], GRID.y[[0, 0, 0, 3, 3, 0]],
        [2.0, 1.0, 4.0, 3.0, 5.0, 7.0], 0.1, "groundwater_level")
    out = median_per_column(records, GRID)
    good = out.qc == QC_GOOD
    assert sorted(out.value[good].tolist()) == [2.0, 4.0, 7.0]      # medians 2, (3+5)/2, 7
    assert (out.rejected_by == "merged_in_column").sum() == 3


def well_module(**keys) -> GroundwaterLevel:
    context = ObservationContext(GRID, (), 3, LOC, {"interfaces": INTERFACES})
    return GroundwaterLevel(GroundwaterLevelSection(form="hydrostatic_head", **keys), context, 0)


@pytest.mark.parametrize("zone,pseudo,expected_levels", [
    ("shallowest", "every_saturated_cell", [[1, 2, 3, 4], [3, 4]]),
    ("deepest", "every_saturated_cell", [[2, 3, 4], [4]]),
    ("shallowest", "first_saturated_cell", [[1], [3]]),
])
def test_hydrostatic_pseudo_observations_follow_psi_equals_z_minus_the_observed_depth(
        zone, pseudo, expected_levels):
    module = well_module(saturated_zone=zone, pseudo_observations=pseudo)
    wells = ObservationRecords.build(0.0, GRID.x[[1, 3]], GRID.y[[2, 0]], [1.2, 2.8], 0.1,
                                     "groundwater_level", station=["a", "b"])
    table = np.zeros((3, 1, GRID.ny, GRID.nx))
    table[:, 0, 2, 1] = [0.6, 0.8, 0.9]      # the ensemble's water tables at well a [m]
    table[:, 0, 0, 3] = [2.5, 2.2, 3.2]      # at well b
    out = module.screen(wells, forecast_of({"water_table_depth": table}))
    for station, levels, observed in zip("ab", expected_levels, (1.2, 2.8)):
        mine = out.station == station
        np.testing.assert_allclose(out.depth[mine], CENTRES[levels])
        np.testing.assert_allclose(out.value[mine], CENTRES[levels] - observed)
    op = module.operator(out)
    assert op.field == ("pressure_head", "water_table_depth")
    np.testing.assert_array_equal(op.level[:, 0], np.concatenate(expected_levels))
    head = np.arange(5.0).reshape(1, 5, 1, 1) * np.ones((1, 5, GRID.ny, GRID.nx))
    hx = op.apply(np.concatenate([head, table[:1]], axis=1), Box(0, GRID.ny, 0, GRID.nx))
    np.testing.assert_array_equal(hx[0], np.concatenate(expected_levels))


def test_hydrostatic_wells_stop_at_their_screen_and_without_saturated_cells_are_flagged():
    module = well_module()
    wells = ObservationRecords.build(0.0, GRID.x[[1, 3]], GRID.y[[2, 0]], [1.2, 2.8], 0.1,
                                     "groundwater_level", depth=[2.4, 2.0], station=["a", "b"],
                                     qc=[QC_GOOD, QC_GOOD])
    table = np.full((2, 1, GRID.ny, GRID.nx), 0.6)
    table[:, 0, 0, 3] = 4.5                              # below every centre at well b
    out = module.screen(wells, forecast_of({"water_table_depth": table}))
    np.testing.assert_allclose(out.depth[out.qc == QC_GOOD], CENTRES[[1, 2]])   # to 2.4 m
    assert out.rejected_by[out.station == "b"].tolist() == ["no_saturated_cell"]
    assert module.synthesis_operator(wells).field == "water_table_depth"


def test_a_land_type_can_update_the_leaf_state_without_the_soil():
    lai_like = replace(SurfaceSoilMoistureSection(), update_soil=False,
                       update_land_state=("leaf_biomass",))
    soil = SurfaceSoilMoistureSection()
    parts = analysis_plan([lai_like, soil], INTERFACES, [0, 1],
                          ["pressure_head", "leaf_biomass", "water_content",
                           "water_table_depth"])
    assert [p.fields for p in parts] == [("leaf_biomass",),
                                         ("pressure_head", "water_content", "water_table_depth")]


def test_the_diagnostics_file_names_the_rule_that_rejected_each_observation(tmp_path):
    from pdafpy.obs.diagnostics_file import ObservationDiagnosticsWriter
    from pdafpy.segments import open_output

    records = columns([0, 1], [0, 1]).reject(np.array([False, True]), "snow")
    writer = ObservationDiagnosticsWriter(tmp_path / "observations.nc", "2020-01-01T00:00:00",
                                          {"surface_soil_moisture": "m3 m-3"})
    writer.write_diagnostics(records, np.zeros(2), np.zeros(2))
    writer.close()
    with open_output(tmp_path / "observations.nc") as ds:
        assert list(ds["rejected_by"][:]) == ["", "snow"]
        assert ds["qc"][:].tolist() == [QC_GOOD, QC_REJECTED]


def test_a_static_mask_of_another_shape_than_the_grid_is_refused_in_one_line(tmp_path):
    import netCDF4

    from pdafpy.errors import InputFileError

    path = tmp_path / "mask.nc"
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("y", 2)
        ds.createDimension("x", 2)
        ds.createVariable("mask", "i1", ("y", "x"))[:] = 1
    with pytest.raises(InputFileError, match=r"mask.nc: variable 'mask' has shape \(2, 2\), "
                       r"expected the grid's \(4, 5\)"):
        state_rules(SurfaceSoilMoistureSection(static_mask_file=str(path)), GRID)


def test_a_vod_type_without_coefficients_is_refused_where_the_model_is_compared_with_it():
    from models.landda.setup import load

    table = {"observations": [{"type": "vegetation_optical_depth", "interval_h": 24.0}]}
    with pytest.raises(ConfigError, match=r"observations\[0\].coefficients_file: type "
                       "'vegetation_optical_depth' needs its operator's coefficients"):
        load(table)
    load(dict(table, mode="truth"))                     # a truth pass draws it without them


def test_a_type_that_cannot_work_on_the_grid_is_refused_before_any_model_work(tmp_path,
                                                                              capsys):
    from pdafpy.run import main

    path = tmp_path / "ease2.toml"
    path.write_text('[[observations]]\ntype = "satellite_soil_moisture"\nfootprint = "ease2"\n'
                    'interval_h = 24.0\n')
    assert main([str(path), "--check"]) == 2
    err = capsys.readouterr().err
    assert "footprint = 'ease2': the grid has no CRS" in err and "\n" not in err.strip()

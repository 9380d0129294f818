"""The land observation types as observation modules: registration, their own keys, and
operators rebuilt from the records' coordinates equal to the footprint and well construction."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from models.landda.obs_groundwater_level import (GroundwaterLevel, GroundwaterLevelSection,
                                                 wells)
from models.landda.obs_surface_soil_moisture import (SurfaceSoilMoisture,
                                                     SurfaceSoilMoistureSection)
from models.landda.observations import LandObservationSection
from pdafpy.config import parse_section
from pdafpy.errors import ConfigError
from pdafpy.experiment_config import ObservationSection
from pdafpy.localize import Localization
from pdafpy.model import Grid
from pdafpy.obs.module import ObservationContext, build_modules, observation_module
from pdafpy.obs.records import QC_GOOD, QC_WITHHELD

GRID = Grid.uniform(6, 8, dy=500.0, dx=500.0)
INTERFACES = np.array([0.0, 0.05, 0.15, 0.45])           # layers 5, 10 and 30 cm thick
LOC = Localization.from_pdaf(1500.0, 1500.0, "gaspari_cohn")


def modules(*sections, seed: int = 3, model=None):
    context = ObservationContext(GRID, (), seed, LOC,
                                 {"interfaces": INTERFACES} if model is None else model)
    return build_modules(sections, context)


def test_the_land_types_are_registered_with_their_units():
    assert observation_module("surface_soil_moisture") is SurfaceSoilMoisture
    assert observation_module("groundwater_level") is GroundwaterLevel
    assert SurfaceSoilMoisture.units == "m3 m-3" and GroundwaterLevel.units == "m"
    soil, well = ObservationSection.resolve({"type": "surface_soil_moisture"}, "o"), \
        ObservationSection.resolve({"type": "groundwater_level"}, "o")
    assert soil is SurfaceSoilMoistureSection and well is GroundwaterLevelSection
    assert issubclass(soil, LandObservationSection) and issubclass(well, LandObservationSection)


def test_each_type_takes_only_its_own_keys():
    with pytest.raises(ConfigError, match=r"observations\.count: unknown key"):
        parse_section(SurfaceSoilMoistureSection, {"count": 9}, "observations")
    for key in ("footprint_cells", "depth_m"):
        with pytest.raises(ConfigError, match=rf"observations\.{key}: unknown key"):
            parse_section(GroundwaterLevelSection, {key: 2}, "observations")
    with pytest.raises(ConfigError, match=r"observations\.count = 0: must be >= 1"):
        parse_section(GroundwaterLevelSection, {"count": 0}, "observations")
    with pytest.raises(ConfigError, match=r"observations\.update_depth_m = \[1\.0, 0\.5\]"):
        parse_section(GroundwaterLevelSection, {"update_depth_m": [1.0, 0.5]}, "observations")
    with pytest.raises(ConfigError, match=r"observations\.window_h = 48\.0: longer than"):
        parse_section(SurfaceSoilMoistureSection, {"window_h": 48.0}, "observations")


def test_a_two_cell_footprint_is_the_thickness_weighted_mean_of_its_columns():
    # depth 8 cm: layer 0 counts 5 cm, layer 1 3 cm, over 2 x 2 columns: 0.05 / (4 x 0.08)
    # = 0.15625 and 0.03 / 0.32 = 0.09375 per point
    (soil,) = modules(SurfaceSoilMoistureSection(footprint_cells=2, depth_m=0.08))
    network = soil.network()
    assert network.size == 3 * 4 and np.all(network.qc == QC_GOOD)
    np.testing.assert_array_equal(network.x[:4], [250.0, 1250.0, 2250.0, 3250.0])
    np.testing.assert_array_equal(network.y[::4], [250.0, 1250.0, 2250.0])
    op = soil.operator(network)
    assert op.field == "water_content" and op.coeff.shape == (12, 8)
    np.testing.assert_array_equal(op.level[5], [0, 1] * 4)
    np.testing.assert_array_equal(op.row[5], [2, 2, 2, 2, 3, 3, 3, 3])      # tile (2, 2)
    np.testing.assert_array_equal(op.col[5], [2, 2, 3, 3, 2, 2, 3, 3])
    np.testing.assert_allclose(op.coeff, np.tile([0.15625, 0.09375], (12, 4)), rtol=1e-15)


def test_an_observation_anywhere_in_a_footprint_reads_that_footprint():
    (soil,) = modules(SurfaceSoilMoistureSection(footprint_cells=3, depth_m=0.05))
    network = soil.network()
    inside = network.subset(np.array([0, 2, 5]))
    moved = replace(inside, x=inside.x + [-490.0, 240.0, 0.0], y=inside.y + [-490.0, 0.0, 740.0])
    for a, b in zip((soil.operator(moved), soil.operator(inside)),
                    (soil.operator(inside), soil.operator(network).subset([0, 2, 5]))):
        for name in ("level", "row", "col", "coeff"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_wells_are_read_at_their_grid_columns():
    (well,) = modules(GroundwaterLevelSection(count=7, withheld_fraction=0.3), seed=5)
    network = well.network()
    rows, cols = wells(GRID, 7, 5)
    np.testing.assert_array_equal(network.x, GRID.x[cols])
    np.testing.assert_array_equal(network.y, GRID.y[rows])
    assert np.count_nonzero(network.qc == QC_WITHHELD) == 2                # round(0.3 x 7)
    op = well.operator(network)
    assert op.field == "water_table_depth"
    np.testing.assert_array_equal(op.row[:, 0], rows)
    np.testing.assert_array_equal(op.col[:, 0], cols)
    np.testing.assert_array_equal(op.coeff, np.ones((7, 1)))
    kept = well.observation_type(replace(network, value=np.full(7, 2.0)))
    assert kept.value.size == 5
    np.testing.assert_array_equal(kept.operator.col[:, 0], cols[network.qc == QC_GOOD])


def test_withheld_footprints_are_drawn_like_withheld_wells():
    (soil,) = modules(SurfaceSoilMoistureSection(footprint_cells=2, withheld_fraction=0.25))
    assert np.count_nonzero(soil.network().qc == QC_WITHHELD) == 3           # of 12


def test_surface_soil_moisture_needs_layers():
    with pytest.raises(ConfigError, match=r"observations\[0\]\.type = 'surface_soil_moisture': "
                                          "the model gives no layer interface depths"):
        modules(SurfaceSoilMoistureSection(), model={})
    with pytest.raises(ConfigError, match="more wells than the 48 grid columns"):
        modules(GroundwaterLevelSection(count=49))[0].network()


def test_values_outside_a_types_valid_range_are_refused_naming_the_first():
    from pdafpy.errors import InputFileError
    from pdafpy.obs.module import check_valid_ranges, observation_module
    from pdafpy.obs.records import ObservationRecords

    sm, wells = observation_module("surface_soil_moisture"), observation_module(
        "groundwater_level")
    records = ObservationRecords.build(
        0.0, [0.0] * 4, [0.0] * 4, [0.3, 7.0, 2.5, 30.0], 0.05,
        ["surface_soil_moisture", "surface_soil_moisture", "groundwater_level",
         "groundwater_level"])
    with pytest.raises(InputFileError) as info:
        check_valid_ranges(records, [sm, wells], "obs.nc")
    assert str(info.value) == ("obs.nc: variable 'value': 7 m3 m-3 (obs index 1, type "
                               "'surface_soil_moisture') is outside the valid range [0, 1] "
                               "m3 m-3 (1 outside)")
    check_valid_ranges(records.subset(np.array([0, 2, 3])), [sm, wells], "obs.nc")
    with pytest.raises(InputFileError, match="obs index 0, type 'groundwater_level'"):
        check_valid_ranges(ObservationRecords.build(0.0, 0.0, 0.0, -150.0, 0.1,
                                                    "groundwater_level"), [wells], "obs.nc")

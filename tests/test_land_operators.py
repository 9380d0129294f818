"""The land observation operators against closed forms on constructed fields: satellite soil
moisture (depth ranges, footprints, saturation space), CRNS (TSMP-PDAF's iterated depth
weighting), leaf area index (identity, bare ground), VOD (HEY's composition, its calibration),
and the EASE-2 grids against their published definitions. Every operator is applied to several
members ((n_members, m) results) and to a subset of its observations."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from scipy.optimize import brentq

from models.landda import ease2
from models.landda.obs_crns import CRNSSection, CRNSSoilMoisture, _weights, penetration_depth
from models.landda.obs_crns import d86, penetration_depth_d86
from models.landda.obs_groundwater_level import wells
from models.landda.obs_leaf_area_index import LeafAreaIndex, LeafAreaIndexSection
from models.landda.obs_satellite_soil_moisture import (SatelliteSoilMoisture,
                                                       SatelliteSoilMoistureSection,
                                                       layer_weights)
from models.landda.obs_vod import VegetationOpticalDepth, VegetationOpticalDepthSection
from models.landda.observations import LandObservationSection
from models.landda.vod_calibration import (VodCoefficients, climatology_bins, days_of_year,
                                           fit_vod_operator, main, predict_vod,
                                           read_coefficients, write_coefficients)
from pdafpy.config import parse_section
from pdafpy.decomposition import Box
from pdafpy.errors import ConfigError, InputFileError
from pdafpy.experiment_config import ObservationSection
from pdafpy.localize import Localization
from pdafpy.model import FieldSpec, Grid
from pdafpy.obs.module import ObservationContext, check_valid_ranges, observation_module
from pdafpy.obs.records import QC_GOOD, QC_REJECTED, QC_WITHHELD, ObservationRecords

GRID = Grid.uniform(6, 8, dy=500.0, dx=500.0)
BOX = Box(0, 6, 0, 8)
INTERFACES = np.array([0.0, 0.05, 0.15, 0.45, 1.0])       # layers 5, 10, 30 and 55 cm thick
NZ = INTERFACES.size - 1
LOC = Localization.from_pdaf(1500.0, 1500.0, "gaspari_cohn")
START = "2020-05-01T00:00:00"
RNG = np.random.default_rng(7)
THETA = 0.1 + 0.3 * RNG.random((3, NZ, GRID.ny, GRID.nx))  # 3 members' water content
TYPES = {"satellite_soil_moisture": (SatelliteSoilMoisture, SatelliteSoilMoistureSection),
         "crns_soil_moisture": (CRNSSoilMoisture, CRNSSection),
         "leaf_area_index": (LeafAreaIndex, LeafAreaIndexSection),
         "vegetation_optical_depth": (VegetationOpticalDepth, VegetationOpticalDepthSection)}


def build(section, grid=GRID, fields=(), **model):
    facts = {"interfaces": INTERFACES, "bare_ground": np.zeros((grid.ny, grid.nx), bool)}
    facts.update(model)
    context = ObservationContext(grid, tuple(fields), 3, LOC,
                                 {k: v for k, v in facts.items() if v is not None}, START)
    return observation_module(section.type)(section, context, 0)


def records(x, y, name, time=0.0):
    return ObservationRecords.build(time, x, y, 0.3, 0.04, name)


def applied(op, field, box=BOX):
    """The operator on every member, checked against the operator of a subset of its
    observations."""
    hx = op.apply(field, box)
    assert hx.shape == (field.shape[0], op.size)
    if op.size > 1:
        pick = np.arange(op.size)[::-2]
        np.testing.assert_allclose(op.subset(pick).apply(field, box), hx[:, pick], rtol=1e-14)
    return hx


def test_the_four_types_are_registered_with_land_sections():
    for name, (module, section) in TYPES.items():
        assert observation_module(name) is module and module.section_class is section
        assert ObservationSection.resolve({"type": name}, "o") is section
        assert issubclass(section, LandObservationSection)


@pytest.mark.parametrize("name, table, message", [
    ("satellite_soil_moisture", {"depth_range_m": [0.1, 0.05]}, r"depth_range_m = \[0\.1"),
    ("satellite_soil_moisture", {"footprint": "radius"}, r"footprint_radius_m: required"),
    ("satellite_soil_moisture", {"footprint_radius_m": 900.0}, r"footprint_radius_m = 900\.0:"),
    ("satellite_soil_moisture", {"ease2_resolution_km": 12}, r"ease2_resolution_km"),
    ("crns_soil_moisture", {"depth_tolerance": 0.0}, r"depth_tolerance = 0\.0"),
    ("vegetation_optical_depth", {"root_zone_m": [1.0]}, r"root_zone_m = \[1\.0\]"),
    ("vegetation_optical_depth", {"truth_relation": [0.1, 0.2]}, r"truth_relation = "),
    ("vegetation_optical_depth", {"coefficients_file": "nowhere.nc"}, r"coefficients_file = "),
    ("vegetation_optical_depth", {"poor_fit_rule": "xor"}, r"poor_fit_rule"),
])
def test_inconsistent_keys_are_refused_naming_the_key(name, table, message):
    with pytest.raises(ConfigError, match=r"observations\." + message):
        parse_section(TYPES[name][1], table, "observations")


# ------------------------------------------------------------------------ satellite soil moisture


def test_layer_weights_count_the_part_of_each_layer_inside_the_range():
    for (top, bottom), layers, weights in (((0.0, 0.05), [0], [0.05]),
                                           ((0.1, 0.3), [1, 2], [0.05, 0.15]),
                                           ((0.4, 2.0), [2, 3], [0.05, 0.55])):
        got_layers, got_weights = layer_weights(INTERFACES, top, bottom)
        np.testing.assert_array_equal(got_layers, layers)
        np.testing.assert_allclose(got_weights, weights, rtol=1e-12)
    with pytest.raises(ConfigError, match=r"depth_range_m = \[1\.5, 2\]: no soil layer"):
        layer_weights(INTERFACES, 1.5, 2.0)


def test_a_depth_range_is_the_thickness_weighted_mean_at_the_nearest_column():
    # [0.02, 0.3]: layer 0 counts 3 cm, layer 1 10 cm, layer 2 15 cm
    sm = build(SatelliteSoilMoistureSection(depth_range_m=(0.02, 0.3)))
    x, y = np.array([10.0, 1240.0, 3400.0]), np.array([0.0, 760.0, 2600.0])
    hx = applied(sm.operator(records(x, y, sm.name)), THETA)
    rows, cols = np.array([0, 2, 5]), np.array([0, 2, 7])
    w = np.array([0.03, 0.10, 0.15])
    np.testing.assert_allclose(hx, (THETA[:, :3, rows, cols] * w[None, :, None]).sum(1) / 0.28,
                               rtol=1e-14)


def test_a_radius_footprint_averages_the_columns_whose_centres_lie_within_it():
    sm = build(SatelliteSoilMoistureSection(footprint="radius", footprint_radius_m=600.0))
    x, y = np.array([1500.0, 0.0, 1700.0, 3500.0]), np.array([1000.0, 0.0, 1250.0, 2500.0])
    hx = applied(sm.operator(records(x, y, sm.name)), THETA)
    top = THETA[:, 0]                                            # depth 0-5 cm: layer 0
    xx, yy = np.meshgrid(GRID.x, GRID.y)
    for i in range(x.size):                                      # every column, by distance
        inside = np.hypot(xx - x[i], yy - y[i]) <= 600.0
        np.testing.assert_allclose(hx[:, i], top[:, inside].mean(axis=1), rtol=1e-14)
    # a cross of 5 inside, 3 at a corner (cut by the edges, renormalised), the 2 x 2 block
    # around a point between four centres, 3 at the far corner
    assert [int((np.hypot(xx - a, yy - b) <= 600.0).sum()) for a, b in zip(x, y)] == [5, 3, 4, 3]
    tiny = build(SatelliteSoilMoistureSection(footprint="radius", footprint_radius_m=100.0))
    op = tiny.operator(records([1250.0], [1250.0], sm.name))     # none within: the nearest
    np.testing.assert_allclose(applied(op, THETA)[:, 0], top[:, 2, 2], rtol=1e-14)


UTM = Grid(12, 12, 500500.0 + 1000.0 * np.arange(12), 5600500.0 + 1000.0 * np.arange(12),
           crs="EPSG:32632")                                     # 1 km columns near 50.6 N, 9 E


def _ease2_cells_by_hand(x, y, cell_m=9008.055210146, x0=-17367530.4451615,
                         y0=7314540.8306386):
    """EASE-2 (row, col) of UTM points, from the published 9 km grid constants."""
    from pyproj import Transformer

    ex, ey = Transformer.from_crs("EPSG:32632", "EPSG:6933", always_xy=True).transform(x, y)
    return np.floor((y0 - np.asarray(ey)) / cell_m), np.floor((np.asarray(ex) - x0) / cell_m)


def test_an_ease2_footprint_averages_the_columns_in_the_observations_cell():
    sm = build(SatelliteSoilMoistureSection(footprint="ease2", ease2_resolution_km=9),
               grid=UTM)
    theta = 0.1 + 0.3 * RNG.random((2, NZ, 12, 12))
    xx, yy = np.meshgrid(UTM.x, UTM.y)
    column_cells = np.stack(_ease2_cells_by_hand(xx.ravel(), yy.ravel()), axis=1)
    x = np.array([500000.0, 504321.0, 511900.0, 507000.0])
    y = np.array([5600000.0, 5606789.0, 5611900.0, 5600100.0])
    hx = applied(sm.operator(records(x, y, sm.name)), theta, Box(0, 12, 0, 12))
    obs_cells = np.stack(_ease2_cells_by_hand(x, y), axis=1)
    for i in range(x.size):
        members = (column_cells == obs_cells[i]).all(axis=1)
        assert members.any()
        np.testing.assert_allclose(hx[:, i], theta[:, 0].reshape(2, -1)[:, members].mean(1),
                                   rtol=1e-14)
    distinct = np.unique(column_cells, axis=0)      # a twin: the cell centres inside the grid
    cx = -17367530.4451615 + (distinct[:, 1] + 0.5) * 9008.055210146
    cy = 7314540.8306386 - (distinct[:, 0] + 0.5) * 9008.055210146
    from pyproj import Transformer

    gx, gy = Transformer.from_crs("EPSG:6933", "EPSG:32632", always_xy=True).transform(cx, cy)
    inside = (gx >= 500000.0) & (gx <= 512000.0) & (gy >= 5600000.0) & (gy <= 5612000.0)
    network = sm.network()
    assert 0 < network.size == inside.sum() < distinct.shape[0]
    order = np.lexsort((network.x, network.y))
    expected = np.lexsort((gx[inside], gy[inside]))
    np.testing.assert_allclose(network.x[order], gx[inside][expected], atol=1e-6)
    np.testing.assert_allclose(network.y[order], gy[inside][expected], atol=1e-6)
    with pytest.raises(ConfigError, match="footprint = 'ease2': the grid has no CRS"):
        build(SatelliteSoilMoistureSection(footprint="ease2"))


def test_saturation_space_divides_by_the_configured_or_each_members_porosity():
    theta_s = 0.4 + 0.01 * np.arange(NZ)[:, None, None] + 0.002 * np.arange(GRID.nx)
    section = SatelliteSoilMoistureSection(depth_range_m=(0.0, 0.1),
                                           units_space="saturation", error=0.05)
    linear = build(section, theta_s=theta_s)
    assert linear.units == "1" and SatelliteSoilMoisture.units == "m3 m-3"
    x, y = GRID.x[[1, 6]], GRID.y[[0, 4]]
    op = linear.operator(records(x, y, linear.name))
    assert op.field == "water_content" and type(op).__name__ == "StencilOperator"
    ratio = THETA[:, :2] / theta_s[:2]                           # layers 0 (5 cm), 1 (5 of 10)
    expected = 0.5 * (ratio[:, 0] + ratio[:, 1])[:, [0, 4], [1, 6]]
    np.testing.assert_allclose(applied(op, THETA), expected, rtol=1e-14)
    porosity = 0.38 + 0.1 * RNG.random(THETA.shape)              # each member's own
    fields = (FieldSpec("water_content", NZ), FieldSpec("porosity", NZ, "m3 m-3", "parameter"))
    member = build(section, fields=fields)
    op = member.operator(records(x, y, member.name))
    assert op.field == ("water_content", "porosity")
    ratio = THETA[:, :2] / porosity[:, :2]
    np.testing.assert_allclose(applied(op, np.concatenate([THETA, porosity], axis=1)),
                               0.5 * (ratio[:, 0] + ratio[:, 1])[:, [0, 4], [1, 6]], rtol=1e-14)
    with pytest.raises(ConfigError, match=r"the model gives no 'theta_s'"):
        build(section)
    check_valid_ranges(ObservationRecords.build(0.0, [0.0], [0.0], 0.5, 0.05, linear.name),
                       [linear], "f.nc")


def test_a_lattice_network_withholds_as_the_other_types():
    sm = build(SatelliteSoilMoistureSection(spacing_cells=3, withheld_fraction=0.25))
    network = sm.network()
    np.testing.assert_array_equal(network.x, np.tile(GRID.x[[0, 3, 6]], 2))
    np.testing.assert_array_equal(network.y, np.repeat(GRID.y[[0, 3]], 3))
    assert np.count_nonzero(network.qc == QC_WITHHELD) == 2      # round(0.25 x 6)


# ------------------------------------------------------------------------------------- CRNS


def test_crns_on_a_uniform_profile_is_that_water_content_at_the_closed_form_depth():
    theta = np.array([0.05, 0.25, 0.45])[:, None] * np.ones(NZ)
    theta_bar, depth, iterations = penetration_depth(theta, INTERFACES)
    np.testing.assert_allclose(theta_bar, [0.05, 0.25, 0.45], rtol=1e-15)
    np.testing.assert_allclose(depth, 0.058 / (np.array([0.05, 0.25, 0.45]) + 0.0829),
                               rtol=1e-15)
    np.testing.assert_array_equal(iterations, 1)


TWO_LAYERS = np.array([0.0, 0.1, 1.0])
PROFILE = np.array([0.10, 0.35])


def _two_layer_map(t):
    """One weighting of the two-layer profile by hand (D lies in the second layer)."""
    d = 0.058 / (t + 0.0829)
    w1 = 0.1 - 0.1 ** 2 / (2 * d)
    w2 = (d - 0.1) - (d * d - 0.1 ** 2) / (2 * d)
    return (w1 * PROFILE[0] + w2 * PROFILE[1]) / (w1 + w2)


def test_crns_on_two_layers_reaches_the_fixed_point_solved_independently():
    start = 0.1 * 0.10 + 0.9 * 0.35                               # the thickness-weighted mean
    first = penetration_depth(PROFILE, TWO_LAYERS, 0.01, max_iter=1)
    np.testing.assert_allclose(first[0], _two_layer_map(start), rtol=1e-14)
    np.testing.assert_allclose(first[1], 0.058 / (start + 0.0829), rtol=1e-15)
    fixed = brentq(lambda t: _two_layer_map(t) - t, 0.10, 0.35, xtol=1e-15)
    theta_bar, depth, iterations = penetration_depth(PROFILE, TWO_LAYERS, 1e-13, 500)
    np.testing.assert_allclose(theta_bar, fixed, rtol=1e-11)
    np.testing.assert_allclose(depth, 0.058 / (fixed + 0.0829), rtol=1e-10)
    assert 10 < iterations < 500
    default = penetration_depth(PROFILE, TWO_LAYERS)              # tolerance 0.01, as TSMP
    assert abs(default[0] - fixed) < 0.01 * fixed and default[2] < iterations
    shallow = penetration_depth(PROFILE, TWO_LAYERS, 0.01, 1, start_depth_m=0.1)
    np.testing.assert_allclose(shallow[0], _two_layer_map(0.10), rtol=1e-14)  # starts at 0.10
    np.testing.assert_allclose(penetration_depth(PROFILE, TWO_LAYERS, 1e-13, 500, 0.1)[0],
                               fixed, rtol=1e-11)


def test_crns_iterations_stop_at_the_cap_and_converged_entries_are_frozen():
    capped = penetration_depth(PROFILE, TWO_LAYERS, 1e-13, max_iter=3)
    assert capped[2] == 3
    value = 0.1 * 0.10 + 0.9 * 0.35
    for _ in range(3):
        value = _two_layer_map(value)
    np.testing.assert_allclose(capped[0], value, rtol=1e-13)
    mixed = np.array([PROFILE, [0.2, 0.2], [0.3, 0.12]])          # converge after 1, k, l
    together = penetration_depth(mixed, TWO_LAYERS)
    for i, profile in enumerate(mixed):
        alone = penetration_depth(profile, TWO_LAYERS)
        for a, b in zip(together, alone):
            assert a[i] == b
    assert together[2][1] == 1 and len(set(together[2].tolist())) > 1


def test_the_exact_layer_integral_is_tsmps_midpoint_weight_of_the_cut_layer():
    top, bottom, depth = INTERFACES[:-1], INTERFACES[1:], 0.3
    cut = np.minimum(bottom, depth)
    dz, mid = np.clip(cut - top, 0, None), 0.5 * (top + cut)
    np.testing.assert_allclose(_weights(np.array([depth]), top, bottom),
                               np.where(dz > 0, (1 - mid / depth) * dz, 0.0), rtol=1e-14)


def test_crns_stations_read_their_columns_member_by_member():
    crns = build(CRNSSection(count=5, withheld_fraction=0.2))
    network = crns.network()
    rows, cols = wells(GRID, 5, 3)
    np.testing.assert_array_equal(network.x, GRID.x[cols])
    assert network.station.tolist() == [f"crns_{k}" for k in range(5)]
    assert np.count_nonzero(network.qc == QC_WITHHELD) == 1
    hx = applied(crns.operator(network), THETA)
    expected = penetration_depth(np.moveaxis(THETA[:, :, rows, cols], 1, -1), INTERFACES)[0]
    np.testing.assert_allclose(hx, expected, rtol=1e-14)
    wide = build(CRNSSection(footprint_radius_m=600.0))            # the cross of 5 columns
    hx = applied(wide.operator(records([1500.0], [1000.0], crns.name)), THETA)
    profile = THETA[:, :, [2, 1, 3, 2, 2], [3, 3, 3, 2, 4]].mean(axis=2)
    np.testing.assert_allclose(hx[:, 0], penetration_depth(profile, INTERFACES)[0], rtol=1e-13)


# -------------------------------------------------------------------------- leaf area index


BARE = np.zeros((GRID.ny, GRID.nx), bool)
BARE[0, :3] = True


def test_lai_is_the_columns_leaf_area_index_and_bare_ground_is_masked():
    lai = build(LeafAreaIndexSection(spacing_cells=2), bare_ground=BARE)
    network = lai.network()
    assert network.size == 3 * 4 - 2 and lai.bare_left_out == 2  # (0, 0) and (0, 2) are bare
    field = 4.0 * RNG.random((3, 1, GRID.ny, GRID.nx))
    rows, cols = network.y.astype(int) // 500, network.x.astype(int) // 500
    np.testing.assert_array_equal(applied(lai.operator(network), field), field[:, 0, rows, cols])
    file = ObservationRecords.build(0.0, GRID.x[[0, 1, 2, 5]], GRID.y[[0, 0, 0, 3]], 1.0, 0.05,
                                    lai.name, qc=[QC_GOOD, QC_WITHHELD, QC_GOOD, QC_GOOD])
    checked = lai.quality_control(file)
    assert checked.qc.tolist() == [QC_REJECTED, QC_WITHHELD, QC_REJECTED, QC_GOOD]
    assert checked.rejected_by.tolist() == ["bare_ground", "", "bare_ground", ""]
    assert lai.bare_rejected == 2
    block = build(LeafAreaIndexSection(footprint_radius_m=750.0))  # the 2 x 2 around it
    hx = applied(block.operator(records([1250.0], [1250.0], lai.name)), field)
    np.testing.assert_allclose(hx[:, 0], field[:, 0, 2:4, 2:4].mean(axis=(1, 2)), rtol=1e-14)
    with pytest.raises(ConfigError, match=r"the model gives no 'bare_ground'"):
        build(LeafAreaIndexSection(), bare_ground=None)


# ------------------------------------------------------------------------------------ VOD


def _coefficients(**changes):
    """Coefficients on GRID: everywhere alpha 0.1, b 0.5, 0.02, -0.3, 0.05; monthly
    climatologies VOD 0.6 + 0.01 month, LAI 1.5, RZSM 0.25; r2 0.8, rmse 0.04."""
    shape, monthly = (GRID.ny, GRID.nx), (12, GRID.ny, GRID.nx)
    values = dict(alpha=0.1, b0=0.5, b1=0.02, b2=-0.3, b3=0.05, r2=0.8, rmse=0.04)
    fields = {k: np.full(shape, v) for k, v in values.items()}
    fields.update(vod_clim=0.6 + 0.01 * np.arange(12)[:, None, None] * np.ones(monthly),
                  lai_clim=np.full(monthly, 1.5), rzsm_clim=np.full(monthly, 0.25),
                  n_samples=np.full(shape, 100))
    for k, v in changes.items():
        fields[k] = v
    return VodCoefficients("month", x=GRID.x, y=GRID.y, **fields)


def test_vod_is_hey_composition_at_the_observations_cell_and_month(tmp_path):
    path = tmp_path / "vod.nc"
    write_coefficients(path, _coefficients())
    vod = build(VegetationOpticalDepthSection(coefficients_file=str(path)))
    theta = np.broadcast_to(np.array([0.2, 0.25, 0.3, 0.35])[None, :, None, None],
                            (2, NZ, GRID.ny, GRID.nx)).copy()
    lai = np.stack([np.full((1, GRID.ny, GRID.nx), 2.0), np.full((1, GRID.ny, GRID.nx), 3.0)])
    field = np.concatenate([theta, lai], axis=1)                 # stacked: the LAI is level 4
    # May 1st and June 1st (31 days later): the May and the June climatologies
    recs = records(GRID.x[[2, 2]], GRID.y[[1, 1]], vod.name, time=[0.0, 31 * 86400.0])
    op = vod.operator(recs)
    assert op.field == ("water_content", "leaf_area_index")
    hx = applied(op, field)
    # RZSM = 0.05 x 0.2 + 0.1 x 0.25 + 0.3 x 0.3 + 0.55 x 0.35 = 0.3175
    # LAI 2: beta = 0.5 + 0.02 x 2 - 0.3 x 0.3175 + 0.05 x 0.3175 x 2 = 0.4765
    #        VOD = 0.64 + 0.1 x (2 - 1.5) + 0.4765 x (0.3175 - 0.25) = 0.72216375 (May)
    # LAI 3: beta = 0.5 + 0.06 - 0.09525 + 0.047625 = 0.512375
    #        VOD = 0.64 + 0.15 + 0.512375 x 0.0675 = 0.8245853125
    np.testing.assert_allclose(hx[:, 0], [0.72216375, 0.8245853125], rtol=1e-14)
    np.testing.assert_allclose(hx[:, 1], hx[:, 0] + 0.01, rtol=1e-14)


def test_vod_quality_control_rejects_bare_unfitted_and_poorly_fitted_cells(tmp_path):
    r2, rmse, alpha = np.full((GRID.ny, GRID.nx), 0.8), np.full((GRID.ny, GRID.nx), 0.04), \
        np.full((GRID.ny, GRID.nx), 0.1)
    r2[1, 1], rmse[1, 1] = 0.4, 0.09                             # poor by both
    r2[1, 2] = 0.4                                               # poor by R2 only
    alpha[1, 3] = np.nan                                         # no fit
    path = tmp_path / "vod.nc"
    write_coefficients(path, _coefficients(r2=r2, rmse=rmse, alpha=alpha))
    recs = records(GRID.x[[0, 1, 2, 3, 4]], GRID.y[[0, 1, 1, 1, 1]], "vegetation_optical_depth")
    for rule, expected in (("and", ["bare_ground", "vod_poor_fit", "", "vod_no_fit", ""]),
                           ("or", ["bare_ground", "vod_poor_fit", "vod_poor_fit", "vod_no_fit",
                                   ""])):
        vod = build(VegetationOpticalDepthSection(coefficients_file=str(path),
                                                  poor_fit_rule=rule), bare_ground=BARE)
        assert vod.quality_control(recs).rejected_by.tolist() == expected
        assert vod.bare_rejected == 1
    other = tmp_path / "other.nc"
    write_coefficients(other, replace(_coefficients(), root_zone_m=(0.0, 0.45)))
    with pytest.raises(ConfigError, match=r"root_zone_m = \[0\.0, 1\.0\]: the coefficient file"):
        build(VegetationOpticalDepthSection(coefficients_file=str(other)))
    unfitted = build(VegetationOpticalDepthSection())
    assert unfitted.network().size == GRID.ny * GRID.nx           # a twin's truth needs none
    with pytest.raises(ConfigError, match=r"coefficients_file: required"):
        unfitted.operator(recs)


def test_a_twins_vod_truth_comes_from_its_own_relation():
    vod = build(VegetationOpticalDepthSection(truth_relation=(0.05, 0.08, 0.4, 0.2)))
    network = vod.network().subset(np.arange(3))
    field = np.concatenate([THETA, 4.0 * RNG.random((3, 1, GRID.ny, GRID.nx))], axis=1)
    hx = applied(vod.synthesis_operator(network), field)
    rzsm = (THETA[:, :, 0, :3] * np.array([0.05, 0.1, 0.3, 0.55])[None, :, None]).sum(1)
    lai = field[:, NZ, 0, :3]
    np.testing.assert_allclose(hx, 0.05 + 0.08 * lai + 0.4 * rzsm + 0.2 * lai * rzsm,
                               rtol=1e-14)


def _synthetic_series(noise=0.0, seed=1, ny=2, nx=3, years=3, missing=None):
    """Daily LAI, RZSM and VOD made with the operator's own form, the climatologies the bin
    means over the samples present (VOD NaN where ``missing``)."""
    rng = np.random.default_rng(seed)
    doy = days_of_year("2019-01-01", 86400.0 * np.arange(365 * years))
    which = climatology_bins(doy, "month")
    t = doy.size
    lai = 2 + 1.2 * np.sin(2 * np.pi * doy / 365.25)[:, None, None] \
        + 0.4 * rng.standard_normal((t, ny, nx))
    rzsm = 0.25 + 0.05 * np.cos(2 * np.pi * doy / 365.25)[:, None, None] \
        + 0.04 * rng.standard_normal((t, ny, nx))
    present = np.ones(lai.shape, bool) if missing is None else ~missing
    truth = {"alpha": rng.uniform(0.05, 0.15, (ny, nx)),
             **{f"b{k}": rng.uniform(-0.5, 0.5, (ny, nx)) for k in range(4)},
             "vod_clim": 0.5 + 0.1 * rng.standard_normal((12, ny, nx))}
    means = {name: np.stack([np.where(present, a, 0.0)[which == k].sum(axis=0)
                             / present[which == k].sum(axis=0) for k in range(12)])
             for name, a in (("lai_clim", lai), ("rzsm_clim", rzsm))}
    vod = predict_vod(lai, rzsm, truth["alpha"], truth["b0"], truth["b1"], truth["b2"],
                      truth["b3"], truth["vod_clim"][which], means["lai_clim"][which],
                      means["rzsm_clim"][which])
    vod = np.where(present, vod + noise * rng.standard_normal(vod.shape), np.nan)
    return lai, rzsm, vod, doy, {**truth, **means}


def test_the_vod_fit_recovers_its_coefficients_and_climatologies():
    missing = np.zeros((3 * 365, 2, 3), bool)
    missing[[5, 40, 41], 0, 0] = True                            # samples without VOD
    lai, rzsm, vod, doy, truth = _synthetic_series(missing=missing)
    fit = fit_vod_operator(lai, rzsm, vod, doy, "month")
    for name, value in truth.items():
        np.testing.assert_allclose(getattr(fit, name), value, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fit.r2, 1.0, rtol=1e-12)
    assert fit.n_samples[0, 0] == doy.size - 3 and np.all(fit.rmse < 1e-12)
    lai, rzsm, vod, doy, truth = _synthetic_series(noise=0.01, seed=2)
    noisy = fit_vod_operator(lai, rzsm, vod, doy, "month")
    np.testing.assert_allclose(noisy.alpha, truth["alpha"], atol=0.005)
    np.testing.assert_allclose(noisy.vod_clim, truth["vod_clim"], atol=0.005)
    np.testing.assert_allclose(noisy.rmse, 0.01, rtol=0.1)
    lm, rm = lai.mean(axis=0), rzsm.mean(axis=0)                 # beta at the mean state
    beta = [c["b0"] + c["b1"] * lm + c["b2"] * rm + c["b3"] * rm * lm
            for c in (truth, noisy.__dict__)]
    np.testing.assert_allclose(beta[1], beta[0], atol=0.05)


def test_cells_without_enough_samples_or_variation_get_no_fit():
    lai, rzsm, vod, doy, _ = _synthetic_series(years=1)
    vod[20:, 0, 0] = np.nan                                      # 20 samples in one month
    lai[:, 1, 2] = 2.0                                           # an LAI that never varies
    fit = fit_vod_operator(lai, rzsm, vod, doy, "month", min_samples=30)
    assert np.isnan(fit.alpha[0, 0]) and np.isnan(fit.alpha[1, 2]) and np.isnan(fit.r2[0, 0])
    assert np.isfinite(fit.alpha).sum() == 4
    assert climatology_bins(np.array([1, 31, 32, 59, 60, 365, 366]), "month").tolist() == \
        [0, 0, 1, 1, 2, 11, 11]


def test_the_coefficient_file_reads_back_and_names_what_is_wrong(tmp_path):
    import netCDF4

    path = tmp_path / "c.nc"
    written = _coefficients()
    write_coefficients(path, written)
    back = read_coefficients(path)
    for name in ("alpha", "b3", "vod_clim", "r2", "n_samples", "x"):
        np.testing.assert_array_equal(getattr(back, name), getattr(written, name))
    assert back.bins == "month" and back.root_zone_m == (0.0, 1.0)
    with netCDF4.Dataset(path, "a") as ds:
        ds.renameVariable("b2", "beta2")
    with pytest.raises(InputFileError, match=r"c\.nc: variable 'b2' is missing"):
        read_coefficients(path)


def _open_loop_file(path, lai, rzsm_layers, start="2019-01-01 00:00:00"):
    """A minimal ensemble output: daily records (each twice, forecast and analysis)."""
    import netCDF4

    t, ny, nx = lai.shape
    with netCDF4.Dataset(path, "w") as ds:
        for name, size in (("time", None), ("z", NZ), ("y", ny), ("x", nx), ("nv", 2)):
            ds.createDimension(name, size)
        time = ds.createVariable("time", "f8", ("time",))
        time.units = f"seconds since {start}"
        time[:] = np.repeat(86400.0 * np.arange(t), 2)
        ds.createVariable("x", "f8", ("x",))[:] = GRID.x[:nx]
        ds.createVariable("y", "f8", ("y",))[:] = GRID.y[:ny]
        ds.createVariable("z_bnds", "f8", ("z", "nv"))[:] = np.column_stack(
            [INTERFACES[:-1], INTERFACES[1:]])
        ds.createVariable("leaf_area_index_mean", "f8", ("time", "y", "x"))[:] = \
            np.repeat(lai, 2, axis=0)
        ds.createVariable("water_content_mean", "f8", ("time", "z", "y", "x"))[:] = \
            np.repeat(rzsm_layers, 2, axis=0)


def test_the_calibration_command_matches_an_open_loop_with_vod_observations(tmp_path, capsys):
    from pdafpy.obs.files import ObservationWriter

    lai, rzsm, vod, doy, truth = _synthetic_series(ny=2, nx=3, years=2)
    layers = np.repeat(rzsm[:, None], NZ, axis=1)                # RZSM in every layer
    _open_loop_file(tmp_path / "open_loop.nc", lai, layers)
    t, ny, nx = vod.shape
    time = np.repeat(86400.0 * np.arange(t) + 3600.0, ny * nx)   # 1 h after each record
    yy, xx = np.meshgrid(GRID.y[:ny], GRID.x[:nx], indexing="ij")
    writer = ObservationWriter(tmp_path / "obs.nc", "2019-01-01T00:00:00",
                               {"vegetation_optical_depth": "1"})
    writer.write(ObservationRecords.build(time, np.tile(xx.ravel() + 100.0, t),
                                          np.tile(yy.ravel(), t), vod.reshape(-1), 0.03,
                                          "vegetation_optical_depth"))
    writer.close()
    out = tmp_path / "coefficients.nc"
    assert main(["--open-loop", str(tmp_path), "--vod", str(tmp_path / "obs.nc"), "--out",
                 str(out)]) == 0
    fit = read_coefficients(out)
    for name in ("alpha", "b0", "b3", "vod_clim", "rzsm_clim"):
        np.testing.assert_allclose(getattr(fit, name), truth[name], rtol=1e-9, atol=1e-11)
    np.testing.assert_array_equal(fit.x, GRID.x[:nx])
    assert main(["--open-loop", str(tmp_path), "--vod", str(tmp_path / "obs.nc"), "--out",
                 str(out), "--time-tolerance-h", "0.5"]) == 2
    assert "no good vegetation_optical_depth observation" in capsys.readouterr().err
    import netCDF4

    with netCDF4.Dataset(tmp_path / "open_loop.nc", "a") as ds:
        ds.renameVariable("leaf_area_index_mean", "lai")
    assert main(["--open-loop", str(tmp_path), "--vod", str(tmp_path / "obs.nc"), "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "open_loop.nc: variable 'leaf_area_index_mean' is missing" in err


# ------------------------------------------------------------------------------------ EASE-2


def test_the_ease2_grids_are_nsidcs():
    for km, (columns, rows, cell) in {36: (964, 406, 36032.220840584),
                                      9: (3856, 1624, 9008.055210146),
                                      3: (11568, 4872, 3002.6850700487),
                                      25: (1388, 584, 25025.26)}.items():
        g = ease2.ease2_grid(km)
        assert (g.columns, g.rows, g.cell_m) == (columns, rows, cell)
        assert abs(g.x0 + columns * cell / 2) < 0.01 and abs(g.y0 - rows * cell / 2) < 0.01
    g = ease2.GRIDS[36]
    lon, lat = g.lonlat_of_rowcol(0, 0)
    assert abs(lon - (-180.0 + 180.0 / 964)) < 1e-9                # longitude is linear in x
    x_min, _, _, y_max = g.bounds(0, 0)                          # the published edges
    corner = ease2.from_ease2("EPSG:4326", x_min, y_max)
    np.testing.assert_allclose(corner, (-180.0, 85.0445664), atol=1e-7)
    edge = ease2.from_ease2("EPSG:4326", 0.0, ease2.GRIDS[25].y0)
    np.testing.assert_allclose(edge[1], 84.439790, atol=1e-6)
    # the centre's latitude by the closed form of the ellipsoidal cylindrical equal-area map
    a, e = 6378137.0, 0.081819190842622
    k0 = np.cos(np.radians(30.0)) / np.sqrt(1 - (e * np.sin(np.radians(30.0))) ** 2)
    s = np.sin(np.radians(lat))
    q = (1 - e * e) * (s / (1 - (e * s) ** 2) - np.log((1 - e * s) / (1 + e * s)) / (2 * e))
    np.testing.assert_allclose(a * q / (2 * k0), g.xy_of_rowcol(0, 0)[1], rtol=1e-12)
    rows, cols = np.array([0, 17, 405, 203]), np.array([0, 480, 963, 1])
    back = g.rowcol_of_lonlat(*g.lonlat_of_rowcol(rows, cols))
    np.testing.assert_array_equal(back[0], rows)
    np.testing.assert_array_equal(back[1], cols)
    assert g.on_grid(rows, cols).all() and not g.on_grid(406, 0) and not g.on_grid(0, -1)
    with pytest.raises(ConfigError, match="EASE-2 resolution 12 km"):
        ease2.ease2_grid(12)


def test_every_operator_takes_an_empty_window(tmp_path):
    path = tmp_path / "vod.nc"
    write_coefficients(path, _coefficients())
    none = ObservationRecords.empty()
    for section, field in ((SatelliteSoilMoistureSection(footprint="radius",
                                                         footprint_radius_m=600.0), THETA),
                           (CRNSSection(), THETA), (LeafAreaIndexSection(), THETA[:, :1]),
                           (VegetationOpticalDepthSection(coefficients_file=str(path)),
                            np.concatenate([THETA, THETA[:, :1]], axis=1))):
        module = build(section)
        assert module.quality_control(none).size == 0
        assert module.operator(none).apply(field, BOX).shape == (3, 0)


# ------------------------------------------------------------ CRNS, Schroen et al. (2017) weighting


def _d86_closed(theta, rho=1.4, r=75.0):
    """Schroen et al. (2017)'s D86 [m], written out."""
    cm = (8.321 + 0.14249 * (0.96655 + np.exp(-0.01 * r)) * (20.0 + theta) / (0.0429 + theta))
    return cm / rho / 100.0


def _two_layer_d86_map(t, rho=1.4, r=75.0):
    """One exponential weighting of the two-layer profile by hand."""
    d = _d86_closed(t, rho, r)
    w1 = 0.5 * d * (1.0 - np.exp(-0.2 / d))
    w2 = 0.5 * d * (np.exp(-0.2 / d) - np.exp(-2.0 / d))
    return (w1 * PROFILE[0] + w2 * PROFILE[1]) / (w1 + w2)


def test_d86_on_a_uniform_profile_is_that_water_content_at_the_closed_form_depth():
    values = np.array([0.05, 0.25, 0.45])
    theta = values[:, None] * np.ones(NZ)
    theta_bar, depth, iterations = penetration_depth_d86(theta, INTERFACES, 1.6, 30.0)
    np.testing.assert_allclose(theta_bar, values, rtol=1e-14)
    np.testing.assert_allclose(depth, _d86_closed(values, 1.6, 30.0), rtol=1e-14)
    np.testing.assert_array_equal(iterations, 1)
    np.testing.assert_allclose(d86(values), _d86_closed(values), rtol=1e-15)


def test_d86_on_two_layers_reaches_the_fixed_point_solved_independently():
    start = 0.1 * 0.10 + 0.9 * 0.35                               # the thickness-weighted mean
    first = penetration_depth_d86(PROFILE, TWO_LAYERS, max_iter=1)
    np.testing.assert_allclose(first[0], _two_layer_d86_map(start), rtol=1e-14)
    np.testing.assert_allclose(first[1], _d86_closed(start), rtol=1e-15)
    for rho, r in ((1.4, 75.0), (1.1, 0.0)):
        fixed = brentq(lambda t: _two_layer_d86_map(t, rho, r) - t, 0.10, 0.35, xtol=1e-15)
        theta_bar, depth, iterations = penetration_depth_d86(PROFILE, TWO_LAYERS, rho, r,
                                                             1e-13, 500)
        np.testing.assert_allclose(theta_bar, fixed, rtol=1e-11)
        np.testing.assert_allclose(depth, _d86_closed(fixed, rho, r), rtol=1e-10)
        assert 2 < iterations < 500
        default = penetration_depth_d86(PROFILE, TWO_LAYERS, rho, r)
        assert abs(default[0] - fixed) < 0.01 * fixed and default[2] < iterations


def test_d86_decreases_with_water_content_and_with_bulk_density():
    theta = np.linspace(0.0, 0.6, 61)
    assert (np.diff(d86(theta)) < 0).all()
    assert (np.diff(d86(0.2, np.linspace(0.8, 2.0, 13))) < 0).all()
    assert (np.diff(d86(0.2, 1.4, np.linspace(0.0, 300.0, 31))) < 0).all()
    uniform = theta[:, None] * np.ones(NZ)
    assert (np.diff(penetration_depth_d86(uniform, INTERFACES)[1]) < 0).all()
    assert (penetration_depth_d86(uniform, INTERFACES, 1.6)[1]
            < penetration_depth_d86(uniform, INTERFACES, 1.2)[1]).all()


def test_the_schroen2017_weighting_reads_the_columns_with_its_settings():
    rows, cols = wells(GRID, 5, 3)
    profiles = np.moveaxis(THETA[:, :, rows, cols], 1, -1)
    for table, rho, r in (({}, 1.4, 75.0),
                          ({"bulk_density_g_cm3": 1.2, "footprint_distance_m": 5.0}, 1.2, 5.0)):
        section = parse_section(CRNSSection, {"count": 5, "weighting": "schroen2017", **table},
                                "observations")
        crns = build(section)
        hx = applied(crns.operator(crns.network()), THETA)
        np.testing.assert_allclose(hx, penetration_depth_d86(profiles, INTERFACES, rho, r)[0],
                                   rtol=1e-14)
    assert not np.allclose(hx, penetration_depth(profiles, INTERFACES)[0], rtol=1e-3)


@pytest.mark.parametrize("table, message", [
    ({"bulk_density_g_cm3": 1.3}, r"bulk_density_g_cm3 = 1\.3: only with weighting = "
                                  r"'schroen2017' \(weighting = 'tsmp'\)"),
    ({"footprint_distance_m": 10.0}, r"footprint_distance_m = 10\.0: only with weighting = "
                                     r"'schroen2017'"),
    ({"weighting": "schroen2017", "bulk_density_g_cm3": 0.0}, r"bulk_density_g_cm3 = 0\.0"),
    ({"weighting": "schroen2017", "footprint_distance_m": -1.0}, r"footprint_distance_m = -1"),
    ({"weighting": "franz"}, r"weighting = 'franz'"),
])
def test_the_schroen2017_keys_are_refused_naming_the_key(table, message):
    with pytest.raises(ConfigError, match=r"observations\." + message):
        parse_section(CRNSSection, table, "observations")


def test_a_vod_fit_with_fewer_samples_than_terms_leaves_every_cell_unfitted():
    lai, rzsm, vod, doy, _ = _synthetic_series()
    fit = fit_vod_operator(lai[:3], rzsm[:3], vod[:3], doy[:3], "month", min_samples=1)
    assert np.all(np.isnan(fit.alpha)) and np.all(fit.n_samples == 3)
    assert np.all(np.isfinite(fit.lai_clim[0]))                  # the climatology is there

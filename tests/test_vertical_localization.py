"""Vertical localisation in metres: the weights, the observations' vertical ranges (types, sets,
the halo, the land types), the local filters' per-depth sub-domains against a plain per-cell
LETKF, the covariance-localised filters' 3D taper, and independence of the rank layout."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from mpi4py import MPI

from models.landda.obs_crns import CRNSSection, d86
from models.landda.obs_groundwater_level import GroundwaterLevelSection
from models.landda.obs_leaf_area_index import LeafAreaIndexSection
from models.landda.obs_satellite_soil_moisture import SatelliteSoilMoistureSection
from models.landda.obs_surface_soil_moisture import SurfaceSoilMoistureSection
from models.landda.obs_vod import VegetationOpticalDepthSection
from pdafpy.cycle import analysis_step
from pdafpy.cycle.analysis import element_depths
from pdafpy.decomposition import Box, block_boxes, choose_process_grid
from pdafpy.errors import ConfigError
from pdafpy.filters import AnalysisInputs, make_filter
from pdafpy.filters.sekf import SEKF
from pdafpy.halo import exchange_observations, local_observations
from pdafpy.localize import Localization, VerticalLocalization
from pdafpy.model import FieldSpec, Grid
from pdafpy.obs.module import ObservationContext, observation_module
from pdafpy.obs.observe import observe_owned
from pdafpy.obs.operators import grid_point
from pdafpy.obs.records import ObservationRecords
from pdafpy.obs.types import ObservationSet, ObservationType
from pdafpy.state import StateLayout

NY, NX, N = 8, 10, 8
Z = np.array([0.025, 0.1, 0.3, 0.7, 1.5, 3.0])            # layer centres [m], positive down
NZ = Z.size
RADIUS = 2.5
GRID = Grid.uniform(NY, NX, z=Z)
FIELDS = (FieldSpec("theta", NZ), FieldSpec("lai", 1))
LOC = Localization.from_pdaf(RADIUS, RADIUS, 2)
SURFACE = (0.0, 0.05)


# -- references written afresh -----------------------------------------------------------------
def gc(d, support):
    """Gaspari & Cohn (1999) eq. 4.10, zero at ``support`` (half-width support / 2)."""
    d = np.asarray(d, dtype=float)
    r = d / (support / 2.0)
    inner = -0.25 * r**5 + 0.5 * r**4 + 0.625 * r**3 - 5.0 / 3.0 * r**2 + 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        outer = (r**5 / 12.0 - 0.5 * r**4 + 0.625 * r**3 + 5.0 / 3.0 * r**2 - 5.0 * r + 4.0
                 - 2.0 / (3.0 * r))
    return np.where(d <= support / 2.0, inner, np.where(d < support, np.maximum(outer, 0), 0.0))


def vertical_weight(ranges, z, length):
    """Per observation: 1 for NaN, else GC of the distance of z from [top, bottom]."""
    out = np.ones(ranges.shape[0])
    if np.isnan(z):
        return out
    for j, (top, bottom) in enumerate(ranges):
        if np.isnan(top):
            continue
        d = top - z if z < top else (z - bottom if z > bottom else 0.0)
        out[j] = gc(d, length)
    return out


# -- the problem -----------------------------------------------------------------------------
def ensemble():
    """Full fields: theta (N, NZ, NY, NX) correlated in depth with the surface, lai (N, 1, NY,
    NX) correlated with it too."""
    rng = np.random.default_rng(11)
    common = rng.normal(size=(N, 1, NY, NX))
    theta = 0.25 + 0.05 * (common * np.exp(-Z / 2.0)[None, :, None, None]
                           + 0.5 * rng.normal(size=(N, NZ, NY, NX)))
    lai = 2.0 + 0.5 * common + 0.2 * rng.normal(size=(N, 1, NY, NX))
    return theta, lai


def obs_types(kinds=("surface", "probe", "lai")):
    rng = np.random.default_rng(5)
    out = []
    for kind, count, field, level, rng_range in (("surface", 14, "theta", 0, SURFACE),
                                                  ("probe", 5, "theta", 3, (0.7, 0.7)),
                                                  ("lai", 6, "lai", 0, None)):
        rows, cols = rng.integers(0, NY, count), rng.integers(0, NX, count)
        if kind not in kinds:
            continue
        vr = None if rng_range is None else np.tile(rng_range, (count, 1))
        truth = 0.3 if field == "theta" else 2.5
        out.append(ObservationType(kind, truth + 0.02 * rng.normal(size=count),
                                   np.full(count, 0.03 if field == "theta" else 0.3),
                                   np.column_stack([GRID.x[cols], GRID.y[rows]]),
                                   grid_point(field, rows, cols, level), LOC,
                                   vertical_range=vr))
    return out


def analyse(comm, name, vertical, types, analysed_levels=None, **options):
    """The analysed full fields (theta, lai) on every rank, the state split over ``comm``."""
    theta, lai = ensemble()
    py, px = choose_process_grid(comm.Get_size(), NY, NX)
    boxes = block_boxes(NY, NX, py, px)
    box = boxes[comm.Get_rank()]
    layout = StateLayout(FIELDS, box)
    ens = np.empty((N, layout.size))
    layout.view(ens, "theta")[:] = theta[..., box.y0:box.y1, box.x0:box.x1]
    layout.view(ens, "lai")[:] = lai[..., box.y0:box.y1, box.x0:box.x1]
    analysis_step(make_filter(name, **options), ens, layout, GRID, types, comm, boxes, cycle=3,
                  analysed_levels=analysed_levels, vertical=vertical)
    out_t, out_l = np.empty_like(theta), np.empty_like(lai)
    parts = comm.allgather((layout.view(ens, "theta").copy(), layout.view(ens, "lai").copy()))
    for b, (t, la) in zip(boxes, parts):
        out_t[..., b.y0:b.y1, b.x0:b.x1] = t
        out_l[..., b.y0:b.y1, b.x0:b.x1] = la
    return out_t, out_l


def naive_letkf(types, length):
    """A plain LETKF for every cell, one at a time: each column's observations within RADIUS,
    inverse variances times GC(horizontal) times GC(vertical at the cell's depth)."""
    theta, lai = ensemble()
    full = {"theta": theta, "lai": lai}
    y = np.concatenate([t.value for t in types])
    var = np.concatenate([np.asarray(t.error_std) ** 2 for t in types])
    xy = np.concatenate([t.coords for t in types])
    ranges = np.concatenate([np.full((t.size, 2), np.nan) if t.vertical_range is None
                             else t.vertical_range for t in types])
    hx = np.concatenate([full[t.operator.field][:, t.operator.level[:, 0], t.operator.row[:, 0],
                                                t.operator.col[:, 0]] for t in types], axis=1)
    hxbar = hx.mean(axis=0)
    y_anom = hx - hxbar
    out = {"theta": theta.copy(), "lai": lai.copy()}
    for i in range(NY):
        for j in range(NX):
            d = np.hypot(xy[:, 0] - GRID.x[j], xy[:, 1] - GRID.y[i])
            local = d <= RADIUS
            for name, depths in (("theta", Z), ("lai", [np.nan])):
                for level, z in enumerate(depths):
                    w = gc(d[local], RADIUS) * vertical_weight(ranges[local], z, length)
                    yl = y_anom[:, local]
                    c = yl * (w / var[local])
                    s, u = np.linalg.eigh((N - 1) * np.eye(N) + c @ yl.T)
                    wbar = (u / s) @ u.T @ c @ (y[local] - hxbar[local])
                    wsq = np.sqrt(N - 1) * (u / np.sqrt(s)) @ u.T
                    x = full[name][:, level, i, j]
                    out[name][:, level, i, j] = x.mean() + (x - x.mean()) @ (wsq + wbar[:, None])
    return out["theta"], out["lai"]


# -- weights -----------------------------------------------------------------------------------
def test_weights_inside_the_range_are_one_and_fall_with_the_distance():
    v = VerticalLocalization(0.5)
    ranges = np.array([[0.0, 0.05], [0.2, 0.4], [np.nan, np.nan]])
    w = v.weights(ranges, np.array([0.0, 0.03, 0.05, 0.3, 0.6, 2.0, np.nan]))
    assert w.shape == (7, 3)
    np.testing.assert_array_equal(w[:3, 0], 1.0)                   # inside [0, 0.05]
    np.testing.assert_array_equal(w[3, 1], 1.0)                    # inside [0.2, 0.4]
    np.testing.assert_allclose(w[3, 0], gc(0.25, 0.5), rtol=1e-14)   # 0.3 - 0.05 below
    np.testing.assert_allclose(w[0, 1], gc(0.2, 0.5), rtol=1e-14)    # 0.2 above the range
    np.testing.assert_allclose(w[4, 1], gc(0.2, 0.5), rtol=1e-14)    # 0.6 - 0.4 below
    np.testing.assert_array_equal(w[:, 2], 1.0)                    # no vertical position
    np.testing.assert_array_equal(w[6], 1.0)                       # no element depth
    assert w[5, 0] == 0.0 and w[5, 1] == 0.0                       # beyond the length
    assert v.weights(ranges, 0.3).shape == (3,)
    np.testing.assert_array_equal(v.weights(ranges, 0.3), w[3])


def test_gaspari_cohn_reaches_zero_at_the_length_and_gaussian_is_exp():
    gcv = VerticalLocalization(1.0, "gaspari_cohn")
    d = np.array([0.0, 0.25, 0.5, 0.75, 0.999, 1.0, 1.5])
    w = gcv.weights(np.zeros((1, 2)), d)[:, 0]
    np.testing.assert_allclose(w, gc(d, 1.0), rtol=1e-14, atol=1e-14)   # cancels near 1
    assert w[4] > 0 and w[5] == 0.0 and w[6] == 0.0
    g = VerticalLocalization(0.4, "gaussian").weights(np.array([[0.1, 0.2]]), np.array([0.9]))
    np.testing.assert_allclose(g[0, 0], np.exp(-0.7**2 / (2 * 0.4**2)), rtol=1e-14)


def test_pair_weights_use_the_gap_between_ranges():
    v = VerticalLocalization(1.0)
    r = np.array([[0.0, 0.05], [0.03, 0.3], [0.55, 0.55], [np.nan, np.nan]])
    w = v.pair_weights(r)
    assert w[0, 1] == 1.0 and w[1, 0] == 1.0                       # overlapping
    np.testing.assert_allclose(w[0, 2], gc(0.5, 1.0), rtol=1e-14)
    np.testing.assert_allclose(w[1, 2], gc(0.25, 1.0), rtol=1e-14)
    np.testing.assert_array_equal(w[3], 1.0)
    np.testing.assert_array_equal(w, w.T)


@pytest.mark.parametrize("kwargs, match", [
    ({"length_m": 0.0}, "vertical_length_m = 0.0 must be finite and > 0"),
    ({"length_m": float("inf")}, "must be finite"),
    ({"length_m": "deep"}, "must be a number"),
    ({"length_m": 1.0, "weight": "exponential"}, "vertical_weight = 'exponential': choose")])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        VerticalLocalization(**kwargs)


# -- observations carry their ranges -------------------------------------------------------------
def test_observation_type_checks_its_vertical_range():
    op = grid_point("theta", np.array([0, 1]), np.array([0, 1]), 0)
    args = ("t", np.zeros(2), np.ones(2), np.zeros((2, 2)), op, LOC)
    ObservationType(*args, vertical_range=np.array([[0.0, 0.1], [np.nan, np.nan]]))
    for bad, match in ((np.zeros((3, 2)), r"shape \(2, 2\)"),
                       (np.array([[0.0, np.nan], [0.0, 1.0]]), "two finite depths or two NaN"),
                       (np.array([[0.2, 0.1], [0.0, 1.0]]), r"row 0 = \[0.2, 0.1\] has top > "
                                                             "bottom")):
        with pytest.raises(ConfigError, match=match):
            ObservationType(*args, vertical_range=bad)


def test_observation_sets_carry_vertical_ranges():
    a = ObservationSet(np.ones(3), np.ones(3), np.zeros((3, 2)), np.zeros((2, 3)),
                       np.array([4, 0, 2]), np.zeros(3, dtype=np.int64),
                       np.array([[0.0, 0.1], [1.0, 1.0], [np.nan, np.nan]]))
    b = ObservationSet(np.ones(1), np.ones(1), np.zeros((1, 2)), np.zeros((2, 1)),
                       np.array([1]), np.zeros(1, dtype=np.int64))           # no ranges: NaN
    assert np.isnan(b.vertical_range).all() and b.vertical_range.shape == (1, 2)
    assert a.has_vertical and not b.has_vertical
    np.testing.assert_array_equal(a.sorted().vertical_range,
                                  [[1.0, 1.0], [np.nan, np.nan], [0.0, 0.1]])
    joined = ObservationSet.concatenate([a, b], 2)
    np.testing.assert_array_equal(joined.global_index, [0, 1, 2, 4])
    np.testing.assert_array_equal(joined.vertical_range,
                                  [[1.0, 1.0], [np.nan, np.nan], [np.nan, np.nan], [0.0, 0.1]])
    assert ObservationSet.empty(2).vertical_range.shape == (0, 2)


def test_observe_owned_carries_the_types_ranges():
    types = obs_types()
    box = Box(0, NY, 0, NX)
    layout = StateLayout(FIELDS, box)
    owned = observe_owned(types, np.zeros((N, layout.size)), layout, GRID, MPI.COMM_SELF, [box])
    expected = np.concatenate([np.full((t.size, 2), np.nan) if t.vertical_range is None
                               else t.vertical_range for t in types])
    np.testing.assert_array_equal(owned.vertical_range, expected[owned.global_index])


def test_element_depths_follow_the_grid_levels():
    layout = StateLayout(FIELDS, Box(0, NY, 0, NX))
    depth = element_depths(layout, GRID)
    np.testing.assert_array_equal(depth[:NZ], Z)
    assert np.isnan(depth[NZ]) and depth.size == NZ + 1
    part = element_depths(layout, GRID, ["lai", "theta"], {"theta": [4, 1]})
    np.testing.assert_array_equal(part, [np.nan, Z[4], Z[1]])
    assert layout.column_indices(["lai", "theta"], {"theta": [4, 1]}).shape[1] == part.size


def test_vertical_localisation_is_refused_without_depths_or_with_a_global_filter():
    with pytest.raises(ConfigError, match="grid.z"):
        element_depths(StateLayout(FIELDS, Box(0, NY, 0, NX)), Grid.uniform(NY, NX))
    with pytest.raises(ConfigError, match="needs a local or covariance-localised filter"):
        analyse(MPI.COMM_SELF, "etkf", VerticalLocalization(1.0), obs_types())


# -- local filters ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["letkf", "lestkf", "column_enkf"])
def test_a_surface_observation_with_a_short_length_leaves_deep_levels_unchanged(name):
    theta, lai = ensemble()
    types = obs_types(("surface",))
    t_loc, l_loc = analyse(MPI.COMM_SELF, name, VerticalLocalization(0.2), types)
    t_free, _ = analyse(MPI.COMM_SELF, name, None, types)
    deep = Z >= SURFACE[1] + 0.2                                   # weight 0 from there down
    assert deep.sum() == 4
    assert np.max(np.abs(t_loc[:, deep] - theta[:, deep])) <= 1e-12
    assert np.max(np.abs(t_free[:, deep] - theta[:, deep])) > 1e-3    # unlocalised: changed
    assert np.max(np.abs(t_loc[:, 0] - theta[:, 0])) > 1e-3          # the top is analysed
    np.testing.assert_allclose(t_loc[:, 0], t_free[:, 0], rtol=0, atol=1e-12)  # weight 1 there
    assert np.max(np.abs(l_loc - lai)) > 1e-3                      # no depth: weight 1


@pytest.mark.parametrize("name", ["letkf", "lestkf"])
def test_a_huge_length_equals_the_unlocalised_analysis(name):
    types = obs_types()
    a = analyse(MPI.COMM_SELF, name, VerticalLocalization(1e9), types)
    b = analyse(MPI.COMM_SELF, name, None, types)
    for x, y in zip(a, b):
        assert np.max(np.abs(x - y)) <= 1e-12


@pytest.mark.parametrize("name, solver", [("letkf", "auto"), ("letkf", "ensemble"),
                                          ("letkf", "observation"), ("lestkf", "ensemble")])
def test_batched_per_level_analysis_equals_a_per_cell_loop(name, solver):
    types = obs_types()
    expected = naive_letkf(types, 0.8)
    got = analyse(MPI.COMM_SELF, name, VerticalLocalization(0.8), types, solver=solver,
                  chunk_size=7)
    theta, _ = ensemble()
    assert np.max(np.abs(got[0] - theta)) > 1e-3
    for x, y in zip(got, expected):
        assert np.max(np.abs(x - y)) <= 1e-12


def test_analysed_levels_are_localised_at_their_own_depths():
    types = obs_types()
    expected, _ = naive_letkf(types, 0.8)
    theta, lai = ensemble()
    got, got_lai = analyse(MPI.COMM_SELF, "letkf", VerticalLocalization(0.8), types,
                           analysed_levels={"theta": [4, 1]})
    np.testing.assert_array_equal(got[:, [0, 2, 3, 5]], theta[:, [0, 2, 3, 5]])
    assert np.max(np.abs(got[:, [1, 4]] - expected[:, [1, 4]])) <= 1e-12


def test_sekf_entries_get_the_gain_of_their_depth():
    rng = np.random.default_rng(3)
    n_col, n_l = 3, 3
    depth = np.array([0.02, 0.4, np.nan])
    root = rng.normal(size=(n_l, n_l))
    b = root @ root.T + 0.5 * np.eye(n_l)
    sekf = SEKF(np.full(n_l, 1e-3), b)
    xb = rng.normal(size=n_col * n_l)
    index = np.arange(n_col * n_l).reshape(n_col, n_l)
    h_col = rng.normal(size=(n_col, 2, n_l))
    y, var = rng.normal(size=(n_col, 2)), np.full((n_col, 2), 0.3)
    ranges = np.tile([[0.0, 0.05], [0.3, 0.3]], (n_col, 1))
    runs = sekf.perturbed_runs(xb, index)
    hx = np.einsum("cml,rcl->rcm", h_col, runs[:, index]).reshape(sekf.n_runs, -1)
    coords = np.column_stack([np.arange(n_col, dtype=float), np.zeros(n_col)])
    obs = ObservationSet(y.ravel(), var.ravel(), np.repeat(coords, 2, axis=0), hx,
                         np.arange(2 * n_col), np.zeros(2 * n_col, dtype=np.int64), ranges)
    local = local_observations(obs, coords, [Localization.from_pdaf(0.0, 0.0, 0)])
    v = VerticalLocalization(0.5)
    sekf.analyse(runs, AnalysisInputs(obs, state_index=index, local=local, vertical=v,
                                      element_depth=depth))
    for c in range(n_col):
        for k in range(n_l):
            r = var[c] / vertical_weight(ranges[:2], depth[k], 0.5)
            h = h_col[c]
            gain = b @ h.T @ np.linalg.inv(h @ b @ h.T + np.diag(r))
            expected = xb[index[c, k]] + gain[k] @ (y[c] - h @ xb[index[c]])
            assert abs(runs[0, index[c, k]] - expected) <= 1e-10


# -- covariance localisation ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["lenkf", "ensrf"])
def test_the_3d_taper_leaves_deep_elements_unchanged(name):
    theta, lai = ensemble()
    types = obs_types(("surface",))
    t_loc, l_loc = analyse(MPI.COMM_SELF, name, VerticalLocalization(0.2), types, seed=2)
    t_free, _ = analyse(MPI.COMM_SELF, name, None, types, seed=2)
    deep = Z >= SURFACE[1] + 0.2
    assert np.max(np.abs(t_loc[:, deep] - theta[:, deep])) <= 1e-14
    assert np.max(np.abs(t_free[:, deep] - theta[:, deep])) > 1e-3
    assert np.max(np.abs(t_loc[:, 0] - theta[:, 0])) > 1e-3
    assert np.max(np.abs(l_loc - lai)) > 1e-3


@pytest.mark.parametrize("name", ["lenkf", "ensrf"])
def test_the_3d_taper_with_a_huge_length_is_the_horizontal_one(name):
    types = obs_types()
    a = analyse(MPI.COMM_SELF, name, VerticalLocalization(1e9), types, seed=2)
    b = analyse(MPI.COMM_SELF, name, None, types, seed=2)
    for x, y in zip(a, b):
        assert np.max(np.abs(x - y)) <= 1e-12


def test_lenkf_uses_the_gap_between_observations_in_hph():
    # two observations in one column, far apart in depth: with a short length they do not
    # see each other in H P H^T, so each acts as if assimilated alone on its own levels
    theta, _ = ensemble()
    rows, cols = np.array([3, 3]), np.array([4, 4])
    both = ObservationType("two", np.array([0.3, 0.3]), np.full(2, 0.03),
                           np.column_stack([GRID.x[cols], GRID.y[rows]]),
                           grid_point("theta", rows, cols, np.array([0, 5])), LOC,
                           vertical_range=np.array([[0.0, 0.05], [3.0, 3.0]]))
    top = ObservationType("top", np.array([0.3]), np.full(1, 0.03),
                          np.column_stack([GRID.x[cols[:1]], GRID.y[rows[:1]]]),
                          grid_point("theta", rows[:1], cols[:1], 0), LOC,
                          vertical_range=np.array([[0.0, 0.05]]))
    v = VerticalLocalization(0.2)
    a, _ = analyse(MPI.COMM_SELF, "lenkf", v, [both], seed=2)
    b, _ = analyse(MPI.COMM_SELF, "lenkf", v, [top], seed=2)
    # the top observation's perturbation has global index 0 in both: the same draw
    np.testing.assert_allclose(a[:, :2], b[:, :2], rtol=0, atol=1e-12)


# -- the land types ----------------------------------------------------------------------------
INTERFACES = np.array([0.0, 0.05, 0.15, 0.45, 1.0])


def land(section, **facts):
    grid = Grid.uniform(6, 8, dy=500.0, dx=500.0)
    model = {"interfaces": INTERFACES, "bare_ground": np.zeros((6, 8), bool)}
    model.update(facts)
    context = ObservationContext(grid, (), 3, LOC, model)
    return observation_module(section.type)(section, context, 0)


def test_land_types_give_their_vertical_ranges():
    recs = ObservationRecords.build(0.0, [250.0, 750.0], [250.0, 250.0], [0.2, 0.3], 0.04, "x",
                                    depth=[0.1, 0.7])
    sm = land(SatelliteSoilMoistureSection(depth_range_m=(0.1, 3.0)))
    np.testing.assert_array_equal(sm.vertical_range(recs), [[0.1, 1.0], [0.1, 1.0]])
    ssm = land(SurfaceSoilMoistureSection(depth_m=0.08))
    np.testing.assert_array_equal(ssm.vertical_range(recs), [[0.0, 0.08], [0.0, 0.08]])
    crns = land(CRNSSection())
    np.testing.assert_allclose(crns.vertical_range(recs),
                               [[0.0, 0.058 / (0.2 + 0.0829)], [0.0, 0.058 / (0.3 + 0.0829)]],
                               rtol=1e-14)
    d86_crns = land(CRNSSection(weighting="schroen2017", bulk_density_g_cm3=1.2))
    np.testing.assert_allclose(d86_crns.vertical_range(recs)[:, 1],
                               d86(np.array([0.2, 0.3]), 1.2), rtol=1e-14)
    assert land(GroundwaterLevelSection()).vertical_range(recs) is None
    head = land(GroundwaterLevelSection(form="hydrostatic_head"))
    np.testing.assert_array_equal(head.vertical_range(recs), [[0.1, 0.1], [0.7, 0.7]])
    assert land(LeafAreaIndexSection()).vertical_range(recs) is None
    vod = land(VegetationOpticalDepthSection(root_zone_m=(0.0, 0.5)))
    np.testing.assert_array_equal(vod.vertical_range(recs), [[0.0, 0.5], [0.0, 0.5]])


def test_observation_type_takes_the_modules_ranges():
    ssm = land(SurfaceSoilMoistureSection(depth_m=0.05, footprint_cells=2))
    network = ssm.network()
    t = ssm.observation_type(replace(network, value=np.full(network.size, 0.3)))
    assert t.vertical_range.shape == (t.size, 2)
    np.testing.assert_array_equal(t.vertical_range, np.tile([0.0, 0.05], (t.size, 1)))
    wells = land(GroundwaterLevelSection())
    network = wells.network()
    network = replace(network, value=np.full(network.size, 2.0))
    assert wells.observation_type(network).vertical_range is None


# -- MPI ----------------------------------------------------------------------------------------
@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("name", ["letkf", "lestkf", "lenkf"])
def test_vertically_localised_analysis_is_independent_of_the_rank_layout(name):
    comm = MPI.COMM_WORLD
    types = obs_types()
    v = VerticalLocalization(0.8)
    serial = analyse(MPI.COMM_SELF, name, v, types, seed=2)
    split = analyse(comm, name, v, types, seed=2)
    for x, y in zip(serial, split):
        assert np.max(np.abs(x - y)) <= 1e-12


@pytest.mark.mpi(min_size=2)
def test_the_halo_carries_vertical_ranges_and_counts_their_bytes():
    comm = MPI.COMM_WORLD
    py, px = choose_process_grid(comm.Get_size(), NY, NX)
    boxes = block_boxes(NY, NX, py, px)
    box = boxes[comm.Get_rank()]
    layout = StateLayout(FIELDS, box)
    theta, lai = ensemble()
    ens = np.empty((N, layout.size))
    layout.view(ens, "theta")[:] = theta[..., box.y0:box.y1, box.x0:box.x1]
    layout.view(ens, "lai")[:] = lai[..., box.y0:box.y1, box.x0:box.x1]
    domains = GRID.column_coords(box)
    stats = {}
    for with_ranges in (True, False):
        types = obs_types()
        if not with_ranges:
            types = [ObservationType(t.name, t.value, t.error_std, t.coords, t.operator,
                                     t.localization) for t in types]
        owned = observe_owned(types, ens, layout, GRID, comm, boxes)
        candidates, stats[with_ranges] = exchange_observations(comm, owned, domains, [LOC] * 3)
        local = local_observations(candidates, domains, [LOC] * 3, stats[with_ranges])
        expected = np.concatenate([np.full((t.size, 2), np.nan) if t.vertical_range is None
                                   else t.vertical_range for t in types])
        np.testing.assert_array_equal(local.obs.vertical_range,
                                      expected[local.obs.global_index])
    s, plain = stats[True], stats[False]
    assert s.sent_obs == plain.sent_obs and s.partners == plain.partners
    assert s.bytes_sent - 8 * s.partners == s.sent_obs * (7 + N) * 8      # [top, bottom] more
    assert plain.bytes_sent - 8 * plain.partners == plain.sent_obs * (5 + N) * 8
    assert comm.allreduce(s.sent_obs) > 0


def test_grid_point_observations_sit_at_their_levels_depth():
    from dataclasses import replace

    from pdafpy.localize import Localization
    from pdafpy.model import FieldSpec, Grid
    from pdafpy.obs.grid_point import GridPointSection
    from pdafpy.obs.module import ObservationContext, build_modules

    grid = Grid.uniform(3, 4, z=[0.1, 0.5, 2.0])
    fields = (FieldSpec("theta", 3), FieldSpec("lai", 1))
    context = ObservationContext(grid, fields, 1, Localization.from_pdaf(2.0, 2.0, 2))
    layered, single = build_modules([GridPointSection(field="theta", level=1),
                                     GridPointSection(field="lai")], context)
    records = layered.network()
    assert np.array_equal(layered.vertical_range(records), np.full((records.size, 2), 0.5))
    assert single.vertical_range(single.network()) is None
    observed = replace(records, value=np.zeros(records.size))
    assert np.array_equal(layered.observation_type(observed).vertical_range,
                          np.full((records.size, 2), 0.5))

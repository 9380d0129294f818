"""Tests of pdafpy.localize: distances, PDAF weight conventions and the KD-tree search."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pdafpy.errors import ConfigError
from pdafpy.localize import (
    R_EARTH,
    DistanceKind,
    LocalPairs,
    Localization,
    Metric,
    WeightKind,
    find_local_observations,
    gaspari_cohn,
    haversine,
    local_weight,
)

# --------------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------------


def test_gaspari_cohn_matches_pdaf_reference_values():
    # pdaf.md section 4.4, sradius = 20 (support), cradius = 20; values given to 6 decimals
    loc = Localization.from_pdaf(cradius=20.0, sradius=20.0, locweight=2)
    d = np.array([0.0, 5.0, 10.0, 15.0, 18.0, 20.0])
    expected = np.array([1.0, 0.684896, 0.208333, 0.016493, 0.000470, 0.0])
    np.testing.assert_allclose(loc.weights(d), expected, atol=6e-7, rtol=0)


def test_gaspari_cohn_half_width_is_half_the_support():
    by_support = Localization.create(20.0, "gc", support_radius=20.0)
    by_half = Localization.create(20.0, "gaspari_cohn", half_width=10.0)
    assert by_support == by_half
    assert by_half.sradius == 20.0                     # the support is twice the half-width


def test_gaspari_cohn_shape_properties():
    d = np.linspace(0.0, 30.0, 30001)
    w = gaspari_cohn(d, 20.0)
    assert np.all(w >= 0.0) and np.all(w <= 1.0)
    assert np.all(np.diff(w) <= 1e-15)  # non-increasing
    assert np.all(w[d >= 20.0] == 0.0)
    # continuous at the half-width c = 10
    below, above = gaspari_cohn(np.array([10.0 - 1e-9, 10.0 + 1e-9]), 20.0)
    assert abs(below - above) < 1e-8


def test_exponential_and_gaussian_at_sradius():
    exp_loc = Localization.from_pdaf(cradius=50.0, sradius=20.0, locweight=1)
    assert exp_loc.weights(np.array([20.0]))[0] == pytest.approx(0.367879, abs=5e-7)
    assert Localization.from_pdaf(50.0, 20.0, locweight=11).weight is WeightKind.EXPONENTIAL
    gau = Localization.from_pdaf(cradius=50.0, sradius=20.0, locweight=5)
    assert gau.weights(np.array([20.0]))[0] == pytest.approx(math.exp(-0.5), rel=1e-14)


@pytest.mark.parametrize("locweight", [0, 1, 2, 5])
def test_every_weight_is_zero_beyond_cradius_and_kept_at_cradius(locweight):
    loc = Localization.from_pdaf(cradius=10.0, sradius=40.0, locweight=locweight)
    w = loc.weights(np.array([10.0, np.nextafter(10.0, 11.0), 15.0]))
    assert w[0] > 0.0
    assert w[1] == 0.0 and w[2] == 0.0


def test_gc_is_zero_between_sradius_and_larger_cradius():
    loc = Localization.from_pdaf(cradius=30.0, sradius=20.0, locweight=2)
    np.testing.assert_array_equal(loc.weights(np.array([20.0, 25.0, 30.0])), 0.0)


def test_zero_sradius_follows_pdaf_per_weight_type():
    d = np.array([0.0, 1.0, 5.0, 6.0])
    # PDAF: uniform weights ignore sradius entirely: 1 up to cradius
    np.testing.assert_array_equal(local_weight(d, WeightKind.UNIFORM, 5.0, 0.0), [1, 1, 1, 0])
    # exponential, GC, Gaussian: only d == 0 gets weight 1 when sradius <= 0
    for kind in (WeightKind.EXPONENTIAL, WeightKind.GASPARI_COHN, WeightKind.GAUSSIAN):
        np.testing.assert_array_equal(local_weight(d, kind, 5.0, 0.0), [1, 0, 0, 0])


def test_zero_cradius_gives_weight_one_only_at_zero_distance():
    d = np.array([0.0, 1e-12, 3.0])
    for kind in WeightKind:
        np.testing.assert_array_equal(local_weight(d, kind, 0.0, 10.0), [1, 0, 0])


def test_weight_kind_from_pdaf_codes_and_names():
    assert WeightKind.from_pdaf(0) is WeightKind.UNIFORM
    assert WeightKind.from_pdaf(1) is WeightKind.EXPONENTIAL
    assert WeightKind.from_pdaf(11) is WeightKind.EXPONENTIAL
    assert WeightKind.from_pdaf(2) is WeightKind.GASPARI_COHN
    assert WeightKind.from_pdaf(5) is WeightKind.GAUSSIAN
    assert WeightKind.from_pdaf("GC") is WeightKind.GASPARI_COHN
    assert WeightKind.from_pdaf("Gaspari-Cohn") is WeightKind.GASPARI_COHN
    assert WeightKind.from_pdaf("uniform") is WeightKind.UNIFORM
    assert WeightKind.from_pdaf("gaussian") is WeightKind.GAUSSIAN


@pytest.mark.parametrize("code", [3, 4, 15, 16, 26, 7])
def test_unsupported_locweight_codes_raise_config_error(code):
    with pytest.raises(ConfigError) as err:
        WeightKind.from_pdaf(code)
    msg = str(err.value)
    assert f"locweight={code}" in msg
    assert "2 (Gaspari-Cohn)" in msg  # says what is supported


@pytest.mark.parametrize(
    "kwargs, name",
    [
        (dict(cradius=-1.0, sradius=1.0, weight="gc"), "cradius"),
        (dict(cradius=1.0, sradius=-2.0, weight="gc"), "sradius"),
        (dict(cradius=float("nan"), sradius=1.0, weight="gc"), "cradius"),
        (dict(cradius=float("inf"), sradius=1.0, weight="gc"), "cradius"),
        (dict(cradius="ten", sradius=1.0, weight="gc"), "cradius"),
        (dict(cradius=1.0, sradius=1.0, weight="triangle"), "locweight"),
    ],
)
def test_bad_localization_parameters_name_the_parameter(kwargs, name):
    with pytest.raises(ConfigError, match=name):
        Localization(**kwargs)


def test_create_refuses_to_guess_the_radius_meaning():
    with pytest.raises(ConfigError, match="support_radius"):
        Localization.create(10.0, "gc")
    with pytest.raises(ConfigError, match="half_width"):
        Localization.create(10.0, "gc", support_radius=10.0, half_width=5.0)
    with pytest.raises(ConfigError, match="half_width"):
        Localization.create(10.0, "exponential", half_width=5.0)
    with pytest.raises(ConfigError, match="half_width"):
        Localization.create(10.0, "gc", half_width=-5.0)


def test_from_pdaf_defaults_sradius_to_cradius():
    loc = Localization.from_pdaf(cradius=7.5, locweight=2)
    assert loc.sradius == 7.5 and loc.cradius == 7.5
    assert loc.metric == Metric(DistanceKind.CARTESIAN)


def test_bad_metric_inputs_raise_config_error():
    with pytest.raises(ConfigError, match="domain_size"):
        Metric(DistanceKind.PERIODIC)
    with pytest.raises(ConfigError, match="domain_size"):
        Localization.from_pdaf(5.0, disttype=1)
    with pytest.raises(ConfigError, match="domain_size"):
        Metric(DistanceKind.CARTESIAN, domain_size=(10.0, 10.0))
    with pytest.raises(ConfigError, match="disttype=7"):
        DistanceKind.from_pdaf(7)
    with pytest.raises(ConfigError, match="disttype=12"):
        DistanceKind.from_pdaf(12)
    with pytest.raises(ConfigError, match="vertical_cutoff"):
        Metric(DistanceKind.CARTESIAN, vertical_cutoff=3.0)
    with pytest.raises(ConfigError, match="vertical_cutoff"):
        Metric(DistanceKind.CARTESIAN, horizontal_only=True, vertical_cutoff=-3.0)


def test_metric_from_pdaf_codes():
    assert Metric.from_pdaf(3).kind is DistanceKind.HAVERSINE
    m = Metric.from_pdaf(11, domain_size=[10.0, 0.0, 0.0])
    assert m.kind is DistanceKind.PERIODIC and m.horizontal_only
    assert m.domain_size == (10.0, 0.0, 0.0)
    assert Metric.from_pdaf(2, domain_size=[1.0, 1.0]).domain_size is None  # ignored, as PDAF


# --------------------------------------------------------------------------------------------
# distances
# --------------------------------------------------------------------------------------------


def _law_of_cosines(lon_a, lat_a, lon_b, lat_b, radius):
    cosang = np.sin(lat_a) * np.sin(lat_b) + np.cos(lat_a) * np.cos(lat_b) * np.cos(lon_a - lon_b)
    return radius * np.arccos(np.clip(cosang, -1.0, 1.0))


def _vincenty_sphere(lon_a, lat_a, lon_b, lat_b, radius):
    dlon = lon_b - lon_a
    num = np.hypot(
        np.cos(lat_b) * np.sin(dlon),
        np.cos(lat_a) * np.sin(lat_b) - np.sin(lat_a) * np.cos(lat_b) * np.cos(dlon),
    )
    den = np.sin(lat_a) * np.sin(lat_b) + np.cos(lat_a) * np.cos(lat_b) * np.cos(dlon)
    return radius * np.arctan2(num, den)


def test_haversine_matches_independent_spherical_formulas():
    rng = np.random.default_rng(1)
    n = 20000
    lon = rng.uniform(-math.pi, math.pi, (2, n))
    lat = np.arcsin(rng.uniform(-1, 1, (2, n)))
    a = np.column_stack([lon[0], lat[0]])
    b = np.column_stack([lon[1], lat[1]])
    d = Metric(DistanceKind.HAVERSINE).distance(a, b)
    ref = _vincenty_sphere(lon[0], lat[0], lon[1], lat[1], R_EARTH)
    np.testing.assert_allclose(d, ref, rtol=1e-9, atol=1e-3)  # metres
    # law of cosines is ill-conditioned for tiny angles: compare where it is accurate
    far = ref > 1e5
    cosines = _law_of_cosines(lon[0], lat[0], lon[1], lat[1], R_EARTH)
    np.testing.assert_allclose(d[far], cosines[far], rtol=1e-7)
    assert np.all(d <= R_EARTH * math.pi)


def test_haversine_known_city_pairs():
    # published great-circle distances for a 6371 km sphere
    cities = {
        "london": (51.5074, -0.1278),
        "paris": (48.8566, 2.3522),
        "new_york": (40.7128, -74.0060),
        "sydney": (-33.8688, 151.2093),
    }

    def dist_km(p, q):
        (la1, lo1), (la2, lo2) = np.deg2rad(cities[p]), np.deg2rad(cities[q])
        return float(haversine(lo1, la1, lo2, la2, radius=6371e3)) / 1e3

    assert dist_km("london", "paris") == pytest.approx(343.5, abs=1.0)
    assert dist_km("new_york", "london") == pytest.approx(5570.0, abs=5.0)
    assert dist_km("london", "sydney") == pytest.approx(16994.0, abs=10.0)
    # pdafpy's default radius is PDAF's R_E = 6.3675e6 m
    london = np.deg2rad(cities["london"])[::-1][None, :]  # (lon, lat)
    paris = np.deg2rad(cities["paris"])[::-1][None, :]
    d = Metric(DistanceKind.HAVERSINE).distance(london, paris)
    assert d[0] == pytest.approx(343.556e3 * 6.3675 / 6.371, rel=1e-5)


def test_haversine_antipodes_and_identical_points():
    m = Metric(DistanceKind.HAVERSINE)
    a = np.array([[0.3, 0.2], [1.0, -0.5]])
    b = np.array([[0.3 - math.pi, -0.2], [1.0, -0.5]])
    d = m.distance(a, b)
    assert d[0] == pytest.approx(R_EARTH * math.pi, rel=1e-12)
    assert d[1] == 0.0


def test_geographic_simplified_distance_uses_latitude_of_domain_point():
    m = Metric.from_pdaf(2)
    a = np.array([[0.0, 0.5], [3.1, 0.0], [0.1, 0.2]])
    b = np.array([[0.01, 0.5], [-3.1, 0.0], [0.1, 0.25]])
    d = m.distance(a, b)
    assert d[0] == pytest.approx(R_EARTH * 0.01 * math.cos(0.5), rel=1e-9)
    # across the date line: |dlon| = 6.2 -> 2 pi - 6.2
    assert d[1] == pytest.approx(R_EARTH * (2 * math.pi - 6.2), rel=1e-9)
    assert d[2] == pytest.approx(R_EARTH * 0.05, rel=1e-12)
    # not symmetric: the longitude term uses cos(lat_A) of the first argument (the domain)
    p, q = np.array([[0.0, 0.5]]), np.array([[0.01, 0.7]])
    assert m.distance(p, q)[0] == pytest.approx(R_EARTH * math.hypot(0.01 * math.cos(0.5), 0.2))
    assert m.distance(q, p)[0] == pytest.approx(R_EARTH * math.hypot(0.01 * math.cos(0.7), 0.2))


def test_periodic_distance_wraps_only_periodic_axes():
    m = Metric(DistanceKind.PERIODIC, domain_size=(10.0, 0.0))
    a = np.array([[0.5, 0.0], [2.0, 1.0]])
    b = np.array([[9.5, 3.0], [7.0, 9.0]])
    np.testing.assert_allclose(m.distance(a, b), [math.sqrt(1.0 + 9.0), math.sqrt(25.0 + 64.0)])


def test_two_plus_one_d_ignores_vertical_in_distance():
    m = Metric.from_pdaf(10)
    a = np.array([[0.0, 0.0, 0.0]])
    b = np.array([[3.0, 4.0, 100.0]])
    assert m.distance(a, b)[0] == 5.0
    assert Metric.from_pdaf(0).distance(a, b)[0] == pytest.approx(math.sqrt(25.0 + 1e4))


# --------------------------------------------------------------------------------------------
# neighbour search
# --------------------------------------------------------------------------------------------


def _brute_force(dom, obs, loc: Localization):
    """PDAF's O(n_domains x n_obs) loop, done with numpy broadcasting."""
    n, m = len(dom), len(obs)
    a = np.repeat(dom, m, axis=0)
    b = np.tile(obs, (n, 1))
    d = loc.metric.distance(a, b).reshape(n, m)
    local = d <= loc.cradius
    if loc.metric.horizontal_only and dom.shape[1] == 3:
        vcut = loc.cradius if loc.metric.vertical_cutoff is None else loc.metric.vertical_cutoff
        local &= np.abs(dom[:, None, 2] - obs[None, :, 2]) <= vcut
    return local, d


def _check_against_brute_force(dom, obs, loc):
    pairs = find_local_observations(dom, obs, loc)
    local, d = _brute_force(dom, obs, loc)
    assert pairs.indptr.dtype == np.int64 and pairs.obs.dtype == np.int64
    assert pairs.indptr.shape == (len(dom) + 1,)
    np.testing.assert_array_equal(pairs.counts(), local.sum(axis=1))
    rows, cols = np.nonzero(local)  # row-major: ascending obs within each domain
    np.testing.assert_array_equal(pairs.domain_of_pair(), rows)
    np.testing.assert_array_equal(pairs.obs, cols)
    np.testing.assert_allclose(pairs.distance, d[rows, cols], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(pairs.weight, loc.weights(d[rows, cols]), rtol=1e-12, atol=1e-15)
    return pairs


def test_search_matches_brute_force_cartesian_with_ties_at_cradius():
    # integer lattice and cradius 5: offsets (3, 4), (5, 0), ... lie exactly at d == cradius
    rng = np.random.default_rng(2)
    dom = rng.integers(0, 40, (300, 2)).astype(float)
    obs = rng.integers(0, 40, (400, 2)).astype(float)
    loc = Localization.from_pdaf(cradius=5.0, sradius=8.0, locweight=2)
    pairs = _check_against_brute_force(dom, obs, loc)
    assert np.any(pairs.distance == 5.0)  # the ties are really there and are counted
    assert np.all(pairs.weight[pairs.distance == 5.0] > 0)


def test_search_matches_brute_force_cartesian_3d_random():
    rng = np.random.default_rng(3)
    dom = rng.uniform(0, 50, (500, 3))
    obs = rng.uniform(0, 50, (300, 3))
    _check_against_brute_force(dom, obs, Localization.from_pdaf(7.0, 10.0, locweight=1))


def test_search_matches_brute_force_periodic():
    rng = np.random.default_rng(4)
    size = (30.0, 20.0)
    dom = rng.integers(0, 30, (400, 2)) * [1.0, 20.0 / 30.0]
    obs = rng.uniform(0, 1, (300, 2)) * size
    obs[:20] = dom[:20] + [[4.0, 0.0]]  # some exactly at cradius, some across the edge
    obs[:20, 0] %= 30.0
    loc = Localization.from_pdaf(4.0, 6.0, locweight=2, disttype=1, domain_size=size)
    pairs = _check_against_brute_force(dom, obs, loc)
    assert np.any(pairs.distance == 4.0)
    # wrapping really happened: some pair is far apart in raw x but local
    raw_dx = np.abs(dom[pairs.domain_of_pair(), 0] - obs[pairs.obs, 0])
    assert np.any(raw_dx > 26.0)


def test_search_matches_brute_force_periodic_one_axis_and_3d():
    rng = np.random.default_rng(5)
    dom = rng.uniform(0, 1, (300, 3)) * [25.0, 25.0, 5.0]
    obs = rng.uniform(0, 1, (300, 3)) * [25.0, 25.0, 5.0]
    loc = Localization.from_pdaf(5.0, 5.0, locweight=5, disttype=1, domain_size=(25.0, 0.0, 5.0))
    _check_against_brute_force(dom, obs, loc)


@pytest.mark.parametrize("disttype", [2, 3])
def test_search_matches_brute_force_geographic(disttype):
    rng = np.random.default_rng(6 + disttype)
    def points(n):
        lon = rng.uniform(-math.pi, math.pi, n)
        return np.column_stack([lon, np.arcsin(rng.uniform(-1, 1, n))])
    dom = points(600)
    obs = points(500)
    # include the date line and the poles: cluster some points near them
    dom[:50, 0] = rng.uniform(math.pi - 0.05, math.pi, 50)
    obs[:50, 0] = rng.uniform(-math.pi, -math.pi + 0.05, 50)
    dom[50:80, 1] = rng.uniform(1.5, math.pi / 2, 30)
    obs[50:80, 1] = rng.uniform(1.5, math.pi / 2, 30)
    loc = Localization.from_pdaf(1.5e6, 1.5e6, locweight=2, disttype=disttype)
    pairs = _check_against_brute_force(dom, obs, loc)
    assert pairs.nnz > 1000


@pytest.mark.parametrize("disttype", [10, 11, 12, 13])
def test_search_matches_brute_force_two_plus_one_d(disttype):
    rng = np.random.default_rng(20 + disttype)
    if disttype in (12, 13):
        h = lambda n: np.column_stack([rng.uniform(0, 0.3, n), rng.uniform(0.6, 0.9, n)])
        cr = 2.0e5
    else:
        h = lambda n: rng.uniform(0, 20, (n, 2))
        cr = 3.0
    dom = np.column_stack([h(300), rng.integers(0, 6, 300).astype(float)])
    obs = np.column_stack([h(400), rng.integers(0, 6, 400).astype(float)])
    size = (20.0, 20.0, 0.0) if disttype == 11 else None
    for vcut in (None, 1.0, math.inf, 0.0):
        loc = Localization.from_pdaf(cr, locweight=2, disttype=disttype, domain_size=size,
                                     vertical_cutoff=vcut)
        pairs = _check_against_brute_force(dom, obs, loc)
        dz = np.abs(dom[pairs.domain_of_pair(), 2] - obs[pairs.obs, 2])
        limit = cr if vcut is None else vcut
        assert np.all(dz <= limit)


def test_search_lists_observations_in_ascending_order_per_domain():
    rng = np.random.default_rng(8)
    dom = rng.uniform(0, 30, (1000, 2))
    obs = rng.uniform(0, 30, (800, 2))
    pairs = find_local_observations(dom, obs, Localization.from_pdaf(4.0, locweight=0))
    same_domain = np.diff(pairs.domain_of_pair()) == 0
    assert np.all(np.diff(pairs.obs)[same_domain] > 0)
    assert pairs.nnz > 5000


def test_search_result_is_independent_of_observation_permutation():
    rng = np.random.default_rng(9)
    dom = rng.uniform(0, 30, (400, 2))
    obs = rng.uniform(0, 30, (500, 2))
    loc = Localization.from_pdaf(5.0, locweight=2)
    ref = find_local_observations(dom, obs, loc)
    perm = rng.permutation(len(obs))
    got = find_local_observations(dom, obs[perm], loc)
    # map back to original positions and compare as sets per domain
    ref_set = set(zip(ref.domain_of_pair().tolist(), ref.obs.tolist()))
    got_set = set(zip(got.domain_of_pair().tolist(), perm[got.obs].tolist()))
    assert ref_set == got_set


def test_search_handles_zero_observations_and_zero_domains():
    loc = Localization.from_pdaf(3.0, locweight=2)
    dom = np.zeros((5, 2))
    p = find_local_observations(dom, np.zeros((0, 2)), loc)
    assert isinstance(p, LocalPairs)
    np.testing.assert_array_equal(p.indptr, np.zeros(6, dtype=np.int64))
    assert p.nnz == 0 and p.distance.shape == (0,) and p.weight.shape == (0,)
    p = find_local_observations(np.zeros((0, 2)), np.ones((4, 2)), loc)
    np.testing.assert_array_equal(p.indptr, [0])
    # observations all out of reach
    p = find_local_observations(dom, np.full((4, 2), 100.0), loc)
    assert p.nnz == 0 and p.indptr.shape == (6,)


def test_zero_cradius_finds_only_colocated_observations():
    dom = np.array([[0.0, 0.0], [1.0, 1.0]])
    obs = np.array([[1.0, 1.0], [0.0, 1e-9], [0.0, 0.0]])
    p = find_local_observations(dom, obs, Localization.from_pdaf(0.0, locweight=2))
    np.testing.assert_array_equal(p.indptr, [0, 1, 2])
    np.testing.assert_array_equal(p.obs, [2, 0])
    np.testing.assert_array_equal(p.weight, [1.0, 1.0])


def test_search_rejects_degrees_for_geographic_and_mismatched_shapes():
    loc = Localization.from_pdaf(1e5, locweight=2, disttype=3)
    with pytest.raises(ValueError, match="radians"):
        find_local_observations(np.array([[10.0, 50.0]]), np.array([[10.0, 50.0]]), loc)
    with pytest.raises(ValueError):
        find_local_observations(np.zeros((2, 2)), np.zeros((2, 3)), Localization.from_pdaf(1.0))
    with pytest.raises(ValueError, match="non-finite"):
        find_local_observations(np.array([[np.nan, 0.0]]), np.zeros((2, 2)),
                                Localization.from_pdaf(1.0))

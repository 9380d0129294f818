"""Ensemble generation: forcing and state perturbations (pdafpy.perturb) and the land model's soil
parameter perturbations and pedotransfer rules (models.land.soil_perturbations, .pedotransfer).

Statistical tolerances are stated from the sampling error of the estimator with n independent
members: sd(sample variance) = sqrt(2/n) sigma^2, sd(sample correlation) = (1 - rho^2)/sqrt(n),
sd(sample mean) = sd/sqrt(n); the tests allow 4 of those sd (false-alarm rate ~1e-4 per check,
and the seeds are fixed, so a pass is reproducible).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import ndtri

from models.land.pedotransfer import (USDA_CLASSES, cosby1984, rosetta_class_average,
                                     usda_texture_class)
from models.land.soil_perturbations import perturb_log10_ks, perturb_texture
from pdafpy.errors import ConfigError
from pdafpy.perturb import (ForcingPerturbation, ForcingVariable, SpatialStructure, perturb_state,
                            standard_field, truncate_normal)

HOUR = 3600.0
# Z25 / LI Table 3, order [P, SW, LW, T]
C4 = np.array([[1.0, -0.8, 0.5, 0.0],
               [-0.8, 1.0, -0.5, 0.4],
               [0.5, -0.5, 1.0, 0.4],
               [0.0, 0.4, 0.4, 1.0]])


def four_variables(tau=24 * HOUR):
    return [ForcingVariable("precipitation", 0.5, "multiplicative", time_scale_s=tau),
            ForcingVariable("shortwave", 0.3, "multiplicative", time_scale_s=tau),
            ForcingVariable("longwave", 50.0, "additive", time_scale_s=tau),
            ForcingVariable("air_temperature", 1.0, "additive", time_scale_s=tau)]


def standardised(out, variables):
    """Gaussian (log-space for factors) standardised perturbations, (n_vars, ...)."""
    res = []
    for v in variables:
        x = out[v.name]
        if v.kind == "multiplicative":
            s = v.log_sd
            res.append((np.log(x / v.mean) + 0.5 * s * s) / s)
        else:
            res.append((x - v.mean) / v.sd)
    return np.array(res)


# ------------------------------------------------------------------ layout independence

CORR = SpatialStructure("correlated", correlation_length_m=3000.0, dx_m=1000.0, dy_m=1500.0,
                        n_modes=32)


@pytest.mark.parametrize("spatial", [SpatialStructure("uniform"), SpatialStructure("independent"),
                                     CORR], ids=["uniform", "independent", "correlated"])
@pytest.mark.parametrize("remove_mean", [False, True])
def test_forcing_identical_on_full_grid_halves_and_any_member_order(spatial, remove_mean):
    grid = (6, 7)
    kw = dict(seed=11, n_members=6, grid_shape=grid, dt_s=HOUR, correlation=C4, spatial=spatial,
              remove_ensemble_mean=remove_mean)
    full = ForcingPerturbation(four_variables(), members=range(6), box=(0, 6, 0, 7), **kw)
    # two "ranks" splitting rows and columns, holding members in another order
    parts = [ForcingPerturbation(four_variables(), members=[5, 2, 0], box=(0, 4, 0, 3), **kw),
             ForcingPerturbation(four_variables(), members=[4, 1, 3], box=(4, 6, 3, 7), **kw)]
    for cycle in (3, 4, 5, 8):
        f = full.step(cycle)
        for p, (rows, cols) in zip(parts, [(slice(0, 4), slice(0, 3)),
                                           (slice(4, 6), slice(3, 7))]):
            o = p.step(cycle)
            for name in f:
                expect = f[name][p.members][:, rows, cols]
                assert np.array_equal(o[name], expect), (name, cycle)


def test_correlated_field_identical_for_single_column_boxes():
    grid = (3, 4)
    full = standard_field(5, "f", 2, [1, 0], 3, (0, 3, 0, 4), grid, CORR)
    for r in range(3):
        for c in range(4):
            one = standard_field(5, "f", 2, [0, 1], 3, (r, r + 1, c, c + 1), grid, CORR)
            assert np.array_equal(one[::-1, 0, 0], full[:, r, c])


# ------------------------------------------------------------------ truncation

def test_quantile_truncation_keeps_unit_variance_and_bound_clip_does_not():
    z = ndtri((np.arange(400_000) + 0.5) / 400_000)    # quadrature of N(0, 1)
    t = truncate_normal(z, 2.5)
    assert np.abs(t).max() <= 2.5 and np.abs(t).max() > 2.499
    assert abs(np.mean(t ** 2) - 1.0) < 1e-5
    assert np.array_equal(truncate_normal(-z, 2.5), -t)       # exactly odd
    assert np.all(np.diff(t) >= 0)                            # monotone
    c = truncate_normal(z, 2.5, "clip")
    assert abs(np.mean(c ** 2) - 0.97756) < 1e-4              # clipping loses 2.2 % variance


def test_innovations_truncated_at_2p5_sd_and_unit_variance():
    n = 8000
    var = ForcingVariable("air_temperature", 1.0, "additive", time_scale_s=None)   # white: e = z
    fp = ForcingPerturbation([var], seed=3, n_members=n, members=range(n), box=(0, 1, 0, 1),
                             grid_shape=(1, 1), dt_s=HOUR, truncate_sd=2.5)
    x = np.concatenate([fp.step(c)["air_temperature"].ravel() for c in range(3)])
    assert np.abs(x).max() <= 2.5
    assert np.abs(x).max() > 2.3                 # truncation is not a collapse
    assert abs(x.var() - 1.0) < 4 * math.sqrt(2 / x.size)


# ------------------------------------------------------------------ AR(1) and correlations

def test_ar1_lag1_autocorrelation_is_exp_minus_dt_over_tau_and_variance_stationary():
    n, dt, tau = 20000, 6 * HOUR, 24 * HOUR
    phi = math.exp(-dt / tau)                                  # 0.7788
    var = ForcingVariable("air_temperature", 2.0, "additive", time_scale_s=tau)
    fp = ForcingPerturbation([var], seed=21, n_members=n, members=range(n), box=(0, 1, 0, 1),
                             grid_shape=(1, 1), dt_s=dt, truncate_sd=2.5)
    e = np.array([fp.step(c)["air_temperature"].ravel() / 2.0 for c in range(6)])
    for t in (0, 5):
        assert abs(e[t].var() - 1.0) < 4 * math.sqrt(2 / n)    # 0.04
    r1 = np.corrcoef(e[4], e[5])[0, 1]
    assert abs(r1 - phi) < 4 * (1 - phi ** 2) / math.sqrt(n)  # 0.011; 1 - dt/tau = 0.75 fails
    r5 = np.corrcoef(e[0], e[5])[0, 1]
    assert abs(r5 - phi ** 5) < 4 * (1 - phi ** 10) / math.sqrt(n)


def test_cross_correlation_of_perturbations_matches_requested_matrix():
    n = 20000
    variables = four_variables()
    fp = ForcingPerturbation(variables, seed=8, n_members=n, members=range(n), box=(0, 1, 0, 1),
                             grid_shape=(1, 1), dt_s=HOUR, correlation=C4)
    for cycle in (0, 7):
        e = standardised(fp.step(cycle), variables).reshape(4, n)
        r = np.corrcoef(e)
        tol = 4 * (1 - C4 ** 2) / math.sqrt(n) + 1e-12
        assert np.all(np.abs(r - C4) < tol), r


def test_correlation_applies_to_the_variables_in_the_order_given():
    # not the order of any list of known names: rows follow the variables as given
    n = 20000
    variables = [ForcingVariable("air_temperature", 1.0, "additive"),
                 ForcingVariable("precipitation", 0.5, "multiplicative"),
                 ForcingVariable("shortwave", 0.3, "multiplicative")]
    c = np.array([[1.0, 0.0, -0.8], [0.0, 1.0, 0.0], [-0.8, 0.0, 1.0]])
    fp = ForcingPerturbation(variables, seed=8, n_members=n, members=range(n), box=(0, 1, 0, 1),
                             grid_shape=(1, 1), dt_s=HOUR, correlation=c,
                             known_variables=("precipitation", "shortwave", "air_temperature"))
    assert [v.name for v in fp.variables] == ["air_temperature", "precipitation", "shortwave"]
    out = fp.step(0)
    assert list(out) == ["air_temperature", "precipitation", "shortwave"]
    r = np.corrcoef(standardised(out, fp.variables).reshape(3, n))
    assert np.all(np.abs(r - c) < 4 * (1 - c ** 2) / math.sqrt(n) + 1e-12), r


def test_default_kinds_come_from_the_caller():
    kw = dict(seed=5, n_members=3, members=range(3), box=(0, 1, 0, 1), grid_shape=(1, 1),
              dt_s=HOUR)
    implicit = ForcingPerturbation([ForcingVariable("runoff", 0.4)],
                                   default_kinds={"runoff": "multiplicative"}, **kw)
    explicit = ForcingPerturbation([ForcingVariable("runoff", 0.4, "multiplicative")], **kw)
    assert implicit.variables == explicit.variables
    assert implicit.variables[0].mean == 1.0
    assert np.array_equal(implicit.step(0)["runoff"], explicit.step(0)["runoff"])


def test_lognormal_factors_have_mean_one_and_log_variance_ln_1_plus_sd2():
    n = 20000
    sd = 0.5
    s2 = math.log1p(sd ** 2)                                   # 0.2231
    var = ForcingVariable("precipitation", sd, "multiplicative")
    kw = dict(seed=4, n_members=n, members=range(n), box=(0, 1, 0, 1), grid_shape=(1, 1),
              dt_s=HOUR)
    f = ForcingPerturbation([var], **kw).step(0)["precipitation"].ravel()
    assert f.min() > 0
    assert abs(f.mean() - 1.0) < 4 * sd / math.sqrt(n)       # 0.014
    assert abs(f.std() - sd) < 0.03                           # factor sd in linear space
    assert abs(np.log(f).var() - s2) < 4 * s2 * math.sqrt(2 / n)
    g = ForcingPerturbation([var], lognormal_bias_correction=False, **kw).step(0)
    assert abs(g["precipitation"].mean() - math.exp(s2 / 2)) < 4 * sd / math.sqrt(n)
    assert np.allclose(g["precipitation"].ravel() * math.exp(-s2 / 2), f, rtol=1e-13)


def test_ensemble_mean_removal_leaves_the_mean_forcing_unperturbed():
    n = 9
    variables = four_variables()
    kw = dict(seed=2, n_members=n, grid_shape=(3, 4), box=(0, 3, 0, 4), dt_s=HOUR,
              correlation=C4, spatial=SpatialStructure("independent"),
              remove_ensemble_mean=True)
    ranks = [ForcingPerturbation(variables, members=m, **kw)
             for m in ([0, 1, 2, 3, 4], [5, 6, 7, 8])]
    for cycle in (0, 1, 5):
        outs = [r.step(cycle) for r in ranks]
        for v in variables:
            x = np.concatenate([o[v.name] for o in outs])
            assert x.shape == (n, 3, 4)
            if v.kind == "multiplicative":
                assert np.abs(x.mean(axis=0) - 1.0).max() < 1e-14
            else:
                assert np.abs(x.mean(axis=0)).max() < 1e-12 * v.sd
            assert x.std(axis=0).min() > 0                    # still perturbed


def test_repeated_cycle_returns_same_and_earlier_cycle_is_refused():
    fp = ForcingPerturbation(four_variables(), seed=1, n_members=3, members=[0, 1, 2],
                             box=(0, 2, 0, 2), grid_shape=(2, 2), dt_s=HOUR)
    a = fp.step(2)
    b = fp.step(2)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    fp.step(3)
    with pytest.raises(ConfigError, match="cycle"):
        fp.step(1)


def test_constant_in_time_perturbation_never_changes():
    var = ForcingVariable("precipitation", 0.15, "multiplicative", sd_space="log",
                          time_scale_s=math.inf)
    fp = ForcingPerturbation([var], seed=1, n_members=4, members=range(4), box=(0, 1, 0, 1),
                             grid_shape=(1, 1), dt_s=HOUR)
    a = fp.step(0)["precipitation"]
    assert np.array_equal(fp.step(100)["precipitation"], a)
    assert np.std(np.log(a)) > 0


# ------------------------------------------------------------------ restart

@pytest.mark.parametrize("spatial", [SpatialStructure("uniform"), SpatialStructure("independent")],
                         ids=["uniform", "independent"])
def test_saved_ar1_state_continues_bit_identically(tmp_path, spatial):
    kw = dict(seed=9, n_members=5, grid_shape=(4, 4), dt_s=HOUR, correlation=C4,
              spatial=spatial)
    ref = ForcingPerturbation(four_variables(), members=range(5), box=(0, 4, 0, 4), **kw)
    for c in range(4):
        ref.step(c)
    np.savez(tmp_path / "ar1.npz", **ref.state())
    expect = [ref.step(c) for c in (4, 5, 6)]

    saved = dict(np.load(tmp_path / "ar1.npz"))
    same = ForcingPerturbation.from_state(saved, four_variables(), members=range(5),
                                          box=(0, 4, 0, 4), **kw)
    # restart on another layout: a sub-box and some members, from the whole saved state
    other = ForcingPerturbation.from_state(saved, four_variables(), members=[4, 1],
                                           box=(1, 3, 2, 4), **kw)
    for c, e in zip((4, 5, 6), expect):
        got = same.step(c)
        sub = other.step(c)
        for k in e:
            assert np.array_equal(got[k], e[k])
            assert np.array_equal(sub[k], e[k][[4, 1]][:, 1:3, 2:4])


# ------------------------------------------------------------------ random fields

@pytest.mark.parametrize("covariance, rho_2l", [("exponential", math.exp(-2.0)),
                                                ("gaussian", math.exp(-4.0))])
def test_correlated_field_has_requested_correlation_length_and_unit_variance(covariance, rho_2l):
    n = 2000
    length = 5000.0
    sp = SpatialStructure("correlated", correlation_length_m=length, covariance=covariance,
                          dx_m=1000.0, dy_m=2500.0, n_modes=64)
    f = standard_field(17, "field", 0, np.arange(n), 0, (0, 3, 0, 11), (3, 11), sp)
    assert abs(f.var() - 1.0) < 4 * math.sqrt(2 / n)                 # pooled; sd <= 0.032

    def corr(a, b):
        return np.mean([np.corrcoef(x, y)[0, 1] for x, y in zip(a, b)])

    tol = 4 * (1 - math.exp(-2)) / math.sqrt(n)                      # 0.077 for one pair
    # lag L = 5 km along x (5 columns) and along y (2 rows of 2.5 km): exp(-1) for both models
    rx = corr(f[:, 1, :6].T, f[:, 1, 5:].T)
    ry = corr(f[:, 0, :].T, f[:, 2, :].T)
    assert abs(rx - math.exp(-1)) < tol, rx
    assert abs(ry - math.exp(-1)) < tol, ry
    # lag 2L tells the two covariance models apart (0.135 vs 0.018)
    r2 = corr(f[:, 1, :1].T, f[:, 1, 10:].T)
    assert abs(r2 - rho_2l) < 4 * (1 - rho_2l ** 2) / math.sqrt(n), r2


# ------------------------------------------------------------------ state perturbations

def test_state_perturbation_sd_per_level_vertical_correlation_and_layout():
    grid = (40, 50)
    vc = np.array([[1.0, 0.6, 0.4], [0.6, 1.0, 0.6], [0.4, 0.6, 1.0]])
    sd = np.array([0.02, 0.01, 0.005])
    base = np.full((3, 40, 50), 0.3)
    x = perturb_state(base, sd, seed=5, member=3, box=(0, 40, 0, 50), grid_shape=grid,
                      vertical_correlation=vc)
    d = (x - base).reshape(3, -1)
    n = d.shape[1]                                                     # 2000 columns
    assert np.all(np.abs(d.std(axis=1) / sd - 1) < 4 * math.sqrt(1 / (2 * n)))
    assert np.all(np.abs(np.corrcoef(d) - vc) < 4 * (1 - vc ** 2) / math.sqrt(n) + 1e-12)
    half = perturb_state(base[:, 20:, 10:], sd, seed=5, member=3, box=(20, 40, 10, 50),
                         grid_shape=grid, vertical_correlation=vc)
    assert np.array_equal(half, x[:, 20:, 10:])
    other = perturb_state(base, sd, seed=5, member=4, box=(0, 40, 0, 50), grid_shape=grid)
    assert not np.array_equal(other, x)
    clipped = perturb_state(base, 0.5, seed=5, member=3, box=(0, 40, 0, 50), grid_shape=grid,
                            bounds=(0.05, 0.45), truncate_sd=2.5)
    assert clipped.min() >= 0.05 and clipped.max() <= 0.45


# ------------------------------------------------------------------ parameters

def test_log10_ks_offsets_normal_and_uniform_and_layer_mask():
    ks = np.full((3, 2, 2), 1e-5)
    n = 1500
    normal = np.array([perturb_log10_ks(ks, 1, m, (0, 2, 0, 2), (2, 2), sd_log10=0.3,
                                        layer_mask=[True, True, False]) for m in range(n)])
    d = np.log10(normal / 1e-5)
    assert np.all(d[:, 2] == 0)                                        # masked layer untouched
    assert np.all(d[:, :2] == d[:, :1, :1, :1])                        # uniform, shared by layers
    assert abs(d[:, 0, 0, 0].std() / 0.3 - 1) < 4 * math.sqrt(1 / (2 * n))
    uni = np.array([perturb_log10_ks(ks[0], 1, m, (0, 2, 0, 2), (2, 2), half_width_log10=0.5)
                    for m in range(n)])
    du = np.log10(uni / 1e-5)[:, 0, 0]
    assert np.abs(du).max() <= 0.5 and np.abs(du).max() > 0.49
    assert abs(du.var() - 0.25 / 3) < 4 * math.sqrt(4 / 45 / n) * 0.25  # var of U^2 = 4h^4/45


def test_texture_perturbation_keeps_sand_plus_clay_below_100():
    sand = np.full((2, 3, 3), 60.0)
    clay = np.full((2, 3, 3), 35.0)
    sums, ds = [], []
    for m in range(400):
        s, c = perturb_texture(sand, clay, 7, m, (0, 3, 0, 3), (3, 3), sd_pct=10.0)
        assert np.all(s == s[0, 0, 0]) and np.all(c == c[0, 0, 0])      # uniform per member
        sums.append((s + c).max())
        ds.append(s[0, 0, 0] - 60.0)
    assert max(sums) <= 100.0 + 1e-12
    assert min(sums) < 100.0
    assert np.std(ds) > 5.0


def test_rosetta_class_averages_reproduce_published_values():
    # Schaap et al. (2001) class averages as tabulated in cm/h (Rosetta docs): theta_r, theta_s,
    # alpha [1/cm], n, Ks [cm/h]
    published = {"sand": (92, 3, 0.053, 0.375, 0.0352, 3.18, 26.779),
                 "loam": (40, 20, 0.061, 0.399, 0.0111, 1.47, 0.502),
                 "silt loam": (20, 10, 0.065, 0.439, 0.0051, 1.66, 0.760),
                 "clay": (20, 60, 0.098, 0.459, 0.015, 1.25, 0.615)}
    for name, (sa, cl, tr, ts, alpha, n, ks) in published.items():
        p = rosetta_class_average(sa, cl)
        assert USDA_CLASSES[int(p["texture_class"])] == name
        assert p["theta_r"] == pytest.approx(tr) and p["theta_s"] == pytest.approx(ts)
        assert p["alpha_per_m"] / 100 == pytest.approx(alpha, rel=0.01)
        assert p["n"] == pytest.approx(n, rel=0.005)
        assert p["ks_m_s"] * 100 * 3600 == pytest.approx(ks, rel=0.002)


def test_usda_texture_triangle_classes():
    cases = {(10, 5): "silt", (65, 10): "sandy loam", (30, 35): "clay loam",
             (10, 35): "silty clay loam", (50, 40): "sandy clay", (5, 45): "silty clay",
             (25, 55): "clay", (60, 25): "sandy clay loam", (80, 5): "loamy sand",
             (95, 2): "sand", (40, 20): "loam", (20, 15): "silt loam"}
    sand, clay = np.array(list(cases)).T
    got = [USDA_CLASSES[i] for i in usda_texture_class(sand, clay)]
    assert got == list(cases.values())


def test_cosby1984_clm_regressions_at_two_textures():
    # CLM 3.5 / Z25 Eqs. 6-8, evaluated by hand:
    # sand 92 %: log10 Ks[in/h] = -0.884 + 1.4076 = 0.5236 -> 3.3389 in/h = 2.3558e-5 m/s;
    #   theta_s = 0.489 - 0.11592 = 0.37308; psi_s = 10^(1.88 - 1.2052) cm = 4.7293 cm
    # sand 40 %, clay 20 %: Ks = 10^(-0.272) in/h = 0.53456 in/h = 3.7716e-6 m/s; b = 6.09
    p = cosby1984([92, 40], [3, 20])
    assert p["ks_m_s"] == pytest.approx([2.3558e-5, 3.7716e-6], rel=1e-4)
    assert p["theta_s"] == pytest.approx([0.37308, 0.4386], rel=1e-9)
    assert p["psi_s_m"][0] == pytest.approx(0.047293, rel=1e-4)
    assert p["b"] == pytest.approx([3.387, 6.09])
    assert p["n"] == pytest.approx(1 + 1 / p["b"])
    assert p["alpha_per_m"] == pytest.approx(1 / p["psi_s_m"])


# ------------------------------------------------------------------ bad inputs

def _fp(**over):
    kw = dict(seed=1, n_members=4, members=[0, 1], box=(0, 2, 0, 2), grid_shape=(2, 2),
              dt_s=HOUR)
    kw.update(over)
    variables = kw.pop("variables", four_variables())
    return ForcingPerturbation(variables, **kw)


BAD = [
    ("sd", lambda: ForcingVariable("precipitation", -0.1)),
    ("name", lambda: _fp(variables=[ForcingVariable("snowfall", 0.1, "additive")],
                         known_variables=("longwave",))),
    ("kind", lambda: _fp(variables=[ForcingVariable("longwave", 0.1)],
                         default_kinds={"shortwave": "multiplicative"})),
    ("mean", lambda: ForcingVariable("shortwave", 0.1, "multiplicative", mean=0.0)),
    ("time_scale_s", lambda: ForcingVariable("longwave", 20.0, time_scale_s=0.0)),
    ("time_scale_s", lambda: ForcingVariable("longwave", 20.0, time_scale_s=-3600.0)),
    ("kind", lambda: ForcingVariable("longwave", 20.0, kind="power")),
    ("correlation", lambda: _fp(correlation=np.full((4, 4), -0.5) + 1.5 * np.eye(4))),  # not SPD
    ("correlation", lambda: _fp(correlation=C4 + np.triu(np.full((4, 4), 0.05), 1))),
    ("correlation", lambda: _fp(correlation=C4 * 2)),
    ("correlation", lambda: _fp(correlation=np.eye(3))),
    ("dt_s", lambda: _fp(dt_s=0.0)),
    ("truncate_sd", lambda: _fp(truncate_sd=1.0)),
    ("members", lambda: _fp(members=[0, 4])),
    ("members", lambda: _fp(members=[1, 1])),
    ("box", lambda: _fp(box=(0, 3, 0, 2))),
    ("variables", lambda: _fp(variables=[ForcingVariable("longwave", 1.0, "additive")] * 2)),
    ("correlation_length_m", lambda: SpatialStructure("correlated", correlation_length_m=0.0)),
    ("correlation_length_m", lambda: SpatialStructure("correlated")),
    ("sd", lambda: perturb_state(np.zeros((2, 2, 2)), [0.1, -0.1], 1, 0, (0, 2, 0, 2), (2, 2))),
    ("sd", lambda: perturb_state(np.zeros((2, 2, 2)), [0.1, 0.1, 0.1], 1, 0, (0, 2, 0, 2), (2, 2))),
    ("vertical_correlation", lambda: perturb_state(np.zeros((2, 2, 2)), 0.1, 1, 0, (0, 2, 0, 2),
                                                   (2, 2), vertical_correlation=[[1, 2], [2, 1]])),
    ("field", lambda: perturb_state(np.zeros((2, 3, 2)), 0.1, 1, 0, (0, 2, 0, 2), (2, 2))),
    ("ks", lambda: perturb_log10_ks(-np.ones((2, 2)), 1, 0, (0, 2, 0, 2), (2, 2), sd_log10=0.1)),
    ("sd_log10", lambda: perturb_log10_ks(np.ones((2, 2)), 1, 0, (0, 2, 0, 2), (2, 2),
                                          sd_log10=0.1, half_width_log10=0.5)),
    ("sd_log10", lambda: perturb_log10_ks(np.ones((2, 2)), 1, 0, (0, 2, 0, 2), (2, 2),
                                          sd_log10=-0.1)),
    ("sd_pct", lambda: perturb_texture(np.ones((2, 2)), np.ones((2, 2)), 1, 0, (0, 2, 0, 2),
                                       (2, 2), sd_pct=-1.0)),
    ("sand_pct", lambda: cosby1984(120.0, 10.0)),
    ("sand_pct \\+ clay_pct", lambda: rosetta_class_average(70.0, 40.0)),
]


@pytest.mark.parametrize("key, make", BAD, ids=[f"{k}-{i}" for i, (k, _) in enumerate(BAD)])
def test_bad_inputs_raise_config_error_naming_the_parameter(key, make):
    with pytest.raises(ConfigError, match=key):
        make()

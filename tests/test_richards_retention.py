"""Retention curves, their derivatives, and the early rejection of bad soil and grid input."""

import numpy as np
import pytest

from pdafpy.errors import ConfigError
from models.richards.retention import Retention, gardner, validate_soil, van_genuchten
from models.richards.grid import validate_grid


def _params(**kw):
    p = {"theta_r": np.array(0.08), "theta_s": np.array(0.43), "alpha": np.array(3.6),
         "n": np.array(1.56), "ks_h": np.array(1e-5), "ks_v": np.array(1e-5), "ss": np.array(0.0)}
    p.update({k: np.array(v) for k, v in kw.items()})
    return p


@pytest.mark.parametrize("fn,n", [(van_genuchten, 1.56), (van_genuchten, 3.0), (gardner, 2.0)])
def test_retention_derivatives_match_central_differences(fn, n):
    h = -np.logspace(-3, 2, 200)
    eps = 1e-5 * np.abs(h)
    th, dth, kr, dkr = fn(h, 0.08, 0.43, 3.6, n)
    thp, _, krp, _ = fn(h + eps, 0.08, 0.43, 3.6, n)
    thm, _, krm, _ = fn(h - eps, 0.08, 0.43, 3.6, n)
    np.testing.assert_allclose(dth, (thp - thm) / (2 * eps), rtol=1e-5,
                               atol=1e-8 * np.abs(dth).max())
    np.testing.assert_allclose(dkr, (krp - krm) / (2 * eps), rtol=1e-5,
                               atol=1e-8 * np.abs(dkr).max())


@pytest.mark.parametrize("n,se_c", [(1.1, 0.9999), (1.1, 0.99), (1.56, 0.9)])
def test_regularised_kr_is_c1_bounded_and_its_derivative_exact(n, se_c):
    # Se from below the threshold up to 1 - 1e-12: heads from -1 m to ~0
    m = 1.0 - 1.0 / n
    se = 1.0 - np.logspace(np.log10(1.0 - (se_c - 0.5 * (1 - se_c))), -12, 400)
    h = -((se ** (-1.0 / m) - 1.0) ** (1.0 / n)) / 3.6
    th, dth, kr, dkr = van_genuchten(h, 0.08, 0.43, 3.6, n, kr_se_high=se_c)
    th0, dth0, kr0, dkr0 = van_genuchten(h, 0.08, 0.43, 3.6, n)
    np.testing.assert_array_equal(th, th0)            # retention untouched
    np.testing.assert_array_equal(dth, dth0)
    below = se <= se_c
    assert below.any() and (~below).any()
    np.testing.assert_array_equal(kr[below], kr0[below])
    assert np.all(np.diff(kr) >= -1e-15) and kr[-1] == pytest.approx(1.0, abs=1e-9)
    # bounded and vanishing at saturation, where Mualem's grows without bound for small n
    assert np.all(np.isfinite(dkr)) and dkr[-1] <= 1e-3 * dkr.max() and dkr0[-1] > dkr0[-2]
    # central differences; Se is resolved to ~1e-16 only, so steps of 1e-4 |h|, and none across
    # the threshold (the second derivative jumps there)
    hc = -((se_c ** (-1.0 / m) - 1.0) ** (1.0 / n)) / 3.6
    eps = 1e-4 * np.abs(h)
    krp = van_genuchten(h + eps, 0.08, 0.43, 3.6, n, derivatives=False, kr_se_high=se_c)[2]
    krm = van_genuchten(h - eps, 0.08, 0.43, 3.6, n, derivatives=False, kr_se_high=se_c)[2]
    ok = (1.0 - se > 1e-6) & (np.abs(h - hc) > 2 * eps)
    np.testing.assert_allclose(dkr[ok], ((krp - krm) / (2 * eps))[ok], rtol=1e-4,
                               atol=1e-8 * np.abs(dkr).max())
    # value and slope continuous at the threshold
    d = 1e-9 * abs(hc)
    lo = van_genuchten(np.array([hc - d]), 0.08, 0.43, 3.6, n, kr_se_high=se_c)
    hi = van_genuchten(np.array([hc + d]), 0.08, 0.43, 3.6, n, kr_se_high=se_c)
    assert hi[2][0] == pytest.approx(lo[2][0], rel=1e-6)
    assert hi[3][0] == pytest.approx(lo[3][0], rel=1e-4)
    # saturated cells unchanged
    sat = van_genuchten(np.array([0.0, 0.3]), 0.08, 0.43, 3.6, n, kr_se_high=se_c)
    np.testing.assert_array_equal(sat[2], 1.0)
    np.testing.assert_array_equal(sat[3], 0.0)


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.1])
def test_regularisation_threshold_outside_unit_interval_is_rejected(bad):
    with pytest.raises(ConfigError, match="kr_se_high"):
        Retention("van_genuchten", _params(), kr_se_high=bad)


def test_saturated_cells_have_theta_s_and_unit_kr():
    h = np.array([0.0, 0.5, 3.0])
    for fn in (van_genuchten, gardner):
        th, dth, kr, dkr = fn(h, 0.08, 0.43, 3.6, 1.56)
        np.testing.assert_array_equal(th, 0.43)
        np.testing.assert_array_equal(kr, 1.0)
        np.testing.assert_array_equal(dth, 0.0)
        np.testing.assert_array_equal(dkr, 0.0)


@pytest.mark.parametrize("model", ["van_genuchten", "gardner"])
def test_head_from_saturation_inverts_the_retention_curve(model):
    r = Retention(model, _params())
    h = -np.logspace(-2, 0.5, 50)          # Se >= 1e-4 in both models: theta resolves it
    th = r.evaluate(h, derivatives=False)[0]
    se = (th - 0.08) / (0.43 - 0.08)
    np.testing.assert_allclose(r.head_from_saturation(se), h, rtol=1e-8)


@pytest.mark.parametrize("key,value", [("ks_h", 0.0), ("ks_v", -1e-6), ("n", 1.0),
                                       ("theta_r", 0.5), ("alpha", 0.0)])
def test_bad_soil_parameter_is_rejected_naming_it(key, value):
    with pytest.raises(ConfigError, match=key):
        validate_soil(_params(**{key: value}), "van_genuchten")


def test_layer_thickness_not_positive_is_rejected_naming_the_layer():
    with pytest.raises(ConfigError, match=r"dz_m\[2\]"):
        validate_grid(4, 4, [0.1, 0.2, 0.0], 1.0, 1.0)


def test_grid_that_cannot_be_split_over_the_ranks_is_rejected():
    with pytest.raises(ConfigError, match="cannot be split"):
        validate_grid(2, 1, [0.1], 1.0, 1.0, size=4)

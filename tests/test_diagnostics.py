"""Diagnostics against closed forms and definitions."""

from __future__ import annotations

import numpy as np
import pytest

from pdafpy.diagnostics import (anomaly_correlation, bias, correlation, crps,
                                degrees_of_freedom_for_signal, innovation_statistics,
                                normalised_innovations, rank_histogram, rmse, spread, ubrmse,
                                RunningSkill)


def test_rmse_bias_ubrmse_identity():
    rng = np.random.default_rng(0)
    est, ref = rng.normal(size=500) + 0.3, rng.normal(size=500)
    assert ubrmse(est, ref) ** 2 == pytest.approx(rmse(est, ref) ** 2 - bias(est, ref) ** 2)
    assert correlation(est, est * 2 + 1) == pytest.approx(1.0)
    assert anomaly_correlation(est, -est, 0.0) == pytest.approx(-1.0)
    assert spread(np.array([[0.0, 1.0], [2.0, 3.0]])) == pytest.approx(np.sqrt(2.0))


def test_crps_of_one_case_matches_the_energy_form():
    rng = np.random.default_rng(1)
    for _ in range(5):
        ens = rng.normal(size=(9, 1))
        o = rng.normal(size=1)
        energy = np.mean(np.abs(ens - o)) - 0.5 * np.mean(np.abs(ens - ens.T))
        assert crps(ens, o).crps == pytest.approx(energy, abs=1e-12)


def test_crps_decomposition_adds_up():
    rng = np.random.default_rng(2)
    ens = rng.normal(size=(10, 400))
    o = rng.normal(size=400) * 1.3
    d = crps(ens, o)
    assert d.crps == pytest.approx(d.reliability + d.potential, rel=1e-10)
    assert d.resolution == pytest.approx(d.uncertainty - d.potential)


def test_rank_histogram_is_flat_for_a_reliable_ensemble_and_not_for_a_biased_one():
    rng = np.random.default_rng(3)
    ens = rng.normal(size=(9, 20000))
    counts, delta = rank_histogram(ens, rng.normal(size=20000))
    assert counts.sum() == 20000 and counts.size == 10
    assert delta < 2.0
    assert rank_histogram(ens, rng.normal(size=20000) + 2.0)[1] > 50.0


def test_desroziers_estimate_recovers_the_observation_error():
    # scalar Kalman filter: background error variance b, observation error variance r
    rng = np.random.default_rng(4)
    b, r, n = 2.0, 0.5, 200000
    truth = rng.normal(size=n)
    xb = truth + rng.normal(size=n) * np.sqrt(b)
    y = truth + rng.normal(size=n) * np.sqrt(r)
    xa = xb + b / (b + r) * (y - xb)
    stats = innovation_statistics(y, xb, xa, np.full(n, r))
    assert stats.variance == pytest.approx(b + r, rel=0.02)
    assert stats.desroziers_obs_variance == pytest.approx(r, rel=0.02)


def test_normalised_innovations_and_dfs():
    hx = np.array([[0.0, 1.0], [2.0, 3.0]])
    z = normalised_innovations(np.array([1.0, 2.0]), hx, np.array([1.0, 1.0]))
    assert np.allclose(z, [0.0, 0.0])
    assert degrees_of_freedom_for_signal(hx, np.array([2.0, 4.0])) == pytest.approx(1.0 + 0.5)


def test_running_skill_equals_the_statistics_of_the_stacked_series():
    rng = np.random.default_rng(5)
    truth = 0.3 + 0.05 * rng.standard_normal((40, 3, 4))
    estimate = truth + 0.02 + 0.01 * rng.standard_normal((40, 3, 4))
    estimate[:, 0, 0] = 0.25                                    # a constant series
    skill = RunningSkill()
    for e, t in zip(estimate, truth):
        skill.add(e, t)
    restored = RunningSkill.restored(skill.state())            # a checkpoint's round trip
    for s in (skill, restored):
        np.testing.assert_allclose(s.rmse(), rmse(estimate, truth, axis=0), rtol=1e-12)
        np.testing.assert_allclose(s.bias(), bias(estimate, truth, axis=0), rtol=1e-12)
        np.testing.assert_allclose(s.ubrmse(), ubrmse(estimate, truth, axis=0), rtol=1e-10)
        with np.errstate(invalid="ignore"):
            want = correlation(estimate, truth, axis=0)
        np.testing.assert_allclose(s.correlation(), want, rtol=1e-10, equal_nan=True)
    assert np.isnan(skill.correlation()[0, 0])
    assert sum(np.size(v) for v in skill.state().values()) == 1 + 7 * 12   # not 40 times
    with pytest.raises(ValueError, match="shape"):
        skill.add(np.zeros(5), np.zeros(5))

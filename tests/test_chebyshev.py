"""Matrix functions applied to a few vectors by Chebyshev series (pdafpy.filters.chebyshev) equal
numpy's ``eigh`` to round-off, and the local analysis takes them where they are the cheaper
path, with the same result as the Newton-Schulz iteration."""

from __future__ import annotations

import numpy as np
import pytest

from pdafpy.filters import algebra
from pdafpy.filters.chebyshev import MAX_TERMS, apply_to_rows, series_coefficients


def _inverse(x):
    return 1.0 / x


def _correction(x):
    return 1.0 / (x * (1.0 + 1.0 / np.sqrt(x)))


def _spd_stack(rng: np.random.Generator, batch: int, k: int, upper: float) -> np.ndarray:
    """SPD matrices with eigenvalues spread over ``[1, upper]``, both ends included."""
    q, _ = np.linalg.qr(rng.standard_normal((batch, k, k)))
    lam = np.sort(1.0 + (upper - 1.0) * rng.random((batch, k)), axis=1)
    lam[:, 0], lam[:, -1] = 1.0, upper
    mats = (q * lam[:, None, :]) @ np.swapaxes(q, 1, 2)
    return 0.5 * (mats + np.swapaxes(mats, 1, 2))


def _by_eigh(mats: np.ndarray, rows: np.ndarray, functions) -> np.ndarray:
    lam, u = np.linalg.eigh(mats)
    out = np.empty_like(rows)
    for j, f in enumerate(functions):
        fm = (u * f(lam)[:, None, :]) @ np.swapaxes(u, 1, 2)
        out[:, j] = np.einsum("bi,bij->bj", rows[:, j], fm)
    return out


@pytest.mark.parametrize("upper", [1.0, 1.0 + 1e-9, 1.6, 2.8, 7.5, 20.0])
@pytest.mark.parametrize("k", [1, 5, 16, 29])
def test_the_series_equal_the_eigendecomposition_to_round_off(upper, k):
    rng = np.random.default_rng(k)
    mats = _spd_stack(rng, 40, k, upper) if upper > 1.0 else np.tile(np.eye(k), (40, 1, 1))
    rows = rng.standard_normal((40, 3, k))
    functions = (_correction, _correction, _inverse)
    u, coeffs = series_coefficients(functions, upper)
    # the interval's width is rounded up to a power of 2^(1/8), at least 2^-20
    assert upper <= u <= 1.0 + max((upper - 1.0) * 2.0 ** 0.125, 2.0 ** -20) * (1 + 1e-12)
    got = apply_to_rows(mats, rows, u, coeffs)
    want = _by_eigh(mats, rows, functions)
    scale = np.abs(rows).max()
    assert np.abs(got - want).max() <= 1e-14 * scale


def test_the_coefficients_are_truncated_at_round_off_and_refused_where_too_many_are_needed():
    u, coeffs = series_coefficients((_inverse,), 2.6)
    # on [1, u], 1/x = sum c_k T_k with c_k = 2 (-r)^k / sqrt(alpha^2 - beta^2) (c_0 halved):
    # the series is cut where the coefficients fall below 2^-56 of the largest, c_0
    alpha, beta = (u + 1.0) / 2.0, (u - 1.0) / 2.0
    r = (alpha - np.sqrt(alpha ** 2 - beta ** 2)) / beta
    exact = 2.0 / np.sqrt(alpha ** 2 - beta ** 2) * (-r) ** np.arange(coeffs.shape[0])
    exact[0] /= 2.0
    assert np.abs(coeffs[:, 0] - exact).max() <= 4e-16 * exact[0]
    kept = coeffs.shape[0]
    assert 2.0 * r ** kept <= 2.0 ** -56 < 2.0 * r ** (kept - 1)     # cut at the first below
    assert series_coefficients((_inverse,), 1e4) is None             # more than MAX_TERMS
    assert series_coefficients((_inverse,), 2.6)[1] is coeffs       # computed once per interval
    assert coeffs.shape[0] <= MAX_TERMS


def test_the_local_analysis_takes_the_series_for_few_state_elements_and_iterates_for_many():
    assert algebra._series(2.8, 2, 16) is not None                   # one grid column per domain
    assert algebra._series(7.5, 2, 29) is not None                   # Lorenz-96, radius 4
    assert algebra._series(2.8, 31, 16) is None                      # 30 elements: iterate
    assert algebra._series(1e4, 2, 16) is None                       # too many terms
    assert algebra._series(2.8, 2, 4) is None                        # tiny matrices: iterate


@pytest.mark.parametrize("n, m, series_taken", [(1, 16, True), (1, 29, True), (3, 16, True),
                                                (2, 5, False)])
def test_both_paths_of_the_observation_space_update_give_the_eigh_analysis(monkeypatch, n, m,
                                                                           series_taken):
    rng = np.random.default_rng(10 * n + m)
    b, n_members = 30, 32
    x_anom = rng.standard_normal((b, n, n_members))
    x_anom -= x_anom.mean(axis=-1, keepdims=True)
    y_anom = rng.standard_normal((b, m, n_members)) * 0.3
    y_anom -= y_anom.mean(axis=-1, keepdims=True)
    innovation = rng.standard_normal((b, m))
    rinv = rng.random((b, m)) * 2.0
    rinv[:, 0] = 0.0                                                 # an observation of weight 0
    forget = 0.95
    a = forget * (n_members - 1)
    ainv, rhs = algebra.ensemble_space_inputs(y_anom, innovation, rinv, a, None)
    lam, u = np.linalg.eigh(ainv)
    want_increment = np.einsum("bnk,bk->bn", x_anom,
                               np.einsum("bij,bj->bi", u, np.einsum("bji,bj->bi", u, rhs) / lam))
    want_anomalies = x_anom @ (np.sqrt(n_members - 1) * (u / np.sqrt(lam)[:, None, :])
                               @ np.swapaxes(u, 1, 2))
    taken = []
    series = algebra._series

    def spy(*args):
        taken.append(series(*args) is not None)
        return series(*args)

    monkeypatch.setattr(algebra, "_series", spy)
    results = [algebra.observation_space_update(x_anom, y_anom, innovation, rinv, forget, None)]
    monkeypatch.setattr(algebra, "_series", lambda *args: None)
    results.append(algebra.observation_space_update(x_anom, y_anom, innovation, rinv, forget,
                                                    None))
    assert taken == [series_taken]
    for increment, anomalies in results:
        assert np.abs(increment - want_increment).max() <= 1e-12
        assert np.abs(anomalies - want_anomalies).max() <= 1e-12
    assert np.abs(results[0][1] - results[1][1]).max() <= 1e-13


def test_the_tutorial_analysis_through_the_series_equals_a_plain_numpy_letkf(tutorial_refs,
                                                                             monkeypatch):
    """PDAF's offline tutorial ensemble, localised (radius 5): domains with 10 observations take
    the series; the analysis equals a textbook LETKF written with ``eigh``."""
    from mpi4py import MPI
    from test_local_filters import LOCALISED, letkf_reference
    from tutorial_case import analyse_decomposed, load_offline, offline_obs

    fields, grid = load_offline(tutorial_refs)
    obs = offline_obs(tutorial_refs, grid, LOCALISED)
    taken = []
    series = algebra._series

    def spy(*args):
        found = series(*args)
        taken.append(found is not None)
        return found

    monkeypatch.setattr(algebra, "_series", spy)
    got = analyse_decomposed(MPI.COMM_SELF, fields, grid, obs, "letkf", solver="observation")
    assert any(taken) and not all(taken)
    assert np.max(np.abs(got - letkf_reference(fields, obs, 5.0, 5.0))) <= 1e-10

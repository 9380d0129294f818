"""The local filters' matrix functions without eigendecompositions (pdafpy.filters.newton_schulz)
equal numpy's ``eigh`` to round-off, and the local analysis with them equals the one with
``eigh``."""

from __future__ import annotations

import numpy as np
import pytest

from pdafpy.filters import algebra
from pdafpy.filters.newton_schulz import diagonal, inverse_apply, inverse_sqrt
from pdafpy.filters.workspace import Workspace


def _spd_stack(rng: np.random.Generator, batch: int, k: int, upper: float) -> np.ndarray:
    """SPD matrices ``(batch, k, k)`` with eigenvalues spread over ``[1, upper]`` (both ends
    included)."""
    q, _ = np.linalg.qr(rng.standard_normal((batch, k, k)))
    lam = np.sort(1.0 + (upper - 1.0) * rng.random((batch, k)), axis=1)
    lam[:, 0], lam[:, -1] = 1.0, upper
    mats = (q * lam[:, None, :]) @ np.swapaxes(q, 1, 2)
    return 0.5 * (mats + np.swapaxes(mats, 1, 2))


def _eigh_inverse_sqrt(mats: np.ndarray) -> np.ndarray:
    lam, u = np.linalg.eigh(mats)
    return (u / np.sqrt(lam)[:, None, :]) @ np.swapaxes(u, 1, 2)


@pytest.mark.parametrize("upper", [1.0 + 1e-9, 1.5, 3.0, 40.0, 1e4])
@pytest.mark.parametrize("k", [1, 4, 16])
def test_inverse_sqrt_equals_the_eigendecomposition_to_round_off(upper, k):
    rng = np.random.default_rng(k)
    mats = _spd_stack(rng, 64, k, upper)
    bound = 1.0 + np.sqrt(np.einsum("bij,bij->b", mats - np.eye(k), mats - np.eye(k)))
    got = inverse_sqrt(mats, bound)
    want = _eigh_inverse_sqrt(mats)
    assert np.abs(got - want).max() <= 1e-13 * np.sqrt(upper)
    assert np.abs(got @ mats @ got - np.eye(k)).max() <= 1e-12 * upper
    assert np.array_equal(got, np.swapaxes(got, 1, 2)) or \
        np.abs(got - np.swapaxes(got, 1, 2)).max() <= 1e-14


def test_inverse_sqrt_of_a_rank_deficient_update_and_of_the_identity():
    """``I + Y Y^T`` with rank-1 ``Y``: eigenvalue 1 is repeated; the identity itself."""
    rng = np.random.default_rng(3)
    y = rng.standard_normal((10, 6, 1))
    mats = np.eye(6) + y @ np.swapaxes(y, 1, 2)
    bound = 1.0 + np.sqrt(np.einsum("bij,bij->b", mats - np.eye(6), mats - np.eye(6)))
    assert np.abs(inverse_sqrt(mats, bound) - _eigh_inverse_sqrt(mats)).max() <= 1e-13
    eye = np.broadcast_to(np.eye(5), (3, 5, 5)).copy()
    assert np.abs(inverse_sqrt(eye, np.ones(3)) - eye).max() <= 1e-15


def test_matrices_not_converged_in_max_iter_fall_back_to_eigh():
    rng = np.random.default_rng(5)
    mats = _spd_stack(rng, 8, 6, 1e3)
    got = inverse_sqrt(mats, np.full(8, 1e3), max_iter=2)
    assert np.abs(got - _eigh_inverse_sqrt(mats)).max() <= 1e-13


def test_empty_stacks_give_empty_results():
    assert inverse_sqrt(np.zeros((0, 4, 4)), np.zeros(0)).shape == (0, 4, 4)
    assert inverse_apply(np.zeros((0, 3, 3)), np.zeros((0, 3, 3)), np.zeros((0, 3, 2)),
                         1.0, 2.0).shape == (0, 3, 2)


@pytest.mark.parametrize("upper", [1.5, 40.0])
def test_inverse_apply_solves_i_plus_h_to_round_off(upper):
    """The local filters' use: ``h = Ahat^(-1/2)`` has eigenvalues in ``[upper^(-1/2), 1]``, so
    ``I + h`` has them in ``[1 + upper^(-1/2), 2]``."""
    rng = np.random.default_rng(7)
    mats = _spd_stack(rng, 32, 12, upper)
    h = _eigh_inverse_sqrt(mats)
    vectors = rng.standard_normal((32, 12, 3))
    got = inverse_apply(h, h @ h, vectors, 1.0 + 1.0 / np.sqrt(upper), 2.0)
    want = np.linalg.solve(np.eye(12) + h, vectors)
    assert np.abs(got - want).max() <= 1e-14 * np.abs(want).max()


def test_diagonal_is_a_writable_view():
    mats = np.zeros((2, 3, 3))
    diagonal(mats)[...] += [[1, 2, 3], [4, 5, 6]]
    assert np.array_equal(mats[1], np.diag([4.0, 5.0, 6.0]))


def test_a_workspace_reuses_memory_under_a_name_and_grows_when_asked_for_more():
    work = Workspace()
    a = work.array("x", (4, 5))
    b = work.array("x", (2, 3))
    assert np.shares_memory(a, b) and b.flags.c_contiguous
    c = work.array("x", (10, 10))
    assert c.shape == (10, 10) and work.nbytes == 800
    assert not np.shares_memory(work.array("y", (3,)), c)


@pytest.mark.parametrize("m, n_members", [(5, 16), (20, 16)])
def test_the_local_analysis_equals_the_one_with_eigh(m, n_members):
    """Observation space (m < N-1) and ensemble space (m >= N-1): the iterative transforms give
    the eigendecomposition's analysis to round-off."""
    rng = np.random.default_rng(m)
    b, n = 50, 3
    x_anom = rng.standard_normal((b, n, n_members))
    x_anom -= x_anom.mean(axis=-1, keepdims=True)
    y_anom = rng.standard_normal((b, m, n_members))
    y_anom -= y_anom.mean(axis=-1, keepdims=True)
    innovation = rng.standard_normal((b, m))
    rinv = rng.random((b, m)) * 4.0
    rinv[:, -1] = 0.0                                  # an observation of weight 0
    forget = 0.9
    a = forget * (n_members - 1)
    # the reference: A^-1 = a I + Y'^T R^-1 Y' by eigh, the ETKF's symmetric square root
    ainv, rhs = algebra.ensemble_space_inputs(y_anom, innovation, rinv, a, None)
    lam, u = np.linalg.eigh(ainv)
    w_mean = np.einsum("bij,bj->bi", u, np.einsum("bji,bj->bi", u, rhs) / lam)
    sqrt_a = (u / np.sqrt(lam)[:, None, :]) @ np.swapaxes(u, 1, 2)
    want_increment = np.einsum("bnk,bk->bn", x_anom, w_mean)
    want_anomalies = x_anom @ (np.sqrt(n_members - 1) * sqrt_a)
    got_w = algebra.etkf_transform(ainv.copy(), rhs, None, lower=a)
    assert np.abs(got_w - (np.sqrt(n_members - 1) * sqrt_a + w_mean[:, :, None])).max() \
        <= 1e-12
    if m < n_members - 1:
        increment, anomalies = algebra.observation_space_update(
            x_anom, y_anom, innovation, rinv, forget, None)
        assert np.abs(increment - want_increment).max() <= 1e-12
        assert np.abs(anomalies - want_anomalies).max() <= 1e-12

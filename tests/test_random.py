"""Tests of pdafpy.random: Philox-4x64-10, layout-independent draws, random rotations."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from pdafpy.errors import ConfigError
from pdafpy.random import (
    philox4x64,
    purpose_id,
    random_mean_preserving_orthonormal,
    random_omega,
    random_orthonormal,
    random_raw,
    standard_normal,
    uniform,
)

U64 = np.uint64
MASK = 2**64 - 1


def _words(value: int, n: int) -> list:
    return [(value >> (64 * i)) & MASK for i in range(n)]


def _numpy_blocks(key, counter, nblocks):
    """numpy's Philox raw output; numpy increments the 256-bit counter before each block."""
    bg = np.random.Philox(key=np.array(key, dtype=U64), counter=np.array(counter, dtype=U64))
    return bg.random_raw(4 * nblocks).reshape(nblocks, 4)


@pytest.mark.parametrize(
    "key, counter",
    [
        ([0, 0], [0, 0, 0, 0]),
        ([1, 2], [0, 0, 0, 0]),
        ([MASK, 12345], [MASK, 5, 7, 9]),  # carry from word 0 into word 1
        ([0xDEADBEEF, MASK], [MASK, MASK, MASK, 3]),  # carry through three words
        ([2**63 + 1, 2**32 - 1], [2**40, 2**33, 2**62, MASK]),
    ],
)
def test_philox_is_bit_identical_to_numpy(key, counter):
    nblocks = 6
    expected = _numpy_blocks(key, counter, nblocks)
    value = sum(c << (64 * i) for i, c in enumerate(counter))
    ctrs = np.array([_words((value + 1 + b) % 2**256, 4) for b in range(nblocks)], dtype=U64)
    got = philox4x64(ctrs, np.array(key, dtype=U64))
    np.testing.assert_array_equal(got, expected)
    # one key per row gives the same as the shared key
    got_rows = philox4x64(ctrs, np.tile(np.array(key, dtype=U64), (nblocks, 1)))
    np.testing.assert_array_equal(got_rows, expected)


def test_philox_with_mixed_keys_per_row_matches_numpy_row_by_row():
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 2**63, (5, 2), dtype=np.int64).astype(U64) * U64(2) + U64(1)
    ctrs = rng.integers(0, 2**63, (5, 4), dtype=np.int64).astype(U64) + U64(1)
    got = philox4x64(ctrs, keys)
    for r in range(5):
        expected = _numpy_blocks(keys[r], ctrs[r] - np.array([1, 0, 0, 0], dtype=U64), 1)[0]
        np.testing.assert_array_equal(got[r], expected)


def test_draws_are_keyed_as_documented():
    # key = (seed, purpose id), counter = (cycle, member, index, 0)
    pid = int.from_bytes(hashlib.blake2b(b"obs_perturbation", digest_size=8).digest(), "little")
    assert purpose_id("obs_perturbation") == pid == 0x9D1AD46AAC05CE48
    raw = random_raw(42, "obs_perturbation", 3, 1, 7)
    np.testing.assert_array_equal(raw, _numpy_blocks([42, pid], [2, 1, 7, 0], 1)[0])
    # pinned values: a change here breaks restarts and reproducibility of old experiments
    np.testing.assert_array_equal(
        standard_normal(42, "obs_perturbation", 3, 1, np.arange(3)),
        [-0.21178286226578452, 0.4592835054171439, 0.4365456470760295],
    )
    np.testing.assert_array_equal(
        uniform(42, "obs_perturbation", 3, 1, np.arange(3)),
        [0.9451222991182234, 0.5796888457834052, 0.9621652654034422],
    )


def test_draws_do_not_depend_on_how_indices_are_split_or_ordered():
    rng = np.random.default_rng(1)
    members = np.arange(8)
    index = np.arange(5000)
    full = standard_normal(7, "state_perturbation", 12, members[:, None], index[None, :])
    assert full.shape == (8, 5000)
    # pieces as different "ranks" would own them, in a scrambled order
    perm = rng.permutation(index.size)
    for part in np.array_split(perm, 7):
        piece = standard_normal(7, "state_perturbation", 12, members[:, None], part[None, :])
        np.testing.assert_array_equal(piece, full[:, part])
    # one member at a time, scalars one at a time
    np.testing.assert_array_equal(standard_normal(7, "state_perturbation", 12, 3, index), full[3])
    assert standard_normal(7, "state_perturbation", 12, 5, 4321) == full[5, 4321]
    # flat pair lists in any order
    m = rng.integers(0, 8, 1000)
    i = rng.integers(0, 5000, 1000)
    np.testing.assert_array_equal(standard_normal(7, "state_perturbation", 12, m, i), full[m, i])
    u_full = uniform(7, "x", 0, members[:, None], index[None, :])
    np.testing.assert_array_equal(uniform(7, "x", 0, m, i), u_full[m, i])


def test_different_keys_give_different_streams():
    idx = np.arange(1000)
    base = standard_normal(1, "obs_perturbation", 0, 0, idx)
    for other in (
        standard_normal(2, "obs_perturbation", 0, 0, idx),
        standard_normal(1, "transform", 0, 0, idx),
        standard_normal(1, "obs_perturbation", 1, 0, idx),
        standard_normal(1, "obs_perturbation", 0, 1, idx),
    ):
        assert not np.any(other == base)
        assert abs(np.corrcoef(base, other)[0, 1]) < 0.15  # 1000 draws: SE of r is ~0.03


def test_standard_normal_moments_within_sampling_error():
    n = 400_000
    members, index = np.arange(4)[:, None], np.arange(n // 4)[None, :]
    z = standard_normal(2024, "moments", 0, members, index).ravel()
    assert np.all(np.isfinite(z))
    # standard errors: mean 1/sqrt(n) = 0.0016, variance sqrt(2/n) = 0.0022; allow 5 SE
    assert abs(z.mean()) < 5 / math.sqrt(n)
    assert abs(z.var() - 1.0) < 5 * math.sqrt(2.0 / n)
    # raw 3rd and 4th moments: Var(z^3) = E z^6 = 15, Var(z^4) = E z^8 - 9 = 96
    assert abs(np.mean(z**3)) < 5 * math.sqrt(15.0 / n)
    assert abs(np.mean(z**4) - 3.0) < 5 * math.sqrt(96.0 / n)
    # tail: P(|z| > 2) = 0.0455, binomial SE ~ 3.3e-4
    assert abs(np.mean(np.abs(z) > 2.0) - 0.04550026) < 5 * math.sqrt(0.0455 * 0.9545 / n)


def test_uniform_range_and_moments():
    n = 200_000
    u = uniform(5, "u", 9, 0, np.arange(n))
    assert u.min() >= 0.0 and u.max() < 1.0
    assert abs(u.mean() - 0.5) < 5 * math.sqrt(1 / 12 / n)
    counts = np.bincount((u * 10).astype(int), minlength=10)
    # chi-square with 9 dof: P(> 33) < 1e-4
    chi2 = np.sum((counts - n / 10) ** 2 / (n / 10))
    assert chi2 < 33.0


def test_bad_keys_raise():
    with pytest.raises(ConfigError, match="seed"):
        standard_normal(-1, "p", 0, 0, 0)
    with pytest.raises(ConfigError, match="cycle"):
        uniform(1, "p", -3, 0, 0)
    with pytest.raises(ValueError, match="index"):
        uniform(1, "p", 0, 0, np.array([1, -2]))
    with pytest.raises(ValueError, match="member"):
        uniform(1, "p", 0, np.array([0.5]), 0)
    with pytest.raises(ConfigError, match="n="):
        random_orthonormal(1, "p", 0, 0)


@pytest.mark.parametrize("n", [1, 2, 5, 40])
def test_random_orthonormal_is_orthonormal_and_reproducible(n):
    q = random_orthonormal(11, "transform", 4, n)
    assert q.shape == (n, n)
    np.testing.assert_allclose(q.T @ q, np.eye(n), atol=1e-13)
    np.testing.assert_array_equal(q, random_orthonormal(11, "transform", 4, n))
    assert not np.array_equal(q, random_orthonormal(11, "transform", 5, n)) or n == 1


def test_random_orthonormal_is_haar_in_its_first_moments():
    # Haar: E[Q00] = 0 (a QR without the sign fix has Q00 < 0 always), E[Q00^2] = 1/n.
    n, reps = 4, 2000
    q00 = np.array([random_orthonormal(3, "haar", c, n)[0, 0] for c in range(reps)])
    # SE of mean: sd(Q00)/sqrt(reps) = 0.5/44.7 = 0.011; Q00^2 ~ Beta(1/2, 3/2), sd 0.25
    assert abs(q00.mean()) < 5 * 0.5 / math.sqrt(reps)
    assert abs(np.mean(q00**2) - 1 / n) < 5 * 0.25 / math.sqrt(reps)


@pytest.mark.parametrize("n", [1, 2, 3, 16])
def test_mean_preserving_orthonormal(n):
    u = random_mean_preserving_orthonormal(8, "transform", 2, n)
    ones = np.ones(n)
    np.testing.assert_allclose(u.T @ u, np.eye(n), atol=1e-13)
    np.testing.assert_allclose(u @ ones, ones, atol=1e-13)
    np.testing.assert_allclose(ones @ u, ones, atol=1e-13)
    # ensemble mean is kept when perturbations are rotated
    ens = np.random.default_rng(0).normal(size=(n, 7))
    np.testing.assert_allclose((u.T @ ens).mean(axis=0), ens.mean(axis=0), atol=1e-12)
    if n >= 3:
        assert not np.allclose(u, np.eye(n))  # it really rotates


@pytest.mark.parametrize("n", [1, 2, 5, 30])
def test_random_omega_columns_orthonormal_and_orthogonal_to_ones(n):
    om = random_omega(8, "omega", 1, n)
    assert om.shape == (n, n - 1)
    np.testing.assert_allclose(om.T @ om, np.eye(n - 1), atol=1e-13)
    np.testing.assert_allclose(np.ones(n) @ om, np.zeros(n - 1), atol=1e-13)
    np.testing.assert_array_equal(om, random_omega(8, "omega", 1, n))

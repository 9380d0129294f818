"""Counter-based random numbers that do not depend on the MPI rank layout.

Every draw is a pure function of ``(seed, purpose, cycle, member, index)``: the same five keys
give the same number on 1, 2 or 4096 ranks, whichever rank draws it, in whatever order and in
whatever batch. There is no generator state to carry, split or checkpoint.

The generator is Philox-4x64-10 (Salmon et al. 2011, "Parallel random numbers: as easy as
1, 2, 3"), written here with numpy ``uint64`` arrays and checked bit for bit against
``numpy.random.Philox``. One Philox block (four 64-bit words) is computed per draw:

* key     = ``(seed, purpose_id(purpose))``
* counter = ``(cycle, member, index, 0)`` (word 0 is the lowest word of numpy's 256-bit counter)

:func:`uniform` takes word 2 of the block; :func:`standard_normal` takes words 0 and 1 (Box-Muller
from two 53-bit uniforms). Different purposes (``"obs_perturbation"``, ``"transform"``,
``"state_perturbation"``, ...) give independent streams.
"""

from __future__ import annotations

import hashlib
import math
from typing import Union

import numpy as np

from .errors import ConfigError

__all__ = [
    "philox4x64",
    "purpose_id",
    "random_raw",
    "uniform",
    "standard_normal",
    "random_orthonormal",
    "random_mean_preserving_orthonormal",
    "random_omega",
]

_U64 = np.uint64
_MASK32 = _U64(0xFFFFFFFF)
_SHIFT32 = _U64(32)
# Philox-4x64 constants (Random123)
_M0 = _U64(0xD2E7470EE14C6C93)
_M1 = _U64(0xCA5A826395121157)
_W0 = _U64(0x9E3779B97F4A7C15)  # golden ratio
_W1 = _U64(0xBB67AE8584CAA73B)  # sqrt(3) - 1
_ROUNDS = 10
_TWO_M53 = 2.0**-53

IntLike = Union[int, np.integer]


def _mulhilo(a: np.uint64, b: np.ndarray):
    """High and low 64-bit words of the 128-bit product ``a * b`` (a scalar, b an array)."""
    a_lo = a & _MASK32
    a_hi = a >> _SHIFT32
    b_lo = b & _MASK32
    b_hi = b >> _SHIFT32
    p_ll = a_lo * b_lo
    p_lh = a_lo * b_hi
    p_hl = a_hi * b_lo
    p_hh = a_hi * b_hi
    # every partial product fits in 64 bits; the middle sum fits too (< 3 * 2^32)
    mid = (p_ll >> _SHIFT32) + (p_lh & _MASK32) + (p_hl & _MASK32)
    lo = (mid << _SHIFT32) | (p_ll & _MASK32)
    hi = p_hh + (p_lh >> _SHIFT32) + (p_hl >> _SHIFT32) + (mid >> _SHIFT32)
    return hi, lo


def philox4x64(counter: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Philox-4x64-10 block function.

    Parameters
    ----------
    counter : (n, 4) uint64
        Counters; word 0 is the lowest word (numpy's ``Philox(counter=...)`` order).
    key : (2,) or (n, 2) uint64
        Keys, one for all rows or one per row.

    Returns
    -------
    (n, 4) uint64
        The output blocks. ``philox4x64(c, k)`` equals the 4 words that
        ``numpy.random.Philox(key=k, counter=c - 1).random_raw(4)`` returns: numpy increments
        its counter *before* it computes a block.
    """
    ctr = np.asarray(counter)
    if ctr.ndim != 2 or ctr.shape[1] != 4:
        raise ValueError(f"counter must be (n, 4), got shape {ctr.shape}")
    ctr = ctr.astype(_U64, copy=False)
    k = np.asarray(key).astype(_U64, copy=False)
    if k.ndim == 1:
        if k.shape != (2,):
            raise ValueError(f"key must be (2,) or (n, 2), got shape {k.shape}")
        k0 = np.full(ctr.shape[0], k[0], dtype=_U64)
        k1 = np.full(ctr.shape[0], k[1], dtype=_U64)
    elif k.ndim == 2 and k.shape == (ctr.shape[0], 2):
        k0 = k[:, 0].copy()
        k1 = k[:, 1].copy()
    else:
        raise ValueError(f"key must be (2,) or ({ctr.shape[0]}, 2), got shape {k.shape}")
    c0, c1, c2, c3 = (ctr[:, i].copy() for i in range(4))
    with np.errstate(over="ignore"):
        for r in range(_ROUNDS):
            if r > 0:
                k0 = k0 + _W0
                k1 = k1 + _W1
            hi0, lo0 = _mulhilo(_M0, c0)
            hi1, lo1 = _mulhilo(_M1, c2)
            c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return np.stack([c0, c1, c2, c3], axis=1)


def purpose_id(purpose: Union[str, IntLike]) -> int:
    """Stable 64-bit id of a purpose string: the first 8 bytes (little endian) of its BLAKE2b
    digest. Ints in [0, 2^64) are used as they are. Never Python's salted ``hash()``."""
    if isinstance(purpose, str):
        digest = hashlib.blake2b(purpose.encode("utf-8"), digest_size=8).digest()
        return int.from_bytes(digest, "little")
    return _check_u64("purpose", purpose)


def _check_u64(name: str, value) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name}={value!r} must be an integer in [0, 2**64)")
    v = int(value)
    if not 0 <= v < 2**64:
        raise ConfigError(f"{name}={value!r} must be an integer in [0, 2**64)")
    return v


def _as_u64_array(name: str, x) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype == _U64:
        return a
    if a.dtype.kind not in "iub":
        raise ValueError(f"{name} must be an integer array, got dtype {a.dtype}")
    if a.size and a.dtype.kind == "i" and a.min() < 0:
        raise ValueError(f"{name} must be >= 0")
    return a.astype(_U64)


def random_raw(seed: int, purpose: Union[str, int], cycle: int, member, index) -> np.ndarray:
    """Raw Philox blocks for the keys; shape ``broadcast(member, index).shape + (4,)`` uint64.

    key = ``(seed, purpose_id(purpose))``, counter = ``(cycle, member, index, 0)``.
    """
    key = np.array([_check_u64("seed", seed), purpose_id(purpose)], dtype=_U64)
    cyc = _U64(_check_u64("cycle", cycle))
    m, i = np.broadcast_arrays(_as_u64_array("member", member), _as_u64_array("index", index))
    shape = m.shape
    n = m.size
    ctr = np.empty((n, 4), dtype=_U64)
    ctr[:, 0] = cyc
    ctr[:, 1] = m.reshape(-1)
    ctr[:, 2] = i.reshape(-1)
    ctr[:, 3] = 0
    return philox4x64(ctr, key).reshape(shape + (4,))


def uniform(seed: int, purpose: Union[str, int], cycle: int, member, index) -> np.ndarray:
    """Uniform deviates in [0, 1), 53-bit resolution, one per broadcast ``(member, index)``.

    Parameters
    ----------
    seed : int in [0, 2^64)
        Experiment seed.
    purpose : str or int
        What the numbers are for (e.g. ``"obs_perturbation"``); distinct purposes are
        independent streams.
    cycle : int >= 0
        Assimilation cycle.
    member, index : int array_like >= 0
        Ensemble member and global index (state or observation index); broadcast together.

    Returns
    -------
    ndarray float64, shape ``np.broadcast(member, index).shape``
        The same ``(seed, purpose, cycle, member, index)`` always gives the same number, on any
        rank layout and however the index arrays are split or ordered.
    """
    raw = random_raw(seed, purpose, cycle, member, index)
    return (raw[..., 2] >> _U64(11)).astype(np.float64) * _TWO_M53


def standard_normal(seed: int, purpose: Union[str, int], cycle: int, member, index) -> np.ndarray:
    """Standard normal deviates N(0, 1), one per broadcast ``(member, index)``.

    Box-Muller on two 53-bit uniforms of the same Philox block:
    ``u1 in (0, 1]`` from word 0, ``u2 in [0, 1)`` from word 1,
    ``z = sqrt(-2 ln u1) cos(2 pi u2)``. Parameters as :func:`uniform`; the same
    ``(seed, purpose, cycle, member, index)`` always gives the same number on any layout.

    Returns
    -------
    ndarray float64, shape ``np.broadcast(member, index).shape``
    """
    raw = random_raw(seed, purpose, cycle, member, index)
    u1 = ((raw[..., 0] >> _U64(11)).astype(np.float64) + 1.0) * _TWO_M53
    u2 = (raw[..., 1] >> _U64(11)).astype(np.float64) * _TWO_M53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * math.pi * u2)


def _check_n(n) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or int(n) < 1:
        raise ConfigError(f"n={n!r} must be an integer >= 1")
    return int(n)


def _haar(seed, purpose, cycle, n: int) -> np.ndarray:
    """Haar-distributed (n, n) orthogonal matrix from the Gaussian matrix G[i, j] drawn with
    member = i, index = j."""
    if n == 0:
        return np.zeros((0, 0))
    rows = np.arange(n, dtype=np.int64)
    g = standard_normal(seed, purpose, cycle, rows[:, None], rows[None, :])
    q, r = np.linalg.qr(g)
    d = np.sign(np.diag(r))
    d[d == 0] = 1.0
    return q * d[None, :]


def _complement_basis(n: int) -> np.ndarray:
    """(n, n-1) orthonormal basis of the complement of (1, ..., 1): columns 2..n of the
    Householder reflection that maps e_1 to (1, ..., 1)/sqrt(n)."""
    v = np.full(n, -1.0 / math.sqrt(n))
    v[0] += 1.0
    vv = float(v @ v)
    h = np.eye(n)
    if vv > 0.0:
        h -= (2.0 / vv) * np.outer(v, v)
    return h[:, 1:]


def random_orthonormal(seed: int, purpose: Union[str, int], cycle: int, n: int) -> np.ndarray:
    """Random (n, n) orthonormal matrix, Haar distributed.

    QR of an n x n standard-normal matrix (entry ``[i, j]`` drawn with member = i,
    index = j), with the signs of R's diagonal moved into Q so the distribution is Haar.
    Identical on every rank that asks with the same keys.
    """
    return _haar(seed, purpose, cycle, _check_n(n))


def random_mean_preserving_orthonormal(
    seed: int, purpose: Union[str, int], cycle: int, n: int
) -> np.ndarray:
    """Random (n, n) orthonormal matrix with ``(1, ..., 1)/sqrt(n)`` as eigenvector of
    eigenvalue 1 (rows and columns sum to 1).

    ``U = e e^T + B Q B^T`` with ``e = 1/sqrt(n)``, ``B`` an orthonormal basis of the
    complement of ``e`` and ``Q`` a Haar (n-1) x (n-1) matrix: uniformly random among the
    orthogonal matrices fixing ``e``. Right-multiplying ensemble perturbations or a transform by
    U keeps the ensemble mean (PDAF's random ``type_trans``, DAPPER's ``rot=True``).
    """
    n = _check_n(n)
    e = np.full((n, 1), 1.0 / math.sqrt(n))
    b = _complement_basis(n)
    q = _haar(seed, purpose, cycle, n - 1)
    return e @ e.T + b @ q @ b.T


def random_omega(seed: int, purpose: Union[str, int], cycle: int, n: int) -> np.ndarray:
    """Random (n, n-1) matrix with orthonormal columns, each orthogonal to (1, ..., 1).

    ``Omega = B Q`` with ``B`` an orthonormal basis of the complement of (1, ..., 1) and ``Q``
    Haar (n-1) x (n-1): the random Omega of the ESTKF/SEIK (``Omega^T Omega = I``,
    ``Omega^T 1 = 0``).
    """
    n = _check_n(n)
    return _complement_basis(n) @ _haar(seed, purpose, cycle, n - 1)

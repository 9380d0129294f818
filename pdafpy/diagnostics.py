"""Diagnostics of ensembles and analyses.

Skill against a reference (truth or observations): :func:`rmse`, :func:`bias`, :func:`ubrmse`,
:func:`correlation`, :func:`anomaly_correlation`, and the same per element accumulated over time
in constant memory (:class:`RunningSkill`). Ensemble properties: :func:`spread`,
:func:`crps` (Hersbach 2000, with its decomposition), :func:`rank_histogram`. Observation space:
:func:`innovation_statistics` (mean, variance, Desroziers et al. 2005 estimate of the observation
error), :func:`normalised_innovations`, :func:`degrees_of_freedom_for_signal`.

Arrays follow pdafpy's convention: ensembles ``(N, ...)`` with members first; statistics reduce
over every axis unless ``axis`` says otherwise. These are array functions; reduce over MPI ranks
with the sums they are made of when the data are distributed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["rmse", "bias", "ubrmse", "correlation", "anomaly_correlation", "spread", "crps",
           "CRPSDecomposition", "rank_histogram", "innovation_statistics",
           "InnovationStatistics", "normalised_innovations", "degrees_of_freedom_for_signal",
           "RunningSkill"]


def rmse(estimate: np.ndarray, reference: np.ndarray, axis=None) -> np.ndarray:
    """Root-mean-square difference ``sqrt(mean((estimate - reference)^2))``."""
    return np.sqrt(np.mean((np.asarray(estimate) - reference) ** 2, axis=axis))


def bias(estimate: np.ndarray, reference: np.ndarray, axis=None) -> np.ndarray:
    """Mean difference ``mean(estimate - reference)``."""
    return np.mean(np.asarray(estimate) - reference, axis=axis)


def ubrmse(estimate: np.ndarray, reference: np.ndarray, axis=None) -> np.ndarray:
    """Unbiased RMSE ``sqrt(rmse^2 - bias^2)``: the RMSE of the anomalies about each mean."""
    d = np.asarray(estimate) - reference
    return np.sqrt(np.mean((d - np.mean(d, axis=axis, keepdims=True)) ** 2, axis=axis))


def correlation(estimate: np.ndarray, reference: np.ndarray, axis=None) -> np.ndarray:
    """Pearson correlation coefficient."""
    a = np.asarray(estimate, dtype=float)
    b = np.asarray(reference, dtype=float)
    a = a - a.mean(axis=axis, keepdims=True)
    b = b - b.mean(axis=axis, keepdims=True)
    return np.sum(a * b, axis=axis) / np.sqrt(np.sum(a * a, axis=axis) * np.sum(b * b, axis=axis))


def anomaly_correlation(estimate: np.ndarray, reference: np.ndarray, climatology: np.ndarray,
                        axis=None) -> np.ndarray:
    """Correlation of the anomalies from ``climatology`` (not centred again)."""
    a = np.asarray(estimate) - climatology
    b = np.asarray(reference) - climatology
    return np.sum(a * b, axis=axis) / np.sqrt(np.sum(a * a, axis=axis) * np.sum(b * b, axis=axis))


def spread(ens: np.ndarray) -> np.ndarray:
    """Ensemble spread: ``sqrt(mean over elements of the ensemble variance)`` (ddof 1)."""
    return np.sqrt(np.mean(np.var(ens, axis=0, ddof=1)))


@dataclass(frozen=True)
class CRPSDecomposition:
    """Hersbach (2000) CRPS and its decomposition ``crps = reliability + potential``.

    Attributes
    ----------
    crps, reliability, potential : float
    resolution, uncertainty : float
        ``resolution = uncertainty - potential``; ``uncertainty`` is the CRPS of the sample
        climatology of the observations.
    """

    crps: float
    reliability: float
    potential: float
    resolution: float
    uncertainty: float


def crps(ens: np.ndarray, obs: np.ndarray) -> CRPSDecomposition:
    """Continuous ranked probability score of an ensemble against observations.

    Parameters
    ----------
    ens : (N, M) ndarray
        ``N`` members for each of ``M`` cases.
    obs : (M,) ndarray
    """
    x = np.sort(np.asarray(ens, dtype=float), axis=0)          # (N, M)
    o = np.asarray(obs, dtype=float)
    n = x.shape[0]
    p = np.arange(n + 1) / n
    lo = np.vstack([np.full((1, x.shape[1]), -np.inf), x])     # bin i: [x_(i), x_(i+1)]
    hi = np.vstack([x, np.full((1, x.shape[1]), np.inf)])
    width = np.where(np.isfinite(lo) & np.isfinite(hi), hi - lo, 0.0)
    alpha = np.where(o > hi, width, np.where(o > lo, o - lo, 0.0))
    beta = np.where(o < lo, width, np.where(o < hi, hi - o, 0.0))
    alpha[-1] = np.where(o > x[-1], o - x[-1], 0.0)             # outlier bins
    beta[0] = np.where(o < x[0], x[0] - o, 0.0)
    alpha[0] = 0.0
    beta[-1] = 0.0
    a_mean, b_mean = alpha.mean(axis=1), beta.mean(axis=1)
    total = float(np.sum(a_mean * p ** 2 + b_mean * (1 - p) ** 2))
    g = a_mean + b_mean
    with np.errstate(invalid="ignore", divide="ignore"):
        ofreq = np.where(g > 0, b_mean / g, 0.0)
    # outlier bins: g from the mean outlier distance, o the frequency of outliers (Hersbach eq 33)
    below = o < x[0]
    above = o > x[-1]
    if below.any():
        ofreq[0] = below.mean()
        g[0] = b_mean[0] / ofreq[0]
    if above.any():
        ofreq[-1] = 1.0 - above.mean()
        g[-1] = a_mean[-1] / (1.0 - ofreq[-1])
    reliability = float(np.sum(g * (ofreq - p) ** 2))
    potential = float(np.sum(g * ofreq * (1 - ofreq)))
    clim = np.sort(o)
    m = clim.size
    uncertainty = float(np.sum(np.diff(clim) * (np.arange(1, m) / m) * (1 - np.arange(1, m) / m)))
    return CRPSDecomposition(total, reliability, potential, uncertainty - potential, uncertainty)


def rank_histogram(ens: np.ndarray, obs: np.ndarray) -> tuple[np.ndarray, float]:
    """Rank histogram (N+1 bins: members below each observation) and its flatness ``delta``.

    ``delta = sum_k (s_k - M/(N+1))^2 / (M N/(N+1))`` (Candille & Talagrand 2005): about 1 for a
    reliable ensemble, larger otherwise.

    Parameters
    ----------
    ens : (N, M) ndarray
    obs : (M,) ndarray
    """
    ens = np.asarray(ens)
    n, m = ens.shape
    ranks = np.sum(ens < np.asarray(obs)[None, :], axis=0)
    counts = np.bincount(ranks, minlength=n + 1)
    expected = m / (n + 1)
    delta = float(np.sum((counts - expected) ** 2) / (m * n / (n + 1)))
    return counts, delta


@dataclass(frozen=True)
class InnovationStatistics:
    """Observation-space statistics of one analysis.

    Attributes
    ----------
    count : int
    mean, variance : float
        Of the innovations ``d_b = y - H(x^b)``.
    residual_mean : float
        Mean of ``d_a = y - H(x^a)`` (observation minus analysis).
    desroziers_obs_variance : float
        ``mean(d_a * d_b)``, the Desroziers et al. (2005) estimate of the observation-error
        variance (compare with the assumed ``mean(R)``).
    assumed_obs_variance : float
    """

    count: int
    mean: float
    variance: float
    residual_mean: float
    desroziers_obs_variance: float
    assumed_obs_variance: float


def innovation_statistics(value: np.ndarray, hx_forecast: np.ndarray, hx_analysis: np.ndarray,
                          variance: np.ndarray) -> InnovationStatistics:
    """Innovation statistics from the mean observed forecast and analysis.

    Parameters
    ----------
    value : (m,) ndarray
    hx_forecast, hx_analysis : (m,) or (N, m) ndarray
        ``H`` of the forecast and analysis (ensembles are averaged).
    variance : (m,) ndarray
        Assumed observation-error variances.
    """
    hb = np.asarray(hx_forecast)
    ha = np.asarray(hx_analysis)
    hb = hb.mean(axis=0) if hb.ndim == 2 else hb
    ha = ha.mean(axis=0) if ha.ndim == 2 else ha
    db = value - hb
    da = value - ha
    return InnovationStatistics(int(db.size), float(db.mean()), float(db.var()),
                                float(da.mean()), float(np.mean(da * db)),
                                float(np.mean(variance)))


def normalised_innovations(value: np.ndarray, hx: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """``(y - mean H(x)) / sqrt(var_ens + R)``: unit variance when ensemble spread and ``R`` are
    consistent with the innovations.

    Parameters
    ----------
    hx : (N, m) ndarray
        Observed forecast ensemble.
    """
    return (value - hx.mean(axis=0)) / np.sqrt(hx.var(axis=0, ddof=1) + variance)


def degrees_of_freedom_for_signal(hx_analysis: np.ndarray, variance: np.ndarray) -> float:
    """Degrees of freedom for signal ``DFS = trace(H K) = trace(H P^a H^T R^-1)``.

    With ``K = P^a H^T R^-1`` (optimal linear analysis) and a diagonal ``R``, this is the sum over
    observations of the analysis ensemble's observed variance divided by the error variance
    (Cardinali et al. 2004): between 0 (observations ignored) and ``m`` (fitted exactly).

    Parameters
    ----------
    hx_analysis : (N, m) ndarray
        Observed analysis ensemble.
    variance : (m,) ndarray
        Observation-error variances.
    """
    return float(np.sum(np.var(hx_analysis, axis=0, ddof=1) / variance))


class RunningSkill:
    """Skill of an estimate against a reference per element, accumulated one time at a time.

    Holds counts, means and co-moments of the estimate, the reference and their difference per
    element (Welford's updates, stable where sums of squares would cancel), so memory and
    checkpoints do not grow with the number of times. :meth:`rmse`, :meth:`bias`,
    :meth:`ubrmse` and :meth:`correlation` equal :func:`rmse`, :func:`bias`, :func:`ubrmse` and
    :func:`correlation` of the stacked series along time (to rounding).
    """

    _MOMENTS = ("mean_e", "mean_r", "mean_d", "m2_e", "m2_r", "m2_d", "c_er")

    def __init__(self) -> None:
        self.n = 0
        self.mean_e = self.mean_r = self.mean_d = np.zeros(0)
        self.m2_e = self.m2_r = self.m2_d = self.c_er = np.zeros(0)

    def add(self, estimate: np.ndarray, reference: np.ndarray) -> None:
        """Add one time: ``estimate`` and ``reference`` of the same shape (any)."""
        e, r = np.asarray(estimate, dtype=float), np.asarray(reference, dtype=float)
        if self.n == 0:
            for name in self._MOMENTS:
                setattr(self, name, np.zeros(e.shape))
        elif e.shape != self.mean_e.shape or r.shape != e.shape:
            raise ValueError(f"shape {e.shape} (reference {r.shape}) differs from the "
                             f"accumulated {self.mean_e.shape}")
        self.n += 1
        de, dr = e - self.mean_e, r - self.mean_r
        self.mean_e = self.mean_e + de / self.n
        self.mean_r = self.mean_r + dr / self.n
        self.m2_e = self.m2_e + de * (e - self.mean_e)
        self.m2_r = self.m2_r + dr * (r - self.mean_r)
        self.c_er = self.c_er + de * (r - self.mean_r)
        d = e - r
        dd = d - self.mean_d
        self.mean_d = self.mean_d + dd / self.n
        self.m2_d = self.m2_d + dd * (d - self.mean_d)

    def bias(self) -> np.ndarray:
        """Mean difference per element."""
        return self.mean_d

    def ubrmse(self) -> np.ndarray:
        """RMSE of the anomalies about each mean, per element."""
        return np.sqrt(self.m2_d / self.n)

    def rmse(self) -> np.ndarray:
        """Root-mean-square difference per element."""
        return np.sqrt(self.m2_d / self.n + self.mean_d ** 2)

    def correlation(self) -> np.ndarray:
        """Pearson correlation per element (NaN where either series is constant)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.c_er / np.sqrt(self.m2_e * self.m2_r)

    def state(self) -> dict[str, np.ndarray]:
        """Its arrays, for a checkpoint (constant size)."""
        return {"n": np.int64(self.n), **{k: getattr(self, k) for k in self._MOMENTS}}

    @classmethod
    def restored(cls, saved: dict[str, np.ndarray]) -> "RunningSkill":
        """Inverse of :meth:`state`."""
        skill = cls()
        skill.n = int(saved["n"])
        for name in cls._MOMENTS:
            setattr(skill, name, np.asarray(saved[name], dtype=float))
        return skill

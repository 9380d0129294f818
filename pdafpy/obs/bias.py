"""Bias correction of observations against the model: the mathematics, vectorised.

An observation product and the model's equivalent of it (the observation operator on the open
loop) differ systematically: in mean, in spread, in the shape of their distributions, and
differently at each place and season. The statistics of both are estimated per **location**
(a distinct observed position) and per **period bin**, from paired samples (an observation and
the model's equivalent of it), and an observation ``y`` of that location and bin is mapped to
the model's climatology:

- ``cdf_matching``: ``y* = F_model^-1(F_obs(y))``, the empirical distributions represented by
  ``Q`` matched quantiles (probabilities ``0, 1/(Q-1), ..., 1``) and the map interpolated
  linearly between them (:func:`cdf_match`: monotone, ranks preserved; beyond the training
  range shifted by the end quantiles' difference);
- ``anomaly``: ``y* = mu_model + (y - mu_obs)`` (:func:`anomaly_correct`);
- ``seasonal_rescaling``: ``y* = mu_model + (y - mu_obs) sd_model / sd_obs``
  (:func:`seasonal_rescale`);
- error rescaling, alone or with any of these: ``error* = error sd_model / sd_obs``
  (:func:`rescale_error`).

Period bins (:data:`BIN_KINDS`, :func:`bin_index`): ``"month"`` (12, the calendar month),
``"window"`` (365 day-of-year bins, 29 February sharing 28 February's, each pooling the samples
within ``W`` days of it on the 365-day circle, so that 31 December and 1 January are 1 day apart)
or ``"year"`` (one bin).

Robustness rule (:func:`estimate`): a bin is *usable* when it holds at least ``min_samples``
paired samples and both its observations and their model equivalents have a spread (maximum >
minimum, standard deviation > 0). A bin that is not falls back to its location's statistics over
the whole record (every bin pooled) when those are usable; otherwise the bin is *uncalibrated*
and its observations cannot be corrected (the caller flags them rejected, ``rejected_by``
:data:`REJECTED_BY`). A quantile map from a handful of samples, or a standard-deviation ratio
with a zero denominator, would move observations by artefacts of the sample rather than by the
bias; a location with too little data is better left out than corrected wrongly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

import numpy as np

from ..errors import ConfigError
from ..experiment_config import ObservationSection

__all__ = ["METHODS", "BIN_KINDS", "N_BINS", "STATUS_OWN_BIN", "STATUS_WHOLE_RECORD",
           "STATUS_UNCALIBRATED", "STATUS_MEANINGS", "REJECTED_BY", "DEFAULT_MIN_SAMPLES",
           "DEFAULT_QUANTILES", "DEFAULT_WINDOW_DAYS", "BinStatistics", "estimate",
           "utc_instant", "dates_after", "bin_index", "day_of_cycle", "grouped_moments",
           "grouped_quantiles", "cdf_match", "anomaly_correct", "seasonal_rescale",
           "rescale_error"]

#: The bias corrections an ``[[observations]]`` table's ``bias_correction`` may name.
METHODS = ObservationSection.bias_corrections
#: The kinds of period bins, and how many bins each has.
BIN_KINDS = ("month", "window", "year")
N_BINS = {"month": 12, "window": 365, "year": 1}
#: Days of the day-of-year cycle of ``"window"`` bins (29 February shares 28 February's day).
DAYS_IN_CYCLE = 365
#: Where a (location, bin)'s statistics come from.
STATUS_OWN_BIN, STATUS_WHOLE_RECORD, STATUS_UNCALIBRATED = 0, 1, 2
STATUS_MEANINGS = {STATUS_OWN_BIN: "own_bin", STATUS_WHOLE_RECORD: "whole_record",
                   STATUS_UNCALIBRATED: "uncalibrated"}
#: The ``rejected_by`` of an observation with no usable calibration.
REJECTED_BY = "bias_uncalibrated"
DEFAULT_MIN_SAMPLES = 30
DEFAULT_QUANTILES = 101
DEFAULT_WINDOW_DAYS = 15
#: Observations mapped at once by :func:`cdf_match` (bounds its (chunk, Q) work arrays).
_CHUNK = 65536
#: 29 February's day of the year in a leap year, counted from 0 (1 January).
_LEAP_DAY = 59


def utc_instant(text: str, what: str) -> datetime:
    """An ISO 8601 date or time as a naive UTC datetime (a time zone converted to UTC).

    Raises
    ------
    ConfigError
        Naming ``what`` (the key or option that gave ``text``).
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{what} = {text!r}: expected an ISO 8601 date or time such as "
                          "2020-04-01 or 2020-04-01T00:00:00") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


def dates_after(start: str, seconds: np.ndarray) -> np.ndarray:
    """The instants ``seconds`` [s] after ``start`` (ISO 8601), as ``(m,) datetime64[ms]``
    (UTC, proleptic Gregorian)."""
    origin = np.datetime64(utc_instant(start, "start"), "ms")
    return origin + np.round(np.asarray(seconds, dtype=float) * 1000.0).astype(np.int64).astype(
        "timedelta64[ms]")


def day_of_cycle(dates: np.ndarray) -> np.ndarray:
    """The day of the 365-day cycle of ``dates`` (``datetime64``, UTC, proleptic Gregorian):
    0 for 1 January ... 364 for 31 December, 29 February sharing 28 February's day (58).

    Returns
    -------
    (m,) int64 ndarray
    """
    days = np.asarray(dates).astype("datetime64[D]")
    year_start = days.astype("datetime64[Y]")
    day = (days - year_start.astype("datetime64[D]")).astype(np.int64)
    year = year_start.astype(np.int64) + 1970
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    return day - (leap & (day >= _LEAP_DAY)).astype(np.int64)


def bin_index(dates: np.ndarray, bins: str) -> np.ndarray:
    """The period bin of each of ``dates`` (``datetime64``, UTC).

    Parameters
    ----------
    dates : (m,) datetime64 ndarray
    bins : str
        ``"month"`` (0 January ... 11 December), ``"window"`` (:func:`day_of_cycle`) or
        ``"year"`` (0).

    Returns
    -------
    (m,) int64 ndarray
    """
    dates = np.asarray(dates)
    if bins == "month":
        return dates.astype("datetime64[M]").astype(np.int64) % 12
    if bins == "window":
        return day_of_cycle(dates)
    if bins == "year":
        return np.zeros(dates.shape, dtype=np.int64)
    raise ValueError(f"bins = {bins!r}: expected one of {BIN_KINDS}")


def grouped_moments(values: np.ndarray, groups: np.ndarray, n_groups: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and standard deviation (``ddof = 1``) of ``values`` per group.

    Parameters
    ----------
    values : (n,) float ndarray
    groups : (n,) int ndarray
        Each value's group, ``0 <= groups < n_groups``.
    n_groups : int

    Returns
    -------
    count : (n_groups,) int64 ndarray
    mean, sd : (n_groups,) float ndarray
        NaN where a group has no value (``sd``: fewer than two).
    """
    count = np.bincount(groups, minlength=n_groups).astype(np.int64)
    total = np.bincount(groups, weights=values, minlength=n_groups)
    mean = np.full(n_groups, np.nan)
    mean[count > 0] = total[count > 0] / count[count > 0]
    deviation = values - mean[groups]
    squares = np.bincount(groups, weights=deviation * deviation, minlength=n_groups)
    sd = np.full(n_groups, np.nan)
    several = count >= 2
    sd[several] = np.sqrt(squares[several] / (count[several] - 1))
    return count, mean, sd


def grouped_quantiles(values: np.ndarray, groups: np.ndarray, n_groups: int,
                      probabilities: np.ndarray) -> np.ndarray:
    """Empirical quantiles of ``values`` per group: the order statistics interpolated linearly
    (numpy's default ``"linear"`` method; probability 0 the minimum, 1 the maximum).

    Parameters
    ----------
    values : (n,) float ndarray
    groups : (n,) int ndarray
        Each value's group, ``0 <= groups < n_groups``.
    n_groups : int
    probabilities : (Q,) float ndarray
        Non-decreasing, in [0, 1].

    Returns
    -------
    (n_groups, Q) float ndarray
        Non-decreasing along the last axis; NaN rows for groups without a value.
    """
    order = np.argsort(values, kind="stable")
    return _ranked_quantiles(_ranks(order), groups, values[order], n_groups, probabilities)


def _ranks(order: np.ndarray) -> np.ndarray:
    """Each value's position in sorted order, from the sorting permutation ``order``."""
    rank = np.empty(order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return rank


def _ranked_quantiles(rank: np.ndarray, groups: np.ndarray, ordered_values: np.ndarray,
                      n_groups: int, probabilities: np.ndarray) -> np.ndarray:
    """:func:`grouped_quantiles` of the values ``ordered_values[rank]`` (``ordered_values``
    sorted, e.g. every sample of which these are some): one integer sort by (group, rank)."""
    key = np.sort(groups.astype(np.int64) * ordered_values.size + rank)
    ordered = ordered_values[key % ordered_values.size]
    count = np.bincount(groups, minlength=n_groups).astype(np.int64)
    start = np.cumsum(count) - count
    out = np.full((n_groups, probabilities.size), np.nan)
    present = count > 0
    last = count[present, None] - 1
    position = last * probabilities[None, :]
    below = np.minimum(np.floor(position).astype(np.int64), last)
    above = np.minimum(below + 1, last)
    first = start[present, None]
    low, high = ordered[first + below], ordered[first + above]
    out[present] = np.maximum.accumulate(low + (position - below) * (high - low), axis=1)
    return out


def _usable(count: np.ndarray, obs_sd: np.ndarray, model_sd: np.ndarray,
            obs_quantiles: np.ndarray, model_quantiles: np.ndarray,
            min_samples: int) -> np.ndarray:
    """Where statistics meet the robustness rule (see the module notes)."""
    with np.errstate(invalid="ignore"):
        spread = ((obs_quantiles[..., -1] > obs_quantiles[..., 0])
                  & (model_quantiles[..., -1] > model_quantiles[..., 0])
                  & (obs_sd > 0) & (model_sd > 0))
    return (count >= min_samples) & spread


@dataclass(frozen=True)
class BinStatistics:
    """The statistics of observations and their model equivalents per location and period bin,
    with the robustness rule applied: a bin of status :data:`STATUS_WHOLE_RECORD` holds its
    location's whole-record statistics, one of :data:`STATUS_UNCALIBRATED` NaN (its own
    ``samples`` are kept either way).

    Attributes
    ----------
    probabilities : (Q,) float ndarray
        The quantiles' probabilities, ``0 ... 1`` evenly spaced.
    obs_quantiles, model_quantiles : (L, B, Q) float ndarray
        Quantiles of the observations and of their model equivalents [the type's units].
    obs_mean, model_mean, obs_sd, model_sd : (L, B) float ndarray
        Means and standard deviations (``ddof = 1``) [the type's units].
    samples : (L, B) int64 ndarray
        Paired samples in the bin (for ``"window"`` bins, within its window).
    whole_record_samples : (L,) int64 ndarray
        Paired samples of the location over the whole record.
    status : (L, B) int8 ndarray
        :data:`STATUS_MEANINGS`.
    """

    probabilities: np.ndarray
    obs_quantiles: np.ndarray
    model_quantiles: np.ndarray
    obs_mean: np.ndarray
    model_mean: np.ndarray
    obs_sd: np.ndarray
    model_sd: np.ndarray
    samples: np.ndarray
    whole_record_samples: np.ndarray
    status: np.ndarray

    @property
    def n_locations(self) -> int:
        """Number of locations L."""
        return int(self.status.shape[0])

    @property
    def n_bins(self) -> int:
        """Number of period bins B."""
        return int(self.status.shape[1])

    def correct(self, values: np.ndarray, errors: np.ndarray, location: np.ndarray,
                bin_: np.ndarray, method: str, error_rescaling: bool
                ) -> tuple[np.ndarray, np.ndarray]:
        """Corrected values and errors of observations at calibrated (location, bin)s.

        Parameters
        ----------
        values, errors : (m,) float ndarray
            Observed values and their error standard deviations [the type's units].
        location, bin_ : (m,) int ndarray
            Each observation's location and period bin, of a status other than
            :data:`STATUS_UNCALIBRATED`.
        method : str
            One of :data:`METHODS`.
        error_rescaling : bool
            Whether the errors are multiplied by ``sd_model / sd_obs``.

        Returns
        -------
        values, errors : (m,) float ndarray
        """
        at = (location, bin_)
        if method == "cdf_matching":
            values = cdf_match(values, self.obs_quantiles[at], self.model_quantiles[at])
        elif method == "anomaly":
            values = anomaly_correct(values, self.obs_mean[at], self.model_mean[at])
        elif method == "seasonal_rescaling":
            values = seasonal_rescale(values, self.obs_mean[at], self.model_mean[at],
                                      self.obs_sd[at], self.model_sd[at])
        elif method != "none":
            raise ValueError(f"method = {method!r}: expected one of {METHODS}")
        if error_rescaling:
            errors = rescale_error(errors, self.obs_sd[at], self.model_sd[at])
        return np.asarray(values, dtype=float), np.asarray(errors, dtype=float)


def _bin_members(dates: np.ndarray, bins: str, window_days: int
                 ) -> Iterator[tuple[int, np.ndarray]]:
    """Each period bin and the indices of the samples it pools."""
    if bins == "year":
        yield 0, np.arange(dates.size)
        return
    key = bin_index(dates, "month" if bins == "month" else "window")
    order = np.argsort(key, kind="stable")
    ordered = key[order]

    def between(lo: int, hi: int) -> np.ndarray:
        return order[np.searchsorted(ordered, lo, "left"):np.searchsorted(ordered, hi, "right")]

    if bins == "month":
        for b in range(12):
            yield b, between(b, b)
        return
    if 2 * window_days + 1 >= DAYS_IN_CYCLE:
        for b in range(DAYS_IN_CYCLE):
            yield b, order
        return
    for b in range(DAYS_IN_CYCLE):
        lo, hi = b - window_days, b + window_days
        if lo < 0:
            yield b, np.concatenate([between(lo + DAYS_IN_CYCLE, DAYS_IN_CYCLE - 1),
                                     between(0, hi)])
        elif hi >= DAYS_IN_CYCLE:
            yield b, np.concatenate([between(lo, DAYS_IN_CYCLE - 1),
                                     between(0, hi - DAYS_IN_CYCLE)])
        else:
            yield b, between(lo, hi)


def estimate(obs: np.ndarray, model: np.ndarray, location: np.ndarray, n_locations: int,
             dates: np.ndarray, bins: str = "month", window_days: int = DEFAULT_WINDOW_DAYS,
             min_samples: int = DEFAULT_MIN_SAMPLES, n_quantiles: int = DEFAULT_QUANTILES
             ) -> BinStatistics:
    """The statistics of paired samples per location and period bin, with the robustness rule
    (see the module notes).

    Parameters
    ----------
    obs, model : (n,) float ndarray
        Observations and their model equivalents [the type's units].
    location : (n,) int ndarray
        Each sample's location, ``0 <= location < n_locations``.
    n_locations : int
    dates : (n,) datetime64 ndarray
        Each sample's time (UTC).
    bins : str
        One of :data:`BIN_KINDS`.
    window_days : int
        ``"window"`` bins: the half-width W [d] of the window each bin pools.
    min_samples : int
        Fewest paired samples of a usable bin (>= 2).
    n_quantiles : int
        Quantiles per (location, bin), probabilities ``0 ... 1`` (>= 2).

    Returns
    -------
    BinStatistics
    """
    obs, model = np.asarray(obs, dtype=float), np.asarray(model, dtype=float)
    location = np.asarray(location, dtype=np.int64)
    probabilities = np.linspace(0.0, 1.0, n_quantiles)
    shape = (n_locations, N_BINS[bins])

    obs_order, model_order = np.argsort(obs, kind="stable"), np.argsort(model, kind="stable")
    obs_rank, model_rank = _ranks(obs_order), _ranks(model_order)
    obs_sorted, model_sorted = obs[obs_order], model[model_order]

    def statistics(members: np.ndarray | slice) -> tuple[np.ndarray, ...]:
        where = location[members]
        count, obs_mean, obs_sd = grouped_moments(obs[members], where, n_locations)
        _, model_mean, model_sd = grouped_moments(model[members], where, n_locations)
        return (count, obs_mean, model_mean, obs_sd, model_sd,
                _ranked_quantiles(obs_rank[members], where, obs_sorted, n_locations,
                                  probabilities),
                _ranked_quantiles(model_rank[members], where, model_sorted, n_locations,
                                  probabilities))

    binned = [np.zeros(shape, dtype=np.int64)] + [np.full(shape, np.nan) for _ in range(4)] \
        + [np.full(shape + (n_quantiles,), np.nan) for _ in range(2)]
    for b, members in _bin_members(np.asarray(dates), bins, window_days):
        for array, column in zip(binned, statistics(members)):
            array[:, b] = column
    whole = statistics(slice(None))
    count, obs_mean, model_mean, obs_sd, model_sd, obs_q, model_q = binned
    own = _usable(count, obs_sd, model_sd, obs_q, model_q, min_samples)
    whole_usable = _usable(whole[0], whole[3], whole[4], whole[5], whole[6], min_samples)
    status = np.where(own, STATUS_OWN_BIN, np.where(whole_usable[:, None], STATUS_WHOLE_RECORD,
                                                    STATUS_UNCALIBRATED)).astype(np.int8)
    fallback_location, fallback_bin = np.nonzero(status == STATUS_WHOLE_RECORD)
    for array, whole_record in zip(binned[1:], whole[1:]):
        array[fallback_location, fallback_bin] = whole_record[fallback_location]
        array[status == STATUS_UNCALIBRATED] = np.nan
    return BinStatistics(probabilities, obs_q, model_q, obs_mean, model_mean, obs_sd, model_sd,
                         count, whole[0], status)


def _map_side(values: np.ndarray, xq: np.ndarray, yq: np.ndarray, right: bool) -> np.ndarray:
    """The piecewise-linear map through knots ``(xq, yq)`` (rows) inside ``[xq[0], xq[-1]]``; at
    a run of tied knots, the run's last (``right``) or first model quantile."""
    n = xq.shape[1]
    counted = (xq <= values[:, None]) if right else (xq < values[:, None])
    k = np.clip(counted.sum(axis=1) - 1, 0, n - 2)[:, None]
    x0, x1 = np.take_along_axis(xq, k, 1)[:, 0], np.take_along_axis(xq, k + 1, 1)[:, 0]
    y0, y1 = np.take_along_axis(yq, k, 1)[:, 0], np.take_along_axis(yq, k + 1, 1)[:, 0]
    width = x1 - x0
    fraction = np.where(width > 0, (values - x0) / np.where(width > 0, width, 1.0),
                        1.0 if right else 0.0)
    return y0 + np.clip(fraction, 0.0, 1.0) * (y1 - y0)


def cdf_match(values: np.ndarray, obs_quantiles: np.ndarray,
              model_quantiles: np.ndarray) -> np.ndarray:
    """CDF matching: ``y* = F_model^-1(F_obs(y))`` through matched quantiles.

    Between the observation quantiles the map is linear; a value equal to a run of tied
    observation quantiles goes to the middle of the run's model quantiles; below the first
    (above the last) it is shifted by the first (last) quantiles' difference,
    ``y* = y + q_model - q_obs``, so the map is continuous and non-decreasing everywhere: the
    ranks of the observations are preserved.

    Parameters
    ----------
    values : (m,) float ndarray
        Observations [the type's units].
    obs_quantiles, model_quantiles : (m, Q) float ndarray
        Each observation's quantiles of its location and bin, non-decreasing.

    Returns
    -------
    (m,) float ndarray
    """
    values = np.asarray(values, dtype=float)
    out = np.empty(values.size)
    for s in range(0, values.size, _CHUNK):
        part = slice(s, s + _CHUNK)
        y, xq, yq = values[part], obs_quantiles[part], model_quantiles[part]
        inside = 0.5 * (_map_side(y, xq, yq, right=False) + _map_side(y, xq, yq, right=True))
        out[part] = np.where(y < xq[:, 0], y + yq[:, 0] - xq[:, 0],
                             np.where(y > xq[:, -1], y + yq[:, -1] - xq[:, -1], inside))
    return out


def anomaly_correct(values: np.ndarray, obs_mean: np.ndarray,
                    model_mean: np.ndarray) -> np.ndarray:
    """Anomaly correction ``y* = mu_model + (y - mu_obs)``; all arguments ``(m,)``, in the
    type's units."""
    return model_mean + (values - obs_mean)


def seasonal_rescale(values: np.ndarray, obs_mean: np.ndarray, model_mean: np.ndarray,
                     obs_sd: np.ndarray, model_sd: np.ndarray) -> np.ndarray:
    """Mean and variance rescaling ``y* = mu_model + (y - mu_obs) sd_model / sd_obs``; all
    arguments ``(m,)``, in the type's units."""
    return model_mean + (values - obs_mean) * (model_sd / obs_sd)


def rescale_error(errors: np.ndarray, obs_sd: np.ndarray, model_sd: np.ndarray) -> np.ndarray:
    """Error rescaling by the ratio of standard deviations ``error* = error sd_model / sd_obs``
    (the error expressed in the model's variability); all arguments ``(m,)``."""
    return errors * (model_sd / obs_sd)

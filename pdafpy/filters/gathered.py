"""Filters with covariance localisation over all observations: LEnKF (PDAF type 8) and the serial
EnSRF / EAKF (PDAF type 13).

Both need every observation on every filter rank, by construction: the LEnKF solves one system over
all observations, and the serial filters update the observed ensemble of every later observation
after each one. They are the only pdafpy filters that gather observations (an ``allgather`` over
the filter ranks); each rank then updates only its own columns. The memory taken by the gathered
observations and by the ``m x m`` matrix is logged.

Localisation is by distance between an observation and a state element's column (for ``P H^T``)
and between observations (for ``H P H^T``), with each observation type's weight function: rows of
observations of type ``t`` use type ``t``'s :class:`~pdafpy.localize.Localization`, as PDAF-OMI's
``localize_covar`` does.

With vertical localisation (:class:`~pdafpy.localize.VerticalLocalization` in the inputs) the taper
is 3D: the weight between observation ``j`` and state element ``e`` is the horizontal weight times
the vertical weight of ``e``'s depth against ``j``'s vertical range (``P H^T``), and between
observations ``i`` and ``j`` the horizontal weight times the vertical weight of the gap between
their ranges (0 where they overlap; ``H P H^T``). An observation or element without a vertical
position gets the vertical weight 1.

References
----------
Houtekamer, P. L., Mitchell, H. L. (2001). A sequential ensemble Kalman filter for atmospheric
data assimilation. Mon. Wea. Rev. 129, 123-137.
Whitaker, J. S., Hamill, T. M. (2002). Ensemble data assimilation without perturbed observations.
Mon. Wea. Rev. 130, 1913-1924.
Anderson, J. L. (2003). A local least squares framework for ensemble filtering. Mon. Wea. Rev.
131, 634-642.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from ..localize import Localization, VerticalLocalization, find_local_observations
from ..obs.types import ObservationSet
from .enkf import inflate_forecast, observation_perturbations
from .inputs import AnalysisInputs
from .square_root import FilterOptions

__all__ = ["LEnKF", "SerialEnSRF", "gather_observations", "localization_matrix"]

log = logging.getLogger(__name__)


def gather_observations(comm: Any, owned: ObservationSet) -> ObservationSet:
    """Every filter rank's observations on every filter rank, sorted by global index."""
    n_members = owned.hx.shape[0]
    if comm is None or comm.Get_size() == 1:
        return owned.sorted()
    parts = comm.allgather(owned)
    return ObservationSet.concatenate(parts, n_members)


def localization_matrix(points: np.ndarray, obs: ObservationSet,
                        localizations: Sequence[Localization]) -> np.ndarray:
    """Weights ``(m, n_points)``: row ``j`` uses observation ``j``'s type's localisation.

    Parameters
    ----------
    points : (n_points, 2) float ndarray
        Coordinates of state columns (or of observations).
    """
    weights = np.zeros((obs.size, points.shape[0]))
    for k, loc in enumerate(localizations):
        rows = np.flatnonzero(obs.type_index == k)
        if rows.size == 0 or points.shape[0] == 0:
            continue
        pairs = find_local_observations(obs.coords[rows], points, loc)
        row_of_pair = np.repeat(rows, np.diff(pairs.indptr))
        weights[row_of_pair, pairs.obs] = pairs.weight
    return weights


def _vertical_taper(rho_col: np.ndarray, obs: ObservationSet,
                    vertical: VerticalLocalization | None, depth: np.ndarray | None,
                    position: int) -> np.ndarray:
    """``rho_col`` ``(m, n_col)`` times the vertical weights ``(m, 1)`` of the observations at
    the depth of position ``position`` of a column (unchanged without ``vertical`` or where
    that depth is NaN)."""
    if vertical is None or not np.isfinite(depth[position]):
        return rho_col
    return rho_col * vertical.weights(obs.vertical_range, depth[position])[:, None]


class _Gathered:
    #: which observations the caller must prepare: "global" owned only, "local" after the halo
    #: exchange and local search, "gathered" owned, gathered by the filter itself
    scheme = "gathered"
    local = False

    def __init__(self, options: FilterOptions | None = None, **kwargs: Any):
        self.options = options if options is not None else FilterOptions(**kwargs)

    def _log_memory(self, m: int, n: int, n_members: int) -> None:
        """Log the memory the gathered observations take: INFO the first time, DEBUG after."""
        level = logging.DEBUG if getattr(self, "_memory_logged", False) else logging.INFO
        self._memory_logged = True
        gathered = m * (7 + n_members) * 8        # with the vertical range [top, bottom]
        log.log(level, "%s: %d observations gathered on every filter rank (%.1f MB), "
                "localisation and gain work arrays %.1f MB", self.name, m, gathered / 1e6,
                (m * m + m * n) * 8 / 1e6)


class LEnKF(_Gathered):
    """Localised EnKF with covariance localisation, as PDAF's filter type 8.

    ``K = (rho_HP o P H^T)(rho_HPH o H P H^T + R)^-1`` with ``P = X' X'^T / (N-1)``, one solve over
    all observations (gathered on every filter rank: see the module notes), perturbed
    observations centred over the ensemble, forgetting factor applied to the forecast anomalies.
    """

    name = "lenkf"
    pdaf_type = 8

    def analyse(self, ens: np.ndarray, inputs: AnalysisInputs, cycle: int = 0,
                forget: float | None = None) -> None:
        """Update this rank's columns of ``ens`` in place.

        Parameters
        ----------
        ens : (N, n_state) ndarray
            This rank's part of the ensemble.
        inputs : AnalysisInputs
            Uses ``owned`` (gathered over ``comm``), ``state_index`` and ``domain_coords`` (the
            columns) and ``localizations`` (one per observation type); ``vertical`` and
            ``element_depth`` for a 3D taper (see the module notes).
        cycle : int
            Analysis counter (keys the observation perturbations).
        forget : float, optional
            Forgetting factor of this analysis (default: the option's).
        """
        domain_state_index, domain_coords, localizations = inputs.require(
            self.name, "state_index", "domain_coords", "localizations")
        vertical, depth = inputs.vertical_depths(self.name)
        obs = gather_observations(inputs.comm, inputs.owned)
        n_members, n = ens.shape
        self._log_memory(obs.size, n, n_members)
        inflate_forecast(ens, self.options.forget if forget is None else forget)
        hxbar = obs.hx.mean(axis=0)
        y_anom = obs.hx - hxbar                                       # (N, m)
        mean = ens.mean(axis=0)
        x_anom = ens - mean
        hph = (y_anom.T @ y_anom) / (n_members - 1)
        hph *= localization_matrix(obs.coords, obs, localizations)
        if vertical is not None:
            hph *= vertical.pair_weights(obs.vertical_range)
        hph[np.diag_indices(obs.size)] += obs.variance
        eps = observation_perturbations(self.options.seed, cycle, obs.global_index,
                                        obs.variance, n_members)      # (m, N)
        innov = obs.value[:, None] + eps - obs.hx.T
        z = np.linalg.solve(hph, innov)                               # (m, N)
        rho_col = localization_matrix(domain_coords, obs, localizations)     # (m, n_columns)
        for level in range(domain_state_index.shape[1]):
            idx = domain_state_index[:, level]
            rho = _vertical_taper(rho_col, obs, vertical, depth, level)
            hp = (y_anom.T @ x_anom[:, idx]) / (n_members - 1) * rho          # (m, n_col)
            ens[:, idx] += z.T @ hp


class SerialEnSRF(_Gathered):
    """Serial ensemble square-root filter with covariance localisation (PDAF type 13).

    Observations are processed one at a time in global-index order (the loop is inherent to the
    method; each step is vectorised over state and members). After each observation both the
    state ensemble and the observed ensemble of all observations are updated, with localisation
    weights between the observation and the state columns, and between observations.

    ``variant``: ``"ensrf"`` (Whitaker & Hamill 2002) or ``"eakf"`` (Anderson 2003); for a single
    observation both give the same update.
    """

    name = "ensrf"
    pdaf_type = 13

    def __init__(self, options: FilterOptions | None = None, variant: str = "ensrf",
                 **kwargs: Any):
        super().__init__(options, **kwargs)
        if variant not in ("ensrf", "eakf"):
            from ..errors import ConfigError
            raise ConfigError(f"serial filter variant must be 'ensrf' or 'eakf', got {variant!r}")
        self.variant = variant

    def analyse(self, ens: np.ndarray, inputs: AnalysisInputs, cycle: int = 0,
                forget: float | None = None) -> None:
        """Update this rank's columns of ``ens`` in place (parameters as :meth:`LEnKF.analyse`)."""
        domain_state_index, domain_coords, localizations = inputs.require(
            self.name, "state_index", "domain_coords", "localizations")
        vertical, depth = inputs.vertical_depths(self.name)
        obs = gather_observations(inputs.comm, inputs.owned)
        n_members, n = ens.shape
        self._log_memory(obs.size, n, n_members)
        inflate_forecast(ens, self.options.forget if forget is None else forget)
        hx = obs.hx.copy()                                            # (N, m), updated in turn
        rho_obs = localization_matrix(obs.coords, obs, localizations)         # (m, m)
        if vertical is not None:
            rho_obs *= vertical.pair_weights(obs.vertical_range)
        rho_col = localization_matrix(domain_coords, obs, localizations)      # (m, n_col)
        n_levels = domain_state_index.shape[1]
        rho_state = np.empty((obs.size, n))
        for level in range(n_levels):
            rho_state[:, domain_state_index[:, level]] = _vertical_taper(rho_col, obs, vertical,
                                                                         depth, level)
        eakf = self.variant == "eakf"
        for j in range(obs.size):
            yj = hx[:, j]
            ybar = yj.mean()
            y_anom = yj - ybar
            var_f = y_anom @ y_anom / (n_members - 1)
            r = obs.variance[j]
            mean = ens.mean(axis=0)
            x_anom = ens - mean
            cov_x = (y_anom @ x_anom) / (n_members - 1) * rho_state[j]
            hbar = hx.mean(axis=0)
            cov_o = (y_anom @ (hx - hbar)) / (n_members - 1) * rho_obs[j]
            if eakf:
                var_a = var_f * r / (var_f + r)
                ya_mean = var_a * (ybar / var_f + obs.value[j] / r)
                dy = ya_mean + np.sqrt(var_a / var_f) * y_anom - yj           # (N,)
                ens += np.outer(dy, cov_x / var_f)
                hx += np.outer(dy, cov_o / var_f)
            else:
                gain_x = cov_x / (var_f + r)
                gain_o = cov_o / (var_f + r)
                alpha = 1.0 / (1.0 + np.sqrt(r / (var_f + r)))
                d = obs.value[j] - ybar
                ens += gain_x * d - alpha * np.outer(y_anom, gain_x)
                hx += gain_o * d - alpha * np.outer(y_anom, gain_o)

"""Stochastic EnKF with perturbed observations: global (PDAF type 2) and column-local.

Analysis (Burgers et al. 1998; Evensen 2003): ``X^a = X + K (D - H(X))`` with
``D = y 1^T + E``, ``E ~ N(0, R)``, ``K = X' Y'^T (Y' Y'^T + (N-1) R)^-1``. The perturbations are
drawn from the counter-based generator keyed by (seed, cycle, member, global observation index) and
centred over the ensemble (as DAPPER does), so the analysis does not depend on the rank layout.

Two algebraically equal forms, with ``S = R^-1/2 Y'`` (weights inside ``R^-1``):

- observation space (representer form): ``K = X' S^T (S S^T + (N-1) I_m)^-1 R^-1/2``;
- ensemble space (Woodbury): ``K = X' (S^T S + (N-1) I_N)^-1 S^T R^-1/2``.

The global filter uses the ensemble-space form by default: its ``N x N`` sums reduce over the
filter ranks, each contributing the observations it owns; the representer form needs every
observation on every rank and gathers them. Before the analysis the forgetting factor inflates the
anomalies as PDAF does: ``X <- mean + X' / sqrt(rho)``.

The column-local EnKF (the "1D EnKF" of LIS and the Noah-MP study) analyses each local domain (a
soil column) with its own local observations (``cradius = 0``: the same column only), batched over
domains like the LETKF; observation localisation weights multiply ``R^-1``.

References
----------
Burgers, G., van Leeuwen, P. J., Evensen, G. (1998). Analysis scheme in the ensemble Kalman
filter. Mon. Wea. Rev. 126, 1719-1724.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import random as prng
from .inputs import AnalysisInputs
from .local import LocalBatch, batched_local_analysis
from .square_root import FilterOptions

__all__ = ["EnKF", "ColumnEnKF", "observation_perturbations", "inflate_forecast",
           "enkf_ensemble_space", "enkf_observation_space"]

PURPOSE = "obs_perturbation"


def observation_perturbations(seed: int, cycle: int, global_index: np.ndarray,
                              variance: np.ndarray, n_members: int) -> np.ndarray:
    """Centred Gaussian observation perturbations ``(..., m, N)`` with variances ``variance``.

    Entry ``[..., j, k]`` depends only on (seed, cycle, member ``k``, ``global_index[..., j]``).
    """
    gi = np.asarray(global_index)
    eps = prng.standard_normal(seed, PURPOSE, cycle, np.arange(n_members), gi[..., None])
    eps -= eps.mean(axis=-1, keepdims=True)
    return eps * np.sqrt(np.asarray(variance))[..., None]


def inflate_forecast(ens: np.ndarray, forget: float) -> None:
    """PDAF's forgetting factor for the EnKF family: ``X <- mean + X' / sqrt(rho)`` (in place).

    Parameters
    ----------
    ens : (N, n) ndarray
    """
    if forget != 1.0:
        mean = ens.mean(axis=0)
        ens[:] = mean + (ens - mean) / np.sqrt(forget)


def enkf_ensemble_space(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """``(S^T S + (N-1) I)^-1 rhs`` for a batch: ``gram = S^T S`` ``(B, N, N)``, ``rhs (B, N, k)``."""
    n = gram.shape[-1]
    a = gram.copy()
    a[:, np.arange(n), np.arange(n)] += n - 1
    return np.linalg.solve(a, rhs)


def enkf_observation_space(s: np.ndarray, innov_scaled: np.ndarray) -> np.ndarray:
    """``S^T (S S^T + (N-1) I)^-1 innov_scaled`` for a batch: ``s (B, m, N)``, ``innov (B, m, k)``."""
    n = s.shape[-1]
    m = s.shape[1]
    a = s @ np.swapaxes(s, 1, 2)
    a[:, np.arange(m), np.arange(m)] += n - 1
    return np.swapaxes(s, 1, 2) @ np.linalg.solve(a, innov_scaled)


class _PerturbedObservations:
    """Shared by the global and column-local EnKF."""

    name = ""
    pdaf_type = -1

    def __init__(self, options: FilterOptions | None = None, **kwargs: Any):
        self.options = options if options is not None else FilterOptions(**kwargs)

    def _forget(self, forget: float | None) -> float:
        return self.options.forget if forget is None else forget


class EnKF(_PerturbedObservations):
    """Global stochastic EnKF with perturbed observations (PDAF filter type 2).

    ``options.solver``: ``"auto"``/``"ensemble"`` for the ensemble-space form (sums reduced over
    the filter ranks), ``"observation"`` for the representer form (observations gathered on every
    filter rank).
    """

    name = "enkf"
    pdaf_type = 2
    local = False
    #: which observations the caller must prepare: "global" owned only, "local" after the halo
    #: exchange and local search, "gathered" owned, gathered by the filter itself
    scheme = "global"

    def analyse(self, ens: np.ndarray, inputs: AnalysisInputs, cycle: int = 0,
                forget: float | None = None) -> None:
        """Update ``ens`` in place with the observations each filter rank owns.

        Parameters
        ----------
        ens : (N, n_state) ndarray
            This rank's part of the ensemble.
        inputs : AnalysisInputs
            Uses ``owned`` and ``comm`` (sums reduced, or observations gathered, over it).
        cycle : int
            Analysis counter (keys the observation perturbations).
        forget : float, optional
            Forgetting factor of this analysis (default: the option's).
        """
        obs, comm = inputs.owned, inputs.comm
        n_members = ens.shape[0]
        inflate_forecast(ens, self._forget(forget))
        hx = obs.hx
        hxbar = hx.mean(axis=0)
        scale = 1.0 / np.sqrt(obs.variance)
        s = ((hx - hxbar) * scale).T                          # (m, N)
        eps = observation_perturbations(self.options.seed, cycle, obs.global_index,
                                        obs.variance, n_members)
        innov = ((obs.value[:, None] + eps - hx.T) * scale[:, None])    # (m, N), scaled
        if self.options.solver == "observation":
            s, innov = _gather_rows(comm, s), _gather_rows(comm, innov)
            coef = enkf_observation_space(s[None], innov[None])[0]
        else:
            gram = s.T @ s
            rhs = s.T @ innov
            if comm is not None:
                from mpi4py import MPI
                comm.Allreduce(MPI.IN_PLACE, gram)
                comm.Allreduce(MPI.IN_PLACE, rhs)
            coef = enkf_ensemble_space(gram[None], rhs[None])[0]
        mean = ens.mean(axis=0)
        ens += coef.T @ (ens - mean)


def _gather_rows(comm: Any, a: np.ndarray) -> np.ndarray:
    """Rows of ``a`` from every rank, in rank order (observations are sorted within a rank)."""
    if comm is None or comm.Get_size() == 1:
        return a
    return np.concatenate(comm.allgather(a), axis=0)


class ColumnEnKF(_PerturbedObservations):
    """Column-local stochastic EnKF: each local domain with its own perturbed local observations.

    ``options.solver``: ``"auto"`` picks the observation-space form when a domain has fewer local
    observations than members, the ensemble-space form otherwise.
    """

    name = "column_enkf"
    pdaf_type = None
    local = True
    #: which observations the caller must prepare: "global" owned only, "local" after the halo
    #: exchange and local search, "gathered" owned, gathered by the filter itself
    scheme = "local"

    def analyse(self, ens: np.ndarray, inputs: AnalysisInputs, cycle: int = 0,
                forget: float | None = None) -> None:
        """Update ``ens`` in place, each local domain with its local observations.

        Parameters
        ----------
        ens : (N, n_state) ndarray
            This rank's part of the ensemble.
        inputs : AnalysisInputs
            Uses ``state_index`` and ``local``; with ``vertical`` and ``element_depth`` each
            column is analysed in sub-domains of equal depth (vertical R-localisation).
        cycle : int
            Analysis counter (keys the observation perturbations).
        forget : float, optional
            Forgetting factor of this analysis (default: the option's).
        """
        state_index, local_obs = inputs.require(self.name, "state_index", "local")
        vertical, depth = inputs.vertical_depths(self.name)
        inflate_forecast(ens, self._forget(forget))
        obs = local_obs.obs
        eps = observation_perturbations(self.options.seed, cycle, obs.global_index,
                                        obs.variance, ens.shape[0])
        batched_local_analysis(self, ens, state_index, local_obs, cycle,
                               self.options.chunk_size, 1.0, eps, vertical, depth)

    def update_local_domains(self, batch: LocalBatch) -> tuple[np.ndarray, np.ndarray]:
        """Mean increment and analysis anomalies of one batch (see :class:`LocalBatch`)."""
        n_members = batch.x_anom.shape[-1]
        m = batch.y_anom.shape[1]
        scale = np.sqrt(batch.rinv)
        s = batch.y_anom * scale[..., None]
        innov = (batch.innovation[..., None] + batch.perturbation - batch.y_anom) * scale[..., None]
        solver = self.options.solver
        if solver == "observation" or (solver == "auto" and m < n_members):
            coef = enkf_observation_space(s, innov)
        else:
            st = np.swapaxes(s, 1, 2)
            coef = enkf_ensemble_space(st @ s, st @ innov)
        dx = batch.x_anom @ coef                                  # (B, n, N)
        increment = dx.mean(axis=-1)
        return increment, batch.x_anom + dx - increment[..., None]

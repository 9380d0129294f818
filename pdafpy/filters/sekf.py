"""Simplified extended Kalman filter (SEKF), as used with CoLM (Bai et al.; de Rosnay et al. 2013).

``x^a = x^b + K (y - H(x^b))``, ``K = B H^T (H B H^T + R)^-1``, with a static background-error
covariance ``B`` per column and the Jacobian ``H`` of the observations with respect to the state
obtained by finite differences through the model:

1. from the state at the start of the window, ``n_l + 1`` runs are made: the unperturbed one and
   one per column entry ``k`` (a soil layer of a field) with that entry raised by ``delta[k]`` in
   **every** column at once; pdafpy deals these runs out to the model tasks exactly like ensemble
   members (:meth:`SEKF.perturbed_runs`);
2. at the analysis time, ``H_jk = (H_j(run k) - H_j(run 0)) / delta[k]`` for the observations
   local to the column (``cradius = 0``: those in the column itself);
3. the increment is added to the unperturbed forecast (run 0) at the analysis time.

**Approximation (as in the CoLM study):** perturbing layer ``k`` in all columns at once means the
Jacobian of a column's observations also contains the response to the same perturbation in the
neighbouring columns. Columns of a land model with lateral flow are weakly coupled, so this is
treated as the column's own sensitivity: the per-column Jacobians ignore lateral coupling. It is
exact for models whose columns do not interact.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .inputs import AnalysisInputs
from .local import depth_groups, domain_batches

__all__ = ["SEKF"]


class SEKF:
    """Simplified EKF with a finite-difference Jacobian from perturbed model runs.

    Parameters
    ----------
    delta : (n_l,) float array
        Perturbation of each column entry (in state units, e.g. 0.001 m3/m3 for soil moisture),
        in the order of the column's state indices.
    background : (n_l,) or (n_l, n_l) float array
        ``B`` per column: variances (diagonal) or a full covariance, static.
    chunk_size : int
        Columns analysed per batch.
    """

    name = "sekf"
    pdaf_type = None
    #: which observations the caller must prepare: "global" owned only, "local" after the halo
    #: exchange and local search, "gathered" owned, gathered by the filter itself
    scheme = "local"
    local = True

    def __init__(self, delta: np.ndarray, background: np.ndarray, chunk_size: int = 4096):
        self.delta = np.asarray(delta, dtype=float).ravel()
        if self.delta.size == 0 or np.any(self.delta == 0) or not np.all(np.isfinite(self.delta)):
            raise ConfigError(f"SEKF delta must be finite and non-zero, got {self.delta}")
        b = np.asarray(background, dtype=float)
        n = self.delta.size
        self.background = np.diag(b) if b.ndim == 1 else b
        if self.background.shape != (n, n):
            raise ConfigError(f"SEKF background must have shape ({n},) or ({n}, {n}), "
                              f"got {b.shape}")
        if np.any(np.linalg.eigvalsh(self.background) <= 0):
            raise ConfigError("SEKF background covariance must be positive definite")
        self.chunk_size = chunk_size

    @property
    def n_runs(self) -> int:
        """Model runs per analysis: the unperturbed one and one per column entry."""
        return self.delta.size + 1

    def perturbed_runs(self, state: np.ndarray, domain_state_index: np.ndarray) -> np.ndarray:
        """Initial states of the runs ``(n_runs, n_state)``: ``state`` and its perturbations.

        Parameters
        ----------
        state : (n_state,) ndarray
            Analysis (start of the next window).
        domain_state_index : (n_columns, n_l) int ndarray
            State indices of each column, entry ``k`` perturbed by ``delta[k]``.
        """
        if domain_state_index.shape[1] != self.delta.size:
            raise ConfigError(f"SEKF has {self.delta.size} perturbation sizes for columns of "
                              f"{domain_state_index.shape[1]} entries")
        runs = np.repeat(state[None], self.n_runs, axis=0)
        for k in range(self.delta.size):
            runs[k + 1, domain_state_index[:, k]] += self.delta[k]
        return runs

    def analyse(self, ens: np.ndarray, inputs: AnalysisInputs, cycle: int = 0,
                forget: float | None = None) -> None:
        """Analyse run 0 in place from the forecasts of all runs.

        Parameters
        ----------
        ens : (n_runs, n_state) ndarray
            Forecasts of the unperturbed run (row 0) and the perturbed runs; row 0 becomes the
            analysis, the other rows are left as they are.
        inputs : AnalysisInputs
            Uses ``state_index`` (``(n_columns, n_l)``, entry ``k`` perturbed by ``delta[k]``)
            and ``local`` (the observations, with ``hx`` of every run, and each column's local
            list). With ``vertical`` and ``element_depth``, the entries of each depth get the
            increment of a gain whose ``R`` is divided by the vertical weights at that depth
            (R-localisation, as the local ensemble filters; ``B`` and ``H`` stay the column's).
        cycle : int
            Analysis counter (unused: the SEKF is deterministic).
        forget : float, optional
            Unused: ``B`` is static.
        """
        domain_state_index, local_obs = inputs.require(self.name, "state_index", "local")
        obs = local_obs.obs
        if obs.hx.shape[0] != self.n_runs:
            raise ConfigError(f"SEKF expects {self.n_runs} runs, got {obs.hx.shape[0]}")
        vertical, depth = inputs.vertical_depths(self.name)
        # (entries, vertical weights of every observation at their depth or None)
        groups: list = [(slice(None), None)] if vertical is None else [
            (pos, vertical.weights(obs.vertical_range, z) if np.isfinite(z) else None)
            for z, pos in depth_groups(depth)]
        jac_all = (obs.hx[1:] - obs.hx[0]) / self.delta[:, None]          # (n_l, m_total)
        innovation_all = obs.value - obs.hx[0]
        b = self.background
        for domains, obs_idx, pair in domain_batches(local_obs, self.chunk_size):
            if obs_idx.shape[1] == 0:
                continue
            h = np.moveaxis(jac_all[:, obs_idx], 0, -1)                    # (B, m, n_l)
            bht = b @ np.swapaxes(h, 1, 2)                                 # (B, n_l, m)
            hbht = h @ bht
            for entries, vweight in groups:
                weight = local_obs.weight[pair] if vweight is None \
                    else local_obs.weight[pair] * vweight[obs_idx]
                with np.errstate(divide="ignore"):
                    r = obs.variance[obs_idx] / weight                     # weight 0 -> inf
                s = hbht.copy()
                s[:, np.arange(s.shape[1]), np.arange(s.shape[1])] += r
                finite = np.isfinite(r)
                d = np.where(finite, innovation_all[obs_idx], 0.0)
                s = np.where(finite[:, :, None] & finite[:, None, :], s,
                             np.where(np.eye(s.shape[1], dtype=bool), 1.0, 0.0))
                increment = np.einsum("bnm,bm->bn", bht[:, entries],
                                      np.linalg.solve(s, d[..., None])[..., 0])
                ens[0, domain_state_index[domains][:, entries]] += increment

"""ESTKF, ETKF and their localised forms LESTKF and LETKF (PDAF filter types 6, 4, 7, 5).

Global filters reduce their ``A^-1`` and right-hand side over the filter ranks (each rank
contributes the observations it owns) and transform every rank's part of the state with the same
weights. Local filters analyse each local domain (a grid column) with its own local observations,
whose inverse error variances carry the localisation weights (R-localisation, as PDAF), batched
over domains by :mod:`pdafpy.filters.local`.

References
----------
Nerger, L., Janjic, T., Schroeter, J., Hiller, W. (2012). A unification of ensemble square root
Kalman filters. Mon. Wea. Rev. 140, 2335-2345.
Hunt, B. R., Kostelich, E. J., Szunyogh, I. (2007). Efficient data assimilation for
spatiotemporal chaos: a local ensemble transform Kalman filter. Physica D 230, 112-126.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import random as prng
from ..errors import ConfigError
from .algebra import (ensemble_space_inputs, estkf_transform, etkf_transform,
                      observation_space_update, omega)
from .inputs import AnalysisInputs
from .local import LocalBatch, batched_local_analysis
from .workspace import Workspace

__all__ = ["FilterOptions", "ESTKF", "ETKF", "LESTKF", "LETKF"]


@dataclass(frozen=True)
class FilterOptions:
    """Options of the square-root filters, with PDAF's names.

    Attributes
    ----------
    forget : float
        Forgetting factor rho in (0, inf): ``A^-1 = rho (N-1) I + ...``; rho < 1 inflates the
        forecast covariance by 1/rho (PDAF's ``forget``).
    type_trans : int
        PDAF's ``type_trans``: 0 deterministic transform (default); ESTKF family: 1 random
        ``Omega`` (orthonormal columns orthogonal to 1), 2 deterministic ``Omega`` times a random
        orthogonal matrix with eigenvector 1; ETKF family: 2 symmetric square root times a random
        mean-preserving orthogonal matrix. Random matrices come from the counter-based generator
        keyed by (``seed``, cycle): the same on every rank and every layout (not PDAF's LAPACK
        stream, so random transforms do not reproduce PDAF's numbers).
    seed : int
        Seed of the random transforms.
    solver : str
        Local filters only: ``"auto"`` solves each domain in observation space when it has fewer
        local observations than N-1 and in ensemble space otherwise; ``"ensemble"`` or
        ``"observation"`` force one. All give the same analysis to round-off.
    chunk_size : int
        Local domains analysed per batch (bounds memory: about ``chunk_size * N * N * 8`` bytes
        per scratch array; 512 keeps a batch's arrays in the processor's caches).
    """

    forget: float = 1.0
    type_trans: int = 0
    seed: int = 0
    solver: str = "auto"
    chunk_size: int = 512

    def __post_init__(self) -> None:
        if not (np.isfinite(self.forget) and self.forget > 0):
            raise ConfigError(f"forget must be a finite number > 0, got {self.forget}")
        if self.solver not in ("auto", "ensemble", "observation"):
            raise ConfigError(
                f"solver must be 'auto', 'ensemble' or 'observation', got {self.solver!r}")
        if self.chunk_size < 1:
            raise ConfigError(f"chunk_size must be >= 1, got {self.chunk_size}")


class _SquareRootFilter:
    """What the four filters share: options, the random transform, the ensemble-space path."""

    name = ""
    pdaf_type = -1
    local = False
    allowed_type_trans: tuple[int, ...] = (0,)

    def __init__(self, options: FilterOptions | None = None, **kwargs: Any):
        self.options = options if options is not None else FilterOptions(**kwargs)
        #: Scratch memory of the local analyses (about ``chunk_size * N * N * 8`` bytes per
        #: array), kept from one analysis to the next: fresh memory for every analysis cost a
        #: quarter of a Lorenz-96 LETKF analysis of 1000 variables in page faults.
        self.work = Workspace()
        if self.options.type_trans not in self.allowed_type_trans:
            raise ConfigError(
                f"{self.name}: type_trans must be one of {self.allowed_type_trans}, "
                f"got {self.options.type_trans}")

    # -- overridden per family -----------------------------------------------------------------
    def _project(self, n_members: int) -> np.ndarray | None:
        raise NotImplementedError

    def _transform(self, ainv: np.ndarray, rhs: np.ndarray, n_members: int,
                   cycle: int, lower: float | None = None,
                   work: Workspace | None = None) -> np.ndarray:
        """``W`` from ``A^-1``; ``lower`` (``a``): Newton-Schulz instead of ``eigh``."""
        raise NotImplementedError

    def _rotation(self, n_members: int, cycle: int) -> np.ndarray | None:
        """The N x N matrix that right-multiplies the analysis anomalies (None: identity)."""
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------------
    def _weights_ensemble_space(self, y_anom: np.ndarray, innovation: np.ndarray,
                                rinv: np.ndarray, n_members: int, cycle: int, forget: float,
                                comm: Any = None, iterative: bool = False,
                                work: Workspace | None = None) -> np.ndarray:
        a = forget * (n_members - 1)
        ainv, rhs = ensemble_space_inputs(y_anom, innovation, rinv, 0.0,
                                          self._project(n_members))
        if comm is not None:
            comm.Allreduce(_inplace(), ainv)
            comm.Allreduce(_inplace(), rhs)
        k = ainv.shape[-1]
        ainv[:, np.arange(k), np.arange(k)] += a
        return self._transform(ainv, rhs, n_members, cycle, a if iterative else None, work)

    def update_local_domains(self, batch: LocalBatch) -> tuple[np.ndarray, np.ndarray]:
        """Analyse a batch of local domains with the same number of local observations.

        Returns
        -------
        increment : (B, n) ndarray
            Change of the local ensemble mean.
        anomalies : (B, n, N) ndarray
            Analysis anomalies.
        """
        n_members = batch.x_anom.shape[-1]
        m = batch.y_anom.shape[1]
        solver = self.options.solver
        if solver == "observation" or (solver == "auto" and m < n_members - 1):
            return observation_space_update(batch.x_anom, batch.y_anom, batch.innovation,
                                            batch.rinv, batch.forget,
                                            self._rotation(n_members, batch.cycle), batch.work)
        w = self._weights_ensemble_space(batch.y_anom, batch.innovation, batch.rinv,
                                         n_members, batch.cycle, batch.forget, iterative=True,
                                         work=batch.work)
        xa = batch.x_anom @ w
        # W = W_pert + w 1^T; X' W_pert has zero mean, so the mean increment is the members' mean
        increment = xa.mean(axis=-1)
        return increment, xa - increment[..., None]


def _inplace() -> Any:
    from mpi4py import MPI
    return MPI.IN_PLACE


class _ESTKFFamily(_SquareRootFilter):
    allowed_type_trans = (0, 1, 2)

    def _project(self, n_members: int) -> np.ndarray:
        return omega(n_members)

    def _omega_right(self, n_members: int, cycle: int) -> np.ndarray:
        om = omega(n_members)
        kind = self.options.type_trans
        if kind == 1:
            return prng.random_omega(self.options.seed, "transform", cycle, n_members)
        if kind == 2:
            rot = prng.random_mean_preserving_orthonormal(self.options.seed, "transform", cycle,
                                                          n_members)
            return rot @ om
        return om

    def _transform(self, ainv, rhs, n_members, cycle, lower=None, work=None):
        return estkf_transform(ainv, rhs, omega(n_members),
                               self._omega_right(n_members, cycle).T, lower, work)

    def _rotation(self, n_members, cycle):
        if self.options.type_trans == 0:
            return None
        return omega(n_members) @ self._omega_right(n_members, cycle).T


class _ETKFFamily(_SquareRootFilter):
    allowed_type_trans = (0, 2)

    def _project(self, n_members: int) -> None:
        return None

    def _rotation(self, n_members, cycle):
        if self.options.type_trans == 0:
            return None
        return prng.random_mean_preserving_orthonormal(self.options.seed, "transform", cycle,
                                                       n_members)

    def _transform(self, ainv, rhs, n_members, cycle, lower=None, work=None):
        return etkf_transform(ainv, rhs, self._rotation(n_members, cycle), lower, work)


class _GlobalMixin:
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
            Uses ``owned`` (the observations this rank owns) and ``comm`` (the filter
            communicator over which ``A^-1`` is summed; None: serial).
        cycle : int
            Analysis counter (keys the random transforms).
        forget : float, optional
            Forgetting factor of this analysis (default: the option's), e.g. an adaptive one.
        """
        obs = inputs.owned
        n_members = ens.shape[0]
        hxbar = obs.hx.mean(axis=0)
        y_anom = (obs.hx - hxbar).T[None]
        w = self._weights_ensemble_space(
            y_anom, (obs.value - hxbar)[None], (1.0 / obs.variance)[None], n_members, cycle,
            self.options.forget if forget is None else forget, inputs.comm)[0]
        mean = ens.mean(axis=0)
        ens[:] = mean + (ens - mean).T.dot(w).T


class _LocalMixin:
    local = True
    #: which observations the caller must prepare: "global" owned only, "local" after the halo
    #: exchange and local search, "gathered" owned, gathered by the filter itself
    scheme = "local"

    def analyse(self, ens: np.ndarray, inputs: AnalysisInputs, cycle: int = 0,
                forget: float | None = None) -> None:
        """Update ``ens`` in place, each local domain with its own local observations.

        Parameters
        ----------
        ens : (N, n_state) ndarray
            This rank's part of the ensemble.
        inputs : AnalysisInputs
            Uses ``state_index`` (disjoint local domains) and ``local`` (the local observations
            of every domain, from :mod:`pdafpy.halo`); with ``vertical`` and ``element_depth``
            each domain is analysed in sub-domains of equal depth (vertical R-localisation).
        cycle : int
            Analysis counter (keys the random transforms).
        forget : float, optional
            Forgetting factor of this analysis (default: the option's).
        """
        state_index, local = inputs.require(self.name, "state_index", "local")
        vertical, depth = inputs.vertical_depths(self.name)
        batched_local_analysis(self, ens, state_index, local, cycle, self.options.chunk_size,
                               self.options.forget if forget is None else forget,
                               vertical=vertical, element_depth=depth, work=self.work)


class ESTKF(_GlobalMixin, _ESTKFFamily):
    """Error-subspace transform Kalman filter (PDAF type 6)."""

    name = "estkf"
    pdaf_type = 6


class ETKF(_GlobalMixin, _ETKFFamily):
    """Ensemble transform Kalman filter, Hunt et al. (2007) form (PDAF type 4)."""

    name = "etkf"
    pdaf_type = 4


class LESTKF(_LocalMixin, _ESTKFFamily):
    """Local ESTKF (PDAF type 7): one analysis per local domain, R-localisation."""

    name = "lestkf"
    pdaf_type = 7


class LETKF(_LocalMixin, _ETKFFamily):
    """Local ETKF (PDAF type 5): one analysis per local domain, R-localisation."""

    name = "letkf"
    pdaf_type = 5

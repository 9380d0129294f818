"""The land twin's state perturbations during the run: ``[perturbations.state]``.

HEY and KW26 add noise to the model state as the members run (studies.md sections 3.2 and 4.2,
checklist item 14): soil water content per layer, HEY also LAI, additive normal with one
standard deviation each, cross-correlated across the layers (and LAI), white in time (HEY) or
AR(1) with a time scale (KW26: 12 h). Here:

- **Increments.** Every ``interval_h`` (default: every coupling step), at model times
  ``t_k = k * interval``, ``k >= 1``, each perturbed run receives ``d_j = sd_j * e_j`` with
  ``e`` the standardised process of :class:`pdafpy.perturb.ForcingPerturbation` (additive
  variables ``water_content_k`` of the layers ``k`` with ``sd > 0`` and, with
  ``lai_sd > 0``, ``leaf_area_index``, in that order):
  ``e_k = phi e_{k-1} + sqrt(1 - phi^2) L z_k``, ``phi = exp(-interval / time_scale)`` (0:
  white), ``L`` the Cholesky factor of ``correlation`` (its rows and columns of the perturbed
  layers and LAI: a layer with ``sd = 0`` is not drawn), ``z_k`` standard normal, truncated at
  ``truncate_sd`` by the variance-preserving quantile map. The sd is that of each increment;
  an AR(1) sequence of increments accumulates in the state until the model's own dynamics
  (drainage, evaporation, phenology) take it out.
- **Random keys.** ``purpose = "state_noise"``, ``cycle = k`` (the perturbation counter since
  model time 0), ``member`` = the run's perturbation key, stream ``j`` the ``j``-th drawn
  variable (the layers with ``sd > 0`` top-down, then LAI) with the global column in the
  index (:mod:`pdafpy.perturb`): the same numbers on any number of model tasks, ranks and
  member orders.
- **Who is perturbed.** Runs whose perturbation key is below ``[ensemble] size``: the members
  and the open loop (the same perturbed ensemble without analysis, so open-loop member ``k``
  receives member ``k``'s increments). The truth (key ``[ensemble] size``) is not perturbed, in
  a twin or a truth pass.
- **Water content** (:func:`head_after_water_content_increment`): ``theta' = clip(theta + d,
  theta_r + 1e-6, theta_s)`` in cells unsaturated before the increment (``h < 0``), written back
  as pressure head by the inverse van Genuchten curve of the run's soil, no drier than the drier
  of the head before and the surface's evaporation limit ``h_min``; saturated cells (``h >= 0``)
  keep their head (their water content cannot rise, and lowering it would put a dry cell below
  the water table); a layer with ``sd = 0`` is left bit-for-bit alone.
- **LAI** (:func:`leaf_biomass_after_lai_increment`): ``LAI' = clip(LAI + d, 0, max(lai_max,
  lai_min))`` (the bounds the phenology keeps), written back as leaf biomass ``LAI' / SLA``
  (the model's LAI is leaf biomass times specific leaf area); bare ground (``lai_max <= 0``)
  stays bare.
- **Water added.** Nothing is conserved: each application adds ``sum_k dz_k (theta'_k -
  theta_k)`` [m of water] to a column (the model's ``state_noise_water_mm``, per column), which
  the Richards water balance does not book (its residual then includes it). Bias-free in
  expectation before the bounds; the clipping at ``theta_r``/``theta_s``, the dry limit and the
  saturated cells make the realised mean differ from zero near the bounds. ``zero_mean = true``
  subtracts the increments' ensemble mean (over the ``[ensemble] size`` keys) so that the
  ensemble-mean increment is zero before the bounds; each run then carries the process of every
  key (``[ensemble] size`` times the random numbers); each member's variance is ``(N - 1) / N``
  of ``sd^2``. (HEY's Ryu et al. 2009 bias removal against an unperturbed control run is a
  different thing and is not offered.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from pdafpy.config import option, parse_section
from pdafpy.errors import ConfigError
from pdafpy.perturb import ForcingPerturbation, ForcingVariable, SpatialStructure
from pdafpy.perturb.checks import correlation_cholesky
from pdafpy.perturb.truncation import truncation_inner_limit

__all__ = ["StatePerturbationSection", "StateNoise", "PURPOSE", "state_section",
           "check_state_perturbations", "head_after_water_content_increment",
           "leaf_biomass_after_lai_increment"]

#: The random stream name of the state perturbations (:mod:`pdafpy.perturb` keys).
PURPOSE = "state_noise"
#: Keeps perturbed water content strictly above theta_r (as the analysis' write-back does).
THETA_MARGIN = 1e-6
SECONDS_PER_HOUR = 3600.0
MM_PER_M = 1000.0


@dataclass(frozen=True)
class StatePerturbationSection:
    """Increments of the state of members and open loop during the run, never the truth's.

    Water content per layer and LAI (``[perturbations.state]``; docs/perturbations.md)."""

    water_content_sd: float | tuple[float, ...] = option(
        0.0, "standard deviation of the additive water-content increment, one value or one per "
        "layer of the grid, top-down (HEY: 0.004, 0.00007, 0.00004, 0.00002; KW26: 0.01, 0.006, "
        "0.003, 0.0015)", unit="m3 m-3", minimum=0.0)
    lai_sd: float = option(0.0, "standard deviation of the additive LAI increment, written "
                           "back as leaf biomass (HEY: 0.01)", unit="m2 m-2", minimum=0.0)
    correlation: tuple[tuple[float, ...], ...] | None = option(
        None, "cross-correlation of the increments: rows and columns the layers top-down, then "
        "LAI where lai_sd > 0 (default: independent)")
    time_scale_h: float | None = option(
        None, "AR(1) time scale tau of the increments, phi = exp(-interval/tau) (KW26: 12); "
        "default: white in time (HEY)", unit="h", minimum=0.0, exclusive_minimum=True)
    interval_h: float | None = option(
        None, "time between two applications, a multiple of the coupling step (default: the "
        "coupling step)", unit="h", minimum=0.0, exclusive_minimum=True)
    truncate_sd: float | None = option(
        None, "bound of the standard-normal innovations in standard deviations, by the "
        "variance-preserving quantile map (HEY: 2.5; default: none)", minimum=1.75)
    zero_mean: bool = option(False, "subtract the increments' ensemble mean over the members, "
                             "so that the ensemble-mean increment is zero before the bounds")
    spatial: str = option("independent", "horizontal structure: one draw per column "
                          "(independent) or per run for the whole grid (uniform)",
                          choices=("independent", "uniform"))
    correlation_length_m: float | None = option(
        None, "correlation length of the increment fields, exponential (with spatial = "
        "'independent'; default: none)", unit="m", minimum=0.0, exclusive_minimum=True)

    def check(self, path: str) -> None:
        """Keys that change nothing without an sd > 0, or that exclude each other."""
        if self.correlation_length_m is not None and self.spatial == "uniform":
            raise ConfigError(f"{path}.correlation_length_m: a correlated field varies in space; "
                              "spatial = 'uniform' draws one value per run")
        if self.truncate_sd is not None:
            try:
                truncation_inner_limit(self.truncate_sd)
            except ConfigError:
                raise ConfigError(f"{path}.truncate_sd = {self.truncate_sd!r}: must be >= 1.75 "
                                  "(the variance-preserving truncation)") from None
        if not self.active:
            given = [f.name for f in fields(self) if f.name not in ("water_content_sd", "lai_sd")
                     and getattr(self, f.name) != f.default]
            if given:
                raise ConfigError(f"{path}.{given[0]}: no state is perturbed (water_content_sd "
                                  "and lai_sd are 0); give a standard deviation > 0")

    @property
    def active(self) -> bool:
        """Whether anything is perturbed (an sd > 0)."""
        return self.lai_sd > 0.0 or any(v > 0.0 for v in np.atleast_1d(self.water_content_sd))


def state_section(table: Mapping[str, Any] | None,
                  path: str = "perturbations.state") -> StatePerturbationSection:
    """The ``[perturbations.state]`` table parsed (an empty or missing table: nothing)."""
    if table is None:
        table = {}
    if isinstance(table, StatePerturbationSection):
        return table
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path} = {table!r}: expected a table")
    return parse_section(StatePerturbationSection, table, path)


def check_state_perturbations(section: StatePerturbationSection, nz: int,
                              coupling_step_s: float, path: str = "perturbations.state",
                              sekf: bool = False) -> tuple[np.ndarray, float]:
    """The section against the grid and the coupling step, before any model work.

    Parameters
    ----------
    section : StatePerturbationSection
    nz : int
        Layers of the grid.
    coupling_step_s : float, s
    path : str
        Key path, for messages.
    sekf : bool
        Whether the runs are the SEKF's (one shared perturbation key: no ensemble mean).

    Returns
    -------
    (nz,) float ndarray, float
        The water-content sd per layer [m3 m-3] and the interval [s].

    Raises
    ------
    ConfigError
        One line naming the key: an sd list of another length than ``nz``, a correlation matrix
        of another size or not symmetric, unit-diagonal and positive definite, an interval
        that is not a multiple of the coupling step, ``zero_mean`` with the SEKF.
    """
    sd = np.asarray(section.water_content_sd, dtype=float)
    if sd.ndim == 1 and sd.size != nz:
        raise ConfigError(f"{path}.water_content_sd: {sd.size} values; expected one value or "
                          f"{nz} (one per layer of the grid, nz = {nz})")
    sd = np.broadcast_to(sd, (nz,)).copy()
    n = nz + (1 if section.lai_sd > 0.0 else 0)
    if section.correlation is not None:
        corr = section.correlation
        if len(corr) != n or any(len(row) != n for row in corr):
            raise ConfigError(f"{path}.correlation: expected a {n} x {n} matrix, the {nz} "
                              "layers top-down" + (" then LAI (lai_sd > 0)"
                                                   if n > nz else " (no LAI: lai_sd = 0)"))
        try:
            correlation_cholesky(f"{path}.correlation", corr, n)
        except ConfigError as exc:
            raise ConfigError(str(exc)) from None
    interval = coupling_step_s if section.interval_h is None \
        else section.interval_h * SECONDS_PER_HOUR
    ratio = interval / coupling_step_s
    if round(ratio) < 1 or abs(ratio - round(ratio)) > 1e-9 * max(1.0, ratio):
        raise ConfigError(f"{path}.interval_h = {section.interval_h:g}: must be a multiple of "
                          f"the coupling step ([coupling] step_s = {coupling_step_s:g} s)")
    if sekf and section.zero_mean and section.active:
        raise ConfigError(f"{path}.zero_mean: the SEKF's runs share one perturbation key; "
                          "there is no ensemble mean to remove")
    return sd, float(interval)


def head_after_water_content_increment(
        head: np.ndarray, theta: np.ndarray, increment: np.ndarray, theta_r: np.ndarray,
        theta_s: np.ndarray, head_from_saturation: Callable[[np.ndarray], np.ndarray],
        h_min: float) -> np.ndarray:
    """Pressure head after adding ``increment`` to the water content (see the module notes).

    Parameters
    ----------
    head, theta : (nz, ny, nx) float
        Pressure head [m] and water content [m3 m-3] before.
    increment : (nz, ny, nx) float
        Water-content increment [m3 m-3].
    theta_r, theta_s : float arrays broadcastable to ``head``
        Residual and saturated water content [m3 m-3] of the run's soil.
    head_from_saturation : callable
        The inverse retention curve: head [m] of an effective saturation in (0, 1] (0 at 1).
    h_min : float, m
        The surface's evaporation limit: no cell is made drier than it (or than it was).

    Returns
    -------
    (nz, ny, nx) float
        The new head; equal to ``head`` in saturated cells and where ``increment`` is 0.
    """
    target = np.clip(theta + increment, theta_r + THETA_MARGIN, theta_s)
    se = (target - theta_r) / (theta_s - theta_r)
    new = np.minimum(head_from_saturation(se), 0.0)
    new = np.maximum(new, np.minimum(head, h_min))
    return np.where((head < 0.0) & (increment != 0.0), new, head)


def leaf_biomass_after_lai_increment(leaf_biomass: np.ndarray, specific_leaf_area: np.ndarray,
                                     increment: np.ndarray, lai_max: np.ndarray,
                                     lai_min: np.ndarray) -> np.ndarray:
    """Leaf biomass [kg m-2] after adding ``increment`` [m2 m-2] to LAI (module notes).

    All arrays ``(ny, nx)`` or broadcastable to it; LAI = leaf biomass x specific leaf area
    [m2 kg-1]; bare ground (``lai_max <= 0``) and columns without specific leaf area keep no
    leaves.
    """
    sla = np.asarray(specific_leaf_area, dtype=float)
    lai = np.maximum(leaf_biomass, 0.0) * sla
    cap = np.maximum(lai_max, lai_min)
    new = np.clip(lai + increment, 0.0, cap)
    bare = (np.asarray(lai_max) <= 0.0) | (sla <= 0.0)
    return np.where(bare, 0.0, new / np.where(sla > 0.0, sla, 1.0))


class StateNoise:
    """The increments of every perturbed run of a model task (see the module notes).

    Parameters
    ----------
    section : StatePerturbationSection
    nz : int
    seed : int
    ensemble_size : int
        Runs with a perturbation key below it are perturbed; the truth's key is this.
    box : (y0, y1, x0, x1)
        This rank's block of the global grid.
    grid_shape : (Ny, Nx)
    coupling_step_s : float, s
    dx_m, dy_m : float, m
        Column spacing, for ``correlation_length_m``.
    sekf : bool
        The runs are the SEKF's (see :func:`check_state_perturbations`).
    """

    def __init__(self, section: StatePerturbationSection, *, nz: int, seed: int,
                 ensemble_size: int, box: Sequence[int], grid_shape: tuple[int, int],
                 coupling_step_s: float, dx_m: float = 1.0, dy_m: float = 1.0,
                 sekf: bool = False) -> None:
        self.section = section
        sd, self.interval_s = check_state_perturbations(section, nz, coupling_step_s,
                                                        sekf=sekf)
        tau = None if section.time_scale_h is None else section.time_scale_h * SECONDS_PER_HOUR
        #: The perturbed layers (sd > 0), top-down: only they are drawn.
        self.layers = np.flatnonzero(sd > 0.0)
        names = [f"water_content_{k}" for k in self.layers]
        sds = list(sd[self.layers])
        rows = list(self.layers)
        if section.lai_sd > 0.0:
            names.append("leaf_area_index")
            sds.append(section.lai_sd)
            rows.append(nz)
        self.variables = tuple(ForcingVariable(n, float(s), "additive", tau)
                               for n, s in zip(names, sds))
        self.correlation = None if section.correlation is None else \
            np.asarray(section.correlation, dtype=float)[np.ix_(rows, rows)]
        self.nz = nz
        self.perturbs_lai = section.lai_sd > 0.0
        self.seed = int(seed)
        self.ensemble_size = int(ensemble_size)
        self.box = tuple(int(v) for v in box)
        self.grid_shape = grid_shape
        if section.correlation_length_m is not None:
            self.spatial = SpatialStructure("correlated", float(section.correlation_length_m),
                                            dx_m=dx_m, dy_m=dy_m)
        else:
            self.spatial = SpatialStructure(section.spatial)
        self._processes: dict[int, ForcingPerturbation] = {}

    def perturbs(self, key: int) -> bool:
        """Whether the run with perturbation key ``key`` is perturbed (not the truth's)."""
        return 0 <= int(key) < self.ensemble_size

    def counters(self, t0: float, t1: float) -> list[tuple[int, float]]:
        """The applications ``(k, t_k)`` with ``t0 < t_k = k * interval <= t1`` [s]."""
        eps = 1e-9 * max(1.0, abs(t1))
        first = math.floor((t0 + eps) / self.interval_s) + 1
        last = math.floor((t1 + eps) / self.interval_s)
        return [(k, t1 if abs(k * self.interval_s - t1) <= eps else k * self.interval_s)
                for k in range(max(first, 1), last + 1)]

    def process(self, run: int, key: int) -> ForcingPerturbation:
        """Run ``run``'s process (created on first use), drawn with ``key``."""
        if run not in self._processes:
            self._processes[run] = ForcingPerturbation(
                self.variables, seed=self.seed, n_members=self.ensemble_size, members=[key],
                box=self.box, grid_shape=self.grid_shape, dt_s=self.interval_s,
                correlation=self.correlation, truncate_sd=self.section.truncate_sd,
                spatial=self.spatial, remove_ensemble_mean=self.section.zero_mean,
                purpose=PURPOSE)
        return self._processes[run]

    def increments(self, run: int, key: int, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Run ``run``'s increments at counter ``k``: water content ``(nz, ny, nx)`` [m3 m-3]
        and LAI ``(ny, nx)`` [m2 m-2] (None without LAI perturbations)."""
        values = self.process(run, key).step(k)
        b = self.box
        theta = np.zeros((self.nz, b[1] - b[0], b[3] - b[2]))
        for j in self.layers:
            theta[j] = values[f"water_content_{j}"][0]
        lai = values["leaf_area_index"][0] if self.perturbs_lai else None
        return theta, lai

    # -- restart --------------------------------------------------------------------------------
    def state(self) -> dict[int, dict[str, np.ndarray]]:
        """Each run's AR(1) state (:meth:`ForcingPerturbation.state`)."""
        return {run: p.state() for run, p in self._processes.items()}

    def restore(self, saved: Mapping[Any, Mapping[str, np.ndarray]],
                keys: Mapping[int, int]) -> None:
        """Inverse of :meth:`state`; ``keys`` gives each run's perturbation key."""
        for run, state in saved.items():
            self.process(int(run), int(keys[int(run)])).restore(state)

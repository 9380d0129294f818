"""``LandDAModel``: the coupled land/subsurface model as the ensemble sees it.

It wraps :class:`models.coupled.CoupledModel` and adds what land data assimilation needs:

- **derived fields in the state vector** (kind ``"diagnostic"``): ``water_content`` [m3 m-3]
  per layer, from pressure head through each member's van Genuchten curve, and
  ``water_table_depth`` [m] per column (the bottom of the domain when the table lies below it),
  so that soil-moisture and groundwater-level observations are linear operators on the state;
  for the outputs and the scores, ``evapotranspiration`` and ``transpiration`` [mm d-1] per
  column, the land's mean rates over the member's forecast window (from the last of
  ``flux_window_starts_s``, the analysis times, to the end of the last forecast; without
  them, over the last ``advance`` call; 0 before the first forecast), accumulated per coupling
  step (:attr:`models.coupled.CoupledModel.flux_sums`), and ``leaf_area_index`` [m2 m-2] per
  column, leaf biomass times specific leaf area (:attr:`models.land.column.LandColumns.lai`).
  Only water content is ever written back (per :attr:`update`); the other derived fields are
  ignored by ``set_state``;
- **what the analysis updates**, as TSMP-PDAF's ``updateflag``: ``"pressure_head"`` (the analysed
  head is used), ``"water_content"`` (the analysed water content, clipped to
  ``[theta_r, theta_s]``, is converted back to head by the inverse van Genuchten relation, no
  drier than the drier of the forecast head and the surface's evaporation limit ``h_min``; cells
  saturated in the forecast keep their forecast head) or ``"both"`` (head from water content in
  cells unsaturated in the forecast, the analysed head in saturated ones). Either way, water
  content after the update lies in ``[theta_r, theta_s]`` and no value is NaN;
- **per-member forcing perturbations** (:class:`pdafpy.perturb.ForcingPerturbation`, AR(1) in
  time; the land's variables and their default kinds from :mod:`.forcing_perturbations`) keyed by each run's perturbation key (:meth:`pdafpy.groups.RunGroups.key`), so
  that an open-loop member and the assimilation member with the same key see the same weather
  and the truth has its own draw;
- **state perturbations during the run** (``[perturbations.state]``,
  :mod:`.state_perturbations`): water-content (and LAI) increments every ``interval_h``, added
  to the members and the open loop (keys below ``[ensemble] size``), never to the truth; the
  forecast stops at each application time, writes the increments back as pressure head (and
  leaf biomass) and goes on.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

import numpy as np

from pdafpy.decomposition import Box
from pdafpy.errors import ConfigError, ModelError
from pdafpy.model import FieldSpec, Grid
from pdafpy.perturb import ForcingPerturbation, SpatialStructure

from .forcing_perturbations import DEFAULT_KIND, FORCING_VARIABLES, forcing_variables
from .state_perturbations import (MM_PER_M, StateNoise, head_after_water_content_increment,
                                  leaf_biomass_after_lai_increment, state_section)

__all__ = ["LandDAModel", "UPDATE_MODES", "DERIVED_FIELDS", "FLUX_FIELDS"]

UPDATE_MODES = ("pressure_head", "water_content", "both")
DERIVED_FIELDS = ("water_content", "water_table_depth", "evapotranspiration", "transpiration",
                  "leaf_area_index")
#: The land fluxes averaged over each forecast window [mm d-1] (derived fields).
FLUX_FIELDS = ("evapotranspiration", "transpiration")
SECONDS_PER_DAY = 86400.0  # kg m-2 s-1 of water -> mm d-1
THETA_MARGIN = 1e-6        # keeps analysed water content strictly inside (theta_r, theta_s]


class _PerturbedForcing:
    """A forcing source whose variables are scaled or shifted by one member's perturbation."""

    def __init__(self, base: Any, perturbation: ForcingPerturbation | None, dt_s: float):
        self.base = base
        self.perturbation = perturbation
        self.dt_s = dt_s

    def at(self, t: float) -> dict[str, np.ndarray]:
        values = dict(self.base.at(t))
        if self.perturbation is None:
            return values
        steps = self.perturbation.step(int(round(t / self.dt_s)))
        for v in self.perturbation.variables:
            delta = steps[v.name][0]
            values[v.name] = values[v.name] * delta if v.kind == "multiplicative" \
                else values[v.name] + delta
        return values


class LandDAModel:
    """The coupled model with derived observation fields and per-member forcing perturbations.

    Parameters
    ----------
    coupled : CoupledModel
    update : str
        One of :data:`UPDATE_MODES`.
    forcing_variables : sequence of ForcingVariable
        Perturbed forcing variables (empty: no forcing perturbation), in the order of
        ``forcing_correlation``; names among :data:`~.forcing_perturbations.FORCING_VARIABLES`, a
        ``kind`` of None is the variable's :data:`~.forcing_perturbations.DEFAULT_KIND`.
    forcing_correlation : (k, k) array or None
        Cross-correlation of the forcing perturbations.
    seed : int
        Seed of the forcing perturbations.
    perturbation_keys : sequence of int
        Each run's perturbation key (:meth:`pdafpy.groups.RunGroups.keys`); run ``r`` draws its
        forcing perturbations with key ``perturbation_keys[r]``.
    forcing_spatial : SpatialStructure
        Horizontal structure of the forcing perturbations (default: one value per member for the
        whole grid, as in the studies; ``perturbations.forcing_correlation_length_m`` makes them
        correlated random fields).
    flux_window_starts_s : sequence of float, optional
        Model times [s] at which the window of the mean fluxes (:data:`FLUX_FIELDS`) restarts:
        the start and the analysis times. A forecast continuing where the member's last one
        ended, from no such time, extends its window. None: every ``advance`` is its own
        window.
    state_noise : StateNoise, optional
        State perturbations during the run (``[perturbations.state]``,
        :mod:`.state_perturbations`); None: none.
    """

    def __init__(self, coupled: Any, update: str = "pressure_head",
                 forcing_variables: tuple = (), forcing_correlation: Any = None, seed: int = 0,
                 perturbation_keys: Any = (0,), forcing_spatial: SpatialStructure = SpatialStructure(),
                 flux_window_starts_s: Any = None, state_noise: StateNoise | None = None):
        if update not in UPDATE_MODES:
            raise ConfigError(f"update.variable = {update!r}: expected one of {UPDATE_MODES}")
        self.coupled = coupled
        self.update = update
        self.forcing_variables = tuple(forcing_variables)
        self.forcing_correlation = forcing_correlation
        self.seed = seed
        self.perturbation_keys = np.asarray(perturbation_keys, dtype=np.int64)
        self.forcing_spatial = forcing_spatial
        self._base_forcing = coupled.forcing
        self._forcing: dict[int, _PerturbedForcing] = {}
        self._forecast_head: dict[int, np.ndarray] = {}
        self._means: dict[str, dict[int, np.ndarray]] = {f: {} for f in FLUX_FIELDS}
        self._sums: dict[int, dict[str, np.ndarray]] = {}   # member -> running sums [kg m-2]
        self._windows: dict[int, tuple[float, float]] = {}   # member -> (start, end) [s]
        self._window_starts = None if flux_window_starts_s is None else np.asarray(
            flux_window_starts_s, dtype=float)
        self._member: int | None = None
        self.state_noise = state_noise
        #: Per perturbed run, the water [mm] the state perturbations added to each column
        #: ``(ny, nx)`` in its last :meth:`advance` (``sum_k dz_k (theta'_k - theta_k)`` over
        #: its applications; the Richards water balance does not book it).
        self.state_noise_water_mm: dict[int, np.ndarray] = {}
        g = coupled.richards.solver.grid
        self._depth = np.asarray(g.depth, dtype=float)
        self._bottom = float(g.interfaces[-1])

    # -- protocol -----------------------------------------------------------------------------
    @property
    def grid(self) -> Grid:
        return self.coupled.grid

    @property
    def box(self) -> Box:
        return self.coupled.box

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        nz = self.coupled.nz
        return tuple(self.coupled.fields) + (
            FieldSpec("water_content", nz, "m3 m-3", "diagnostic"),
            FieldSpec("water_table_depth", 1, "m", "diagnostic"),
            FieldSpec("evapotranspiration", 1, "mm d-1", "diagnostic"),
            FieldSpec("transpiration", 1, "mm d-1", "diagnostic"),
            FieldSpec("leaf_area_index", 1, "m2 m-2", "diagnostic"))

    def _soil(self) -> dict[str, np.ndarray]:
        return self.coupled.richards.solver.disc.soil

    def _retention(self) -> Any:
        return self.coupled.richards.solver.disc.retention_owned

    def water_content(self, head: np.ndarray) -> np.ndarray:
        """Water content [m3 m-3] of the loaded member's soil for pressure head ``head``."""
        return self._retention().evaluate(head, derivatives=False)[0]

    def get_state(self) -> dict[str, np.ndarray]:
        from models.richards.balance import water_table_depth

        state = self.coupled.get_state()
        head = state["pressure_head"]
        state["water_content"] = self.water_content(head)
        wtd = water_table_depth(head, self._depth)
        state["water_table_depth"] = np.where(np.isfinite(wtd), wtd, self._bottom)[None]
        for name in FLUX_FIELDS:
            mean = self._means[name].get(self._member)
            state[name] = (np.zeros(head.shape[1:]) if mean is None else mean)[None]
        state["leaf_area_index"] = self.coupled.land.lai[None]
        return state

    def set_state(self, member: int, state: Mapping[str, np.ndarray]) -> None:
        """Load a member; reconcile analysed head and water content per :attr:`update`."""
        state = dict(state)
        theta_a = state.pop("water_content", None)
        for name in DERIVED_FIELDS[1:]:                 # diagnostics only, never written back
            state.pop(name, None)
        if "leaf_biomass" in state:                     # an analysed store stays a store
            state["leaf_biomass"] = np.maximum(state["leaf_biomass"], 0.0)
        self.coupled.set_state(member, state)          # parameters first: the member's soil
        forecast = self._forecast_head.get(member)
        if theta_a is not None and self.update != "pressure_head" and forecast is not None:
            soil = self._soil()
            theta = np.clip(theta_a, soil["theta_r"] + THETA_MARGIN, soil["theta_s"])
            se = (theta - soil["theta_r"]) / (soil["theta_s"] - soil["theta_r"])
            from_theta = np.minimum(self._retention().head_from_saturation(se), 0.0)
            # no drier than the forecast or the surface's evaporation limit: water content
            # analysed near theta_r would otherwise give heads of -1e9 m, where the solver crawls
            dry_limit = np.minimum(forecast, self.coupled.richards.solver.disc.boundaries[
                "top"].h_min)
            from_theta = np.maximum(from_theta, dry_limit)
            saturated = forecast >= 0.0
            keep = forecast if self.update == "water_content" else state["pressure_head"]
            head = np.where(saturated, keep, from_theta)
            state["pressure_head"] = head
            self.coupled.set_state(member, state)
        finite = np.all(np.isfinite(self.coupled.richards.solver.get_head()))
        if self.coupled.richards.solver.grid.max(0.0 if finite else 1.0):   # on every rank
            raise ModelError(f"member {member}: pressure head has non-finite values after the "
                             "update")
        self._member = member

    def advance(self, t0: float, t1: float) -> None:
        member = self._member
        if member is None:
            raise ModelError("advance called before set_state")
        self.coupled.forcing = self._member_forcing(member)
        start = self._window_start(member, float(t0))
        self.coupled.flux_sums = self._sums[member]
        try:
            self._advance_perturbed(member, float(t0), float(t1))
        except ModelError:
            self._forecast_head.pop(member, None)   # a replacement is not this forecast's update
            self._windows.pop(member, None)
            raise
        finally:
            self.coupled.flux_sums = None
        self._forecast_head[member] = self.coupled.richards.solver.get_head().copy()
        self._windows[member] = (start, float(t1))
        if self.coupled.mean_evapotranspiration is not None:
            for name, total in self._sums[member].items():
                self._means[name][member] = SECONDS_PER_DAY * (total / (float(t1) - start))

    def _advance_perturbed(self, member: int, t0: float, t1: float) -> None:
        """The coupled model from ``t0`` to ``t1``, stopping at each state-perturbation time of
        the run to add its increments (a multiple of the coupling step: the same steps)."""
        noise = self.state_noise
        key = int(self.perturbation_keys[member])
        if noise is None or not noise.perturbs(key):
            self.coupled.advance(t0, t1)
            return
        added = np.zeros((self.box.ny, self.box.nx))
        t = t0
        for k, tk in noise.counters(t0, t1):
            self.coupled.advance(t, tk)
            added += self._add_state_increments(*noise.increments(member, key, k))
            t = tk
        if t < t1:
            self.coupled.advance(t, t1)
        self.state_noise_water_mm[member] = added

    def _add_state_increments(self, theta_inc: np.ndarray, lai_inc: np.ndarray | None
                              ) -> np.ndarray:
        """Write water-content and LAI increments into the loaded member (see
        :mod:`.state_perturbations`); the water added per column [mm]."""
        solver = self.coupled.richards.solver
        soil = self._soil()
        head = solver.get_head()
        theta = self.water_content(head)
        new = head_after_water_content_increment(
            head, theta, theta_inc, soil["theta_r"], soil["theta_s"],
            self._retention().head_from_saturation, solver.disc.boundaries["top"].h_min)
        solver.set_head(new)
        dz = np.asarray(self.coupled.dz, dtype=float)[:, None, None]
        added = MM_PER_M * np.sum(dz * (self.water_content(new) - theta), axis=0)
        if lai_inc is not None:
            land = self.coupled.land
            p = land.params
            land.set_stores({"leaf_biomass": leaf_biomass_after_lai_increment(
                land.leaf_biomass, p.specific_leaf_area, lai_inc, p.lai_max, p.lai_min)})
        return added

    def _window_start(self, member: int, t0: float) -> float:
        """The start [s] of ``member``'s flux window for a forecast from ``t0``: ``t0`` (the
        running sums restarted at zero) unless the member's last forecast ended at ``t0`` and
        ``t0`` is not one of the window starts."""
        tol = 1e-6 * max(1.0, abs(t0))
        start, end = self._windows.get(member, (t0, None))
        if (self._window_starts is None or end is None or abs(end - t0) > tol
                or np.any(np.abs(self._window_starts - t0) <= tol)):
            shape = (self.box.ny, self.box.nx)
            self._sums[member] = {name: np.zeros(shape) for name in FLUX_FIELDS}
            return t0
        return start

    # -- perturbations --------------------------------------------------------------------------
    def restart_forcing(self) -> None:
        """Start every run's forcing perturbations again at their first step: the next forecast
        from model time 0 sees the perturbed weather the first one saw (a spin-up cycling one
        forcing window, :mod:`models.landda.spinup`)."""
        self._forcing.clear()

    def _member_forcing(self, member: int) -> _PerturbedForcing:
        if member not in self._forcing:
            key = int(self.perturbation_keys[member])
            pert = None
            if self.forcing_variables and key is not None:
                g = self.grid
                pert = ForcingPerturbation(
                    self.forcing_variables, seed=self.seed, n_members=int(self.perturbation_keys.max()) + 1,
                    members=[key], box=(self.box.y0, self.box.y1, self.box.x0, self.box.x1),
                    grid_shape=(g.ny, g.nx), dt_s=self.coupled.dt_coupling,
                    correlation=self.forcing_correlation, spatial=self.forcing_spatial,
                    known_variables=FORCING_VARIABLES, default_kinds=DEFAULT_KIND)
            self._forcing[member] = _PerturbedForcing(self._base_forcing, pert,
                                                      self.coupled.dt_coupling)
        return self._forcing[member]

    # -- restart --------------------------------------------------------------------------------
    def checkpoint_state(self) -> dict[str, Any]:
        """Per-member state beyond the state vector that a restart needs, by kind and member:
        the coupled model's (:meth:`CoupledModel.checkpoint_state
        <models.coupled.CoupledModel.checkpoint_state>`), the last forecast head [m] (the
        ``water_content`` and ``both`` updates keep it in saturated cells), the last forecast
        window's mean evapotranspiration and transpiration [mm d-1] and the AR(1)
        forcing- and state-perturbation states. A checkpoint is taken at an analysis time,
        where every flux window restarts, so the running sums are not kept."""
        return {"coupled": self.coupled.checkpoint_state(),
                "forecast_head": dict(self._forecast_head),
                **{name: dict(self._means[name]) for name in FLUX_FIELDS},
                "forcing": {m: f.perturbation.state() for m, f in self._forcing.items()
                            if f.perturbation is not None},
                "state_noise": {} if self.state_noise is None else self.state_noise.state()}

    def restore_checkpoint(self, saved: Mapping[str, Any]) -> None:
        """Inverse of :meth:`checkpoint_state` (members keyed by ``int`` or ``str``)."""
        self.coupled.restore_checkpoint(saved.get("coupled", {}))
        self._forecast_head = {int(m): np.array(h) for m, h in
                               saved.get("forecast_head", {}).items()}
        self._means = {name: {int(m): np.array(e) for m, e in saved.get(name, {}).items()}
                       for name in FLUX_FIELDS}
        for m, state in saved.get("forcing", {}).items():
            pert = self._member_forcing(int(m)).perturbation
            if pert is None:
                raise ModelError(f"member {m}: the checkpoint has a forcing perturbation, this "
                                 "configuration perturbs no forcing")
            pert.restore(state)
        saved_noise = saved.get("state_noise", {})
        if saved_noise and self.state_noise is None:
            raise ModelError("the checkpoint has state perturbations, this configuration "
                             "perturbs no state")
        if saved_noise:
            self.state_noise.restore(saved_noise, {int(m): int(self.perturbation_keys[int(m)])
                                                   for m in saved_noise})

    @classmethod
    def create(cls, comm: Any, config: Mapping[str, Any]) -> "LandDAModel":
        """Build from the coupled model's configuration plus ``update``, ``perturbations``
        (with ``state``, the ``[perturbations.state]`` table, and ``ensemble_size``, below
        which a perturbation key is perturbed), ``seed`` and ``perturbation_keys`` (see
        :func:`models.landda.setup.model_config`)."""
        from models.coupled import CoupledModel

        config = copy.deepcopy(dict(config))
        update = config.pop("update", "pressure_head")
        pert = config.pop("perturbations", {})
        seed = int(config.pop("seed", 0))
        keys = config.pop("perturbation_keys", (0,))
        window_starts = config.pop("flux_window_starts_s", None)
        variables = forcing_variables(pert.get("forcing", {}))
        state = state_section(pert.get("state"))
        if state.active and "ensemble_size" not in pert:
            raise ConfigError("perturbations.ensemble_size: missing; state perturbations need "
                              "the ensemble size (keys below it are perturbed)")
        coupled = CoupledModel.create(comm, config)
        length = pert.get("forcing_correlation_length_m")
        g = coupled.grid
        dx = float(g.x[1] - g.x[0]) if g.x.size > 1 else 1.0
        dy = float(g.y[1] - g.y[0]) if g.y.size > 1 else 1.0
        spatial = SpatialStructure("uniform") if not length else SpatialStructure(
            "correlated", float(length), dx_m=dx, dy_m=dy)
        noise = None
        if state.active:
            b = coupled.box
            noise = StateNoise(state, nz=coupled.nz, seed=seed,
                               ensemble_size=int(pert["ensemble_size"]),
                               box=(b.y0, b.y1, b.x0, b.x1), grid_shape=(g.ny, g.nx),
                               coupling_step_s=coupled.dt_coupling, dx_m=dx, dy_m=dy,
                               sekf=bool(pert.get("sekf", False)))
        return cls(coupled, update, variables, pert.get("forcing_correlation"), seed, keys,
                   spatial, window_starts, noise)

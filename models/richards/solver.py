"""Newton-Krylov solution of the discrete Richards equation with PETSc's SNES.

:class:`RichardsSolver` owns the SNES, the Jacobian matrix and the pressure-head vector of one
model on one group of ranks. Its defaults (Newton with backtracking line search, GMRES with
block-Jacobi/ILU(0), Eisenstat-Walker forcing) are set in PETSc's options database under the
model's prefix (``richards_`` unless configured) only where the user has set nothing, so every
choice can be overridden from the command line, e.g. ``-richards_pc_type hypre``,
``-richards_snes_rtol 1e-10``, ``-richards_snes_monitor``.

A Newton solve whose line search stalls (SNES reason ``DIVERGED_LINE_SEARCH``) or that runs out
of iterations (``DIVERGED_MAX_IT``) with a residual norm at or below ``accept_fnorm`` is
accepted: near saturation the residual's rounding floor can lie above ``snes_atol``, and cutting
the step there only makes the model crawl. The threshold is an option like the others
(``-richards_accept_fnorm``, default ``1e-9``: the residual is in water content per cell, so
this is a negligible mass error); ``0`` turns the acceptance off. The step controller is then
told the iterations it took to reach ``accept_fnorm``, not those spent at the floor after it.

A Newton solve that fails is tried once more, from the same start and with the same step, with
the line search ``retry_linesearch`` (``-richards_retry_linesearch``, default ``basic``: the full
Newton step) before the step is cut. Near a cell at the edge of saturation the full step can
raise the residual norm by orders of magnitude and still converge quadratically, while ``bt``
then shortens every step to a tenth and runs out of iterations. ``none`` cuts the step at once.
Steps that converge at the first attempt are not affected.

Before the line search, each Newton update is corrected cell by cell where the cell's own
linearisation is far off (:mod:`.update_correction`): a cell whose storage overshoots takes the
root of its own row of the Newton system with its storage taken exactly
(``-richards_own_row_correction``, default ``true``); updates near saturation are taken in
``-(alpha |h|)^(n-1)``, in which Mualem's ``kr`` is nearly linear there
(``-richards_near_saturation_step``, default ``true``); and no cell's effective saturation
changes by more than ``desaturation_limit`` (0.2) in one iteration. Without them one cell near
``h = 0`` made the backtracking line search shorten every cell's update to a tenth or less,
iteration after iteration.

The Jacobian's entries are computed in the residual's pass over the cells and used when SNES
asks for the Jacobian at that iterate; the water balance of a step uses the residual SNES
computed last, at the converged state.

A step that fails after the controller's cuts raises :class:`~pdafpy.errors.ModelError` on every
rank of the task (the convergence reason of SNES is collective), naming the time, the step and the
cell with the largest residual.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import numpy as np

from pdafpy.errors import ConfigError, ModelError

from .balance import WaterBalance
from .boundary import BoundaryCondition
from .discretization import Discretization
from .grid import RichardsGrid
from .option_check import parse_bool
from .update_correction import NewtonUpdateCorrection
from .timestepping import StepController

__all__ = ["RichardsSolver", "DEFAULT_OPTIONS", "MODEL_OPTIONS", "LOGICAL_OPTIONS", "SolverStats"]

log = logging.getLogger(__name__)

#: Defaults written under the model's prefix unless the options database already has the key.
DEFAULT_OPTIONS: dict[str, str] = {
    "snes_type": "newtonls",
    "snes_linesearch_type": "bt",
    "snes_rtol": "1e-8",
    "snes_atol": "1e-12",
    "snes_stol": "1e-14",
    "snes_max_it": "25",
    "snes_max_funcs": "10000",
    "snes_ksp_ew": "true",
    "ksp_type": "gmres",
    "ksp_gmres_restart": "60",
    "ksp_max_it": "500",
    "ksp_rtol": "1e-4",
    "pc_type": "bjacobi",
    "sub_pc_type": "ilu",
    # read by the model, not by SNES: residual norm [m3 m-3] below which a stalled line search
    # is accepted, and the line search of the second attempt at a failed step ("none": no retry)
    "accept_fnorm": "1e-9",
    "retry_linesearch": "basic",
    # read by the model: the cell-local corrections of each Newton update (update_correction):
    # the cell's own storage taken exactly, and updates near saturation taken in
    # (alpha |h|)^(n-1); "false" turns each off
    "own_row_correction": "true",
    "near_saturation_step": "true",
}
#: The options of :data:`DEFAULT_OPTIONS` read by the model, not by PETSc.
MODEL_OPTIONS = ("accept_fnorm", "retry_linesearch", "own_row_correction",
                 "near_saturation_step")
#: The options of :data:`MODEL_OPTIONS` that are logical (true/false as PETSc reads them).
LOGICAL_OPTIONS = ("own_row_correction", "near_saturation_step")
#: Line searches ``retry_linesearch`` may name (PETSc's SNESLineSearch types), and ``none``.
RETRY_LINESEARCHES = ("basic", "bt", "l2", "cp", "nleqerr", "none")


@dataclass
class SolverStats:
    """Counters of the work done (cumulative, this rank's view of collective counts)."""

    steps: int = 0
    rejected: int = 0
    stalled_accepted: int = 0
    retried: int = 0
    retry_converged: int = 0
    newton_its: int = 0
    ksp_its: int = 0
    residual_evals: int = 0
    jacobian_evals: int = 0
    time_residual: float = 0.0
    time_jacobian: float = 0.0
    time_solve: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


class RichardsSolver:
    """Backward-Euler steps of the Richards equation on a :class:`RichardsGrid`.

    Parameters
    ----------
    grid : RichardsGrid
    soil : mapping of str to owned-cell arrays
        See :class:`~.discretization.Discretization`.
    model : str
        ``"van_genuchten"`` or ``"gardner"``.
    boundaries : mapping of face name to BoundaryCondition
    kr_averaging : str
        ``"upstream"``, ``"arithmetic"`` or ``"harmonic"``.
    controller : StepController, optional
    prefix : str
        PETSc options prefix of this model.
    options : mapping, optional
        Options (without prefix or dash) applied on top of :data:`DEFAULT_OPTIONS`; the command
        line still wins over both.
    source : (nz, ny_o, nx_o) float ndarray, optional
        Volumetric source [1/s].
    kr_se_high : float, optional
        Regularise van Genuchten ``kr`` above this effective saturation (:mod:`.retention`).
    desaturation_limit : float
        Largest change of a cell's effective saturation in one Newton iteration, up or down
        (:mod:`.update_correction`); ``0`` turns the limit off.
    """

    def __init__(self, grid: RichardsGrid, soil: Mapping[str, np.ndarray], model: str,
                 boundaries: Mapping[str, BoundaryCondition], *,
                 kr_averaging: str = "upstream", controller: StepController | None = None,
                 prefix: str = "richards_", options: Mapping[str, Any] | None = None,
                 source: np.ndarray | None = None, mualem_l: float = 0.5,
                 desaturation_limit: float = 0.2, kr_se_high: float | None = None) -> None:
        from petsc4py import PETSc

        self.grid = grid
        self.disc = Discretization(grid, soil, model, boundaries, kr_averaging, mualem_l,
                                   kr_se_high)
        self.controller = controller or StepController()
        self.prefix = prefix
        self.source = source
        self.stats = SolverStats()
        self.balance = WaterBalance(grid)
        self.t = 0.0
        da = grid.da
        self.h = da.createGlobalVec()
        self._x_loc = da.createLocalVec()
        self._h0 = np.zeros(grid.owned_shape)
        self._theta0 = np.zeros(grid.owned_shape)
        self._dt = 1.0
        self._steady = False
        self._failed = False
        n = grid.n_owned
        d = self.disc
        self.J = PETSc.Mat().createAIJ(size=((n, grid.n_cells), (n, grid.n_cells)),
                                       csr=(d.csr_indptr, d.csr_indices), comm=grid.comm)
        self.J.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, True)
        self.snes = PETSc.SNES().create(grid.comm)
        self.snes.setOptionsPrefix(prefix)
        reasons = PETSc.SNES.ConvergedReason
        self._stalled_reasons = (reasons.DIVERGED_LINE_SEARCH, reasons.DIVERGED_MAX_IT)
        self.snes.setDM(da)
        self._residual_vec = da.createGlobalVec()
        self.snes.setFunction(self._form_function, self._residual_vec)
        self.snes.setJacobian(self._form_jacobian, self.J, self.J)
        self.snes.setConvergenceHistory(reset=True)     # per solve: where |F| reached the floor
        self.correction = NewtonUpdateCorrection(self.disc, grid.owned_shape, desaturation_limit)
        self._jac_diag: np.ndarray | None = None
        self._last_eval: tuple[np.ndarray, Any] | None = None
        self._apply_options(options)

    # ------------------------------------------------------------------ options
    def _apply_options(self, options: Mapping[str, Any] | None) -> None:
        from petsc4py import PETSc

        db = PETSc.Options()
        merged = dict(DEFAULT_OPTIONS)
        for k, v in (options or {}).items():
            merged[k.lstrip("-")] = "true" if v is True else str(v)
        absent = {k: v for k, v in merged.items() if not db.hasName(self.prefix + k)}
        with self._options(absent):
            for name in LOGICAL_OPTIONS:
                text = db.getString(self.prefix + name)
                # a flag without a value is true, as PETSc reads it
                value = True if text in ("", None) else parse_bool(text)
                if value is None:
                    raise ConfigError(f"solver option {self.prefix}{name} = {text!r}: "
                                      f"expected true or false")
                setattr(self.correction, name, value)
            self._set_from_options()
            self.accept_fnorm = db.getReal(self.prefix + "accept_fnorm")
            self.retry_linesearch = db.getString(self.prefix + "retry_linesearch").lower()
            self._linesearch = db.getString(self.prefix + "snes_linesearch_type").lower()
        if not self.accept_fnorm >= 0.0:
            raise ConfigError(f"solver option {self.prefix}accept_fnorm = "
                              f"{self.accept_fnorm!r}: expected a number >= 0")
        if self.retry_linesearch not in RETRY_LINESEARCHES:
            raise ConfigError(f"solver option {self.prefix}retry_linesearch = "
                              f"{self.retry_linesearch!r}: expected one of "
                              f"{', '.join(RETRY_LINESEARCHES)}")

    @contextmanager
    def _options(self, values: Mapping[str, str]) -> Iterator[None]:
        """``values`` (names without the prefix) in PETSc's options database for the duration;
        whatever the database held for those names before is restored afterwards."""
        from petsc4py import PETSc

        db = PETSc.Options()
        before = {}
        for k, v in values.items():
            full = self.prefix + k
            before[full] = db.getString(full) if db.hasName(full) else None
            db.setValue(full, v)
        try:
            yield
        finally:
            for full, old in before.items():
                if old is None:
                    db.delValue(full)
                else:
                    db.setValue(full, old)

    def _set_from_options(self) -> None:
        self.snes.setFromOptions()
        # the DM's own Jacobian would replace ours; we keep ours
        self.snes.setJacobian(self._form_jacobian, self.J, self.J)
        if self.correction.active:
            self.snes.setLineSearchPreCheck(self._precheck)

    def _solve_with_retry(self, dt: float) -> tuple[bool, int]:
        """One Newton solve of a step of ``dt`` [s] from the step's start; if it fails, a second
        from the same start with ``retry_linesearch``. Returns (converged, Newton iterations of
        both)."""
        ok, its, _ = self._solve(dt)
        if ok or self.retry_linesearch in ("none", self._linesearch):
            return ok, its
        self.stats.retried += 1
        self.set_head(self._h0)
        with self._options({"snes_linesearch_type": self.retry_linesearch}):
            self._set_from_options()
        try:
            ok, more, _ = self._solve(dt)
        finally:
            with self._options({"snes_linesearch_type": self._linesearch}):
                self._set_from_options()
        log.debug("richards: step of %.4g s retried with the %s line search: %s", dt,
                  self.retry_linesearch, "converged" if ok else "failed")
        self.stats.retry_converged += int(ok)
        return ok, its + more

    # ------------------------------------------------------------------ state
    def set_head(self, h: np.ndarray) -> None:
        """Set the pressure head [m] of the owned cells, ``(nz, ny_o, nx_o)``."""
        self.h.array[:] = np.ascontiguousarray(h, dtype=float).ravel()

    def get_head(self) -> np.ndarray:
        """The pressure head [m] of the owned cells, ``(nz, ny_o, nx_o)`` (a copy)."""
        return self.h.getArray(readonly=True).reshape(self.grid.owned_shape).copy()

    def theta(self) -> np.ndarray:
        """Water content [m3 m-3] of the owned cells."""
        return self.disc.theta_owned(self.get_head())

    # ------------------------------------------------------------------ PETSc callbacks
    def _ghosted(self, X) -> np.ndarray:
        self.grid.da.globalToLocal(X, self._x_loc)
        return self._x_loc.getArray(readonly=True).reshape(self.grid.ghost_shape)

    def _form_function(self, snes, X, F) -> None:
        """The residual at ``X``, with the Jacobian's entries computed in the same pass and kept
        with ``X`` for :meth:`_form_jacobian`, which SNES calls next at an accepted iterate (the
        joint pass costs about 1.6 residual passes; a separate Jacobian pass costs the same
        again)."""
        t0 = time.perf_counter()
        self._last_eval = None
        try:
            ev = self.disc.evaluate(self._ghosted(X), self._h0, self._theta0, self._dt,
                                    self.source, jacobian=True, steady=self._steady)
            F.array[:] = ev.residual.ravel()
            self._last_eval = (X.getArray(readonly=True).copy(), ev)
        except Exception:                                   # never leave a rank behind
            log.exception("richards residual evaluation failed")
            F.array[:] = np.nan
        self.stats.residual_evals += 1
        self.stats.time_residual += time.perf_counter() - t0

    def _form_jacobian(self, snes, X, J, P) -> None:
        t0 = time.perf_counter()
        ev = None
        try:
            last = self._last_eval
            same = last is not None and np.array_equal(last[0], X.getArray(readonly=True))
            if self.grid.max(0.0 if same else 1.0) == 0.0:  # on every rank: evaluate is collective
                ev = last[1]                                # computed with the residual at X
            else:
                ev = self.disc.evaluate(self._ghosted(X), self._h0, self._theta0, self._dt,
                                        self.source, jacobian=True, steady=self._steady)
            vals = self.disc.jacobian_csr_values(ev.jac_values)
        except Exception:
            log.exception("richards Jacobian evaluation failed")
            vals = np.full(self.disc.perm.size, np.nan)
            ev = None
        self._jac_diag = None if ev is None else ev.jac_values[:, 0].copy()
        P.setValuesCSR(self.disc.csr_indptr, self.disc.csr_indices, vals)
        P.assemble()
        if J != P:
            J.assemble()
        self.stats.jacobian_evals += 1
        self.stats.time_jacobian += time.perf_counter() - t0

    def _precheck(self, X, Y) -> bool:
        """Correct the Newton update cell by cell before the line search
        (:class:`~.update_correction.NewtonUpdateCorrection`)."""
        try:
            return self.correction.apply(X.getArray(readonly=True), Y.getArray(), self._jac_diag,
                                         self._h0, self._steady)
        except Exception:                                   # pragma: no cover
            log.exception("richards precheck failed")
            return False

    # ------------------------------------------------------------------ one step
    def evaluate(self, jacobian: bool = False):
        """The discrete equations at the current head for the last step set up (diagnostics)."""
        self.grid.da.globalToLocal(self.h, self._x_loc)
        hg = self._x_loc.getArray(readonly=True).reshape(self.grid.ghost_shape)
        return self.disc.evaluate(hg, self._h0, self._theta0, self._dt, self.source,
                                  jacobian=jacobian, steady=self._steady)

    def _solve(self, dt: float, steady: bool = False) -> tuple[bool, int, int]:
        """One Newton solve from the current head; returns (converged, newton its, ksp its)."""
        self._dt = dt
        self._steady = steady
        t0 = time.perf_counter()
        r_before, j_before = self.stats.time_residual, self.stats.time_jacobian
        self.snes.solve(None, self.h)
        elapsed = time.perf_counter() - t0
        self.stats.time_solve += elapsed - (self.stats.time_residual - r_before) \
            - (self.stats.time_jacobian - j_before)
        reason = self.snes.getConvergedReason()
        its = self.snes.getIterationNumber()
        lits = self.snes.getLinearSolveIterations()
        self.stats.newton_its += its
        self.stats.ksp_its += lits
        ok = reason > 0
        if not ok and reason in self._stalled_reasons \
                and self.snes.getFunctionNorm() <= self.accept_fnorm:
            log.debug("richards: Newton stalled (reason %d) at |F| = %.3g <= accept_fnorm; "
                      "accepted", reason, self.snes.getFunctionNorm())
            self.stats.stalled_accepted += 1
            ok = True
            its = self._iterations_to_floor(its)
        if ok:
            # a NaN that slipped through the norms (it should not) is a failure on all ranks
            ok = self.grid.max(0.0 if np.all(np.isfinite(self.h.getArray(readonly=True)))
                               else 1.0) == 0.0
        return ok, its, lits

    def _iterations_to_floor(self, its: int) -> int:
        """The Newton iterations a solve accepted at the rounding floor took to reach
        ``accept_fnorm`` (``its`` if the history does not say). The iterations spent there after
        it say nothing about the step's size: counted, they shrank every step by the controller's
        ``shrink`` until a quiet saturated column crawled at ``dt_min``."""
        norms, _ = self.snes.getConvergenceHistory()
        below = np.flatnonzero(np.asarray(norms) <= self.accept_fnorm)
        return int(below[0]) if below.size else its

    def step(self, dt: float) -> tuple[bool, int, float]:
        """Try one backward-Euler step of ``dt`` [s] from the current state.

        On success the head holds the new state and the water balance is updated; on failure
        the head is restored. Returns ``(converged, newton iterations, max |dh| [m])``, the largest
        head change as the controller counts it (:meth:`StepController.head_change`).
        """
        h0 = self.get_head()
        self._h0 = h0
        self._theta0 = self.disc.theta_owned(h0)
        self._last_eval = None
        ok, its = self._solve_with_retry(dt)
        if not ok:
            self.worst = self._worst_cell()
            self.set_head(h0)
            return False, its, np.inf
        h1 = self.get_head()
        max_dh = self.grid.max(self.controller.head_change(h0, h1))
        last = self._last_eval
        same = last is not None and np.array_equal(last[0], self.h.getArray(readonly=True))
        if self.grid.max(0.0 if same else 1.0) == 0.0:      # on every rank (evaluate is collective)
            ev = last[1]                  # SNES's last residual was taken at the new state
        else:
            ev = self.evaluate()
        self.balance.record(dt, ev, self.source, self.disc)
        return True, its, max_dh

    def _worst_cell(self) -> tuple[float, tuple[int, int, int]]:
        """Largest |residual| over the task and its global cell (k, j, i) (collective)."""
        try:
            r = np.abs(self.evaluate().residual)
            r = np.where(np.isfinite(r), r, np.inf)
            if r.size:
                idx = np.unravel_index(int(np.argmax(r)), r.shape)
                local = (float(r[idx]), (int(idx[0]), int(idx[1] + self.grid.box.y0),
                                         int(idx[2] + self.grid.box.x0)))
            else:
                local = (-1.0, (-1, -1, -1))
        except Exception:                                    # pragma: no cover
            local = (np.inf, (-1, -1, -1))
        allv = self.grid.mpi_comm.allgather(local)
        return max(allv, key=lambda p: p[0])

    # ------------------------------------------------------------------ time loop
    def advance(self, t0: float, t1: float) -> None:
        """Advance from ``t0`` to exactly ``t1`` [s] with adaptive steps.

        Raises
        ------
        ModelError
            On all ranks, if a step fails after the controller's cuts or falls below ``dt_min``.
        """
        ctl = self.controller
        t = float(t0)
        t1 = float(t1)
        while t < t1:
            cuts = 0
            while True:
                dt = ctl.propose(t, t1)
                ok, its, max_dh = self.step(dt)
                if ok:
                    break
                self.stats.rejected += 1
                cuts += 1
                at_min = ctl.dt <= ctl.dt_min * (1 + 1e-12)
                if cuts > ctl.max_cuts or at_min:
                    worst_r, (k, j, i) = self.worst
                    raise ModelError(
                        f"richards: time step failed at t={t:.6g} s with dt={dt:.6g} s after "
                        f"{cuts} cuts (SNES reason {self.snes.getConvergedReason()}); "
                        f"largest residual {worst_r:.3g} at cell (k={k}, j={j}, i={i})")
                log.debug("richards: step of %.4g s at t=%.6g failed (its=%d); cutting",
                          dt, t, its)
                ctl.reject()
            ctl.accept(dt, its, max_dh)
            t = t1 if dt == t1 - t else t + dt
            self.stats.steps += 1
        self.t = t1

    def solve_steady(self) -> tuple[bool, int]:
        """Solve the steady problem (no accumulation term) from the current head."""
        self._h0 = self.get_head()
        self._theta0 = self.disc.theta_owned(self._h0)
        ok, its, _ = self._solve(1.0, steady=True)
        return ok, its

    def destroy(self) -> None:
        """Free the PETSc objects."""
        for obj in (self.snes, self.J, self.h, self._x_loc, self._residual_vec):
            obj.destroy()

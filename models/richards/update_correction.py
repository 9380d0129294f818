"""Cell-local corrections of a Newton update before PETSc's line search sees it.

PETSc's update is ``X - lambda Y``. Where one cell's linearisation is far off (a cell crossing
``h = 0``, a cell on the steep part of ``kr`` just below saturation), the ``bt`` line search
shortens every cell's update to a tenth or a hundredth, iteration after iteration, and the model
crawls. The corrections here change only the update of such cells, by terms of second order in
the update, so Newton's quadratic convergence and the converged solution are unchanged; they need
no communication. In the order applied:

1. Own-row correction (option ``own_row_correction``): a cell whose storage is strongly curved
   over its update (a saturated cell crossing ``h = 0``, where the linearisation sees only
   ``Ss``; a near-saturated cell drying) takes the update that solves its own row of the Newton
   system with its storage taken exactly (:meth:`NewtonUpdateCorrection.own_row`).
2. Near-saturation step (option ``near_saturation_step``): the update of a van Genuchten cell
   with ``n < 2`` within ``1/alpha`` below saturation, or leaving saturation, is taken in
   ``z = -(alpha |h|)^(n-1)`` (``alpha h`` above ``h = 0``), in which Mualem's ``kr`` is nearly
   linear there while its slope in ``h`` is unbounded
   (:meth:`~.retention.Retention.newton_step_near_saturation`). Without it a cell whose solution
   has ``kr`` below 1 but sits within rounding of ``h = 0`` made Newton crawl or cycle across
   ``h = 0``, depending on the rounding (so on the number of ranks).
3. Saturation chop (``desaturation_limit``): no cell's effective saturation changes by more than
   the limit in one iteration. In a saturated cell the only storage is ``Ss h``, so the
   linearisation can send the head metres below zero (where ``kr`` is tiny) and Newton then
   oscillates; a dry cell under rain is sent metres above zero, where the flux to its dry
   neighbour, linearised with the dry ``kr``, is then taken with ``kr = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .discretization import Discretization

__all__ = ["NewtonUpdateCorrection"]


@dataclass
class NewtonUpdateCorrection:
    """The corrections of one solver's Newton updates (see the module docstring).

    Attributes
    ----------
    disc : Discretization
        The solver's discretisation (its owned retention parameters, ``Ss``, ``theta_s``).
    shape : tuple of int
        Owned cells ``(nz, ny_o, nx_o)``.
    desaturation_limit : float
        Largest change of a cell's effective saturation in one iteration; ``0``: no limit.
    own_row_correction, near_saturation_step : bool
        Whether these corrections are applied.
    """

    disc: Discretization
    shape: tuple[int, int, int]
    desaturation_limit: float = 0.2
    own_row_correction: bool = True
    near_saturation_step: bool = True

    @property
    def active(self) -> bool:
        """Whether any correction is on."""
        return self.desaturation_limit > 0 or self.own_row_correction or self.near_saturation_step

    def apply(self, h: np.ndarray, y: np.ndarray, jac_diag: np.ndarray | None, h0: np.ndarray,
              steady: bool) -> bool:
        """Correct the update ``y`` in place; returns whether any cell's update changed.

        Parameters
        ----------
        h, y : (n_owned,) float ndarray
            Current iterate [m] and PETSc's update ``Y`` [m].
        jac_diag : (n_owned,) float ndarray or None
            The Jacobian's diagonal at ``h`` [m3 m-3 / m]; None: not known (no own-row
            correction).
        h0 : (nz, ny_o, nx_o) float ndarray
            Head at the start of the step [m].
        steady : bool
            A steady solve (no storage: no own-row correction).
        """
        changed = False
        idx = self.candidates(h, y)
        if self.own_row_correction and not steady and jac_diag is not None \
                and jac_diag.shape == h.shape:
            changed = self.own_row(h, y, idx, jac_diag, h0)
        if self.near_saturation_step:
            cells, updates = self.disc.retention_owned.newton_step_near_saturation(
                h.reshape(self.shape), y.reshape(self.shape))
            if cells.size:
                y[cells] = updates
                changed = True
                idx = self.candidates(h, y)
        if self.desaturation_limit > 0:
            changed = self.saturation_chop(h, y, idx) or changed
        return changed

    @staticmethod
    def candidates(h: np.ndarray, y: np.ndarray, min_relative_update: float = 0.2,
                   min_update: float = 1e-7) -> np.ndarray:
        """Owned cells whose update may be far from linear in water content: unsaturated at an
        end, moving by more than ``min_update`` [m], and crossing ``h = 0`` or moving by more
        than ``min_relative_update`` of ``|h|`` (the scale on which the retention curve bends)."""
        end = h - y
        wet, dry = np.maximum(h, end), np.minimum(h, end)
        ay = np.abs(y)
        return np.flatnonzero((dry < 0.0) & (ay > min_update)
                              & ((wet >= 0.0) | (ay > min_relative_update * -dry)))

    def saturation_chop(self, h: np.ndarray, y: np.ndarray, idx: np.ndarray) -> bool:
        """Limit each cell's change of effective saturation in one Newton iteration to
        ``desaturation_limit`` (as DuMux's Richards Newton solver does); ``y`` is changed in
        place; ``idx`` are the candidate cells (:meth:`candidates`). Returns whether any update
        was changed."""
        if idx.size == 0:
            return False
        shape = self.shape
        ret = self.disc.retention_owned.subset(
            lambda p: np.broadcast_to(p, shape).ravel()[idx])
        p = ret.params
        hc, yc = h[idx], y[idx]
        th = ret.evaluate(np.concatenate([hc, hc - yc]).reshape(2, -1), derivatives=False)[0]
        se = (th - p["theta_r"]) / (p["theta_s"] - p["theta_r"])
        lim = self.desaturation_limit
        change = se[1] - se[0]
        chop = np.abs(change) > lim
        if not np.any(chop):
            return False
        target = se[0] + np.sign(change) * lim
        h_t = ret.head_from_saturation(target)
        y[idx[chop]] = hc[chop] - h_t[chop]
        return True

    def own_row(self, h: np.ndarray, y: np.ndarray, idx: np.ndarray, jac_diag: np.ndarray,
                h0: np.ndarray, iterations: int = 12, tolerance: float = 1e-3) -> bool:
        """Take each candidate cell's own storage exactly in its row of the Newton system.

        Row ``i`` of the Newton system is ``F_i - sum_j J_ij y_j = 0`` (update ``-y``). With the
        neighbours' updates held, cell ``i``'s update ``d`` solves the same row with its own
        storage term ``A_i(h) = theta(h) + Ss S(h) (h - h0)`` [m3 m-3] taken exactly::

            phi(d) = J_ii (d + y_i) + A_i(h_i + d) - A_i(h_i) - A_i'(h_i) d = 0.

        ``phi(0) = J_ii y_i`` and ``phi(-y_i)`` is the linearisation error of ``A_i`` over the
        Newton update. Where they differ in sign the update overshoots the cell's own balance
        (a saturated cell whose update crosses ``h = 0`` while the linear model knows only
        ``Ss``, so that it would lose in one iteration the water of a whole retention-curve
        segment; a near-saturated cell drying on the concave part of the curve) and the root in
        between replaces it: a secant start, then Newton steps safeguarded by bisection.
        Elsewhere the update is kept. The change is of second order in the update, so Newton's
        local quadratic convergence is kept; the converged solution and its tolerance are
        unchanged.

        Parameters
        ----------
        h, y : (n_owned,) float ndarray
            Current iterate [m] and PETSc's update ``Y`` [m] (``y`` is modified in place).
        idx : int ndarray
            Flat indices of the candidate cells (:meth:`candidates`).
        jac_diag : (n_owned,) float ndarray
            The Jacobian's diagonal ``J_ii`` at ``h``.
        h0 : (nz, ny_o, nx_o) float ndarray
            Head at the start of the step [m].
        iterations, tolerance : int, float
            At most ``iterations`` safeguarded Newton iterations on ``phi``; they stop when no
            cell's iterate moves by more than ``tolerance |y_i|``.

        Returns
        -------
        bool
            Whether any update was changed.
        """
        if idx.size == 0:
            return False
        d = self.disc
        shape = self.shape

        def bundle(cells: np.ndarray) -> tuple:
            """The parameters :func:`own` needs of ``cells`` (flat owned indices)."""
            def take(p: np.ndarray) -> np.ndarray:
                return np.broadcast_to(p, shape).ravel()[cells]

            return (d.retention_owned.subset(take), take(d.ss), take(d.theta_s),
                    h0.ravel()[cells])

        def own(hx: np.ndarray, b: tuple) -> tuple[np.ndarray, np.ndarray]:
            """Storage ``A`` [m3 m-3] and ``dA/dh`` [1/m] at heads ``hx`` of bundle ``b``."""
            ret, ss, ts, h0 = b
            th, dth = ret.evaluate(hx, derivatives=True)[:2]
            return (th + ss * (th / ts) * (hx - h0),
                    dth + ss * ((dth / ts) * (hx - h0) + th / ts))

        n = idx.size
        hc, yc, jii = h[idx], y[idx], jac_diag[idx]
        both, dboth = own(np.concatenate([hc, hc - yc]), bundle(np.concatenate([idx, idx])))
        a0, da = both[:n], dboth[:n]
        f_lo = both[n:] - a0 + da * yc                      # phi(-y)
        f_hi = jii * yc                                     # phi(0)
        sel = np.flatnonzero((f_lo * f_hi < 0.0) & (jii > da))
        if sel.size == 0:
            return False
        b = bundle(idx[sel])
        hs, ys, js, a0, da = hc[sel], yc[sel], jii[sel], a0[sel], da[sel]
        lo, hi, f_lo, f_hi = -ys, np.zeros_like(ys), f_lo[sel], f_hi[sel]
        x = (lo * f_hi - hi * f_lo) / (f_hi - f_lo)         # secant start
        for _ in range(iterations):
            fa, dfa = own(hs + x, b)
            fx = js * (x + ys) + fa - a0 - da * x
            dfx = js - da + dfa
            below = fx * f_lo > 0.0                         # the root lies above x
            lo, f_lo = np.where(below, x, lo), np.where(below, fx, f_lo)
            hi, f_hi = np.where(below, hi, x), np.where(below, f_hi, fx)
            with np.errstate(divide="ignore", invalid="ignore"):
                xn = x - fx / dfx
            la, ha = np.minimum(lo, hi), np.maximum(lo, hi)
            xn = np.where(np.isfinite(xn) & (xn > la) & (xn < ha), xn, 0.5 * (la + ha))
            done = np.all(np.abs(xn - x) <= tolerance * np.abs(ys))
            x = xn
            if done:
                break
        y[idx[sel]] = -x
        return True

"""Cell-centred finite volumes for the mixed-form Richards equation: residual and CSR Jacobian.

Per cell ``i`` of volume ``V_i`` and one backward-Euler step ``dt`` from ``h0`` to ``h``::

    R_i = theta(h_i) - theta(h0_i) + Ss_i S(h_i) (h_i - h0_i)
          - dt / V_i * (sum of two-point inflows through the faces of i)  -  dt * q_i

in units of water content [m3 m-3]. The flow from cell ``a`` to a neighbour ``b`` is
``F = T_ab kr_ab (H_a - H_b)`` with the total head ``H = h + elevation``, the transmissibility
``T_ab = A / (d_a / (2 K_a) + d_b / (2 K_b))`` (harmonic mean of intrinsic conductivity, weighted by
the cell sizes ``d`` normal to the face, i.e. thickness-weighted in z) and ``kr_ab`` averaged as
in :mod:`.averaging` (upstream by default). Boundary faces use :mod:`.boundary`. With
:meth:`Discretization.set_lateral_flow` off, the lateral transmissibilities ``T_x``, ``T_y`` are
zero: the columns exchange no water (a stand-alone land model's independent columns), while the
soil's horizontal conductivity, and with it the anisotropy, stays as given.

The residual is written as numpy slices over the ghosted block (the petsc4py bratu demos' style),
and the Jacobian is built as seven diagonals per owned row and handed to PETSc as CSR arrays
(``Mat.setValuesCSR``), without loops over cells. The sparsity pattern and the permutation that
sorts each row's columns are computed once.

Storage change for the water balance is the discrete accumulation term
``sum_i V_i (theta(h_i) - theta(h0_i) + Ss_i S(h_i) (h_i - h0_i))``, so the balance error is
exactly ``sum_i V_i R_i``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from .averaging import check_averaging, face_kr
from .boundary import FACES, BoundaryCondition, Face, NoFlow
from .grid import RichardsGrid
from .retention import SOIL_KEYS, Retention, validate_soil

__all__ = ["Discretization", "Evaluation"]

@dataclass
class Evaluation:
    """What one evaluation of the discrete equations returns (owned cells only).

    Attributes
    ----------
    residual : (nz, ny_o, nx_o) float ndarray
        ``R`` [m3 m-3].
    accumulation : (nz, ny_o, nx_o) float ndarray
        The storage term ``theta(h) - theta(h0) + Ss S(h) (h - h0)`` [m3 m-3].
    boundary : dict of str to float ndarray
        Inflow [m3/s] per boundary cell of each face on this rank.
    jac_values : (n_owned, 7) float ndarray or None
        Jacobian entries of each row in the order diag, west, east, south, north, up, down.
    """

    residual: np.ndarray
    accumulation: np.ndarray
    boundary: dict[str, np.ndarray]
    jac_values: np.ndarray | None = None


class Discretization:
    """The discrete Richards operator on one rank's block.

    Parameters
    ----------
    grid : RichardsGrid
    soil : mapping of str to (nz, ny_o, nx_o) float ndarray
        Owned-cell parameters ``theta_r``, ``theta_s``, ``alpha`` [1/m], ``n``, ``ks_h``,
        ``ks_v`` [m/s], ``ss`` [1/m].
    model : str
        Retention model, ``"van_genuchten"`` or ``"gardner"``.
    boundaries : mapping of face name to BoundaryCondition
        Missing faces are no-flow.
    kr_averaging : str
        ``"upstream"`` (default), ``"arithmetic"`` or ``"harmonic"``.
    mualem_l : float
        Mualem's tortuosity exponent.
    kr_se_high : float or None
        Van Genuchten ``kr`` regularised above this effective saturation
        (:mod:`.retention`); None: off.
    """

    def __init__(self, grid: RichardsGrid, soil: Mapping[str, np.ndarray], model: str,
                 boundaries: Mapping[str, BoundaryCondition], kr_averaging: str = "upstream",
                 mualem_l: float = 0.5, kr_se_high: float | None = None) -> None:
        self.grid = grid
        self.scheme = check_averaging(kr_averaging)
        self.model = model
        self.mualem_l = mualem_l
        self.kr_se_high = kr_se_high
        self.boundaries = {f: boundaries.get(f) or NoFlow() for f in FACES}
        #: Whether neighbouring columns exchange water (see :meth:`set_lateral_flow`).
        self.lateral_flow = True
        self.set_parameters(soil)
        self._build_pattern()

    # ------------------------------------------------------------------ parameters, geometry
    def set_parameters(self, soil: Mapping[str, np.ndarray]) -> None:
        """(Re)load the owned-cell soil parameters; recomputes transmissibilities (collective)."""
        g = self.grid
        owned = {k: np.broadcast_to(np.asarray(soil[k], dtype=float), g.owned_shape).copy()
                 for k in SOIL_KEYS}
        validate_soil(owned, self.model)
        self.soil = owned
        gh = {k: g.ghosted(v) for k, v in owned.items()}
        self.retention = Retention(self.model, gh, self.mualem_l, self.kr_se_high)
        self.retention_owned = Retention(self.model, owned, self.mualem_l, self.kr_se_high)
        sy, sx, dz = g.sy, g.sx, g.dz[:, None, None]
        kx = gh["ks_h"][:, sy, :]
        self.Tx = g.dy * dz / (0.5 * g.dx / kx[..., :-1] + 0.5 * g.dx / kx[..., 1:])
        ky = gh["ks_h"][:, :, sx]
        self.Ty = g.dx * dz / (0.5 * g.dy / ky[:, :-1] + 0.5 * g.dy / ky[:, 1:])
        if not self.lateral_flow:
            self.Tx, self.Ty = np.zeros_like(self.Tx), np.zeros_like(self.Ty)
        kz = owned["ks_v"]
        self.Tz = g.dx * g.dy / (0.5 * dz[:-1] / kz[:-1] + 0.5 * dz[1:] / kz[1:])
        self.ss = owned["ss"]
        self.theta_s = owned["theta_s"]
        self.faces = self._make_faces()

    def set_lateral_flow(self, enabled: bool) -> None:
        """Let neighbouring columns exchange water or not (collective).

        Off, the transmissibility of every interior lateral face is zero, in this and every
        later :meth:`set_parameters`: each column is a 1D problem (the lateral boundary faces
        keep their own conditions). ``ks_h`` stays in :attr:`soil`, so estimated conductivities
        and the ``ks_v / ks_h`` ratio are unaffected.
        """
        self.lateral_flow = bool(enabled)
        self.set_parameters(self.soil)

    def _make_faces(self) -> dict[str, Face]:
        g = self.grid
        b = g.box
        nz, ny_o, nx_o = g.owned_shape
        dz = g.dz[:, None]
        depth = g.depth[:, None]
        ks_h, ks_v = self.soil["ks_h"], self.soil["ks_v"]
        faces: dict[str, Face] = {}

        def add(name, take, area, half, k, delev, depth_, x, y, shape):
            faces[name] = Face(name, take, np.asarray(area, float), np.asarray(half, float),
                               k, np.asarray(delev, float), np.broadcast_to(depth_, shape),
                               np.broadcast_to(x, shape), np.broadcast_to(y, shape),
                               self.retention_owned.subset(
                                   lambda a, t=take: t(np.broadcast_to(a, g.owned_shape))),
                               shape)

        if b.x0 == 0:
            add("west", lambda a: a[:, :, 0], g.dy * dz, 0.5 * g.dx, ks_h[:, :, 0], 0.0, depth,
                0.0, g.y_owned[None, :], (nz, ny_o))
        if b.x1 == g.nx:
            add("east", lambda a: a[:, :, -1], g.dy * dz, 0.5 * g.dx, ks_h[:, :, -1], 0.0, depth,
                g.nx * g.dx, g.y_owned[None, :], (nz, ny_o))
        if b.y0 == 0:
            add("south", lambda a: a[:, 0, :], g.dx * dz, 0.5 * g.dy, ks_h[:, 0, :], 0.0, depth,
                g.x_owned[None, :], 0.0, (nz, nx_o))
        if b.y1 == g.ny:
            add("north", lambda a: a[:, -1, :], g.dx * dz, 0.5 * g.dy, ks_h[:, -1, :], 0.0,
                depth, g.x_owned[None, :], g.ny * g.dy, (nz, nx_o))
        add("top", lambda a: a[0], g.dx * g.dy, 0.5 * g.dz[0], ks_v[0], 0.5 * g.dz[0], 0.0,
            g.x_owned[None, :], g.y_owned[:, None], (ny_o, nx_o))
        add("bottom", lambda a: a[-1], g.dx * g.dy, 0.5 * g.dz[-1], ks_v[-1], -0.5 * g.dz[-1],
            g.total_depth, g.x_owned[None, :], g.y_owned[:, None], (ny_o, nx_o))
        return faces

    def _build_pattern(self) -> None:
        """Column indices of the seven-point rows, their CSR layout and the sorting permutation."""
        g = self.grid
        nz, ny_o, nx_o = g.owned_shape
        sy, sx = g.sy, g.sx
        gi = g.ghost_global_index
        cols = np.full(g.owned_shape + (7,), -1, dtype=np.int64)
        cols[..., 0] = gi[:, sy, sx]
        # lateral neighbours exist where the ghosted block extends past the owned one
        xpad = np.full((nz, ny_o, gi.shape[2] + 2), -1, dtype=np.int64)
        xpad[..., 1:-1] = gi[:, sy, :]
        ox = sx.start
        cols[..., 1] = xpad[..., ox:ox + nx_o]
        cols[..., 2] = xpad[..., ox + 2:ox + nx_o + 2]
        ypad = np.full((nz, gi.shape[1] + 2, nx_o), -1, dtype=np.int64)
        ypad[:, 1:-1] = gi[:, :, sx]
        oy = sy.start
        cols[..., 3] = ypad[:, oy:oy + ny_o]
        cols[..., 4] = ypad[:, oy + 2:oy + ny_o + 2]
        own = gi[:, sy, sx]
        cols[1:, :, :, 5] = own[:-1]
        cols[:-1, :, :, 6] = own[1:]
        cols = cols.reshape(-1, 7)
        valid = cols >= 0
        key = np.where(valid, cols, np.iinfo(np.int64).max)
        order = np.argsort(key, axis=1, kind="stable")
        sorted_cols = np.take_along_axis(cols, order, axis=1)
        sorted_valid = np.take_along_axis(valid, order, axis=1)
        flat = np.arange(cols.shape[0])[:, None] * 7 + order
        self.perm = flat[sorted_valid]
        self.csr_indices = sorted_cols[sorted_valid].astype(np.int32 if
                                                            _petsc_int_bytes() == 4 else np.int64)
        self.csr_indptr = np.concatenate([[0], np.cumsum(sorted_valid.sum(axis=1))]).astype(
            self.csr_indices.dtype)

    def jacobian_csr_values(self, jac_values: np.ndarray) -> np.ndarray:
        """The CSR value array (sorted columns per row) from ``(n_owned, 7)`` diagonals."""
        return jac_values.reshape(-1)[self.perm]

    # ------------------------------------------------------------------ the equations
    def theta_owned(self, h: np.ndarray) -> np.ndarray:
        """Water content [m3 m-3] of owned cells at heads ``h`` (owned shape)."""
        return self.retention_owned.evaluate(h, derivatives=False)[0]

    def evaluate(self, hg: np.ndarray, h0: np.ndarray, theta0: np.ndarray, dt: float,
                 source: np.ndarray | None = None, jacobian: bool = False,
                 steady: bool = False) -> Evaluation:
        """Residual (and optionally the Jacobian diagonals) at the ghosted heads ``hg``.

        Parameters
        ----------
        hg : (nz, gny, gnx) float ndarray
            Pressure head on the ghosted block [m].
        h0, theta0 : (nz, ny_o, nx_o) float ndarray
            Head [m] and water content at the start of the step (owned cells).
        dt : float
            Step length [s].
        source : (nz, ny_o, nx_o) float ndarray or None
            Volumetric source [1/s] (positive adds water).
        jacobian : bool
            Also compute the Jacobian entries.
        steady : bool
            Drop the accumulation term (steady-state problem; ``dt`` scales the fluxes).
        """
        g = self.grid
        sy, sx = g.sy, g.sx
        scheme = self.scheme
        th, dth, kr, dkr = self.retention.evaluate(hg, derivatives=jacobian)
        o = (slice(None), sy, sx)
        h = hg[o]
        nz, ny_o, nx_o = g.owned_shape
        # accumulation
        ts, ss = self.theta_s, self.ss
        th_o = th[o]
        sat = th_o / ts
        dh = h - h0
        acc = th_o - theta0 + ss * sat * dh
        # x faces (owned rows, all ghosted columns), padded with the boundary faces
        gnx = hg.shape[2]
        a, bb = hg[:, sy, :-1], hg[:, sy, 1:]
        dH = a - bb
        kxa, kxb = kr[:, sy, :-1], kr[:, sy, 1:]
        shp = (nz, ny_o, gnx + 1)
        Fx = np.zeros(shp)
        if jacobian:
            krf, dka, dkb = face_kr(kxa, kxb, dkr[:, sy, :-1], dkr[:, sy, 1:], dH, scheme)
            Fx[..., 1:-1] = self.Tx * krf * dH
            dFxa, dFxb = np.zeros(shp), np.zeros(shp)
            dFxa[..., 1:-1] = self.Tx * (krf + dka * dH)
            dFxb[..., 1:-1] = self.Tx * (dkb * dH - krf)
        else:
            Fx[..., 1:-1] = self.Tx * face_kr(kxa, kxb, kxa, kxb, dH, scheme)[0] * dH
        # y faces (owned columns, all ghosted rows)
        gny = hg.shape[1]
        a, bb = hg[:, :-1, sx], hg[:, 1:, sx]
        dH = a - bb
        kya, kyb = kr[:, :-1, sx], kr[:, 1:, sx]
        shp = (nz, gny + 1, nx_o)
        Fy = np.zeros(shp)
        if jacobian:
            krf, dka, dkb = face_kr(kya, kyb, dkr[:, :-1, sx], dkr[:, 1:, sx], dH, scheme)
            Fy[:, 1:-1] = self.Ty * krf * dH
            dFya, dFyb = np.zeros(shp), np.zeros(shp)
            dFya[:, 1:-1] = self.Ty * (krf + dka * dH)
            dFyb[:, 1:-1] = self.Ty * (dkb * dH - krf)
        else:
            Fy[:, 1:-1] = self.Ty * face_kr(kya, kyb, kya, kyb, dH, scheme)[0] * dH
        # z faces, positive downward (a = layer k above, b = layer k+1)
        kro = kr[o]
        dH = h[:-1] - h[1:] + g.gravity_z
        shp = (nz + 1, ny_o, nx_o)
        Fz = np.zeros(shp)
        if jacobian:
            dkro = dkr[o]
            krf, dka, dkb = face_kr(kro[:-1], kro[1:], dkro[:-1], dkro[1:], dH, scheme)
            Fz[1:-1] = self.Tz * krf * dH
            dFza, dFzb = np.zeros(shp), np.zeros(shp)
            dFza[1:-1] = self.Tz * (krf + dka * dH)
            dFzb[1:-1] = self.Tz * (dkb * dH - krf)
        else:
            dkro = None
            Fz[1:-1] = self.Tz * face_kr(kro[:-1], kro[1:], kro[:-1], kro[1:], dH, scheme)[0] * dH
        # boundary faces
        bflux: dict[str, np.ndarray] = {}
        if dkro is None:
            dkro = np.zeros_like(kro)
        for name, face in self.faces.items():
            q, dq = self.boundaries[name].flux(face, face.take(h), face.take(kro),
                                               face.take(dkro), scheme)
            bflux[name] = q
            # pad index: flow in +x, +y, +z(down) direction; the cell is "b" on the low side
            if name == "west":
                Fx[..., 0] = q
                if jacobian:
                    dFxb[..., 0] = dq
            elif name == "east":
                Fx[..., -1] = -q
                if jacobian:
                    dFxa[..., -1] = -dq
            elif name == "south":
                Fy[:, 0] = q
                if jacobian:
                    dFyb[:, 0] = dq
            elif name == "north":
                Fy[:, -1] = -q
                if jacobian:
                    dFya[:, -1] = -dq
            elif name == "top":
                Fz[0] = q
                if jacobian:
                    dFzb[0] = dq
            else:
                Fz[-1] = -q
                if jacobian:
                    dFza[-1] = -dq
        ox, oy = sx.start, sy.start
        xw, xe = slice(ox, ox + nx_o), slice(ox + 1, ox + nx_o + 1)
        ys_, yn = slice(oy, oy + ny_o), slice(oy + 1, oy + ny_o + 1)
        inflow = (Fx[..., xw] - Fx[..., xe]) + (Fy[:, ys_] - Fy[:, yn]) + (Fz[:-1] - Fz[1:])
        c = dt / g.volume
        res = -c * inflow
        if not steady:
            res += acc
        if source is not None:
            res -= dt * source
        ev = Evaluation(res, acc, bflux)
        if jacobian:
            J = np.empty(g.owned_shape + (7,))
            dacc = dth[o] + ss * ((dth[o] / ts) * dh + sat)
            J[..., 0] = -c * ((dFxb[..., xw] - dFxa[..., xe]) + (dFyb[:, ys_] - dFya[:, yn])
                              + (dFzb[:-1] - dFza[1:]))
            if not steady:
                J[..., 0] += dacc
            J[..., 1] = -c * dFxa[..., xw]
            J[..., 2] = c * dFxb[..., xe]
            J[..., 3] = -c * dFya[:, ys_]
            J[..., 4] = c * dFyb[:, yn]
            J[..., 5] = -c * dFza[:-1]
            J[..., 6] = c * dFzb[1:]
            ev.jac_values = J.reshape(-1, 7)
        return ev


def _petsc_int_bytes() -> int:
    from petsc4py import PETSc
    return np.dtype(PETSc.IntType).itemsize

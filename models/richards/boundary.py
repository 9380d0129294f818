"""Boundary conditions on the six faces of the domain.

Faces are named ``west`` (x = 0), ``east`` (x = nx dx), ``south`` (y = 0), ``north``
(y = ny dy), ``top`` (the land surface) and ``bottom``. Each condition returns, for the boundary
cells of the face that a rank owns, the volumetric flow *into the domain* ``q`` [m3/s] and its
derivative with respect to the cell's pressure head [m2/s]; the residual and the water balance
use the same numbers, so the balance closes to solver tolerance.

Values (a flux, a head) may be scalars or arrays shaped like the local face: ``(nz, box.ny)`` for
west/east, ``(nz, box.nx)`` for south/north, ``(box.ny, box.nx)`` for top/bottom. They can be
changed between calls to ``advance`` (e.g. the land model's top flux every coupling step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from pdafpy.errors import ConfigError

from .averaging import face_kr
from .retention import Retention

__all__ = ["Face", "BoundaryCondition", "NoFlow", "Flux", "Head", "FreeDrainage",
           "Atmospheric", "FACES", "SURFACE_KR", "boundary_from_config", "kirchhoff_mean_kr"]

FACES = ("west", "east", "south", "north", "top", "bottom")

#: Relative permeability of the half-cell flux between the top cell and a held surface head:
#: ``kirchhoff`` (the mean of kr(h) over the two heads) or ``averaging`` (the model's
#: ``kr_averaging`` of the two end values, i.e. upstream by default).
SURFACE_KR = ("kirchhoff", "averaging")


def _graded_rule(panels: int = 8, ratio: float = 0.3, points: int = 4
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Composite Gauss-Legendre rule on [0, 1], panels graded geometrically toward 0.

    The panel break points are ``0, ratio^(panels-1), ..., ratio, 1``; each panel has a
    ``points``-point Gauss-Legendre rule. Returns the nodes ``s``, the weights ``w`` (summing to 1)
    and the break points ``b`` after 0 (the weights of the nodes below ``b[k]`` sum to ``b[k]``).
    """
    x, w = np.polynomial.legendre.leggauss(points)
    x, w = 0.5 * (x + 1.0), 0.5 * w
    br = np.concatenate([[0.0], ratio ** np.arange(panels - 1, -1, -1, dtype=float)])
    width = np.diff(br)
    return ((br[:-1, None] + width[:, None] * x).ravel(), (width[:, None] * w).ravel(), br[1:])


#: 8 panels x 4 points, first panel 2.2e-4 of the interval: the mean of van Genuchten kr between
#: -100 m and any wetter head is within about 2e-4 of adaptive quadrature for the Vanderborght
#: sand, loam and clay and the Carsel-Parrish loam (1e-3 where the interval straddles h = 0).
_RULE_S, _RULE_W, _RULE_BREAKS = _graded_rule()


def _kirchhoff_parts(a: np.ndarray, b: np.ndarray):
    """Split ``[min(a, b), max(a, b)]`` at 0 into its saturated part (kr = 1) and the rest.

    Returns the wet end ``u`` of the unsaturated part, its length ``E``, the saturated length
    ``P`` and the derivatives of ``u``, ``E``, ``P`` with respect to ``b``.
    """
    wet = b >= a
    w = np.maximum(a, b)
    d = np.minimum(a, b)
    u = np.minimum(w, 0.0)
    E = u - np.minimum(d, 0.0)
    P = np.maximum(w, 0.0) - np.maximum(d, 0.0)
    neg = (b < 0.0).astype(float)
    pos = (b > 0.0).astype(float)
    du = np.where(wet, neg, 0.0)
    dE = np.where(wet, neg, -neg)
    dP = np.where(wet, pos, -pos)
    return u, E, P, du, dE, dP


def kirchhoff_mean_kr(retention: Retention, a: np.ndarray, b: np.ndarray,
                      derivative: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """The mean of ``kr(h)`` over ``[a, b]`` and its derivative with respect to ``b``.

    ``kbar = 1/(b - a) * int_a^b kr(h) dh`` (``kr(b)`` when ``a == b``): the Kirchhoff-integrated
    relative permeability, with which ``K_s kbar (h_b - h_a) / L`` is the exact steady flux
    between two points at heads ``a`` and ``b`` without gravity. The part of the interval above
    ``h = 0`` (kr = 1) is integrated exactly, the rest with a composite Gauss-Legendre rule graded
    geometrically toward its wet end (32 nodes, :func:`_graded_rule`), where kr is largest and
    varies fastest. ``dkbar/db`` is the exact derivative of this discrete formula.

    Parameters
    ----------
    retention : Retention
        Parameters of shape ``a.shape`` (or broadcastable to it).
    a, b : float ndarrays, same shape
        Heads [m]; ``b`` is the one differentiated (the cell's).
    derivative : bool
        Also return ``dkbar/db`` [1/m].
    """
    u, E, P, du, dE, dP = _kirchhoff_parts(a, b)
    hq = u[..., None] - E[..., None] * _RULE_S
    ret = retention.subset(lambda p: np.asarray(p)[..., None])
    _, _, kq, dkq = ret.evaluate(hq, derivatives=derivative)
    m = kq @ _RULE_W
    D = P + E
    pos = D > 0.0
    Ds = np.where(pos, D, 1.0)
    fP = np.where(pos, P / Ds, 0.0)
    fE = np.where(pos, E / Ds, 1.0)
    kbar = fP + fE * m
    if not derivative:
        return kbar, None
    dm = (dkq * (du[..., None] - dE[..., None] * _RULE_S)) @ _RULE_W
    dkbar = (1.0 - m) * (dP * E - dE * P) / (Ds * Ds) + fE * dm
    return kbar, dkbar


def _kirchhoff_lower_bound(retention: Retention, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A lower bound of :func:`kirchhoff_mean_kr`'s discrete ``kbar`` from 8 kr evaluations.

    kr does not decrease with h, so the nodes wetter than the break point ``x_k`` (weights
    summing to ``b_k``) contribute at least ``b_k kr(x_k)``: ``m >= max_k b_k kr(x_k)``.
    """
    u, E, P, *_ = _kirchhoff_parts(a, b)
    xk = u[..., None] - E[..., None] * _RULE_BREAKS
    ret = retention.subset(lambda p: np.asarray(p)[..., None])
    kk = ret.evaluate(xk, derivatives=False)[2]
    mlb = np.max(kk * _RULE_BREAKS, axis=-1)
    D = P + E
    pos = D > 0.0
    Ds = np.where(pos, D, 1.0)
    return np.where(pos, P / Ds, 0.0) + np.where(pos, E / Ds, 1.0) * mlb


@dataclass
class Face:
    """The boundary cells of one face on this rank, with the geometry a condition needs.

    Attributes
    ----------
    name : str
        One of :data:`FACES`.
    take : callable
        Selects the face cells from an owned-cell array ``(nz, box.ny, box.nx)``.
    area : float ndarray
        Face area per boundary cell [m2], broadcastable to the face shape.
    half : float ndarray
        Distance from the cell centre to the face [m].
    k : float ndarray
        Saturated conductivity normal to the face of the boundary cells [m/s].
    delev : float ndarray
        Elevation of the face point minus that of the cell centre [m] (``+dz/2`` on top).
    depth : float ndarray
        Depth below the surface of the face points [m].
    x, y : float ndarray
        Coordinates of the face points [m].
    retention : Retention
        The retention model with the boundary cells' parameters.
    shape : tuple of int
        Shape of the face arrays.
    """

    name: str
    take: Callable[[np.ndarray], np.ndarray]
    area: np.ndarray
    half: np.ndarray
    k: np.ndarray
    delev: np.ndarray
    depth: np.ndarray
    x: np.ndarray
    y: np.ndarray
    retention: Retention
    shape: tuple[int, ...]

    @property
    def transmissibility(self) -> np.ndarray:
        """``area k / half`` [m2/s]: the conductance between the cell centre and the face."""
        return self.area * self.k / self.half


class BoundaryCondition:
    """Base class: a condition maps the boundary cells' state to inflow and its derivative."""

    kind = "base"

    def flux(self, face: Face, h: np.ndarray, kr: np.ndarray, dkr: np.ndarray,
             scheme: str) -> tuple[np.ndarray, np.ndarray]:
        """Inflow ``q`` [m3/s] into the domain and ``dq/dh`` [m2/s] per boundary cell.

        Parameters
        ----------
        face : Face
        h, kr, dkr : float ndarrays, face shape
            Pressure head [m], relative permeability and its derivative [1/m] of the cells.
        scheme : str
            Relative-permeability averaging (see :mod:`.averaging`).
        """
        raise NotImplementedError

    def _value(self, face: Face, value: Any) -> np.ndarray:
        if callable(value):
            value = value(face.x, face.y, face.depth)
        arr = np.asarray(value, dtype=float)
        try:
            return np.broadcast_to(arr, face.shape)
        except ValueError:
            raise ConfigError(f"richards boundary {face.name}: value of shape {arr.shape} does "
                              f"not match the local face shape {face.shape}") from None


class NoFlow(BoundaryCondition):
    """No flow through the face."""

    kind = "noflow"

    def flux(self, face, h, kr, dkr, scheme):
        z = np.zeros(face.shape)
        return z, z


@dataclass
class Flux(BoundaryCondition):
    """A prescribed flux density ``value`` [m/s], positive into the domain.

    ``value`` is a scalar, an array shaped like the local face (e.g. the land model's top flux per
    column) or a callable ``f(x, y, depth)`` of the face points.
    """

    value: Any = 0.0
    kind = "flux"

    def flux(self, face, h, kr, dkr, scheme):
        q = self._value(face, self.value) * face.area
        return q, np.zeros(face.shape)


def _head_flux(face: Face, hb: np.ndarray, h: np.ndarray, kr: np.ndarray, dkr: np.ndarray,
               scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """Two-point flux from a boundary point held at head ``hb`` into the cell (a = boundary)."""
    _, _, krb, _ = face.retention.evaluate(hb, derivatives=False)
    dH = hb + face.delev - h
    krf, _, dkrf_dh = face_kr(krb, kr, np.zeros(()), dkr, dH, scheme)
    T = face.transmissibility
    return T * krf * dH, T * (dkrf_dh * dH - krf)


def _kirchhoff_head_flux(face: Face, hb: np.ndarray, h: np.ndarray, sel: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """As :func:`_head_flux` with the Kirchhoff mean kr, for the face cells ``sel`` (a mask)."""
    shape = face.shape
    ret = face.retention.subset(lambda p: np.broadcast_to(p, shape)[sel])
    hs, hc = np.broadcast_to(hb, shape)[sel], h[sel]
    kbar, dkbar = kirchhoff_mean_kr(ret, hs, hc)
    dH = hs + np.broadcast_to(face.delev, shape)[sel] - hc
    T = np.broadcast_to(face.transmissibility, shape)[sel]
    return T * kbar * dH, T * (dkbar * dH - kbar)


@dataclass
class Head(BoundaryCondition):
    """A prescribed pressure head at the face [m] (Dirichlet, half a cell from the centre).

    Give either ``value`` (scalar, face-shaped array or callable ``f(x, y, depth)``) or
    ``water_table_depth`` [m below the surface] for the hydrostatic head ``h = depth - d_wt`` of
    each face point.
    """

    value: Any = None
    water_table_depth: float | None = None
    kind = "head"

    def head(self, face: Face) -> np.ndarray:
        """The prescribed head at the face points [m], face shape."""
        if self.water_table_depth is not None:
            return np.broadcast_to(face.depth - float(self.water_table_depth), face.shape)
        if self.value is None:
            raise ConfigError(f"richards boundary {face.name}: a head condition needs value_m "
                              "or water_table_depth_m")
        return self._value(face, self.value)

    def flux(self, face, h, kr, dkr, scheme):
        return _head_flux(face, self.head(face), h, kr, dkr, scheme)


class FreeDrainage(BoundaryCondition):
    """Unit hydraulic gradient at the bottom: outflow ``K_v kr(h)`` [m/s]."""

    kind = "free_drainage"

    def flux(self, face, h, kr, dkr, scheme):
        if face.name != "bottom":
            raise ConfigError(f"richards boundary {face.name}: free_drainage is only for the "
                              "bottom face")
        c = face.area * face.k
        return -c * kr, -c * dkr


@dataclass
class Atmospheric(BoundaryCondition):
    """The land surface: a potential flux that switches to a head limit (ponding, hCritA).

    Rain (``value > 0``) enters at the prescribed rate while the surface can take it; when it
    would need a surface head above ``h_max`` [m] the face is held at ``h_max`` and the excess is
    surface runoff. Evaporation (``value < 0``) proceeds at the prescribed rate until the surface
    head would drop below ``h_min`` [m] (HYDRUS's hCritA); then the face is held at ``h_min``.
    The switch is evaluated at the new time level inside Newton (``q = min(q_pot, q(h_max))`` for
    rain, ``max(q_pot, q(h_min))`` for evaporation), so no step is rejected for it. The top cell
    may reach ``h > 0``.

    Attributes
    ----------
    value : float, face-shaped array or callable
        Potential flux density [m/s], positive into the soil.
    h_max : float
        Largest surface head [m] (0: no ponding depth kept at the surface).
    h_min : float
        Smallest surface head [m] under evaporation.
    surface_kr : str
        Relative permeability of the half-cell flux to a held surface head: ``"kirchhoff"``
        (default; the mean of kr over the surface and cell heads, :func:`kirchhoff_mean_kr`) or
        ``"averaging"`` (the model's ``kr_averaging`` of the two end values; upstream takes the
        wet cell's kr toward a -100 m surface and overestimates evaporation on coarse cells).
    """

    value: Any = 0.0
    h_max: float = 0.0
    h_min: float = -100.0
    surface_kr: str = "kirchhoff"
    kind = "atmospheric"

    def __post_init__(self) -> None:
        if self.surface_kr not in SURFACE_KR:
            raise ConfigError(f"richards boundary top: surface_kr must be one of {SURFACE_KR}, "
                              f"got {self.surface_kr!r}")

    def flux(self, face, h, kr, dkr, scheme):
        if face.name != "top":
            raise ConfigError(f"richards boundary {face.name}: atmospheric is only for the top")
        qpot = np.broadcast_to(self._value(face, self.value) * face.area, face.shape)
        if self.surface_kr == "kirchhoff":
            return self._flux_kirchhoff(face, h, qpot)
        shape = face.shape
        q_wet, dq_wet = _head_flux(face, np.full(shape, self.h_max), h, kr, dkr, scheme)
        q_dry, dq_dry = _head_flux(face, np.full(shape, self.h_min), h, kr, dkr, scheme)
        rain = qpot >= 0.0
        limited_wet = rain & (q_wet < qpot)
        limited_dry = ~rain & (q_dry > qpot)
        q = np.where(limited_wet, q_wet, np.where(limited_dry, q_dry, qpot))
        dq = np.where(limited_wet, dq_wet, np.where(limited_dry, dq_dry, 0.0))
        return q, dq

    def _flux_kirchhoff(self, face: Face, h: np.ndarray, qpot: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
        """The switch with Kirchhoff-mean head fluxes, evaluated in full only where needed.

        A cell whose lower-bound flux (:func:`_kirchhoff_lower_bound`) toward the limit head
        already exceeds the potential rate in magnitude is not limited, so the result equals that
        of evaluating the limit flux everywhere; the 32-node quadrature runs on the other cells.
        """
        shape = face.shape
        rain = qpot >= 0.0
        hb = np.where(rain, self.h_max, self.h_min)
        dH = hb + np.broadcast_to(face.delev, shape) - h
        T = np.broadcast_to(face.transmissibility, shape)
        # the lower bound decides only where the limit flux has the potential flux's direction
        toward = np.where(rain, dH > 0.0, dH < 0.0)
        need = ~toward
        if np.any(toward):
            lb = _kirchhoff_lower_bound(face.retention.subset(
                lambda p: np.broadcast_to(p, shape)[toward]), hb[toward], h[toward])
            need[toward] = T[toward] * lb * np.abs(dH[toward]) < np.abs(qpot[toward])
        q = np.array(qpot, dtype=float)
        dq = np.zeros(shape)
        if np.any(need):
            qb, dqb = _kirchhoff_head_flux(face, hb, h, need)
            qp = qpot[need]
            lim = np.where(rain[need], qb < qp, qb > qp)
            q[need] = np.where(lim, qb, qp)
            dq[need] = np.where(lim, dqb, 0.0)
        return q, dq

    def actual(self, face: Face, q: np.ndarray) -> dict[str, np.ndarray]:
        """Split the inflow ``q`` [m3/s] into infiltration, evaporation and runoff [m/s]."""
        qpot = self._value(face, self.value)
        qa = q / face.area
        return {"infiltration": np.maximum(qa, 0.0), "evaporation": np.maximum(-qa, 0.0),
                "runoff": np.where(qpot >= 0.0, qpot - qa, 0.0),
                "evaporation_deficit": np.where(qpot < 0.0, qa - qpot, 0.0)}


_KINDS: dict[str, type] = {"noflow": NoFlow, "no_flow": NoFlow, "flux": Flux, "head": Head,
                           "free_drainage": FreeDrainage, "atmospheric": Atmospheric}


def boundary_from_config(face: str, cfg: Mapping[str, Any] | BoundaryCondition | None
                         ) -> BoundaryCondition:
    """A condition from a config table such as ``{type = "head", water_table_depth_m = 2}``.

    Keys: ``type`` (``noflow``, ``flux``, ``head``, ``free_drainage``, ``atmospheric``),
    ``flux_m_per_s``, ``value_m``, ``water_table_depth_m``, ``h_max_m``, ``h_min_m``,
    ``surface_kr`` (atmospheric: ``kirchhoff`` or ``averaging``).
    """
    if cfg is None:
        return NoFlow()
    if isinstance(cfg, BoundaryCondition):
        return cfg
    if face not in FACES:
        raise ConfigError(f"richards boundary: unknown face {face!r}; faces are {FACES}")
    cfg = dict(cfg)
    kind = cfg.pop("type", None)
    if kind not in _KINDS:
        raise ConfigError(f"richards boundary {face}: type must be one of {sorted(_KINDS)}, "
                          f"got {kind!r}")
    if kind in ("noflow", "no_flow", "free_drainage"):
        bc: BoundaryCondition = _KINDS[kind]()
    elif kind == "flux":
        bc = Flux(cfg.pop("flux_m_per_s", 0.0))
    elif kind == "head":
        bc = Head(cfg.pop("value_m", None), cfg.pop("water_table_depth_m", None))
        if bc.value is None and bc.water_table_depth is None:
            raise ConfigError(f"richards boundary {face}: head needs value_m or "
                              "water_table_depth_m")
    else:
        bc = Atmospheric(cfg.pop("flux_m_per_s", 0.0), cfg.pop("h_max_m", 0.0),
                         cfg.pop("h_min_m", -100.0), cfg.pop("surface_kr", "kirchhoff"))
    if cfg:
        raise ConfigError(f"richards boundary {face}: unknown keys {sorted(cfg)}")
    if face != "bottom" and isinstance(bc, FreeDrainage):
        raise ConfigError(f"richards boundary {face}: free_drainage is only for the bottom face")
    if face != "top" and isinstance(bc, Atmospheric):
        raise ConfigError(f"richards boundary {face}: atmospheric is only for the top face")
    return bc

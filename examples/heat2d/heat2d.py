"""A heated plate: 2D advection-diffusion of temperature, a model for pdafpy outside ``models/``.

The temperature ``T`` [K] of a thin plate on a doubly periodic ``ny`` x ``nx`` grid of spacing
``dx_m`` is carried by a uniform wind ``(u, v)`` [m s-1], diffuses with diffusivity ``kappa``
[m2 s-1] and relaxes, with time scale ``tau`` [s], towards the ambient temperature plus the
*heating* ``H(x, y)`` [K]: the excess temperature the heat source would sustain on its own::

    dT/dt = -u dT/dx - v dT/dy + kappa (d2T/dx2 + d2T/dy2) + (T_ambient + H - T) / tau

Time stepping is forward Euler with first-order upwind advection and the five-point Laplacian,
vectorised over cells and members; each window is cut into equal steps of at most ``dt_s``
(stable: :meth:`Heat2DSection.check`). The rows are split over the ranks of a model task (PETSc's
rule, :func:`pdafpy.decomposition.block_boxes`) and one halo row is exchanged with each
neighbour per step, so a task may have any number of ranks up to ``ny``.

What is uncertain, and what assimilation must correct: each run (perturbation key ``k``) starts
from its own smooth random temperature anomaly and is heated by its own smooth random heating
anomaly (:meth:`Heat2D.initial_member`). The heating is a per-member *parameter* field: it stays
in the state vector, so the analysis updates it through its ensemble correlation with the
observed temperature. Random fields come from :func:`pdafpy.perturb.standard_field` (counter-based
draws keyed by seed and key at global grid positions): the same on every rank layout.

Use it from a configuration in this folder with ``model = "heat2d:Heat2D"`` (see
``docs/your-model.md``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from pdafpy.config import option, parse_section
from pdafpy.decomposition import Box, block_boxes
from pdafpy.errors import ConfigError
from pdafpy.model import FieldSpec, Grid
from pdafpy.perturb import SpatialStructure, standard_field

__all__ = ["Heat2D", "Heat2DSection"]

TEMPERATURE, HEATING = "temperature", "heating"


#: Range of a key that must be > 0.
POSITIVE = {"minimum": 0.0, "exclusive_minimum": True}


@dataclass(frozen=True)
class Heat2DSection:
    """The heated plate (``[heat2d]``)."""

    ny: int = option(32, "grid rows (y)", minimum=3)
    nx: int = option(32, "grid columns (x)", minimum=3)
    dx_m: float = option(1000.0, "grid spacing in x and y", unit="m", **POSITIVE)
    diffusivity: float = option(50.0, "thermal diffusivity kappa", unit="m2 s-1", minimum=0.0)
    u: float = option(0.05, "wind along x", unit="m s-1")
    v: float = option(0.02, "wind along y", unit="m s-1")
    relaxation_h: float = option(48.0, "time scale tau of the heat exchange with the air",
                                 unit="h", **POSITIVE)
    ambient_k: float = option(288.15, "ambient temperature", unit="K", minimum=0.0)
    heating_k: float = option(4.0, "peak of the known heating, a Gaussian at the centre", unit="K")
    heating_radius_m: float = option(5000.0, "e-folding radius of the known heating", unit="m",
                                     **POSITIVE)
    dt_s: float = option(1800.0, "longest time step (windows are cut into equal steps)",
                         unit="s", **POSITIVE)
    initial_sd_k: float = option(1.0, "spread of each run's initial temperature anomaly",
                                 unit="K", minimum=0.0)
    heating_sd_k: float = option(1.5, "spread of each run's heating anomaly", unit="K",
                                 minimum=0.0)
    correlation_m: float = option(6000.0, "correlation length of both anomalies (Gaussian)",
                                  unit="m", **POSITIVE)

    def check(self, path: str) -> None:
        """Refuse a time step beyond forward Euler's stability limit."""
        rate = (4 * self.diffusivity / self.dx_m ** 2 + (abs(self.u) + abs(self.v)) / self.dx_m
                + 1 / (3600 * self.relaxation_h))
        if self.dt_s * rate > 1:
            raise ConfigError(f"{path}.dt_s = {self.dt_s}: unstable; the explicit scheme needs "
                              f"dt_s <= {1 / rate:.4g} s on this grid")


class Heat2D:
    """The heated plate in pdafpy's Model protocol (see the module notes).

    Parameters
    ----------
    comm : mpi4py.MPI.Comm
        The model task's ranks; each owns a strip of rows.
    section : Heat2DSection
    """

    config_table = "heat2d"
    config_section = Heat2DSection
    #: The model counts time in seconds.
    time_unit_s = 1.0

    def __init__(self, comm: Any, section: Heat2DSection):
        s, rank, size = section, comm.Get_rank(), comm.Get_size()
        self.comm, self.section = comm, s
        self._grid = Grid(s.ny, s.nx, s.dx_m * np.arange(s.nx), s.dx_m * np.arange(s.ny),
                          periodic=(True, True))
        self._box = block_boxes(s.ny, s.nx, size, 1)[rank]
        self._south, self._north = (rank - 1) % size, (rank + 1) % size
        self._state = self._mean_state()

    @classmethod
    def create(cls, comm: Any, config: Mapping[str, Any]) -> "Heat2D":
        """Build on the ranks of ``comm`` (an mpi4py communicator) from the keys of
        :class:`Heat2DSection`; missing ones take their defaults."""
        return cls(comm, parse_section(Heat2DSection, dict(config), cls.config_table))

    def _mean_state(self) -> dict[str, np.ndarray]:
        """The unperturbed state on this rank's box: the known heating and its equilibrium
        without transport, ``T = T_ambient + H``; each ``(1, box.ny, box.nx)`` [K]."""
        s, b = self.section, self._box
        x, y = self._grid.x[b.x0:b.x1], self._grid.y[b.y0:b.y1]
        r2 = (x[None, :] - 0.5 * (s.nx - 1) * s.dx_m) ** 2 \
            + (y[:, None] - 0.5 * (s.ny - 1) * s.dx_m) ** 2
        heating = (s.heating_k * np.exp(-r2 / s.heating_radius_m ** 2))[None]
        return {TEMPERATURE: s.ambient_k + heating, HEATING: heating}

    @classmethod
    def initial_member(cls, state: Mapping[str, np.ndarray], key: int, seed: int, box: Box,
                       config: Heat2DSection) -> dict[str, np.ndarray]:
        """Run ``key``'s initial state: the model's own (``state``, on ``box``) plus smooth
        N(0, sd^2) anomalies of temperature (stream 0) and heating (stream 1) with correlation
        length ``correlation_m``, keyed by (seed, key) at global positions.

        Returns
        -------
        {"temperature", "heating"}: (1, box.ny, box.nx) float ndarrays [K]
        """
        shape = (config.ny, config.nx)
        spatial = SpatialStructure("correlated", config.correlation_m, "gaussian",
                                   config.dx_m, config.dx_m, n_modes=64)
        z = [standard_field(seed, "heat2d_initial", 0, [key], stream, box, shape, spatial)
             for stream in (0, 1)]
        return {TEMPERATURE: state[TEMPERATURE] + config.initial_sd_k * z[0],
                HEATING: state[HEATING] + config.heating_sd_k * z[1]}

    @property
    def grid(self) -> Grid:
        return self._grid

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        return (FieldSpec(TEMPERATURE, 1, "K"), FieldSpec(HEATING, 1, "K", kind="parameter"))

    @property
    def box(self) -> Box:
        return self._box

    def set_state(self, member: int, state: Mapping[str, np.ndarray]) -> None:
        b = self._box
        self._state = {f: np.array(state[f], dtype=float).reshape(1, b.ny, b.nx)
                       for f in (TEMPERATURE, HEATING)}

    def get_state(self) -> dict[str, np.ndarray]:
        return {f: a.copy() for f, a in self._state.items()}

    def advance(self, t0: float, t1: float) -> None:
        """Advance the loaded run from ``t0`` to ``t1`` [s] (collective over the task)."""
        states = {f: a[None] for f, a in self._state.items()}
        self._state = {f: a[0] for f, a in self.advance_members([0], states, t0, t1).items()}

    def advance_members(self, members: Sequence[int], states: Mapping[str, np.ndarray],
                        t0: float, t1: float) -> dict[str, np.ndarray]:
        """Advance ``k = len(members)`` runs at once from ``t0`` to ``t1`` [s] (collective over
        the task): ``states`` and the result hold each field as ``(k, 1, box.ny, box.nx)`` [K].
        The heating stays as it is; the span is cut into equal steps of at most ``dt_s``."""
        shape = (len(members), self._box.ny, self._box.nx)
        temperature = np.asarray(states[TEMPERATURE], dtype=float).reshape(shape)
        heating = np.array(states[HEATING], dtype=float).reshape(shape)
        steps = max(1, math.ceil((t1 - t0) / self.section.dt_s - 1e-9))
        for _ in range(steps):
            temperature = temperature + (t1 - t0) / steps * self._tendency(temperature, heating)
        return {TEMPERATURE: temperature[:, None], HEATING: heating[:, None]}

    def _tendency(self, t: np.ndarray, heating: np.ndarray) -> np.ndarray:
        """``dT/dt`` [K s-1] of temperatures and heatings ``(k, box.ny, box.nx)`` [K]
        (collective: the rows beyond the box come from the neighbouring ranks, periodic in y)."""
        s, h = self.section, self.section.dx_m
        below, above = np.empty_like(t[:, :1]), np.empty_like(t[:, :1])
        self.comm.Sendrecv(np.ascontiguousarray(t[:, -1:]), dest=self._north, recvbuf=below,
                           source=self._south)
        self.comm.Sendrecv(np.ascontiguousarray(t[:, :1]), dest=self._south, recvbuf=above,
                           source=self._north)
        t_n = np.concatenate([t[:, 1:], above], axis=1)             # northern neighbours
        t_s = np.concatenate([below, t[:, :-1]], axis=1)            # southern
        t_e, t_w = np.roll(t, -1, axis=2), np.roll(t, 1, axis=2)    # eastern, western
        laplacian = (t_n + t_s + t_e + t_w - 4 * t) / h ** 2
        ddx = (t - t_w if s.u > 0 else t_e - t) / h                 # upwind differences
        ddy = (t - t_s if s.v > 0 else t_n - t) / h
        return (-s.u * ddx - s.v * ddy + s.diffusivity * laplacian
                + (s.ambient_k + heating - t) / (3600 * s.relaxation_h))

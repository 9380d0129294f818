"""The Lorenz (1996) model: ``dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F`` on a periodic ring.

Integrated with the classical fourth-order Runge-Kutta scheme. :func:`rk4_step` advances any
number of states at once (members in leading axes), which is how the benchmark runs whole
ensembles; :class:`Lorenz96Model` wraps it in pdafpy's Model protocol (one field ``x`` on a
1 x n grid, periodic in x, one rank per task).

Reference: Lorenz, E. N. (1996). Predictability: a problem partly solved. Proc. ECMWF Seminar on
Predictability, 1-18.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from pdafpy.config import option
from pdafpy.decomposition import Box
from pdafpy.errors import ConfigError
from pdafpy.model import FieldSpec, Grid
from pdafpy.random import standard_normal

__all__ = ["tendency", "rk4_step", "Lorenz96Model", "Lorenz96Section"]

FIELD = "x"


def tendency(x: np.ndarray, forcing: float) -> np.ndarray:
    """``dx/dt`` for states ``x`` of shape ``(..., n)``."""
    return (np.roll(x, -1, axis=-1) - np.roll(x, 2, axis=-1)) * np.roll(x, 1, axis=-1) - x + forcing


def rk4_step(x: np.ndarray, dt: float, forcing: float = 8.0) -> np.ndarray:
    """One RK4 step of length ``dt`` for states ``(..., n)``."""
    k1 = tendency(x, forcing)
    k2 = tendency(x + 0.5 * dt * k1, forcing)
    k3 = tendency(x + 0.5 * dt * k2, forcing)
    k4 = tendency(x + dt * k3, forcing)
    return x + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


@dataclass(frozen=True)
class Lorenz96Section:
    """The Lorenz-96 model (``[lorenz96]``)."""

    n: int = option(40, "number of variables on the ring", minimum=4)
    forcing: float = option(8.0, "forcing F")
    dt: float = option(0.05, "Runge-Kutta step", unit="model time units", minimum=0.0,
                       exclusive_minimum=True)
    initial_sd: float = option(0.001 ** 0.5, "standard deviation of each run's initial state "
                               "about x0 = (1, 0, ..., 0) (DAPPER's)", minimum=0.0)


class Lorenz96Model:
    """Lorenz-96 in the Model protocol. Time is in model time units; ``dt`` per RK4 step.

    For ``pdafpy run`` (``model = "lorenz96"``, pdafpy's generic twin) it declares its table
    ``[lorenz96]`` (:class:`Lorenz96Section`), its time unit (Lorenz's: 0.05 units are 6 hours,
    so one unit is 5 days) and each run's initial state.
    """

    config_table = "lorenz96"
    config_section = Lorenz96Section
    #: Seconds per model time unit (Lorenz 1996: 0.2 units ~ 1 day).
    time_unit_s = 5 * 86400.0
    #: The ring is not split over ranks.
    max_ranks_per_task = 1

    def __init__(self, n: int = 40, forcing: float = 8.0, dt: float = 0.05):
        if n < 4:
            raise ConfigError(f"Lorenz-96 needs at least 4 variables, got n={n}")
        if not dt > 0:
            raise ConfigError(f"Lorenz-96 time step dt must be > 0, got {dt}")
        self.n, self.forcing, self.dt = n, forcing, dt
        self._grid = Grid(1, n, np.arange(n, dtype=float), np.zeros(1), periodic=(False, True))
        self._x = np.zeros(n)

    @classmethod
    def create(cls, comm: Any, config: Mapping[str, Any]) -> "Lorenz96Model":
        """Build from ``{"n": 40, "forcing": 8.0, "dt": 0.05}`` (the keys of
        :class:`Lorenz96Section`; ``initial_sd`` is the initial ensemble's); one rank per
        task."""
        if comm is not None and comm.Get_size() > 1:
            raise ConfigError("Lorenz-96 runs on one rank per model task")
        return cls(int(config.get("n", 40)), float(config.get("forcing", 8.0)),
                   float(config.get("dt", 0.05)))

    @classmethod
    def initial_member(cls, state: Mapping[str, np.ndarray], key: int, seed: int, box: Box,
                       config: Lorenz96Section) -> dict[str, np.ndarray]:
        """The initial state of the run with perturbation key ``key``: DAPPER's ``x0`` (1 at
        the first variable, 0 elsewhere) plus ``initial_sd`` times standard-normal numbers keyed
        by (seed, key, variable)."""
        n = state[FIELD].shape[-1]
        x0 = np.eye(n)[0]
        z = standard_normal(seed, "initial_state", 0, key, np.arange(n))
        return {FIELD: (x0 + config.initial_sd * z).reshape(1, 1, n)}

    @property
    def grid(self) -> Grid:
        return self._grid

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        return (FieldSpec(FIELD, 1, "1"),)

    @property
    def box(self) -> Box:
        return Box(0, 1, 0, self.n)

    def set_state(self, member: int, state: Mapping[str, np.ndarray]) -> None:
        self._x = np.array(state[FIELD], dtype=float).reshape(self.n)

    def get_state(self) -> dict[str, np.ndarray]:
        return {FIELD: self._x.reshape(1, 1, self.n).copy()}

    def _steps(self, t0: float, t1: float) -> int:
        steps = (t1 - t0) / self.dt
        if abs(steps - round(steps)) > 1e-9:
            raise ConfigError(f"Lorenz-96: t1 - t0 = {t1 - t0} is not a multiple of dt={self.dt}")
        return int(round(steps))

    def advance(self, t0: float, t1: float) -> None:
        """Integrate from ``t0`` to ``t1`` in whole steps of ``dt`` (the span must be a multiple)."""
        for _ in range(self._steps(t0, t1)):
            self._x = rk4_step(self._x, self.dt, self.forcing)

    def advance_members(self, members: Sequence[int], states: Mapping[str, np.ndarray],
                        t0: float, t1: float) -> dict[str, np.ndarray]:
        """Integrate every member of the task at once (vectorised over members).

        Parameters
        ----------
        members : sequence of int
            The runs (unused: members differ only by their state).
        states : {"x": (k, 1, 1, n) ndarray}
        t0, t1 : float
            The window [model time units].

        Returns
        -------
        {"x": (k, 1, 1, n) ndarray}
        """
        x = np.asarray(states[FIELD], dtype=float).reshape(len(members), self.n)
        for _ in range(self._steps(t0, t1)):
            x = rk4_step(x, self.dt, self.forcing)
        return {FIELD: x.reshape(len(members), 1, 1, self.n)}

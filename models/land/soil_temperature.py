"""Soil temperature: 1D heat conduction in every soil column, implicit in time.

The soil column is the subsurface's layers (thicknesses ``dz`` [m], top down); the temperature
``T`` [K] of layer ``i`` sits at its centre. With ``C`` the volumetric heat capacity
[J m-3 K-1] and ``lam`` the thermal conductivity [W m-1 K-1] of each layer, heat conduction

    C dT/dt = d/dz (lam dT/dz)      (z positive down)

is discretised by finite volumes and backward Euler (unconditionally stable, first order in
time, second order in space on a uniform grid)::

    C_i dz_i (T_i' - T_i) / dt = K_(i-1/2) (T_(i-1)' - T_i') - K_(i+1/2) (T_i' - T_(i+1)')

with the interface conductances ``K_(i+1/2) = 1 / (dz_i / (2 lam_i) + dz_(i+1) / (2 lam_(i+1)))``
[W m-2 K-1]. Boundaries:

- **top**: Dirichlet: the soil surface (z = 0) is at the air temperature of the forcing,
  ``K_(-1/2) = 2 lam_0 / dz_0`` and ``T_(-1)' = T_surface``; or, instead, a prescribed heat flux
  ``G`` [W m-2] into the soil (``G = 0``: insulated, for the energy test);
- **bottom**: zero heat flux, ``K_(nz-1/2) = 0``.

One tridiagonal solve per step (:func:`solve_tridiagonal`, the Thomas algorithm looping over
the levels only, vectorised over all columns). With the flux top the heat content
``H = sum_i C_i dz_i T_i`` [J m-2] changes by exactly ``G dt`` per step (to round-off).

Not represented: latent heat of freezing and thawing, snow insulation, the surface energy
balance (the soil surface takes the air temperature), conductivity that varies with water
content.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from pdafpy.errors import ConfigError

__all__ = ["SoilTemperature", "solve_tridiagonal", "DEFAULT_CONDUCTIVITY",
           "DEFAULT_HEAT_CAPACITY", "DEFAULT_INITIAL", "FREEZING_POINT"]

log = logging.getLogger(__name__)

#: Thermal conductivity of a moist loam [W m-1 K-1].
DEFAULT_CONDUCTIVITY = 1.2
#: Volumetric heat capacity of a moist loam [J m-3 K-1].
DEFAULT_HEAT_CAPACITY = 2.5e6
#: Initial soil temperature when the forcing gives none [K].
DEFAULT_INITIAL = 283.15
#: Freezing point of water [K].
FREEZING_POINT = 273.15


def solve_tridiagonal(lower: np.ndarray, diag: np.ndarray, upper: np.ndarray,
                      rhs: np.ndarray) -> np.ndarray:
    """Solve ``lower_i x_(i-1) + diag_i x_i + upper_i x_(i+1) = rhs_i`` for every column.

    Parameters
    ----------
    lower, diag, upper, rhs : (n, ...) ndarray
        The bands and the right-hand side, level first (``lower[0]`` and ``upper[-1]`` are
        ignored); the trailing axes are columns, solved together.

    Returns
    -------
    (n, ...) ndarray

    Notes
    -----
    The Thomas algorithm without pivoting: meant for diagonally dominant systems such as
    implicit diffusion. It loops over the ``n`` levels, never over columns.
    """
    n = diag.shape[0]
    c = np.empty(np.broadcast_shapes(upper.shape, diag.shape))
    d = np.empty(np.broadcast_shapes(rhs.shape, diag.shape))
    c[0] = upper[0] / diag[0]
    d[0] = rhs[0] / diag[0]
    for i in range(1, n):
        m = diag[i] - lower[i] * c[i - 1]
        c[i] = upper[i] / m
        d[i] = (rhs[i] - lower[i] * d[i - 1]) / m
    for i in range(n - 2, -1, -1):
        d[i] -= c[i] * d[i + 1]
    return d


class SoilTemperature:
    """The soil temperature of a rank's columns and its implicit heat-conduction step.

    Parameters
    ----------
    dz : (nz,) array_like
        Layer thicknesses [m], top down.
    shape : tuple of int
        The columns' shape ``(ny, nx)``.
    conductivity : float or array_like
        Thermal conductivity [W m-1 K-1], broadcastable to ``(nz, ny, nx)``.
    heat_capacity : float or array_like
        Volumetric heat capacity [J m-3 K-1], broadcastable to ``(nz, ny, nx)``.
    initial : float or array_like
        Initial temperature [K], broadcastable to ``(nz, ny, nx)``.

    Attributes
    ----------
    temperature : (nz, ny, nx) ndarray
        Layer-centre temperatures [K].

    Raises
    ------
    ConfigError
        If a thickness, the conductivity, the heat capacity or the initial temperature is not
        finite and positive.
    """

    def __init__(self, dz: Any, shape: tuple[int, ...], conductivity: Any = DEFAULT_CONDUCTIVITY,
                 heat_capacity: Any = DEFAULT_HEAT_CAPACITY, initial: Any = DEFAULT_INITIAL):
        self.dz = np.asarray(dz, dtype=float).reshape(-1)
        full = (self.dz.size,) + tuple(shape)
        checks = {"dz": self.dz, "soil_heat_conductivity_w_per_m_k": conductivity,
                  "soil_heat_capacity_j_per_m3_k": heat_capacity,
                  "soil_temperature_initial_k": initial}
        for name, value in checks.items():
            v = np.asarray(value, dtype=float)
            if not (np.all(np.isfinite(v)) and np.all(v > 0)):
                raise ConfigError(f"soil temperature: {name} must be finite and > 0, got "
                                  f"{value!r}")
        dz3 = self.dz.reshape(-1, *([1] * len(shape)))
        self.conductivity = np.broadcast_to(np.asarray(conductivity, float), full)
        cap = np.broadcast_to(np.asarray(heat_capacity, float), full)
        self.heat_capacity = cap
        #: Heat capacity per unit area of each layer, C_i dz_i [J m-2 K-1].
        self.layer_capacity = cap * dz3
        half = dz3 / (2.0 * self.conductivity)                 # [m2 K W-1]
        #: Conductance of the top half layer, 2 lam_0 / dz_0 [W m-2 K-1], (ny, nx).
        self.top_conductance = 1.0 / half[0]
        #: Conductance between layers i and i + 1 [W m-2 K-1], (nz - 1, ny, nx).
        self.conductance = 1.0 / (half[:-1] + half[1:])
        self.temperature = np.array(np.broadcast_to(np.asarray(initial, float), full))

    @property
    def shape(self) -> tuple[int, ...]:
        """``(nz, ny, nx)``."""
        return self.temperature.shape

    def heat_content(self) -> np.ndarray:
        """``sum_i C_i dz_i T_i`` [J m-2] per column, ``(ny, nx)``."""
        return np.sum(self.layer_capacity * self.temperature, axis=0)

    def set_temperature(self, values: Any) -> None:
        """Set the temperature [K] from values of ``size nz * ny * nx``."""
        self.temperature = np.asarray(values, dtype=float).reshape(self.shape).copy()

    def step(self, dt: float, surface_temperature: Any = None,
             surface_heat_flux: Any = None) -> np.ndarray:
        """Advance by ``dt`` [s] with one backward-Euler step.

        Parameters
        ----------
        dt : float
            Step [s].
        surface_temperature : float or (ny, nx) array_like, optional
            The soil surface's temperature over the step [K] (the forcing's air temperature):
            the Dirichlet top.
        surface_heat_flux : float or (ny, nx) array_like, optional
            Instead, the heat flux into the soil at its surface [W m-2] (0: insulated).

        Returns
        -------
        (nz, ny, nx) ndarray
            The new temperature (also :attr:`temperature`).

        Raises
        ------
        ValueError
            Unless exactly one of ``surface_temperature`` and ``surface_heat_flux`` is given.
        """
        if (surface_temperature is None) == (surface_heat_flux is None):
            raise ValueError("soil temperature: give either surface_temperature or "
                             "surface_heat_flux")
        dt = float(dt)
        k = self.conductance * dt                              # [J m-2 K-1]
        diag = self.layer_capacity.copy()
        diag[:-1] += k
        diag[1:] += k
        lower = np.zeros_like(diag)
        upper = np.zeros_like(diag)
        lower[1:] = -k
        upper[:-1] = -k
        rhs = self.layer_capacity * self.temperature
        if surface_temperature is not None:
            k_top = self.top_conductance * dt
            diag[0] += k_top
            rhs[0] += k_top * np.asarray(surface_temperature, dtype=float)
        else:
            rhs[0] += dt * np.asarray(surface_heat_flux, dtype=float)
        self.temperature = solve_tridiagonal(lower, diag, upper, rhs)
        return self.temperature

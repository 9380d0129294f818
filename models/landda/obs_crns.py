"""Observation type ``crns_soil_moisture``: cosmic-ray neutron sensors (CRNS).

The operator is an iterated vertical weighting of the water-content profile, evaluated member
by member, so it is non-linear in the state. ``weighting`` chooses the depth and weight rule:
``"tsmp"`` (default) is TSMP-PDAF's ``crns_flag = 1`` (after Schroen et al. 2017's conventional
profile), ``"schroen2017"`` the penetration depth D86 and exponential weights of Schroen et al.
(2017) (TSMP-PDAF's ``crns_flag = 2`` form). For each observation and member, with the water
content theta_k of layer k between the depths top_k and bottom_k [m]
(``context.model["interfaces"]``), ``weighting = "tsmp"``:

1. start from the thickness-weighted mean theta_bar over every layer of the column, as
   TSMP-PDAF does (``max_depth_m`` cuts the start's range at a depth instead);
2. repeat: the penetration depth D = 0.058 / (theta_bar + 0.0829) [m, theta in m3 m-3];
   the layer weights W_k = integral over [top_k, min(bottom_k, D)] of (1 - z / D) dz [m]
   (0 for layers below D; the layer holding D is cut at D); theta_new = sum W_k theta_k /
   sum W_k; until |theta_new - theta_bar| / theta_new < ``depth_tolerance`` (default 0.01, as
   TSMP-PDAF's ``da_crns_depth_tol``) or ``max_iterations`` (default 20) weightings;
3. the observation is the last theta_new [m3 m-3].

TSMP-PDAF writes the weight as (1 - z_mid / D) dz / D over the layer cut at D. The exact
integral used here, (b - t) - (b^2 - t^2) / (2 D) with b = min(bottom, D), equals
(1 - z_mid' / D) dz' on the cut layer (z_mid' its centre, dz' its thickness): the two agree,
the factor 1 / D cancelling in the normalisation.

``weighting = "schroen2017"`` iterates the same way from the same start, with two rules
replaced:

- the depth is Schroen et al. (2017)'s penetration depth, as in their Appendix A, with r in metres,
  D86 = (p0 + p1 (p2 + exp(-p3 r)) (p4 + theta_bar) / (p5 + theta_bar)) / rho_b [cm], with
  (p0, ..., p5) = (8.321, 0.14249, 0.96655, 0.01, 20.0, 0.0429), rho_b the dry bulk density
  ``bulk_density_g_cm3`` [g cm-3] (default 1.4) and r the radial distance from the sensor
  ``footprint_distance_m`` [m] (default 75);
- the weight density is exp(-2 z / D86) at every depth z, so
  W_k = integral over [top_k, bottom_k] of exp(-2 z / D86) dz
  = (D86 / 2) (exp(-2 top_k / D86) - exp(-2 bottom_k / D86)) [m], for every layer.

The paper's water content includes lattice water and the water equivalent of organic matter;
the model's theta holds neither, so theta_bar stands in for it. The paper's r is a distance
rescaled for air pressure; r is taken as given (the reference pressure, where they coincide).
An observation weights a single profile, so D86 is evaluated at one radius standing for the
footprint: 75 m by default, inside it, where D86 is 16 to 24 % below its value at the sensor
(r = 0) and the far-field value (large r) 30 to 45 % below (theta from 0.45 to 0.05);
TSMP-PDAF's ``crns_flag = 2`` evaluates 1, 20 and 85 m.

All observations and members iterate together as one array; an entry that has converged is
frozen (its value and depth no longer change), so each ends exactly where an iteration of its
own would, after its own number of weightings.

Horizontally an observation reads the grid column nearest to it (LI: one 500 m cell) or, with
``footprint_radius_m``, the equal-weight mean profile of the columns whose centres lie within
that radius (:class:`models.landda.obs_satellite_soil_moisture.Footprint`), which is then
weighted in depth.

A twin places ``count`` stations in distinct grid columns drawn from the seed (the same draw as
the groundwater wells, :func:`models.landda.obs_groundwater_level.wells`), with station ids
``crns_<k>``, and withholds a fraction ``withheld_fraction`` of them.

For vertical localisation (:meth:`CRNSSoilMoisture.vertical_range`) an observation represents
the depths ``[0, D]``, with D the weighting's own penetration depth (TSMP's D, or D86) at the
observed water content itself, the operator's depth at convergence for a profile that matches the
observation, cut at the column's bottom: e.g. 0.21 m (TSMP) or 0.18 m (D86, defaults) at
0.2 m3 m-3, 0.15 m either way at 0.3 m3 m-3.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

from pdafpy.config import option
from pdafpy.errors import ConfigError
from pdafpy.obs.module import ObservationContext, ObservationModule
from pdafpy.obs.operators import ColumnFunctionOperator
from pdafpy.obs.records import ObservationRecords

from .obs_groundwater_level import station_network
from .obs_satellite_soil_moisture import Footprint, footprint_stencil, model_fact
from .observations import LandObservationSection

__all__ = ["CRNSSection", "CRNSSoilMoisture", "penetration_depth", "penetration_depth_d86",
           "d86", "D_SCALE_M", "D_OFFSET", "SCHROEN2017_P", "WEIGHTINGS"]

#: D = D_SCALE_M / (theta_bar + D_OFFSET) [m] (TSMP-PDAF crns_flag = 1).
D_SCALE_M, D_OFFSET = 0.058, 0.0829
#: p0, ..., p5 of Schroen et al. (2017)'s D86 (their Appendix A; r in m, D86 in cm).
SCHROEN2017_P = (8.321, 0.14249, 0.96655, 0.01, 20.0, 0.0429)
#: Defaults of ``bulk_density_g_cm3`` [g cm-3] and ``footprint_distance_m`` [m].
BULK_DENSITY_G_CM3, FOOTPRINT_DISTANCE_M = 1.4, 75.0
#: The vertical weightings.
WEIGHTINGS = ("tsmp", "schroen2017")
#: The observed field.
FIELD = "water_content"


def _weights(depth: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``integral over [top, min(bottom, D)] of (1 - z / D) dz`` [m] per layer, ``depth``
    ``(..., 1)`` [m], ``top`` and ``bottom`` ``(nz,)`` [m]; 0 for layers below D."""
    b = np.minimum(bottom, depth)
    return np.where(b > top, (b - top) - (b * b - top * top) / (2.0 * depth), 0.0)


def _exponential_weights(depth: np.ndarray, top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    """``integral over [top, bottom] of exp(-2 z / D) dz`` [m] per layer, ``depth`` ``(..., 1)``
    [m], ``top`` and ``bottom`` ``(nz,)`` [m]."""
    return 0.5 * depth * np.exp(-2.0 * top / depth) * -np.expm1(-2.0 * (bottom - top) / depth)


def _tsmp_depth(theta_bar: np.ndarray) -> np.ndarray:
    """TSMP-PDAF's penetration depth D [m] of the mean water content [m3 m-3]."""
    return D_SCALE_M / (theta_bar + D_OFFSET)


def d86(theta: np.ndarray | float,
        bulk_density_g_cm3: np.ndarray | float = BULK_DENSITY_G_CM3,
        distance_m: np.ndarray | float = FOOTPRINT_DISTANCE_M) -> np.ndarray:
    """Schroen et al. (2017)'s penetration depth D86 (their Appendix A).

    Parameters
    ----------
    theta : ndarray or float
        Water content [m3 m-3].
    bulk_density_g_cm3 : ndarray or float
        Dry bulk density of the soil [g cm-3].
    distance_m : ndarray or float
        Radial distance from the sensor [m].

    Returns
    -------
    ndarray
        The depth [m] above which 86 % of the detected neutrons probed the soil, in the
        broadcast shape of the three.
    """
    p0, p1, p2, p3, p4, p5 = SCHROEN2017_P
    theta = np.asarray(theta, dtype=float)
    r = np.asarray(distance_m, dtype=float)
    cm = p0 + p1 * (p2 + np.exp(-p3 * r)) * (p4 + theta) / (p5 + theta)
    return 0.01 * cm / bulk_density_g_cm3


def _iterate(theta_profile: np.ndarray, interfaces: np.ndarray,
             depth_rule: Callable[[np.ndarray], np.ndarray],
             weight_rule: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
             tol: float, max_iter: int, start_depth_m: float | None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The iterated depth weighting of the module notes, with the depth [m] of the mean water
    content given by ``depth_rule`` and the layer weights [m] by ``weight_rule(depth (..., 1),
    top, bottom)``; the parameters and returns of :func:`penetration_depth`."""
    theta = np.asarray(theta_profile, dtype=float)
    interfaces = np.asarray(interfaces, dtype=float)
    top, bottom = interfaces[:-1], interfaces[1:]
    start = bottom[-1] if start_depth_m is None else start_depth_m
    thickness = np.clip(np.minimum(bottom, start) - top, 0.0, None)
    theta_bar = theta @ thickness / thickness.sum()
    depth = np.full(theta_bar.shape, np.nan)
    iterations = np.zeros(theta_bar.shape, dtype=np.int64)
    active = np.ones(theta_bar.shape, dtype=bool)
    for _ in range(max_iter):
        if not active.any():
            break
        new_depth = depth_rule(theta_bar)
        w = weight_rule(new_depth[..., None], top, bottom)
        new = (w * theta).sum(axis=-1) / w.sum(axis=-1)
        converged = np.abs(new - theta_bar) < tol * np.abs(new)
        theta_bar = np.where(active, new, theta_bar)
        depth = np.where(active, new_depth, depth)
        iterations += active
        active &= ~converged
    return theta_bar, depth, iterations


def penetration_depth(theta_profile: np.ndarray, interfaces: np.ndarray, tol: float = 0.01,
                      max_iter: int = 20, start_depth_m: float | None = None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TSMP-PDAF's iterated CRNS depth weighting (see the module notes) of water-content
    profiles.

    Parameters
    ----------
    theta_profile : (..., nz) ndarray
        Water content of each layer [m3 m-3], any leading shape (members, observations).
    interfaces : (nz + 1,) ndarray
        Layer interface depths [m], top down, 0 first.
    tol : float
        Relative change of theta_bar at which an entry has converged.
    max_iter : int
        The most weightings.
    start_depth_m : float, optional
        The depth [m] the starting thickness-weighted mean reaches (default: the whole
        column, as TSMP-PDAF).

    Returns
    -------
    theta_bar : (...) ndarray
        The CRNS water content [m3 m-3].
    depth : (...) ndarray
        The penetration depth D [m] of the weights that gave it.
    iterations : (...) int ndarray
        The weightings each entry took (``max_iter`` where it did not converge).
    """
    return _iterate(theta_profile, interfaces, _tsmp_depth, _weights, tol, max_iter,
                    start_depth_m)


def penetration_depth_d86(theta_profile: np.ndarray, interfaces: np.ndarray,
                          bulk_density_g_cm3: float = BULK_DENSITY_G_CM3,
                          distance_m: float = FOOTPRINT_DISTANCE_M, tol: float = 0.01,
                          max_iter: int = 20, start_depth_m: float | None = None
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Schroen et al. (2017)'s iterated CRNS depth weighting (``weighting = "schroen2017"``,
    see the module notes) of water-content profiles.

    Parameters
    ----------
    theta_profile : (..., nz) ndarray
        Water content of each layer [m3 m-3], any leading shape (members, observations).
    interfaces : (nz + 1,) ndarray
        Layer interface depths [m], top down, 0 first.
    bulk_density_g_cm3 : float
        Dry bulk density of the soil [g cm-3].
    distance_m : float
        Radial distance from the sensor at which D86 is evaluated [m].
    tol, max_iter, start_depth_m
        As :func:`penetration_depth`.

    Returns
    -------
    theta_bar : (...) ndarray
        The CRNS water content [m3 m-3].
    depth : (...) ndarray
        The penetration depth D86 [m] of the weights that gave it.
    iterations : (...) int ndarray
        The weightings each entry took (``max_iter`` where it did not converge).
    """
    rule = partial(d86, bulk_density_g_cm3=bulk_density_g_cm3, distance_m=distance_m)
    return _iterate(theta_profile, interfaces, rule, _exponential_weights, tol, max_iter,
                    start_depth_m)


def crns_operator_function(values: np.ndarray, coeff: np.ndarray, interfaces: np.ndarray,
                           weighting: Callable[[np.ndarray, np.ndarray],
                                               tuple[np.ndarray, np.ndarray, np.ndarray]]
                           ) -> np.ndarray:
    """The CRNS operator on a stencil of ``r`` columns x ``nz`` layers (layers fastest):
    ``values`` ``(n_members, m, r * nz)`` water content, ``coeff`` ``(m, r * nz)`` the columns'
    weights (0 for padding); the weighted mean profile of the columns, depth-weighted by
    ``weighting(profile, interfaces)`` (:func:`penetration_depth` or
    :func:`penetration_depth_d86` with the section's settings). Returns ``(n_members, m)``."""
    nz = interfaces.size - 1
    (k, m), r = values.shape[:2], coeff.shape[1] // nz
    w = coeff.reshape(m, r, nz)
    profile = np.einsum("kmrz,mrz->kmz", values.reshape(k, m, r, nz), w) / w.sum(axis=1)
    return weighting(profile, interfaces)[0]


@dataclass(frozen=True)
class CRNSSection(LandObservationSection):
    """Cosmic-ray neutron sensors (``type = "crns_soil_moisture"``)."""

    type: str = option("crns_soil_moisture", "observation type")
    error: float = option(0.03, "error standard deviation (LI: 0.03)", unit="m3 m-3",
                          minimum=0.0, exclusive_minimum=True)
    count: int = option(12, "number of stations a twin places (LI: 12)", minimum=1)
    depth_tolerance: float = option(0.01, "the iteration of the penetration depth stops when "
                                    "theta_bar changes by less than this fraction "
                                    "(TSMP-PDAF's da_crns_depth_tol)", minimum=0.0,
                                    exclusive_minimum=True)
    max_iterations: int = option(20, "the most weightings of the depth iteration", minimum=1)
    max_depth_m: float | None = option(None, "depth the starting thickness-weighted mean "
                                          "reaches (default: the whole column, as TSMP-PDAF)",
                                          unit="m", minimum=0.0, exclusive_minimum=True)
    footprint_radius_m: float | None = option(None, "average the profiles of the columns "
                                                 "within this radius (default: the nearest "
                                                 "column only)", unit="m", minimum=0.0,
                                                 exclusive_minimum=True)
    weighting: str = option("tsmp", "vertical weighting: TSMP-PDAF's crns_flag = 1, or Schroen "
                            "et al. (2017)'s D86 and exp(-2 z / D86) weights", choices=WEIGHTINGS)
    bulk_density_g_cm3: float | None = option(None, "weighting = 'schroen2017': dry bulk "
                                                 "density in D86 (default 1.4)", unit="g cm-3",
                                                 minimum=0.0, exclusive_minimum=True)
    footprint_distance_m: float | None = option(None, "weighting = 'schroen2017': radial "
                                                   "distance from the sensor at which D86 is "
                                                   "evaluated (default 75)", unit="m",
                                                   minimum=0.0)

    def check(self, path: str) -> None:
        super().check(path)
        if self.weighting == "tsmp":
            for key in ("bulk_density_g_cm3", "footprint_distance_m"):
                if getattr(self, key) is not None:
                    raise ConfigError(f"{path}.{key} = {getattr(self, key)}: only with "
                                      "weighting = 'schroen2017' (weighting = 'tsmp')")

    def depth_rule(self) -> Callable[[np.ndarray], np.ndarray]:
        """``depth(theta)``: the penetration depth [m] of a mean water content [m3 m-3] by this
        section's weighting (TSMP's D, or D86 with its bulk density and distance)."""
        if self.weighting == "tsmp":
            return _tsmp_depth
        return partial(d86, bulk_density_g_cm3=BULK_DENSITY_G_CM3
                       if self.bulk_density_g_cm3 is None else self.bulk_density_g_cm3,
                       distance_m=FOOTPRINT_DISTANCE_M if self.footprint_distance_m is None
                       else self.footprint_distance_m)

    def depth_weighting(self) -> Callable[[np.ndarray, np.ndarray],
                                          tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``weighting(theta_profile, interfaces)``: :func:`penetration_depth` or
        :func:`penetration_depth_d86` with this section's settings."""
        common = {"tol": self.depth_tolerance, "max_iter": self.max_iterations,
                  "start_depth_m": self.max_depth_m}
        if self.weighting == "tsmp":
            return partial(penetration_depth, **common)
        return partial(penetration_depth_d86, bulk_density_g_cm3=BULK_DENSITY_G_CM3
                       if self.bulk_density_g_cm3 is None else self.bulk_density_g_cm3,
                       distance_m=FOOTPRINT_DISTANCE_M if self.footprint_distance_m is None
                       else self.footprint_distance_m, **common)


class CRNSSoilMoisture(ObservationModule):
    """Observation module of ``crns_soil_moisture`` (see the module notes).

    Parameters
    ----------
    section : CRNSSection
    context : ObservationContext
        ``context.model["interfaces"]``: layer interface depths [m], ``(nz + 1,)``.
    index : int

    Raises
    ------
    ConfigError
        If the model gives no layer interfaces.
    """

    name = "crns_soil_moisture"
    units = "m3 m-3"
    #: A volumetric water content is a fraction.
    valid_range = (0.0, 1.0)
    section_class = CRNSSection

    def __init__(self, section: CRNSSection, context: ObservationContext, index: int):
        super().__init__(section, context, index)
        self.interfaces = model_fact(context, "interfaces", index, self.name,
                                     "layer interface depths to weight").astype(float)
        self.footprint = Footprint(context.grid, "nearest" if section.footprint_radius_m is None
                                   else "radius", section.footprint_radius_m)

    def network(self) -> ObservationRecords:
        """The stations, in row order, with station ids ``crns_<k>``; the withheld ones drawn
        with key ``(seed, "withheld_crns_<index>")``."""
        return station_network(self, self.section.count, "crns", f"withheld_crns_{self.index}")

    def vertical_range(self, records: ObservationRecords) -> np.ndarray:
        """``(m, 2)``: ``[0, D]`` [m], D the penetration depth of the observed water content
        (:meth:`CRNSSection.depth_rule`), cut at the column's bottom (see the module notes)."""
        depth = self.section.depth_rule()(np.asarray(records.value, dtype=float))
        depth = np.minimum(depth, float(self.interfaces[-1]))
        return np.column_stack([np.zeros(records.size), depth])

    def operator(self, records: ObservationRecords) -> ColumnFunctionOperator:
        """The iterated depth-weighted water content [m3 m-3] of each observation's column (or
        footprint), per member."""
        s = self.section
        nz = self.interfaces.size - 1
        rows, cols = self.footprint.columns(records.x, records.y)
        level, row, col, coeff = footprint_stencil(rows, cols, np.arange(nz),
                                                   np.ones(nz))
        function = partial(crns_operator_function, interfaces=self.interfaces,
                           weighting=s.depth_weighting())
        return ColumnFunctionOperator(FIELD, level, row, col, coeff, function)

"""One analysis on the filter ranks: observe, exchange the observation halo, analyse.

This is the part of an assimilation cycle between *collect* and *distribute*
(see ../../docs/framework.md): the filter ranks hold the forecast ensemble of their blocks; each
evaluates the operators of the observations it owns; for local filters (``scheme == "local"``)
it receives the neighbours' observations by the halo exchange and finds each column's local
observations; then every filter is called the same way, ``filt.analyse(ens, inputs, cycle,
forget)`` with :class:`~pdafpy.filters.AnalysisInputs`.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from ..decomposition import Box
from ..errors import ConfigError
from ..filters.inputs import AnalysisInputs
from ..halo import HaloStats, LocalSearchCache, exchange_observations, local_observations
from ..inflation import adaptive_forget as adaptive_forget_factor
from ..localize import VerticalLocalization
from ..model import Grid
from ..obs.observe import observe_owned
from ..obs.qc import omit_by_innovation
from ..obs.types import ObservationType
from ..state import StateLayout

__all__ = ["AnalysisReport", "analysis_step", "element_depths"]

log = logging.getLogger(__name__)


@dataclass
class AnalysisReport:
    """What one rank's analysis did.

    Attributes
    ----------
    owned_obs : int
        Observations this rank owns (after the innovation check).
    omitted_obs : (n_types,) int ndarray
        Observations this rank left out by the innovation check (PDAF-OMI's ``inno_omit``).
    local_obs : int
        Observations its local domains use (own and received; local filters only).
    halo : HaloStats
        The observation halo exchange (empty for global filters).
    seconds : dict
        Wall time per phase: ``observe``, ``halo``, ``analyse`` [s].
    forget : float or None
        The forgetting factor given to the filter (None: the filter's own option).
    """

    owned_obs: int = 0
    omitted_obs: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    local_obs: int = 0
    halo: HaloStats = field(default_factory=HaloStats)
    seconds: dict[str, float] = field(default_factory=dict)
    forget: float | None = None


def analysis_step(filt: Any, ens: np.ndarray, layout: StateLayout, grid: Grid,
                  obs_types: Sequence[ObservationType], comm: Any, boxes: Sequence[Box],
                  cycle: int = 0, analysed_fields: Sequence[str] | None = None,
                  forget: float | None = None,
                  analysed_levels: Mapping[str, Sequence[int]] | None = None,
                  adaptive_forget: bool = False,
                  search_cache: LocalSearchCache | None = None,
                  domain_coords: np.ndarray | None = None,
                  vertical: VerticalLocalization | None = None) -> AnalysisReport:
    """Update this filter rank's ensemble in place.

    Parameters
    ----------
    filt : filter object
        From :func:`pdafpy.filters.make_filter` (or a :class:`pdafpy.filters.sekf.SEKF`); its
        ``scheme`` says which observations to prepare.
    ens : (N, n_state) ndarray
        This rank's forecast ensemble, laid out by ``layout``; overwritten by the analysis.
    layout : StateLayout
    grid : Grid
    obs_types : sequence of ObservationType
        Every observation type (full lists; each rank keeps what it owns).
    comm : mpi4py.MPI.Comm
        The filter communicator (collective call).
    boxes : sequence of Box
        Every filter rank's block.
    cycle : int
        Analysis counter, keys random numbers.
    analysed_fields : sequence of str, optional
        Fields a local or covariance-localised filter updates (default: all).
    forget : float, optional
        Forgetting factor of this analysis (default: the filter's option).
    analysed_levels : mapping of str to sequence of int, optional
        For the fields it names, the levels (0 = top) a local or covariance-localised filter
        updates; the others are left as forecast. Several analyses with disjoint level sets and
        their own observation types make a weakly coupled analysis (e.g. surface soil moisture
        updating the unsaturated top metre, wells the layers below), a vertical localisation by
        blocks. Global filters update every element.
    adaptive_forget : bool
        Replace the forgetting factor by PDAF's adaptive one (``type_forget = 1``), computed
        from all filter ranks' observations after the innovation check
        (:func:`pdafpy.inflation.adaptive_forget`); the factor used is in the report.
    search_cache : LocalSearchCache, optional
        The local search of this analysis' previous call, reused while the observations'
        positions, the domains and the localisations are the same (local filters).
    domain_coords : (n_columns, 2) ndarray, optional
        ``grid.column_coords(layout.box)``, when the caller keeps it.
    vertical : VerticalLocalization, optional
        Vertical localisation of a local or covariance-localised filter (see
        :func:`element_depths` for the depth of each analysed element); None: none.

    Raises
    ------
    ConfigError
        ``vertical`` with a global filter, or on a grid without level depths.
    """
    if vertical is not None and filt.scheme == "global":
        raise ConfigError(f"{getattr(filt, 'name', 'filter')}: vertical localisation needs a "
                          "local or covariance-localised filter; a global filter updates every "
                          "element with the same weights")
    report = AnalysisReport()
    t0 = time.perf_counter()
    owned = observe_owned(obs_types, ens, layout, grid, comm, boxes)
    owned, report.omitted_obs = omit_by_innovation(owned, [t.inno_omit for t in obs_types])
    report.owned_obs = owned.size
    if adaptive_forget:
        default = forget if forget is not None else filt.options.forget
        forget = adaptive_forget_factor(owned.hx, owned.value, owned.variance, default, comm)
    report.forget = forget
    t1 = time.perf_counter()
    report.seconds["observe"] = t1 - t0
    locs = [t.localization for t in obs_types]
    columns = filt.scheme != "global"               # global filters update every element
    if columns and domain_coords is None:
        domain_coords = grid.column_coords(layout.box)
    local = None
    if filt.scheme == "local":
        candidates, report.halo = exchange_observations(comm, owned, domain_coords, locs)
        t_halo = time.perf_counter()
        local = local_observations(candidates, domain_coords, locs, report.halo, search_cache)
        report.local_obs = local.obs.size
        report.seconds["halo"] = t_halo - t1
        t1 = t_halo
    state_index = layout.column_indices(analysed_fields, analysed_levels) if columns else None
    depth = None if vertical is None else element_depths(layout, grid, analysed_fields,
                                                         analysed_levels)
    inputs = AnalysisInputs(owned=owned, comm=comm, state_index=state_index,
                            domain_coords=domain_coords if columns else None, local=local,
                            localizations=locs, vertical=vertical, element_depth=depth)
    filt.analyse(ens, inputs, cycle, forget)
    report.seconds["analyse"] = time.perf_counter() - t1
    log.debug("analysis %d: %d owned observations, %d local, halo %d B sent", cycle,
              report.owned_obs, report.local_obs, report.halo.bytes_sent)
    return report


def element_depths(layout: StateLayout, grid: Grid, names: Sequence[str] | None = None,
                   levels: Mapping[str, Sequence[int]] | None = None) -> np.ndarray:
    """Depth of each position of a :meth:`~pdafpy.state.StateLayout.column_indices` row.

    A field with as many levels as ``grid.z`` has entries gets the depth ``grid.z[level]`` of
    each of its levels (layer centres [m, positive down]); any other field (a single-level
    field, a 2D parameter map) gets NaN: not vertically localised.

    Parameters
    ----------
    layout : StateLayout
    grid : Grid
    names, levels
        As :meth:`~pdafpy.state.StateLayout.column_indices` (default: every field, every level).

    Returns
    -------
    (n_local,) float ndarray
        Depth [m] per position of a column's state indices; NaN where none.

    Raises
    ------
    ConfigError
        If ``grid.z`` is None or empty (the model gives no level depths).
    """
    z = None if grid.z is None else np.asarray(grid.z, dtype=float).ravel()
    if z is None or z.size == 0:
        raise ConfigError("vertical localisation needs the depths of the model's levels "
                          "(grid.z); this model's grid has none")
    names = [f.name for f in layout.fields] if names is None else list(names)
    parts = []
    for name in names:
        spec = layout.spec(name)
        level = np.arange(spec.levels, dtype=np.int64)
        if levels is not None and name in levels:
            level = np.asarray(levels[name], dtype=np.int64).reshape(-1)
        parts.append(z[level] if spec.levels == z.size else np.full(level.size, np.nan))
    return np.concatenate(parts) if parts else np.zeros(0)

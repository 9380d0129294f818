"""What one analysis gives a filter: :class:`AnalysisInputs`, the same for every filter.

Every filter is called as ``filt.analyse(ens, inputs, cycle, forget)``. A filter class declares in
its ``scheme`` attribute which observations the caller must prepare in ``inputs``:

- ``"global"``: the observations the rank owns only (``owned``); sums are reduced over ``comm``;
- ``"local"``: the observations after the halo exchange and the local search (``local``);
- ``"gathered"``: the owned observations, which the filter gathers over ``comm`` itself.

:func:`pdafpy.cycle.analysis_step` prepares the inputs for any filter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from ..halo import LocalObservations
from ..localize import Localization, VerticalLocalization
from ..obs.types import ObservationSet

__all__ = ["AnalysisInputs", "SCHEMES"]

#: The values of a filter's ``scheme`` attribute.
SCHEMES = ("global", "local", "gathered")


@dataclass(frozen=True)
class AnalysisInputs:
    """Everything any filter may need for one analysis on one filter rank.

    Attributes
    ----------
    owned : ObservationSet
        The observations this filter rank owns (after quality control), with the observed
        ensemble ``hx`` ``(N, m_owned)`` in observation units.
    comm : mpi4py.MPI.Comm or None
        The filter communicator (collective for global and gathered filters); None: serial.
    state_index : (n_domains, n_local) int ndarray, optional
        State indices (positions in a member's state vector) of each local domain, one domain
        per grid column, e.g. :meth:`pdafpy.state.StateLayout.column_indices`. Needed by local
        and gathered filters; global filters update every element.
    domain_coords : (n_domains, 2) float ndarray, optional
        Coordinates ``(x, y)`` of each local domain, in the units of the observations'
        coordinates (e.g. m, or grid units). Needed by gathered filters.
    local : LocalObservations, optional
        The observations of every local domain after the halo exchange and the local search
        (:func:`pdafpy.halo.local_observations`), with their localisation weights; None when
        the filter needs none (``scheme`` other than ``"local"``).
    localizations : sequence of Localization, optional
        One per observation type, in the order of ``ObservationSet.type_index``. Needed by
        gathered filters (covariance localisation).
    vertical : VerticalLocalization, optional
        Vertical localisation (None: none). Local filters then analyse each column in
        sub-domains of equal element depth (R-localisation); covariance-localised filters
        multiply their taper by the vertical weight. Global filters refuse it.
    element_depth : (n_local,) float ndarray, optional
        Depth [m, positive down] of the state element at each position of a ``state_index``
        row; NaN: not vertically localised (weight 1). Needed with ``vertical``.
    """

    owned: ObservationSet
    comm: Any = None
    state_index: np.ndarray | None = None
    domain_coords: np.ndarray | None = None
    local: LocalObservations | None = None
    localizations: Sequence[Localization] | None = None
    vertical: VerticalLocalization | None = None
    element_depth: np.ndarray | None = None

    def vertical_depths(self, filter_name: str) -> tuple[VerticalLocalization | None,
                                                         np.ndarray | None]:
        """``(vertical, element_depth)``: both None without vertical localisation.

        Raises
        ------
        ConfigError
            ``vertical`` without ``element_depth``, or ``element_depth`` not one depth per
            position of a ``state_index`` row.
        """
        if self.vertical is None:
            return None, None
        (depth,) = self.require(filter_name, "element_depth")
        depth = np.asarray(depth, dtype=float)
        n_local = None if self.state_index is None else self.state_index.shape[1]
        if depth.ndim != 1 or (n_local is not None and depth.size != n_local):
            raise ConfigError(f"{filter_name}: element_depth has shape {depth.shape}, expected "
                              f"({n_local},): one depth per position of a state_index row")
        return self.vertical, depth

    def require(self, filter_name: str, *names: str) -> tuple[Any, ...]:
        """The named fields, in order; :class:`~pdafpy.errors.ConfigError` if one is missing.

        Parameters
        ----------
        filter_name : str
            The filter asking (named in the error).
        *names : str
            Field names, e.g. ``"state_index"``, ``"local"``.
        """
        values = tuple(getattr(self, name) for name in names)
        missing = [name for name, value in zip(names, values) if value is None]
        if missing:
            raise ConfigError(f"{filter_name}: the analysis inputs lack {', '.join(missing)}")
        return values

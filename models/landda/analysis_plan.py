"""The land twin's analysis plan: which observation types update which part of the column.

With ``[[analysis]]`` tables the plan is theirs (:func:`pdafpy.cycle.module_plan`): each module
its types, schedule, state subset, mask and update variable, with the derived variables
recomputed between modules (:mod:`models.landda.analysis_state`). Without them, the observation
types' own keys make the parts (the shorthand below).

Types without an ``update_depth_m`` range update whole columns; types with a range ``[top,
bottom]`` update the layers whose centre lies in it (pressure head, water content and the
estimated parameters), and the water-table depth only if the range reaches the bottom of the
domain. Types with ``update_parameters = false`` leave the parameters alone, those with
``update_soil = false`` the soil state; ``update_land_state`` adds land stores (e.g. an LAI type
updating ``leaf_biomass``, whose LAI is derived from it). The parts are
analysed one after the other in the order their first type is configured, each observing the
ensemble the previous one left (a weakly coupled analysis, as LI's WC_DA experiments; LI's _PAR
runs update Ks with the wells only).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from pdafpy.cycle import AnalysisPart

__all__ = ["ANALYSED", "analysis_plan", "TYPE_UPDATE_KEYS"]

#: The state fields an analysis may update, besides the estimated parameters.
ANALYSED = ("pressure_head", "water_content", "water_table_depth")
#: The observation types' keys of the shorthand plan, refused beside ``[[analysis]]`` tables.
TYPE_UPDATE_KEYS = ("update_depth_m", "update_parameters", "update_soil", "update_land_state")


def analysis_plan(sections: Sequence[Any], interfaces: np.ndarray, due: Sequence[int],
                  field_names: Sequence[str], parameters: Sequence[str] = (),
                  parameter_damping: float = 1.0) -> list[AnalysisPart]:
    """The analyses of one step: the due types grouped by what they update.

    Parameters
    ----------
    sections : sequence of ObservationSection
        Every observation type's configuration (``update_depth_m``, ``update_parameters``).
    interfaces : (nz + 1,) ndarray
        Layer interface depths [m].
    due : sequence of int
        Indices (into ``sections``) of the types due now.
    field_names : sequence of str
        The fields of the state vector.
    parameters : sequence of str
        The estimated parameter fields (``[filter] parameters``).
    parameter_damping : float
        ``[filter] parameter_damping``: the damping of every estimated parameter.

    Returns
    -------
    list of AnalysisPart
        ``types`` are positions in ``due``.
    """
    interfaces = np.asarray(interfaces, dtype=float)
    centres = 0.5 * (interfaces[:-1] + interfaces[1:])
    keys: dict[tuple[float, float, bool], list[int]] = {}
    for position, k in enumerate(due):
        section = sections[k]
        r = section.update_depth_m or (0.0, float(interfaces[-1]))
        soil = getattr(section, "update_soil", True)
        land = tuple(getattr(section, "update_land_state", ()))
        keys.setdefault((float(r[0]), float(r[1]), section.update_parameters, soil, land),
                        []).append(position)
    parts = []
    for (top, bottom, with_parameters, soil, land), positions in keys.items():
        levels = np.flatnonzero((centres >= top) & (centres <= bottom))
        whole = levels.size == centres.size
        reaches_bottom = bottom >= interfaces[-1]
        estimated = tuple(parameters) if with_parameters else ()
        fields = tuple(f for f in (ANALYSED if soil else ()) + estimated if f in field_names
                       and (f != "water_table_depth" or reaches_bottom)) + \
            tuple(f for f in land if f in field_names)
        parts.append(AnalysisPart(tuple(positions), fields,
                                  {} if whole else {f: levels for f in fields
                                                    if f != "water_table_depth"
                                                    and f not in land},
                                  {p: parameter_damping for p in parameters
                                   if p in fields and parameter_damping < 1.0}))
    return parts

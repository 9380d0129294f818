"""Analysis modules: the ``[[analysis]]`` tables turned into the parts of one analysis time.

At each analysis time the cycle asks its hooks for the plan (:meth:`CycleHooks.plan`); an
application with ``[[analysis]]`` tables builds it with :func:`module_plan`: every module whose
clock is due (``interval_h``) and whose observation types are due now becomes one
:class:`~pdafpy.cycle.AnalysisPart`, in the configured order, with

- the positions of its due types among the window's observations;
- its state subset: its ``fields`` (or the application's default), the estimated parameters it
  names whose own clock (``[[parameter]] interval_h``) is due, the levels of layered fields
  inside ``depth_m``;
- its damping per field: the module's ``damping``, else a parameter's ``[[parameter]]
  damping``, else ``[filter] parameter_damping`` for parameters;
- its horizontal radius (``radius_m``, replacing its types' own) and vertical localisation;
- its mask and update variable, which the application interprets
  (:meth:`CycleHooks.analysis_mask`, :meth:`CycleHooks.reconcile`).

The framework's schedule (:class:`pdafpy.schedule.AnalysisSchedule`, every type on its own
clock) decides when types are due; a module's clock only selects among those times.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..analysis_config import AnalysisModuleSection, ParameterSection, select_observations
from ..errors import ConfigError
from ..localize import VerticalLocalization
from .parts import AnalysisPart

__all__ = ["module_plan", "on_clock", "layer_levels"]

SECONDS_PER_HOUR = 3600.0


def on_clock(t: float, interval_h: float | None, time_unit_s: float) -> bool:
    """Whether time ``t`` [model time units since the start] is a multiple of ``interval_h``
    (always, for None), to a millisecond."""
    if interval_h is None:
        return True
    seconds, every = t * time_unit_s, interval_h * SECONDS_PER_HOUR
    k = round(seconds / every)
    return k > 0 and abs(seconds - k * every) < 1e-3


def layer_levels(depth_m: Sequence[float], centres: np.ndarray) -> np.ndarray:
    """Levels (0 = top) whose centre depth [m] lies in ``[top, bottom]``."""
    return np.flatnonzero((centres >= depth_m[0]) & (centres <= depth_m[1]))


def module_plan(modules: Sequence[AnalysisModuleSection], observations: Sequence[Any],
                due: Sequence[int], t: float, *, default_fields: Sequence[str],
                field_levels: dict[str, int], centres: np.ndarray | None,
                parameters: Sequence[ParameterSection] = (),
                parameter_damping: float = 1.0, time_unit_s: float = 1.0) -> list[AnalysisPart]:
    """The analyses of one time, in the modules' order.

    Parameters
    ----------
    modules : sequence of AnalysisModuleSection
        The ``[[analysis]]`` tables.
    observations : sequence of ObservationSection
        The ``[[observations]]`` tables.
    due : sequence of int
        Indices (into ``observations``) of the types due now, in the order of the window's
        observations (:attr:`Observed.types`).
    t : float
        The analysis time [model time units since the start].
    default_fields : sequence of str
        What a module without ``fields`` updates (the application's analysed fields).
    field_levels : dict of str to int
        Every state field's number of levels.
    centres : (nz,) ndarray or None
        Layer-centre depths [m] of layered fields (those with ``nz`` levels); needed by
        ``depth_m``.
    parameters : sequence of ParameterSection
        The ``[[parameter]]`` tables.
    parameter_damping : float
        ``[filter] parameter_damping``, the parameters' default damping.
    time_unit_s : float
        Seconds per model time unit.
    """
    settings = {p.name: p for p in parameters}
    position = {k: i for i, k in enumerate(due)}
    parts = []
    for index, module in enumerate(modules):
        types = tuple(position[k] for k in select_observations(
            module.observations, observations, f"analysis[{index}]") if k in position)
        if not types or not on_clock(t, module.interval_h, time_unit_s):
            continue
        estimated = tuple(p for p in module.parameters if on_clock(
            t, getattr(settings.get(p), "interval_h", None), time_unit_s))
        unknown = [f for f in module.fields if f not in field_levels]
        if unknown:
            raise ConfigError(f"analysis[{index}].fields: {unknown[0]!r} is not a field of the "
                              f"state; it holds {sorted(field_levels)}")
        fields = tuple(f for f in (module.fields or default_fields) if f in field_levels)
        fields += tuple(p for p in estimated if p not in fields)
        levels = {}
        if module.depth_m:
            nz = None if centres is None else len(centres)
            levels = {f: layer_levels(module.depth_m, centres) for f in fields
                      if field_levels[f] == nz}
        damping = {}
        for f in fields:
            if f in module.damping:
                damping[f] = float(module.damping[f])
            elif f in estimated:
                d = getattr(settings.get(f), "damping", None)
                damping[f] = float(d if d is not None else parameter_damping)
        damping = {f: d for f, d in damping.items() if d < 1.0}
        vertical = None if module.vertical_length_m is None else VerticalLocalization(
            module.vertical_length_m, module.vertical_weight)
        parts.append(AnalysisPart(types, fields, levels, damping,
                                  name=module.name or f"analysis_{index}",
                                  radius_m=module.radius_m, vertical=vertical,
                                  mask=module.mask, mask_members=module.mask_members,
                                  update=module.update))
    return parts

"""One analysis module on one run group: the part of an analysis time between the plan and the
next module (:func:`analyse_part`).

An :class:`AnalysisPart` says which observation types a module assimilates and which part of
the state it may change; :func:`analyse_part` decides its mask from the state it receives,
analyses its subset (:func:`pdafpy.cycle.analysis_step`), inflates the subset's analysis
(:func:`inflate_analysed`), writes it back through the mask and the damping
(:func:`write_back`, :func:`combine_mask`) and lets the application recompute its derived
variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigError
from ..inflation import inflate, relax_to_prior_perturbations, relax_to_prior_spread, rotate
from ..obs.types import ObservationType
from .analysis import AnalysisReport, analysis_step

if TYPE_CHECKING:
    from .loop import CycleHooks, CycleOptions, CycleStep

__all__ = ["AnalysisPart", "analyse_part", "combine_mask", "write_back", "inflate_analysed"]


@dataclass(frozen=True)
class AnalysisPart:
    """Observation types analysed together, and the part of the state they update (one
    analysis module, :mod:`pdafpy.cycle.modules`).

    Attributes
    ----------
    types : tuple of int
        Positions in :attr:`Observed.types`.
    fields : tuple of str or None
        Fields updated (None: every field).
    levels : dict
        For layered fields updated only in part, the levels (0 = top); empty: whole columns.
    damping : dict of str to float
        Fields whose increment is scaled: ``x = x_f + d (x_a - x_f)`` with ``d`` in (0, 1).
    name : str
        Label in logs.
    radius_m : float or None
        Replaces the types' horizontal cut-off and support radius, keeping their weight
        function and metric (None: each type's own).
    vertical : VerticalLocalization or None
        Vertical localisation of the local filters (None: none).
    mask : str
        ``"all"``, or a mask the application offers (:meth:`CycleHooks.analysis_mask`): the
        elements the part may change, decided from the state it receives.
    mask_members : str
        ``"per_member"``, ``"all_members"`` or ``"any_member"``
        (:data:`pdafpy.analysis_config.MASK_MEMBERS`).
    update : str
        What the application writes back (:meth:`CycleHooks.reconcile`); "" its default.
    """

    types: tuple[int, ...]
    fields: tuple[str, ...] | None = None
    levels: Mapping[str, np.ndarray] = field(default_factory=dict)
    damping: Mapping[str, float] = field(default_factory=dict)
    name: str = ""
    radius_m: float | None = None
    vertical: Any = None
    mask: str = "all"
    mask_members: str = "per_member"
    update: str = ""


def inflate_analysed(ens: np.ndarray, prior: np.ndarray, analysed: np.ndarray,
                     options: CycleOptions, cycle: int = 0) -> None:
    """Inflation, relaxation and rotation of the analysed state elements only (in place);
    the other elements keep their spread.

    Parameters
    ----------
    ens, prior : (N, n) ndarray
        The analysis and the forecast it came from.
    analysed : (k,) int ndarray
        The analysed state indices.
    options : CycleOptions
        ``multiplicative``, ``rtpp``, ``rtps``, ``rotate`` and ``seed``.
    cycle : int
        Keys the rotation.
    """
    part, before = ens[:, analysed], prior[:, analysed]
    inflate(part, options.multiplicative)
    if options.rtpp:
        relax_to_prior_perturbations(part, before, options.rtpp)
    if options.rtps:
        relax_to_prior_spread(part, before, options.rtps)
    if options.rotate:
        rotate(part, options.seed, cycle)
    ens[:, analysed] = part


def combine_mask(mask: np.ndarray, members: str, n_members: int) -> np.ndarray:
    """A per-run mask ``(n_runs, k)`` decided over the ensemble as ``members`` says.

    ``"per_member"``: as given; ``"all_members"``: true where it is true for every member
    (the first ``n_members`` runs; perturbed runs of an SEKF follow them); ``"any_member"``:
    true where it is for at least one. Returns a boolean array broadcastable to ``mask``.
    """
    mask = np.asarray(mask, dtype=bool)
    if members == "per_member":
        return mask
    if members == "all_members":
        return mask[:n_members].all(axis=0, keepdims=True)
    if members == "any_member":
        return mask[:n_members].any(axis=0, keepdims=True)
    raise ConfigError(f"mask_members = {members!r}: expected per_member, all_members or "
                      "any_member")


def write_back(before: np.ndarray, after: np.ndarray, mask: np.ndarray | None,
               damping: np.ndarray | None, parameters: np.ndarray) -> np.ndarray:
    """What an analysis module leaves of its analysis of a state subset.

    ``new = m (x_f + d (x_a - x_f)) + (1 - m) x_f``, with the mask ``m`` and the damping ``d``;
    a parameter element without spread in ``before`` keeps its value exactly.

    Parameters
    ----------
    before, after : (n_runs, k) ndarray
        The subset as the module received it and as the filter analysed it.
    mask : bool ndarray broadcastable to (n_runs, k), or None
        Where each run may change (:func:`combine_mask`); None: everywhere.
    damping : (k,) ndarray or None
        Each element's damping ``d`` in (0, 1]; None: 1.
    parameters : (k,) bool ndarray
        Which elements belong to parameter fields.

    Returns
    -------
    (n_runs, k) ndarray
    """
    new = after if damping is None else before + damping * (after - before)
    if mask is not None:
        new = np.where(mask, new, before)
    fixed = parameters & np.all(before == before[:1], axis=0)
    if fixed.any():
        new = new.copy() if new is after else new
        new[:, fixed] = before[:, fixed]
    return new


def analyse_part(filt: Any, part: AnalysisPart, types: Sequence[ObservationType],
                 runs: np.ndarray, n_members: int, layout: Any, grid: Any, comm: Any,
                 boxes: Sequence[Any], hooks: CycleHooks, step: CycleStep,
                 options: CycleOptions, inflating: bool, index: np.ndarray,
                 parameters: np.ndarray, **analysis: Any) -> AnalysisReport:
    """One analysis module on one run group, in place on ``runs`` (collective over ``comm``).

    The part's mask is decided from the state it receives (:meth:`CycleHooks.analysis_mask`
    read by :func:`combine_mask`); :func:`analysis_step` analyses its subset; the subset's
    analysis is inflated (if ``inflating``: multiplicative, RTPP, RTPS, rotation), written back
    through the mask and the damping (:func:`write_back`), and the hooks recompute the derived
    variables (:meth:`CycleHooks.reconcile`).

    Parameters
    ----------
    filt : filter object
    part : AnalysisPart
    types : sequence of ObservationType
        The part's observation types (full lists).
    runs : (n_runs, layout.size) ndarray
        The group's runs on this filter rank, its members first.
    n_members : int
        The group's members (the rest are an SEKF's perturbed runs).
    layout, grid, comm, boxes
        As :func:`analysis_step`.
    hooks : CycleHooks
    step : CycleStep
    options : CycleOptions
        Inflation and the adaptive forgetting factor.
    inflating : bool
        Whether ``options`` inflate the analysis at all.
    index : (k,) int ndarray
        The state indices the part updates, sorted.
    parameters : (layout.size,) bool ndarray
        The elements of parameter fields.
    **analysis
        Further :func:`analysis_step` arguments (``search_cache``, ``domain_coords``).
    """
    if part.radius_m is not None:
        types = [replace(t, localization=replace(t.localization, cradius=part.radius_m,
                                                 sradius=part.radius_m)) for t in types]
    received = runs.copy()
    mask = None
    if part.mask != "all":
        mask = combine_mask(hooks.analysis_mask(part, runs, index), part.mask_members,
                            n_members)
    report = analysis_step(
        filt, runs, layout, grid, types, comm, boxes, cycle=step.index,
        analysed_fields=part.fields, analysed_levels=part.levels or None,
        adaptive_forget=options.adaptive_forget,
        **({"vertical": part.vertical} if part.vertical is not None else {}), **analysis)
    outside = np.ones(runs.shape[1], dtype=bool)
    outside[index] = False
    runs[:, outside] = received[:, outside]     # a global filter updates every element
    before, after = received[:, index], runs[:, index]
    if inflating:
        inflate_analysed(after[:n_members], before[:n_members], np.arange(index.size),
                         options, step.index)
    damping = None
    if part.damping:
        d = np.ones(layout.size)
        for name, value in part.damping.items():
            d[layout.field_slice(name)] = value
        damping = d[index]
    runs[:, index] = write_back(before, after, mask, damping, parameters[index])
    hooks.reconcile(step, part, runs, received)
    return report

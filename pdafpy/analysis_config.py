"""The configuration of analysis modules (``[[analysis]]``) and estimated parameters
(``[[parameter]]``).

An **analysis module** is one analysis of the cycle with its own observation types, schedule,
localisation, state subset, mask and damping (LI's separate soil-moisture and groundwater
updates, HEY's sequential sensors). At an analysis time the modules whose types are due run in
the order configured, each on the ensemble the previous one left, with the model's derived
variables recomputed in between (:mod:`pdafpy.cycle.modules`). A run without ``[[analysis]]``
tables analyses every due type at once (or as the application groups them).

An **estimated parameter** (a field named in ``[filter] parameters``) may have a
``[[parameter]]`` table: its damping, its physical bounds and its own update interval.

Keys whose meaning belongs to the model (``mask``, ``update``) are checked by the experiment
registered for the model (e.g. the land twin offers the masks ``unsaturated`` and
``saturated`` and the update variables ``pressure_head``, ``water_content``, ``both``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from .config import option
from .errors import ConfigError

__all__ = ["AnalysisModuleSection", "ParameterSection", "MASK_MEMBERS", "VERTICAL_WEIGHTS",
           "check_analysis_modules", "select_observations"]

#: How a per-member mask becomes the mask applied to each member: ``per_member`` (each member
#: its own), ``all_members`` (a cell counts where it does in every member) or ``any_member``
#: (where it does in at least one), TSMP-PDAF's ``gwmasking`` readings.
MASK_MEMBERS = ("per_member", "all_members", "any_member")
#: Weight functions of the vertical localisation.
VERTICAL_WEIGHTS = ("gaspari_cohn", "gaussian")


@dataclass(frozen=True)
class AnalysisModuleSection:
    """One analysis module (an ``[[analysis]]`` table)."""

    name: str = option("", "label in logs and summaries (default: analysis_<index>)")
    observations: tuple[str, ...] = option((), "the observation types it assimilates, by the "
                                           "name or type of their [[observations]] tables "
                                           "(required)")
    interval_h: float | None = option(None, "runs only at analysis times that are multiples of "
                                      "this from the start (e.g. 168: weekly), taking its types' "
                                      "observations due then (default: whenever one is due)",
                                      unit="h", minimum=0.0, exclusive_minimum=True)
    radius_m: float | None = option(None, "horizontal localisation cut-off of its observations "
                                    "(default: each type's radius_m, else [localization])",
                                    unit="m", minimum=0.0, exclusive_minimum=True)
    vertical_length_m: float | None = option(None, "vertical localisation length: weights fall "
                                             "with the distance of a cell from the observation's "
                                             "depth range (default: none)", unit="m",
                                             minimum=0.0, exclusive_minimum=True)
    vertical_weight: str = option("gaspari_cohn", "vertical weight function",
                                  choices=VERTICAL_WEIGHTS)
    fields: tuple[str, ...] = option((), "state fields it updates (default: the model's "
                                     "analysed fields)")
    depth_m: tuple[float, ...] = option((), "[top, bottom]: layered fields are updated only in "
                                        "the layers whose centre lies in this range (default: "
                                        "every layer)", unit="m")
    parameters: tuple[str, ...] = option((), "estimated parameters it updates, among [filter] "
                                         "parameters (default: none)")
    mask: str = option("all", "cells it may change, decided from the state it receives: 'all', "
                       "or a mask the model offers (land: 'unsaturated', 'saturated')")
    mask_members: str = option("per_member", "how the mask is decided over the ensemble: "
                               "'per_member', 'all_members' (only cells masked in every member "
                               "change), 'any_member' (cells masked in at least one)",
                               choices=MASK_MEMBERS)
    update: str = option("", "what the analysis writes back where the model offers a choice "
                         "(land: 'pressure_head', 'water_content', 'both'; default: the "
                         "model's)")
    damping: dict = option(default_factory=dict, doc="{field = d}: only the fraction d in "
                           "(0, 1] of the analysis increment is applied to these fields, "
                           "x = x_f + d (x_a - x_f) (state damping per variable group)")

    def check(self, path: str) -> None:
        if not self.observations:
            raise ConfigError(f"{path}.observations: name the observation types this module "
                              "assimilates")
        if self.depth_m and (len(self.depth_m) != 2 or not self.depth_m[0] < self.depth_m[1]
                             or self.depth_m[0] < 0):
            raise ConfigError(f"{path}.depth_m = {list(self.depth_m)}: expected [top, bottom] "
                              "with 0 <= top < bottom")
        for key, value in self.damping.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0.0 < value <= 1.0:
                raise ConfigError(f"{path}.damping.{key} = {value!r}: expected a fraction in "
                                  "(0, 1]")


@dataclass(frozen=True)
class ParameterSection:
    """The settings of one estimated parameter (a ``[[parameter]]`` table)."""

    name: str = option("", "the parameter field, one of [filter] parameters (required)")
    damping: float | None = option(None, "fraction of the analysis increment applied (default: "
                                   "[filter] parameter_damping)", minimum=0.0,
                                   exclusive_minimum=True, maximum=1.0)
    minimum: float | None = option(None, "lower bound: analysed values are clipped to it "
                                   "(default: the model's physical bound)")
    maximum: float | None = option(None, "upper bound (default: the model's physical bound)")
    interval_h: float | None = option(None, "updated only at analysis times that are multiples "
                                      "of this from the start (LI: 168, weekly; default: at "
                                      "every analysis that updates it)", unit="h", minimum=0.0,
                                      exclusive_minimum=True)

    def check(self, path: str) -> None:
        if not self.name:
            raise ConfigError(f"{path}.name: name the parameter field these settings are for")
        if self.minimum is not None and self.maximum is not None \
                and not self.minimum < self.maximum:
            raise ConfigError(f"{path}: minimum = {self.minimum} must be below maximum = "
                              f"{self.maximum}")


def select_observations(names: Sequence[str], observations: Sequence[Any], path: str
                        ) -> tuple[int, ...]:
    """The indices of the ``[[observations]]`` tables named ``names``, by their ``name`` (when
    set) or their ``type``.

    Raises
    ------
    ConfigError
        For a name that matches no table, or a type shared by several tables without names.
    """
    out = []
    for i, name in enumerate(names):
        by_name = [k for k, o in enumerate(observations) if getattr(o, "name", "") == name]
        by_type = [k for k, o in enumerate(observations) if o.type == name
                   and not getattr(o, "name", "")]
        found = by_name or by_type
        if not found:
            known = sorted({getattr(o, "name", "") or o.type for o in observations})
            raise ConfigError(f"{path}.observations[{i}] = {name!r}: no [[observations]] table "
                              f"has this name or type; they are {known or 'none'}")
        if len(found) > 1:
            raise ConfigError(f"{path}.observations[{i}] = {name!r}: {len(found)} "
                              "[[observations]] tables have this type; give them names "
                              "(observations.name) and use those")
        out.append(found[0])
    return tuple(out)


def check_analysis_modules(modules: Sequence[AnalysisModuleSection],
                           parameters: Sequence[ParameterSection], observations: Sequence[Any],
                           estimated: Sequence[str]) -> None:
    """What the sections cannot check alone: the observation types named exist, every type is
    assimilated by some module, parameters are among ``[filter] parameters`` and named once.

    Raises
    ------
    ConfigError
    """
    used: set[int] = set()
    names = set()
    for i, m in enumerate(modules):
        path = f"analysis[{i}]"
        used.update(select_observations(m.observations, observations, path))
        label = m.name or f"analysis_{i}"
        if label in names:
            raise ConfigError(f"{path}.name = {label!r}: two [[analysis]] tables have this name")
        names.add(label)
        for p in m.parameters:
            if p not in estimated:
                raise ConfigError(f"{path}.parameters: {p!r} is not among filter.parameters = "
                                  f"{list(estimated)}")
    if modules:
        missing = [o.name or o.type for k, o in enumerate(observations) if k not in used]
        if missing:
            raise ConfigError(f"observations: {missing[0]!r} is assimilated by no [[analysis]] "
                              "table; with [[analysis]] tables every type must belong to one "
                              "(list it in a module's observations)")
    seen = set()
    for i, p in enumerate(parameters):
        if p.name not in estimated:
            raise ConfigError(f"parameter[{i}].name = {p.name!r}: not among filter.parameters = "
                              f"{list(estimated)}")
        if p.name in seen:
            raise ConfigError(f"parameter[{i}].name = {p.name!r}: given twice")
        seen.add(p.name)

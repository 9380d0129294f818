"""The simplified EKF of the land experiment: ``[filter] type = "sekf"`` with a ``[sekf]`` table.

The control vector of each column is the top ``len(delta)`` layers of one field (``[sekf]
field``, the volumetric water content by default, as in the CoLM study: the top 7 layers). The
filter is :class:`pdafpy.filters.sekf.SEKF`: a static ``B`` per column, built from each control
layer's standard deviation ``background_sd`` and, optionally, an exponential correlation between
layers, ``B_ij = sd_i sd_j exp(-|z_i - z_j| / L)`` with ``z`` the layer centres and ``L =
vertical_correlation_m`` (0: diagonal); the Jacobian ``H`` from finite differences through the
model over each window: the runs are

- ``assimilation`` (1 run, key 0): the run analysed (``x^a = x^b + K (y - H(x^b))``, ``K = B
  H^T (H B H^T + R)^-1``);
- ``perturbed`` (``len(delta)`` runs, key 0: the same weather): after each analysis (and at the
  start), the analysis with control layer ``k`` raised by ``delta[k]`` in every column; the
  cycle reads their forecasts at the analysis time for ``H_jk = (H_j(run k) - H_j(run 0)) /
  delta[k]`` (:class:`pdafpy.groups.RunGroups`, kind ``perturbed``);
- ``open_loop`` (1 run, key 0): the control run (CTL), the same run never analysed;
- ``truth`` (a twin; key ``[ensemble] size``, as a truth pass of the same file draws it).

``[ensemble] size`` is 1 (the analysed run) or ``1 + len(delta)`` (every run of the
assimilation); anything else is refused. The analysed water content reaches the model as the
``[update] variable`` says (``water_content`` or ``both``, converted to head on the filter
ranks, :mod:`models.landda.analysis_state`), and so do the perturbed runs' perturbations: a
perturbation of a cell saturated in the analysis is dropped (its head is kept), so that layer's
Jacobian is zero there. The per-column Jacobian treats the response to the perturbation of every
column at once as the column's own (see :mod:`pdafpy.filters.sekf`): a localisation radius
([localization] radius_m, or each observation type's) that reaches only the observations of the
column's own footprint keeps this close.

Refused with the SEKF (each with a one-line reason): ``[[analysis]]`` tables and the observation
types' update keys (the control vector is ``[sekf]``'s), ``[filter] parameters`` and ``forget``,
any ``[inflation]`` (``B`` is static, there is one analysed run) and ``mode = "free"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from pdafpy.config import option, parse_section
from pdafpy.errors import ConfigError
from pdafpy.experiment_config import ExperimentConfig
from pdafpy.filters.sekf import SEKF
from pdafpy.groups import RunGroups

from .analysis_plan import TYPE_UPDATE_KEYS
from .observations import LandObservationSection

__all__ = ["SekfSection", "SekfControl", "sekf_control", "check_sekf", "run_groups",
           "make_sekf", "perturb_start", "uses_sekf", "land_layout_signature",
           "CONTROL_FIELDS"]

#: The fields whose top layers may be the control vector, and the ``[update] variable`` each
#: needs so that the analysis reaches the model.
CONTROL_FIELDS = {"water_content": ("water_content", "both"),
                  "pressure_head": ("pressure_head",)}


@dataclass(frozen=True)
class SekfSection:
    """The simplified EKF, read with ``[filter] type = "sekf"``: control vector and static B.

    The control vector is the top ``len(delta)`` layers of ``field`` in each column."""

    delta: tuple[float, ...] = option((), "perturbation of each control layer, top-down, for "
                                      "the finite-difference Jacobian: one model run each "
                                      "(CoLM study: 0.001, 0.0001, 0.0001, 0.0001, 0.0005, "
                                      "0.001, 0.0005 m3 m-3)", unit="m3 m-3 (field's unit)",
                                      minimum=0.0, exclusive_minimum=True)
    background_sd: tuple[float, ...] = option((), "standard deviation of B per control layer, "
                                              "top-down", unit="m3 m-3 (field's unit)",
                                              minimum=0.0, exclusive_minimum=True)
    vertical_correlation_m: float = option(0.0, "length L of B's correlation between control "
                                           "layers, exp(-|z_i - z_j| / L) of their centres (0: "
                                           "diagonal B)", unit="m", minimum=0.0)
    field: str = option("water_content", "the control field: its top len(delta) layers are "
                        "the control vector", choices=tuple(CONTROL_FIELDS))

    def check(self, path: str) -> None:
        if len(self.background_sd) != len(self.delta):
            raise ConfigError(f"{path}.background_sd: {len(self.background_sd)} values for the "
                              f"{len(self.delta)} control layers of {path}.delta; expected one "
                              "per layer")


@dataclass(frozen=True)
class SekfControl:
    """The control vector of the land SEKF: the top ``layers`` levels of ``field`` and the
    ``[update] variable`` that brings them into the model."""

    field: str
    layers: int
    update: str

    @property
    def fields(self) -> tuple[str, ...]:
        return (self.field,)

    @property
    def levels(self) -> dict[str, np.ndarray]:
        return {self.field: np.arange(self.layers)}


def _section(tables: Mapping[str, Any]) -> SekfSection:
    return parse_section(SekfSection, tables.get("sekf", {}), "sekf")


def uses_sekf(cfg: ExperimentConfig) -> bool:
    """Whether the run analyses with the SEKF (modes twin and assimilate)."""
    return cfg.filter.type == "sekf" and cfg.mode in ("twin", "assimilate")


def sekf_control(cfg: ExperimentConfig, tables: Mapping[str, Any]) -> SekfControl | None:
    """The control vector where the run analyses with the SEKF (None otherwise)."""
    if not uses_sekf(cfg):
        return None
    s = _section(tables)
    return SekfControl(s.field, len(s.delta),
                       tables.get("update", {}).get("variable", "pressure_head"))


def run_groups(cfg: ExperimentConfig, tables: Mapping[str, Any]) -> RunGroups:
    """The land run's groups: the SEKF's (see the module notes) or those of the mode."""
    if not uses_sekf(cfg):
        return RunGroups.for_mode(cfg.mode, cfg.ensemble.size)
    return RunGroups.sekf(len(_section(tables).delta), truth=cfg.mode == "twin",
                          open_loop=True, analysed="assimilation", truth_key=cfg.ensemble.size)


def check_sekf(cfg: ExperimentConfig, tables: Mapping[str, Any], nz: int | None) -> None:
    """The SEKF's configuration against the rest (see the module notes), before any model
    work; ``nz`` is the number of layers (None where the grid is incomplete)."""
    if cfg.filter.type != "sekf":
        if tables.get("sekf"):
            raise ConfigError(f"sekf: read only with [filter] type = 'sekf' (the filter is "
                              f"{cfg.filter.type!r})")
        return
    if cfg.mode == "free":
        raise ConfigError("filter.type = 'sekf': mode 'free' analyses nothing; the SEKF runs in "
                          "modes 'twin' and 'assimilate' (and a truth pass may share its file)")
    s = _section(tables)
    n = len(s.delta)
    if n == 0:
        raise ConfigError("sekf.delta: missing; [filter] type = 'sekf' needs one perturbation "
                          "size per control layer (and sekf.background_sd)")
    if nz is not None and n > nz:
        raise ConfigError(f"sekf.delta: {n} control layers, but the grid has {nz}")
    if cfg.ensemble.size not in (1, n + 1):
        raise ConfigError(f"ensemble.size = {cfg.ensemble.size}: the SEKF advances 1 analysed "
                          f"run and {n} perturbed runs (one per value of sekf.delta); set 1 (the "
                          f"analysed run) or {n + 1} (all its runs)")
    variable = tables.get("update", {}).get("variable", "pressure_head")
    if variable not in CONTROL_FIELDS[s.field]:
        raise ConfigError(f"update.variable = {variable!r}: the SEKF's control field is "
                          f"{s.field!r} (sekf.field), which reaches the model with update "
                          f"variable {' or '.join(repr(v) for v in CONTROL_FIELDS[s.field])}")
    if cfg.analysis:
        raise ConfigError("analysis: [[analysis]] tables are not read with the SEKF; its control "
                          "vector is [sekf]'s (field and the top len(delta) layers)")
    defaults = LandObservationSection()
    for i, o in enumerate(cfg.observations):
        for key in TYPE_UPDATE_KEYS:
            if getattr(o, key, None) != getattr(defaults, key):
                raise ConfigError(f"observations[{i}].{key}: what the SEKF updates is its "
                                  "control vector ([sekf]); leave the type's update keys out")
    if cfg.filter.parameters:
        raise ConfigError(f"filter.parameters = {list(cfg.filter.parameters)}: the SEKF's "
                          "control vector holds no parameter")
    if cfg.filter.forget != 1.0:
        raise ConfigError(f"filter.forget = {cfg.filter.forget:g}: the SEKF's B is static; "
                          "set 1.0")
    inf = cfg.inflation
    for key, value, default in (("multiplicative", inf.multiplicative, 1.0),
                                ("rtpp", inf.rtpp, 0.0), ("rtps", inf.rtps, 0.0),
                                ("adaptive_forget", inf.adaptive_forget, False)):
        if value != default:
            why = " (the land defaults inflate by 1.1)" if key == "multiplicative" else ""
            raise ConfigError(f"inflation.{key} = {value!r}: the SEKF's B is static and it "
                              f"analyses one run; set [inflation] {key} = "
                              f"{str(default).lower()}{why}")
    runs = {"twin": n + 3, "assimilate": n + 2, "truth": 1}[cfg.mode]
    if cfg.parallel.tasks > runs:
        raise ConfigError(f"parallel.tasks = {cfg.parallel.tasks}: more model tasks than the "
                          f"{runs} runs of mode = {cfg.mode!r} with the SEKF")


def make_sekf(tables: Mapping[str, Any], interfaces: np.ndarray) -> SEKF:
    """The filter: ``delta`` and the static ``B`` of ``[sekf]`` on the layers of
    ``interfaces`` (``(nz + 1,)`` depths [m])."""
    s = _section(tables)
    sd = np.asarray(s.background_sd, dtype=float)
    z = 0.5 * (interfaces[:-1] + interfaces[1:])[:sd.size]
    corr = np.exp(-np.abs(z[:, None] - z[None, :]) / s.vertical_correlation_m) \
        if s.vertical_correlation_m > 0 else np.eye(sd.size)
    return SEKF(np.asarray(s.delta, dtype=float), sd[:, None] * corr * sd[None, :])


def perturb_start(job: Any, groups: RunGroups, filt: SEKF, hooks: Any,
                  control: SekfControl) -> None:
    """Make the perturbed runs of a fresh run from the analysed run's initial state (collective
    over the job's world): the runs go to the filter ranks as the model holds them once loaded
    (an initial state's derived water content is its unperturbed head's), and back."""
    ens = job.runner.reloaded()
    if job.layout.is_filter:
        block = groups.with_perturbed("assimilation")
        runs = ens[block.start:block.stop]
        layout = job.runner.filter_layout
        runs[:] = filt.perturbed_runs(runs[0], layout.column_indices(control.fields,
                                                                     control.levels))
        hooks.perturbed(None, runs)
    job.runner.distribute(ens)


def land_layout_signature(cfg: ExperimentConfig, tables: Mapping[str, Any],
                          world_size: int) -> dict[str, int]:
    """The layout numbers a land checkpoint must match, with the runs of :func:`run_groups`."""
    from pdafpy.experiment import layout_signature

    return dict(layout_signature(cfg, world_size), runs=run_groups(cfg, tables).total)

"""The land twin's configuration: the model's tables, the packaged example, loading.

The coupled model's tables are typed in :mod:`models.landda.config_sections`; this module adds
the land twin's own: ``[perturbations]`` (how the ensemble and the truth differ), ``[update]``
(what the analysis writes back, TSMP-PDAF's ``updateflag``) and ``[coupling]`` (the
land-subsurface coupling step). A configuration lists only what differs from the model's
defaults (``default.toml``); :func:`load` lays it over them with
:func:`pdafpy.experiment.load_configuration`. Without a configuration, ``pdafpy run`` runs the
packaged example (``example.toml``, itself laid over the defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import tomllib

from pdafpy.config import merge_tables, option, parse_section
from pdafpy.errors import ConfigError
from pdafpy.experiment_config import ExperimentConfig

from .config_sections import MODEL_SECTIONS as MODEL_TABLES
from .forcing_perturbations import forcing_variables
from .sekf_setup import SekfSection
from .spinup import SpinupSection
from .state_perturbations import StatePerturbationSection

__all__ = ["MODEL_SECTIONS", "PerturbationSection", "UpdateSection", "CouplingSection",
           "packaged_table", "default_table", "load", "model_config", "soil_bounds",
           "soil_values", "ParameterExportSection", "model_parameter_fields",
           "independent_parameters", "carries_texture", "has_texture"]

UPDATE_VARIABLES = ("pressure_head", "water_content", "both")
#: The texture parameter fields (``[soil] sand_percent``, ``clay_percent``).
TEXTURE_FIELDS = ("sand_percent", "clay_percent")


@dataclass(frozen=True)
class UpdateSection:
    """What the analysis writes back into the model (``[update]``; TSMP-PDAF's updateflag)."""

    variable: str = option("pressure_head", "'pressure_head': the analysed head; "
                           "'water_content': head from the analysed water content in cells "
                           "unsaturated in the forecast; 'both': that, and the analysed head in "
                           "saturated cells", choices=UPDATE_VARIABLES)


@dataclass(frozen=True)
class CouplingSection:
    """The land-subsurface coupling (``[coupling]``)."""

    step_s: float = option(3600.0, "coupling step: the land columns and the subsurface exchange "
                           "fluxes this often", unit="s", minimum=0.0, exclusive_minimum=True)


@dataclass(frozen=True)
class PerturbationSection:
    """How the ensemble differs from the truth (``[perturbations]``)."""

    initial_head_sd_m: float | tuple[float, ...] = option(
        0.0, "standard deviation of the initial pressure head, one value or one per layer "
        "(one draw per member, uniform in space)", unit="m", minimum=0.0)
    log10_ks_sd: float = option(0.0, "standard deviation of log10 Ks (log-normal Ks, median the "
                                "soil's)", minimum=0.0)
    leaf_biomass_log_sd: float = option(0.0, "standard deviation of the log of the initial "
                                        "leaf biomass (log-normal, one draw per member, "
                                        "uniform in space): spread in the leaf state", minimum=0.0)
    ks_correlation_length_m: float | None = option(
        None, "correlation length of the log10 Ks field (default: one value per member)",
        unit="m", minimum=0.0, exclusive_minimum=True)
    log10_ks_offset_half_width: float = option(
        0.0, "half-width h of a log10 Ks offset uniform on [-h, h], one value per member for "
        "the whole grid (LI's aquifer offset: 0.5), added after log10_ks_sd", minimum=0.0)
    log10_ks_layers_m: tuple[float, ...] = option(
        (), "[top, bottom]: log10_ks_sd and log10_ks_offset_half_width perturb only the layers "
        "whose centre lies in this depth range; the others keep no spread (default: every "
        "layer)", unit="m")
    texture_sd_percent: float = option(
        0.0, "standard deviation of additive sand and clay offsets (one draw for all layers; "
        "the soil then follows [soil] pedotransfer); needs a [soil] texture (LI: sqrt(50))",
        unit="%", minimum=0.0)
    texture_correlation_length_m: float | None = option(
        None, "range of the texture offset field: spherical: correlation 0 beyond it (LI: "
        "12500); exponential, gaussian: correlation 1/e at it (default: one value per member)",
        unit="m", minimum=0.0, exclusive_minimum=True)
    texture_variogram: str = option("spherical", "covariance of the texture offset field with "
                                    "texture_correlation_length_m",
                                    choices=("spherical", "exponential", "gaussian"))
    parameters_file: str = option(
        "", "parameters written by an earlier run ([parameter_export]): member k starts from "
        "the file's member k (its parameter fields this run carries); the truth keeps its own "
        "draw")
    forcing: dict = option(default_factory=dict, doc="perturbed forcing variables, in this "
                           "order: name = {sd = ..., kind = ..., time_scale_s = ...} (see "
                           "docs/perturbations.md)")
    forcing_correlation: tuple[tuple[float, ...], ...] | None = option(
        None, "cross-correlation matrix of the forcing perturbations, in the order of `forcing`")
    forcing_correlation_length_m: float | None = option(
        None, "correlation length of the forcing perturbation fields (default: one value per "
        "member)", unit="m", minimum=0.0, exclusive_minimum=True)
    state: StatePerturbationSection = option(
        default_factory=StatePerturbationSection, doc="water-content and LAI increments added "
        "to the members and the open loop during the run, never to the truth (see "
        "docs/perturbations.md)")

    def check(self, path: str) -> None:
        layers = self.log10_ks_layers_m
        if layers and (len(layers) != 2 or not 0.0 <= layers[0] < layers[1]):
            raise ConfigError(f"{path}.log10_ks_layers_m = {list(layers)}: expected [top, "
                              "bottom] depths with 0 <= top < bottom (m)")
        variables = forcing_variables(self.forcing, f"{path}.forcing")
        corr = self.forcing_correlation
        if corr is not None and (len(corr) != len(variables)
                                 or any(len(row) != len(variables) for row in corr)):
            raise ConfigError(f"{path}.forcing_correlation: expected a {len(variables)} x "
                              f"{len(variables)} matrix, one row and column per variable of "
                              f"{path}.forcing in its order "
                              f"({', '.join(v.name for v in variables) or 'none'})")


@dataclass(frozen=True)
class ParameterExportSection:
    """Estimated parameters written when the run ends (``[parameter_export]``).

    For a later run's ``[perturbations] parameters_file`` (cross-validation years); the file:
    :mod:`models.landda.parameter_files`."""

    write: bool = option(False, "write every assimilation member's estimated parameter fields "
                         "([filter] parameters) and their ensemble mean when the run ends")
    file: str = option("parameters.nc", "the file, in [output] directory")


def packaged_table(name: str = "default.toml") -> dict:
    """A packaged experiment file as written (``default.toml``, ``example.toml``)."""
    return tomllib.loads(resources.files("models.landda").joinpath(name).read_text())


def default_table() -> dict:
    """The model's defaults (``models/landda/default.toml``)."""
    return packaged_table("default.toml")


def load(source: str | Path | Mapping[str, Any] | None, packaged: str = "default.toml",
         overrides: Mapping[str, Mapping[str, Any]] | None = None
         ) -> tuple[ExperimentConfig, dict]:
    """The experiment configuration: the model's defaults (and, for another ``packaged`` file
    such as the example, its overrides of them) overridden by ``source`` (a file or a table) and
    then by ``overrides`` (table -> keys, e.g. command-line options), validated. Without
    ``source``, the default ``packaged`` file gives way to the packaged example."""
    from pdafpy.experiment import load_configuration

    from .experiment import LandTwinExperiment

    loaded = load_configuration(source, LandTwinExperiment(packaged), overrides)
    return loaded.cfg, loaded.tables


#: The land twin's tables and their sections.
MODEL_SECTIONS: dict[str, type] = dict(MODEL_TABLES, perturbations=PerturbationSection,
                                       update=UpdateSection, coupling=CouplingSection,
                                       parameter_export=ParameterExportSection,
                                       sekf=SekfSection, spinup=SpinupSection)


def packaged_defaults(name: str) -> dict:
    """The table of a packaged file laid over the packaged example (by the schema)."""
    base = default_table()
    if name == "default.toml":
        return base
    override = packaged_table(name)
    own = set(MODEL_SECTIONS)
    split = [({k: v for k, v in t.items() if k not in own},
              {k: v for k, v in t.items() if k in own}) for t in (base, override)]
    return dict(merge_tables(ExperimentConfig, split[0][0], split[1][0]),
                **merge_tables(MODEL_SECTIONS, split[0][1], split[1][1]))


def model_config(cfg: ExperimentConfig, tables: Mapping[str, Any],
                 perturbation_keys: Any) -> dict:
    """The :class:`LandDAModel` configuration from the experiment's model tables, for runs with
    the given perturbation keys (:meth:`pdafpy.groups.RunGroups.keys`); ``model = "land"``
    (:mod:`models.standalone_land`) cuts the lateral flow."""
    from ..standalone_land import STANDALONE_MODEL

    sub = {k: tables[k] for k in ("grid", "soil", "boundary", "initial", "solver") if k in tables}
    pert = dict(tables.get("perturbations", {}))
    coupling = parse_section(CouplingSection, tables.get("coupling", {}), "coupling")
    update = parse_section(UpdateSection, tables.get("update", {}), "update")
    return {"subsurface": sub, "land": dict(tables.get("land", {})),
            "forcing": dict(tables.get("forcing", {})),
            "coupling": {"dt_s": coupling.step_s},
            "lateral_flow": cfg.model != STANDALONE_MODEL,
            "parameter_fields": model_parameter_fields(cfg, tables),
            "independent_parameters": independent_parameters(cfg, tables),
            # with [[analysis]] modules the filter ranks write back (models.landda.analysis_state)
            # (and the SEKF's analysis and perturbations, models.landda.sekf_setup)
            "update": "pressure_head" if cfg.analysis or cfg.filter.type == "sekf"
            else update.variable,
            "perturbations": {"forcing": pert.get("forcing", {}),
                              "forcing_correlation": pert.get("forcing_correlation"),
                              "forcing_correlation_length_m":
                                  pert.get("forcing_correlation_length_m"),
                              # keys below the ensemble size are perturbed (not the truth's)
                              "state": pert.get("state", {}),
                              "ensemble_size": cfg.ensemble.size,
                              "sekf": cfg.filter.type == "sekf"},
            "seed": cfg.ensemble.seed,
            "perturbation_keys": [int(k) for k in perturbation_keys]}


def has_texture(tables: Mapping[str, Any]) -> bool:
    """Whether ``[soil]`` gives a texture (``sand_percent``, ``clay_percent``)."""
    soil = tables.get("soil", {})
    return soil.get("sand_percent") is not None and soil.get("clay_percent") is not None


def carries_texture(cfg: ExperimentConfig, tables: Mapping[str, Any]) -> bool:
    """Whether the model carries the texture as parameter fields: a ``[soil]`` texture that
    the analysis estimates, the members perturb or a parameters file may set."""
    pert = tables.get("perturbations", {})
    return has_texture(tables) and (
        any(p in TEXTURE_FIELDS for p in cfg.filter.parameters)
        or float(pert.get("texture_sd_percent", 0.0)) > 0 or bool(pert.get("parameters_file")))


def model_parameter_fields(cfg: ExperimentConfig, tables: Mapping[str, Any]) -> list[str]:
    """The parameter fields of the land twin's model: ``log10_ks`` always, those of ``[filter]
    parameters``, and the texture where :func:`carries_texture`."""
    fields = ["log10_ks"] + [p for p in cfg.filter.parameters if p != "log10_ks"]
    if carries_texture(cfg, tables):
        fields += [f for f in TEXTURE_FIELDS if f not in fields]
    return fields


def independent_parameters(cfg: ExperimentConfig, tables: Mapping[str, Any]) -> list[str]:
    """The hydraulic parameter fields a state texture does not derive: those the analysis
    estimates itself (LI: log10 Ks estimated, the texture only perturbed)."""
    from ..coupled import HYDRAULIC_FIELDS

    return [p for p in cfg.filter.parameters if p in HYDRAULIC_FIELDS]


def soil_values(soil: Mapping[str, Any], keys: tuple[str, ...], nz: int, box: Any
                ) -> list[np.ndarray]:
    """The ``[soil]`` values ``keys`` on a block of columns, each broadcastable to
    ``(nz, box.ny, box.nx)``: scalars, one per layer, one per column ``(ny, nx)`` or one per
    cell ``(nz, ny, nx)``, as the subsurface model accepts them.

    Raises
    ------
    ConfigError
        For a missing key.
    """
    out = []
    if soil.get("sand_percent") is not None and soil.get("clay_percent") is not None:
        from ..land.texture import texture_table
        soil = texture_table(soil)[0]          # the derived parameters in the texture's form
    for key in keys:
        if key not in soil:
            raise ConfigError(f"soil.{key}: missing; the twin experiment needs it")
        v = np.asarray(soil[key], dtype=float)
        if v.ndim == 1:
            v = v.reshape(nz, 1, 1)
        elif v.ndim == 2:
            v = v[None, box.y0:box.y1, box.x0:box.x1]
        elif v.ndim == 3:
            v = v[:, box.y0:box.y1, box.x0:box.x1]
        out.append(v)
    return out


def soil_bounds(soil: Mapping[str, Any], nz: int, box: Any) -> tuple[np.ndarray, np.ndarray]:
    """``theta_r`` and ``theta_s`` [m3 m-3] of the ``[soil]`` table on a block of columns
    (:func:`soil_values`)."""
    theta_r, theta_s = soil_values(soil, ("theta_r", "theta_s"), nz, box)
    return theta_r, theta_s

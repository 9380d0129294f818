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

__all__ = ["MODEL_SECTIONS", "PerturbationSection", "UpdateSection", "CouplingSection",
           "packaged_table", "default_table", "load", "model_config", "soil_bounds",
           "soil_values"]

UPDATE_VARIABLES = ("pressure_head", "water_content", "both")


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
    forcing: dict = option(default_factory=dict, doc="perturbed forcing variables, in this "
                           "order: name = {sd = ..., kind = ..., time_scale_s = ...} (see "
                           "docs/perturbations.md)")
    forcing_correlation: tuple[tuple[float, ...], ...] | None = option(
        None, "cross-correlation matrix of the forcing perturbations, in the order of `forcing`")
    forcing_correlation_length_m: float | None = option(
        None, "correlation length of the forcing perturbation fields (default: one value per "
        "member)", unit="m", minimum=0.0, exclusive_minimum=True)

    def check(self, path: str) -> None:
        variables = forcing_variables(self.forcing, f"{path}.forcing")
        corr = self.forcing_correlation
        if corr is not None and (len(corr) != len(variables)
                                 or any(len(row) != len(variables) for row in corr)):
            raise ConfigError(f"{path}.forcing_correlation: expected a {len(variables)} x "
                              f"{len(variables)} matrix, one row and column per variable of "
                              f"{path}.forcing in its order "
                              f"({', '.join(v.name for v in variables) or 'none'})")


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

    from .twin import LandTwinExperiment

    loaded = load_configuration(source, LandTwinExperiment(packaged), overrides)
    return loaded.cfg, loaded.tables


#: The land twin's tables and their sections.
MODEL_SECTIONS: dict[str, type] = dict(MODEL_TABLES, perturbations=PerturbationSection,
                                       update=UpdateSection, coupling=CouplingSection)


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
    the given perturbation keys (:meth:`pdafpy.groups.RunGroups.keys`)."""
    sub = {k: tables[k] for k in ("grid", "soil", "boundary", "initial", "solver") if k in tables}
    pert = dict(tables.get("perturbations", {}))
    coupling = parse_section(CouplingSection, tables.get("coupling", {}), "coupling")
    update = parse_section(UpdateSection, tables.get("update", {}), "update")
    return {"subsurface": sub, "land": dict(tables.get("land", {})),
            "forcing": dict(tables.get("forcing", {})),
            "coupling": {"dt_s": coupling.step_s},
            "parameter_fields": ["log10_ks"] + [p for p in cfg.filter.parameters
                                                if p != "log10_ks"],
            # with [[analysis]] modules the filter ranks write back (models.landda.analysis_state)
            "update": "pressure_head" if cfg.analysis else update.variable,
            "perturbations": {"forcing": pert.get("forcing", {}),
                              "forcing_correlation": pert.get("forcing_correlation"),
                              "forcing_correlation_length_m":
                                  pert.get("forcing_correlation_length_m")},
            "seed": cfg.ensemble.seed,
            "perturbation_keys": [int(k) for k in perturbation_keys]}


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

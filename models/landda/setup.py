"""The twin experiment's configuration: the packaged example, overrides and the model's tables."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pdafpy.config import load_toml, option, parse_section
from pdafpy.errors import ConfigError
from pdafpy.experiment_config import ExperimentConfig, load_experiment

__all__ = ["MODEL_SECTIONS", "PerturbationSection", "packaged_table", "default_table", "merge",
           "load", "load_experiment_tables", "model_config", "soil_bounds"]

MODEL_SECTIONS = ("grid", "soil", "boundary", "initial", "solver", "land", "forcing",
                  "perturbations")


@dataclass(frozen=True)
class PerturbationSection:
    """How the ensemble differs from the truth (``[perturbations]``)."""

    initial_head_sd_m: float | tuple[float, ...] = option(
        0.0, "standard deviation of the initial pressure head, one value or one per layer "
        "(one draw per member, uniform in space)", unit="m", minimum=0.0)
    log10_ks_sd: float = option(0.0, "standard deviation of log10 Ks (log-normal Ks, median the "
                                "soil's)", minimum=0.0)
    ks_correlation_length_m: float | None = option(
        None, "correlation length of the log10 Ks field (default: one value per member)",
        unit="m", minimum=0.0, exclusive_minimum=True)
    forcing: dict = option(default_factory=dict, doc="perturbed forcing variables: name = "
                           "{sd = ..., kind = ..., tau_h = ...} (see docs/perturbations.md)")
    forcing_correlation: tuple[tuple[float, ...], ...] | None = option(
        None, "cross-correlation matrix of the forcing perturbations, in the order of `forcing`")
    forcing_correlation_length_m: float | None = option(
        None, "correlation length of the forcing perturbation fields (default: one value per "
        "member)", unit="m", minimum=0.0, exclusive_minimum=True)


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict:
    """``base`` with ``override``'s keys replacing its own, tables merged recursively."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, Mapping) and isinstance(
            out.get(key), Mapping) else value
    return out


def packaged_table(name: str = "default.toml") -> dict:
    """A packaged experiment file: ``default.toml`` is the packaged example; any other name is
    read as overrides of it (e.g. ``verify_twin.toml``) and returned merged with it."""
    def read(file: str) -> dict:
        return tomllib.loads(resources.files("models.landda").joinpath(file).read_text())
    return read(name) if name == "default.toml" else merge(read("default.toml"), read(name))


def default_table() -> dict:
    """The packaged example (``models/landda/default.toml``)."""
    return packaged_table("default.toml")


def load_experiment_tables(table: Mapping[str, Any]) -> tuple[ExperimentConfig, dict]:
    """Validate a complete experiment table: the framework's sections and ``[perturbations]``."""
    cfg, tables = load_experiment(table, MODEL_SECTIONS)
    if "perturbations" in tables:
        parse_section(PerturbationSection, tables["perturbations"], "perturbations")
    return cfg, tables


def load(source: str | Path | None) -> tuple[ExperimentConfig, dict]:
    """The experiment configuration: the packaged example overridden by ``source``."""
    table = default_table()
    if source is not None:
        table = merge(table, load_toml(source))
    return load_experiment_tables(table)


def model_config(cfg: ExperimentConfig, tables: Mapping[str, Any]) -> dict:
    """The :class:`LandDAModel` configuration from the experiment's model tables."""
    sub = {k: tables[k] for k in ("grid", "soil", "boundary", "initial", "solver") if k in tables}
    pert = dict(tables.get("perturbations", {}))
    return {"subsurface": sub, "land": dict(tables.get("land", {})),
            "forcing": dict(tables.get("forcing", {})),
            "coupling": {"dt_s": cfg.schedule.coupling_step_s},
            "parameter_fields": ["log10_ks"], "update": cfg.filter.update,
            "perturbations": {"forcing": pert.get("forcing", {}),
                              "forcing_correlation": pert.get("forcing_correlation"),
                              "forcing_correlation_length_m":
                                  pert.get("forcing_correlation_length_m")},
            "seed": cfg.ensemble.seed, "n_members": cfg.ensemble.size}


def soil_bounds(soil: Mapping[str, Any], nz: int, box: Any) -> tuple[np.ndarray, np.ndarray]:
    """``theta_r`` and ``theta_s`` [m3 m-3] of the ``[soil]`` table on a block of columns.

    Values may be scalars, one per layer, one per column ``(ny, nx)`` or one per cell
    ``(nz, ny, nx)``, as the subsurface model accepts them. Returns two arrays broadcastable to
    ``(nz, box.ny, box.nx)``.
    """
    out = []
    for key in ("theta_r", "theta_s"):
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
    return out[0], out[1]

"""The twin experiment's configuration: the packaged example, overrides and the model's tables."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from pdafpy.config import load_toml
from pdafpy.experiment_config import ExperimentConfig, load_experiment

__all__ = ["MODEL_SECTIONS", "default_table", "merge", "load", "model_config"]

MODEL_SECTIONS = ("grid", "soil", "boundary", "initial", "solver", "land", "forcing",
                  "perturbations")


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict:
    """``base`` with ``override``'s keys replacing its own, tables merged recursively."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merge(out[key], value) if isinstance(value, Mapping) and isinstance(
            out.get(key), Mapping) else value
    return out


def default_table() -> dict:
    """The packaged example (``models/landda/default.toml``)."""
    text = resources.files("models.landda").joinpath("default.toml").read_text()
    return tomllib.loads(text)


def load(source: str | Path | None) -> tuple[ExperimentConfig, dict]:
    """The experiment configuration: the packaged example overridden by ``source``."""
    table = default_table()
    if source is not None:
        table = merge(table, load_toml(source))
    return load_experiment(table, MODEL_SECTIONS)


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



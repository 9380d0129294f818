"""Synthetic observations of a twin: grid points of any model field, truth plus noise.

``type = "grid_point"`` is the framework's own observation type, for any model: field ``field``
at level ``level`` observed at every ``stride``-th grid column in x and y (PDAF's
``obs_op_gridpoint``), located at the column's coordinates. A fraction ``withheld_fraction`` of
them, drawn at random from the counter-based generator, is kept back for validation. Values are
the truth's plus Gaussian noise of the configured error, keyed by (seed, analysis, global
observation index): the same on every rank layout.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from .. import random as prng
from ..config import option
from ..errors import ConfigError
from ..experiment_config import ObservationSection
from ..localize import Localization
from ..model import FieldSpec, Grid
from .operators import StencilOperator, grid_point
from .types import ObservationType

__all__ = ["GridPointSection", "SyntheticType", "withheld_mask", "synthetic_values",
           "grid_point_type", "localization_of", "observation_type"]


@dataclass(frozen=True)
class GridPointSection(ObservationSection):
    """Grid-point observations of a model field (``type = "grid_point"``)."""

    type: str = option("grid_point", "observation type")
    field: str = option("", "the observed field (a name of the model's state)")
    level: int = option(0, "the observed level (0 = top)", minimum=0)
    stride: int = option(1, "observe every stride-th grid column in x and in y", minimum=1)


@dataclass
class SyntheticType:
    """One observation type of a twin, before values exist.

    Attributes
    ----------
    section : ObservationSection
    operator : StencilOperator
        Maps the state to every observation of the type.
    coords : (m, 2) ndarray
        Locations, in the grid's coordinates.
    assimilated : (m,) bool ndarray
        False for the observations withheld for validation.
    """

    section: ObservationSection
    operator: StencilOperator
    coords: np.ndarray
    assimilated: np.ndarray


def withheld_mask(count: int, fraction: float, seed: int, purpose: str) -> np.ndarray:
    """``(count,)`` bool: True for the ``round(fraction * count)`` observations kept back,
    drawn at random (counter-based, key ``(seed, purpose)``)."""
    withheld = int(round(fraction * count))
    keys = prng.uniform(seed, purpose, 0, 0, np.arange(count))
    mask = np.zeros(count, dtype=bool)
    mask[np.argsort(keys, kind="stable")[:withheld]] = True
    return mask


def synthetic_values(truth_values: np.ndarray, error: float, seed: int, cycle: int,
                     offset: int) -> np.ndarray:
    """Truth plus noise ``error * z``, ``z`` keyed by (seed, cycle, ``offset`` + index)."""
    noise = prng.standard_normal(seed, "synthetic_observation", cycle, 0,
                                 offset + np.arange(truth_values.size))
    return truth_values + error * noise


def grid_point_type(section: GridPointSection, grid: Grid, fields: Sequence[FieldSpec],
                    seed: int, index: int) -> SyntheticType:
    """The observations of a ``grid_point`` section on ``grid``.

    Raises
    ------
    ConfigError
        If the field is not one of the model's, or has no such level (naming the key).
    """
    levels = {f.name: f.levels for f in fields}
    if section.field not in levels:
        raise ConfigError(f"observations[{index}].field = {section.field!r}: expected one of "
                          f"the model's fields {list(levels)}")
    if section.level >= levels[section.field]:
        raise ConfigError(f"observations[{index}].level = {section.level}: field "
                          f"{section.field!r} has levels 0..{levels[section.field] - 1}")
    rows, cols = np.meshgrid(np.arange(0, grid.ny, section.stride),
                             np.arange(0, grid.nx, section.stride), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    withheld = withheld_mask(rows.size, section.withheld_fraction, seed,
                             f"withheld_observations_{index}")
    return SyntheticType(section, grid_point(section.field, rows, cols, section.level),
                         np.column_stack([grid.x[cols], grid.y[rows]]), ~withheld)


def localization_of(section: ObservationSection, default: Localization) -> Localization:
    """The default localisation, or one cut off at the type's own ``radius_m``."""
    if section.radius_m is None:
        return default
    return replace(default, cradius=section.radius_m, sradius=section.radius_m)


def observation_type(t: SyntheticType, values: np.ndarray,
                     localization: Localization) -> ObservationType:
    """The assimilated observations of ``t`` with the given values (all of the type)."""
    sel = np.flatnonzero(t.assimilated)
    return ObservationType(t.section.type, values[sel], np.full(sel.size, t.section.error),
                           t.coords[sel], t.operator.subset(sel),
                           localization_of(t.section, localization), t.section.inno_omit)

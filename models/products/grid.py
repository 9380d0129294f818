"""The model grid of a land twin configuration, without running the model.

``pdafpy convert --grid CONFIG`` places retrievals on the grid the run will use: the columns of
``[grid]`` (``nx``, ``ny``, ``dx_m``, ``dy_m``, ``crs``, ``origin_m``) of the configuration laid
over the land model's defaults (:func:`models.landda.setup.load`), with column centres at
``x0 + (i + 1/2) dx``, ``y0 + (j + 1/2) dy``, as the Richards grid places them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pdafpy.errors import ConfigError
from pdafpy.model import Grid

__all__ = ["ModelSetup", "model_setup", "model_grid"]


@dataclass(frozen=True)
class ModelSetup:
    """What a conversion takes from a configuration.

    Attributes
    ----------
    grid : Grid
        The model grid (column centres, layer centres, CRS).
    start : str
        ``[schedule] start`` (ISO 8601): the origin of the observation file's times.
    """

    grid: Grid
    start: str


def model_setup(config_path: Path | str) -> ModelSetup:
    """The grid and start of the land twin configuration ``config_path``.

    Raises
    ------
    ConfigError, InputFileError
        A configuration that does not load, naming the key or the file.
    """
    from models.landda.setup import load
    from models.landda.validation import planned_grid

    cfg, tables = load(Path(config_path))
    planned = planned_grid(tables)
    if planned is None:
        raise ConfigError(f"{config_path}: [grid] needs nx, ny and dz_m (or layers)")
    return ModelSetup(planned[0], cfg.schedule.start)


def model_grid(config_path: Path | str) -> Grid:
    """The model grid of the land twin configuration ``config_path`` (see the module notes)."""
    return model_setup(config_path).grid

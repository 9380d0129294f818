"""The land experiment as ``pdafpy run`` sees it (registered for ``model = "coupled"``; the
stand-alone columns' in :mod:`models.landda.standalone`): its tables and defaults, the checks
before any model work, the run (:func:`models.landda.twin.run_twin`) and its restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from pdafpy.checkpoint import read_checkpoint
from pdafpy.errors import ConfigError
from pdafpy.experiment import resolved_configuration
from pdafpy.experiment_config import ExperimentConfig, check_layout

from .analysis_state import check_analysis_tables
from .config_sections import check_field_shapes
from .forcing_perturbations import ForcingVariableSection
from .observations import LandObservationSection
from .qc_rules import check_rules
from .sekf_setup import check_sekf, land_layout_signature
from .setup import MODEL_SECTIONS, packaged_defaults
from .spinup import check_spinup
from .summary import print_summary
from .twin import (EXAMPLE_FILE, PARAMETER_FIELDS, SECONDS_PER_DAY, analysis_schedule,
                   run_twin)
from .validation import check_run, check_tables, grid_shape, planned_fields

__all__ = ["LandTwinExperiment", "read_restart"]


def read_restart(path: Path | str, world: Any, cfg: ExperimentConfig,
                 tables: Mapping[str, Any]) -> tuple[dict, dict]:
    """This rank's part of checkpoint ``path`` and its attributes (collective).

    Raises
    ------
    InputFileError
        If it is missing or unreadable, or was written on another rank layout or with another
        configuration (naming what differs; the keys of
        :data:`pdafpy.experiment.RESTART_FREE` may differ).
    ConfigError
        If ``schedule.length_days`` ends before the checkpoint's time.
    """
    payload, attrs = read_checkpoint(path, world,
                                     land_layout_signature(cfg, tables, world.Get_size()),
                                     resolved_configuration(cfg, tables))
    if int(attrs["cycle"]) >= len(analysis_schedule(cfg)):
        raise ConfigError(f"schedule.length_days = {cfg.schedule.length_days:g}: ends before "
                          f"the checkpoint {path} (day {attrs['time'] / SECONDS_PER_DAY:g})")
    return payload, attrs



class LandTwinExperiment:
    """The land twin as ``pdafpy run`` sees it (registered for ``model = "coupled"``).

    Parameters
    ----------
    packaged : str
        The packaged file the user's configuration overrides: ``default.toml`` (the model's
        defaults) or ``example.toml`` (the packaged example, itself over the defaults).
    """

    modes = ("twin", "truth", "assimilate", "free")

    def __init__(self, packaged: str = "default.toml"):
        self.packaged = packaged

    def example(self) -> "LandTwinExperiment":
        """The experiment ``pdafpy run`` runs without a configuration: the packaged example."""
        return LandTwinExperiment(EXAMPLE_FILE) if self.packaged == "default.toml" else self

    def sections(self) -> dict[str, type]:
        return dict(MODEL_SECTIONS)

    def defaults(self) -> dict[str, Any]:
        return packaged_defaults(self.packaged)

    def inner_sections(self) -> dict[str, type]:
        return {"perturbations.forcing.<variable>": ForcingVariableSection}

    def check(self, cfg: ExperimentConfig, tables: Mapping[str, Any]) -> None:
        from pdafpy.experiment import check_parameters
        fields = [f.name for f in planned_fields(1)]
        for i, s in enumerate(cfg.observations):
            if not isinstance(s, LandObservationSection):
                raise ConfigError(f"observations[{i}].type = {s.type!r}: the land twin observes "
                                  "land types only (those whose section is a "
                                  "LandObservationSection, e.g. satellite_soil_moisture, "
                                  "crns_soil_moisture, groundwater_level, leaf_area_index)")
            check_rules(s, f"observations[{i}]", fields)
            if getattr(s, "coefficients_file", None) == "" and cfg.mode != "truth":
                raise ConfigError(f"observations[{i}].coefficients_file: type {s.type!r} needs "
                                  "its operator's coefficients (pdafpy calibrate vod) wherever "
                                  "an analysis or a free run compares the model with it; only a "
                                  "truth pass does without")
        check_parameters(cfg, list(PARAMETER_FIELDS))
        from .setup import model_parameter_fields
        cfg.state_export.check_fields([f.name for f in planned_fields(
            1, model_parameter_fields(cfg, tables))])
        check_analysis_tables(cfg, fields)
        shape = grid_shape(tables)
        check_sekf(cfg, tables, shape[2] if shape is not None else None)
        check_field_shapes(tables)
        check_tables(cfg, tables)

    def check_layout(self, cfg: ExperimentConfig, tables: Mapping[str, Any],
                     world_size: int) -> None:
        """The checks for ``world_size`` ranks, before any model work (collective under MPI
        with ``world_size`` ranks): the layout, the length, the wells, the grid split, the
        solver options, PETSc's index range, the memory per rank, the observation and forcing
        files (:func:`models.landda.validation.check_run`), a spin-up's file or forcing
        (:func:`models.landda.spinup.check_spinup`)."""
        check_layout(cfg, world_size)
        check_run(cfg, tables, world_size)
        check_spinup(cfg, tables, world_size)

    def run(self, world: Any, cfg: ExperimentConfig, tables: Mapping[str, Any],
            out: Path | None = None, restart: Any = None) -> dict | None:
        return run_twin(world, cfg, tables, out, restart)

    def read_restart(self, path: Path, world: Any, cfg: ExperimentConfig,
                     tables: Mapping[str, Any]) -> Any:
        return read_restart(path, world, cfg, tables)

    def print_summary(self, summary: Mapping[str, Any]) -> None:
        print_summary(summary)

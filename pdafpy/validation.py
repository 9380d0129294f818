"""The framework's part of the validation pass that experiments run in ``check_layout``, for a
number of ranks and before any model work (and before the output folder is made).

- :func:`reporting_rank`: whether this process reads the input files for the check (world rank
  0 of an MPI run of that many ranks; every other rank leaves it to that one, since
  ``pdafpy run`` gathers every rank's error and prints the first);
- :func:`check_observation_files`: ``mode = "assimilate"``'s observation files, read and
  checked (:func:`pdafpy.obs.module.check_files`), with a warning for each type none of whose
  records falls in the run.
"""

from __future__ import annotations

from .experiment_config import ExperimentConfig

__all__ = ["reporting_rank", "check_observation_files"]


def reporting_rank(world_size: int) -> bool:
    """True on world rank 0 of an MPI run of ``world_size`` ranks, and wherever MPI does not run
    with that many ranks (a serial check of a layout)."""
    try:
        from mpi4py import MPI
    except ImportError:                                   # pragma: no cover
        return True
    if not MPI.Is_initialized() or MPI.Is_finalized() \
            or MPI.COMM_WORLD.Get_size() != world_size:
        return True
    return MPI.COMM_WORLD.Get_rank() == 0


def check_observation_files(cfg: ExperimentConfig, world_size: int) -> None:
    """Read and check the observation files of a ``mode = "assimilate"`` run on the reporting
    rank, warning about types with no observation in the run.

    Raises
    ------
    InputFileError
        On the first problem, naming the file and the variable.
    """
    if cfg.mode != "assimilate" or not reporting_rank(world_size):
        return
    from .obs.module import check_files
    check_files(cfg.observations, cfg.schedule.start, cfg.schedule.length_days)

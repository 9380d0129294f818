"""Fault injection for ``pdafpy run``: a tiny land twin and the faults the reliability suite
injects into it (``pdafpy verify faults``, tests of restarts and of the failure policy).

:func:`run_pdafpy` starts ``pdafpy run`` under ``mpirun`` and waits for it; :func:`start_pdafpy`
starts it and returns the process, for faults delivered from outside (signals, a second run).
Faults delivered from inside run this module under ``mpirun`` instead of ``pdafpy``::

    python -m models.landda.faults solve RUN FROM_S TO_S -- [pdafpy run arguments]
    python -m models.landda.faults bug RANK FROM_S -- [pdafpy run arguments]
    python -m models.landda.faults enospc ROWS -- [pdafpy run arguments]

``solve``: every Newton solve of run ``RUN`` in forecasts starting in ``[FROM_S, TO_S)`` [s]
reports non-convergence, on every rank of its task, so the Richards solver cuts its step until it
gives up and raises its real :class:`~pdafpy.errors.ModelError`. ``bug``: world rank ``RANK``
raises a ``RuntimeError`` (an unexpected error, on that rank only) in the first forecast starting
at or after ``FROM_S``. ``enospc``: the output writers fail with the operating system's "No space
left on device" once ``ROWS`` records have been written (where a small tmpfs cannot be mounted).
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

#: A tiny twin: 4 x 3 columns of 6 layers, 4 members, analyses every 6 h, checkpoints every
#: ``{checkpoint_every}`` analyses, members written ({days} days; {ensemble}: more [ensemble]
#: keys). The water-content update makes the next forecast depend on the model's saved
#: forecast head too.
CONFIG = """
[grid]
nx = 4
ny = 3
dz_m = [0.05, 0.1, 0.35, 0.5, 1.0, 2.0]
[ensemble]
size = 4
{ensemble}
[update]
variable = "water_content"
[[observations]]
type = "surface_soil_moisture"
interval_h = 6.0
[[observations]]
type = "groundwater_level"
error = 0.1
interval_h = 12.0
count = 3
withheld_fraction = 0.34
[schedule]
length_days = {days}
checkpoint_every = {checkpoint_every}
[output]
members = true
"""


def write_config(folder: Path, name: str, days: float = 1.0, ensemble: str = "",
                 checkpoint_every: int = 2) -> Path:
    """Write :data:`CONFIG` for ``days`` with extra ``[ensemble]`` lines to ``folder/name``."""
    path = Path(folder) / name
    path.write_text(CONFIG.format(days=days, ensemble=ensemble,
                                  checkpoint_every=checkpoint_every))
    return path


def mpi_environment() -> dict[str, str]:
    """The environment for ``mpirun``: Open MPI may run as root (containers)."""
    return dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def pdafpy_command(args: Sequence[object], ranks: int = 2,
                   inject: Sequence[str] = ()) -> list[str]:
    """``mpirun -n RANKS pdafpy run ARGS``, through this module with ``inject``."""
    command = ([sys.executable, "-m", "models.landda.faults", *inject, "--"] if inject
               else [sys.executable, "-m", "pdafpy.cli", "run"])
    return ["mpirun", "--bind-to", "none", "-n", str(ranks), *command, *map(str, args)]


def run_pdafpy(args: Sequence[object], ranks: int = 2, inject: Sequence[str] = (),
               timeout: float = 120.0) -> subprocess.CompletedProcess:
    """``pdafpy run ARGS`` under ``mpirun -n RANKS``; with ``inject`` (e.g. ``["solve", "1",
    "0", "3600"]``), through this module. Raises ``subprocess.TimeoutExpired`` on a hang."""
    return subprocess.run(pdafpy_command(args, ranks, inject), capture_output=True, text=True,
                          env=mpi_environment(), timeout=timeout)


def start_pdafpy(args: Sequence[object], ranks: int = 2,
                 inject: Sequence[str] = ()) -> subprocess.Popen:
    """Start ``pdafpy run ARGS`` under ``mpirun`` (output captured as text); the caller waits."""
    return subprocess.Popen(pdafpy_command(args, ranks, inject), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=mpi_environment())


def _inject_solve_failure(run: int, from_s: float, to_s: float) -> None:
    from models.richards.model import RichardsModel
    from models.richards.solver import RichardsSolver

    advance, solve = RichardsModel.advance, RichardsSolver._solve

    def failing_advance(self, t0, t1):
        self.solver.injected_failure = self._member == run and from_s <= t0 < to_s
        return advance(self, t0, t1)

    def failing_solve(self, dt, steady=False):
        if getattr(self, "injected_failure", False):
            return False, 0, 0
        return solve(self, dt, steady)

    RichardsModel.advance = failing_advance
    RichardsSolver._solve = failing_solve


def _inject_bug(rank: int, from_s: float) -> None:
    from mpi4py import MPI

    from models.landda.model import LandDAModel

    advance = LandDAModel.advance

    def buggy_advance(self, t0, t1):
        if MPI.COMM_WORLD.Get_rank() == rank and t0 >= from_s:
            raise RuntimeError("injected bug")
        return advance(self, t0, t1)

    LandDAModel.advance = buggy_advance


def _inject_full_disk(rows: int) -> None:
    from pdafpy.segments import SegmentedWriter, write_failure

    written = SegmentedWriter.written

    def filling(self, count):
        if self.writes and self.rows + count > rows:
            raise write_failure(self.part, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        return written(self, count)

    SegmentedWriter.written = filling


def main(argv: list[str]) -> int:
    """Run ``pdafpy run`` with the injection ``argv`` describes (see the module notes)."""
    split = argv.index("--")
    kind, *numbers = argv[:split]
    if kind == "solve":
        _inject_solve_failure(int(numbers[0]), float(numbers[1]), float(numbers[2]))
    elif kind == "bug":
        _inject_bug(int(numbers[0]), float(numbers[1]))
    elif kind == "enospc":
        _inject_full_disk(int(numbers[0]))
    else:
        raise SystemExit(f"models.landda.faults: unknown injection {kind!r}; use 'solve', "
                         "'bug' or 'enospc'")
    from pdafpy.cli import main as pdafpy_main
    return pdafpy_main(["run"] + argv[split + 1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

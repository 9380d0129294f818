"""``pdafpy run`` under mpirun, optionally with an injected failure (tests of restarts and of the
failure policy). :func:`run_pdafpy` starts it from a test; as a script (under ``mpirun``)::

    python tests/failing_run.py solve RUN FROM_S TO_S -- [pdafpy run arguments]
    python tests/failing_run.py bug RANK FROM_S -- [pdafpy run arguments]

``solve``: every Newton solve of run ``RUN`` in forecasts starting in ``[FROM_S, TO_S)`` [s]
reports non-convergence, on every rank of its task, so the Richards solver cuts its step until it
gives up and raises its real :class:`~pdafpy.errors.ModelError`. ``bug``: world rank ``RANK``
raises a ``RuntimeError`` (an unexpected error, on that rank only) in the first forecast starting
at or after ``FROM_S``. Test code only: nothing here is part of pdafpy.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Sequence

REPO = Path(__file__).resolve().parents[1]

#: A tiny twin: 4 x 3 columns of 6 layers, 4 members, analyses every 6 h, checkpoints every 2,
#: members written ({days} days; {ensemble}: more [ensemble] keys). The water-content update
#: makes the next forecast depend on the model's saved forecast head too.
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
checkpoint_every = 2
[output]
members = true
"""


def write_config(folder: Path, name: str, days: float = 1.0, ensemble: str = "") -> Path:
    """Write :data:`CONFIG` for ``days`` with extra ``[ensemble]`` lines to ``folder/name``."""
    path = folder / name
    path.write_text(CONFIG.format(days=days, ensemble=ensemble))
    return path


def run_pdafpy(args: Sequence[object], ranks: int = 2, inject: Sequence[str] = (),
               timeout: float = 120.0) -> subprocess.CompletedProcess:
    """``pdafpy run ARGS`` under ``mpirun -n RANKS``; with ``inject`` (e.g. ``["solve", "1",
    "0", "3600"]``), through this script. Raises ``subprocess.TimeoutExpired`` on a hang."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = ([sys.executable, str(Path(__file__).resolve()), *inject, "--"] if inject
               else [sys.executable, "-m", "pdafpy.cli", "run"])
    return subprocess.run(["mpirun", "-n", str(ranks), *command, *map(str, args)],
                          capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO)


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


def main(argv: list[str]) -> int:
    split = argv.index("--")
    kind, *numbers = argv[:split]
    if kind == "solve":
        _inject_solve_failure(int(numbers[0]), float(numbers[1]), float(numbers[2]))
    elif kind == "bug":
        _inject_bug(int(numbers[0]), float(numbers[1]))
    else:
        raise SystemExit(f"failing_run.py: unknown injection {kind!r}; use 'solve' or 'bug'")
    from pdafpy.cli import main as pdafpy_main
    return pdafpy_main(["run"] + argv[split + 1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""A study as Slurm jobs (``pdafpy study CONFIG --slurm DIR``, or ``pdafpy slurm STUDY.toml
--slurm DIR``): one array of truth passes (one task per seed, with the seed's calibration), one
array of runs depending on it (one task per run and seed), and the table after both.

``bash DIR/submit.sh`` submits the three with their dependencies; every array task runs
``pdafpy study CONFIG --stage truth|run --index $SLURM_ARRAY_TASK_ID`` on ``--ntasks`` MPI
ranks, and the table job ``--stage table``. The site-specific lines (modules, the environment)
are marked in each script, as in ``slurm/*.sbatch`` (docs/cluster.md).
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Sequence

from .study_config import StudyRun, StudySection

__all__ = ["write_jobs"]

_HEADER = """#!/bin/bash
# {what}
# Written by `pdafpy study {config} --slurm {folder}`; submit all three with `bash {folder}/submit.sh`.
#SBATCH --job-name=pdafpy-{tag}-{part}
#SBATCH --ntasks={ntasks}
#SBATCH --cpus-per-task=1
#SBATCH --time={time}
{partition}#SBATCH --partition={partition_name}
{account}#SBATCH --account={account_name}
#SBATCH --output={folder}/logs/%x-%A_%a.out
{array}
set -eo pipefail
# ---- site-specific: BEGIN (as slurm/*.sbatch: the MPI and PETSc of mpi4py/petsc4py, the venv) ----
module load OpenMPI PETSc
source "$HOME/venvs/pdafpy/bin/activate"
# ---- site-specific: END ---------------------------------------------------------------------------
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
srun --ntasks={ntasks} --cpus-per-task=1 pdafpy study {config} --out {out}{quick} {stage}
"""


def _script(args: argparse.Namespace, study: StudySection, part: str, what: str,
            stage: str, array: str, ntasks: int) -> str:
    return _HEADER.format(
        what=what, config=shlex.quote(str(args.config)), folder=shlex.quote(str(args.slurm)),
        tag=study.tag, part=part, ntasks=ntasks, time=args.time,
        partition="" if args.partition else "#", partition_name=args.partition or "PARTITION",
        account="" if args.account else "#", account_name=args.account or "ACCOUNT",
        array=f"#SBATCH --array={array}" if array else "", out=shlex.quote(str(args.out_path)),
        quick=" --quick" if args.quick else "", stage=stage)


def write_jobs(args: argparse.Namespace, study: StudySection, seeds: Sequence[int],
               runs: Sequence[StudyRun], out: Path) -> list[Path]:
    """Write ``truth.sbatch``, ``runs.sbatch``, ``table.sbatch`` and ``submit.sh`` into
    ``args.slurm``; the paths written. ``args`` holds the command line of ``pdafpy study``
    (``config``, ``slurm``, ``ntasks``, ``time``, ``partition``, ``account``, ``quick``,
    ``seeds``, ``runs``, ``tasks``)."""
    folder = Path(args.slurm)
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    args.out_path = out
    select = (f" --seeds {' '.join(map(str, seeds))}"
              + (f" --runs {' '.join(shlex.quote(r.name) for r in runs)}" if args.runs else "")
              + (f" --tasks {args.tasks}" if args.tasks else ""))
    scripts = {
        "truth.sbatch": _script(args, study, "truth", "The truth pass of each seed (and its "
                                "calibration), one array task per seed.",
                                f"--stage truth --index $SLURM_ARRAY_TASK_ID{select}",
                                f"0-{len(seeds) - 1}", args.ntasks),
        "runs.sbatch": _script(args, study, "runs", "Every run of every seed, one array task "
                               "each (seed-major order).",
                               f"--stage run --index $SLURM_ARRAY_TASK_ID{select}",
                               f"0-{len(seeds) * len(runs) - 1}", args.ntasks),
        "table.sbatch": _script(args, study, "table", "The paper's table and the findings, "
                                "from what the runs wrote.", f"--stage table{select}", "", 1),
    }
    written = []
    for name, text in scripts.items():
        path = folder / name
        path.write_text(text)
        written.append(path)
    submit = folder / "submit.sh"
    q = shlex.quote(str(folder))
    submit.write_text(
        "#!/bin/bash\n# Submit the study's truth passes, then its runs, then its table.\n"
        "set -eo pipefail\n"
        f"truth=$(sbatch --parsable {q}/truth.sbatch)\n"
        f"runs=$(sbatch --parsable --dependency=afterok:${{truth}} {q}/runs.sbatch)\n"
        f"sbatch --dependency=afterany:${{runs}} {q}/table.sbatch\n")
    written.append(submit)
    return written

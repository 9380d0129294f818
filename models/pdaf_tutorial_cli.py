"""PDAF's 2D tutorial, offline or online, under mpirun

``pdafpy tutorial {offline,online}`` writes PDAF's output files (see
:mod:`models.pdaf_tutorial`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

__all__ = ["main"]

log = logging.getLogger("pdafpy.tutorial")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pdafpy tutorial",
                                description="PDAF's 2D tutorial, offline or online (under mpirun)")
    p.add_argument("mode", choices=["offline", "online"])
    p.add_argument("--inputs", type=Path, required=True,
                   help="folder with PDAF's tutorial inputs (inputs_offline or inputs_online)")
    p.add_argument("--out", type=Path, required=True, help="folder for the output files")
    p.add_argument("--filter", default="lestkf",
                   help="estkf, etkf, lestkf, letkf, or PDAF's type number (default lestkf)")
    p.add_argument("--cradius", type=float, default=0.0, help="cut-off radius [grid units]")
    p.add_argument("--sradius", type=float, default=None,
                   help="support radius [grid units] (default: cradius)")
    p.add_argument("--locweight", type=int, default=0,
                   help="PDAF weight code: 0 uniform, 1 exponential, 2 Gaspari-Cohn, 5 Gaussian")
    p.add_argument("--forget", type=float, default=1.0, help="forgetting factor")
    p.add_argument("--type-trans", type=int, default=0, help="PDAF's type_trans")
    p.add_argument("--obs", default="A", help="observation types, e.g. A or A,B,C")
    p.add_argument("--tasks", type=int, default=1, help="model tasks (online)")
    p.add_argument("--filter-ranks", type=int, default=0,
                   help="separate filter ranks (online; 0: task 0 analyses)")
    return p


def main(argv: list[str]) -> int:
    """Run ``pdafpy tutorial``; returns the exit status."""
    from mpi4py import MPI

    from pdafpy.filters import filter_name

    from .pdaf_tutorial import TutorialSettings, run_offline, run_online

    args = _parser().parse_args(argv)

    settings = TutorialSettings(filter=filter_name(args.filter), cradius=args.cradius,
                                sradius=args.sradius, locweight=args.locweight,
                                forget=args.forget, type_trans=args.type_trans,
                                obs_types=args.obs, tasks=args.tasks,
                                filter_ranks=args.filter_ranks)
    settings.types()
    settings.localization()
    if args.mode == "offline":
        run_offline(MPI.COMM_WORLD, args.inputs, args.out, settings)
    else:
        run_online(MPI.COMM_WORLD, args.inputs, args.out, settings)
    if MPI.COMM_WORLD.Get_rank() == 0:
        log.info("tutorial %s (%s) written to %s", args.mode, settings.filter, args.out)
    return 0

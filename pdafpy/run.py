"""``pdafpy run [CONFIG]``: the experiment a configuration describes, under ``mpirun``.

The configuration's ``model`` picks the experiment (:mod:`pdafpy.experiment`): the one a model
package registered (the coupled land model's twin, whose packaged example runs without a
configuration), or pdafpy's generic twin and free run (:mod:`pdafpy.twin`) for any other model;
``mode`` picks twin or free run. Every key of every section is validated on every rank before
any model work; a bad one is reported in one line and the exit status is 2. ``--check`` stops
there, after reading the observation files too (exit 0 when everything is valid for this number
of ranks). A run holds its output folder (:mod:`pdafpy.output_lock`): a second run into the same
folder is refused in one line, exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

from .cycle import RunFailed
from .errors import PdafpyError, RefusedOnEveryRank
from .experiment import load_configuration
from .output_lock import output_lock

__all__ = ["main", "run_collectively"]

log = logging.getLogger("pdafpy.run")
T = TypeVar("T")


def main(argv: list[str] | None = None) -> int:
    """Run ``pdafpy run``; returns the exit status (0 done, 1 the run failed, 2 bad input)."""
    from mpi4py import MPI

    parser = argparse.ArgumentParser(prog="pdafpy run", description=__doc__.split("\n")[0])
    parser.add_argument("config", nargs="?",
                        help="experiment TOML (default: the packaged example)")
    parser.add_argument("--out", type=Path, help="output folder (overrides [output] directory)")
    parser.add_argument("--tasks", type=int, metavar="N",
                        help="model tasks (overrides [parallel] tasks; PDAF's n_modeltasks)")
    parser.add_argument("--restart", type=Path, metavar="CKPT",
                        help="continue from a checkpoint of this configuration and rank layout")
    parser.add_argument("--check", action="store_true",
                        help="validate the configuration (for this number of ranks) and stop")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="debug output too (e.g. every rejected time step)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="warnings and errors only: no line per analysis, no progress bar")
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    world = MPI.COMM_WORLD
    # SIGTERM (Slurm's time limit, mpirun passing on its own) ends a process at once, as kill -9
    # does, on any number of ranks; mpirun then ends the job.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if world.Get_size() > 1:
        # A rank waiting in an MPI call cannot run Python's SIGINT handler, and one that did would
        # wait at exit for ranks that wait for it: Ctrl-C reaching any rank ends that process the
        # same way. Closed output segments and the last checkpoint stay valid (both are written
        # under temporary names and renamed into place).
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    error = loaded = restart = None
    try:
        overrides = {"parallel": {"tasks": args.tasks}} if args.tasks is not None else None
        loaded = load_configuration(args.config, overrides=overrides)
        loaded.experiment.check_layout(loaded.cfg, loaded.tables, world.Get_size())
        if args.restart is not None and not args.check:
            restart = loaded.experiment.read_restart(args.restart, world, loaded.cfg,
                                                     loaded.tables)
    except PdafpyError as exc:
        log.debug("validation failed", exc_info=True)        # the traceback with -v
        error = str(exc)
    errors = [e for e in world.allgather(error) if e is not None]
    if errors:
        if world.Get_rank() == 0:
            print(f"pdafpy run: error: {errors[0]}", file=sys.stderr)
        return 2
    if args.check:
        if world.Get_rank() == 0:
            print(f"pdafpy run: {args.config or 'the packaged example'}: valid "
                  f"(model {loaded.cfg.model!r}, mode {loaded.cfg.mode!r}, "
                  f"{world.Get_size()} rank{'s' if world.Get_size() > 1 else ''})")
        return 0
    folder = args.out if args.out is not None else Path(loaded.cfg.output.directory)

    def locked_run() -> Any:
        with output_lock(world, folder):
            return loaded.experiment.run(world, loaded.cfg, loaded.tables, args.out, restart)

    status, summary = run_collectively(world, "pdafpy run", locked_run)
    if summary is not None:
        loaded.experiment.print_summary(summary)
    return status


def run_collectively(world: Any, prog: str, work: Callable[[], T]) -> tuple[int, T | None]:
    """Run a command's collective ``work`` on every rank of ``world``; returns the exit status
    (0 done, 1 failed, 2 bad input, 130 interrupted by Ctrl-C on one rank) and what ``work``
    returned (None on failure).

    An error raised alike on every rank (:class:`RunFailed`, :class:`RefusedOnEveryRank`) is
    printed once, by rank 0; any other is this rank's alone, so it is printed by this rank (a
    bug with its traceback; a diagnosed :class:`PdafpyError` such as a write error in one line,
    with the traceback at log level DEBUG) and the job aborted, since the other ranks may be
    waiting for this one.
    """
    try:
        return 0, work()
    except KeyboardInterrupt:                       # one rank (several: see main)
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130, None
    except (RunFailed, RefusedOnEveryRank) as exc:
        if world.Get_rank() == 0:
            print(f"{prog}: error: {exc}", file=sys.stderr)
        return (1 if isinstance(exc, RunFailed) else 2), None
    except Exception as exc:                        # this rank only: the others may be waiting
        # a diagnosed failure (e.g. a write error) is one line, its traceback with -v; a bug's
        # traceback is always logged
        diagnosed = isinstance(exc, PdafpyError)
        if not diagnosed or log.isEnabledFor(logging.DEBUG):
            log.error("rank %d failed", world.Get_rank(), exc_info=True)
        print(f"{prog}: error on rank {world.Get_rank()}: {exc}", file=sys.stderr)
        sys.stderr.flush()
        if world.Get_size() > 1:
            world.Abort(1)
        return 1, None
    except BaseException as exc:                    # e.g. SystemExit from a model, this rank's
        print(f"{prog}: rank {world.Get_rank()} ended by {type(exc).__name__}"
              + (f": {exc}" if str(exc) else ""), file=sys.stderr)
        sys.stderr.flush()
        if world.Get_size() > 1:
            world.Abort(1)
        raise

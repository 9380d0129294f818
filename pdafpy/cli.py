"""The ``pdafpy`` command line.

Subcommands
-----------
``pdafpy run [CONFIG]``
    The main job: the experiment a configuration describes (without one, the packaged example,
    a small twin experiment), run under ``mpirun``.
``pdafpy analyse CONFIG [--out DIR] [-q]``
    One analysis of a gridded ensemble read from NetCDF files, with observations from pdafpy's
    observation files (PDAF's offline mode; see docs/offline.md), run under ``mpirun``; writes
    the analysis ensemble in the input's layout and its mean.
``pdafpy tutorial {offline,online}``
    PDAF's 2D tutorial (run under ``mpirun``), writing PDAF's output files; a command registered
    by the models package (entry-point group ``pdafpy.commands``), like any other package may.
``pdafpy verify SUITE``
    A verification suite (``tutorial``; others registered by installed packages under the
    entry-point group ``pdafpy.verify``); prints a table and exits non-zero on any failure.
``pdafpy bench NAME``
    A benchmark against published results (``l96``; entry-point group ``pdafpy.bench``).
``pdafpy slurm CONFIG --nodes N --ranks-per-task P``
    Print a filled-in sbatch script for a configuration (see docs/cluster.md).
``pdafpy report OUTDIR [--cells ROW,COL ...] [--out FOLDER]``
    PNG figures of a finished ``pdafpy run``, by the report its model registered (group
    ``pdafpy.report``; the land twin's: :mod:`models.landda.report`); prints the files written.

MPI is initialised only by subcommands that need it, so ``pdafpy verify`` can start its cases as
``mpirun`` subprocesses.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

from .errors import InputFileError, PdafpyError
from .parallel import limit_threads
from .registry import registered

__all__ = ["main"]

def _report_writer(outdir: Path) -> Any:
    """The ``write_report`` registered (group ``pdafpy.report``) for the model of the run in
    ``outdir``: its ``summary.json`` names it (a run that names none is the coupled model's)."""
    summary = Path(outdir) / "summary.json"
    model = "coupled"
    if summary.is_file():
        try:
            model = json.loads(summary.read_text()).get("model", model)
        except (ValueError, OSError) as exc:
            raise InputFileError(f"{summary}: not readable as JSON ({exc}); expected the "
                                 "summary.json pdafpy run writes") from None
    writers = registered("pdafpy.report")
    if model not in writers:
        raise InputFileError(f"{outdir}: a run of model {model!r}, for which no report is "
                             f"installed (reports: {', '.join(sorted(writers)) or 'none'})")
    return writers[model].load()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``pdafpy`` console script; returns the exit status."""
    limit_threads()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["slurm"]:                       # its own parser, --help included
        from .slurm import main as slurm_main
        return slurm_main(argv[1:])
    if argv[:1] == ["run"]:                         # its own parser (-v, -q, --check too)
        from .run import main as run_main
        return run_main(argv[1:])
    if argv[:1] == ["analyse"]:                     # its own parser (--out, -q)
        from .offline import main as analyse_main
        return analyse_main(argv[1:])
    parser = argparse.ArgumentParser(prog="pdafpy", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    sub = parser.add_subparsers(dest="command", required=True)
    groups = {"verify": "pdafpy.verify", "bench": "pdafpy.bench"}
    commands = registered("pdafpy.commands")
    for name, ep in sorted(commands.items()):
        try:
            doc = (importlib.import_module(ep.module).__doc__ or ep.module).strip()
        except ImportError as exc:                  # one broken package breaks no other command
            doc = f"(cannot be loaded: {exc})"
        pc = sub.add_parser(name, help=doc.split("\n")[0].rstrip(".,"), add_help=False)
        pc.add_argument("rest", nargs=argparse.REMAINDER, help=f"options of pdafpy {name}")
    for command, help_text in (("verify", "run a verification suite against reference results"),
                               ("bench", "run a benchmark against published results")):
        p = sub.add_parser(command, help=help_text)
        names = ", ".join(sorted(registered(groups[command]))) or "none"
        p.add_argument("suite", help=f"one of: {names}")
        p.add_argument("rest", nargs=argparse.REMAINDER, help="options of the suite")
    prun = sub.add_parser("run", help="the experiment a configuration describes (without one, "
                          "the packaged example), under mpirun", add_help=False)
    prun.add_argument("rest", nargs=argparse.REMAINDER, help="options of pdafpy run")
    pa = sub.add_parser("analyse", help="one offline analysis of an ensemble in NetCDF files "
                        "(docs/offline.md)", add_help=False)
    pa.add_argument("rest", nargs=argparse.REMAINDER, help="options of pdafpy analyse")
    ps = sub.add_parser("slurm", help="print a filled-in sbatch script (docs/cluster.md)",
                        add_help=False)
    ps.add_argument("rest", nargs=argparse.REMAINDER, help="options of pdafpy slurm")
    pr = sub.add_parser("report", help="PNG figures of a finished pdafpy run")
    pr.add_argument("outdir", type=Path, help="output folder of pdafpy run")
    pr.add_argument("--cells", nargs="+", metavar="ROW,COL",
                    help="cells of the time-series figure, 0-based (default: 3 on the diagonal)")
    pr.add_argument("--out", type=Path, help="folder for the figures (default OUTDIR/report)")
    args, unknown = parser.parse_known_args(argv)
    if args.command in ("run", "analyse") or args.command in commands:
        args.rest = unknown + args.rest             # their own parsers read their options
    elif unknown:
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")

    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    try:
        if args.command in commands:
            return int(commands[args.command].load()(args.rest) or 0)
        if args.command == "run":                   # options before the subcommand
            from .run import main as run_main
            return run_main(args.rest + (["-q"] if args.quiet else [])
                            + (["-v"] if args.verbose else []))
        if args.command == "analyse":               # options before the subcommand
            from .offline import main as analyse_main
            return analyse_main(args.rest + (["-q"] if args.quiet else []))
        if args.command == "report":
            for path in _report_writer(args.outdir)(args.outdir, args.out, args.cells):
                print(path)
            return 0
        suites = registered(groups[args.command])
        if args.suite not in suites:
            parser.error(f"unknown {args.command} suite {args.suite!r}; "
                         f"installed: {sorted(suites)}")
        return int(suites[args.suite].load()(args.rest) or 0)
    except PdafpyError as exc:
        print(f"pdafpy: error: {exc}", file=sys.stderr)
        _abort_if_parallel()
        return 2


def _abort_if_parallel() -> None:
    """End every rank of an MPI job when one rank fails, instead of leaving the others waiting.

    Errors found from the same inputs on every rank reach this point on every rank; a rank-local
    failure must not hang the job, so a multi-rank run is aborted.
    """
    if "mpi4py.MPI" not in sys.modules:
        return
    from mpi4py import MPI
    if MPI.Is_initialized() and MPI.COMM_WORLD.Get_size() > 1:
        sys.stderr.flush()
        MPI.COMM_WORLD.Abort(2)


if __name__ == "__main__":
    sys.exit(main())

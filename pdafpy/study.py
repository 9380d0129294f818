"""``pdafpy study CONFIG``: a study's matrix of twin runs, tabulated against the paper.

Under ``mpirun`` every rank takes part in every run, one after the other. For each seed the
truth pass runs first (``OUT/seed_<seed>/truth``: the truth and its observation file), then
each run of the matrix from that file (``OUT/seed_<seed>/<run>``). A finished truth pass or run
whose configuration is unchanged is reused (``--fresh`` runs everything again), so a study
interrupted, extended by a seed, or given new findings costs only what is missing. Then rank 0
prints the paper's table beside the twin's (median and range over the seeds) and the findings,
and writes ``OUT/study.json``, ``OUT/study.md`` and ``OUT/findings.png``.

On a cluster, ``--slurm DIR`` writes the same matrix as Slurm jobs (the truth passes as one
array, the runs as a second array depending on it, one array task per run, then the table):
``bash DIR/submit.sh`` submits them. ``--stage truth|run|table --index K`` is what those jobs
run. Every configuration of the matrix is validated for this number of ranks before any model
work; a bad key is reported in one line, exit status 2. Exit status 1 if a run failed (what
finished stays on disk), else 0: whether the findings reproduce is reported, not a failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .atomic import write_json
from .errors import ConfigError, PdafpyError
from .study_config import (StudyRun, StudySection, fill_placeholders, free_tables,
                           preflight_tables, read_study, run_tables, table_digest, truth_tables)

__all__ = ["main", "matrix", "Job"]

log = logging.getLogger("pdafpy.study")
#: The file beside a finished truth pass or run: the digest of the configuration it ran.
STAMP = "study_stamp.json"


@dataclass(frozen=True)
class Job:
    """One truth pass or run of a seed."""

    name: str
    seed: int
    folder: Path
    table: dict                   # the configuration it runs
    preflight: dict               # the configuration validated before any model work
    digest: str                   # of its configuration and, for a run, its truth pass's


def matrix(study: StudySection, experiment: dict, seeds: Sequence[int], quick: bool,
           out: Path, runs: Sequence[StudyRun]) -> list[Job]:
    """Every job of the study in order, each seed's truth pass before its runs. A run's
    preflight table is the run as a twin (its observation file does not exist yet)."""
    jobs = []
    for seed in seeds:
        folder = out / f"seed_{seed}" / "truth"
        truth = truth_tables(study, experiment, seed, quick)
        jobs.append(Job("truth", seed, folder, truth, truth, table_digest(truth)))
        if study.calibration.commands:
            free = free_tables(study, experiment, seed, quick, folder)
            jobs.append(Job("free", seed, out / f"seed_{seed}" / "free", free,
                            dict(free, mode="twin", observations=[], verification={}),
                            table_digest({"free": free, "truth": truth,
                                          "commands": study.calibration.commands})))
        for r in runs:
            table = run_tables(study, r, experiment, seed, quick, folder)
            jobs.append(Job(r.name, seed, out / f"seed_{seed}" / r.name, table,
                            preflight_tables(study, r, experiment, seed, quick),
                            table_digest({"run": table, "truth": truth})))
    return jobs


def _finished(job: Job) -> bool:
    stamp = job.folder / STAMP
    if not (stamp.is_file() and (job.folder / "summary.json").is_file()):
        return False
    return json.loads(stamp.read_text()).get("digest") == job.digest


def _load(name: str, seed: int, table: dict, world_size: int, tasks: int | None) -> Any:
    """A job's configuration loaded and checked for ``world_size`` ranks."""
    from .experiment import load_configuration

    overrides = {"parallel": {"tasks": tasks}} if tasks is not None \
        and table.get("mode") != "truth" else None      # a truth pass is one run, one task
    try:
        conf = load_configuration(table, overrides=overrides)
        conf.experiment.check_layout(conf.cfg, conf.tables, world_size)
    except PdafpyError as exc:
        raise ConfigError(f"run {name!r} (seed {seed}): {exc}") from None
    return conf


def _validate(jobs: Sequence[Job], world_size: int, tasks: int | None) -> None:
    """Every job's preflight configuration checked for ``world_size`` ranks."""
    for job in jobs:
        _load(job.name, job.seed, job.preflight, world_size, tasks)


def _calibrate(world: Any, job: Job, commands: Sequence[Sequence[str]]) -> int:
    """The calibration commands after a seed's free run, on rank 0; their exit status."""
    from .cli import main as pdafpy_main

    status = 0
    if world.Get_rank() == 0:
        seed_folder = job.folder.parent
        for words in commands:
            argv = [w.replace("{free}", str(job.folder))
                    .replace("{observations}", str(seed_folder / "truth" / "observations.nc"))
                    for w in fill_placeholders(list(words), seed_folder)]
            print(f"  pdafpy {' '.join(argv)}", flush=True)
            status = pdafpy_main(argv)
            if status != 0:
                print(f"pdafpy study: error: pdafpy {' '.join(argv)} failed (status {status})",
                      file=sys.stderr)
                break
    return world.bcast(status, root=0)


def _run_one(world: Any, job: Job, tasks: int | None, fresh: bool,
             commands: Sequence[Sequence[str]] = ()) -> tuple[int, float]:
    """One job, unless already finished; (exit status, wall seconds). After the free run, the
    calibration ``commands``."""
    from .output_lock import output_lock
    from .run import run_collectively

    rank0 = world.Get_rank() == 0
    if world.bcast(not fresh and rank0 and _finished(job), root=0):   # rank 0 writes the stamps
        if rank0:
            print(f"  {job.name} seed {job.seed}: reused ({job.folder})", flush=True)
            return 0, json.loads((job.folder / "summary.json").read_text()).get("wall_s", 0.0)
        return 0, 0.0
    error = None
    try:                                            # a run's load reads the truth's file
        conf = _load(job.name, job.seed, job.table, world.Get_size(), tasks)
    except PdafpyError as exc:
        error = str(exc)
    errors = [e for e in world.allgather(error) if e is not None]
    if errors:
        if world.Get_rank() == 0:
            print(f"pdafpy study: error: {errors[0]}", file=sys.stderr)
        return 2, 0.0
    if world.Get_rank() == 0:
        (job.folder / STAMP).unlink(missing_ok=True)
    world.Barrier()

    def work() -> Any:
        with output_lock(world, job.folder):
            return conf.experiment.run(world, conf.cfg, conf.tables, job.folder, None)

    status, summary = run_collectively(world, "pdafpy study", work)
    wall = float(summary.get("wall_s", 0.0)) if isinstance(summary, dict) else 0.0
    if status == 0 and job.name == "free":
        status = _calibrate(world, job, commands)
    if world.Get_rank() == 0:
        if status == 0:
            write_json(job.folder / STAMP, {"digest": job.digest, "run": job.name,
                                            "seed": job.seed})
        print(f"  {job.name} seed {job.seed}: " + (f"{wall:.0f} s" if status == 0
                                                   else f"failed (status {status})"),
              flush=True)
    return world.bcast(status, root=0), wall


def _tabulate(study: StudySection, out: Path, seeds: Sequence[int], json_path: Path | None,
              walls: dict) -> None:
    from .study_results import (format_report, judge_findings, plot_findings, read_summaries,
                                results_json, table_rows)

    summaries = read_summaries(study, out, seeds)
    rows = table_rows(study, summaries, seeds)
    findings = judge_findings(study, summaries, seeds)
    report = format_report(study, rows, findings, seeds)
    print(report)
    result = results_json(study, rows, findings, seeds, walls)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "study.json", result)
    (out / "study.md").write_text(report + "\n")
    plot_findings(study, findings, out / "findings.png")
    if json_path is not None:
        write_json(json_path, result)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pdafpy study", description=__doc__.split("\n")[0])
    p.add_argument("config", type=Path, help="the study file (configs/studies/*.toml)")
    p.add_argument("--quick", action="store_true", help="lay [study] quick over every run and "
                   "take the first seed only (a smoke test: the table, not the science)")
    p.add_argument("--seeds", type=int, nargs="+", help="override [study] seeds")
    p.add_argument("--runs", nargs="+", metavar="RUN", help="only these runs (default: all)")
    p.add_argument("--tasks", type=int, metavar="N", help="model tasks of every run")
    p.add_argument("--out", type=Path, help="output folder (default: out/studies/<tag>)")
    p.add_argument("--json", type=Path, help="also write the table and findings here")
    p.add_argument("--fresh", action="store_true", help="run everything again, even what is "
                   "finished with the same configuration")
    p.add_argument("--stage", choices=("truth", "run", "table"), help="one part only (what the "
                   "Slurm jobs of --slurm run): the truth pass of seed number --index, run "
                   "number --index (seed-major), or the table")
    p.add_argument("--index", type=int, default=0, help="with --stage (SLURM_ARRAY_TASK_ID)")
    p.add_argument("--slurm", type=Path, metavar="DIR", help="write the study as Slurm jobs "
                   "into DIR (see --ntasks, --time, --partition, --account) and stop")
    p.add_argument("--ntasks", type=int, default=2, help="--slurm: MPI ranks per run")
    p.add_argument("--time", default="02:00:00", help="--slurm: time limit per run")
    p.add_argument("--partition", default="", help="--slurm: partition")
    p.add_argument("--account", default="", help="--slurm: account")
    p.add_argument("-v", "--verbose", action="store_true", help="the runs' log too")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``pdafpy study``; the exit status (the same on every rank)."""
    from mpi4py import MPI

    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.INFO if args.verbose else logging.WARNING)
    world = MPI.COMM_WORLD
    rank0 = world.Get_rank() == 0
    error = None
    try:
        study, experiment = read_study(args.config)
        seeds = list(args.seeds or study.seeds)[:1 if args.quick and not args.seeds else None]
        if len(set(seeds)) != len(seeds):
            raise ConfigError(f"--seeds {' '.join(map(str, seeds))}: a seed is given twice")
        known = study.runs()
        for name in args.runs or ():
            if name not in known:
                raise ConfigError(f"--runs {name}: not a run of {args.config} "
                                  f"({', '.join(known)})")
        runs = [known[n] for n in (args.runs or known)]
        out = args.out or Path("out/studies") / study.tag
        jobs = matrix(study, experiment, seeds, args.quick, out, runs)
        if args.slurm is not None:
            from .study_slurm import write_jobs
            _validate(jobs, args.ntasks, args.tasks)
            if rank0:
                for path in write_jobs(args, study, seeds, runs, out):
                    print(path)
            return 0
        if args.stage != "table":
            _validate(jobs, world.Get_size(), args.tasks)
    except PdafpyError as exc:
        error = str(exc)
    if world.allreduce(error is not None, op=MPI.LOR):
        if rank0:
            print(f"pdafpy study: error: {error}", file=sys.stderr)
        return 2
    status, walls = 0, {}
    selected: Sequence[int] = range(len(jobs))
    per_seed = len(jobs) // len(seeds)              # truth, [free], runs
    first_run = per_seed - len(runs)
    if args.stage == "truth":                       # the truth pass and any calibration
        selected = [per_seed * args.index + k for k in range(first_run)] \
            if args.index < len(seeds) else [len(jobs)]
    elif args.stage == "run":
        seed_no, run_no = divmod(args.index, len(runs))
        selected = [per_seed * seed_no + first_run + run_no]
    elif args.stage == "table":
        selected = []
    if any(i >= len(jobs) for i in selected):
        if rank0:
            print(f"pdafpy study: error: --index {args.index}: beyond the {args.stage} jobs",
                  file=sys.stderr)
        return 2
    if rank0 and selected:
        print(f"{study.tag}: {len(runs)} runs x {len(seeds)} seeds into {out}", flush=True)
    for i in selected:
        job = jobs[i]
        missing = job.name != "truth" and not (job.folder.parent / "truth" / STAMP).is_file() \
            or job.name not in ("truth", "free") and bool(study.calibration.commands) \
            and not (job.folder.parent / "free" / STAMP).is_file()
        if world.bcast(missing, root=0):            # rank 0 wrote the stamps
            if rank0:
                print(f"pdafpy study: error: {job.name} seed {job.seed}: its truth pass (or "
                      f"calibration) in {job.folder.parent} has not run", file=sys.stderr)
            return 1
        status, wall = _run_one(world, job, args.tasks, args.fresh,
                                study.calibration.commands)
        walls[f"{job.name}/seed_{job.seed}"] = wall
        if status != 0:
            break
    if rank0 and args.stage in (None, "table"):
        _tabulate(study, out, seeds, args.json, walls)
    return world.bcast(status, root=0)

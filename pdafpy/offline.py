"""``pdafpy analyse CONFIG``: one analysis of a gridded ensemble read from files (PDAF's offline
mode).

The forecast ensemble (NetCDF, a file per member or one file with a member dimension;
:mod:`pdafpy.ensemble_files`) and the observations (pdafpy's observation files,
:mod:`pdafpy.obs.files`) are read, the analysis is computed by
:func:`pdafpy.cycle.analysis_step` with the grid's columns split over all MPI ranks (each rank
reads only its block), and the analysis ensemble is written in the input's layout plus its mean.
The configuration (``docs/offline.md``) holds ``[forecast]`` (the files, fields and analysis
time), the framework's ``[filter]``, ``[localization]``, ``[inflation]`` and
``[[observations]]`` tables, and ``[output]``.

Observation times count from the analysis time: each type takes the observations of its window
(``window_h``, default ``interval_h``) ending at the analysis time (``window_position = "end"``:
``(t - window, t]``) or centred on it (``"centre"``). Any bad input (a key, an ensemble or
observation file) is reported in one line on rank 0, before any analysis, and the exit status
is 2; every rank stops alike.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

import numpy as np

from .config import load_toml, option, parse_section
from .errors import ConfigError, PdafpyError, RefusedOnEveryRank
from .experiment_config import (FilterSection, InflationSection, LocalizationSection,
                                ObservationSection)
from .run import run_collectively

__all__ = ["ForecastSection", "AnalysisOutputSection", "OfflineConfig", "load_offline_config",
           "run_analysis", "main"]

log = logging.getLogger(__name__)
T = TypeVar("T")
SQUARE_ROOT_FILTERS = ("estkf", "lestkf", "etkf", "letkf", 4, 5, 6, 7)


@dataclass(frozen=True)
class ForecastSection:
    """The forecast ensemble to analyse."""

    files: tuple[str, ...] = option((), "a file per member, in member order")
    pattern: str = option("", "a shell pattern matching a file per member (numbers in names "
                          "sort as numbers: ens_2 before ens_10)")
    file: str = option("", "one file holding every member along member_dimension")
    member_dimension: str = option("member", "the member dimension of the one-file layout")
    fields: tuple[str, ...] = option((), "the field variables forming the state, in order")
    time: str = option("", "the analysis time (ISO 8601, no zone); observation windows end at "
                       "or centre on it")

    def check(self, path: str) -> None:
        given = [k for k in ("files", "pattern", "file") if getattr(self, k)]
        if len(given) != 1:
            raise ConfigError(f"{path}: give exactly one of files, pattern, file (given: "
                              f"{', '.join(given) or 'none'})")
        if not self.fields or len(set(self.fields)) != len(self.fields):
            raise ConfigError(f"{path}.fields = {list(self.fields)}: expected one or more "
                              "distinct variable names")
        if not self.member_dimension:
            raise ConfigError(f"{path}.member_dimension: expected a dimension name")
        try:
            zone = datetime.fromisoformat(self.time).tzinfo
        except ValueError:
            zone = "bad"
        if zone is not None:
            raise ConfigError(f"{path}.time = {self.time!r}: expected an ISO 8601 time without "
                              "a zone, such as 2020-04-01T06:00:00")


@dataclass(frozen=True)
class AnalysisOutputSection:
    """What ``pdafpy analyse`` writes."""

    directory: str = option("analysis", "output folder: the analysis ensemble under its input "
                            "file names, and the mean")
    mean_file: str = option("ensemble_mean.nc", "the file of the analysis ensemble mean, in "
                            "the output folder")


@dataclass(frozen=True)
class OfflineConfig:
    """One offline analysis (``pdafpy analyse``)."""

    seed: int = option(1, "seed of random transforms and perturbed observations", minimum=0)
    forecast: ForecastSection = option(default_factory=ForecastSection)
    filter: FilterSection = option(default_factory=FilterSection)
    localization: LocalizationSection = option(default_factory=LocalizationSection)
    inflation: InflationSection = option(default_factory=InflationSection)
    observations: tuple[ObservationSection, ...] = option(
        (), "observation types ([[observations]] tables), each with its file")
    output: AnalysisOutputSection = option(default_factory=AnalysisOutputSection)

    def check(self, path: str) -> None:
        if not self.observations:
            raise ConfigError("observations: an analysis needs at least one [[observations]] "
                              "table")
        for i, o in enumerate(self.observations):
            if not o.file:
                raise ConfigError(f"observations[{i}].file: give the observation file holding "
                                  "this type's observations")
            o.check_read_from_file(f"observations[{i}]")
        if self.filter.parameters:
            raise ConfigError(f"filter.parameters = {list(self.filter.parameters)}: an offline "
                              "analysis updates every field of forecast.fields; list "
                              "parameters there")
        if self.filter.type_trans and self.filter.type not in SQUARE_ROOT_FILTERS:
            raise ConfigError(f"filter.type_trans = {self.filter.type_trans}: random transforms "
                              f"need a square-root filter, not {self.filter.type!r}")
        if self.filter.type == "sekf":
            raise ConfigError("filter.type = 'sekf': the SEKF needs perturbed model runs, which "
                              "an offline analysis does not make; choose an ensemble filter")


def load_offline_config(path: Path | str) -> OfflineConfig:
    """Read and validate an offline analysis configuration (every key, one-line errors)."""
    return parse_section(OfflineConfig, load_toml(path))


def _on_rank0(comm: Any, work: Callable[[], T]) -> T:
    """``work()`` on rank 0, its result given to every rank; its error raised on every rank."""
    result = error = None
    if comm.Get_rank() == 0:
        try:
            result = work()
        except PdafpyError as exc:
            error = str(exc)
    error, result = comm.bcast((error, result), root=0)
    if error is not None:
        raise RefusedOnEveryRank(error)
    return result


def _on_every_rank(comm: Any, work: Callable[[], T]) -> T:
    """``work()`` on every rank; the first rank's error (by rank) raised on every rank."""
    result = error = None
    try:
        result = work()
    except PdafpyError as exc:
        error = str(exc)
    errors = [e for e in comm.allgather(error) if e is not None]
    if errors:
        raise RefusedOnEveryRank(errors[0])
    return result


def _window(section: ObservationSection) -> tuple[float, float]:
    """A type's observation window ``(lo, hi]`` [s from the analysis time]."""
    width = 3600.0 * (section.window_h or section.interval_h)
    return (-width, 0.0) if section.window_position == "end" else (-width / 2, width / 2)


def _localization(cfg: OfflineConfig) -> Any:
    from .localize import Localization

    loc = cfg.localization
    return Localization.from_pdaf(loc.radius_m, loc.support_radius_m or loc.radius_m,
                                  loc.weight, 0)


def run_analysis(world: Any, cfg: OfflineConfig, out: Path | None = None) -> dict | None:
    """The offline analysis of ``cfg`` on every rank of ``world`` (collective).

    Returns
    -------
    dict or None
        On rank 0 the summary: ``members``, ``fields``, ``observations`` (used), ``omitted``
        (by the innovation check), ``files`` written, ``ranks``, ``wall_s``.

    Raises
    ------
    RefusedOnEveryRank
        On every rank alike, for bad input found before the analysis.
    """
    from .cycle import CycleOptions, analysis_step, inflate_analysed
    from .decomposition import block_boxes, choose_process_grid
    from .ensemble_files import inspect_ensemble, member_paths, read_block, write_copy
    from .filters import filter_name, make_filter
    from .obs.module import ObservationContext, build_modules, read_for
    from .state import StateLayout

    t0 = time.perf_counter()
    fc = cfg.forecast
    out = Path(out or cfg.output.directory)
    one_file = fc.member_dimension if fc.file else None

    def inspect() -> tuple[Any, list[Path]]:
        source = inspect_ensemble(member_paths(fc.files, fc.pattern, fc.file), fc.fields,
                                  one_file)
        return source, _output_paths(source.paths, out, cfg.output.mean_file)

    source, outputs = _on_rank0(world, inspect)
    grid = source.grid
    boxes = _on_every_rank(world, lambda: block_boxes(
        grid.ny, grid.nx, *choose_process_grid(world.Get_size(), grid.ny, grid.nx)))
    layout = StateLayout(source.fields, boxes[world.Get_rank()])
    modules = _on_every_rank(world, lambda: build_modules(cfg.observations, ObservationContext(
        grid, source.fields, cfg.seed, _localization(cfg), start=fc.time)))
    records = _on_rank0(world, lambda: read_for(modules, fc.time))
    ens = _on_every_rank(world, lambda: read_block(source, layout))
    obs_types = _on_every_rank(world, lambda: [
        m.observation_type(m.process(m.select(records, *_window(m.section)))) for m in modules])

    filt = make_filter(cfg.filter.type, forget=cfg.filter.forget,
                       type_trans=cfg.filter.type_trans, seed=cfg.seed)
    infl = cfg.inflation
    options = CycleOptions(seed=cfg.seed, multiplicative=infl.multiplicative, rtpp=infl.rtpp,
                           rtps=infl.rtps)
    prior = ens.copy() if (infl.multiplicative != 1.0 or infl.rtpp or infl.rtps) else None
    report = analysis_step(filt, ens, layout, grid, obs_types, world, boxes,
                           adaptive_forget=infl.adaptive_forget)
    if prior is not None:
        inflate_analysed(ens, prior, np.arange(layout.size), options)
    used = world.allreduce(report.owned_obs)
    omitted = world.allreduce(int(report.omitted_obs.sum()))
    if used == 0:
        log.warning("no observation in any window: the analysis is the forecast (with the "
                    "forgetting factor and inflation applied)")

    name = filter_name(cfg.filter.type)
    history = (f"{datetime.now().isoformat(timespec='seconds')}: pdafpy analyse: {name} "
               f"analysis at {fc.time} of {source.n_members} members, {used} observations")
    if world.Get_rank() == 0:
        out.mkdir(parents=True, exist_ok=True)
    world.Barrier()
    views = {f.name: layout.view(ens, f.name) for f in source.fields}
    if source.member_dim:
        write_copy(world, source, boxes, source.paths[0], outputs[0],
                   [(k, {n: v[k] for n, v in views.items()}) for k in range(source.n_members)],
                   history)
    else:
        for k, (src, dst) in enumerate(zip(source.paths, outputs)):
            write_copy(world, source, boxes, src, dst, [(None, {n: v[k] for n, v in
                                                                 views.items()})], history)
    write_copy(world, source, boxes, source.paths[0], outputs[-1],
               [(None, {n: v.mean(axis=0) for n, v in views.items()})],
               history + " (ensemble mean)")
    if world.Get_rank() != 0:
        return None
    return {"members": source.n_members, "fields": list(fc.fields), "filter": name,
            "time": fc.time, "observations": used, "omitted": omitted,
            "files": [str(p) for p in outputs], "ranks": world.Get_size(),
            "wall_s": round(time.perf_counter() - t0, 3)}


def _output_paths(inputs: tuple[Path, ...], out: Path, mean_file: str) -> list[Path]:
    """The analysis files (under the input names, in ``out``), the mean's last.

    Raises
    ------
    ConfigError
        When two outputs would share a name or an output would overwrite an input.
    """
    paths = [out / p.name for p in inputs] + [out / mean_file]
    names = [p.name for p in paths]
    for k, p in enumerate(paths):
        if names.index(p.name) != k:
            raise ConfigError(f"{p}: two output files would share this name (ensemble files "
                              f"keep their names; output.mean_file = {mean_file!r})")
    given = {p.resolve() for p in inputs}
    for p in paths:
        if p.resolve() in given:
            raise ConfigError(f"{p}: the analysis would overwrite this input file; choose "
                              "another output.directory")
    return paths


def _print_summary(summary: Mapping[str, Any]) -> None:
    print(f"pdafpy analyse: {summary['filter']} analysis at {summary['time']}: "
          f"{summary['members']} members of {', '.join(summary['fields'])}, "
          f"{summary['observations']} observations used"
          + (f", {summary['omitted']} omitted" if summary["omitted"] else "")
          + f"; {summary['ranks']} rank{'s' if summary['ranks'] > 1 else ''}, "
          f"{summary['wall_s']:.2f} s")
    for path in summary["files"]:
        print(f"  {path}")


def main(argv: list[str] | None = None) -> int:
    """Run ``pdafpy analyse``; returns the exit status (0 done, 1 failed, 2 bad input)."""
    from mpi4py import MPI

    parser = argparse.ArgumentParser(prog="pdafpy analyse",
                                     description=__doc__.split("\n\n")[0].replace("\n", " "))
    parser.add_argument("config", type=Path, help="offline analysis TOML (docs/offline.md)")
    parser.add_argument("--out", type=Path, help="output folder (overrides [output] directory)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="warnings and errors only, no summary")
    args = parser.parse_args(argv)
    level = logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    world = MPI.COMM_WORLD
    status, summary = run_collectively(world, "pdafpy analyse", lambda: run_analysis(
        world, _on_every_rank(world, lambda: load_offline_config(args.config)), args.out))
    if summary is not None and not args.quiet:
        _print_summary(summary)
    return status

"""Slurm batch scripts for pdafpy jobs, filled in from ``slurm/*.sbatch`` and checked first.

``pdafpy slurm CONFIG --nodes N --ranks-per-task P`` prints a batch script that runs
``pdafpy run CONFIG`` on ``tasks * P + filter_ranks`` MPI ranks. Before it writes anything it
checks that the request fits together, so a mistake costs a message instead of a queue wait:

- the world size ``tasks * P + filter_ranks`` fits ``nodes * cores_per_node``, and leaves no node
  empty;
- no model task (and no group of filter ranks) is cut in two by a node boundary when it could sit
  on one node;
- every configuration file of the job that exists is valid with the job's layout laid over it,
  as ``pdafpy run`` will read it (e.g. no more model tasks than the mode has runs).

How the layout meets ``srun``: ``srun --distribution=block`` gives every node an even share of the
ranks (the first ``ntasks % nodes`` nodes one more) and numbers them node after node, so node 0
holds world ranks ``0 .. k-1`` for ``k = ntasks_per_node``. pdafpy (:mod:`pdafpy.parallel`) takes
the filter ranks first (world ranks ``0 .. f-1``), then task 0's ``p`` contiguous ranks, task 1's,
and so on. A model task therefore sits on one node exactly when no node boundary falls inside its
range of ranks: without filter ranks, when ``p`` divides ``k``.

The templates live in ``slurm/`` at the top of the repository; ``template`` also accepts the path
of a file of one's own with the same placeholders (:data:`PLACEHOLDERS`).
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import math
import re
import shlex
import sys
import warnings
from pathlib import Path

from .config import canonical_keys, load_toml
from .errors import ConfigError, InputFileError, PdafpyError
from .experiment_config import ParallelSection

__all__ = ["TEMPLATES", "PLACEHOLDERS", "render_script", "node_counts", "split_tasks",
           "read_parallel", "main"]

TEMPLATE_DIR = Path(__file__).resolve().parents[1] / "slurm"
TEMPLATES = {"single_node": "single_node.sbatch", "multi_node": "multi_node.sbatch",
             "array": "array.sbatch"}
PLACEHOLDERS = ("job_name", "nodes", "ntasks", "ntasks_per_node", "time", "partition", "account",
                "log_dir", "array", "config", "layout", "tasks", "ranks_per_task", "filter_ranks")

_PLACEHOLDER = re.compile(r"(?<![$\w])\{([a-z_]+)\}")   # {name}, never bash's ${name}
_TIME = re.compile(r"(\d+-)?\d+(:\d\d){0,2}")           # minutes, MM:SS, HH:MM:SS, D-HH[:MM[:SS]]
_NAME = re.compile(r"[A-Za-z0-9_.,+-]+")                # partition, account, job name
_LOG_DIR = re.compile(r"[A-Za-z0-9_./+-]+")
_LAYOUT_NODES_SHOWN = 8


def node_counts(ntasks: int, nodes: int) -> list[int]:
    """Ranks per node under ``srun --distribution=block``: an even share, remainder first.

    Examples
    --------
    >>> node_counts(10, 3)
    [4, 3, 3]
    """
    base, extra = divmod(ntasks, nodes)
    return [base + (1 if i < extra else 0) for i in range(nodes)]


def split_tasks(counts: list[int], tasks: int, ranks_per_task: int,
                filter_ranks: int = 0) -> list[tuple[str, int, int]]:
    """The rank groups that a node boundary cuts in two.

    Parameters
    ----------
    counts : list of int
        Ranks on each node, in node order (:func:`node_counts`).
    tasks, ranks_per_task, filter_ranks : int
        The layout: ``filter_ranks`` ranks first, then ``tasks`` groups of ``ranks_per_task``.

    Returns
    -------
    list of (name, first, last)
        Each cut group: ``"filter ranks"`` or ``"model task t"`` with its first and last world
        rank. Only groups small enough to fit on their first node are listed.
    """
    starts = list(itertools.accumulate(counts, initial=0))[:-1]

    def node_of(rank: int) -> int:
        return bisect.bisect_right(starts, rank) - 1

    groups = [("filter ranks", 0, filter_ranks)] if filter_ranks else []
    groups += [(f"model task {t}", filter_ranks + t * ranks_per_task, ranks_per_task)
               for t in range(tasks)]
    cut = []
    for name, first, size in groups:
        last = first + size - 1
        if size <= counts[node_of(first)] and node_of(first) != node_of(last):
            cut.append((name, first, last))
    return cut


def _span(what: str, first: int, last: int) -> str:
    return f"{what} {first}" if first == last else f"{what}s {first}-{last}"


def _layout_comment(counts: list[int], p: int, f: int) -> str:
    """``#`` lines telling which world ranks, filter ranks and model tasks sit on each node."""
    lines, first = [], 0
    for node, count in enumerate(counts):
        last = first + count - 1
        parts = []
        if first < f:
            parts.append(_span("filter rank", first, min(last, f - 1)))
        if last >= f:
            t0, t1 = (max(first, f) - f) // p, (last - f) // p
            split = sorted({t for t, r in ((t0, max(first, f)), (t1, last + 1)) if (r - f) % p})
            parts.append(_span("model task", t0, t1)
                         + (f" (split: {', '.join(map(str, split))})" if split else ""))
        if node < _LAYOUT_NODES_SHOWN or node == len(counts) - 1:
            lines.append(f"#   node {node}: world ranks {first}-{last} ({count}): "
                         + ", ".join(parts))
        elif node == _LAYOUT_NODES_SHOWN:
            lines.append("#   ...")
        first = last + 1
    return "\n".join(lines)


def _template_text(template: str | Path) -> tuple[str, str]:
    """The text of a template given by name (:data:`TEMPLATES`) or path, and its kind."""
    name = str(template)
    path = TEMPLATE_DIR / TEMPLATES[name] if name in TEMPLATES else Path(template)
    if not path.is_file():
        raise ConfigError(f"template = {name!r}: no such template; expected one of "
                          f"{sorted(TEMPLATES)} (in {TEMPLATE_DIR}) or the path of a file")
    text = path.read_text()
    if name in TEMPLATES:
        return text, name
    return text, "array" if "{array}" in text else "multi_node"


def _check_int(name: str, value: int | None, minimum: int) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} = {value!r}: expected an integer >= {minimum}")


def _shell_path(config: str) -> str:
    """``config`` quoted for bash, with ``%a`` standing for the job array index."""
    return '"${SLURM_ARRAY_TASK_ID}"'.join(shlex.quote(part) for part in config.split("%a"))


def render_script(config_path: str | Path, nodes: int, ranks_per_task: int,
                  tasks: int | None, filter_ranks: int = 0, cores_per_node: int | None = None,
                  time: str = "01:00:00", partition: str | None = None,
                  account: str | None = None, job_name: str | None = None,
                  template: str | Path = "multi_node", array: int | None = None,
                  log_dir: str = "logs", allow_straddle: bool = False) -> str:
    """Fill a Slurm template for ``pdafpy run CONFIG`` after checking the request.

    Parameters
    ----------
    config_path : str or Path
        The experiment's TOML file, as the job will see it (relative to the folder sbatch is
        called from). For a job array, ``%a`` stands for the array index
        (``runs/exp_%a.toml``).
    nodes : int
        Nodes of the job (of each array element).
    ranks_per_task : int
        MPI ranks ``p`` of one model task.
    tasks : int or None
        Model tasks; ``None``: as many as fit on ``nodes * cores_per_node`` cores.
    filter_ranks : int
        Separate filter ranks ``f`` (0: model task 0's ranks analyse).
    cores_per_node : int, optional
        Cores of one node. Without it the request cannot be checked against the nodes' size.
    time : str
        Wall-clock limit: minutes, ``HH:MM:SS`` or ``D-HH:MM:SS``.
    partition, account : str, optional
        Slurm partition and account; ``None`` leaves the choice to the site's default.
    job_name : str, optional
        Default: ``pdafpy-`` and the configuration file's name.
    template : str or Path
        ``"single_node"``, ``"multi_node"``, ``"array"`` (:data:`TEMPLATES`) or a file's path.
    array : int, optional
        Number of array elements (indices ``0 .. array-1``); only with the array template.
    log_dir : str
        Folder of the jobs' logs (it must exist when the job starts).
    allow_straddle : bool
        Only warn, instead of raising, when a node boundary would cut a model task in two.

    Returns
    -------
    str
        The batch script.

    Raises
    ------
    ConfigError
        When the numbers do not fit together; the message names the value and what would fit.
    """
    for name, value, minimum in (("nodes", nodes, 1), ("ranks_per_task", ranks_per_task, 1),
                                 ("tasks", tasks, 1), ("filter_ranks", filter_ranks, 0),
                                 ("cores_per_node", cores_per_node, 1), ("array", array, 1)):
        _check_int(name, value, minimum)
    if not _TIME.fullmatch(time):
        raise ConfigError(f"time = {time!r}: expected minutes, HH:MM:SS or D-HH:MM:SS")
    config = str(config_path)
    if job_name is None:
        job_name = "pdafpy-" + re.sub(r"[^A-Za-z0-9_.+-]", "", Path(config).stem.replace("%a", ""))
    for name, value in (("partition", partition), ("account", account), ("job_name", job_name)):
        if value is not None and not _NAME.fullmatch(value):
            raise ConfigError(f"{name} = {value!r}: expected letters, digits and _ . , + - only")
    if not _LOG_DIR.fullmatch(log_dir):
        raise ConfigError(f"log_dir = {log_dir!r}: expected a path of letters, digits and "
                          "_ . / + - only (Slurm reads it unquoted)")
    text, kind = _template_text(template)
    if kind == "single_node" and nodes != 1:
        raise ConfigError(f"nodes = {nodes}: the single_node template runs on 1 node; "
                          "use template='multi_node'")
    if kind == "array":
        if array is None:
            raise ConfigError("array = None: the array template needs the number of array "
                              "elements (--array N)")
        if "%a" not in config:
            raise ConfigError(f"config = {config!r}: a job array needs one configuration file "
                              "per index; write the index as %a (e.g. runs/exp_%a.toml)")
    elif array is not None:
        raise ConfigError(f"array = {array}: a job array needs template='array' "
                          f"(not {str(template)!r})")

    p, f = ranks_per_task, filter_ranks
    if tasks is None:
        if cores_per_node is None:
            raise ConfigError("tasks = None: give the number of model tasks (--tasks), or "
                              "cores_per_node (--cores-per-node) to fit as many as the nodes hold")
        tasks = (nodes * cores_per_node - f) // p
        if tasks < 1:
            raise ConfigError(f"ranks_per_task = {p}: not even one model task fits on {nodes} "
                              f"node(s) of {cores_per_node} cores beside {f} filter ranks")
    ntasks = tasks * p + f
    what = f"tasks * ranks_per_task + filter_ranks = {tasks} * {p} + {f} = {ntasks} MPI ranks"
    if cores_per_node is not None and ntasks > nodes * cores_per_node:
        raise ConfigError(f"{what} do not fit on nodes * cores_per_node = {nodes} * "
                          f"{cores_per_node} = {nodes * cores_per_node} cores: ask for "
                          f"{math.ceil(ntasks / cores_per_node)} nodes or fewer ranks")
    if ntasks < nodes:
        raise ConfigError(f"nodes = {nodes}: more nodes than the {what}; a node would be empty")
    counts = node_counts(ntasks, nodes)
    cut = split_tasks(counts, tasks, p, f)
    if cut:
        name, first, last = cut[0]
        message = (f"{name} (world ranks {first}-{last}) would be cut in two by a node boundary: "
                   f"srun --distribution=block puts {counts[0]} ranks on node 0, {counts[-1]} on "
                   f"the last, in world-rank order, and pdafpy numbers "
                   + (f"its {f} filter ranks first, then " if f else "")
                   + f"each model task's {p} ranks in turn ({len(cut)} group(s) cut). Choose "
                   f"ranks_per_task = {p} dividing the ranks per node, filter_ranks a multiple of "
                   f"it, and tasks such that nodes = {nodes} divides the world size {ntasks}"
                   + ("" if allow_straddle else "; or allow it (allow_straddle, --allow-straddle)"))
        if not allow_straddle:
            raise ConfigError(message)
        warnings.warn(message, stacklevel=2)

    values = {"job_name": job_name, "nodes": nodes, "ntasks": ntasks,
              "ntasks_per_node": max(counts), "time": time, "partition": partition,
              "account": account, "log_dir": log_dir,
              "array": None if array is None else f"0-{array - 1}",
              "config": _shell_path(config), "layout": _layout_comment(counts, p, f),
              "tasks": tasks, "ranks_per_task": p, "filter_ranks": f}
    unknown = sorted(set(_PLACEHOLDER.findall(text)) - set(values))
    if unknown:
        raise ConfigError(f"template {str(template)!r} uses unknown placeholder(s) {unknown}; "
                          f"known: {list(PLACEHOLDERS)}")
    lines = []
    for line in text.splitlines():
        names = _PLACEHOLDER.findall(line)
        if line.startswith("#SBATCH") and any(values[n] is None for n in names):
            line = "#" + _PLACEHOLDER.sub(lambda m: m.group(1).upper(), line)
        else:
            line = _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), line)
        lines.append(line)
    return "\n".join(lines) + "\n"


def read_parallel(path: str | Path) -> tuple[int | None, int | None]:
    """``[parallel] tasks`` and ``filter_ranks`` of a configuration file (``None`` where absent).

    Raises
    ------
    ConfigError
        When the file is missing or not TOML, or a value is not a fitting integer; the message
        names the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: configuration file not found (give --tasks and "
                          "--filter-ranks to write the script without reading it)")
    try:
        doc = load_toml(path)
    except InputFileError as exc:
        raise ConfigError(f"cannot read the configuration: {exc}") from None
    section = doc.get("parallel", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: parallel = {section!r}: expected a table ([parallel])")
    section = canonical_keys(ParallelSection, section, "parallel")   # PDAF's n_modeltasks too
    found = []
    for key, minimum in (("tasks", 1), ("filter_ranks", 0)):
        value = section.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < minimum):
            raise ConfigError(f"{path}: parallel.{key} = {value!r}: expected an integer "
                              f">= {minimum}")
        found.append(value)
    return found[0], found[1]


def _parallel_of_configs(config: str, array: int | None) -> tuple[int | None, int | None]:
    """``[parallel]`` values of the config, or of every array element's config (must agree)."""
    paths = [config] if array is None else [config.replace("%a", str(i)) for i in range(array)]
    values = {path: read_parallel(path) for path in paths}
    if len(set(values.values())) > 1:
        listed = "; ".join(f"{p}: tasks = {t}, filter_ranks = {f}" for p, (t, f) in values.items())
        raise ConfigError(f"the array's configuration files differ in [parallel] ({listed}); "
                          "one job array has one size: split it or give --tasks")
    return values[paths[0]]


def check_runnable(config: str, array: int | None, tasks: int, filter_ranks: int) -> None:
    """Validate every configuration file of the job that exists, with the job's layout laid over
    it, as ``pdafpy run`` will: every key, and no more model tasks than the mode has runs.

    Raises
    ------
    ConfigError, InputFileError
        Naming the file and the key.
    """
    from .experiment import load_configuration

    paths = [config] if array is None else [config.replace("%a", str(i)) for i in range(array)]
    for path in paths:
        if Path(path).is_file():
            try:
                load_configuration(path, overrides={"parallel": {"tasks": tasks,
                                                                 "filter_ranks": filter_ranks}})
            except PdafpyError as exc:
                raise type(exc)(f"{path}: {exc}") from None


def _is_study(path: str) -> bool:
    """Whether ``path`` is a study file (a ``[study]`` table); a file that cannot be read is
    left to the checks of an experiment's file, which report it."""
    try:
        return "study" in load_toml(path)
    except PdafpyError:
        return False


def main(argv: list[str] | None = None) -> int:
    """``pdafpy slurm CONFIG --nodes N --ranks-per-task P ...``: print a checked batch script.

    Returns the exit status: 0, or 2 after a usage or configuration error (printed to stderr).
    A study file (a ``[study]`` table, docs/studies.md) is handed to ``pdafpy study STUDY
    --slurm DIR``, which writes its job set (:mod:`pdafpy.study_slurm`).
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0].endswith(".toml") and _is_study(argv[0]):
        if "--slurm" not in argv:
            print(f"pdafpy slurm: error: {argv[0]} is a study: give --slurm DIR (and --ntasks, "
                  "--time, --partition, --account) for its job set", file=sys.stderr)
            return 2
        from .study import main as study_main
        return study_main(argv)
    parser = argparse.ArgumentParser(
        prog="pdafpy slurm", description="Print a Slurm batch script running `pdafpy run CONFIG` "
        "after checking that the layout fits the nodes (docs/cluster.md).")
    parser.add_argument("config", help="the experiment's TOML file; for --array, %%a in it stands "
                        "for the array index (runs/exp_%%a.toml)")
    parser.add_argument("--nodes", type=int, required=True, help="nodes (of each array element)")
    parser.add_argument("--ranks-per-task", type=int, required=True,
                        help="MPI ranks of one model task")
    parser.add_argument("--tasks", type=int, help="model tasks (default: [parallel] tasks of "
                        "CONFIG, else as many as fit)")
    parser.add_argument("--filter-ranks", type=int, help="separate filter ranks (default: "
                        "[parallel] filter_ranks of CONFIG, else 0)")
    parser.add_argument("--cores-per-node", type=int, help="cores of one node (checks the fit)")
    parser.add_argument("--time", default="01:00:00", help="wall-clock limit (default 01:00:00)")
    parser.add_argument("--partition", help="Slurm partition (default: the site's)")
    parser.add_argument("--account", help="account to charge (default: the site's)")
    parser.add_argument("--job-name", help="default: pdafpy-<config name>")
    parser.add_argument("--array", type=int, metavar="N",
                        help="a job array of N experiments, one config per index")
    parser.add_argument("--template", help=f"one of {', '.join(TEMPLATES)} or a file "
                        "(default: array with --array, single_node for 1 node, else multi_node)")
    parser.add_argument("--log-dir", default="logs", help="folder of the job logs (default logs)")
    parser.add_argument("--allow-straddle", action="store_true",
                        help="only warn when a node boundary cuts a model task in two")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    template = args.template or ("array" if args.array is not None
                                 else "single_node" if args.nodes == 1 else "multi_node")
    try:
        if args.array is not None and args.array < 1:
            raise ConfigError(f"--array {args.array}: expected a number of array elements >= 1")
        tasks, filter_ranks = args.tasks, args.filter_ranks
        if tasks is None or filter_ranks is None:
            from_config = _parallel_of_configs(args.config, args.array)
            tasks = from_config[0] if tasks is None else tasks
            filter_ranks = from_config[1] if filter_ranks is None else filter_ranks
        if tasks is not None:
            check_runnable(args.config, args.array, tasks, filter_ranks or 0)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            script = render_script(args.config, args.nodes, args.ranks_per_task, tasks,
                                   filter_ranks or 0, args.cores_per_node, args.time,
                                   args.partition, args.account, args.job_name, template,
                                   args.array, args.log_dir, args.allow_straddle)
        for warning in caught:
            print(f"pdafpy slurm: warning: {warning.message}", file=sys.stderr)
    except PdafpyError as exc:
        print(f"pdafpy slurm: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(script)
    return 0


if __name__ == "__main__":
    sys.exit(main())

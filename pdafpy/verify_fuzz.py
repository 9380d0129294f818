"""``pdafpy verify fuzz``: fuzz pdafpy's readers of user input with many drawn inputs.

Each target is run on ``--examples`` inputs drawn by hypothesis (derandomised: the same inputs
on every run; :mod:`pdafpy.fuzzing`, :mod:`pdafpy.fuzzing_files`):

- ``config-file``: bytes written to a TOML file and loaded
  (:func:`pdafpy.experiment.load_configuration`): random bytes, text that is not UTF-8, TOML
  made from the real schema, such TOML with bytes changed, pathological TOML;
- ``config-mapping``: tables from the real schema passed as they are;
- ``observation-file``: NetCDF observation files, valid or with variables missing, mistyped,
  misshapen, with NaN values, bad units and attributes, damaged
  (:func:`pdafpy.obs.files.read_observation_file`, :func:`pdafpy.obs.files.check_inside_grid`).

Every input must load, or be refused with pdafpy's own error in one line. The table gives per
target the inputs tried, loaded, refused, crashed (a NetCDF-4 file whose damage kills the HDF5
library in C, read in a child process: a defect of that library, reported, not failed) and
other exceptions, with the first of these; the exit status is 1 if there is any other
exception, else 0. Warnings are not part of the property and are not shown.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from .atomic import write_json

__all__ = ["TARGETS", "run_target", "main"]

#: Target name -> what it fuzzes (for --help and the table).
TARGETS = {
    "config-file": "TOML configuration files (load_configuration of a path)",
    "config-mapping": "configuration tables (load_configuration of a mapping)",
    "observation-file": "NetCDF observation files (read_observation_file)",
}
#: Other exceptions listed per target (their count is complete).
SHOWN = 5


def _target(name: str, folder: Path) -> tuple[Any, Callable[[Any], Any]]:
    """The strategy of target ``name`` and the call of one example."""
    from . import fuzzing, fuzzing_files

    if name == "config-file":
        return fuzzing.config_file_bytes(), lambda data: fuzzing.load_config_file(data, folder)
    if name == "config-mapping":
        return fuzzing.config_documents(python=True), fuzzing.load_config_mapping
    return fuzzing_files.observation_files(), \
        lambda spec: fuzzing_files.read_observation_spec(spec, folder)


def run_target(name: str, examples: int, folder: Path) -> dict[str, Any]:
    """Run target ``name`` on ``examples`` drawn inputs, working in ``folder``.

    Returns
    -------
    dict
        ``target``, ``examples`` (tried), ``loaded``, ``refused``, ``crashed``, ``other``,
        ``seconds`` and ``failures`` (the first :data:`SHOWN` other exceptions, each with the
        input that raised it).
    """
    from hypothesis import HealthCheck, Phase, given, settings

    from .fuzzing import describe, outcome

    strategy, call = _target(name, folder)
    row: dict[str, Any] = {"target": name, "examples": 0, "loaded": 0, "refused": 0,
                           "crashed": 0, "other": 0, "failures": []}

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def once(example: Any) -> None:
        kind, exc = outcome(lambda: call(example))
        row["examples"] += 1
        row[kind] += 1
        if exc is not None and kind in ("other", "crashed") and len(row["failures"]) < SHOWN:
            row["failures"].append({"kind": kind, "error": describe(exc),
                                    "input": repr(example)[:2000]})

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        once()
    row["seconds"] = round(time.perf_counter() - start, 1)
    return row


def main(argv: list[str] | None = None) -> int:
    """Run the targets; print a table; return 1 if any raised another exception than pdafpy's
    own one-line errors."""
    parser = argparse.ArgumentParser(prog="pdafpy verify fuzz",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--examples", type=int, default=5000, metavar="N",
                        help="inputs per target (default 5000)")
    parser.add_argument("--target", action="append", choices=sorted(TARGETS),
                        help="fuzz only this target (repeatable; default all)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write the results as JSON")
    args = parser.parse_args(argv)
    if args.examples < 1:
        parser.error("--examples must be at least 1")
    if importlib.util.find_spec("hypothesis") is None:
        print("pdafpy verify fuzz: needs hypothesis (Debian: python3-hypothesis)",
              file=sys.stderr)
        return 2
    rows = []
    print(f"{'target':18s} {'examples':>8s} {'loaded':>7s} {'refused':>7s} {'crashed':>7s} "
          f"{'other':>6s} {'seconds':>8s}")
    with tempfile.TemporaryDirectory(prefix="pdafpy-fuzz-") as folder:
        for name in args.target or list(TARGETS):
            row = run_target(name, args.examples, Path(folder))
            rows.append(row)
            print(f"{name:18s} {row['examples']:8d} {row['loaded']:7d} {row['refused']:7d} "
                  f"{row['crashed']:7d} {row['other']:6d} {row['seconds']:8.1f}", flush=True)
    for row in rows:
        for failure in row["failures"]:
            print(f"{row['target']}: {failure['kind']}: {failure['error']}\n"
                  f"    input: {failure['input'][:400]}")
    other = sum(r["other"] for r in rows)
    crashed = sum(r["crashed"] for r in rows)
    print(f"{sum(r['examples'] for r in rows)} inputs, {other} other exceptions"
          + (f", {crashed} crash{'es' if crashed > 1 else ''} of the HDF5 library on damaged "
             "NetCDF-4 files" if crashed else ""))
    if args.json:
        write_json(args.json, {"suite": "fuzz", "examples_per_target": args.examples,
                               "pass": other == 0, "targets": rows})
    return 1 if other else 0

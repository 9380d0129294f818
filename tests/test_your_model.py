"""The "bring your own model" example (examples/heat2d, docs/your-model.md), end to end.

The heated plate lives outside ``models/`` and is found as ``model = "heat2d:Heat2D"`` beside its
configuration. The end-to-end test runs its truth pass and then the assimilation of the truth
pass's observation file, in process (``pdafpy.run.main``) on every rank of the test's MPI world,
on a smaller, shorter version of the example's configuration, and checks on rank 0 that the
LETKF's analyses and forecasts beat the open loop and that the file's observations were used.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pytest

from pdafpy.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "heat2d"
#: Laid over both example files: fewer members, a shorter run (still 12 analyses).
SMALL = {"ensemble": {"size": 8}, "schedule": {"length_days": 3.0}}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)                    # a TOML basic string
    raise TypeError(f"cannot write {value!r} as a TOML value")


def _toml(table: Mapping[str, Any], name: str = "") -> str:
    """A TOML document of plain values, tables and arrays of tables."""
    lines, tables = [], []
    for key, value in table.items():
        if isinstance(value, Mapping):
            tables.append(f"\n[{name}{key}]\n" + _toml(value, f"{name}{key}."))
        elif isinstance(value, list) and value and isinstance(value[0], Mapping):
            tables.extend(f"\n[[{name}{key}]]\n" + _toml(item, f"{name}{key}.") for item in value)
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n" + "".join(tables)


def _example(name: str, folder: Path, **overrides: Any) -> Path:
    """The example's ``name``.toml with :data:`SMALL` and ``overrides`` laid over it (tables
    key by key), output and files in ``folder``, written there."""
    config = tomllib.loads((EXAMPLE / f"{name}.toml").read_text())
    for section, keys in {**SMALL, **overrides}.items():
        config[section] = {**config.get(section, {}), **keys}
    config["output"]["directory"] = str(folder / name)
    if config["mode"] == "assimilate":
        for obs in config["observations"]:
            obs["file"] = str(folder / "truth" / "observations.nc")
        config["verification"]["truth"] = str(folder / "truth" / "truth.nc")
    path = folder / f"{name}.toml"
    path.write_text(_toml(config))
    return path


def _truth_then_assimilate(folder: Path, world: Any, tasks: int) -> dict | None:
    """Both passes on every rank of ``world``; the assimilation's summary on rank 0."""
    from pdafpy.run import main

    rank = world.Get_rank()
    paths = [_example("truth", folder), _example("assimilate", folder,
                                                   parallel={"tasks": tasks})] \
        if rank == 0 else None
    paths = world.bcast(paths)
    for path in paths:
        assert main([str(path), "-q"]) == 0
        world.Barrier()
    if rank != 0:
        return None
    return json.loads((folder / "assimilate" / "summary.json").read_text())


def _check_skill(summary: Mapping[str, Any]) -> None:
    assert summary["mode"] == "assimilate" and summary["filter"] == "letkf"
    assert summary["analyses"] == 12
    assert summary["observations_used"] == 12 * 64    # every observation of the file, once
    temperature = summary["variables"]["temperature"]
    open_loop = temperature["open_loop"]["rmse"]
    assert temperature["assimilation"]["rmse"] < 0.5 * open_loop
    assert temperature["assimilation_forecast"]["rmse"] < 0.5 * open_loop
    heating = summary["variables"]["heating"]        # unobserved: learned through correlations
    assert heating["assimilation"]["rmse"] < heating["open_loop"]["rmse"]


@pytest.fixture
def example_on_path(monkeypatch):
    """``heat2d`` importable for configurations written outside its folder."""
    monkeypatch.syspath_prepend(str(EXAMPLE))


@pytest.mark.mpi
@pytest.mark.parametrize("layout", ["one_task", "task_per_rank"])
def test_heat2d_truth_pass_then_assimilation_beats_the_open_loop(example_on_path,
                                                                 tmp_path_factory, layout):
    from mpi4py import MPI
    world = MPI.COMM_WORLD
    folder = Path(world.bcast(str(tmp_path_factory.mktemp("heat2d"))
                              if world.Get_rank() == 0 else None))
    tasks = 1 if layout == "one_task" else world.Get_size()
    summary = _truth_then_assimilate(folder, world, tasks)
    if world.Get_rank() == 0:
        _check_skill(summary)


def test_heat2d_truth_pass_then_assimilation_serially(example_on_path, tmp_path):
    from mpi4py import MPI
    summary = _truth_then_assimilate(tmp_path, MPI.COMM_SELF, 1)
    _check_skill(summary)


def test_the_example_configurations_pass_check(capsys, tmp_path, monkeypatch):
    """``pdafpy run --check``: the model found beside the file, every key valid; for the
    assimilation, the observation file is read and checked too (missing before the truth
    pass: one line naming it)."""
    from pdafpy.run import main
    assert main(["--check", str(EXAMPLE / "truth.toml")]) == 0
    assert "valid (model 'heat2d:Heat2D'" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)                    # the example's relative paths: not there yet
    assert main(["--check", str(EXAMPLE / "assimilate.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.endswith("observations.nc: observation file not found")


def test_members_advanced_together_equal_members_advanced_one_by_one(example_on_path):
    from heat2d import Heat2D
    from mpi4py import MPI
    model = Heat2D.create(MPI.COMM_SELF, {"ny": 12, "nx": 10})
    base = model.get_state()
    members = [Heat2D.initial_member(base, k, 4, model.box, model.section) for k in range(3)]
    together = model.advance_members(range(3), {f: np.stack([m[f] for m in members])
                                                for f in base}, 0.0, 7200.0)
    for k, member in enumerate(members):
        model.set_state(k, member)
        model.advance(0.0, 7200.0)
        for field, value in model.get_state().items():
            np.testing.assert_array_equal(together[field][k], value)
    assert not np.array_equal(together["temperature"][0], members[0]["temperature"])
    np.testing.assert_array_equal(together["heating"][1], members[1]["heating"])


def test_an_unstable_time_step_is_refused(example_on_path):
    from heat2d import Heat2D
    from mpi4py import MPI
    with pytest.raises(ConfigError, match=r"heat2d.dt_s = 6000.0: unstable"):
        Heat2D.create(MPI.COMM_SELF, {"dt_s": 6000.0})

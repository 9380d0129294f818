"""``pdafpy analyse``: PDAF's offline tutorial from NetCDF files gives PDAF's LESTKF and ESTKF
reference outputs (max |difference| <= 1e-9) on 1, 2 and 4 ranks, in both ensemble layouts;
malformed ensemble files are refused in one line naming the file and the variable; outputs are
written under a temporary name and renamed.

The tutorial's text files are converted here: each member's field to NetCDF (a file per member
with a leading size-1 ``time`` dimension, or one file with a ``member`` dimension), and the
observation field ``obs.txt`` (``-999`` where nothing is observed) to pdafpy's observation file,
with an extra observation before the window and a rejected one, neither of which may be used.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import netCDF4
import numpy as np
import pytest
from mpi4py import MPI

from pdafpy.cli import main
from pdafpy.ensemble_files import member_paths
from pdafpy.obs.files import ObservationWriter
from pdafpy.obs.records import QC_REJECTED, ObservationRecords
from pdafpy.offline import AnalysisOutputSection, ForecastSection

TIME = "2020-04-01T06:00:00"
MISSING = -999.0
TOLERANCE = 1e-9
REPO = Path(__file__).resolve().parents[1]


# -- writing inputs ------------------------------------------------------------------------------
def _coordinates(ds: netCDF4.Dataset, ny: int, nx: int) -> None:
    ds.createDimension("y", ny)
    ds.createDimension("x", nx)
    for name, n in (("y", ny), ("x", nx)):
        var = ds.createVariable(name, "f8", (name,))
        var[:] = 1.0 + np.arange(n)
        var.standard_name = f"projection_{name}_coordinate"


def _extras(ds: netCDF4.Dataset) -> None:
    """A variable and attributes the analysis must copy unchanged."""
    ds.title = "PDAF offline tutorial ensemble"
    ds.history = "converted from text"
    mask = ds.createVariable("mask", "i1", ("y", "x"), fill_value=-1)
    mask[:] = 1
    mask.long_name = "land mask"


def write_member_files(folder: Path, fields: np.ndarray) -> list[Path]:
    """One file per member, ``field(time, y, x)`` with a size-1 time dimension."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, f in enumerate(fields):
        path = folder / f"ens_{k + 1}.nc"
        with netCDF4.Dataset(path, "w") as ds:
            _coordinates(ds, *f.shape)
            ds.createDimension("time", None)
            t = ds.createVariable("time", "f8", ("time",))
            t.units, t[:] = f"seconds since {TIME}", [0.0]
            var = ds.createVariable("field", "f8", ("time", "y", "x"), zlib=True)
            var.units = "1"
            var[0] = f
            _extras(ds)
        paths.append(path)
    return paths


def write_one_file(path: Path, fields: np.ndarray) -> Path:
    """Every member in one file, ``field(member, y, x)``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with netCDF4.Dataset(path, "w") as ds:
        _coordinates(ds, *fields.shape[1:])
        ds.createDimension("member", fields.shape[0])
        ds.createVariable("member", "i4", ("member",))[:] = np.arange(1, fields.shape[0] + 1)
        ds.createVariable("field", "f8", ("member", "y", "x"))[:] = fields
        _extras(ds)
    return path


def write_observations(path: Path, obs: np.ndarray, error: float = 0.5) -> Path:
    """The observed points of ``obs`` (``-999``: none) in PDAF's column-major order, valid one
    hour before the analysis; preceded by one outside a 6-hour window and followed by a
    rejected one, both far off the field."""
    cols, rows = np.nonzero(obs.T != MISSING)
    good = ObservationRecords.build(-3600.0, cols + 1.0, rows + 1.0, obs[rows, cols], error,
                                    "grid_point")
    early = ObservationRecords.build(-7 * 3600.0, [1.0], [1.0], [1e3], error, "grid_point")
    rejected = ObservationRecords.build(-1800.0, [2.0], [2.0], [1e3], error, "grid_point",
                                        qc=QC_REJECTED)
    writer = ObservationWriter(path, TIME, {"grid_point": "1"})
    for part in (early, good, rejected):
        writer.write(part)
    writer.close()
    return path


def _toml(value) -> str:
    return json.dumps(value) if not isinstance(value, bool) else str(value).lower()


def write_config(path: Path, forecast: dict, obs_file: Path, out: Path,
                 filter_type: str = "lestkf") -> Path:
    lines = ["[forecast]", *(f"{k} = {_toml(v)}" for k, v in forecast.items()),
             'fields = ["field"]', f'time = "{TIME}"',
             "[filter]", f'type = "{filter_type}"',
             "[localization]", "radius_m = 0.0", 'weight = "uniform"',
             "[[observations]]", 'type = "grid_point"', 'field = "field"',
             f"file = {_toml(str(obs_file))}", "interval_h = 6.0",
             "[output]", f"directory = {_toml(str(out))}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def read_analysis(out: Path, layout: str, n_members: int) -> tuple[np.ndarray, np.ndarray]:
    """The analysis members ``(N, ny, nx)`` and the mean ``(ny, nx)`` written to ``out``."""
    if layout == "files":
        members = []
        for k in range(n_members):
            with netCDF4.Dataset(out / f"ens_{k + 1}.nc") as ds:
                members.append(ds["field"][0])
        members = np.array(members)
    else:
        with netCDF4.Dataset(out / "ensemble.nc") as ds:
            members = np.array(ds["field"][:])
    with netCDF4.Dataset(out / "ensemble_mean.nc") as ds:
        mean = np.array(ds["field"][:]).reshape(members.shape[1:])
    return members, mean


# -- PDAF's offline tutorial ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def tutorial_case(tutorial_refs, tmp_path_factory):
    """The tutorial's ensemble in both layouts and its type-A observations, converted on rank 0
    into a folder every rank sees."""
    world = MPI.COMM_WORLD
    folder = None
    if world.Get_rank() == 0:
        folder = tmp_path_factory.mktemp("offline_case")
        inputs = tutorial_refs / "inputs_offline"
        fields = np.array([np.loadtxt(inputs / f"ens_{k}.txt") for k in range(1, 10)])
        write_member_files(folder / "members", fields)
        write_one_file(folder / "one" / "ensemble.nc", fields)
        write_observations(folder / "obs.nc", np.loadtxt(inputs / "obs.txt"))
    return Path(world.bcast(None if folder is None else str(folder)))


def _forecast(case: Path, layout: str) -> dict:
    return ({"pattern": str(case / "members" / "ens_*.nc")} if layout == "files"
            else {"file": str(case / "one" / "ensemble.nc")})


def _max_difference(refs: Path, reference: str, out: Path, layout: str) -> float:
    folder = refs / "verification" / reference
    expected = np.array([np.loadtxt(folder / f"ens_{k:02d}_ana.txt") for k in range(1, 10)])
    members, mean = read_analysis(out, layout, 9)
    return max(np.max(np.abs(members - expected)),
               np.max(np.abs(mean - np.loadtxt(folder / "state_ana.txt"))))


@pytest.mark.parametrize("filter_type,reference", [("lestkf", "offline_2D_serial"),
                                                   ("estkf", "offline_2D_serial_ESTKF")])
@pytest.mark.parametrize("layout", ["files", "one_file"])
def test_offline_analysis_reproduces_pdaf(tutorial_refs, tutorial_case, tmp_path, layout,
                                          filter_type, reference, capsys):
    out = tmp_path / "analysis"
    config = write_config(tmp_path / "offline.toml", _forecast(tutorial_case, layout),
                          tutorial_case / "obs.nc", out, filter_type)
    assert main(["analyse", str(config)]) == 0
    assert "28 observations used" in capsys.readouterr().out     # not the early or rejected one
    assert _max_difference(tutorial_refs, reference, out, layout) <= TOLERANCE
    first = out / ("ens_1.nc" if layout == "files" else "ensemble.nc")
    with netCDF4.Dataset(first) as ds:
        assert ds.title == "PDAF offline tutorial ensemble"
        assert f"pdafpy analyse: {filter_type} analysis" in ds.history.split("\n")[0]
        assert ds.history.endswith("\nconverted from text")
        assert ds["mask"].long_name == "land mask" and np.all(ds["mask"][:] == 1)
        assert ds["field"].dimensions == (("time", "y", "x") if layout == "files"
                                          else ("member", "y", "x"))
        assert ds["field"].filters()["zlib"] == (layout == "files")    # compression kept
    with netCDF4.Dataset(out / "ensemble_mean.nc") as ds:
        assert "member" not in ds.dimensions


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("layout", ["files", "one_file"])
def test_offline_analysis_reproduces_pdaf_on_every_rank_count(tutorial_refs, tutorial_case,
                                                              tmp_path_factory, layout):
    world = MPI.COMM_WORLD
    folder = Path(world.bcast(str(tmp_path_factory.mktemp("mpi_offline"))
                              if world.Get_rank() == 0 else None))
    config = folder / "offline.toml"
    if world.Get_rank() == 0:
        write_config(config, _forecast(tutorial_case, layout), tutorial_case / "obs.nc",
                     folder / "analysis")
    world.Barrier()
    assert main(["analyse", str(config), "-q"]) == 0
    world.Barrier()
    diff = _max_difference(tutorial_refs, "offline_2D_serial", folder / "analysis", layout) \
        if world.Get_rank() == 0 else None
    assert world.bcast(diff) <= TOLERANCE


# -- a small synthetic ensemble for bad input and output files -----------------------------------
def _small(folder: Path, n_members: int = 4) -> dict:
    """A 5 x 6 ensemble (files per member and one file), observations, a configuration."""
    rng = np.random.default_rng(3)
    fields = rng.normal(size=(n_members, 5, 6))
    obs = np.full((5, 6), MISSING)
    obs[1, 2], obs[3, 4] = 0.5, -0.3
    write_member_files(folder / "members", fields)
    write_one_file(folder / "one" / "ensemble.nc", fields)
    write_observations(folder / "obs.nc", obs)
    return {"folder": folder, "fields": fields}


def _refusal(capsys, config: Path) -> str:
    """Run the CLI; the one stderr line of a refusal (exit 2)."""
    assert main(["analyse", str(config), "-q"]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def _break_missing_variable(folder: Path) -> tuple[dict, Path, str]:
    path = folder / "members" / "ens_3.nc"
    with netCDF4.Dataset(path, "a") as ds:
        ds.renameVariable("field", "other")
    return {"pattern": str(folder / "members" / "ens_*.nc")}, path, "'field'"


def _break_shape(folder: Path) -> tuple[dict, Path, str]:
    path = folder / "members" / "ens_2.nc"
    path.unlink()
    write_member_files(folder / "narrow", np.zeros((1, 5, 4)))
    (folder / "narrow" / "ens_1.nc").rename(path)
    return {"pattern": str(folder / "members" / "ens_*.nc")}, path, "'field'"


def _break_one_member(folder: Path) -> tuple[dict, Path, str]:
    path = write_one_file(folder / "single.nc", np.zeros((1, 5, 6)))
    return {"file": str(path)}, path, "'field'"


def _break_single_file(folder: Path) -> tuple[dict, Path, str]:
    path = folder / "members" / "ens_1.nc"
    return {"files": [str(path)]}, path, "member"


def _break_dimensions(folder: Path) -> tuple[dict, Path, str]:
    path = folder / "transposed.nc"
    with netCDF4.Dataset(path, "w") as ds:
        _coordinates(ds, 5, 6)
        ds.createDimension("member", 4)
        ds.createVariable("field", "f8", ("member", "x", "y"))[:] = 0.0
    return {"file": str(path)}, path, "'field'"


def _break_values(folder: Path) -> tuple[dict, Path, str]:
    path = folder / "members" / "ens_4.nc"
    with netCDF4.Dataset(path, "a") as ds:
        ds["field"][0, 2, 3] = np.nan
    return {"pattern": str(folder / "members" / "ens_*.nc")}, path, "'field'"


def _break_coordinates(folder: Path) -> tuple[dict, Path, str]:
    path = folder / "members" / "ens_2.nc"
    with netCDF4.Dataset(path, "a") as ds:
        ds["x"][:] = ds["x"][:] * 2.0
    return {"pattern": str(folder / "members" / "ens_*.nc")}, path, "'x'"


def _break_not_netcdf(folder: Path) -> tuple[dict, Path, str]:
    path = folder / "members" / "ens_2.nc"
    path.write_text("not a NetCDF file\n")
    return {"pattern": str(folder / "members" / "ens_*.nc")}, path, "NetCDF"


@pytest.mark.parametrize("breaker", [_break_missing_variable, _break_shape, _break_one_member,
                                     _break_single_file, _break_dimensions, _break_values,
                                     _break_coordinates, _break_not_netcdf],
                         ids=lambda f: f.__name__[7:])
def test_malformed_ensemble_is_refused_in_one_line(tmp_path, capsys, breaker):
    _small(tmp_path)
    forecast, path, variable = breaker(tmp_path)
    out = tmp_path / "analysis"
    line = _refusal(capsys, write_config(tmp_path / "c.toml", forecast, tmp_path / "obs.nc",
                                         out))
    assert line.startswith("pdafpy analyse: error: ") and str(path) in line and variable in line
    assert not out.exists()                                         # before any analysis


@pytest.mark.mpi(min_size=2)
def test_a_value_one_rank_finds_bad_is_refused_on_every_rank(tmp_path_factory, capsys):
    """A NaN in the last rank's block only: every rank exits with status 2, rank 0 says why."""
    world = MPI.COMM_WORLD
    folder = Path(world.bcast(str(tmp_path_factory.mktemp("mpi_bad"))
                              if world.Get_rank() == 0 else None))
    if world.Get_rank() == 0:
        _small(folder)
        with netCDF4.Dataset(folder / "members" / "ens_2.nc", "a") as ds:
            ds["field"][0, 4, 5] = np.nan                           # the last column
        write_config(folder / "c.toml", {"pattern": str(folder / "members" / "ens_*.nc")},
                     folder / "obs.nc", folder / "out")
    world.Barrier()
    assert main(["analyse", str(folder / "c.toml"), "-q"]) == 2
    err = capsys.readouterr().err
    assert ("ens_2.nc: variable 'field'" in err) == (world.Get_rank() == 0)
    assert not (folder / "out").exists()


@pytest.mark.parametrize("forecast,key", [({"files": ["a.nc"], "pattern": "*.nc"}, "forecast"),
                                          ({"pattern": "*.nc", "time_h": 3}, "forecast.time_h")])
def test_bad_configuration_is_refused_in_one_line(tmp_path, capsys, forecast, key):
    line = _refusal(capsys, write_config(tmp_path / "c.toml", forecast, tmp_path / "obs.nc",
                                         tmp_path / "out"))
    assert f"error: {key}" in line


def test_output_is_written_under_a_temporary_name_and_renamed(tmp_path, monkeypatch):
    _small(tmp_path)
    renames = []
    real = os.replace
    monkeypatch.setattr(os, "replace", lambda a, b: (renames.append((Path(a), Path(b))),
                                                     real(a, b))[1])
    out = tmp_path / "analysis"
    for layout, expected in (("members", [f"ens_{k}.nc" for k in range(1, 5)]),
                             ("one", ["ensemble.nc"])):
        forecast = ({"pattern": str(tmp_path / "members" / "ens_*.nc")} if layout == "members"
                    else {"file": str(tmp_path / "one" / "ensemble.nc")})
        target = out / layout
        renames.clear()
        config = write_config(tmp_path / "c.toml", forecast, tmp_path / "obs.nc", target)
        assert main(["analyse", str(config), "-q"]) == 0
        names = sorted(expected + ["ensemble_mean.nc"])
        assert sorted(p.name for p in target.iterdir()) == names       # no temporary left
        assert sorted(b.name for _, b in renames) == names
        assert all(a.parent == b.parent and a.name != b.name and not a.exists()
                   for a, b in renames)


def test_a_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    import pdafpy.ensemble_files as files

    _small(tmp_path)
    calls = {"n": 0}
    real = files.gather_blocks

    def failing(*args):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full")
        return real(*args)

    monkeypatch.setattr(files, "gather_blocks", failing)
    out = tmp_path / "analysis"
    config = write_config(tmp_path / "c.toml", {"pattern": str(tmp_path / "members" / "ens_*.nc")},
                          tmp_path / "obs.nc", out)
    assert main(["analyse", str(config), "-q"]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["ens_1.nc", "ens_2.nc"]


def test_member_pattern_sorts_numbers_as_numbers(tmp_path):
    for k in (10, 2, 1):
        (tmp_path / f"ens_{k}.nc").touch()
    found = member_paths((), str(tmp_path / "ens_*.nc"), "")
    assert [p.name for p in found] == ["ens_1.nc", "ens_2.nc", "ens_10.nc"]


def test_levels_and_inflation_run_and_keep_the_layout(tmp_path):
    """A field with levels in one file: the analysis keeps the dimensions; multiplicative
    inflation widens the spread."""
    rng = np.random.default_rng(5)
    path = tmp_path / "ens.nc"
    with netCDF4.Dataset(path, "w") as ds:
        _coordinates(ds, 4, 5)
        ds.createDimension("member", 6)
        ds.createDimension("z", 3)
        ds.createVariable("z", "f8", ("z",))[:] = [0.1, 0.3, 0.6]
        ds.createVariable("theta", "f4", ("member", "z", "y", "x"))[:] = \
            rng.normal(size=(6, 3, 4, 5))
    obs = tmp_path / "obs.nc"
    writer = ObservationWriter(obs, TIME, {"grid_point": "1"})
    writer.write(ObservationRecords.build(0.0, [1.0, 2.0], [1.0, 1.0], [0.2, -0.1], 0.3,
                                          "grid_point"))
    writer.close()
    config = tmp_path / "c.toml"
    config.write_text(f'[forecast]\nfile = "{path}"\nfields = ["theta"]\ntime = "{TIME}"\n'
                      '[filter]\ntype = "letkf"\n[localization]\nradius_m = 1.0\n'
                      '[inflation]\nmultiplicative = 1.5\n'
                      f'[[observations]]\nfield = "theta"\nlevel = 1\nfile = "{obs}"\n'
                      f'[output]\ndirectory = "{tmp_path / "out"}"\n')
    assert main(["analyse", str(config), "-q"]) == 0
    with netCDF4.Dataset(path) as a, netCDF4.Dataset(tmp_path / "out" / "ens.nc") as b:
        assert b["theta"].dimensions == a["theta"].dimensions and b["theta"].dtype == np.float32
        before, after = np.array(a["theta"][:]), np.array(b["theta"][:])
    assert np.max(np.abs(after - before)[:, 1, 0, :2]) > 1e-3       # observed: analysed
    far = (..., slice(3, None))                                      # beyond the radius
    assert np.allclose(after.std(axis=0)[far], 1.5 * before.std(axis=0)[far], rtol=1e-5)
    assert np.allclose(after.mean(axis=0)[far], before.mean(axis=0)[far], atol=1e-6)


def test_the_documentation_lists_every_key():
    text = (REPO / "docs" / "offline.md").read_text()
    for section, name in ((ForecastSection, "forecast"), (AnalysisOutputSection, "output")):
        for key in section.__dataclass_fields__:
            assert re.search(rf"`{key}`", text), f"[{name}] {key} is not in docs/offline.md"

"""``pdafpy report``: figures of a twin experiment's outputs, and its errors on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from models.landda.report import FIGURES, default_cells, layer_weights, read_run
from pdafpy.cli import main
from pdafpy.decomposition import Box
from pdafpy.model import FieldSpec, Grid
from pdafpy.output import EnsembleWriter
from pdafpy.segments import open_output
from pdafpy.state import StateLayout

netCDF4 = pytest.importorskip("netCDF4")
pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BOUNDS = np.array([0.0, 0.02, 0.05, 0.15, 0.5, 1.2, 3.0])
NY, NX, NZ, N = 3, 4, 6, 4
SUMMARY = {"variables": {"surface": {"open_loop": {"ubrmse": 0.03}, "assimilation": {
    "ubrmse": 0.02}, "assimilation_forecast": {"ubrmse": 0.025}, "ubrmse_reduction": 0.33,
    "forecast_ubrmse_reduction": 0.17, "spread_over_rmse": 0.8}},
    "seconds": {"forecast": 1.5, "analyse": 0.2}, "wall_s": 1.8, "filter": "letkf",
    "members": N, "observations_used": 10}


def write_outputs(folder: Path, cycles: int = 3) -> dict[str, np.ndarray]:
    """The three files of a run (forecast and analysis records per cycle) and summary.json;
    returns the surface (0-5 cm) water content of the assimilation mean per record."""
    grid = Grid.uniform(NY, NX, dy=500.0, dx=500.0, z=0.5 * (BOUNDS[1:] + BOUNDS[:-1]))
    fields = (FieldSpec("water_content", NZ, "m3 m-3"), FieldSpec("water_table_depth", 1, "m"))
    box = Box(0, NY, 0, NX)
    layout = StateLayout(fields, box)
    rng = np.random.default_rng(5)
    surface = []
    for k, n in (("assimilation", N), ("open_loop", N), ("truth", 1)):
        writer = EnsembleWriter(folder / f"{k}.nc", MPI.COMM_SELF, [box], grid, fields,
                                "2020-05-01T00:00:00", n, z_bounds=BOUNDS)
        for cycle in range(cycles):
            for analysis in (False, True):
                ens = np.empty((n, layout.size))
                layout.view(ens, "water_content")[:] = rng.uniform(0.1, 0.4, (n, NZ, NY, NX))
                layout.view(ens, "water_table_depth")[:] = rng.uniform(1, 3, (n, 1, NY, NX))
                writer.write(86400.0 * (cycle + 1), analysis, ens, layout)
                if k == "assimilation":
                    theta = layout.view(ens, "water_content").mean(axis=0)
                    surface.append((0.02 * theta[0] + 0.03 * theta[1]) / 0.05)
        writer.close()
    (folder / "summary.json").write_text(json.dumps(SUMMARY))
    return {"surface": np.array(surface)}


@pytest.fixture()
def outputs(tmp_path):
    folder = tmp_path / "run"
    expected = write_outputs(folder)
    return folder, expected


def check_pngs(folder: Path, printed: str) -> None:
    for name in FIGURES:
        path = folder / name
        assert path.read_bytes()[:8] == PNG_MAGIC, name
        assert str(path) in printed
    assert sorted(p.name for p in folder.iterdir()) == sorted(FIGURES)   # no temporary left


def test_report_writes_every_figure_as_png(outputs, capsys):
    folder, _ = outputs
    assert main(["report", str(folder)]) == 0
    check_pngs(folder / "report", capsys.readouterr().out)


def test_report_takes_cells_and_a_figure_folder(outputs, tmp_path, capsys):
    folder, _ = outputs
    assert main(["report", str(folder), "--cells", "0,0", "2,3", "--out",
                 str(tmp_path / "figs")]) == 0
    check_pngs(tmp_path / "figs", capsys.readouterr().out)
    assert not (folder / "report").exists()


def test_layer_averages_are_thickness_weighted_from_the_layer_bounds(outputs):
    folder, expected = outputs
    with open_output(folder / "truth.nc") as ds:
        assert ds["z"].bounds == "z_bnds"
        assert np.allclose(ds["z_bnds"][:, 0], BOUNDS[:-1])
        assert np.allclose(ds["z_bnds"][:, 1], BOUNDS[1:])
    run = read_run(folder / "assimilation.nc")
    assert run.kind.tolist() == [0, 1] * 3
    assert np.allclose(run.layer_mean(0.05), expected["surface"], rtol=1e-14, atol=0.0)
    assert np.allclose(layer_weights(BOUNDS, 0.1), [0.2, 0.3, 0.5, 0, 0, 0])
    assert np.allclose(layer_weights(BOUNDS, 1.0), np.diff(np.minimum(BOUNDS, 1.0)))
    with pytest.raises(ValueError, match="z_bounds must hold nz"):
        EnsembleWriter(folder / "x.nc", MPI.COMM_SELF, [Box(0, NY, 0, NX)],
                       Grid.uniform(NY, NX, z=BOUNDS[1:]), (FieldSpec("theta", NZ),),
                       "2020-05-01T00:00:00", 1, z_bounds=BOUNDS[1:])
    assert not list(folder.glob("x.*"))


def test_default_cells_are_distinct_and_inside_the_grid():
    assert default_cells(12, 12) == [(3, 3), (6, 6), (8, 8)]
    assert default_cells(3, 4) == [(0, 1), (1, 2), (2, 2)]
    assert default_cells(1, 1) == [(0, 0)]


def bad_input(folder: Path, what: str) -> Path:
    """Spoil one input of a run in ``folder``; returns the path the error must name."""
    if what == "folder":
        return folder / "nowhere"
    if what == "missing file":
        (folder / "truth.00000.nc").unlink()
        return folder / "truth.nc"
    if what == "not netcdf":
        (folder / "open_loop.00000.nc").write_text("not a netcdf file\n")
        return folder / "open_loop.nc"
    if what == "not a pdafpy output":
        with netCDF4.Dataset(folder / "assimilation.nc", "w") as ds:
            ds.createDimension("time", None)
            ds.createVariable("time", "f8", ("time",))
        return folder / "assimilation.nc"
    if what == "summary not json":
        (folder / "summary.json").write_text("{oops")
        return folder / "summary.json"
    if what == "summary without skill":
        (folder / "summary.json").write_text(json.dumps({"seconds": {}, "wall_s": 1.0}))
        return folder / "summary.json"
    raise AssertionError(what)


@pytest.mark.parametrize("what", ["folder", "missing file", "not netcdf", "not a pdafpy output",
                                  "summary not json", "summary without skill"])
def test_bad_input_is_one_line_naming_the_path_and_exit_2(outputs, capsys, what):
    folder, _ = outputs
    path = bad_input(folder, what)
    assert main(["report", str(path if what == "folder" else folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert str(path) in err and "expected" in err
    assert not (folder / "report").exists() or not any((folder / "report").iterdir())


def test_a_figure_folder_that_is_a_file_is_one_line_and_exit_2(outputs, capsys):
    folder, _ = outputs
    target = folder / "summary.json"
    assert main(["report", str(folder), "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(target) in err and "cannot make the folder" in err


def test_bad_cells_are_named(outputs, capsys):
    folder, _ = outputs
    assert main(["report", str(folder), "--cells", "3,0"]) == 2
    err = capsys.readouterr().err
    assert "--cells '3,0'" in err and "0 <= ROW < 3" in err


def test_report_of_a_real_twin_run(tmp_path):
    """The figures of a tiny twin run (1 rank, 4 x 3 columns, 4 members, 1 day)."""
    cfg = tmp_path / "tiny.toml"
    cfg.write_text('[grid]\nnx = 4\nny = 3\ndz_m = [0.05, 0.1, 0.35, 0.5, 1.0, 2.0]\n'
                   '[schedule]\nlength_days = 1.0\n[ensemble]\nsize = 4\n')
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    out = tmp_path / "out"
    proc = subprocess.run(["mpirun", "-n", "1", sys.executable, "-m", "pdafpy.cli", "run",
                           str(cfg), "--out", str(out)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    proc = subprocess.run([sys.executable, "-m", "pdafpy.cli", "report", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    check_pngs(out / "report", proc.stdout)
    run = read_run(out / "assimilation.nc")
    assert np.allclose(run.bounds, np.concatenate([[0.0], np.cumsum(
        [0.05, 0.1, 0.35, 0.5, 1.0, 2.0])]))

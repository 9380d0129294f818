"""One validation pass before any model work: ``pdafpy run CONFIG --check`` refuses bad input in
one line naming the key, file or value (exit status 2, no traceback, no output folder), for the
inputs that used to fail only when the model was built or after a cycle: NetCDF forcing files
(missing, too short, implausible values in their units), model tables that do not fit the grid
or each other, PETSc options, the grid's size for PETSc's index and the memory per rank."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.forcing import write_netcdf
from pdafpy.errors import ConfigError, InputFileError
from pdafpy.experiment import load_configuration

START = "2020-05-01 00:00:00"
#: Plausible forcing in the file's SI units.
GOOD = {"precipitation": 1e-5, "shortwave": 300.0, "longwave": 330.0, "air_temperature": 288.0,
        "specific_humidity": 0.008, "wind_speed": 3.0, "surface_pressure": 101000.0}
#: A short twin over the model's defaults (12 x 12 columns of 15 layers).
SHORT = "[schedule]\nlength_days = 1.0\n"


def _check(tmp_path: Path, text: str) -> tuple[subprocess.CompletedProcess, Path]:
    """``pdafpy run CONFIG --check`` on ``text`` (its output folder ``tmp_path/out``)."""
    out = tmp_path / "out"
    config = tmp_path / "case.toml"
    config.write_text(f'{text}\n[output]\ndirectory = "{out}"\n')
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.run([sys.executable, "-m", "pdafpy.cli", "run", str(config), "--check"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    return proc, out


def _refused(tmp_path: Path, text: str, *names: str) -> str:
    """Assert the configuration is refused in one line naming ``names``; the line."""
    proc, out = _check(tmp_path, text)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("pdafpy run: error: ")
    for name in names:
        assert name in lines[0], lines[0]
    assert not out.exists()
    return lines[0]


def _forcing(path: Path, hours: int = 48, start: str = START, gridded: bool = False,
             ny: int = 12, nx: int = 12, **values) -> Path:
    """A forcing file of ``hours`` hourly records, GOOD values unless given (a number, or a
    function of the hour)."""
    given = dict(GOOD, **values)

    def at(t: float) -> dict:
        return {k: (v(t / 3600.0) if callable(v) else v) for k, v in given.items()}

    write_netcdf(path, at, hours, ny, nx, start=start, gridded=gridded)
    return path


def _netcdf(path: Path) -> str:
    return f'[forcing]\ntype = "netcdf"\npath = "{path}"\n'


# ---------------------------------------------------------------------------- memory, PETSc
def test_a_huge_ensemble_is_refused_with_the_estimate(tmp_path):
    _refused(tmp_path, "[ensemble]\nsize = 1000000\n", "ensemble.size = 1000000",
                    "GiB per rank", "MemTotal")


def test_a_grid_beyond_petsc_s_index_is_refused_with_that_reason(tmp_path):
    _refused(tmp_path, "[grid]\nnx = 100000\nny = 100000\n", "grid.nx = 100000",
             "overflow PETSc's 32-bit index")


def test_a_configured_memory_limit_names_the_grid(tmp_path):
    _refused(tmp_path, "[grid]\nnx = 1000\nny = 1000\n[parallel]\nmemory_per_rank_gib = 2.0\n",
             "grid.nx = 1000, grid.ny = 1000", "parallel.memory_per_rank_gib = 2")


# ---------------------------------------------------------------------------- forcing files
def test_a_valid_forcing_file_passes(tmp_path):
    path = _forcing(tmp_path / "f.nc")
    proc, out = _check(tmp_path, _netcdf(path) + SHORT)
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout and not out.exists()


def test_a_missing_forcing_file_is_refused(tmp_path):
    _refused(tmp_path, _netcdf(Path("nowhere.nc")) + SHORT, "forcing file nowhere.nc",
             "no such file", "relative to the working folder")


def test_a_forcing_file_shorter_than_the_run_is_refused(tmp_path):
    """It used to fail only when the run reached its end."""
    path = _forcing(tmp_path / "f.nc", hours=30)
    _refused(tmp_path, _netcdf(path) + "[schedule]\nlength_days = 2.0\n", f"forcing file {path}",
             "too short for the run", "schedule.length_days = 2", "2020-05-02 06:00:00")


@pytest.mark.parametrize("values, names", [
    ({"air_temperature": 15.0}, ["'air_temperature' (air_temperature, units 'K')",
                                 "ranges 15 to 15 K", "[180, 340] K", "degrees Celsius"]),
    ({"precipitation": lambda h: 2.0 if h == 7 else 0.0},
     ["(precipitation", "ranges 0 to 2 kg m-2 s-1", "2020-05-01 07:00:00", "[0, 0.15]"]),
    ({"surface_pressure": 1013.0}, ["(surface_pressure", "[30000, 110000] Pa"]),
    ({"specific_humidity": 8.0}, ["(specific_humidity", "[0, 0.05] kg kg-1"]),
    ({"shortwave": lambda h: np.nan if h == 3 else 200.0},
     ["(shortwave) has a NaN or missing value at time 2020-05-01 03:00:00"]),
])
def test_implausible_forcing_values_are_refused_naming_variable_and_ranges(tmp_path, values,
                                                                          names):
    path = _forcing(tmp_path / "f.nc", **values)
    _refused(tmp_path, _netcdf(path) + SHORT, f"forcing file {path}", *names)


def test_a_gridded_forcing_file_on_another_grid_is_refused(tmp_path):
    path = _forcing(tmp_path / "f.nc", gridded=True, ny=3, nx=4)
    _refused(tmp_path, _netcdf(path) + SHORT, "has shape (48, 3, 4)", "(time, 12, 12)")


def test_a_forcing_file_that_is_not_netcdf_or_has_unknown_units_is_refused(tmp_path):
    import netCDF4

    from models.forcing_check import check_forcing_file

    text = tmp_path / "f.nc"
    text.write_text("not a NetCDF file\n")
    with pytest.raises(InputFileError, match=r"f.nc: cannot be opened as NetCDF"):
        check_forcing_file({"type": "netcdf", "path": str(text)}, 12, 12, 86400.0)
    path = _forcing(tmp_path / "g.nc")
    with netCDF4.Dataset(path, "a") as ds:
        ds.variables["wind_speed"].setncattr("units", "knots")
    with pytest.raises(InputFileError, match=r"'wind_speed' \(wind_speed\) has unknown units "
                                             r"'knots'"):
        check_forcing_file({"type": "netcdf", "path": str(path)}, 12, 12, 86400.0)


def test_large_gridded_variables_are_read_on_a_stride(tmp_path):
    from models.forcing import NetCDFForcing
    from models.forcing_check import check_plausible, sampling_stride
    from pdafpy.decomposition import Box

    assert sampling_stride(10, 4, 4, limit=1000) == 1
    assert sampling_stride(100, 40, 40, limit=100 * 20 * 20) == 2
    hot = np.full((6, 6), 288.0)
    hot[1, 1] = 400.0                                    # only on an odd row and column
    path = _forcing(tmp_path / "f.nc", hours=4, gridded=True, ny=6, nx=6, air_temperature=hot)
    reader = NetCDFForcing(path, Box(0, 6, 0, 6), 6, 6)
    with pytest.raises(InputFileError, match="ranges 288 to 400 K"):
        check_plausible(reader, limit=10 ** 6)
    check_plausible(reader, limit=4 * 3 * 3)            # stride 2 misses it, as documented
    reader.close()


# ---------------------------------------------------------------------------- model tables
@pytest.mark.parametrize("text, names", [
    ("[soil]\ntheta_r = [0.5" + ", 0.078" * 14 + "]\n",
     ["soil.theta_r = 0.5: must be below soil.theta_s = 0.43",
      "first in layer 0; 1 of the 15 layers"]),
    ('[land]\nland_cover = [["grass", "crop"], ["grass", "crop"]]\n',
     ["land.land_cover: a map of shape (2, 2)", "(12, 12)"]),
    ("[perturbations]\ninitial_head_sd_m = [0.1, 0.2]\n",
     ["perturbations.initial_head_sd_m: 2 values", "15"]),
    ("[solver]\ndt_min_s = 100.0\ndt_max_s = 10.0\n", ["solver.dt_min_s = 100"]),
    ('[solver.petsc_options]\nksp_type = "nonexistent"\n',
     ["solver.petsc_options.ksp_type = 'nonexistent'", "Unable to find requested KSP type"]),
    ("[perturbations]\nforcing_correlation = [[1.0, 2.0, 0.0], [2.0, 1.0, 0.0], "
     "[0.0, 0.0, 1.0]]\n", ["perturbations.forcing_correlation must be positive definite"]),
    ('[[observations]]\ntype = "groundwater_level"\ncount = 200\n',
     ["observations[0].count = 200: more wells than the 144 grid columns"]),
])
def test_model_tables_the_model_refused_when_built_are_refused_before(tmp_path, text, names):
    """Each used to pass --check and end the run after the output folder was made (exit 1 or
    a traceback)."""
    _refused(tmp_path, text + SHORT, *names)


def test_a_grid_that_cannot_be_split_over_a_task_s_ranks_is_refused():
    loaded = load_configuration({"grid": {"nx": 1, "ny": 1}, "observations": [
        {"type": "surface_soil_moisture"}]})
    with pytest.raises(ConfigError, match=r"grid.nx = 1, grid.ny = 1: 1 columns cannot be split "
                                          r"over the 2 ranks of each model task"):
        loaded.experiment.check_layout(loaded.cfg, loaded.tables, 2)
    loaded = load_configuration({"parallel": {"filter_ranks": 200}})
    with pytest.raises(ConfigError, match=r"parallel.filter_ranks = 200: 144 grid columns"):
        loaded.experiment.check_layout(loaded.cfg, loaded.tables, 201)


def test_petsc_options_that_petsc_reads_are_accepted():
    from models.richards.option_check import check_petsc_options
    check_petsc_options({"ksp_type": "bcgs", "snes_rtol": 1e-10, "pc_type": "jacobi"})
    check_petsc_options({"pc_type": "mg", "pc_mg_levels": 3})     # set up on the grid only
    with pytest.raises(ConfigError, match=r"solver.petsc_options.sub_pc_type = 'nonexistent': "
                                          r"PETSc refuses it \(Unable to find requested PC type"):
        check_petsc_options({"sub_pc_type": "nonexistent"})
    with pytest.raises(ConfigError, match=r"solver.petsc_options.snes_rtol = 'abc'"):
        check_petsc_options({"snes_rtol": "abc"})
    with pytest.raises(ConfigError, match=r"retry_linesearch = 'nope': expected one of"):
        check_petsc_options({"retry_linesearch": "nope"})
    check_petsc_options({"own_row_correction": False})
    check_petsc_options({"own_row_correction": "on"})
    with pytest.raises(ConfigError, match=r"^solver.petsc_options.own_row_correction = 'maybe': "
                                          r"expected true or false$"):
        check_petsc_options({"own_row_correction": "maybe"})
    check_petsc_options({"near_saturation_step": "no"})
    with pytest.raises(ConfigError, match=r"^solver.petsc_options.near_saturation_step = '2': "
                                          r"expected true or false$"):
        check_petsc_options({"near_saturation_step": 2})


# ---------------------------------------------------------------------------- observations
def _observation_file(path: Path) -> Path:
    """Surface soil moisture 12 h and a well 90 days after the default start."""
    from pdafpy.obs.files import ObservationWriter
    from pdafpy.obs.records import ObservationRecords

    writer = ObservationWriter(path, "2020-05-01T00:00:00",
                               {"surface_soil_moisture": "m3 m-3", "groundwater_level": "m"})
    writer.write(ObservationRecords.build(
        np.array([43200.0, 90 * 86400.0]), np.array([250.0, 250.0]), np.array([250.0, 250.0]),
        np.array([0.3, 1.5]), np.array([0.02, 0.05]),
        ["surface_soil_moisture", "groundwater_level"]))
    writer.close()
    return path


def test_an_observation_type_with_no_record_in_the_run_is_warned_about(tmp_path, caplog):
    from pdafpy.obs.module import check_files

    path = _observation_file(tmp_path / "obs.nc")
    loaded = load_configuration({"mode": "assimilate", "observations": [
        {"type": "surface_soil_moisture", "file": str(path), "interval_h": 12.0},
        {"type": "groundwater_level", "file": str(path), "interval_h": 24.0}]})
    with caplog.at_level(logging.WARNING):
        check_files(loaded.cfg.observations, loaded.cfg.schedule.start, 1.0)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and warned[0].startswith("observations[1] (type 'groundwater_level'")
    assert "its 1 records lie 2160 h to 2160 h after schedule.start" in warned[0]
    assert "its analyses take observations from 0 h to 24 h" in warned[0]


def test_pdafpy_run_check_warns_once_and_accepts(tmp_path):
    path = _observation_file(tmp_path / "obs.nc")
    proc, out = _check(tmp_path, f'mode = "assimilate"\n'
                                 f'[[observations]]\ntype = "surface_soil_moisture"\n'
                                 f'interval_h = 12.0\nfile = "{path}"\n'
                                 f'[[observations]]\ntype = "groundwater_level"\n'
                                 f'interval_h = 24.0\nfile = "{path}"\n' + SHORT)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("WARNING") == 1 and "observations[1]" in proc.stderr
    assert not out.exists()


def test_a_run_shorter_than_its_first_analysis_is_refused(tmp_path):
    """It used to end at once, having advanced nothing, with exit status 0."""
    _refused(tmp_path, "[schedule]\nlength_days = 0.25\n", "schedule.length_days = 0.25",
             "the first analysis, 24 h after the start")

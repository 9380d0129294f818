"""``pdafpy calibrate sekf``: B's per-layer sd and vertical correlation recovered from errors
drawn with known statistics, and bad input refused in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

netCDF4 = pytest.importorskip("netCDF4")

from models.landda.sekf_calibration import (background_statistics,  # noqa: E402
                                            fit_correlation_length, main)

DEPTH = np.array([0.0088, 0.0313, 0.0678, 0.128, 0.2273, 0.391, 0.6609, 1.1])
SD = np.array([0.04, 0.045, 0.05, 0.06, 0.07, 0.09, 0.1, 0.12])
LENGTH_M = 0.5


def _write(path: Path, time: np.ndarray, values: np.ndarray, name: str = "water_content_mean"
           ) -> Path:
    """A land output file as pdafpy writes them (NETCDF4_CLASSIC, time unlimited)."""
    with netCDF4.Dataset(path, "w", format="NETCDF4_CLASSIC") as ds:
        nt, nz, ny, nx = values.shape
        for dim, n in (("time", None), ("z", nz), ("y", ny), ("x", nx)):
            ds.createDimension(dim, n)
        ds.createVariable("time", "f8", ("time",))[:] = time
        ds.createVariable("z", "f8", ("z",))[:] = DEPTH[:nz]
        ds.createVariable(name, "f8", ("time", "z", "y", "x"))[:] = values
    return path


def _pair(tmp_path: Path, seed: int = 1) -> tuple[Path, Path]:
    """A reference and a control whose errors have sd SD and correlation exp(-dz / LENGTH_M);
    the control has a forecast and an analysis record per time, and only the last is used."""
    rng = np.random.default_rng(seed)
    nt, ny, nx = 400, 5, 6
    corr = np.exp(-np.abs(DEPTH[:, None] - DEPTH[None, :]) / LENGTH_M)
    errors = rng.multivariate_normal(np.zeros(DEPTH.size), corr * np.outer(SD, SD),
                                     size=(nt, ny, nx)).transpose(0, 3, 1, 2)
    reference = 0.3 + 0.02 * rng.standard_normal((nt, DEPTH.size, ny, nx))
    control = np.repeat(reference + errors, 2, axis=0)
    control[0::2] += 1.0                                   # the forecast records: ignored
    time = np.arange(nt) * 86400.0
    return (_write(tmp_path / "control.nc", np.repeat(time, 2), control),
            _write(tmp_path / "reference.nc", time, reference))


def test_the_sd_and_the_correlation_length_of_drawn_errors_are_recovered(tmp_path):
    control, reference = _pair(tmp_path)
    stats = background_statistics(control, reference, layers=7)
    assert stats.samples == 400 * 5 * 6
    assert np.allclose(stats.background_sd, SD[:7], rtol=0.03)
    assert np.allclose(stats.bias, 0.0, atol=0.003)
    assert stats.vertical_correlation_m == pytest.approx(LENGTH_M, rel=0.1)


def test_run_folders_are_read_whole_from_their_segments(tmp_path):
    """A run folder's open_loop.nc in two time segments and a truth folder's truth.nc: the same
    statistics as the single files."""
    control, reference = _pair(tmp_path)
    with netCDF4.Dataset(control) as ds:
        time, values = ds["time"][:], ds["water_content_mean"][:]
    run, truth = tmp_path / "run", tmp_path / "truth"
    run.mkdir()
    truth.mkdir()
    half = time.size // 2
    _write(run / "open_loop.00000.nc", time[:half], values[:half])
    _write(run / "open_loop.00001.nc", time[half:], values[half:])
    reference.rename(truth / "truth.nc")
    whole = background_statistics(control, truth / "truth.nc", layers=4)
    assert background_statistics(run / "open_loop.nc", truth / "truth.nc", 4) == whole
    assert main(["--control", str(run), "--reference", str(truth), "--layers", "4"]) == 0


def test_a_perfectly_correlated_error_has_no_correlation_length_to_fit():
    assert fit_correlation_length(DEPTH[:3], np.ones((3, 3))) == 0.0
    corr = np.exp(-np.abs(DEPTH[:3, None] - DEPTH[None, :3]) / 2.0)
    assert fit_correlation_length(DEPTH[:3], corr) == pytest.approx(2.0)


def test_the_command_prints_the_sekf_keys_and_writes_json(tmp_path, capsys):
    control, reference = _pair(tmp_path)
    assert main(["--control", str(control), "--reference", str(reference), "--layers", "3",
                 "--json", str(tmp_path / "b.json")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("background_sd = [") and out[1].startswith(
        "vertical_correlation_m = ")
    assert (tmp_path / "b.json").read_text().count("background_sd") == 1


@pytest.mark.parametrize("case, expected", [
    ("missing", "not found"),
    ("variable", "no variable 'water_content_mean'"),
    ("layers", "fewer than --layers 9"),
    ("grid", "differs from"),
    ("time", "no time in common"),
])
def test_bad_input_is_refused_in_one_line(tmp_path, capsys, case, expected):
    control, reference = _pair(tmp_path)
    values = np.zeros((2, DEPTH.size, 5, 6))
    layers = "9" if case == "layers" else "3"
    if case == "missing":
        reference = tmp_path / "nothere.nc"
    elif case == "variable":
        reference = _write(tmp_path / "other.nc", np.arange(2.0), values, name="head")
    elif case == "grid":
        reference = _write(tmp_path / "small.nc", np.arange(2.0), values[:, :, :4])
    elif case == "time":
        reference = _write(tmp_path / "late.nc", np.arange(2.0) + 1e9, values)
    assert main(["--control", str(control), "--reference", str(reference),
                 "--layers", layers]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expected in err[0]

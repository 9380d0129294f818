"""Observation modules: registration, operators built from records, the non-stencil operator
form, and a twin run through the truth pass and its observation file."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pdafpy.errors import ConfigError
from pdafpy.localize import Localization
from pdafpy.model import FieldSpec, Grid
from pdafpy.obs.module import (ObservationContext, ObservationModule, build_modules,
                               nearest_columns, observation_module)
from pdafpy.obs.operators import column_function
from pdafpy.obs.records import QC_GOOD, QC_REJECTED, QC_WITHHELD, ObservationRecords
from pdafpy.segments import segment_paths
from pdafpy.decomposition import Box

GRID = Grid.uniform(4, 6, dy=100.0, dx=50.0)
FIELDS = (FieldSpec("temperature", 3, "K"),)
LOC = Localization.from_pdaf(200.0, 200.0, "gaspari_cohn")


def context(seed: int = 1) -> ObservationContext:
    return ObservationContext(GRID, FIELDS, seed, LOC)


def grid_point_module(**keys):
    from pdafpy.config import parse_section
    from pdafpy.obs.grid_point import GridPointSection
    section = parse_section(GridPointSection, {"field": "temperature", **keys}, "observations")
    return build_modules([section], context())[0]


def test_types_are_found_by_their_registered_name():
    from pdafpy.obs.grid_point import GridPointObservations
    assert observation_module("grid_point") is GridPointObservations
    assert issubclass(observation_module("groundwater_level"), ObservationModule)
    with pytest.raises(ConfigError, match="observations.type = 'nope': not installed; installed: "
                                          ".*grid_point"):
        observation_module("nope")


def test_grid_point_units_are_the_observed_fields():
    assert grid_point_module().units == "K"
    with pytest.raises(ConfigError, match=r"observations\[0\].level = 3: field 'temperature' "
                                          r"has levels 0..2"):
        grid_point_module(level=3)


def test_the_network_operator_is_rebuilt_from_the_records_coordinates():
    module = grid_point_module(stride=2, level=1, withheld_fraction=0.25)
    network = module.network()
    assert network.size == 6                          # rows 0, 2 x columns 0, 2, 4
    assert np.sum(network.qc == QC_WITHHELD) == 2
    op = module.operator(network)
    rows, cols = np.meshgrid([0, 2], [0, 2, 4], indexing="ij")
    np.testing.assert_array_equal(op.row[:, 0], rows.ravel())
    np.testing.assert_array_equal(op.col[:, 0], cols.ravel())
    assert np.all(op.level == 1)


def test_nearest_and_bilinear_operators_from_off_grid_locations():
    x, y = np.array([74.0, 76.0, 250.0]), np.array([149.0, 151.0, 0.0])
    np.testing.assert_array_equal(np.column_stack(nearest_columns(GRID, x, y)),
                                  [[1, 1], [2, 2], [0, 5]])
    recs = ObservationRecords.build(0.0, x, y, 0.0, 1.0, "grid_point")
    field = np.arange(3 * 4 * 6, dtype=float).reshape(1, 3, 4, 6)   # value = 24 l + 6 r + c
    box = Box(0, 4, 0, 6)
    hx = grid_point_module(interpolation="bilinear").operator(recs).apply(field, box)[0]
    np.testing.assert_allclose(hx, 6 * y / 100.0 + x / 50.0)          # linear: exact


def test_quality_control_keeps_the_good_and_the_window_selects_by_time_and_type():
    module = grid_point_module()
    recs = ObservationRecords.build([10.0, 20.0, 20.0, 30.0], [0.0, 50.0, 100.0, 150.0], 0.0,
                                    [1.0, 2.0, 3.0, 4.0], 0.5,
                                    ["grid_point", "grid_point", "other", "grid_point"],
                                    qc=[QC_GOOD, QC_GOOD, QC_GOOD, QC_REJECTED])
    chosen = module.select(recs, 10.0, 30.0)
    assert chosen.value.tolist() == [2.0, 4.0]
    obs = module.observation_type(chosen)
    assert obs.value.tolist() == [2.0] and obs.operator.col[:, 0].tolist() == [1]


def test_a_column_function_operator_applies_a_nonlinear_function_per_observation():
    thickness = np.array([0.1, 0.2, 0.7])

    def depth_weighted(values, coeff):                 # a CRNS-like non-linear weighting
        weights = coeff * np.exp(-values)
        return (weights * values).sum(-1) / weights.sum(-1)

    op = column_function("temperature", [1, 3], [2, 0], [0, 1, 2], depth_weighted,
                         np.tile(thickness, (2, 1)))
    rng = np.random.default_rng(0)
    field = rng.random((5, 3, 4, 6))
    hx = op.apply(field, Box(0, 4, 0, 6))
    for i, (r, c) in enumerate(((1, 2), (3, 0))):
        v = field[:, :, r, c]
        w = thickness * np.exp(-v)
        np.testing.assert_allclose(hx[:, i], (w * v).sum(1) / w.sum(1))
    np.testing.assert_allclose(op.subset(np.array([1])).apply(field, Box(0, 4, 0, 6))[:, 0],
                               hx[:, 1])
    moved = op.apply(field[:, :, 1:, :], Box(1, 4, 0, 6))           # a block holding both
    np.testing.assert_allclose(moved, hx)
    assert op.reach(Box(0, 2, 0, 3)) == 3 - 1


L96 = """
model = "lorenz96"
mode = "{mode}"
[ensemble]
size = 10
seed = 5
[localization]
radius_m = 8.0
[inflation]
multiplicative = 1.05
[[observations]]
type = "grid_point"
field = "x"
interval_h = 6.0
{obs}
[schedule]
length_days = 15.0
[lorenz96]
n = 20
"""


def _run(tmp_path, name, mode, obs="error = 1.0\nstride = 2", extra=""):
    from pdafpy.run import main
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(L96.format(mode=mode, obs=obs) + extra)
    status = main([str(cfg), "--out", str(tmp_path / name), "-q"])
    summary = tmp_path / name / "summary.json"
    return status, json.loads(summary.read_text()) if summary.exists() else None


def test_the_truth_pass_and_its_file_give_the_inline_twins_skill_bit_for_bit(tmp_path):
    status, twin = _run(tmp_path, "twin", "twin")
    assert status == 0
    status, truth = _run(tmp_path, "truth", "truth")
    assert status == 0 and truth["observations_written"] == 60 * 10
    obs = tmp_path / "truth" / "observations.nc"
    status, assim = _run(tmp_path, "assim", "assimilate", f'file = "{obs}"',
                         f'[verification]\ntruth = "{tmp_path / "truth" / "truth.nc"}"\n')
    assert status == 0
    assert assim["variables"] == twin["variables"]
    assert assim["observations_used"] == twin["observations_used"] == 600
    x = twin["variables"]["x"]
    assert x["assimilation"]["rmse"] < 0.5 * x["open_loop"]["rmse"]


def test_bad_observation_files_end_the_run_in_one_line_with_status_2(tmp_path, capsys):
    status, _ = _run(tmp_path, "truth", "truth")
    assert status == 0
    obs = tmp_path / "truth" / "observations.nc"
    import netCDF4
    with netCDF4.Dataset(segment_paths(obs)[0], "a") as ds:
        ds["x"][3] = 400.0                                 # the ring has 20 points
    capsys.readouterr()
    status, _ = _run(tmp_path, "assim", "assimilate", f'file = "{obs}"')
    err = capsys.readouterr().err.strip()
    assert status == 2 and "\n" not in err
    assert "variables 'x', 'y': observation 3 at (400, 0) lies outside the model grid" in err
    status, _ = _run(tmp_path, "assim", "assimilate", f'file = "{obs}"\nerror = 2.0')
    assert status == 2
    assert "observations[0].error: shapes a twin's synthetic observations only" in \
        capsys.readouterr().err
    status, _ = _run(tmp_path, "twin2", "twin", f'file = "{obs}"')
    assert status == 2
    assert "only modes 'assimilate' and 'free' read observation files" in \
        capsys.readouterr().err


def test_bilinear_takes_the_edge_value_in_the_half_cell_past_the_grid():
    recs = ObservationRecords.build(0.0, [-20.0, 270.0], [340.0, -40.0], 0.0, 1.0, "grid_point")
    field = np.arange(3 * 4 * 6, dtype=float).reshape(1, 3, 4, 6)
    hx = grid_point_module(interpolation="bilinear").operator(recs).apply(field, Box(0, 4, 0, 6))
    np.testing.assert_allclose(hx[0], [6 * 3 + 0, 0 + 5])


SENSOR = '''
import numpy as np
from dataclasses import dataclass
from pdafpy.config import option
from pdafpy.experiment_config import ObservationSection
from pdafpy.obs.module import ObservationModule, nearest_columns
from pdafpy.obs.operators import grid_average
from pdafpy.obs.records import ObservationRecords


@dataclass(frozen=True)
class PairSection(ObservationSection):
    type: str = option("pairs:PairMean", "observation type")


class PairMean(ObservationModule):
    """The mean of two neighbouring Lorenz-96 variables, at every 4th one."""
    name, units, section_class = "pair_mean", "1", PairSection

    def network(self):
        x = self.context.grid.x[::4]
        return ObservationRecords.build(0.0, x, 0.0, np.nan, self.section.error, self.name)

    def operator(self, records):
        rows, cols = nearest_columns(self.context.grid, records.x, records.y)
        cols = np.column_stack([cols, (cols + 1) % self.context.grid.nx])
        return grid_average("x", np.column_stack([rows, rows]), cols)
'''


def test_a_type_is_one_file_beside_the_configuration(tmp_path):
    (tmp_path / "pairs.py").write_text(SENSOR)
    cfg = (L96.format(mode="twin", obs="error = 0.5")
           .replace('type = "grid_point"\nfield = "x"', 'type = "pairs:PairMean"'))
    (tmp_path / "pairs.toml").write_text(cfg)
    from pdafpy.run import main
    assert main([str(tmp_path / "pairs.toml"), "--out", str(tmp_path / "out"), "-q"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["observations_used"] == 60 * 5
    x = summary["variables"]["x"]
    assert x["assimilation"]["rmse"] < x["open_loop"]["rmse"]
    import netCDF4
    (segment,) = segment_paths(tmp_path / "out" / "observations.nc")
    with netCDF4.Dataset(segment) as ds:
        assert set(ds["type"][:]) == {"pair_mean"}


def test_a_truth_pass_of_a_smaller_ensemble_is_refused(tmp_path, capsys):
    assert _run(tmp_path, "truth", "truth")[0] == 0
    obs, truth = tmp_path / "truth" / "observations.nc", tmp_path / "truth" / "truth.nc"
    cfg = (L96.format(mode="assimilate", obs=f'file = "{obs}"').replace("size = 10", "size = 12")
           + f'[verification]\ntruth = "{truth}"\n')
    (tmp_path / "big.toml").write_text(cfg)
    from pdafpy.run import main
    assert main([str(tmp_path / "big.toml"), "--out", str(tmp_path / "big"), "-q"]) == 2
    assert "the truth has perturbation key 10, which member 10 of this ensemble of 12 shares" \
        in capsys.readouterr().err


def test_a_generic_twins_observation_file_holds_its_diagnostics(tmp_path):
    import netCDF4
    status, summary = _run(tmp_path, "twin", "twin")
    assert status == 0
    (segment,) = segment_paths(tmp_path / "twin" / "observations.nc")
    with netCDF4.Dataset(segment) as ds:
        assert len(ds.dimensions["obs"]) == summary["observations_used"] == 600
        innovation, residual = ds["innovation"][:], ds["residual"][:]
        np.testing.assert_allclose(innovation, ds["value"][:] - ds["forecast_mean"][:])
    # the analysis mean fits the observations better than the forecast mean
    assert np.sqrt(np.mean(residual ** 2)) < np.sqrt(np.mean(innovation ** 2))


def test_check_reads_the_observation_files_before_any_model_work(tmp_path, capsys):
    from pdafpy.run import main
    assert _run(tmp_path, "truth", "truth")[0] == 0
    obs = tmp_path / "truth" / "observations.nc"
    cfg = tmp_path / "assim.toml"
    cfg.write_text(L96.format(mode="assimilate", obs=f'file = "{obs}"'))
    assert main(["--check", str(cfg)]) == 0
    import netCDF4
    with netCDF4.Dataset(segment_paths(obs)[0], "a") as ds:
        ds["error_std"][5] = -1.0
    capsys.readouterr()
    assert main(["--check", str(cfg)]) == 2
    assert "variable 'error_std': error standard deviations must be finite and > 0 (obs index 5" \
        in capsys.readouterr().err


def test_windows_are_refused_where_observations_are_made_at_analysis_times(tmp_path, capsys):
    status, _ = _run(tmp_path, "twin", "twin", "error = 1.0\nwindow_h = 3.0")
    assert status == 2
    assert "observations[0].window_h/window_position: a 'twin' run makes its observations" \
        in capsys.readouterr().err

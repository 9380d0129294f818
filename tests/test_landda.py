"""Land data assimilation: the model as the ensemble sees it, and the twin experiment."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
from mpi4py import MPI

pytest.importorskip("petsc4py")

from models.landda.model import LandDAModel  # noqa: E402
from models.landda.setup import load, model_config  # noqa: E402
from pdafpy.decomposition import Box  # noqa: E402
from pdafpy.obs.records import QC_WITHHELD  # noqa: E402

SMALL = {"grid": {"nx": 4, "ny": 3, "dz_m": [0.05, 0.1, 0.35, 0.5, 1.0, 2.0]},
         "schedule": {"length_days": 2.0}, "ensemble": {"size": 4},
         "output": {"directory": "out/test_twin"}}


def small_model(update):
    cfg, tables = load(dict(SMALL, update={"variable": update}))
    return LandDAModel.create(MPI.COMM_SELF, model_config(cfg, tables, range(4)))


#: A twin whose open-loop member 6 starts with a cell 0.15 m below its water table. Without the
#: own-row correction of the Newton update (``own_row_correction = false``) and the
#: near-saturation step (``near_saturation_step = false``), Newton's full step there raises the
#: residual norm 40-fold, so the ``bt`` line search shortens every step to a tenth and runs out of
#: iterations at the smallest time step. Either correction (both are defaults) removes that
#: cause, so the start only reaches the retry path with both off.
EDGE_OF_SATURATION = {
    "ensemble": {"size": 16},
    "soil": {"ks_m_per_s": [2.89e-6] * 11 + [3e-8] * 4},
    "boundary": {"bottom": {"type": "head", "water_table_depth_m": 6.0}},
    "perturbations": {"initial_head_sd_m": 0.1, "log10_ks_sd": 0.4,
                      "ks_correlation_length_m": 2000.0},
    "solver": {"dt_min_s": 1.0}}


def _edge_of_saturation_member(petsc_options):
    """The model of :data:`EDGE_OF_SATURATION` with ``petsc_options``, holding open-loop member 6,
    and that member."""
    from models.landda.initial_state import initial_member
    from pdafpy.groups import RunGroups

    table = dict(EDGE_OF_SATURATION, solver=dict(EDGE_OF_SATURATION["solver"],
                                                 petsc_options=petsc_options))
    cfg, tables = load(table)
    groups = RunGroups.for_mode(cfg.mode, cfg.ensemble.size)
    model = LandDAModel.create(MPI.COMM_SELF, model_config(cfg, tables, groups.keys()))
    member = groups.runs("open_loop")[6]
    model.set_state(member, initial_member(model, model.get_state(), groups.key(member),
                                           cfg.ensemble.seed, tables["perturbations"]))
    return model


@pytest.mark.parametrize("retry", ["basic", "none"])
def test_a_step_whose_line_search_creeps_converges_when_retried_with_the_full_newton_step(retry):
    from pdafpy.errors import ModelError

    model = _edge_of_saturation_member({"retry_linesearch": retry,
                                        "own_row_correction": "false",
                                        "near_saturation_step": "false"})
    stats = model.coupled.richards.solver.stats
    if retry == "none":
        with pytest.raises(ModelError, match=r"SNES reason -5"):
            model.advance(0.0, 600.0)
        assert stats.retried == 0
        return
    model.advance(0.0, 600.0)
    assert stats.retry_converged >= 1 and stats.retried == stats.retry_converged
    assert np.all(np.isfinite(model.get_state()["water_table_depth"]))


def test_the_own_row_correction_keeps_the_line_search_at_the_edge_of_saturation_from_creeping():
    runs = {}
    for on in ("true", "false"):
        model = _edge_of_saturation_member({"own_row_correction": on,
                                            "near_saturation_step": "false"})
        model.advance(0.0, 600.0)
        runs[on] = (model.coupled.richards.solver.stats, model.get_state()["pressure_head"])
    on, off = runs["true"][0], runs["false"][0]
    assert on.retried == on.rejected == 0                   # converged at the first attempt
    assert off.retried >= 1                                 # the line search crept without it
    assert on.newton_its < 0.5 * off.newton_its
    # the two take different steps (5 and 8 here), so the heads agree to the time-discretisation
    # error only (8 mm); with equal steps they agree to the Newton tolerance
    # (tests/test_richards_timestepping.py)
    np.testing.assert_allclose(runs["true"][1], runs["false"][1], rtol=0, atol=0.02)


def test_derived_fields_follow_the_head():
    model = small_model("pressure_head")
    state = model.get_state()
    assert state["water_content"].shape == state["pressure_head"].shape
    soil = model._soil()
    assert np.all(state["water_content"] <= soil["theta_s"] + 1e-12)
    assert np.allclose(state["water_table_depth"], 2.0, atol=0.05)     # configured table at 2 m


def test_water_content_update_converts_back_to_head_within_bounds():
    model = small_model("water_content")
    model.set_state(0, model.get_state())
    model.advance(0.0, 3600.0)
    forecast = model.get_state()
    soil = model._soil()
    analysed = dict(forecast)
    theta = forecast["water_content"] + 0.03
    theta[0, 0, 0] = soil["theta_s"][0, 0, 0] + 0.2          # beyond saturation: clipped
    theta[1, 0, 1] = -0.5                                     # below residual: clipped
    analysed["water_content"] = theta
    model.set_state(0, analysed)
    after = model.get_state()
    wet = forecast["pressure_head"] < 0
    assert np.all(after["water_content"] >= soil["theta_r"] - 1e-12)
    assert np.all(after["water_content"] <= soil["theta_s"] + 1e-12)
    assert np.all(np.isfinite(after["pressure_head"]))
    ok = wet & (theta > soil["theta_r"]) & (theta < soil["theta_s"])
    assert np.allclose(after["water_content"][ok], theta[ok], atol=1e-8)
    sat = ~wet
    assert np.array_equal(after["pressure_head"][sat], forecast["pressure_head"][sat])
    # water content at theta_r would mean a head of -1e9 m: held at the surface's dry limit
    h_min = model.coupled.richards.solver.disc.boundaries["top"].h_min
    assert after["pressure_head"][1, 0, 1] == min(h_min, forecast["pressure_head"][1, 0, 1])
    assert np.all(after["pressure_head"] >= np.minimum(forecast["pressure_head"], h_min))


def test_bad_configuration_is_reported_once_and_every_rank_fails(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[filter]\nforgett = 0.9\n")
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.run(["mpirun", "-n", "2", sys.executable, "-m", "pdafpy.cli", "run",
                           str(bad)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode != 0
    assert proc.stderr.count("filter.forgett: unknown key") == 1


def test_short_twin_runs_and_writes_its_outputs(tmp_path):
    cfg_file = tmp_path / "small.toml"
    cfg_file.write_text('[grid]\nnx = 4\nny = 3\ndz_m = [0.05, 0.1, 0.35, 0.5, 1.0, 2.0]\n'
                        '[schedule]\nlength_days = 2.0\n[ensemble]\nsize = 4\n')
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.run(["mpirun", "-n", "2", sys.executable, "-m", "pdafpy.cli", "run",
                           str(cfg_file), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["observations_used"] > 0
    assert summary["theta_out_of_bounds_cycles"] == 0
    assert {"surface", "root_zone"} <= set(summary["variables"])
    for name in ("assimilation.00000.nc", "open_loop.00000.nc", "truth.00000.nc"):
        assert (tmp_path / "out" / name).is_file()
    assert "core-hours per member per simulated year" in proc.stdout


def _land_analysis(comm, n_members=6, ny=6, nx=8, nz=4):
    from models.landda.obs_groundwater_level import GroundwaterLevelSection
    from models.landda.obs_surface_soil_moisture import SurfaceSoilMoistureSection
    from pdafpy.cycle import analysis_step
    from pdafpy.decomposition import block_boxes, choose_process_grid
    from pdafpy.obs.module import ObservationContext, build_modules
    from pdafpy.filters import make_filter
    from pdafpy.localize import Localization
    from pdafpy.model import FieldSpec, Grid
    from pdafpy.state import StateLayout

    grid = Grid.uniform(ny, nx, dy=500.0, dx=500.0, z=[0.025, 0.1, 0.3, 0.75])
    interfaces = np.array([0.0, 0.05, 0.15, 0.45, 1.05])
    fields = (FieldSpec("pressure_head", nz), FieldSpec("water_content", nz, kind="diagnostic"),
              FieldSpec("water_table_depth", 1, kind="diagnostic"))
    rng = np.random.default_rng(3)
    full = {"pressure_head": rng.normal(-1, 0.3, (n_members, nz, ny, nx)),
            "water_content": rng.uniform(0.15, 0.35, (n_members, nz, ny, nx)),
            "water_table_depth": rng.uniform(1.5, 2.5, (n_members, 1, ny, nx))}
    boxes = block_boxes(ny, nx, *choose_process_grid(comm.Get_size(), ny, nx))
    box = boxes[comm.Get_rank()]
    layout = StateLayout(fields, box)
    ens = np.empty((n_members, layout.size))
    for k, v in full.items():
        layout.view(ens, k)[:] = v[..., box.y0:box.y1, box.x0:box.x1]
    loc = Localization.from_pdaf(1500.0, 1500.0, 2)
    sections = [SurfaceSoilMoistureSection(footprint_cells=3),
                GroundwaterLevelSection(error=0.1, count=8, withheld_fraction=0.25,
                                        radius_m=1000.0)]
    context = ObservationContext(grid, fields, 4, loc, {"interfaces": interfaces})
    types = []
    for module in build_modules(sections, context):
        network = module.network()
        low, high = (0.2, 0.3) if module.name == "surface_soil_moisture" else (1.5, 2.5)
        records = dataclasses.replace(network, value=rng.uniform(low, high, network.size))
        types.append(module.observation_type(records))
    analysis_step(make_filter("letkf"), ens, layout, grid, types, comm, boxes)
    out = {}
    for k in full:
        parts = comm.allgather(layout.view(ens, k))
        arr = np.empty_like(full[k])
        for b, p in zip(boxes, parts):
            arr[..., b.y0:b.y1, b.x0:b.x1] = p
        out[k] = arr
    return full, out


def _land_modules(sections, seed=2):
    from pdafpy.localize import Localization
    from pdafpy.model import FieldSpec, Grid
    from pdafpy.obs.module import ObservationContext, build_modules

    grid = Grid.uniform(6, 8, dy=500.0, dx=500.0, z=[0.025, 0.1])
    loc = Localization.from_pdaf(4000.0, 4000.0, "gaspari_cohn")
    fields = (FieldSpec("water_content", 2), FieldSpec("water_table_depth", 1))
    context = ObservationContext(grid, fields, seed, loc,
                                 {"interfaces": np.array([0.0, 0.05, 0.15])})
    return build_modules(sections, context), loc


def test_an_observation_type_can_have_its_own_localisation_radius():
    from models.landda.obs_groundwater_level import GroundwaterLevelSection
    from models.landda.obs_surface_soil_moisture import SurfaceSoilMoistureSection

    modules, loc = _land_modules([SurfaceSoilMoistureSection(footprint_cells=2),
                                  GroundwaterLevelSection(count=4, radius_m=1500.0)])
    soil, wells = (m.localization() for m in modules)
    assert soil == loc
    assert wells.cradius == wells.sradius == 1500.0
    assert wells.weight == loc.weight


def test_land_operators_are_rebuilt_from_the_records_locations():
    """Tiles of 3 x 3 columns from the first row and column (the last ones cut at the grid's
    edge), weighted by each layer's thickness within 5 cm; wells at their columns."""
    from models.landda.obs_groundwater_level import GroundwaterLevelSection
    from models.landda.obs_surface_soil_moisture import SurfaceSoilMoistureSection
    from models.landda.obs_groundwater_level import wells as well_columns

    soil, wells = _land_modules([SurfaceSoilMoistureSection(footprint_cells=3, depth_m=0.1),
                                 GroundwaterLevelSection(count=5, withheld_fraction=0.4)],
                                seed=3)[0]
    network = soil.network()
    assert network.size == 2 * 3                      # 6 x 8 columns: tiles of rows 0, 3
    np.testing.assert_allclose(network.x, [500.0, 2000.0, 3250.0] * 2)   # last tile: 2 columns
    op = soil.operator(network)
    field = np.zeros((1, 2, 6, 8))
    field[0, 0] = 1.0                                  # layer 0 (0-5 cm) 1, layer 1 0
    field[0, :, 3:, 6:] += 2.0                         # the last tile 2 higher
    hx = op.apply(field, Box(0, 6, 0, 8))[0]
    np.testing.assert_allclose(hx, [0.5, 0.5, 0.5, 0.5, 0.5, 2.5])     # 0.05 m of 0.1 m is 1
    moved = dataclasses.replace(network, x=network.x + 240.0, y=network.y - 240.0)
    np.testing.assert_array_equal(soil.operator(moved).col, op.col)   # the same tiles
    records = wells.network()
    rows, cols = well_columns(soil.context.grid, 5, 3)
    np.testing.assert_array_equal(wells.operator(records).row[:, 0], rows)
    np.testing.assert_array_equal(wells.operator(records).col[:, 0], cols)
    assert np.count_nonzero(records.qc == QC_WITHHELD) == 2


@pytest.mark.mpi(min_size=2)
def test_land_analysis_identical_on_any_number_of_ranks():
    prior, serial = _land_analysis(MPI.COMM_SELF)
    _, split = _land_analysis(MPI.COMM_WORLD)
    assert np.max(np.abs(serial["water_content"] - prior["water_content"])) > 1e-3
    for k in serial:
        assert np.max(np.abs(serial[k] - split[k])) <= 1e-12


def test_evapotranspiration_and_lai_are_diagnostics_of_the_last_forecast(monkeypatch):
    model = small_model("pressure_head")
    land = model.coupled.land
    fluxes = []
    step = land.step

    def recording_step(*args, **kwargs):
        fl = step(*args, **kwargs)
        fluxes.append(fl)
        return fl

    model.set_state(0, model.get_state())
    model.advance(0.0, 4 * 86400.0)                   # 1-4 May: rain on 1 and 3 May
    earlier = model.get_state()["evapotranspiration"]
    monkeypatch.setattr(land, "step", recording_step)
    model.advance(4 * 86400.0, 5 * 86400.0)           # 5 May: sunny (255 W m-2), no rain
    state = model.get_state()
    assert len(fluxes) == 24
    expected = 86400.0 * np.mean([f.evapotranspiration for f in fluxes], axis=0)   # mm d-1
    et = state["evapotranspiration"]
    assert et.shape == (1, 3, 4)
    assert np.all(et > 1.0) and np.all(et < 10.0)     # grass in May, a few mm per day
    assert np.allclose(et[0], expected, rtol=1e-12, atol=0.0)      # this interval's mean only
    assert np.all(np.abs(et - earlier) > 0.1)
    lai = state["leaf_area_index"]
    assert lai.shape == (1, 3, 4)
    assert np.array_equal(lai[0], land.lai)
    assert np.array_equal(lai[0], model.coupled.diagnostics()["lai"])
    assert np.allclose(lai[0], state["leaf_biomass"][0] * land.params.specific_leaf_area)

    garbage = dict(state, evapotranspiration=np.full_like(et, -7.0),
                   leaf_area_index=np.full_like(lai, 42.0))
    model.set_state(0, garbage)
    after = model.get_state()
    for name in state:
        assert np.array_equal(after[name], state[name]), name
    model.set_state(1, state)                         # another member: no forecast of its own
    assert np.all(model.get_state()["evapotranspiration"] == 0.0)


def test_withheld_wells_are_drawn_at_random_not_the_far_rows():
    """They used to be the last third of the wells in row order (always the far rows)."""
    from models.landda.obs_groundwater_level import GroundwaterLevelSection
    section = GroundwaterLevelSection(count=9, withheld_fraction=1.0 / 3.0)
    masks = [_land_modules([section, section], seed)[0][1].network().qc != QC_WITHHELD
             for seed in range(1, 21)]
    assert all(np.count_nonzero(~m) == 3 for m in masks)
    last_third = np.arange(9) >= 6
    assert sum(np.array_equal(~m, last_third) for m in masks) <= 2
    withheld_positions = np.concatenate([np.flatnonzero(~m) for m in masks])
    assert set(withheld_positions.tolist()) == set(range(9))        # every position can be


def test_the_grid_declares_its_coordinate_reference_system():
    cfg, tables = load(dict(SMALL, grid=dict(SMALL["grid"], crs="EPSG:32632")))
    model = LandDAModel.create(MPI.COMM_SELF, model_config(cfg, tables, range(2)))
    assert model.grid.crs == "EPSG:32632"
    assert small_model("pressure_head").grid.crs == ""              # a local Cartesian grid


def test_a_free_run_of_the_land_model_writes_the_open_loop_only(tmp_path):
    from models.landda.experiment import LandTwinExperiment
    from pdafpy.experiment import load_configuration
    import netCDF4
    loaded = load_configuration(dict(SMALL, mode="free", schedule={"length_days": 1.0},
                                     observations=[]), LandTwinExperiment())
    summary = loaded.experiment.run(MPI.COMM_SELF, loaded.cfg, loaded.tables, tmp_path)
    assert summary["runs"] == 4 and summary["variables"] == {}
    assert summary["observations_used"] == 0
    assert sorted(p.name for p in tmp_path.glob("*.nc")) == ["open_loop.00000.nc"]
    with netCDF4.Dataset(tmp_path / "open_loop.00000.nc") as ds:
        assert np.allclose(ds["time"][:], [86400.0, 86400.0])    # forecast and record, daily


def test_the_coupling_step_is_the_models():
    """[coupling] step_s (formerly [schedule] coupling_step_s) reaches the model."""
    for step in (3600.0, 1800.0):
        cfg, tables = load(dict(SMALL, coupling={"step_s": step}))
        model = LandDAModel.create(MPI.COMM_SELF, model_config(cfg, tables, range(2)))
        assert model.coupled.dt_coupling == step


def test_the_grid_origin_places_the_columns_in_the_crs_the_run_and_the_validation_alike():
    from models.landda.validation import planned_grid

    shifted = dict(SMALL, grid=dict(SMALL["grid"], origin_m=[300000.0, 5600000.0]))
    cfg, tables = load(shifted)
    model = LandDAModel.create(MPI.COMM_SELF, model_config(cfg, tables, range(1)))
    planned, _ = planned_grid(tables)
    base = small_model("pressure_head").grid
    np.testing.assert_allclose(model.grid.x, base.x + 300000.0)
    np.testing.assert_allclose(model.grid.y, base.y + 5600000.0)
    np.testing.assert_allclose(planned.x, model.grid.x)
    np.testing.assert_allclose(planned.y, model.grid.y)


def test_the_leaf_biomass_perturbation_gives_the_members_leaf_spread():
    from models.landda.initial_state import initial_member

    model = small_model("pressure_head")
    base = model.get_state()
    leaves = {sd: np.array([initial_member(model, base, key, 3, {"leaf_biomass_log_sd": sd})[
        "leaf_biomass"] for key in range(6)]) for sd in (0.0, 0.3)}
    assert np.ptp(leaves[0.0], axis=0).max() == 0.0
    log_spread = np.log(leaves[0.3][:, 0, 0, 0]).std(ddof=1)
    assert 0.1 < log_spread < 0.6 and np.all(leaves[0.3] > 0)

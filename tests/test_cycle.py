"""The assimilation cycle: run groups, the analysis schedule, the generic twin through
``pdafpy run``, and the same answers on any rank layout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

from pdafpy.errors import ConfigError, RefusedOnEveryRank
from pdafpy.experiment import load_configuration
from pdafpy.groups import RunGroup, RunGroups
from pdafpy.schedule import AnalysisSchedule

ROOT = Path(__file__).resolve().parents[1]

L96_TWIN = {"model": "lorenz96", "ensemble": {"size": 10, "seed": 5},
            "filter": {"type": "letkf"}, "localization": {"radius_m": 8.0},
            "inflation": {"multiplicative": 1.05},
            "observations": [{"type": "grid_point", "field": "x", "error": 1.0,
                              "interval_h": 6.0, "stride": 2}],
            "schedule": {"length_days": 15.0}}


def test_twin_groups_number_the_runs_and_share_keys_with_the_open_loop():
    g = RunGroups.twin(4, open_loop=True, truth=True)
    assert g.total == 9
    assert g.runs("assimilation") == range(0, 4) and g.runs("open_loop") == range(4, 8)
    assert g.runs("truth") == range(8, 9)
    assert g.keys().tolist() == [0, 1, 2, 3, 0, 1, 2, 3, 4]
    assert g.describe(5) == "open-loop member 1 (run 5)" and g.describe(8) == "the truth (run 8)"
    assert g.redraw_groups == [range(0, 4), range(4, 8)]
    ens = np.arange(9.0)[:, None]
    g.part(ens, "open_loop")[:] = -1.0                          # a view
    assert ens[4:8, 0].tolist() == [-1.0] * 4


def test_groups_refuse_duplicate_names_and_unknown_kinds():
    with pytest.raises(ConfigError, match="distinct names"):
        RunGroups([RunGroup("a", "analysed", 2), RunGroup("a", "free", 2)])
    with pytest.raises(ConfigError, match="kind 'lazy'"):
        RunGroup("a", "lazy", 2)


def test_each_type_keeps_its_own_clock():
    """24 h and 36 h: the 36 h type is due at 36, 72, 108 h; the old schedule (every shortest
    interval) never analysed at 36 h and dropped the type there."""
    s = AnalysisSchedule([24.0, 36.0], end=120.0)
    assert s.times.tolist() == [24.0, 36.0, 48.0, 72.0, 96.0, 108.0, 120.0]
    due = {t: s.due(i) for i, t in enumerate(s.times.tolist())}
    assert due[36.0] == [1] and due[72.0] == [0, 1] and due[108.0] == [1] and due[24.0] == [0]
    for k, interval in enumerate((24.0, 36.0)):
        times = [t for t in s.times if k in due[t]]
        assert np.allclose(times, interval * np.arange(1, len(times) + 1))


def test_windows_are_half_open_and_tile_the_run():
    s = AnalysisSchedule([0.05], end=1.0)
    windows = [s.window(i) for i in range(len(s))]
    assert len(s) == 20 and windows[0] == (0.0, 0.05)
    assert all(a[1] == b[0] for a, b in zip(windows[:-1], windows[1:]))
    assert windows[-1][1] == pytest.approx(1.0)


def test_the_land_twin_schedules_intervals_that_are_not_multiples():
    from models.landda.twin import analysis_schedule
    cfg = load_configuration({"observations": [
        {"type": "surface_soil_moisture", "interval_h": 24.0},
        {"type": "groundwater_level", "interval_h": 36.0, "count": 4}]}).cfg
    hours = (analysis_schedule(cfg).times / 3600.0).tolist()
    assert hours == [24.0, 36.0, 48.0, 72.0, 96.0, 108.0, 120.0, 144.0, 168.0, 180.0, 192.0,
                     216.0, 240.0]


def _run(config: dict, comm, out: Path) -> dict | None:
    loaded = load_configuration(config)
    return loaded.experiment.run(comm, loaded.cfg, loaded.tables, out)


def test_lorenz96_twin_analysis_beats_the_open_loop(tmp_path):
    summary = _run(L96_TWIN, MPI.COMM_SELF, tmp_path)
    x = summary["variables"]["x"]
    assert x["assimilation"]["rmse"] < 0.5 * x["open_loop"]["rmse"]
    assert x["assimilation_forecast"]["rmse"] < 0.5 * x["open_loop"]["rmse"]
    assert x["assimilation"]["rmse"] < x["assimilation_forecast"]["rmse"]
    assert summary["analyses"] == 60 and summary["observations_used"] == 60 * 20
    for name in ("assimilation.00000.nc", "open_loop.00000.nc", "truth.00000.nc",
                 "summary.json"):
        assert (tmp_path / name).is_file()


def test_free_mode_runs_the_ensemble_only(tmp_path):
    summary = _run(dict(L96_TWIN, mode="free"), MPI.COMM_SELF, tmp_path)
    assert summary["runs"] == 10 and summary["observations_used"] == 0
    assert set(summary["variables"]["x"]) == {"open_loop"}
    assert summary["variables"]["x"]["open_loop"]["rmse"] is None       # no truth to score
    assert not list(tmp_path.glob("truth.*"))


@pytest.mark.mpi(min_size=2)
def test_the_generic_twin_is_the_same_on_any_layout(tmp_path_factory):
    world = MPI.COMM_WORLD
    out = Path(world.bcast(str(tmp_path_factory.mktemp("l96")) if world.Get_rank() == 0
                           else None))
    serial = _run(L96_TWIN, MPI.COMM_SELF, out / f"serial{world.Get_rank()}")
    split = _run(dict(L96_TWIN, parallel={"tasks": world.Get_size()}), world, out / "world")
    if world.Get_rank() == 0:
        for run in ("open_loop", "assimilation_forecast", "assimilation"):
            assert split["variables"]["x"][run]["rmse"] == pytest.approx(
                serial["variables"]["x"][run]["rmse"], rel=1e-12)


def _pdafpy(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return subprocess.run([sys.executable, "-m", "pdafpy.cli", "run", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_pdafpy_run_dispatches_on_the_model(tmp_path):
    config = tmp_path / "l96.toml"
    config.write_text('model = "lorenz96"\n[ensemble]\nsize = 6\n[localization]\nradius_m = 6.0\n'
                      '[[observations]]\ntype = "grid_point"\nfield = "x"\ninterval_h = 6.0\n'
                      '[schedule]\nlength_days = 2.0\n')
    proc = _pdafpy(str(config), "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["model"] == "lorenz96" and summary["analyses"] == 8
    bad = tmp_path / "bad.toml"
    bad.write_text('model = "nosuchmodel"\n')
    proc = _pdafpy(str(bad), cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "pdafpy run: error: model = 'nosuchmodel': not installed; installed: coupled, land, "
        "lorenz96, pdaf_tutorial, richards (or give package.module:Class)"]


PDAF_ALIASES = """\
[filter]
filtertype = 7
forget = 0.95
[localization]
cradius = 1200.0
sradius = 1500.0
locweight = 2
[ensemble]
dim_ens = 6
[parallel]
n_modeltasks = 1
"""


def test_every_pdaf_alias_works_over_the_packaged_example(tmp_path):
    """They used to be refused: the file was merged onto the packaged example's own names
    ('type' is given twice)."""
    config = tmp_path / "pdaf.toml"
    config.write_text(PDAF_ALIASES)
    proc = _pdafpy(str(config), "--check", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "valid (model 'coupled', mode 'twin'" in proc.stdout
    loaded = load_configuration(config)
    assert loaded.cfg.filter.type == 7 and loaded.cfg.ensemble.size == 6
    assert loaded.cfg.localization.support_radius_m == 1500.0


def test_a_netcdf_forcing_can_be_configured_through_pdafpy_run(tmp_path):
    """It used to inherit the synthetic generator's seed and start_day_of_year from the
    packaged example, which the NetCDF reader refuses."""
    from models.forcing import write_netcdf

    config = tmp_path / "nc.toml"
    config.write_text('[forcing]\ntype = "netcdf"\npath = "forcing.nc"\n')
    weather = {"precipitation": 0.0, "shortwave": 300.0, "longwave": 330.0,
               "air_temperature": 288.0, "specific_humidity": 0.008, "wind_speed": 3.0,
               "surface_pressure": 101000.0}            # --check reads it: the run's 10 days
    write_netcdf(tmp_path / "forcing.nc", lambda t: weather, 240, 12, 12, gridded=False,
                 start="2020-05-01 00:00:00")
    proc = _pdafpy(str(config), "--check", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert load_configuration(config).tables["forcing"] == {"type": "netcdf",
                                                            "path": "forcing.nc"}


class _L96Hooks:
    """Every Lorenz-96 variable observed from the truth (error 1); RMSE of ``scored``."""

    def __init__(self, groups, scored, loc):
        from pdafpy.obs.operators import grid_point
        self.groups, self.scored, self.loc = groups, scored, loc
        self.operator = grid_point("x", np.zeros(40, dtype=np.int64), np.arange(40))
        self.coords = np.column_stack([np.arange(40.0), np.zeros(40)])
        self.rmse = []

    def observe(self, step, ens):
        from pdafpy.cycle import Observed
        from pdafpy.obs.types import ObservationType
        from pdafpy.random import standard_normal
        y = self.groups.part(ens, "truth")[0] + standard_normal(9, "obs", step.index, 0,
                                                                  np.arange(40))
        return Observed([ObservationType("x", y, np.ones(40), self.coords, self.operator,
                                         self.loc)])

    def record_analysis(self, step, ens, forecast, observed):
        truth = self.groups.part(ens, "truth")[0]
        self.rmse.append(np.sqrt(np.mean((self.groups.part(ens, self.scored)[0] - truth) ** 2)))


def test_sekf_perturbed_runs_are_a_run_group_of_the_cycle():
    """PDAF's SEKF through the cycle: the analysed run and one perturbed run per column entry
    travel as run groups; after each analysis the cycle restarts the perturbed runs from the
    analysis (SEKF.perturbed_runs). On Lorenz-96 it tracks the truth; the unanalysed run does
    not."""
    from models.lorenz96 import Lorenz96Model
    from pdafpy.cycle import AssimilationCycle, CycleHooks, CycleOptions
    from pdafpy.filters.sekf import SEKF
    from pdafpy.job import set_up_job
    from pdafpy.localize import Localization

    x0 = np.eye(40)[0] + 0.1 * np.sin(np.arange(40.0))
    truth0 = x0 + 0.5 * np.cos(np.arange(40.0))
    loc = Localization.from_pdaf(0.5, 0.5, 0, 1, (40, 0.0))       # each column: its own variable
    results = {}
    for name, groups, filt in (
            ("sekf", RunGroups.sekf(1, truth=True), SEKF(np.array([1e-3]), np.array([1.0]))),
            ("free", RunGroups([RunGroup("analysis", "free", 1),
                                RunGroup("truth", "truth", 1, first_key=1)]), None)):
        hooks = type("Hooks", (_L96Hooks, CycleHooks), {})(groups, "analysis", loc)
        job = set_up_job(MPI.COMM_SELF, lambda comm: Lorenz96Model(), groups.total)
        start = {0: x0, groups.total - 1: truth0}
        job.runner.load(lambda run, box: {"x": (start.get(run, x0) + (
            1e-3 if groups.group_of(run).kind == "perturbed" else 0.0)).reshape(1, 1, 40)})
        AssimilationCycle(job.runner, groups, AnalysisSchedule([0.05], 15.0), filt, hooks,
                          CycleOptions(), job.grid, job.boxes).run(progress=False)
        job.layout.free()
        results[name] = np.mean(hooks.rmse[100:])
    assert groups.total == 2 and RunGroups.sekf(3).keys().tolist() == [0, 0, 0, 0]
    assert results["sekf"] < 0.3 * results["free"], results
    with pytest.raises(ConfigError, match="1 perturbed runs need a filter that makes them"):
        from pdafpy.filters import make_filter
        g = RunGroups.sekf(1)
        AssimilationCycle(job.runner, g, AnalysisSchedule([0.05], 1.0), make_filter("etkf"),
                          CycleHooks(), CycleOptions(), job.grid, job.boxes)


def test_adaptive_forget_is_applied_through_the_cycle(tmp_path):
    """[inflation] adaptive_forget was accepted and never read: it now sets the forgetting
    factor of every analysis to PDAF's adaptive one."""
    from pdafpy.cycle import analysis_step
    from pdafpy.decomposition import Box
    from pdafpy.filters import make_filter
    from pdafpy.inflation import adaptive_forget
    from pdafpy.localize import Localization
    from pdafpy.model import FieldSpec, Grid
    from pdafpy.obs.operators import grid_point
    from pdafpy.obs.types import ObservationType
    from pdafpy.state import StateLayout

    rng = np.random.default_rng(4)
    grid = Grid.uniform(1, 12)
    layout = StateLayout((FieldSpec("x"),), Box(0, 1, 0, 12))
    ens = rng.normal(size=(6, 12))
    y = rng.normal(3.0, 1.0, 12)
    obs = ObservationType("x", y, np.full(12, 0.5), grid.column_coords(layout.box),
                          grid_point("x", np.zeros(12, dtype=np.int64), np.arange(12)),
                          Localization.from_pdaf(3.0, 3.0, 2))
    expected = adaptive_forget(ens.copy(), y, np.full(12, 0.25), 1.0)
    assert expected != 1.0
    for filt in ("etkf", "letkf"):
        report = analysis_step(make_filter(filt), ens.copy(), layout, grid, [obs], MPI.COMM_SELF,
                               [layout.box], adaptive_forget=True)
        assert report.forget == pytest.approx(expected, rel=1e-12)
    fixed = _run(dict(L96_TWIN, schedule={"length_days": 5.0}), MPI.COMM_SELF, tmp_path / "a")
    adaptive = _run(dict(L96_TWIN, schedule={"length_days": 5.0},
                         inflation={"multiplicative": 1.05, "adaptive_forget": True}),
                    MPI.COMM_SELF, tmp_path / "b")
    assert adaptive["variables"]["x"]["assimilation"]["rmse"] != \
        fixed["variables"]["x"]["assimilation"]["rmse"]


def test_generic_twin_restarted_from_a_checkpoint_ends_as_the_uninterrupted_run(tmp_path):
    """Its checkpoint holds the runs and the scores so far; extended from it, the run's scores
    are bit-identical to those of one run over the whole length."""
    whole = _run(dict(L96_TWIN, schedule={"length_days": 5.0}), MPI.COMM_SELF, tmp_path / "a")
    first = dict(L96_TWIN, schedule={"length_days": 3.0, "checkpoint_every": 4},
                 output={"directory": str(tmp_path / "b")})
    _run(first, MPI.COMM_SELF, tmp_path / "b")
    longer = dict(first, schedule={"length_days": 5.0, "checkpoint_every": 4})
    loaded = load_configuration(longer)
    restart = loaded.experiment.read_restart(tmp_path / "b" / "checkpoint.h5", MPI.COMM_SELF,
                                             loaded.cfg, loaded.tables)
    assert int(restart[1]["cycle"]) == 11
    again = loaded.experiment.run(MPI.COMM_SELF, loaded.cfg, loaded.tables, tmp_path / "c",
                                  restart)
    assert again["variables"] == whole["variables"]
    other = load_configuration(dict(longer, ensemble={"size": 12, "seed": 5}))
    with pytest.raises(Exception, match="another"):
        other.experiment.read_restart(tmp_path / "b" / "checkpoint.h5", MPI.COMM_SELF,
                                      other.cfg, other.tables)


def test_every_key_of_the_generic_twin_changes_its_result(tmp_path):
    """The Lorenz-96 table and the grid-point observation keys are read, not only accepted."""
    base = dict(L96_TWIN, schedule={"length_days": 3.0})
    ref = _run(base, MPI.COMM_SELF, tmp_path / "ref")
    obs = base["observations"][0]
    changes = {"forcing": {"lorenz96": {"forcing": 6.0}},
               "initial_sd": {"lorenz96": {"initial_sd": 0.3}},
               "dt": {"lorenz96": {"dt": 0.025}},
               "stride": {"observations": [dict(obs, stride=4)]},
               "withheld": {"observations": [dict(obs, withheld_fraction=0.5)]},
               "error": {"observations": [dict(obs, error=0.5)]}}
    for name, change in changes.items():
        got = _run(dict(base, **change), MPI.COMM_SELF, tmp_path / name)
        assert got["variables"] != ref["variables"], name
    assert _run(dict(base, observations=[dict(obs, stride=4)]), MPI.COMM_SELF,
                tmp_path / "s")["observations_used"] == 12 * 10
    assert _run(dict(base, observations=[dict(obs, withheld_fraction=0.5)]), MPI.COMM_SELF,
                tmp_path / "w")["observations_used"] == 12 * 10
    with pytest.raises(RefusedOnEveryRank, match=r"observations\[0\].level = 1: field 'x' has "
                                                 r"levels 0..0"):
        _run(dict(base, observations=[dict(obs, level=1)]), MPI.COMM_SELF, tmp_path / "l")

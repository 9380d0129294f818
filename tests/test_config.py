"""Configuration: defaults, PDAF aliases, the user's file over the packaged example, and one
clear message per bad input."""

from __future__ import annotations

import re

import pytest

from pdafpy.config import merge_tables, parse_section, reference_markdown
from pdafpy.errors import ConfigError, InputFileError, RefusedOnEveryRank
from pdafpy.experiment import load_configuration
from pdafpy.experiment_config import ExperimentConfig, check_layout


def load_experiment(source):
    """The framework's sections and the model's tables of a configuration."""
    loaded = load_configuration(source)
    return loaded.cfg, loaded.tables


def test_no_file_gives_the_packaged_example_over_the_defaults():
    cfg, model = load_experiment(None)
    assert cfg.model == "coupled" and cfg.mode == "twin"
    assert cfg.ensemble.size == 16 and cfg.filter.type == "letkf"
    assert cfg.filter.parameters == ("log10_ks",) and cfg.output.every_h == 6.0
    assert [o.interval_h for o in cfg.observations] == [12.0, 24.0]
    assert model["grid"]["nx"] == 8 and model["update"] == {"variable": "both"}
    assert model["grid"]["dx_m"] == 500.0                  # the defaults' (default.toml)


def test_a_file_is_laid_over_the_defaults_not_the_example():
    cfg, model = load_experiment({"ensemble": {"size": 6}})
    assert cfg.ensemble.size == 6 and cfg.filter.parameters == () and cfg.output.every_h is None
    assert model["grid"]["nx"] == 12 and model["update"] == {"variable": "pressure_head"}


def test_pdaf_names_are_aliases():
    cfg, _ = load_experiment({"filter": {"filtertype": 7, "forget": 0.9},
                              "localization": {"cradius": 2000, "sradius": 2500, "locweight": 2},
                              "ensemble": {"dim_ens": 16}, "parallel": {"n_modeltasks": 4}})
    assert cfg.filter.type == 7 and cfg.filter.forget == 0.9
    assert cfg.localization.radius_m == 2000.0 and cfg.localization.support_radius_m == 2500.0
    assert cfg.localization.weight == 2 and cfg.ensemble.size == 16 and cfg.parallel.tasks == 4


def test_the_model_tables_are_laid_over_the_packaged_example_key_by_key():
    _, model = load_experiment({"grid": {"nx": 6}, "soil": {"n": 1.5}})
    assert model["grid"]["nx"] == 6 and model["grid"]["ny"] == 12
    assert model["soil"]["n"] == 1.5 and model["soil"]["theta_s"] == 0.43


def test_an_alias_in_the_users_file_replaces_the_packaged_name():
    """PDAF's names over the packaged example, which spells the same keys its own way."""
    cfg, _ = load_experiment({"filter": {"filtertype": 7}, "localization": {"cradius": 900.0},
                              "ensemble": {"dim_ens": 6}, "parallel": {"n_modeltasks": 2}})
    assert cfg.filter.type == 7 and cfg.localization.radius_m == 900.0
    assert cfg.ensemble.size == 6 and cfg.parallel.tasks == 2


def test_a_free_form_table_is_replaced_whole_keeping_the_users_order():
    """The forcing perturbations: order matters (forcing_correlation follows it), and the
    packaged example's variables the user left out are not perturbed."""
    _, model = load_experiment({"perturbations": {"forcing": {
        "air_temperature": {"sd": 1.0}, "precipitation": {"sd": 0.5}},
        "forcing_correlation": [[1.0, -0.3], [-0.3, 1.0]]}})
    assert list(model["perturbations"]["forcing"]) == ["air_temperature", "precipitation"]
    assert model["perturbations"]["log10_ks_sd"] == 0.4           # the rest still merged


def test_a_table_of_another_type_is_replaced_whole():
    """A NetCDF forcing over the packaged synthetic one inherits none of its keys."""
    merged = merge_tables({"forcing": dict}, {}, {})
    assert merged == {}
    from models.landda.setup import MODEL_SECTIONS, default_table
    table = merge_tables(MODEL_SECTIONS, {"forcing": default_table()["forcing"]},
                         {"forcing": {"type": "netcdf", "path": "forcing.nc"}})
    assert table["forcing"] == {"type": "netcdf", "path": "forcing.nc"}


def test_model_and_mode_choose_the_experiment():
    cfg, tables = load_experiment({"model": "lorenz96", "observations": [
        {"type": "grid_point", "field": "x"}]})
    assert cfg.model == "lorenz96" and tables == {}
    assert cfg.ensemble.size == 8                                # pdafpy's defaults, no land
    with pytest.raises(ConfigError, match="model = 'nosuchmodel': not installed; installed:"):
        load_experiment({"model": "nosuchmodel"})
    with pytest.raises(ConfigError, match=r"observations\[0\].file: mode = 'assimilate' reads "
                                          "every type's observations from a file"):
        load_experiment({"mode": "assimilate"})
    with pytest.raises(ConfigError, match=r"\[grid\]: unknown table; model 'lorenz96' reads "
                                          r"\[lorenz96\]"):
        load_experiment({"model": "lorenz96", "grid": {"nx": 3}})
    with pytest.raises(ConfigError, match="lorenz96.nn: unknown key"):
        load_experiment({"model": "lorenz96", "lorenz96": {"nn": 3}})
    with pytest.raises(RefusedOnEveryRank, match=r"observations\[0\].field = 'y': expected one "
                                                 r"of"):
        from mpi4py import MPI
        from pdafpy.experiment import experiment_for
        loaded = load_configuration({"model": "lorenz96", "observations": [
            {"type": "grid_point", "field": "y"}]})
        loaded.experiment.run(MPI.COMM_SELF, loaded.cfg, loaded.tables)
    assert experiment_for("models.lorenz96:Lorenz96Model").name.endswith("Lorenz96Model")
    with pytest.raises(ConfigError, match="2 ranks per model task, but model 'lorenz96' runs on "
                                          "at most 1"):
        loaded = load_configuration({"model": "lorenz96", "observations": [
            {"type": "grid_point", "field": "x"}]})
        loaded.experiment.check_layout(loaded.cfg, loaded.tables, 2)


def test_a_model_class_given_by_module_path():
    cfg, _ = load_experiment({"model": "models.lorenz96:Lorenz96Model", "observations": [
        {"type": "grid_point", "field": "x"}]})
    assert cfg.model == "models.lorenz96:Lorenz96Model"
    with pytest.raises(ConfigError, match="model = 'models.lorenz96:Nothing': cannot import it"):
        load_experiment({"model": "models.lorenz96:Nothing"})


BAD = [
    ({"filter": {"forgett": 1.0}}, "filter.forgett: unknown key"),
    ({"filtr": {}}, "[filtr]: unknown table"),
    ({"filtr": 3}, "filtr: unknown key"),
    ({"filter": {"forget": "high"}}, "filter.forget = 'high': expected a number"),
    ({"filter": {"forget": 0.0}}, "filter.forget = 0.0: must be > 0.0"),
    ({"filter": {"type": "kalman"}}, "filter.type = 'kalman': expected one of"),
    ({"ensemble": {"size": 1}}, "ensemble.size = 1: an ensemble needs at least 2 members"),
    ({"ensemble": {"size": 8.5}}, "ensemble.size = 8.5: expected an integer"),
    ({"ensemble": {"size": True}}, "ensemble.size = True: expected an integer"),
    ({"ensemble": {"size": 8, "dim_ens": 8}}, "given twice"),
    ({"parallel": {"tasks": 18}}, "parallel.tasks = 18: more model tasks than the 17 runs of "
                                  "mode = 'twin'"),
    ({"localization": {"radius_m": 0}}, "a local filter (letkf) needs a radius > 0"),
    ({"localization": {"radius_m": -5}}, "localization.radius_m = -5.0: must be >= 0.0"),
    ({"inflation": {"rtpp": 1.5}}, "inflation.rtpp = 1.5: must be <= 1.0"),
    ({"observations": [{"type": "vod"}]},
     "observations[0].type = 'vod': not installed; installed:"),
    ({"observations": [{"type": "grid_point"}]},
     "observations[0].type = 'grid_point': the land twin observes"),
    ({"filter": {"parameters": ["root_depth"]}},
     "filter.parameters = ['root_depth']: 'root_depth' is not a parameter field of the model"),
    ({"perturbations": {"forcing": {"precipitation": {"sd": 1.0, "tau": 3}}}},
     "perturbations.forcing.precipitation.tau: unknown key"),
    ({"perturbations": {"forcing": {"precipitation": {"sd": 1.0}},
                        "forcing_correlation": [[1.0, 0.2], [0.2, 1.0]]}},
     "perturbations.forcing_correlation: expected a 1 x 1 matrix"),
    ({"initial": {"water_table_dept_m": 2.0}}, "initial.water_table_dept_m: unknown key"),
    ({"localization": {"support_radius_m": "far"}},
     "localization.support_radius_m = 'far': expected a number"),
    ({"update": {"variable": "theta"}}, "update.variable = 'theta': expected one of"),
    ({"filter": {"forget": float("nan")}}, "filter.forget = nan: expected a finite number"),
    ({"inflation": {"multiplicative": float("inf")}},
     "inflation.multiplicative = inf: expected a finite number"),
    ({"soil": {"theta_s": [0.43] * 14 + [float("nan")]}},
     "soil.theta_s = nan: expected a finite number"),
    ({"observations": [{"error": -0.1}]}, "observations[0].error = -0.1: must be > 0.0"),
    ({"observations": {"type": "surface_soil_moisture"}}, "expected an array of tables"),
    ({"observations": [{"radius_m": 0.0}]}, "observations[0].radius_m = 0.0: must be > 0.0"),
    ({"schedule": {"start": "yesterday"}}, "schedule.start = 'yesterday': expected an ISO 8601"),
    ({"filter": {"type": "enkf", "type_trans": 1}}, "random transforms need a square-root filter"),
    ({"output": {"members": "yes"}}, "output.members = 'yes': expected true or false"),
]


@pytest.mark.parametrize("table,message", BAD, ids=[m for _, m in BAD])
def test_bad_config_is_reported_with_the_key(table, message):
    with pytest.raises(ConfigError) as err:
        load_experiment(table)
    assert message in str(err.value)
    assert "\n" not in str(err.value)                                   # one line


def test_layout_errors_need_the_world_size():
    cfg, _ = load_experiment({"parallel": {"tasks": 3}})
    with pytest.raises(ConfigError, match="more than the 2 MPI ranks"):
        check_layout(cfg, 2)
    with pytest.raises(ConfigError, match="cannot form 3 tasks"):
        check_layout(cfg, 4)
    check_layout(cfg, 6)


def test_files(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        load_experiment(tmp_path / "missing.toml")
    assert parse_section(ExperimentConfig, {}).observations == ()       # pdafpy's own defaults
    bad = tmp_path / "bad.toml"
    bad.write_text("[filter\ntype = 1")
    with pytest.raises(InputFileError, match="bad.toml: not valid TOML"):
        load_experiment(bad)
    good = tmp_path / "good.toml"
    good.write_text("[ensemble]\nsize = 12\n")
    assert load_experiment(good)[0].ensemble.size == 12


def test_reference_lists_every_key():
    text = reference_markdown(ExperimentConfig, "Experiment")
    for key in ("`size`", "`forget`", "`radius_m`", "`rtps`", "`tasks`", "[[observations]]",
                "`filtertype`", "`n_modeltasks`"):
        assert key in text


def test_committed_reference_is_up_to_date():
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("mkref", root / "scripts/make_config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (root / "docs/config.md").read_text() == module.render(), \
        "run scripts/make_config_reference.py"


def test_command_line_overrides_are_laid_over_the_file_and_validated_like_its_keys():
    loaded = load_configuration({"parallel": {"tasks": 1, "filter_ranks": 0}},
                                overrides={"parallel": {"tasks": 2}})
    assert loaded.cfg.parallel.tasks == 2 and loaded.cfg.parallel.filter_ranks == 0
    assert load_configuration(None, overrides={"parallel": {"tasks": 2}}).cfg.ensemble.size == 16
    with pytest.raises(ConfigError, match=r"parallel\.tasks = 0"):
        load_configuration(None, overrides={"parallel": {"tasks": 0}})
    with pytest.raises(ConfigError, match="parallel = 3: expected a table"):
        load_configuration({"parallel": 3}, overrides={"parallel": {"tasks": 2}})


@pytest.mark.parametrize("tasks, status, message", [
    ("1", 0, "valid"), ("0", 2, "parallel.tasks = 0"),
    ("2", 2, "parallel.tasks = 2")])          # two tasks need at least two ranks
def test_run_tasks_option_is_checked_before_any_model_work(tasks, status, message, capsys):
    from pdafpy.run import main
    assert main(["--check", "--tasks", tasks]) == status
    captured = capsys.readouterr()
    assert message in (captured.out if status == 0 else captured.err)


@pytest.mark.parametrize("tables, key", [
    ({"soil": {"ks_m_per_s": [1e-6, 2e-6]}}, "soil.ks_m_per_s: shape (2,)"),
    ({"grid": {"dz_m": [0.1, 0.2]}, "soil": {"theta_s": [[0.4, 0.4], [0.4, 0.4]]}},
     "soil.theta_s: shape (2, 2)"),
    ({"initial": {"water_table_depth_m": 1.0, "pressure_head_m": [[-1.0] * 5] * 3}},
     "initial.pressure_head_m: shape (3, 5)"),
])
def test_maps_that_do_not_fit_the_grid_are_refused_before_the_model_is_built(tables, key):
    """They used to pass the configuration and abort the job when the model was built."""
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_configuration(tables)


def test_maps_that_fit_the_grid_are_accepted():
    loaded = load_configuration({"grid": {"nx": 2, "ny": 3, "dz_m": [0.1, 0.2]},
                                 "soil": {"ks_m_per_s": [1e-6, 2e-6],
                                          "theta_s": [[0.4, 0.41], [0.4, 0.4], [0.42, 0.4]]}})
    assert loaded.tables["soil"]["ks_m_per_s"] == [1e-6, 2e-6]


@pytest.mark.parametrize("table, gone", [
    ({"grid": {"layers": "zhao2025"}}, ("grid", "dz_m")),
    ({"initial": {"pressure_head_m": -1.0}}, ("initial", "water_table_depth_m"))])
def test_a_key_that_excludes_a_default_replaces_it(table, gone):
    from models.landda.experiment import LandTwinExperiment
    loaded = load_configuration(dict(table, grid=dict(table.get("grid", {}), nx=4, ny=3)),
                                LandTwinExperiment())
    section, key = gone
    assert key not in loaded.tables[section]

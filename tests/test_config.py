"""Configuration: defaults, PDAF aliases, and one clear message per bad input."""

from __future__ import annotations

import pytest

from pdafpy.config import reference_markdown
from pdafpy.errors import ConfigError, InputFileError
from pdafpy.experiment_config import ExperimentConfig, check_layout, load_experiment


def test_empty_file_gives_the_packaged_defaults():
    cfg, model = load_experiment({})
    assert cfg == ExperimentConfig()
    assert cfg.ensemble.size == 8 and cfg.filter.type == "letkf" and model == {}


def test_pdaf_names_are_aliases():
    cfg, _ = load_experiment({"filter": {"filtertype": 7, "forget": 0.9},
                              "localization": {"cradius": 2000, "sradius": 2500, "locweight": 2},
                              "ensemble": {"dim_ens": 16}, "parallel": {"n_modeltasks": 4}})
    assert cfg.filter.type == 7 and cfg.filter.forget == 0.9
    assert cfg.localization.radius_m == 2000.0 and cfg.localization.support_radius_m == 2500.0
    assert cfg.localization.weight == 2 and cfg.ensemble.size == 16 and cfg.parallel.tasks == 4


def test_model_sections_pass_through():
    cfg, model = load_experiment({"grid": {"nx": 12}, "soil": {"n": 1.5}}, ("grid", "soil"))
    assert model == {"grid": {"nx": 12}, "soil": {"n": 1.5}}


BAD = [
    ({"filter": {"forgett": 1.0}}, "filter.forgett: unknown key"),
    ({"filtr": {}}, "filtr: unknown key"),
    ({"filter": {"forget": "high"}}, "filter.forget = 'high': expected a number"),
    ({"filter": {"forget": 0.0}}, "filter.forget = 0.0: must be > 0.0"),
    ({"filter": {"type": "kalman"}}, "filter.type = 'kalman': expected one of"),
    ({"ensemble": {"size": 1}}, "ensemble.size = 1: must be >= 2"),
    ({"ensemble": {"size": 8.5}}, "ensemble.size = 8.5: expected an integer"),
    ({"ensemble": {"size": True}}, "ensemble.size = True: expected an integer"),
    ({"ensemble": {"size": 8, "dim_ens": 8}}, "given twice"),
    ({"parallel": {"tasks": 9}}, "parallel.tasks = 9: more model tasks than members"),
    ({"localization": {"radius_m": 0}}, "a local filter (letkf) needs a radius > 0"),
    ({"localization": {"radius_m": -5}}, "localization.radius_m = -5.0: must be >= 0.0"),
    ({"inflation": {"rtpp": 1.5}}, "inflation.rtpp = 1.5: must be <= 1.0"),
    ({"observations": [{"type": "vod"}]}, "observations[0].type = 'vod': expected one of"),
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

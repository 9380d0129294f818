"""The land model's forcing perturbations: the ``[perturbations.forcing]`` table
(models.landda.forcing_perturbations) and its use by the land DA model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mpi4py import MPI

from models.landda.forcing_perturbations import DEFAULT_KIND, FORCING_VARIABLES, forcing_variables
from models.landda.model import LandDAModel
from models.landda.setup import load
from pdafpy.errors import ConfigError


def test_variables_keep_the_order_of_the_table_and_their_default_kinds():
    table = {"air_temperature": {"sd": 1.5}, "precipitation": {"sd": 1.0},
             "shortwave": {"sd": 0.3, "kind": "additive", "time_scale_s": math.inf}}
    got = forcing_variables(table)
    assert [v.name for v in got] == ["air_temperature", "precipitation", "shortwave"]
    assert [v.kind for v in got] == ["additive", "multiplicative", "additive"]
    assert [v.mean for v in got] == [0.0, 1.0, 0.0]
    assert got[0].time_scale_s == 86400.0 and got[2].time_scale_s == math.inf


def test_every_forcing_variable_has_a_default_kind():
    assert set(DEFAULT_KIND) == set(FORCING_VARIABLES)


@pytest.mark.parametrize("table, message", [
    ({"precipitation": {"sd": 1.0, "tau": 3}},
     r"perturbations\.forcing\.precipitation\.tau: unknown key; .* accepts kind, mean, sd, "
     r"sd_space, time_scale_s"),
    ({"snowfall": {"sd": 1.0}},
     r"perturbations\.forcing\.snowfall: unknown forcing variable; .* accepts precipitation"),
    ({"precipitation": {"kind": "multiplicative"}}, r"perturbations\.forcing\.precipitation\.sd"),
    ({"precipitation": {"sd": -1.0}}, r"perturbations\.forcing\.precipitation\.sd = -1\.0"),
    ({"precipitation": {"sd": 1.0, "kind": "power"}},
     r"perturbations\.forcing\.precipitation\.kind = 'power'"),
    ({"precipitation": {"sd": 1.0, "time_scale_s": 0}},
     r"perturbations\.forcing\.precipitation\.time_scale_s = 0"),
    ({"precipitation": {"sd": 1.0, "mean": -0.5}},
     r"perturbations\.forcing\.precipitation\.mean=-0\.5 must be finite and > 0"),
    ({"precipitation": 1.0}, r"perturbations\.forcing\.precipitation = 1\.0: expected a table"),
], ids=["unknown-key", "unknown-variable", "no-sd", "negative-sd", "bad-kind", "zero-tau",
        "negative-mean", "not-a-table"])
def test_a_bad_table_is_a_config_error_naming_the_key_path(table, message):
    with pytest.raises(ConfigError, match=message):
        forcing_variables(table)


def test_model_construction_reports_an_unknown_key_as_a_config_error():
    # a TypeError from ForcingVariable(**table) before
    config = {"perturbations": {"forcing": {"precipitation": {"sd": 1.0, "tau": 3}}}}
    with pytest.raises(ConfigError, match=r"perturbations\.forcing\.precipitation\.tau"):
        LandDAModel.create(MPI.COMM_SELF, config)


def test_a_user_forcing_table_keeps_its_order_through_the_packaged_defaults(tmp_path):
    """The user's table replaces the packaged example's whole: it used to be merged into it,
    keeping the example's order and variables, so forcing_correlation paired the wrong ones."""
    path = tmp_path / "user.toml"
    path.write_text("[perturbations]\n"
                    "forcing = { air_temperature = { sd = 1.0 }, precipitation = { sd = 0.5 } }\n"
                    "forcing_correlation = [[1.0, -0.3], [-0.3, 1.0]]\n")
    _, tables = load(path)
    pert = tables["perturbations"]
    names = [v.name for v in forcing_variables(pert["forcing"])]
    assert names == ["air_temperature", "precipitation"]
    assert np.shape(pert["forcing_correlation"]) == (len(names), len(names))

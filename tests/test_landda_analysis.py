"""The twin's analysis plan (weakly coupled parts, analysed levels, parameters) and the cycle's
inflation and damping of the analysed elements."""

from __future__ import annotations

import numpy as np
import pytest

from models.landda.analysis_plan import analysis_plan
from pdafpy.cycle import CycleOptions, inflate_analysed
from pdafpy.decomposition import Box
from models.landda.observations import LandObservationSection as ObservationSection
from pdafpy.model import FieldSpec
from pdafpy.state import StateLayout

INTERFACES = np.array([0.0, 0.05, 0.2, 0.5, 1.0, 2.0, 4.0])    # centres .025 .125 .35 .75 1.5 3
FIELDS = ("pressure_head", "water_content", "water_table_depth", "log10_ks")


def sections(*ranges):
    return [ObservationSection(update_depth_m=r) for r in ranges]


def test_types_without_a_range_update_whole_columns_in_one_analysis():
    groups = analysis_plan(sections((), ()), INTERFACES, [0, 1], FIELDS)
    assert len(groups) == 1
    g = groups[0]
    assert g.types == (0, 1) and g.levels == {} and g.damping == {}
    assert g.fields == ("pressure_head", "water_content", "water_table_depth")


def test_depth_ranges_split_the_column_between_observation_types():
    groups = analysis_plan(sections((0.0, 1.0), (1.0, 4.0)), INTERFACES, [0, 1], FIELDS,
                           ["log10_ks"], 0.1)
    top, deep = groups
    assert top.types == (0,) and deep.types == (1,)
    assert np.array_equal(top.levels["pressure_head"], [0, 1, 2, 3])
    assert np.array_equal(deep.levels["pressure_head"], [4, 5])
    assert np.array_equal(top.levels["log10_ks"], [0, 1, 2, 3])
    assert "water_table_depth" not in top.fields          # the top metre does not reach the table
    assert "water_table_depth" in deep.fields
    assert top.damping == deep.damping == {"log10_ks": 0.1}


def test_types_that_keep_the_parameters_are_analysed_apart():
    types = [ObservationSection(update_parameters=False),
             ObservationSection(type="groundwater_level")]
    groups = analysis_plan(types, INTERFACES, [0, 1], FIELDS, ["log10_ks"], 0.5)
    state_only, with_ks = groups
    assert state_only.types == (0,) and with_ks.types == (1,)
    assert state_only.damping == {} and "log10_ks" not in state_only.fields
    assert with_ks.damping == {"log10_ks": 0.5} and "log10_ks" in with_ks.fields


def test_only_due_types_are_analysed_and_parts_name_positions_among_them():
    groups = analysis_plan(sections((0.0, 1.0), (1.0, 4.0)), INTERFACES, [1], FIELDS)
    assert [g.types for g in groups] == [(0,)]          # position 0 of the due list: type 1
    assert np.array_equal(groups[0].levels["pressure_head"], [4, 5])


def test_bad_depth_range_names_the_key():
    from pdafpy.config import parse_section
    from pdafpy.errors import ConfigError
    with pytest.raises(ConfigError, match=r"observations\.update_depth_m = \[1\.0, 0\.5\]"):
        parse_section(ObservationSection, {"update_depth_m": [1.0, 0.5]}, "observations")


def _layout():
    box = Box(0, 2, 0, 3)
    return StateLayout([FieldSpec("pressure_head", 6, "m"), FieldSpec("log10_ks", 6, "1",
                                                                      "parameter")], box)


def test_column_indices_select_levels_per_field():
    lay = _layout()
    idx = lay.column_indices(["pressure_head", "log10_ks"], {"pressure_head": [4, 5]})
    assert idx.shape == (6, 2 + 6)
    ens = np.arange(lay.size, dtype=float)[None]
    head = lay.view(ens, "pressure_head")[0]
    assert np.array_equal(ens[0, idx[4, :2]], head[[4, 5], 1, 1])      # column 4 = row 1, col 1
    with pytest.raises(ValueError, match="levels 0..5"):
        lay.column_indices(["pressure_head"], {"pressure_head": [6]})


def test_inflation_touches_only_the_analysed_elements():
    rng = np.random.default_rng(3)
    lay = _layout()
    forecast = rng.normal(size=(5, lay.size))
    analysis = forecast + 0.1 * rng.normal(size=forecast.shape)
    analysed = lay.column_indices(["pressure_head"]).ravel()
    out = analysis.copy()
    inflate_analysed(out, forecast, analysed, CycleOptions(multiplicative=1.5))
    others = np.setdiff1d(np.arange(lay.size), analysed)
    assert np.array_equal(out[:, others], analysis[:, others])
    anom = analysis[:, analysed] - analysis[:, analysed].mean(0)
    assert np.allclose(out[:, analysed] - out[:, analysed].mean(0), 1.5 * anom)
    assert np.allclose(out[:, analysed].mean(0), analysis[:, analysed].mean(0))

"""Analysis modules: the plan of one time, masks and their write-back (TSMP's gwmasking
readings, parameter masks included), damping, derived variables between modules, parameter
bounds, and the configuration's checks."""

from __future__ import annotations

import numpy as np
import pytest

from models.landda.analysis_state import LandAnalysisState
from models.richards.retention import van_genuchten
from pdafpy.analysis_config import AnalysisModuleSection, ParameterSection
from pdafpy.cycle import combine_mask, module_plan, write_back
from pdafpy.decomposition import Box
from pdafpy.errors import ConfigError
from pdafpy.model import FieldSpec
from pdafpy.state import StateLayout

NZ = 4
CENTRES = np.array([0.1, 0.5, 1.5, 3.0])
SOIL = {"theta_r": np.array(0.078), "theta_s": np.array(0.43), "alpha": np.array(3.6),
        "n": np.array(1.56)}
FIELDS = (FieldSpec("pressure_head", NZ, "m"), FieldSpec("water_content", NZ, "m3 m-3",
                                                         "diagnostic"),
          FieldSpec("water_table_depth", 1, "m", "diagnostic"),
          FieldSpec("leaf_biomass", 1, "kg m-2"),
          FieldSpec("leaf_area_index", 1, "m2 m-2", "diagnostic"),
          FieldSpec("log10_ks", NZ, "log10(m s-1)", "parameter"),
          FieldSpec("porosity", NZ, "m3 m-3", "parameter"))


class _Obs:
    def __init__(self, type_, name=""):
        self.type, self.name = type_, name


def _layout():
    return StateLayout(FIELDS, Box(0, 3, 0, 3))


def _state(layout, n=6, seed=0):
    """Heads around the table: every cell saturated in some members and not in others."""
    rng = np.random.default_rng(seed)
    ens = np.zeros((n, layout.size))
    view = layout.view
    view(ens, "pressure_head")[...] = rng.normal(0.0, 0.5, (n, NZ, 3, 3)) + \
        np.array([-0.8, -0.3, 0.2, 1.0])[None, :, None, None]
    view(ens, "water_content")[...] = van_genuchten(view(ens, "pressure_head"), 0.078, 0.43, 3.6,
                                                    1.56, derivatives=False)[0]
    view(ens, "leaf_biomass")[...] = rng.uniform(0.05, 0.2, (n, 1, 3, 3))
    view(ens, "log10_ks")[...] = -5.5 + rng.normal(0, 0.3, (n, NZ, 3, 3))
    view(ens, "porosity")[...] = 0.43
    return ens


def _land(layout, bare=None):
    return LandAnalysisState(layout, SOIL, CENTRES, 4.0, -100.0, np.full((3, 3), 20.0),
                             np.zeros((3, 3), bool) if bare is None else bare)


def _analysed(before, seed=1):
    """Any analysis: the forecast plus an increment everywhere."""
    return before + np.random.default_rng(seed).normal(0.0, 0.2, before.shape)


@pytest.mark.parametrize("kind", ["saturated", "unsaturated"])
@pytest.mark.parametrize("members", ["per_member", "all_members", "any_member"])
def test_masks_change_only_the_cells_their_reading_allows(kind, members):
    layout = _layout()
    ens = _state(layout)
    index = np.unique(layout.column_indices(["pressure_head", "water_content", "log10_ks",
                                             "leaf_biomass"]))
    land = _land(layout)
    mask = combine_mask(land.mask(kind, ens, index), members, ens.shape[0])
    before = ens[:, index]
    new = write_back(before, _analysed(before), mask, None, np.zeros(index.size, bool))
    changed = new != before
    # every layered element (head, water content, log10 Ks: the parameter mask of TSMP #185)
    # against the saturation of its cell in the state the module received
    cell = land._cell[index]
    layered = cell >= 0
    saturated = ens[:, cell[layered]] >= 0
    wanted = saturated if kind == "saturated" else ~saturated
    if members == "all_members":
        wanted = np.broadcast_to(wanted.all(axis=0), wanted.shape)
    elif members == "any_member":
        wanted = np.broadcast_to(wanted.any(axis=0), wanted.shape)
    assert not np.any(changed[:, layered] & ~wanted)           # never outside the mask
    assert np.all(changed[:, layered] | ~wanted)               # and everywhere inside it
    assert changed[:, ~layered].all()                          # single-level fields unmasked
    assert wanted.any() and not wanted.all()                   # the test has both kinds
    ks = np.isin(index, np.arange(layout.size)[layout.field_slice("log10_ks")])
    assert changed[:, ks].any() and not changed[:, ks].all()


def test_damping_applies_a_fraction_of_the_increment_and_fixed_parameters_stay():
    before = np.array([[0.0, 1.0, 2.0], [1.0, 1.0, 4.0]])
    after = before + 10.0
    new = write_back(before, after, None, np.array([0.1, 1.0, 0.5]),
                     np.array([False, True, True]))
    assert np.allclose(new[:, 0], before[:, 0] + 1.0)
    assert np.array_equal(new[:, 1], before[:, 1])       # a parameter without spread: kept
    assert np.allclose(new[:, 2], before[:, 2] + 5.0)


def test_the_plan_follows_module_and_parameter_clocks_depths_and_damping():
    obs = [_Obs("satellite_soil_moisture"), _Obs("groundwater_level")]
    modules = [AnalysisModuleSection(name="sm", observations=("satellite_soil_moisture",),
                                     depth_m=(0.0, 1.0), radius_m=5000.0, mask="unsaturated",
                                     damping={"pressure_head": 0.5}),
               AnalysisModuleSection(name="wells", observations=("groundwater_level",),
                                     interval_h=168.0, parameters=("log10_ks",),
                                     mask="saturated")]
    params = [ParameterSection(name="log10_ks", damping=0.1, interval_h=336.0)]
    kw = dict(default_fields=("pressure_head", "water_content", "water_table_depth"),
              field_levels={f.name: f.levels for f in FIELDS}, centres=CENTRES,
              parameters=params, time_unit_s=1.0)
    day = 86400.0
    parts = module_plan(modules, obs, [0, 1], 1 * day, **kw)
    assert [p.name for p in parts] == ["sm"]                  # wells weekly: not on day 1
    sm = parts[0]
    assert np.array_equal(sm.levels["pressure_head"], [0, 1])
    assert sm.radius_m == 5000.0 and sm.damping == {"pressure_head": 0.5}
    parts = module_plan(modules, obs, [0, 1], 7 * day, **kw)
    wells = parts[1]
    assert wells.types == (1,) and "log10_ks" not in wells.fields   # Ks every 14 days
    parts = module_plan(modules, obs, [1], 14 * day, **kw)
    assert [p.name for p in parts] == ["wells"] and parts[0].types == (0,)
    assert "log10_ks" in parts[0].fields and parts[0].damping == {"log10_ks": 0.1}
    assert parts[0].mask == "saturated"


def test_water_content_update_sets_head_in_unsaturated_cells_and_recomputes_the_rest():
    layout = _layout()
    received = _state(layout)
    runs = received.copy()
    theta = layout.view(runs, "water_content")
    theta += 0.02
    layout.view(runs, "leaf_biomass")[...] *= 2.0
    _land(layout).reconcile(runs, received, "water_content", ("pressure_head",
                                                              "water_content"))
    h0, h1 = layout.view(received, "pressure_head"), layout.view(runs, "pressure_head")
    saturated = h0 >= 0
    assert np.array_equal(h1[saturated], h0[saturated])
    assert np.all(h1[~saturated] > h0[~saturated])                 # wetter
    expected = van_genuchten(h1, 0.078, 0.43, 3.6, 1.56, derivatives=False)[0]
    assert np.allclose(layout.view(runs, "water_content"), expected, atol=0, rtol=1e-13)
    unsat_target = np.minimum(layout.view(received, "water_content") + 0.02, 0.43)
    assert np.allclose(layout.view(runs, "water_content")[~saturated], unsat_target[~saturated],
                       atol=1e-9)
    lai = layout.view(runs, "leaf_area_index")
    assert np.allclose(lai, 20.0 * layout.view(runs, "leaf_biomass"))
    wtd = layout.view(runs, "water_table_depth")
    assert np.all((wtd >= 0) & (wtd <= 4.0))


def test_constraints_keep_parameters_in_bounds_and_bare_ground_bare():
    layout = _layout()
    ens = _state(layout)
    layout.view(ens, "log10_ks")[0] = -20.0
    layout.view(ens, "porosity")[1] = 0.9
    layout.view(ens, "leaf_biomass")[2] = -1.0
    bare = np.zeros((3, 3), bool)
    bare[0, 0] = True
    land = LandAnalysisState(layout, SOIL, CENTRES, 4.0, -100.0, np.full((3, 3), 20.0), bare,
                             {"log10_ks": (-8.0, -3.0)})
    land.constrain(ens, ("log10_ks", "porosity"))
    ks = layout.view(ens, "log10_ks")
    assert ks.min() >= -8.0 and ks.max() <= -3.0
    assert layout.view(ens, "porosity").max() <= 0.75
    leaf = layout.view(ens, "leaf_biomass")
    assert leaf.min() >= 0.0 and np.all(leaf[:, 0, 0, 0] == 0.0)


def test_the_configuration_names_observations_and_parameters_that_exist():
    from pdafpy.analysis_config import check_analysis_modules
    obs = [_Obs("satellite_soil_moisture"), _Obs("groundwater_level")]
    good = [AnalysisModuleSection(observations=("satellite_soil_moisture",)),
            AnalysisModuleSection(observations=("groundwater_level",))]
    check_analysis_modules(good, (), obs, ())
    with pytest.raises(ConfigError, match="analysis\\[0\\].observations\\[0\\] = 'crns'"):
        check_analysis_modules([AnalysisModuleSection(observations=("crns",))], (), obs, ())
    with pytest.raises(ConfigError, match="'groundwater_level' is assimilated by no"):
        check_analysis_modules(good[:1], (), obs, ())
    with pytest.raises(ConfigError, match="analysis\\[1\\].parameters: 'log10_ks'"):
        check_analysis_modules([good[0], AnalysisModuleSection(
            observations=("groundwater_level",), parameters=("log10_ks",))], (), obs, ())
    with pytest.raises(ConfigError, match="give them names"):
        check_analysis_modules([AnalysisModuleSection(observations=("groundwater_level",))],
                               (), [_Obs("groundwater_level"), _Obs("groundwater_level")], ())
    with pytest.raises(ConfigError, match="parameter\\[0\\].name = 'porosity'"):
        check_analysis_modules(good, [ParameterSection(name="porosity")], obs, ("log10_ks",))

"""RichardsModel implements pdafpy's Model protocol; bad input fails early; failures are clear."""

import copy

import numpy as np
import pytest

petsc4py = pytest.importorskip("petsc4py")
from petsc4py import PETSc  # noqa: E402

from pdafpy.errors import ConfigError, ModelError  # noqa: E402
from pdafpy.model import Model  # noqa: E402
from models.richards.model import RichardsModel  # noqa: E402
from models.richards.timestepping import StepController  # noqa: E402

CONFIG = {
    "grid": {"nx": 6, "ny": 4, "dx_m": 10.0, "dy_m": 10.0,
             "dz_m": [0.05, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8]},
    "soil": {"model": "van_genuchten", "theta_r": 0.078, "theta_s": 0.43, "alpha_per_m": 3.6,
             "n": 1.56, "ks_m_per_s": 2.89e-6, "ss_per_m": 1e-4},
    "boundary": {"top": {"type": "atmospheric", "flux_m_per_s": 0.0, "h_min_m": -100.0},
                 "bottom": {"type": "head", "water_table_depth_m": 1.5}},
    "initial": {"water_table_depth_m": 1.5},
    "solver": {"dt_initial_s": 300.0, "dt_max_s": 3600.0},
    "parameter_fields": ["log10_ks"],
}


def _model(cfg=CONFIG, comm=None):
    return RichardsModel.create(comm or PETSc.COMM_WORLD, copy.deepcopy(cfg))


def test_richards_model_satisfies_the_model_protocol_and_round_trips_its_state():
    m = _model()
    assert isinstance(m, Model)
    assert [f.name for f in m.fields] == ["pressure_head", "log10_ks"]
    st = m.get_state()
    assert st["pressure_head"].shape == (7, m.box.ny, m.box.nx)
    m.set_state(0, st)
    np.testing.assert_array_equal(m.get_state()["pressure_head"], st["pressure_head"])
    np.testing.assert_allclose(m.grid.z, np.cumsum(CONFIG["grid"]["dz_m"])
                               - 0.5 * np.asarray(CONFIG["grid"]["dz_m"]))


def test_rain_from_the_land_model_wets_the_top_and_raises_water_table_diagnostics():
    m = _model()
    m.set_state(0, m.get_state())
    before = m.diagnostics()
    m.set_top_flux(np.full((m.box.ny, m.box.nx), 5e-3 / 3600))
    m.advance(0.0, 3 * 3600.0)
    after = m.diagnostics()
    assert np.all(after["theta"][0] > before["theta"][0])
    assert np.all(np.isfinite(after["water_table_depth"]))
    assert abs(m.water_balance.relative_error) <= 1e-8
    assert np.all((after["saturation"] > 0) & (after["saturation"] <= 1))


def test_members_keep_their_own_step_controller_and_restart_identically():
    m = _model()
    s0 = m.get_state()
    m.set_state(0, s0)
    m.set_top_flux(2e-3 / 3600)
    m.advance(0.0, 3600.0)
    saved_state, saved_ctl = m.get_state(), m.checkpoint_state()
    m.advance(3600.0, 7200.0)
    reference = m.get_state()["pressure_head"]
    m2 = _model()
    m2.set_top_flux(2e-3 / 3600)
    m2.restore_checkpoint(saved_ctl)
    m2.set_state(0, saved_state)
    m2.advance(3600.0, 7200.0)
    np.testing.assert_array_equal(m2.get_state()["pressure_head"], reference)


def test_log10_ks_parameter_field_changes_the_conductivity():
    m = _model()
    st = m.get_state()
    st["log10_ks"] = st["log10_ks"] + 1.0
    m.set_state(1, st)
    np.testing.assert_allclose(m.solver.disc.soil["ks_h"], 2.89e-5)


@pytest.mark.parametrize("section,key,value,match", [
    ("soil", "ks_m_per_s", 0.0, "ks_h"),
    ("soil", "n", 1.0, "n"),
    ("soil", "theta_r", 0.5, "theta_r"),
    ("grid", "dz_m", [0.1, -0.1], r"dz_m\[1\]"),
    ("grid", "nx", 0, "nx"),
])
def test_bad_configuration_is_rejected_before_any_solve(section, key, value, match):
    cfg = copy.deepcopy(CONFIG)
    cfg[section][key] = value
    with pytest.raises(ConfigError, match=match):
        _model(cfg)


def test_a_step_that_cannot_converge_raises_model_error_naming_time_dt_and_cell():
    cfg = copy.deepcopy(CONFIG)
    cfg["solver"] = {"dt_initial_s": 3600.0, "dt_min_s": 900.0,
                     "petsc_options": {"snes_max_it": 1}}
    cfg["boundary"]["top"]["flux_m_per_s"] = 1e-4
    m = _model(cfg)
    m.set_state(0, m.get_state())
    with pytest.raises(ModelError, match=r"t=0 s with dt=.*cell \(k=\d+, j=\d+, i=\d+\)"):
        m.advance(0.0, 86400.0)


def _unreachable_tolerance(accept_fnorm=None, retry=None):
    """CONFIG with Newton tolerances below the residual's rounding floor."""
    cfg = copy.deepcopy(CONFIG)
    opts = {"snes_atol": 1e-30, "snes_rtol": 1e-30, "snes_stol": 0.0, "snes_max_it": 60}
    if accept_fnorm is not None:
        opts["accept_fnorm"] = accept_fnorm
    if retry is not None:
        opts["retry_linesearch"] = retry
    cfg["solver"] = dict(cfg["solver"], petsc_options=opts, dt_min_s=100.0)
    return cfg


def test_a_line_search_stalled_at_the_rounding_floor_is_accepted_below_accept_fnorm():
    m = _model(_unreachable_tolerance())
    m.set_state(0, m.get_state())
    m.set_top_flux(np.full((m.box.ny, m.box.nx), 5e-3 / 3600))
    m.advance(0.0, 3600.0)
    stats = m.solver.stats
    assert stats.stalled_accepted >= 1 and stats.rejected == 0
    assert abs(m.water_balance.relative_error) <= 1e-8

    strict = _model(_unreachable_tolerance(accept_fnorm=0.0, retry="none"))
    strict.set_state(0, strict.get_state())
    strict.set_top_flux(np.full((m.box.ny, m.box.nx), 5e-3 / 3600))
    with pytest.raises(ModelError, match="SNES reason -6"):
        strict.advance(0.0, 3600.0)
    assert strict.solver.stats.retried == 0


def test_newton_out_of_iterations_at_the_rounding_floor_is_accepted_below_accept_fnorm():
    # the full Newton step does not stall: it runs out of iterations at the rounding floor
    cfg = _unreachable_tolerance(retry="basic")
    cfg["solver"]["petsc_options"]["snes_linesearch_type"] = "basic"
    m = _model(cfg)
    m.set_state(0, m.get_state())
    m.set_top_flux(np.full((m.box.ny, m.box.nx), 5e-3 / 3600))
    m.advance(0.0, 3600.0)
    stats = m.solver.stats
    assert stats.stalled_accepted >= 1 and stats.rejected == 0
    assert abs(m.water_balance.relative_error) <= 1e-8


def test_the_controller_is_told_the_iterations_to_the_floor_not_those_spent_there(monkeypatch):
    # every solve runs its 60 iterations at the floor; counted, they shrank each step by 0.7
    cfg = _unreachable_tolerance(retry="basic")
    cfg["solver"]["petsc_options"]["snes_linesearch_type"] = "basic"
    told = []
    accept = StepController.accept

    def recording(self, dt_taken, newton_its, max_dh):
        told.append(newton_its)
        accept(self, dt_taken, newton_its, max_dh)

    monkeypatch.setattr(StepController, "accept", recording)
    m = _model(cfg)
    m.set_state(0, m.get_state())
    m.set_top_flux(np.full((m.box.ny, m.box.nx), 5e-3 / 3600))
    m.advance(0.0, 6 * 3600.0)
    stats = m.solver.stats
    assert stats.stalled_accepted == stats.steps == len(told)
    assert stats.newton_its >= 60 * stats.steps          # the work done, all of it counted
    assert max(told) < 10                                 # the controller saw the floor reached
    assert m.solver.controller.dt > 3600.0 * 0.99 or stats.steps <= 12


def test_a_failed_solve_is_retried_once_with_the_other_line_search_before_the_step_is_cut():
    m = _model(_unreachable_tolerance(accept_fnorm=0.0))
    m.set_state(0, m.get_state())
    m.set_top_flux(np.full((m.box.ny, m.box.nx), 5e-3 / 3600))
    with pytest.raises(ModelError, match="SNES reason -5"):    # basic: no stall, out of its
        m.advance(0.0, 3600.0)
    stats = m.solver.stats
    assert stats.retried == stats.rejected >= 1 and stats.retry_converged == 0
    # the first line search is back in force for the next step
    assert m.solver._linesearch == "bt"
    assert PETSc.Options().hasName("richards_snes_linesearch_type") is False


def test_an_unknown_retry_line_search_is_refused_naming_the_option():
    with pytest.raises(ConfigError, match="richards_retry_linesearch = 'newton'.*basic"):
        _model(_unreachable_tolerance(retry="newton"))


def test_a_negative_accept_fnorm_is_refused_naming_the_option():
    with pytest.raises(ConfigError, match="richards_accept_fnorm"):
        _model(_unreachable_tolerance(accept_fnorm=-1.0))


@pytest.mark.parametrize("name", ["own_row_correction", "near_saturation_step"])
def test_logical_options_take_true_or_false_and_refuse_other_values_naming_the_option(name):
    cfg = copy.deepcopy(CONFIG)
    for value, on in (("false", False), ("TRUE", True), (False, False), ("off", False)):
        cfg["solver"] = {"petsc_options": {name: value}}
        m = _model(cfg)
        assert getattr(m.solver.correction, name) is on
        m.solver.destroy()
    cfg["solver"] = {"petsc_options": {name: "maybe"}}
    with pytest.raises(ConfigError, match=rf"^solver option richards_{name} = "
                                          r"'maybe': expected true or false$"):
        _model(cfg)

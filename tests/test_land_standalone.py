"""The stand-alone land model (``model = "land"``): no lateral flow, a free-drainage bottom,
the coupled model's state layout, scorable against a coupled truth."""

from __future__ import annotations


import numpy as np
import pytest
from mpi4py import MPI

pytest.importorskip("petsc4py")

from models.coupled import CoupledModel, PrescribedLand  # noqa: E402
from models.landda.faults import CONFIG  # noqa: E402
from models.standalone_land import StandaloneLandModel  # noqa: E402
from pdafpy.errors import ConfigError  # noqa: E402
from land_runs import run_config as _run  # noqa: E402

NX, NY, DZ = 3, 2, [0.1, 0.2, 0.3, 0.4]
DRY_M, WET_M = -3.0, -0.3
LOAM = {"theta_r": 0.078, "theta_s": 0.43, "alpha_per_m": 3.6, "n": 1.56,
        "ks_h_m_per_s": 2.89e-5, "ks_v_m_per_s": 2.89e-6}


def _config(head: np.ndarray, **extra) -> dict:
    return dict({"subsurface": {"grid": {"nx": NX, "ny": NY, "dx_m": 1.0, "dy_m": 1.0,
                                         "dz_m": DZ},
                                "soil": LOAM, "initial": {"pressure_head_m": head.tolist()},
                                "boundary": {"bottom": {"type": "free_drainage"}}},
                 "parameter_fields": ["log10_ks"]}, **extra)


def _advanced(cls, head: np.ndarray, days: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Water content before and after ``days`` without any land flux, ``(nz, ny, nx)``."""
    model = cls.create(MPI.COMM_SELF, _config(head))
    nl = model.nl
    model.land = PrescribedLand(lambda t: np.zeros((NY, NX)), lambda t: np.zeros((nl, NY, NX)))
    model.forcing = None
    model.set_state(0, model.get_state())
    theta0 = model.richards.diagnostics()["theta"]
    model.advance(0.0, days * 86400.0)
    return theta0, model.richards.diagnostics()["theta"]


def _heads(wet_column: bool) -> np.ndarray:
    head = np.full((len(DZ), NY, NX), DRY_M)
    if wet_column:
        head[:, 0, 0] = WET_M
    return head


def test_a_wetter_column_wets_its_neighbour_when_coupled_only():
    before, coupled = _advanced(CoupledModel, _heads(True))
    _, land = _advanced(StandaloneLandModel, _heads(True))
    _, land_dry = _advanced(StandaloneLandModel, _heads(False))
    neighbour = (slice(None), 0, 1)
    assert np.min(coupled[neighbour] - before[neighbour]) > 1e-3       # lateral inflow
    # stand-alone: the neighbour evolves as if the wet column were as dry as itself
    assert np.max(np.abs(land[neighbour] - land_dry[neighbour])) < 1e-8
    assert np.max(np.abs(land[:, :, 1:] - land_dry[:, :, 1:])) < 1e-8
    assert np.max(np.abs(land[:, 1, 0] - land_dry[:, 1, 0])) < 1e-8
    # the wet column still drains downward through its free-drainage bottom
    assert np.any(np.abs(land[:, 0, 0] - before[:, 0, 0]) > 1e-3)


def test_lateral_cut_keeps_ks_estimable_and_the_anisotropy():
    model = StandaloneLandModel.create(MPI.COMM_SELF, _config(_heads(False)))
    disc = model.richards.solver.disc
    assert model.richards.solver.disc.lateral_flow is False
    assert np.all(disc.Tx == 0.0) and np.all(disc.Ty == 0.0)
    state = model.get_state()
    new = np.full_like(state["log10_ks"], np.log10(4e-5))
    model.set_state(0, dict(state, log10_ks=new))
    assert np.allclose(model.get_state()["log10_ks"], new, rtol=0, atol=1e-12)
    assert np.allclose(disc.soil["ks_v"] / disc.soil["ks_h"], 0.1, rtol=1e-12)
    assert np.all(disc.Tx == 0.0) and np.all(disc.Ty == 0.0)     # still cut after the update
    dz = np.asarray(DZ)[:, None, None]
    assert np.allclose(disc.Tz, 4e-6 / (0.5 * dz[:-1] + 0.5 * dz[1:]), rtol=1e-12)
    coupled = CoupledModel.create(MPI.COMM_SELF, _config(_heads(False)))
    assert coupled.richards.solver.disc.lateral_flow and np.all(
        coupled.richards.solver.disc.Tx[..., 1:-1] > 0.0)


@pytest.mark.parametrize("boundary,key", [
    ({"bottom": {"type": "noflow"}}, "boundary.bottom.type = 'noflow'"),
    ({"bottom": {"type": "head", "water_table_depth_m": 1.0}}, "boundary.bottom.type = 'head'"),
    ({"east": {"type": "flux", "flux_m_per_s": 1e-7}}, "boundary.east.type = 'flux'")])
def test_a_bottom_other_than_free_drainage_is_refused(boundary, key):
    from pdafpy.experiment import load_configuration
    with pytest.raises(ConfigError, match="^" + key.replace(".", r"\.") + ": the stand-alone"):
        load_configuration({"model": "land", "boundary": boundary})
    config = _config(_heads(False))
    config["subsurface"]["boundary"] = boundary
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        StandaloneLandModel.create(MPI.COMM_SELF, config)


def test_the_land_model_defaults_to_free_drainage():
    from models.richards.boundary import FreeDrainage
    from pdafpy.experiment import load_configuration
    loaded = load_configuration({"model": "land"})
    assert loaded.cfg.model == "land" and "boundary" not in loaded.tables
    config = _config(_heads(False))
    del config["subsurface"]["boundary"]
    model = StandaloneLandModel.create(MPI.COMM_SELF, config)
    assert isinstance(model.richards.solver.disc.boundaries["bottom"], FreeDrainage)



def test_a_land_assimilation_is_scored_against_a_coupled_truth(tmp_path):
    base = CONFIG.format(days=1.0, ensemble="", checkpoint_every=2)
    status, truth = _run(tmp_path, "truth", 'mode = "truth"\nmodel = "coupled"\n' + base)
    assert status == 0 and truth["runs"] == 1
    obs = tmp_path / "truth" / "observations.nc"
    text = ('mode = "assimilate"\nmodel = "land"\n' + base
            .replace("interval_h = 6.0\n", f'interval_h = 6.0\nfile = "{obs}"\n')
            .replace("interval_h = 12.0\n", f'interval_h = 12.0\nfile = "{obs}"\n')
            .replace("error = 0.1\n", "").replace("withheld_fraction = 0.34\n", "")
            + f'[verification]\ntruth = "{tmp_path / "truth" / "truth.nc"}"\n')
    status, land = _run(tmp_path, "land", text)
    assert status == 0
    assert {"surface", "root_zone", "deep_soil", "water_table_depth", "leaf_area_index",
            "evapotranspiration", "transpiration"} <= set(land["variables"])
    for name, v in land["variables"].items():
        assert np.isfinite(v["open_loop"]["rmse"]) and np.isfinite(v["assimilation"]["rmse"])
    assert land["observations_used"] > 0
    # the same file assimilated by the coupled model scores differently: the model differs
    status, coupled = _run(tmp_path, "coupled", text.replace('model = "land"',
                                                             'model = "coupled"'))
    assert status == 0
    assert land["variables"]["deep_soil"] != coupled["variables"]["deep_soil"]

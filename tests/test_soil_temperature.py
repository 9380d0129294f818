"""Soil temperature (models/land/soil_temperature.py): the damped daily wave of a periodic surface
temperature with its order of convergence, steady state, energy conservation, the coupled
model's soil_temperature field, and the frozen-soil QC rule."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from pdafpy.decomposition import Box
from pdafpy.errors import ConfigError
from pdafpy.model import Grid
from pdafpy.obs.records import QC_GOOD, QC_REJECTED, ObservationRecords

from models.land.soil_temperature import FREEZING_POINT, SoilTemperature, solve_tridiagonal
from models.landda.obs_surface_soil_moisture import SurfaceSoilMoistureSection
from models.landda.qc_rules import check_rules, state_rules
from models.landda.validation import planned_fields

DAY = 86400.0
LAMBDA, CAPACITY = 1.2, 2.5e6                      # moist loam [W m-1 K-1], [J m-3 K-1]
KAPPA = LAMBDA / CAPACITY                          # [m2 s-1]
OMEGA = 2.0 * np.pi / DAY
DAMPING = np.sqrt(2.0 * KAPPA / OMEGA)             # damping depth, 0.115 m
T0, AMPLITUDE = 283.15, 10.0
DEPTHS = np.array([0.045, 0.105, 0.225])           # layer centres on every grid below [m]


def damped_wave(z, t):
    """T(z, t) = T0 + A exp(-z/d) sin(omega t - z/d): the periodic solution for
    T(0, t) = T0 + A sin(omega t) on a half-space."""
    return T0 + AMPLITUDE * np.exp(-z / DAMPING) * np.sin(OMEGA * t - z / DAMPING)


def periodic_run(dt: float, dz: float, depth: float = 1.0, days: int = 2):
    """Amplitude and phase at DEPTHS fitted over the last day, and the largest error [K] there,
    of a uniform column started from the exact solution (the first day is the spin-up)."""
    nz = int(round(depth / dz))
    z = (np.arange(nz) + 0.5) * dz
    soil = SoilTemperature(np.full(nz, dz), (1, 1), LAMBDA, CAPACITY,
                           damped_wave(z, 0.0)[:, None, None])
    at = np.array([np.argmin(np.abs(z - q)) for q in DEPTHS])
    assert np.allclose(z[at], DEPTHS)
    steps, per_day = int(round(days * DAY / dt)), int(round(DAY / dt))
    times, values = [], []
    for n in range(steps):
        t = (n + 1) * dt                           # backward Euler: the surface at the step's end
        soil.step(dt, surface_temperature=damped_wave(0.0, t))
        if n >= steps - per_day:
            times.append(t)
            values.append(soil.temperature[at, 0, 0].copy())
    t, v = np.array(times), np.array(values)
    basis = np.stack([np.ones_like(t), np.sin(OMEGA * t), np.cos(OMEGA * t)], axis=1)
    coef = np.linalg.lstsq(basis, v, rcond=None)[0]
    amplitude = np.hypot(coef[1], coef[2])
    phase = np.arctan2(coef[2], coef[1])           # T - mean = amp sin(omega t + phase)
    error = np.max(np.abs(v - damped_wave(DEPTHS[None], t[:, None])))
    return amplitude, phase, error


def test_periodic_surface_temperature_gives_the_damped_wave_converging_at_first_order():
    # (dt [s], dz [m]): refined by 3 in both (backward Euler: the time error dominates)
    runs = [periodic_run(dt, dz) for dt, dz in ((3600.0, 0.03), (1200.0, 0.01), (400.0, 0.01))]
    amp_exact = AMPLITUDE * np.exp(-DEPTHS / DAMPING)
    phase_exact = -DEPTHS / DAMPING
    amp_err = [np.max(np.abs(a / amp_exact - 1.0)) for a, _, _ in runs]
    phase_err = [np.max(np.abs(p - phase_exact)) for _, p, _ in runs]
    errors = [e for _, _, e in runs]
    # the model's own resolution (1 h, 3 cm): amplitude within 15 %, phase within 0.15 rad
    # (34 min) down to 2 damping depths (measured: 12 %, 0.13 rad at 0.225 m)
    assert amp_err[0] < 0.15 and phase_err[0] < 0.15
    # 20 min, 1 cm: 5 %, 0.05 rad (measured 4.2 %, 0.042 rad); 400 s, 1 cm: 2 %, 0.02 rad
    assert amp_err[1] < 0.05 and phase_err[1] < 0.05
    assert amp_err[2] < 0.02 and phase_err[2] < 0.02
    # each refinement by 3 reduces every error by at least 2.4 (first order: 3)
    for e in (amp_err, phase_err, errors):
        assert e[0] / e[1] > 2.4 and e[1] / e[2] > 2.4, e


def test_constant_air_temperature_gives_a_uniform_profile_at_it():
    dz = np.array([0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0])
    soil = SoilTemperature(dz, (2, 3), LAMBDA, CAPACITY, 290.0)
    for _ in range(24):
        soil.step(3600.0, surface_temperature=290.0)
    np.testing.assert_allclose(soil.temperature, 290.0, rtol=0, atol=1e-10)
    soil.set_temperature(np.full(soil.shape, 280.0))
    for _ in range(50):                            # implicit: steps far beyond dz^2 / kappa
        soil.step(1e7, surface_temperature=290.0)
    np.testing.assert_allclose(soil.temperature, 290.0, rtol=0, atol=1e-6)


def test_heat_content_changes_by_exactly_the_surface_flux():
    rng = np.random.default_rng(3)
    dz = np.array([0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0])
    shape = (3, 4)
    lam = rng.uniform(0.3, 2.0, (dz.size,) + shape)
    cap = rng.uniform(1.5e6, 3.0e6, (dz.size, 1, 1))
    soil = SoilTemperature(dz, shape, lam, cap, rng.uniform(260.0, 300.0, (dz.size,) + shape))
    h0 = soil.heat_content()
    for _ in range(100):                           # insulated at both ends
        soil.step(3600.0, surface_heat_flux=0.0)
    np.testing.assert_allclose(soil.heat_content(), h0, rtol=1e-14)
    flux = rng.uniform(-50.0, 50.0, shape)         # [W m-2] into the soil
    soil.step(1800.0, surface_heat_flux=flux)
    np.testing.assert_allclose(soil.heat_content() - h0, flux * 1800.0, rtol=1e-8, atol=1e-3)
    assert np.ptp(soil.temperature[-1]) > 0       # columns stay independent


def test_thomas_solver_matches_a_dense_solve_and_refuses_a_missing_top():
    rng = np.random.default_rng(1)
    n = 6
    lower, upper = rng.uniform(-1, 0, (n, 2)), rng.uniform(-1, 0, (n, 2))
    diag, rhs = rng.uniform(2.5, 3.0, (n, 2)), rng.normal(size=(n, 2))
    x = solve_tridiagonal(lower, diag, upper, rhs)
    for j in range(2):
        a = np.diag(diag[:, j]) + np.diag(lower[1:, j], -1) + np.diag(upper[:-1, j], 1)
        np.testing.assert_allclose(x[:, j], np.linalg.solve(a, rhs[:, j]), rtol=1e-12)
    soil = SoilTemperature([0.1, 0.2], (1, 1))
    with pytest.raises(ValueError, match="either surface_temperature or surface_heat_flux"):
        soil.step(60.0)
    with pytest.raises(ConfigError, match="soil_heat_conductivity_w_per_m_k must be finite"):
        SoilTemperature([0.1, 0.2], (1, 1), conductivity=0.0)


# ---------------------------------------------------------------------------- coupled model
class _Warming:
    """The synthetic forcing with the air temperature replaced by 275 K + 10 K per day."""

    def __init__(self, base):
        self.base = base

    def at(self, t):
        out = dict(self.base.at(t))
        out["air_temperature"] = np.full_like(out["air_temperature"], 275.0 + 10.0 * t / DAY)
        return out


def test_coupled_model_carries_soil_temperature_and_it_follows_a_warming_air():
    pytest.importorskip("petsc4py")
    from mpi4py import MPI

    from models import coupled_verify as cv
    from models.coupled import CoupledModel

    cfg = cv.grass_config(2)
    m = CoupledModel.create(MPI.COMM_SELF, copy.deepcopy(cfg))
    names = [f.name for f in m.fields]
    assert names[:5] == ["pressure_head", "canopy_water", "swe", "leaf_biomass",
                         "soil_temperature"]
    spec = m.fields[4]
    assert (spec.levels, spec.units, spec.kind) == (m.nz, "K", "state")
    state = m.get_state()
    air0 = m.forcing.at(0.0)["air_temperature"]     # default: the air at time 0, per column
    np.testing.assert_array_equal(state["soil_temperature"], np.broadcast_to(air0, (m.nz,)
                                                                             + air0.shape))
    # set_state / get_state round trip, per member
    state["soil_temperature"] = 270.0 + np.arange(m.nz)[:, None, None] * np.ones((1, 2, 2))
    m.set_state(1, state)
    np.testing.assert_array_equal(m.get_state()["soil_temperature"], state["soil_temperature"])
    # a warming air warms the soil from the top, exactly as the standalone scheme does
    cfg["land"]["soil_temperature_initial_k"] = 275.0
    m = CoupledModel.create(MPI.COMM_SELF, cfg)
    m.forcing = _Warming(m.forcing)
    m.set_state(0, m.get_state())
    np.testing.assert_array_equal(m.get_state()["soil_temperature"], 275.0)
    m.advance(0.0, DAY)
    t = m.get_state()["soil_temperature"][:, 0, 0]
    reference = SoilTemperature(m.dz, (1, 1), 1.2, 2.5e6, 275.0)
    for k in range(24):
        reference.step(3600.0, surface_temperature=275.0 + 10.0 * k / 24.0)
    np.testing.assert_allclose(t, reference.temperature[:, 0, 0], rtol=1e-13)
    assert 281.0 < t[0] < 285.0 and np.all(np.diff(t) <= 0) and t[-1] < 275.01
    with pytest.raises(ConfigError, match="soil_heat_capacity_j_per_m3_k"):
        bad = cv.grass_config(2)
        bad["land"]["soil_heat_capacity_j_per_m3_k"] = -1.0
        CoupledModel.create(MPI.COMM_SELF, bad)


# ---------------------------------------------------------------------------- frozen-soil QC
GRID = Grid.uniform(4, 5, dy=100.0, dx=100.0)


def test_frozen_soil_rule_rejects_over_cold_soil_and_keeps_warm_soil():
    section = SurfaceSoilMoistureSection(reject_frozen_soil=True)
    check_rules(section, "observations[0]", [f.name for f in planned_fields(5)])  # no refusal
    (rule,) = state_rules(section, GRID)
    temp = np.full((3, 2, GRID.ny, GRID.nx), 278.0)   # (members, layers, ny, nx) [K]
    temp[:, 0, 1, 2] = [272.0, 273.0, 274.0]         # mean 273.0 < 273.15: frozen
    temp[:, 0, 2, 3] = [271.0, 275.0, 274.0]         # mean 273.33: thawed
    temp[:, 1, 0, 0] = 260.0                         # frozen below the top layer only
    temp[:, 0, 3, 4] = FREEZING_POINT                # at the freezing point: kept

    def forecast(op):
        return op.apply(temp, Box(0, GRID.ny, 0, GRID.nx))

    rows, cols = [1, 2, 0, 3, 0], [2, 3, 0, 4, 1]
    records = ObservationRecords.build(0.0, GRID.x[cols], GRID.y[rows], 0.3, 0.04,
                                       "surface_soil_moisture")
    out = rule(records, forecast)
    assert out.rejected_by.tolist() == ["frozen_soil", "", "", "", ""]
    assert out.qc.tolist() == [QC_REJECTED] + [QC_GOOD] * 4

"""The filter family: exact equivalences, agreement with the Kalman filter, inflation, QC."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from mpi4py import MPI

from models.pdaf_tutorial import TutorialSettings
from pdafpy.errors import ConfigError
from pdafpy.filters import FILTERS, AnalysisInputs, make_filter
from pdafpy.filters.inputs import SCHEMES
from pdafpy.filters.sekf import SEKF
from pdafpy.halo import local_observations
from pdafpy.inflation import (adaptive_forget, inflate, relax_to_prior_perturbations,
                              relax_to_prior_spread, rotate)
from pdafpy.localize import Localization
from pdafpy.obs.qc import omit_by_innovation
from pdafpy.obs.types import ObservationSet
from tutorial_case import analyse_decomposed, load_offline, offline_obs


def linear_problem(n=6, m=4, n_members=8, seed=0):
    """A random ensemble, a linear observation operator and observations."""
    rng = np.random.default_rng(seed)
    ens = rng.normal(size=(n_members, n)) + np.arange(n)
    h = rng.normal(size=(m, n))
    y = rng.normal(size=m) + h @ np.arange(n)
    var = rng.uniform(0.2, 1.0, m)
    return ens, h, y, var


def obs_set(ens, h, y, var, coords=None):
    m = y.size
    coords = np.column_stack([np.arange(m, dtype=float), np.zeros(m)]) if coords is None \
        else coords
    return ObservationSet(y.copy(), var.copy(), coords, ens @ h.T, np.arange(m),
                          np.zeros(m, dtype=np.int64))


def kalman(mean, cov, h, y, var):
    k = cov @ h.T @ np.linalg.inv(h @ cov @ h.T + np.diag(var))
    return mean + k @ (y - h @ mean), (np.eye(mean.size) - k @ h) @ cov


def test_etkf_equals_estkf_on_a_random_problem():
    ens, h, y, var = linear_problem()
    a, b = ens.copy(), ens.copy()
    make_filter("etkf").analyse(a, AnalysisInputs(obs_set(ens, h, y, var)))
    make_filter("estkf").analyse(b, AnalysisInputs(obs_set(ens, h, y, var)))
    assert np.max(np.abs(a - ens)) > 0.1
    assert np.max(np.abs(a - b)) <= 1e-10


@pytest.mark.parametrize("name", ["letkf", "lestkf"])
def test_local_filter_with_infinite_radius_equals_global(name):
    ens, h, y, var = linear_problem(n=5, m=5)
    coords = np.column_stack([np.arange(5.0), np.zeros(5)])
    loc = Localization.from_pdaf(1e6, 1e6, 0)
    obs = obs_set(ens, h, y, var, coords)
    local = local_observations(obs, coords, [loc])
    a, b = ens.copy(), ens.copy()
    make_filter(name).analyse(a, AnalysisInputs(obs, state_index=np.arange(5).reshape(5, 1),
                                                local=local))
    make_filter("etkf").analyse(b, AnalysisInputs(obs))
    assert np.max(np.abs(a - b)) <= 1e-10


@pytest.mark.parametrize("variant", ["ensrf", "eakf"])
def test_serial_filter_with_one_observation_equals_etkf(variant):
    ens, h, y, var = linear_problem(m=1)
    coords = np.zeros((6, 2))
    loc = Localization.from_pdaf(1.0, 1.0, 0)
    obs = obs_set(ens, h, y, var, coords[:1])
    a, b = ens.copy(), ens.copy()
    make_filter(variant).analyse(a, AnalysisInputs(obs, state_index=np.arange(6).reshape(6, 1),
                                                   domain_coords=coords, localizations=[loc]))
    make_filter("etkf").analyse(b, AnalysisInputs(obs))
    assert np.max(np.abs(a - ens)) > 1e-3
    assert np.max(np.abs(a - b)) <= 1e-10


def test_sekf_on_a_linear_model_with_b_equal_pf_is_the_kalman_filter():
    rng = np.random.default_rng(3)
    n_col, n_l, m_per = 3, 4, 2
    root = rng.normal(size=(n_l, n_l))
    pf = root @ root.T + 0.5 * np.eye(n_l)
    delta = np.array([1e-3, 2e-3, 5e-4, 1e-3])
    sekf = SEKF(delta, pf)
    xb = rng.normal(size=n_col * n_l)
    index = np.arange(n_col * n_l).reshape(n_col, n_l)
    h_col = rng.normal(size=(n_col, m_per, n_l))              # each column's own operator
    y = rng.normal(size=(n_col, m_per))
    var = rng.uniform(0.1, 0.5, size=(n_col, m_per))
    runs = sekf.perturbed_runs(xb, index)                     # identity model over the window
    hx = np.einsum("cml,rcl->rcm", h_col, runs[:, index]).reshape(sekf.n_runs, -1)
    coords = np.column_stack([np.arange(n_col, dtype=float), np.zeros(n_col)])
    obs = ObservationSet(y.ravel(), var.ravel(), np.repeat(coords, m_per, axis=0), hx,
                         np.arange(n_col * m_per), np.zeros(n_col * m_per, dtype=np.int64))
    local = local_observations(obs, coords, [Localization.from_pdaf(0.0, 0.0, 0)])
    sekf.analyse(runs, AnalysisInputs(obs, state_index=index, local=local))
    for c in range(n_col):
        expected, _ = kalman(xb[index[c]], pf, h_col[c], y[c], var[c])
        assert np.max(np.abs(runs[0, index[c]] - expected)) <= 1e-10


@pytest.mark.parametrize("name", ["enkf", "etkf"])
def test_large_ensemble_approaches_the_kalman_filter(name):
    rng = np.random.default_rng(11)
    n, m, n_members = 3, 2, 1000
    mean = np.array([1.0, -0.5, 2.0])
    root = rng.normal(size=(n, n))
    cov = root @ root.T + np.eye(n)
    ens = mean + rng.normal(size=(n_members, n)) @ np.linalg.cholesky(cov).T
    h = rng.normal(size=(m, n))
    y = np.array([0.3, -1.2])
    var = np.array([0.5, 0.8])
    obs = obs_set(ens, h, y, var)
    options = {"solver": "observation"} if name == "enkf" else {}
    make_filter(name, seed=5, **options).analyse(ens, AnalysisInputs(obs))
    mean_kf, cov_kf = kalman(mean, cov, h, y, var)
    # sampling error: mean ~ sqrt(diag(P)/N); covariance ~ sqrt(2/N) relative; allow 5 sigma
    tol_mean = 5 * np.sqrt(np.diag(cov) / n_members)
    assert np.all(np.abs(ens.mean(axis=0) - mean_kf) <= tol_mean)
    scale = np.sqrt(np.outer(np.diag(cov), np.diag(cov)))
    assert np.all(np.abs(np.cov(ens.T) - cov_kf) <= 5 * np.sqrt(2.0 / n_members) * scale)


def test_enkf_representer_and_ensemble_space_forms_agree():
    ens, h, y, var = linear_problem(n=5, m=9, n_members=6)
    a, b = ens.copy(), ens.copy()
    make_filter("enkf", solver="ensemble", seed=2).analyse(
        a, AnalysisInputs(obs_set(ens, h, y, var)), 4)
    make_filter("enkf", solver="observation", seed=2).analyse(
        b, AnalysisInputs(obs_set(ens, h, y, var)), 4)
    assert np.max(np.abs(a - ens)) > 0.1
    assert np.max(np.abs(a - b)) <= 1e-10


def test_column_enkf_solver_forms_agree():
    ens, h, y, var = linear_problem(n=5, m=5, n_members=4)
    coords = np.column_stack([np.arange(5.0), np.zeros(5)])
    obs = obs_set(ens, h, y, var, coords)
    local = local_observations(obs, coords, [Localization.from_pdaf(2.0, 2.0, 2)])
    a, b = ens.copy(), ens.copy()
    inputs = AnalysisInputs(obs, state_index=np.arange(5)[:, None], local=local)
    make_filter("column_enkf", solver="ensemble").analyse(a, inputs, 1)
    make_filter("column_enkf", solver="observation").analyse(b, inputs, 1)
    assert np.max(np.abs(a - b)) <= 1e-10


def _every_filter():
    """One object of every registered filter, and an SEKF for two-level columns."""
    return [(name, make()) for name, make in sorted(FILTERS.items())] + \
        [("sekf", SEKF(np.array([1e-3, 2e-3]), np.array([0.3, 0.2])))]


def test_every_filter_is_called_the_same_way():
    filters = _every_filter()
    expected = inspect.signature(filters[0][1].analyse)
    assert list(expected.parameters) == ["ens", "inputs", "cycle", "forget"]
    for name, filt in filters:
        assert filt.scheme in SCHEMES, name
        assert inspect.signature(filt.analyse) == expected, name


@pytest.mark.parametrize("name", sorted(FILTERS) + ["sekf"])
def test_every_filter_runs_through_the_analysis_step(name):
    from pdafpy.cycle import analysis_step
    from pdafpy.decomposition import block_boxes
    from pdafpy.model import FieldSpec, Grid
    from pdafpy.obs.operators import grid_point
    from pdafpy.obs.types import ObservationType
    from pdafpy.state import StateLayout

    filt = dict(_every_filter())[name]
    rng = np.random.default_rng(6)
    grid = Grid.uniform(4, 5)
    boxes = block_boxes(4, 5, 1, 1)
    layout = StateLayout((FieldSpec("theta", 2),), boxes[0])
    n_members = filt.n_runs if name == "sekf" else 8
    ens = rng.normal(size=(n_members, layout.size))
    rows, cols = np.array([0, 1, 3, 2, 3]), np.array([0, 2, 4, 1, 3])
    obs_type = ObservationType("theta_top", rng.normal(size=5), np.full(5, 0.5),
                               np.column_stack([grid.x[cols], grid.y[rows]]),
                               grid_point("theta", rows, cols),
                               Localization.from_pdaf(1.5, 1.5, 2))
    forecast = ens.copy()
    report = analysis_step(filt, ens, layout, grid, [obs_type], MPI.COMM_SELF, boxes, cycle=2)
    assert report.owned_obs == 5
    assert report.local_obs == (5 if filt.scheme == "local" else 0)
    assert np.all(np.isfinite(ens))
    assert np.max(np.abs(ens[0] - forecast[0])) > 1e-3
    if name == "sekf":
        assert np.array_equal(ens[1:], forecast[1:])            # the perturbed runs stay


def test_a_filter_names_the_inputs_it_lacks():
    ens, h, y, var = linear_problem()
    with pytest.raises(ConfigError, match="lack state_index, local"):
        make_filter("letkf").analyse(ens, AnalysisInputs(obs_set(ens, h, y, var)))


def test_inflation_relaxation_and_rotation():
    rng = np.random.default_rng(0)
    forecast = rng.normal(size=(10, 7))
    analysis = 0.3 * forecast + rng.normal(size=(10, 7)) * 0.1
    a = analysis.copy()
    relax_to_prior_perturbations(a, forecast, 1.0)
    assert np.allclose(a - a.mean(0), forecast - forecast.mean(0))
    assert np.allclose(a.mean(0), analysis.mean(0))
    a = analysis.copy()
    relax_to_prior_spread(a, forecast, 1.0)
    assert np.allclose(a.std(0, ddof=1), forecast.std(0, ddof=1))
    a = analysis.copy()
    inflate(a, 1.5)
    assert np.allclose(a.std(0), 1.5 * analysis.std(0))
    a = analysis.copy()
    rotate(a, seed=1, cycle=3)
    assert not np.allclose(a, analysis)
    assert np.allclose(a.mean(0), analysis.mean(0))
    assert np.allclose(np.cov(a.T), np.cov(analysis.T))


def test_adaptive_forget_follows_pdaf_formula():
    rng = np.random.default_rng(4)
    hx = rng.normal(size=(10, 50))
    y = rng.normal(size=50) * 3.0
    var = np.full(50, 0.5)
    hxbar = hx.mean(0)
    expected = (np.sum((hx - hxbar) ** 2) / 9 / 50) / (np.sum((y - hxbar) ** 2) / 50 - 0.5)
    assert adaptive_forget(hx, y, var, 1.0) == pytest.approx(np.clip(expected, 0.01, 100), 1e-12)
    assert adaptive_forget(hx, hxbar, var, 0.7) == 0.7          # residual below obs error


def test_innovation_check_omits_and_counts_outliers():
    ens, h, y, var = linear_problem(m=4)
    obs = obs_set(ens, h, y, var)
    obs.value[2] = obs.hx.mean(0)[2] + 10 * np.sqrt(var[2])
    kept, omitted = omit_by_innovation(obs, [3.0])
    assert omitted.tolist() == [1]
    assert 2 not in kept.global_index.tolist() and kept.size == 3
    assert omit_by_innovation(obs, [0.0])[0].size == 4


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("name", ["enkf", "lenkf", "column_enkf", "ensrf", "eakf"])
def test_stochastic_and_serial_filters_independent_of_rank_layout(tutorial_refs, name):
    fields, grid = load_offline(tutorial_refs)
    obs = offline_obs(tutorial_refs, grid,
                      TutorialSettings(cradius=5.0, sradius=5.0, locweight=2, obs_types="A,B,C"))
    serial = analyse_decomposed(MPI.COMM_SELF, fields, grid, obs, name, seed=9)
    split = analyse_decomposed(MPI.COMM_WORLD, fields, grid, obs, name, seed=9)
    assert np.max(np.abs(serial - fields)) > 0.05
    assert np.max(np.abs(serial - split)) <= 1e-12


class _MixingColumns:
    """A linear model without lateral coupling: each column's levels mix through ``M``."""

    def __init__(self, comm, ny, nx, mixing):
        from pdafpy.decomposition import block_boxes
        from pdafpy.model import FieldSpec, Grid
        self._grid = Grid.uniform(ny, nx)
        self._box = block_boxes(ny, nx, 1, comm.Get_size())[comm.Get_rank()]
        self.fields = (FieldSpec("theta", mixing.shape[0]),)
        self.mixing = mixing

    @property
    def grid(self):
        return self._grid

    @property
    def box(self):
        return self._box

    def set_state(self, member, state):
        self.x = np.array(state["theta"])

    def get_state(self):
        return {"theta": self.x.copy()}

    def advance(self, t0, t1):
        self.x = np.einsum("kl,lij->kij", self.mixing, self.x)


@pytest.mark.mpi(min_size=2)
def test_sekf_runs_dealt_out_to_model_tasks_give_the_kalman_analysis():
    from pdafpy.decomposition import block_boxes
    from pdafpy.ensemble import EnsembleRunner
    from pdafpy.model import Grid
    from pdafpy.obs.operators import StencilOperator
    from pdafpy.obs.observe import observe_owned
    from pdafpy.obs.types import ObservationType
    from pdafpy.parallel import make_layout

    world = MPI.COMM_WORLD
    rng = np.random.default_rng(8)
    ny, nx, nl = 2, 3, 3
    mixing = np.eye(nl) + 0.1 * rng.normal(size=(nl, nl))
    b = np.diag([0.02, 0.01, 0.005])
    x0 = rng.uniform(0.2, 0.4, size=(nl, ny, nx))
    sekf = SEKF(np.array([1e-3, 1e-3, 1e-3]), b)
    layout = make_layout(world, world.Get_size(), sekf.n_runs)
    model = _MixingColumns(layout.comm_model, ny, nx, mixing)
    filter_box = block_boxes(ny, nx, 1, 1)[0] if layout.is_filter else None
    runner = EnsembleRunner(layout, model, filter_box)
    grid = Grid.uniform(ny, nx)
    index = None
    if layout.is_filter:
        index = runner.filter_layout.column_indices()
        runs = sekf.perturbed_runs(runner.filter_layout.pack({"theta": x0}), index)
    else:
        runs = None
    runner.distribute(runs)                                 # the runs go out like members
    runner.forecast(0.0, 1.0)
    runs = runner.collect()
    # one observation per column: 0.7 * level 0 + 0.3 * level 1
    rows, cols = np.divmod(np.arange(ny * nx), nx)
    h = np.array([0.7, 0.3, 0.0])
    op = StencilOperator("theta", np.tile([0, 1], (ny * nx, 1)), np.stack([rows, rows], 1),
                         np.stack([cols, cols], 1), np.tile([0.7, 0.3], (ny * nx, 1)))
    y = rng.uniform(0.2, 0.4, ny * nx)
    var = np.full(ny * nx, 0.02 ** 2)
    loc = Localization.from_pdaf(0.0, 0.0, 0)
    obs_type = ObservationType("sm", y, np.sqrt(var), np.column_stack([cols, rows]) * 1.0, op,
                               loc)
    if layout.is_filter:
        comm = layout.comm_filter
        owned = observe_owned([obs_type], runs, runner.filter_layout, grid, comm, [filter_box])
        local = local_observations(owned, grid.column_coords(filter_box), [loc])
        sekf.analyse(runs, AnalysisInputs(owned, comm, state_index=index, local=local))
        xb = np.einsum("kl,lij->kij", mixing, x0)
        heff = h @ mixing                                     # Jacobian of H(M(x)) w.r.t. x
        got = runner.filter_layout.unpack(runs[0])["theta"]
        for c in range(ny * nx):
            i, j = divmod(c, nx)
            gain = b @ heff / (heff @ b @ heff + var[c])
            expected = xb[:, i, j] + gain * (y[c] - h @ xb[:, i, j])
            assert np.max(np.abs(got[:, i, j] - expected)) <= 1e-8
    layout.free()

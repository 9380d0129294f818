"""The land twin's state perturbations during the run (``[perturbations.state]``,
models.landda.state_perturbations): the increments' sd, cross-correlation, AR(1) memory and
truncation; reproducibility on any layout; the write-back through pressure head and leaf biomass;
the truth left alone; the configuration checks.

Statistical tolerances are 4 sampling standard deviations of the estimator over ``n`` samples
(sd: ``sd / sqrt(2 n)``; correlation: ``(1 - rho^2) / sqrt(n)``; mean: ``sd / sqrt(n)``), with
``n`` = 24 000 (2 runs x 120 x 100 columns), so a wrong correlation matrix (independent layers),
a linearised AR(1) coefficient or a missing sd per layer fails them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from models.landda.faults import CONFIG
from models.landda.state_perturbations import (StateNoise, check_state_perturbations,
                                               head_after_water_content_increment,
                                               leaf_biomass_after_lai_increment, state_section)
from pdafpy.errors import ConfigError
from land_runs import netcdf_variables, same_variables

#: HEY's state cross-correlation: four soil layers, then LAI (studies.md section 3.2).
HEY_CORRELATION = [[1.00, 0.60, 0.40, 0.20, 0.08],
                   [0.60, 1.00, 0.60, 0.40, 0.13],
                   [0.40, 0.60, 1.00, 0.60, 0.19],
                   [0.20, 0.40, 0.60, 1.00, 0.10],
                   [0.08, 0.13, 0.19, 0.10, 1.00]]
#: KW26's soil-moisture cross-correlation (section 4.2).
KW26_CORRELATION = [row[:4] for row in HEY_CORRELATION[:4]]
NY, NX = 120, 100
HOUR = 3600.0


def _noise(table, ensemble_size=2, box=(0, NY, 0, NX), nz=4, step_s=HOUR):
    return StateNoise(state_section(table), nz=nz, seed=11, ensemble_size=ensemble_size,
                      box=box, grid_shape=(NY, NX), coupling_step_s=step_s)


def _samples(noise, k, runs=(0, 1)):
    """Increments of ``runs`` at counter ``k``, stacked: (variables, n samples)."""
    out = []
    for run in runs:
        theta, lai = noise.increments(run, run, k)
        layers = [theta[j].ravel() for j in range(theta.shape[0])]
        out.append(np.array(layers + ([lai.ravel()] if lai is not None else [])))
    return np.concatenate(out, axis=1)


def _corr_tolerance(rho, n):
    return 4.0 * (1.0 - np.asarray(rho) ** 2) / math.sqrt(n) + 1e-12   # (+ the diagonal)


# ------------------------------------------------------------------ the increments
def test_increments_have_the_configured_sd_and_cross_correlation():
    sd = [0.01, 0.006, 0.003, 0.0015]
    noise = _noise({"water_content_sd": sd, "lai_sd": 0.05, "correlation": HEY_CORRELATION})
    x = _samples(noise, 1)
    n = x.shape[1]
    want_sd = np.array(sd + [0.05])
    assert np.all(np.abs(x.std(axis=1) / want_sd - 1.0) < 4.0 / math.sqrt(2 * n))
    assert np.all(np.abs(x.mean(axis=1)) < 4.0 * want_sd / math.sqrt(n))
    corr = np.corrcoef(x)
    assert np.all(np.abs(corr - HEY_CORRELATION) < _corr_tolerance(HEY_CORRELATION, n))


def test_a_layer_of_sd_zero_gets_no_increment_and_the_others_keep_their_correlation():
    noise = _noise({"water_content_sd": [0.01, 0.0, 0.003, 0.0015],
                    "correlation": KW26_CORRELATION})
    x = _samples(noise, 1)
    assert np.all(x[1] == 0.0)
    kept = [0, 2, 3]
    want = np.asarray(KW26_CORRELATION)[np.ix_(kept, kept)]
    assert np.all(np.abs(np.corrcoef(x[kept]) - want) < _corr_tolerance(want, x.shape[1]))
    assert np.all(np.abs(x[kept].std(axis=1) / [0.01, 0.003, 0.0015] - 1.0)
                  < 4.0 / math.sqrt(2 * x.shape[1]))


def test_without_a_correlation_matrix_the_layers_are_independent():
    x = _samples(_noise({"water_content_sd": 0.01}), 1)
    off = np.corrcoef(x)[~np.eye(4, dtype=bool)]
    assert np.all(np.abs(off) < 4.0 / math.sqrt(x.shape[1]))


@pytest.mark.parametrize("tau_h, interval_h", [(12.0, 6.0), (12.0, 3.0)])
def test_ar1_increments_have_lag_correlation_exp_minus_dt_over_tau(tau_h, interval_h):
    noise = _noise({"water_content_sd": [0.01, 0.006, 0.003, 0.0015], "time_scale_h": tau_h,
                    "interval_h": interval_h, "correlation": KW26_CORRELATION})
    x = [_samples(noise, k) for k in range(1, 5)]
    n = x[0].shape[1]
    phi = math.exp(-interval_h / tau_h)           # 0.607 (the linearised 1 - dt/tau: 0.5)
    for lag in (1, 2):
        r = np.array([np.corrcoef(x[0][j], x[lag][j])[0, 1] for j in range(4)])
        assert np.all(np.abs(r - phi ** lag) < _corr_tolerance(phi ** lag, n)), (lag, r)
    if interval_h == 6.0:
        assert np.all(np.abs(r - (1.0 - interval_h / tau_h) ** 2) > 0.05)
    for later in (x[0], x[3]):                    # stationary: sd and C at every step
        assert np.all(np.abs(later.std(axis=1) / [0.01, 0.006, 0.003, 0.0015] - 1.0)
                      < 4.0 / math.sqrt(2 * n))
        assert np.all(np.abs(np.corrcoef(later) - KW26_CORRELATION)
                      < _corr_tolerance(KW26_CORRELATION, n))


def test_a_correlation_length_makes_neighbouring_columns_alike_and_uniform_one_value():
    independent = _noise({"water_content_sd": 0.01}).increments(0, 0, 1)[0][0]
    field = _noise({"water_content_sd": 0.01, "correlation_length_m": 10.0}    # 10 columns
                   ).increments(0, 0, 1)[0][0]
    lag1 = [np.corrcoef(f[:, :-1].ravel(), f[:, 1:].ravel())[0, 1]
            for f in (independent, field)]
    assert abs(lag1[0]) < 0.04 and lag1[1] > 0.8          # exp(-1/10) = 0.90 in expectation
    uniform = _noise({"water_content_sd": 0.01, "spatial": "uniform"}).increments(0, 0, 1)[0]
    assert np.all(uniform == uniform[:, :1, :1]) and np.all(uniform != 0.0)


def test_white_increments_are_uncorrelated_in_time():
    noise = _noise({"water_content_sd": 0.01, "lai_sd": 0.01})
    a, b = _samples(noise, 1), _samples(noise, 2)
    r = np.array([np.corrcoef(a[j], b[j])[0, 1] for j in range(5)])
    assert np.all(np.abs(r) < 4.0 / math.sqrt(a.shape[1]))


def test_truncated_increments_stay_within_the_bound_and_keep_their_variance():
    noise = _noise({"water_content_sd": [0.01, 0.006, 0.003, 0.0015], "truncate_sd": 2.5,
                    "correlation": KW26_CORRELATION})
    x = _samples(noise, 1)
    top = np.abs(x[0]) / 0.01                     # the first stream is z itself (L[0, 0] = 1)
    assert top.max() <= 2.5 + 1e-12 and top.max() > 2.3
    assert abs(x[0].std() / 0.01 - 1.0) < 4.0 / math.sqrt(2 * x.shape[1])


def test_increments_are_the_same_on_any_box_run_index_and_order():
    table = {"water_content_sd": [0.01, 0.006, 0.003, 0.0015], "lai_sd": 0.05,
             "time_scale_h": 12.0, "correlation": HEY_CORRELATION, "zero_mean": True}
    whole = _noise(table, ensemble_size=5)
    left, right = (_noise(table, ensemble_size=5, box=b) for b in ((0, NY, 0, 37),
                                                                     (0, NY, 37, NX)))
    for k in (1, 3):                          # a skipped counter is stepped through
        total = np.zeros((4, NY, NX))
        for key in (3, 0, 4, 1, 2):
            theta, lai = whole.increments(key, key, k)
            total += theta
            for part, (x0, x1) in ((left, (0, 37)), (right, (37, NX))):
                t, la = part.increments(10 + key, key, k)      # another run index, same key
                assert np.array_equal(t, theta[:, :, x0:x1])
                assert np.array_equal(la, lai[:, x0:x1])
        assert np.abs(total).max() < 1e-15   # zero_mean: the ensemble-mean increment is 0


def test_counters_are_the_application_times_since_model_time_zero():
    noise = _noise({"water_content_sd": 0.01, "interval_h": 3.0})
    assert noise.counters(0.0, 6 * HOUR) == [(1, 3 * HOUR), (2, 6 * HOUR)]
    assert noise.counters(6 * HOUR, 8 * HOUR) == []
    assert noise.counters(6 * HOUR, 9 * HOUR) == [(3, 9 * HOUR)]
    assert noise.counters(4 * HOUR, 13 * HOUR) == [(2, 6 * HOUR), (3, 9 * HOUR), (4, 12 * HOUR)]
    assert _noise({"water_content_sd": 0.01}).counters(0.0, 2 * HOUR) == [(1, HOUR),
                                                                           (2, 2 * HOUR)]
    assert noise.perturbs(0) and noise.perturbs(1) and not noise.perturbs(2)   # truth: key N


# ------------------------------------------------------------------ the write-back
def _van_genuchten(theta_r, theta_s, alpha, n):
    m = 1.0 - 1.0 / n

    def theta(h):
        se = np.where(h < 0, (1.0 + (alpha * np.abs(h)) ** n) ** -m, 1.0)
        return theta_r + (theta_s - theta_r) * se

    def head(se):
        se = np.clip(se, 1e-300, 1.0)
        with np.errstate(all="ignore"):
            h = -((se ** (-1.0 / m) - 1.0) ** (1.0 / n)) / alpha
        return np.where(se >= 1.0, 0.0, h)
    return theta, head


def test_water_content_increments_become_head_within_the_bounds():
    theta_of, head_of = _van_genuchten(0.05, 0.43, 3.6, 1.56)
    head = np.array([[-0.5, -2.0, -1.0, -300.0, 0.3, -0.2]]).T[:, :, None] * np.ones((6, 1, 2))
    theta = theta_of(head)
    inc = np.zeros_like(head)
    inc[:, 0, 0] = [0.01, -0.02, 0.5, -0.01, 0.02, -0.5]       # column 0; column 1 untouched
    new = head_after_water_content_increment(head, theta, inc, 0.05, 0.43, head_of, -100.0)
    got = theta_of(new)[:, 0, 0]
    assert np.allclose(got[:2], theta[:2, 0, 0] + inc[:2, 0, 0], rtol=0, atol=1e-12)
    assert got[2] == 0.43 and new[2, 0, 0] == 0.0        # clipped at saturation
    assert new[3, 0, 0] == -300.0                        # drier than h_min: no drier than before
    assert new[4, 0, 0] == 0.3                           # saturated: head kept
    assert got[5] >= 0.05 + 1e-6 - 1e-12 and new[5, 0, 0] >= -100.0   # theta_r + 1e-6, h_min
    assert np.array_equal(new[:, 0, 1], head[:, 0, 1])   # no increment: the same bits


def test_lai_increments_become_leaf_biomass_non_negative_and_bare_ground_stays_bare():
    sla = np.array([20.0, 20.0, 20.0, 0.0])
    lai_max = np.array([4.0, 4.0, 0.0, 4.0])
    biomass = np.array([0.1, 0.01, 0.0, 0.0])               # LAI 2, 0.2, bare, no SLA
    new = leaf_biomass_after_lai_increment(biomass, sla, np.array([0.3, -0.5, 0.4, 0.4]),
                                           lai_max, np.array([0.5, 0.5, 0.0, 0.5]))
    assert np.allclose(new * sla, [2.3, 0.0, 0.0, 0.0], rtol=0, atol=1e-14)
    assert np.all(new >= 0.0) and new[2] == 0.0 and new[3] == 0.0
    capped = leaf_biomass_after_lai_increment(biomass, sla, np.full(4, 5.0), lai_max,
                                              np.zeros(4))
    assert capped[0] * sla[0] == 4.0                      # the phenology's cap, lai_max


def test_the_model_writes_increments_through_head_and_leaf_biomass():
    pytest.importorskip("petsc4py")
    from mpi4py import MPI

    from models.landda.model import LandDAModel
    from models.landda.setup import load, model_config

    cover = [["grass", "bare_soil", "grass", "crop"]] * 3
    cfg, tables = load({"grid": {"nx": 4, "ny": 3, "dz_m": [0.05, 0.1, 0.35, 0.5, 1.0, 2.0]},
                        "ensemble": {"size": 2}, "land": {"land_cover": cover},
                        "perturbations": {"state": {"water_content_sd": 0.01, "lai_sd": 0.1}}})
    model = LandDAModel.create(MPI.COMM_SELF, model_config(cfg, tables, range(3)))
    base = model.get_state()
    model.set_state(0, base)
    head, theta = base["pressure_head"], base["water_content"]
    saturated = head >= 0.0
    assert saturated.any() and (~saturated).any()
    rng = np.random.default_rng(3)
    inc = rng.normal(0.0, 0.01, head.shape)
    lai_inc = rng.normal(0.0, 0.1, head.shape[1:])
    added = model._add_state_increments(inc, lai_inc)
    after = model.get_state()
    free = ~saturated & (theta + inc < 0.43 - 1e-3) & (theta + inc > 0.1)
    assert free.sum() > 20
    assert np.allclose(after["water_content"][free], (theta + inc)[free], rtol=0, atol=1e-10)
    assert np.array_equal(after["pressure_head"][saturated], head[saturated])
    dz = np.array([0.05, 0.1, 0.35, 0.5, 1.0, 2.0])[:, None, None]
    assert np.allclose(added, 1000.0 * np.sum(dz * (after["water_content"] - theta), axis=0),
                       rtol=0, atol=1e-12)
    lai0, lai1 = base["leaf_area_index"][0], after["leaf_area_index"][0]
    bare = np.array(cover) == "bare_soil"
    assert np.all(lai1[bare] == 0.0) and np.all(after["leaf_biomass"][0][bare] == 0.0)
    lai_max = np.broadcast_to(model.coupled.land.params.lai_max, lai0.shape)
    grows = ~bare & (lai0 + lai_inc > 0.0) & (lai0 + lai_inc < lai_max)
    assert grows.sum() > 4
    assert np.allclose(lai1[grows], (lai0 + lai_inc)[grows], rtol=0, atol=1e-12)


# ------------------------------------------------------------------ runs
STATE = """
[perturbations.state]
water_content_sd = [0.01, 0.006, 0.003, 0.0015, 0.001, 0.0]
lai_sd = 0.05
time_scale_h = 12.0
correlation = [[1.0, 0.6, 0.4, 0.2, 0.0, 0.0, 0.08], [0.6, 1.0, 0.6, 0.4, 0.0, 0.0, 0.13],
               [0.4, 0.6, 1.0, 0.6, 0.0, 0.0, 0.19], [0.2, 0.4, 0.6, 1.0, 0.0, 0.0, 0.10],
               [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0],
               [0.08, 0.13, 0.19, 0.10, 0.0, 0.0, 1.0]]
"""


def _text(mode: str, extra: str = "", days: float = 1.0) -> str:
    return f'mode = "{mode}"\n' + CONFIG.format(days=days, ensemble="", checkpoint_every=2) \
        + extra


@pytest.fixture(scope="module")
def twin_runs(tmp_path_factory):
    pytest.importorskip("petsc4py")
    from land_runs import run_config
    folder = tmp_path_factory.mktemp("land_state_perturbations")
    runs = {"plain": run_config(folder, "plain", _text("twin")),
            "state": run_config(folder, "state", _text("twin", STATE)),
            "truth": run_config(folder, "truth", _text("truth", STATE))}
    return folder, runs


def test_the_members_and_open_loop_are_perturbed_and_the_truth_is_not(twin_runs):
    folder, runs = twin_runs
    assert all(status == 0 for status, _ in runs.values())
    plain, state = (netcdf_variables(folder / n / "truth.00000.nc") for n in ("plain", "state"))
    assert same_variables(plain, state)                                   # the twin's truth
    assert same_variables(plain, netcdf_variables(folder / "truth" / "truth.00000.nc"))   # a truth pass's
    for group in ("open_loop", "assimilation"):
        a, b = (netcdf_variables(folder / n / f"{group}.00000.nc") for n in ("plain", "state"))
        for name in ("water_content", "leaf_area_index"):
            assert not np.array_equal(a[name], b[name]), (group, name)
    ol_plain = netcdf_variables(folder / "plain" / "open_loop.00000.nc")["water_content_spread"]
    ol_state = netcdf_variables(folder / "state" / "open_loop.00000.nc")["water_content_spread"]
    assert np.mean(ol_state[:, 0]) > np.mean(ol_plain[:, 0])    # top layer: more spread


def test_one_and_two_model_tasks_give_the_same_perturbed_members(tmp_path):
    pytest.importorskip("petsc4py")
    from land_runs import run_config
    from models.landda.faults import run_pdafpy

    text = _text("free", STATE, days=0.5)
    status, _ = run_config(tmp_path, "one", text)
    assert status == 0
    (tmp_path / "two.toml").write_text(text)
    proc = run_pdafpy([tmp_path / "two.toml", "--out", tmp_path / "two", "--tasks", "2", "-q"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    one, two = (netcdf_variables(tmp_path / n / "open_loop.00000.nc") for n in ("one", "two"))
    assert same_variables(one, two)
    status, _ = run_config(tmp_path, "none", _text("free", days=0.5))
    assert not np.array_equal(one["water_content"],
                              netcdf_variables(tmp_path / "none" / "open_loop.00000.nc")[
                                  "water_content"])


def test_a_run_extended_from_its_checkpoint_continues_the_ar1_process(tmp_path):
    pytest.importorskip("petsc4py")
    from land_runs import run_config
    from pdafpy.run import main

    status, _ = run_config(tmp_path, "whole", _text("free", STATE))
    assert status == 0
    half = tmp_path / "half.toml"
    half.write_text(_text("free", STATE, days=0.5))
    assert main([str(half), "--out", str(tmp_path / "ext"), "-q"]) == 0
    whole = tmp_path / "whole.toml"
    assert main([str(whole), "--out", str(tmp_path / "ext"), "--restart",
                 str(tmp_path / "ext" / "checkpoint.h5"), "-q"]) == 0
    for segment in ("open_loop.00000.nc", "open_loop.00001.nc"):
        assert same_variables(netcdf_variables(tmp_path / "whole" / segment),
                     netcdf_variables(tmp_path / "ext" / segment)), segment


# ------------------------------------------------------------------ configuration
def _load(state: dict, grid: dict | None = None, **tables):
    from models.landda.setup import load
    grid = grid or {"nx": 4, "ny": 3, "dz_m": [0.05, 0.1, 0.35, 0.5, 1.0, 2.0]}
    return load(dict({"grid": grid, "perturbations": {"state": state}}, **tables))


@pytest.mark.parametrize("state, grid, message", [
    ({"water_content_sd": [0.01, 0.006, 0.003, 0.0015]}, None,
     r"^perturbations\.state\.water_content_sd: 4 values; expected one value or 6 \(one per "
     r"layer of the grid, nz = 6\)$"),
    ({"water_content_sd": [0.004, 7e-5, 4e-5]}, {"nx": 2, "ny": 2, "layers": "noah4"},
     r"^perturbations\.state\.water_content_sd: 3 values; .*nz = 4\)$"),
    ({"water_content_sd": 0.01, "lai_sd": 0.01, "correlation": KW26_CORRELATION},
     {"nx": 2, "ny": 2, "layers": "noah4"},
     r"^perturbations\.state\.correlation: expected a 5 x 5 matrix, the 4 layers top-down then "
     r"LAI"),
    ({"water_content_sd": 0.01, "correlation": [[1.0, 0.9, 0.0, 0.0], [0.9, 1.0, 0.9, 0.0],
                                                [0.0, 0.9, 1.0, 0.9], [0.0, 0.0, 0.9, 1.0]]},
     {"nx": 2, "ny": 2, "layers": "noah4"},
     r"perturbations\.state\.correlation must be positive definite"),
    ({"water_content_sd": 0.01, "interval_h": 1.5}, None,
     r"^perturbations\.state\.interval_h = 1\.5: must be a multiple of the coupling step"),
    ({"time_scale_h": 12.0}, None,
     r"^perturbations\.state\.time_scale_h: no state is perturbed"),
    ({"water_content_sd": 0.01, "truncate_sd": 1.0}, None,
     r"^perturbations\.state\.truncate_sd = 1\.0: must be >= 1\.75"),
    ({"water_content_sd": -0.01}, None, r"^perturbations\.state\.water_content_sd = -0\.01"),
    ({"water_content_sd": 0.01, "spatial": "uniform", "correlation_length_m": 5000.0}, None,
     r"^perturbations\.state\.correlation_length_m: a correlated field"),
    ({"water_content_sd": 0.01, "tau_h": 12.0}, None,
     r"^perturbations\.state\.tau_h: unknown key"),
], ids=["sd-length", "sd-length-noah4", "correlation-size", "correlation-not-pd",
        "interval", "nothing-perturbed", "truncation", "negative-sd", "uniform-correlated",
        "unknown-key"])
def test_a_bad_state_table_is_refused_in_one_line_naming_the_key(state, grid, message):
    with pytest.raises(ConfigError, match=message):
        _load(state, grid)


def test_the_hey_and_kw26_tables_are_accepted_on_noah_layers():
    noah = {"nx": 2, "ny": 2, "layers": "noah4"}
    _load({"water_content_sd": [0.004, 0.00007, 0.00004, 0.00002], "lai_sd": 0.01,
           "correlation": HEY_CORRELATION, "truncate_sd": 2.5}, noah)
    _load({"water_content_sd": [0.01, 0.006, 0.003, 0.0015], "time_scale_h": 12.0,
           "correlation": KW26_CORRELATION}, noah)


def test_zero_mean_is_refused_for_the_sekf_whose_runs_share_one_key():
    section = state_section({"water_content_sd": 0.01, "zero_mean": True})
    with pytest.raises(ConfigError, match=r"^perturbations\.state\.zero_mean: the SEKF"):
        check_state_perturbations(section, 4, HOUR, sekf=True)
    assert check_state_perturbations(section, 4, HOUR)[1] == HOUR

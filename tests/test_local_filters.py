"""LESTKF and LETKF against each other, against a plain-numpy reference, and across layouts."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from models.pdaf_tutorial import TutorialSettings
from tutorial_case import analyse_decomposed, load_offline, offline_obs

LOCALISED = TutorialSettings(cradius=5.0, sradius=5.0, locweight=2, obs_types="A,B,C")


def gaspari_cohn_reference(d: np.ndarray, support: float) -> np.ndarray:
    """Gaspari & Cohn (1999) eq. 4.10 with half-width c = support / 2, written out afresh."""
    c = support / 2.0
    r = d / c
    inner = -0.25 * r**5 + 0.5 * r**4 + 0.625 * r**3 - 5.0 / 3.0 * r**2 + 1.0
    with np.errstate(divide="ignore"):
        outer = (r**5 / 12.0 - 0.5 * r**4 + 0.625 * r**3 + 5.0 / 3.0 * r**2 - 5.0 * r + 4.0
                 - 2.0 / (3.0 * r))
    return np.where(d <= c, inner, np.where(d < support, np.maximum(outer, 0.0), 0.0))


def letkf_reference(fields, obs_types, cradius, sradius, forget=1.0):
    """Textbook LETKF (Hunt et al. 2007), one grid point at a time, with its own weights and its
    own bilinear interpolation (grid-point observations are the case of integer coordinates)."""
    n_members, ny, nx = fields.shape
    values, coords, hx = [], [], []
    for t in obs_types:
        x, y = t.coords[:, 0], t.coords[:, 1]                       # 1-based grid units
        j0, i0 = np.floor(x).astype(int), np.floor(y).astype(int)
        j1, i1 = np.minimum(j0 + 1, nx), np.minimum(i0 + 1, ny)
        wx, wy = x - j0, y - i0
        at = lambda i, j: fields[:, i - 1, j - 1]                   # noqa: E731
        hx.append((1 - wx) * (1 - wy) * at(i0, j0) + wx * (1 - wy) * at(i0, j1)
                  + (1 - wx) * wy * at(i1, j0) + wx * wy * at(i1, j1))
        values.append(t.value)
        coords.append(t.coords)
    y, xy, hx = np.concatenate(values), np.concatenate(coords), np.concatenate(hx, axis=1)
    hxbar = hx.mean(axis=0)
    y_anom = hx - hxbar
    out = fields.copy()
    for i in range(ny):
        for j in range(nx):
            d = np.hypot(xy[:, 0] - (j + 1), xy[:, 1] - (i + 1))
            local = d <= cradius
            w = gaspari_cohn_reference(d[local], sradius)
            yl = y_anom[:, local]                                   # (N, m)
            c = yl * (w / 0.25)                                     # Y'^T R^-1 rows
            pa_inv = forget * (n_members - 1) * np.eye(n_members) + c @ yl.T
            s, u = np.linalg.eigh(pa_inv)
            pa = (u / s) @ u.T
            wbar = pa @ c @ (y[local] - hxbar[local])
            wsq = np.sqrt(n_members - 1) * (u / np.sqrt(s)) @ u.T
            x = fields[:, i, j]
            out[:, i, j] = x.mean() + (x - x.mean()) @ (wsq + wbar[:, None])
    return out


@pytest.fixture(scope="module")
def offline(tutorial_refs):
    fields, grid = load_offline(tutorial_refs)
    return fields, grid, offline_obs(tutorial_refs, grid, LOCALISED)


@pytest.mark.parametrize("solver", ["ensemble", "observation", "auto"])
@pytest.mark.parametrize("name", ["lestkf", "letkf"])
def test_local_filter_equals_plain_numpy_letkf(offline, name, solver):
    fields, grid, obs = offline
    expected = letkf_reference(fields, obs, 5.0, 5.0)
    got = analyse_decomposed(MPI.COMM_SELF, fields, grid, obs, name, solver=solver)
    assert np.max(np.abs(got - fields)) > 0.1                       # the analysis did something
    assert np.max(np.abs(got - expected)) <= 1e-10


def test_lestkf_equals_letkf_in_ensemble_space(offline):
    fields, grid, obs = offline
    a = analyse_decomposed(MPI.COMM_SELF, fields, grid, obs, "lestkf", solver="ensemble")
    b = analyse_decomposed(MPI.COMM_SELF, fields, grid, obs, "letkf", solver="ensemble")
    assert np.max(np.abs(a - b)) <= 1e-10


def test_forgetting_factor_inflates_as_in_reference(offline):
    fields, grid, obs = offline
    expected = letkf_reference(fields, obs, 5.0, 5.0, forget=0.8)
    got = analyse_decomposed(MPI.COMM_SELF, fields, grid, obs, "lestkf", forget=0.8)
    assert np.max(np.abs(got - expected)) <= 1e-10


@pytest.mark.parametrize("name", ["lestkf", "letkf"])
def test_random_transform_keeps_mean_and_spread(offline, name):
    fields, grid, obs = offline
    det = analyse_decomposed(MPI.COMM_SELF, fields, grid, obs, name)
    rnd = analyse_decomposed(MPI.COMM_SELF, fields, grid, obs, name,
                             type_trans=1 if name == "lestkf" else 2, seed=3)
    assert np.max(np.abs(det - rnd)) > 1e-3                          # the members differ
    assert np.allclose(det.mean(axis=0), rnd.mean(axis=0), atol=1e-12, rtol=0)
    assert np.allclose(det.var(axis=0), rnd.var(axis=0), atol=1e-12, rtol=0)


def test_global_etkf_equals_estkf(offline):
    fields, grid, obs = offline
    a = analyse_decomposed(MPI.COMM_SELF, fields, grid, obs, "estkf")
    b = analyse_decomposed(MPI.COMM_SELF, fields, grid, obs, "etkf")
    assert np.max(np.abs(a - fields)) > 0.1
    assert np.max(np.abs(a - b)) <= 1e-10


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("name", ["lestkf", "letkf", "estkf", "etkf"])
@pytest.mark.parametrize("py", [1, 2])
def test_analysis_independent_of_rank_layout(offline, name, py):
    comm = MPI.COMM_WORLD
    if comm.Get_size() % py:
        pytest.skip("process grid does not fit")
    fields, grid, obs = offline
    serial = analyse_decomposed(MPI.COMM_SELF, fields, grid, obs, name)
    split = analyse_decomposed(comm, fields, grid, obs, name, py=py)
    assert np.max(np.abs(serial - split)) <= 1e-12

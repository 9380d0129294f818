"""The analytic Jacobian of the Richards residual equals PETSc's finite-difference Jacobian."""

import numpy as np
import pytest

petsc4py = pytest.importorskip("petsc4py")
from petsc4py import PETSc  # noqa: E402

from models.richards.boundary import Atmospheric, FreeDrainage, Flux, Head  # noqa: E402
from models.richards.cases import make_solver  # noqa: E402


def _solver(model, scheme, top):
    rng = np.random.default_rng(1)
    nz, ny, nx = 5, 3, 4
    soil = {"theta_r": 0.08, "theta_s": 0.43, "alpha": 3.6, "n": 1.56, "ss": 1e-4,
            "ks_h": 1e-5 * np.exp(rng.normal(size=(nz, ny, nx))),
            "ks_v": 1e-5 * np.exp(rng.normal(size=(nz, ny, nx)))}
    if model == "van_genuchten_kr_regularised":   # kr splined above Se = 0.7 (h > -0.39 m)
        model = "van_genuchten"
        soil["kr_se_high"] = 0.7
    bcs = {"top": top, "bottom": FreeDrainage(), "west": Head(water_table_depth=0.5),
           "east": Head(-0.2), "south": Flux(1e-7)}
    s = make_solver(PETSc.COMM_SELF, nx=nx, ny=ny, dz=[0.1, 0.1, 0.1, 0.3, 0.3], dx=2.0, dy=3.0,
                    soil=soil, model=model, boundaries=bcs, kr_averaging=scheme)
    h = rng.normal(size=s.grid.owned_shape) * 0.5 - 0.6
    s.set_head(h)
    s._h0 = h + 0.05
    s._theta0 = s.disc.theta_owned(s._h0)
    s._dt = 500.0
    return s


@pytest.mark.parametrize("model", ["van_genuchten", "gardner", "van_genuchten_kr_regularised"])
@pytest.mark.parametrize("scheme", ["upstream", "arithmetic", "harmonic"])
@pytest.mark.parametrize("top", ["rain_ponding", "evaporation_limited", "evaporation_to_dry",
                                 "ponded_cells"])
@pytest.mark.parametrize("surface_kr", ["kirchhoff", "averaging"])
def test_analytic_jacobian_matches_petsc_finite_difference_jacobian(model, scheme, top,
                                                                   surface_kr):
    # the top heads are N(-0.6, 0.5): the limits sit inside that range, so both the limited and
    # the potential-rate branches occur; "evaporation_to_dry" holds the surface at -100 m (the
    # Vanderborght limit), "ponded_cells" has rain onto a surface held at +0.3 m with some cells
    # above it (the Kirchhoff interval straddles h = 0)
    bc = {"rain_ponding": Atmospheric(1e-3, h_max=-0.7, surface_kr=surface_kr),
          "evaporation_limited": Atmospheric(-1e-6, h_min=-0.5, surface_kr=surface_kr),
          "evaporation_to_dry": Atmospheric(-3e-6, h_min=-100.0, surface_kr=surface_kr),
          "ponded_cells": Atmospheric(1e-4, h_max=0.3, surface_kr=surface_kr)}[top]
    s = _solver(model, scheme, bc)
    if s.disc.kr_se_high is not None:      # some cells lie in the regularised range
        h = s.get_head()
        se = (s.disc.retention_owned.evaluate(h, derivatives=False)[0] - 0.08) / (0.43 - 0.08)
        assert np.any((h < 0) & (se > 0.7))
    face = s.disc.faces["top"]
    q, dq = bc.flux(face, s.get_head()[0], None, None, scheme) if surface_kr == "kirchhoff" \
        else (None, None)
    if q is not None:                      # the head-limited branch is active with a derivative
        assert np.any((q != bc.value * face.area) & (dq != 0.0))
    J = s.J
    s.snes.computeJacobian(s.h, J, J)
    analytic = J.convert("dense").getDenseArray().copy()
    # PETSc's own finite-difference Jacobian of the same residual
    # (-snes_fd: SNESComputeJacobianDefault, one residual per column, into a dense matrix)
    fd = PETSc.SNES().create(PETSc.COMM_SELF)
    fd.setOptionsPrefix("richards_fdtest_")
    fd.setDM(s.grid.da)
    F = s.h.duplicate()
    fd.setFunction(s._form_function, F)
    n = s.grid.n_cells
    A = PETSc.Mat().createDense((n, n), comm=PETSc.COMM_SELF)
    A.setUp()
    fd.setJacobian(None, A, A)
    opts = PETSc.Options()
    opts.setValue("richards_fdtest_snes_fd", "true")
    fd.setFromOptions()
    opts.delValue("richards_fdtest_snes_fd")
    fd.computeJacobian(s.h, A, A)
    numeric = A.convert("dense").getDenseArray().copy()
    scale = np.abs(analytic).max()
    assert np.abs(analytic - numeric).max() <= 1e-5 * scale
    # every active branch of the top condition was exercised with a non-zero derivative
    assert np.count_nonzero(analytic) > 4 * n
    fd.destroy()
    A.destroy()
    s.destroy()

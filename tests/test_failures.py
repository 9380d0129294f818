"""The failure policy of ``pdafpy run`` (``[ensemble] on_failure``).

``redraw_members`` is checked directly: the replacement is the group's mean plus the group's
spread times a counter-based draw, within the other members' range, the same on any split of the
columns. The whole run is checked under ``mpirun -n 2`` with a real Richards step failure
injected for one run (tests/failing_run.py): ``"redraw"`` completes and logs the member,
``"abort"`` and a failing truth end every rank with one message and a non-zero status, and an
unexpected error on one rank ends the job instead of hanging it.
"""

from __future__ import annotations

import numpy as np
import pytest
from models.landda.faults import run_pdafpy, write_config

from pdafpy.decomposition import Box
from pdafpy.ensemble import REDRAW_PURPOSE, redraw_members
from pdafpy.errors import ModelError
from pdafpy.model import FieldSpec
from pdafpy.random import standard_normal
from pdafpy.segments import open_output
from pdafpy.state import StateLayout

FIELDS = (FieldSpec("pressure_head", 3, "m", "state"), FieldSpec("swe", 1, "kg m-2", "state"),
          FieldSpec("log10_ks", 3, "log10(m s-1)", "parameter"),
          FieldSpec("water_content", 3, "m3 m-3", "diagnostic"))
N = 4                                  # runs 0..3 assimilated, 4..7 open loop, 8 the truth
SEED, CYCLE = 5, 7


def ensemble(box: Box, full: np.ndarray | None = None) -> tuple[StateLayout, np.ndarray]:
    """Nine runs on ``box`` of a 5 x 6 grid (cut from ``full``, or drawn)."""
    layout = StateLayout(FIELDS, box)
    if full is None:
        rng = np.random.default_rng(3)
        full = {f.name: rng.normal(size=(2 * N + 1, f.levels, 5, 6)) for f in FIELDS}
    ens = np.empty((2 * N + 1, layout.size))
    for f in FIELDS:
        layout.view(ens, f.name)[:] = full[f.name][..., box.y0:box.y1, box.x0:box.x1]
    return layout, ens


def test_redraw_replaces_a_failed_member_from_its_own_group():
    layout, ens = ensemble(Box(0, 5, 0, 6))
    before = ens.copy()
    ens[[1, 6]] = np.nan
    used = redraw_members(ens, layout, [1, 6], (range(N), range(N, 2 * N)), SEED, CYCLE)
    assert used == {1: 3, 6: 3}
    untouched = [k for k in range(2 * N + 1) if k not in (1, 6)]
    assert np.array_equal(ens[untouched], before[untouched])
    for member, others in ((1, [0, 2, 3]), (6, [4, 5, 7])):
        mean = (before[others[0]] + before[others[1]] + before[others[2]]) / 3
        sd = before[others].std(axis=0, ddof=1)
        z = standard_normal(SEED, REDRAW_PURPOSE, CYCLE, member, np.arange(len(FIELDS)))
        for i, f in enumerate(FIELDS):
            got = layout.view(ens, f.name)[member]
            lo = layout.view(before, f.name)[others].min(axis=0)
            hi = layout.view(before, f.name)[others].max(axis=0)
            assert np.all(np.isfinite(got)) and np.all((got >= lo) & (got <= hi))
            m, s = (layout.view(a[None], f.name)[0] for a in (mean, sd))
            want = m if f.kind == "diagnostic" else np.clip(m + z[i] * s, lo, hi)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)
        # the draw moves the prognostic fields off the mean, not onto a copy of a member
        head = layout.view(ens, "pressure_head")[member]
        assert not np.array_equal(head, layout.view(mean[None], "pressure_head")[0])
        assert not any(np.array_equal(head, layout.view(before, "pressure_head")[k])
                       for k in others)


def test_redraw_is_the_same_on_any_split_of_the_columns():
    rng = np.random.default_rng(11)
    full = {f.name: rng.normal(size=(2 * N + 1, f.levels, 5, 6)) for f in FIELDS}
    layout, whole = ensemble(Box(0, 5, 0, 6), full)
    whole[2] = np.nan
    redraw_members(whole, layout, [2], (range(N), range(N, 2 * N)), SEED, CYCLE)
    for box in (Box(0, 2, 0, 6), Box(2, 5, 0, 4), Box(2, 5, 4, 6)):
        part_layout, part = ensemble(box, full)
        part[2] = np.nan
        redraw_members(part, part_layout, [2], (range(N), range(N, 2 * N)), SEED, CYCLE)
        for f in FIELDS:
            assert np.array_equal(part_layout.view(part, f.name)[2],
                                  layout.view(whole, f.name)[2][..., box.y0:box.y1,
                                                                box.x0:box.x1])


def test_redraw_needs_a_surviving_member_of_the_group():
    layout, ens = ensemble(Box(0, 5, 0, 6))
    with pytest.raises(ModelError, match="every member of 0..3 failed"):
        redraw_members(ens, layout, [0, 1, 2, 3], (range(N), range(N, 2 * N)), SEED, CYCLE)
    with pytest.raises(ModelError, match="member 8 failed and belongs to no group"):
        redraw_members(ens, layout, [8], (range(N), range(N, 2 * N)), SEED, CYCLE)


# -- whole runs under mpirun -------------------------------------------------------------------
MESSAGE = "pdafpy run: error:"


@pytest.fixture
def model_packages():
    """Skip the whole-run tests where the model's packages are missing."""
    pytest.importorskip("petsc4py")
    return pytest.importorskip("netCDF4")


def test_failed_member_is_redrawn_and_the_run_completes(tmp_path, model_packages):
    # run 1's forecast from 6 h to 12 h fails (an injected Newton failure, real step cuts)
    proc = run_pdafpy([write_config(tmp_path, "twin.toml", days=0.5), "--out", tmp_path / "out"],
                      inject=["solve", "1", "21600", "43200"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [ln for ln in proc.stderr.splitlines() if "failed in the forecast" in ln]
    assert len(warnings) == 1
    assert ("assimilation member 1 (run 1) failed in the forecast from day 0.25 to day 0.5: "
            "richards: time step failed") in warnings[0]
    assert "redrawn from the mean and spread of the 3 other assimilation members" in warnings[0]
    with open_output(tmp_path / "out" / "assimilation.nc") as ds:
        k = int(np.flatnonzero((ds["time"][:] == 43200.0) & (ds["kind"][:] == 0))[0])
        for name in ("pressure_head", "water_content", "water_table_depth", "leaf_biomass"):
            values = np.asarray(ds[name][k])              # (member, ...) at the failure's end
            redrawn, others = values[1], values[[0, 2, 3]]
            assert np.all(np.isfinite(redrawn))
            assert np.all((redrawn >= others.min(0)) & (redrawn <= others.max(0))), name
        theta = np.asarray(ds["water_content"][k:])
        assert np.all(np.isfinite(theta)) and np.all((theta >= 0.078 - 1e-6)
                                                      & (theta <= 0.43 + 1e-6))
    assert (tmp_path / "out" / "summary.json").is_file()


@pytest.mark.parametrize("run,policy,expected", [
    (2, "abort", 'assimilation member 2 (run 2) failed in the forecast from day 0 to day 0.25: '
                 'richards: time step failed'),
    (8, "redraw", "the truth (run 8) failed in the forecast from day 0 to day 0.25"),
], ids=["abort", "truth"])
def test_abort_or_failed_truth_ends_every_rank_with_one_message(tmp_path, model_packages, run,
                                                                policy, expected):
    proc = run_pdafpy([write_config(tmp_path, "twin.toml", days=0.5,
                                    ensemble=f'on_failure = "{policy}"'),
                       "--out", tmp_path / "out"], inject=["solve", str(run), "0", "21600"],
                      timeout=120)
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith(MESSAGE)]
    assert len(lines) == 1 and expected in lines[0]
    assert ('on_failure = "abort"' if policy == "abort" else "cannot go on without its truth") \
        in lines[0]
    assert not (tmp_path / "out" / "summary.json").exists()


def test_unexpected_error_on_one_rank_ends_the_job(tmp_path, model_packages):
    proc = run_pdafpy([write_config(tmp_path, "twin.toml", days=0.5), "--out", tmp_path / "out"],
                      inject=["bug", "1", "21600"], timeout=120)
    assert proc.returncode != 0
    assert "pdafpy run: error on rank 1: injected bug" in proc.stderr
    assert "RuntimeError: injected bug" in proc.stderr             # the traceback is logged
    assert not (tmp_path / "out" / "summary.json").exists()


def test_a_member_failing_early_in_a_window_cut_by_records_waits_for_its_redraw(
        tmp_path, model_packages):
    # the window 6-12 h is cut at 9 h by a record; run 1 fails from 6 h to 9 h and must not be
    # advanced again from its NaN state (which a texture-carrying model refuses to load) before
    # the analysis at 12 h redraws it
    path = write_config(tmp_path, "twin.toml", days=0.5)
    text = path.read_text().replace("[output]\nmembers = true",
                                    "[output]\nmembers = true\nevery_h = 3.0")
    path.write_text(text + '[filter]\nparameters = ["log10_ks"]\n[soil]\nsand_percent = 40.0\n'
                    'clay_percent = 20.0\n[perturbations]\ntexture_sd_percent = 5.0\n')
    proc = run_pdafpy([path, "--out", tmp_path / "out"],
                      inject=["solve", "1", "21600", "32400"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    warnings = [ln for ln in proc.stderr.splitlines() if "failed in the forecast" in ln]
    assert len(warnings) == 1 and "from day 0.25 to day 0.375" in warnings[0], warnings
    with open_output(tmp_path / "out" / "assimilation.nc") as ds:
        assert np.all(np.isfinite(np.asarray(ds["pressure_head"][-1])))

"""``[output] every_h``: forecast records between analyses, and results that do not depend on
them (the forecast is advanced in pieces ending at the record times)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from models.landda.faults import CONFIG
from pdafpy.segments import open_output

netCDF4 = pytest.importorskip("netCDF4")

TIMINGS = ("seconds", "wall_s", "core_hours_per_member_per_simulated_year")

L96 = """
model = "lorenz96"
[ensemble]
size = 8
seed = 2
[localization]
radius_m = 8.0
[inflation]
multiplicative = 1.05
[[observations]]
type = "grid_point"
field = "x"
error = 1.0
interval_h = 12.0
[schedule]
length_days = 5.0
[lorenz96]
n = 20
"""


def _run(folder, name, text):
    from pdafpy.run import main
    path = folder / f"{name}.toml"
    path.write_text(text)
    assert main([str(path), "--out", str(folder / name), "-q"]) == 0
    summary = json.loads((folder / name / "summary.json").read_text())
    for key in TIMINGS:
        summary.pop(key, None)
    return summary


def _records(path):
    with open_output(path) as ds:
        return np.asarray(ds["time"][:]), np.asarray(ds["kind"][:]), \
            {v: np.asarray(ds[v][:]) for v in ds.variables if v.endswith("_mean")}


def _same_at_analyses(a, b):
    """The records of ``a`` (analysis times only) equal those of ``b`` at the same times; the
    land's evapotranspiration, a mean over the interval since the previous record, aside."""
    (ta, ka, va), (tb, kb, vb) = _records(a), _records(b)
    keep = np.isin(tb, ta)
    assert np.array_equal(ta, tb[keep]) and np.array_equal(ka, kb[keep])
    for name in va:
        if name != "evapotranspiration_mean":
            assert np.array_equal(va[name], vb[name][keep]), name
    return tb[~keep], kb[~keep]


def test_generic_records_between_analyses_change_no_result(tmp_path):
    plain = _run(tmp_path, "plain", L96)
    between = _run(tmp_path, "between", L96 + "[output]\nevery_h = 6.0\n")
    assert between == plain
    extra_times, extra_kinds = _same_at_analyses(tmp_path / "plain" / "assimilation.nc",
                                                 tmp_path / "between" / "assimilation.nc")
    # 10 analyses every 12 h, one forecast record 6 h after each analysis time (and the start)
    np.testing.assert_allclose(extra_times, 21600.0 + 43200.0 * np.arange(10))
    assert np.all(extra_kinds == 0)


def test_land_records_between_analyses_change_no_result(tmp_path):
    """Bit for bit with the head written back; with ``[update] variable = "water_content"`` each
    piece starts by reloading the water content (the head recomputed from it), which moves the
    results by round-off only."""
    pytest.importorskip("petsc4py")
    base = CONFIG.format(days=0.5, ensemble="", checkpoint_every=2).replace('variable = "water_content"',
                                                         'variable = "pressure_head"')
    plain = _run(tmp_path, "plain", base)
    between = _run(tmp_path, "between", base.replace("members = true", "members = true\n"
                                                     "every_h = 2.0"))
    assert between == plain
    for name in ("assimilation.nc", "open_loop.nc", "truth.nc"):
        extra_times, _ = _same_at_analyses(tmp_path / "plain" / name,
                                           tmp_path / "between" / name)
        np.testing.assert_allclose(extra_times, 3600.0 * np.array([2, 4, 8, 10]))


def test_land_records_between_analyses_with_water_content_written_back(tmp_path):
    pytest.importorskip("petsc4py")
    base = CONFIG.format(days=0.5, ensemble="", checkpoint_every=2)
    plain = _run(tmp_path, "plain", base)["variables"]
    between = _run(tmp_path, "between", base.replace("members = true", "members = true\n"
                                                     "every_h = 2.0"))["variables"]
    for variable, runs in plain.items():
        for run in ("open_loop", "assimilation", "assimilation_forecast"):
            for metric, value in runs[run].items():
                assert between[variable][run][metric] == pytest.approx(value, rel=1e-9,
                                                                       abs=1e-12)

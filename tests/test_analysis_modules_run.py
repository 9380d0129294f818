"""Analysis modules in a real run of a tiny twin (4 x 3 columns of 6 layers, 4 members, one day
of analyses every 6 hours): a soil-moisture module (unsaturated cells) and a wells module
(saturated cells) estimating sand, clay and log10 Ks with bounds, the Ks perturbed on the top
metre only. The exported parameters stay within their bounds, sand + clay below 100, and the
layers without spread keep their values exactly; the summary reports the parameters' error per
analysis; bad tables are refused before any model work."""

from __future__ import annotations


import numpy as np
import pytest

from models.landda.faults import CONFIG
from land_runs import run_config as _run

pytest.importorskip("petsc4py")
netCDF4 = pytest.importorskip("netCDF4")

MODULES = """
[[analysis]]
name = "soil_moisture"
observations = ["surface_soil_moisture"]
mask = "unsaturated"
update = "both"
radius_m = 5.0
[[analysis]]
name = "wells"
observations = ["groundwater_level"]
mask = "saturated"
mask_members = "any_member"
parameters = ["log10_ks", "sand_percent", "clay_percent"]
damping = { pressure_head = 0.8 }
[[parameter]]
name = "log10_ks"
minimum = -5.6
maximum = -5.2
[[parameter]]
name = "sand_percent"
damping = 0.5
[filter]
parameters = ["log10_ks", "sand_percent", "clay_percent"]
[soil]
sand_percent = 42.0
clay_percent = 45.0
[perturbations]
log10_ks_sd = 0.5
log10_ks_layers_m = [0.0, 1.0]
texture_sd_percent = 8.0
[parameter_export]
write = true
"""



def _config(extra=MODULES):
    text = CONFIG.format(days=1.0, ensemble="", checkpoint_every=0)
    text = text.replace('[update]\nvariable = "water_content"\n', "")
    return text + "[forcing]\nwet_day_probability = 1.0\n" + extra


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("modules")
    return folder, _run(folder, "modules", _config())


def test_exported_parameters_respect_bounds_texture_and_layer_masks(run):
    folder, (status, summary) = run
    assert status == 0
    with netCDF4.Dataset(folder / "modules" / "parameters.nc") as ds:
        ks = np.asarray(ds["log10_ks"][:], dtype=float)
        sand = np.asarray(ds["sand_percent"][:], dtype=float)
        clay = np.asarray(ds["clay_percent"][:], dtype=float)
        z = np.asarray(ds["z"][:], dtype=float)
    assert ks.shape[0] == 4                                   # the members
    top = z <= 1.0
    assert ks[:, top].min() >= -5.6 and ks[:, top].max() <= -5.2
    # below 1 m Ks follows each member's texture (estimated), not a perturbation of its own;
    # every layer's sand and clay stay physical
    assert sand.min() >= 0.0 and clay.min() >= 0.0 and np.max(sand + clay) < 100.0
    assert np.ptp(sand, axis=0).max() > 0                      # texture has spread and moved
    errors = summary["parameter_error"]
    assert set(errors) == {"log10_ks", "sand_percent", "clay_percent"}
    assert len(errors["log10_ks"]["assimilation"]) == 4        # one per analysis (6-hourly)


def test_a_parameter_without_spread_is_never_changed(tmp_path):
    """log10 Ks perturbed on the top metre only and estimated without texture: the deeper
    layers have no spread and keep the soil's value exactly."""
    text = _config(MODULES.replace('parameters = ["log10_ks", "sand_percent", "clay_percent"]',
                                   'parameters = ["log10_ks"]')
                   .replace("texture_sd_percent = 8.0\n", "")
                   .replace('[[parameter]]\nname = "sand_percent"\ndamping = 0.5\n', "")
                   .replace("[soil]\nsand_percent = 42.0\nclay_percent = 45.0\n", ""))
    status, summary = _run(tmp_path, "ks_only", text)
    assert status == 0
    with netCDF4.Dataset(tmp_path / "ks_only" / "parameters.nc") as ds:
        ks = np.asarray(ds["log10_ks"][:], dtype=float)
        z = np.asarray(ds["z"][:], dtype=float)
    deep = z > 1.0
    assert np.all(ks[:, deep] == np.log10(2.89e-6))
    assert np.ptp(ks[:, ~deep], axis=0).min() > 0


@pytest.mark.parametrize("extra,message", [
    ('[[analysis]]\nobservations = ["crns_soil_moisture"]\n',
     "analysis[2].observations[0] = 'crns_soil_moisture': no [[observations]] table"),
    ('[[analysis]]\nobservations = ["groundwater_level"]\nmask = "frozen"\n',
     "analysis[2].mask = 'frozen': expected 'all' or one of"),
    ('[[analysis]]\nobservations = ["groundwater_level"]\nfields = ["evapotranspiration"]\n',
     "analysis[2].fields: 'evapotranspiration' is not a field an analysis updates"),
])
def test_bad_modules_are_refused_before_any_model_work(tmp_path, capsys, extra, message):
    status, _ = _run(tmp_path, "bad", _config() + extra)
    assert status == 2
    assert message in capsys.readouterr().err


GATHERED = """
[filter]
type = "{filter}"
parameters = ["log10_ks"]
[localization]
radius_m = 2000.0
[[analysis]]
name = "state"
observations = ["surface_soil_moisture", "groundwater_level"]
interval_h = {interval}
[perturbations]
log10_ks_sd = 0.4
[parameter_export]
write = true
"""


@pytest.mark.parametrize("filter_type", ["estkf", "lenkf"])
def test_a_module_leaves_what_it_does_not_analyse(tmp_path, filter_type):
    """A global filter (ESTKF) updates every element of the state it receives; a module's
    write-back keeps the rest as forecast: log10 Ks, estimable but not in this module's subset,
    ends as in a run without any analysis."""
    ks = {}
    for name, interval in (("analysed", 6.0), ("never", 1000.0)):
        status, summary = _run(tmp_path, name, _config(GATHERED.format(
            interval=interval, filter=filter_type)))
        assert status == 0
        assert (summary["variables"]["surface"]["assimilation"]
                != summary["variables"]["surface"]["open_loop"]) == (name == "analysed")
        with netCDF4.Dataset(tmp_path / name / "parameters.nc") as ds:
            ks[name] = np.asarray(ds["log10_ks"][:], dtype=float)
    assert np.ptp(ks["never"]) > 0.1                          # the members differ in Ks
    np.testing.assert_array_equal(ks["analysed"], ks["never"])

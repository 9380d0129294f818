"""Named layer sets of ``[grid] layers``: the values of their sources, and a run on Noah's four
layers through the observation operators and scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.land.layer_sets import (CLM10_DZ, LAYER_SETS, NOAH4_DZ, clm_node_depths,
                                    layer_thicknesses)
from models.landda.config_sections import MODEL_SECTIONS, check_field_shapes
from models.landda.observations import surface_layers
from models.landda.scoring import layers_below
from pdafpy.config import parse_tables
from pdafpy.errors import ConfigError

#: Zhao et al. (2025), Table 2: CLM 3.5 / CoLM 2014 layer thicknesses [m].
CLM10_TABLE = (0.0175, 0.0276, 0.0455, 0.0750, 0.1236, 0.2038, 0.3360, 0.5539, 0.9133, 1.5058)


def test_clm10_follows_clms_formula_and_the_printed_thicknesses():
    assert len(CLM10_DZ) == 10
    np.testing.assert_allclose(CLM10_DZ, CLM10_TABLE, rtol=0, atol=1e-4)
    assert abs(sum(CLM10_DZ) - 3.8019) < 1e-4
    z = clm_node_depths(11)
    np.testing.assert_allclose(z[:3], [0.0071, 0.0279, 0.0623], atol=1e-4)   # CLM's node depths
    interfaces = np.cumsum(CLM10_DZ)
    np.testing.assert_allclose(interfaces, 0.5 * (z[:-1] + z[1:]), rtol=1e-12)
    assert np.all((z[:10] > np.concatenate([[0.0], interfaces[:-1]])) & (z[:10] < interfaces))


def test_noah4_and_the_names():
    assert NOAH4_DZ == (0.1, 0.3, 0.6, 1.0) and sum(NOAH4_DZ) == pytest.approx(2.0)
    assert set(LAYER_SETS) == {"zhao2025", "noah4", "clm10"}
    assert len(layer_thicknesses("zhao2025")) == 30
    with pytest.raises(ConfigError, match=r"^grid\.layers = 'noah': expected one of zhao2025"):
        layer_thicknesses("noah")


def test_layers_are_accepted_and_size_per_layer_values():
    for name, dz in LAYER_SETS.items():
        tables = {"grid": {"nx": 2, "ny": 2, "layers": name},
                  "soil": {"theta_r": [0.05] * len(dz), "theta_s": 0.4, "alpha_per_m": 1.0,
                           "n": 1.5, "ks_m_per_s": 1e-5}}
        check_field_shapes(parse_tables(MODEL_SECTIONS, tables))
    tables["soil"]["theta_r"] = [0.05] * 4
    with pytest.raises(ConfigError, match=r"^soil\.theta_r: shape \(4,\) does not fit"):
        check_field_shapes(tables)                                     # clm10: 10 layers
    with pytest.raises(ConfigError, match=r"grid\.layers"):
        parse_tables(MODEL_SECTIONS, {"grid": {"nx": 2, "ny": 2, "layers": "noah3"}})


def test_noah4_observation_layers():
    interfaces = np.concatenate([[0.0], np.cumsum(NOAH4_DZ)])
    layers, weights = surface_layers(interfaces, 0.05)        # 0-5 cm: within the top layer
    assert layers.tolist() == [0] and np.allclose(weights, [0.05])
    layers, weights = surface_layers(interfaces, 1.0)         # root zone 0-1 m: three layers
    assert layers.tolist() == [0, 1, 2] and np.allclose(weights, [0.1, 0.3, 0.6])
    layers, weights = layers_below(interfaces, 1.0)
    assert layers.tolist() == [3] and np.allclose(weights, [1.0])


def test_a_twin_on_noahs_four_layers(tmp_path):
    pytest.importorskip("petsc4py")
    from models.landda.faults import CONFIG
    from pdafpy.run import main
    text = 'model = "land"\n' + CONFIG.format(days=1.0, ensemble="", checkpoint_every=0) \
        .replace("dz_m = [0.05, 0.1, 0.35, 0.5, 1.0, 2.0]", 'layers = "noah4"')
    path = tmp_path / "noah4.toml"
    path.write_text(text)
    assert main([str(path), "--out", str(tmp_path / "out"), "-q"]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["grid"] == [3, 4, 4] and summary["observations_used"] > 0
    for name in ("surface", "root_zone", "deep_soil", "evapotranspiration"):
        v = summary["variables"][name]
        assert 0.0 < v["open_loop"]["rmse"] < 1.0 and np.isfinite(v["assimilation"]["rmse"])
    import netCDF4
    from pdafpy.segments import segment_paths
    with netCDF4.Dataset(segment_paths(tmp_path / "out" / "observations.nc")[0]) as ds:
        assert np.all(np.isfinite(ds["forecast_mean"][:]))       # operators on 4 layers

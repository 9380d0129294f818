"""The land model through a truth pass and its observation file: the same skill as the inline
twin of the same seed, bit for bit, on the same rank layout.

A tiny twin (4 x 3 columns of 6 layers, 4 members, analyses every 6 h for one day) runs three
ways in this process: ``mode = "twin"``; ``mode = "truth"`` (the truth alone, writing
``truth.nc`` and ``observations.nc``); ``mode = "assimilate"`` reading that file, scored against
that truth (``[verification] truth``). The truth is the same run (same perturbation key, same
forcing), its observations carry the same noise, and the assimilation takes the file's records
through the same observation modules, so every score of ``summary.json`` must be equal.
"""

from __future__ import annotations

import json

import pytest
from models.landda.faults import CONFIG
from pdafpy.segments import segment_paths

pytest.importorskip("petsc4py")
netCDF4 = pytest.importorskip("netCDF4")

TIMINGS = ("seconds", "wall_s", "core_hours_per_member_per_simulated_year")


def _run(folder, name, mode, extra=""):
    from pdafpy.run import main
    text = f'mode = "{mode}"\n' + CONFIG.format(days=1.0, ensemble="", checkpoint_every=2) + extra
    if mode == "assimilate":
        obs = folder / "truth" / "observations.nc"
        text = text.replace('interval_h = 6.0\n', f'interval_h = 6.0\nfile = "{obs}"\n')
        text = text.replace('interval_h = 12.0\n', f'interval_h = 12.0\nfile = "{obs}"\n')
        text = text.replace("error = 0.1\n", "").replace("withheld_fraction = 0.34\n", "")
    path = folder / f"{name}.toml"
    path.write_text(text)
    status = main([str(path), "--out", str(folder / name), "-q"])
    return status, json.loads((folder / name / "summary.json").read_text()) if status == 0 \
        else None


@pytest.fixture(scope="module")
def three_runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("land_truth_pass")
    twin = _run(folder, "twin", "twin")
    truth = _run(folder, "truth", "truth")
    assim = _run(folder, "assim", "assimilate",
                 f'[verification]\ntruth = "{folder / "truth" / "truth.nc"}"\n')
    return folder, twin, truth, assim


def test_the_truth_pass_and_its_file_give_the_inline_twins_skill(three_runs):
    folder, (s_twin, twin), (s_truth, truth), (s_assim, assim) = three_runs
    assert s_twin == s_truth == s_assim == 0
    assert truth["variables"] == {} and truth["runs"] == 1
    for key in TIMINGS + ("runs", "core_hours_per_member_per_simulated_year"):
        twin.pop(key, None), assim.pop(key, None)
    assert set(twin["variables"]) == {"surface", "root_zone", "deep_soil", "water_table_depth",
                                      "wells_assimilated", "wells_withheld", "leaf_area_index",
                                      "evapotranspiration", "transpiration"}
    assert assim == twin


def test_the_truth_pass_writes_every_observation_in_pdafpys_format(three_runs):
    from pdafpy.obs.files import read_observation_file
    from pdafpy.obs.records import QC_WITHHELD
    folder = three_runs[0]
    path = folder / "truth" / "observations.nc"
    records = read_observation_file(path, "2020-05-01T00:00:00",
                                    ["surface_soil_moisture", "groundwater_level"],
                                    {"surface_soil_moisture": "m3 m-3", "groundwater_level": "m"})
    kinds = records.type.tolist()
    # 4 x 3 columns in 3 x 3 footprints: 2 per analysis, 4 analyses; 3 wells at 12 and 24 h
    assert kinds.count("surface_soil_moisture") == 2 * 4
    assert kinds.count("groundwater_level") == 3 * 2
    assert sorted(set(records.time.tolist())) == [21600.0, 43200.0, 64800.0, 86400.0]
    assert (records.qc == QC_WITHHELD).sum() == 2           # one of three wells, twice
    diagnosed = 0                            # diagnostics too, in one segment per checkpoint
    for segment in segment_paths(folder / "assim" / "observations.nc"):
        with netCDF4.Dataset(segment) as ds:
            diagnosed += ds["innovation"].size
    assert diagnosed == records.size

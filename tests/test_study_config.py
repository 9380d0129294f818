"""The study file (pdafpy/study_config.py) and the judging of its findings
(pdafpy/study_results.py), without running a model."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pdafpy.errors import ConfigError
from pdafpy.study_config import (Quantity, layer_tables, preflight_tables, read_study,
                                 run_tables, truth_tables)
from pdafpy.study_results import judge_findings, results_json, table_rows, value_of

STUDY = """
[ensemble]
size = 4
[[observations]]
name = "ssm"
type = "surface_soil_moisture"
error = 0.02
[[observations]]
name = "wells"
type = "groundwater_level"
error = 0.05
count = 3
withheld_fraction = 0.34
[grid]
nx = 3
ny = 3
dz_m = [0.05, 0.1, 0.35, 0.5, 1.0, 2.0]
[study]
tag = "T"
seeds = [5, 6]
truth = {{ initial = {{ water_table_depth_m = 1.0 }} }}
quick = {{ grid = {{ layers = "zhao2025" }} }}
[[study.run]]
name = "A"
observations = ["ssm"]
[[study.run]]
name = "B"
set = {{ filter = {{ type = "lestkf" }} }}
[[study.run]]
name = "OL"
observations = []
[study.columns]
OL = "A open_loop"
A = "A analysis"
B = "B forecast"
[[study.table]]
quantity = "surface ubRMSE"
variable = "surface"
metric = "ubrmse"
paper = {{ OL = 0.05, A = "0.04*" }}
[[study.finding]]
claim = "A beats its open loop"
left = "A analysis surface ubrmse"
relation = "<"
right = "A open_loop surface ubrmse"
[[study.finding]]
claim = "B unchanged"
left = "B analysis surface ubrmse"
relation = "~"
right = "A analysis surface ubrmse"
tolerance_percent = 10.0
{extra}
"""


def _write(tmp_path: Path, extra: str = "", text: str = STUDY) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text.format(extra=extra))
    return path


def test_the_study_table_and_the_experiment_are_read_apart(tmp_path):
    study, experiment = read_study(_write(tmp_path))
    assert study.tag == "T" and study.seeds == (5, 6)
    assert [r.name for r in study.run] == ["A", "B", "OL"]
    assert "study" not in experiment and experiment["ensemble"] == {"size": 4}


def test_a_run_reads_its_types_from_the_truth_file_and_is_scored_against_it(tmp_path):
    study, experiment = read_study(_write(tmp_path))
    truth_dir = tmp_path / "out" / "seed_5" / "truth"
    a = run_tables(study, study.run[0], experiment, 5, False, truth_dir)
    assert a["mode"] == "assimilate" and a["ensemble"]["seed"] == 5
    assert [o["name"] for o in a["observations"]] == ["ssm"]
    assert a["observations"][0]["file"] == str(truth_dir / "observations.nc")
    assert "error" not in a["observations"][0]          # the file carries the errors
    assert a["verification"]["truth"] == str(truth_dir / "truth.nc")
    b = run_tables(study, study.run[1], experiment, 5, False, truth_dir)
    assert [o["name"] for o in b["observations"]] == ["ssm", "wells"]
    assert b["filter"]["type"] == "lestkf"
    ol = run_tables(study, study.run[2], experiment, 5, False, truth_dir)
    assert ol["mode"] == "free" and ol["observations"] == []
    truth = truth_tables(study, experiment, 5, False)
    assert truth["mode"] == "truth" and truth["initial"]["water_table_depth_m"] == 1.0
    assert truth["observations"][1]["withheld_fraction"] == 0.34
    assert "initial" not in a                          # the truth's tables are its own


def test_quick_tables_replace_the_grid_keys_they_exclude(tmp_path):
    study, experiment = read_study(_write(tmp_path))
    quick = truth_tables(study, experiment, 5, True)
    assert quick["grid"]["layers"] == "zhao2025" and "dz_m" not in quick["grid"]
    merged = layer_tables({"grid": {"nx": 2, "dz_m": [1.0]}}, {"grid": {"ny": 3}})
    assert merged["grid"] == {"nx": 2, "ny": 3, "dz_m": [1.0]}


def test_the_preflight_of_a_run_is_a_twin_that_needs_no_file(tmp_path):
    study, experiment = read_study(_write(tmp_path))
    pre = preflight_tables(study, study.run[0], experiment, 5, False)
    assert pre["mode"] == "twin" and "file" not in pre["observations"][0]


@pytest.mark.parametrize("extra, key", [
    ('[[study.run]]\nname = "A"', "given twice"),
    ('[[study.run]]\nname = "truth"', "'truth' names a folder"),
    ('[[study.run]]\nname = "a/b"', "study.run[3].name"),
    ('[[study.run]]\nname = "C"\nobservations = ["smap"]', "'smap' is not one"),
    ('[[study.run]]\nname = "C"\nset = { mode = "twin" }', "study.run[3].set.mode"),
    ('[[study.run]]\nname = "C"\nset = { ensemble = { seed = 3 } }', "set.ensemble.seed"),
    ('[[study.finding]]\nclaim = "x"\nleft = "Z analysis surface ubrmse"\nright = "A open_loop '
     'surface ubrmse"', "no run 'Z'"),
    ('[[study.finding]]\nclaim = "x"\nleft = "A later surface ubrmse"\nright = "A open_loop '
     'surface ubrmse"', "stage 'later'"),
    ('[[study.finding]]\nclaim = "x"\nleft = "OL analysis surface ubrmse"\nright = "A '
     'open_loop surface ubrmse"', "only its 'open_loop' stage"),
    ('[[study.finding]]\nclaim = "x"\nleft = "A analysis surface"\nright = "A open_loop '
     'surface ubrmse"', "expected 'RUN STAGE VARIABLE METRIC'"),
    ('[[study.finding]]\nclaim = "x"\nleft = "A analysis surface ubrmse"\nrelation = "<="\n'
     'right = "A open_loop surface ubrmse"', "study.finding[2].relation"),
    ('[study.calibration]\ncommands = [["run", "x.toml"]]', "not pdafpy run"),
])
def test_bad_study_tables_are_refused_in_one_line_naming_the_key(tmp_path, extra, key):
    with pytest.raises(ConfigError) as err:
        read_study(_write(tmp_path, extra))
    assert key in str(err.value) and "\n" not in str(err.value)


def test_a_study_file_needs_its_study_table_and_leaves_mode_and_seed_to_it(tmp_path):
    path = tmp_path / "plain.toml"
    path.write_text("[ensemble]\nsize = 4\n")
    with pytest.raises(ConfigError, match="no \\[study\\] table"):
        read_study(path)
    text = STUDY.replace("[ensemble]\nsize = 4", "mode = 'twin'\n[ensemble]\nsize = 4")
    with pytest.raises(ConfigError, match="^mode"):
        read_study(_write(tmp_path, text=text))
    text = STUDY.replace("size = 4", "size = 4\nseed = 9", 1)
    with pytest.raises(ConfigError, match="ensemble.seed"):
        read_study(_write(tmp_path, text=text))


def _summary(da: float, ol: float, forecast: float, wt_error: list[float]) -> dict:
    return {"variables": {"surface": {
        "assimilation": {"ubrmse": da}, "open_loop": {"ubrmse": ol},
        "assimilation_forecast": {"ubrmse": forecast}, "spread_over_rmse": 0.8}},
        "parameter_error": {"log10_ks": {"assimilation": wt_error, "open_loop": [0.5, 0.5]}}}


def test_quantities_read_the_summary_and_are_nan_where_it_lacks_them(tmp_path):
    study, _ = read_study(_write(tmp_path))
    runs = study.runs()
    s = _summary(0.02, 0.05, 0.03, [0.4, 0.3])
    assert value_of(s, Quantity.parse("A analysis surface ubrmse", "q", runs)) == 0.02
    assert value_of(s, Quantity.parse("A forecast surface ubrmse", "q", runs)) == 0.03
    assert value_of(s, Quantity.parse("A open_loop surface ubrmse", "q", runs)) == 0.05
    assert value_of(s, Quantity.parse("A analysis surface spread_over_rmse", "q", runs)) == 0.8
    assert value_of(s, Quantity.parse("A analysis parameter:log10_ks last", "q", runs)) == 0.3
    assert value_of(s, Quantity.parse("A open_loop parameter:log10_ks first", "q", runs)) == 0.5
    assert math.isnan(value_of(s, Quantity.parse("A analysis root_zone ubrmse", "q", runs)))
    with pytest.raises(ConfigError, match="'first' or 'last'"):
        Quantity.parse("A analysis parameter:log10_ks rmse", "q", runs)


def test_findings_are_judged_on_the_median_over_the_seeds(tmp_path):
    study, _ = read_study(_write(tmp_path))
    seeds = [1, 2, 3]
    # A beats its open loop on two seeds of three (median decides); B within 10 % of A on the
    # median although one seed is 50 % off
    summaries = {
        "A": {1: _summary(0.02, 0.05, 0.03, [0.1]), 2: _summary(0.06, 0.05, 0.03, [0.1]),
              3: _summary(0.04, 0.05, 0.03, [0.1])},
        "B": {1: _summary(0.021, 0.05, 0.03, [0.1]), 2: _summary(0.09, 0.05, 0.03, [0.1]),
              3: _summary(0.041, 0.05, 0.03, [0.1])}}
    first, second = judge_findings(study, summaries, seeds)
    assert first.reproduced is True
    assert first.change_percent["values"] == pytest.approx([-60.0, 20.0, -20.0])
    assert first.change_percent["median"] == pytest.approx(-20.0)
    assert second.reproduced is True
    summaries["B"][3] = _summary(0.05, 0.05, 0.03, [0.1])          # now 25 % off
    assert judge_findings(study, summaries, seeds)[1].reproduced is False
    del summaries["B"][3]
    assert judge_findings(study, summaries, seeds)[1].reproduced is None    # a run missing
    rows = table_rows(study, summaries, seeds)
    cells = rows[0]["cells"]
    assert cells["OL"]["paper"] == 0.05 and cells["A"]["paper"] == "0.04*"
    assert cells["A"]["median"] == pytest.approx(0.04) and cells["A"]["max"] == 0.06
    assert cells["B"]["median"] == pytest.approx(0.03)        # B's forecast column



@pytest.mark.parametrize("kind", ["construction", "twin_only"])
def test_only_mechanism_findings_count(tmp_path, kind):
    text = STUDY.replace('claim = "B unchanged"', f'claim = "B unchanged"\nkind = "{kind}"')
    study, _ = read_study(_write(tmp_path, text=text))
    seeds = [1]
    summaries = {"A": {1: _summary(0.02, 0.05, 0.03, [0.1])},
                 "B": {1: _summary(0.02, 0.05, 0.03, [0.1])}}
    findings = judge_findings(study, summaries, seeds)
    assert [f.kind for f in findings] == ["mechanism", kind]
    assert all(f.reproduced is True for f in findings)
    result = results_json(study, table_rows(study, summaries, seeds), findings, seeds, {})
    assert result["mechanism_findings"] == 1 and result["mechanism_findings_reproduced"] == 1

def test_the_slurm_job_set_has_a_truth_array_a_run_array_and_the_table(tmp_path):
    from pdafpy.slurm import main as slurm_main

    path = _write(tmp_path)
    jobs = tmp_path / "jobs"
    assert slurm_main([str(path), "--slurm", str(jobs), "--ntasks", "4", "--time", "00:30:00",
                       "--out", str(tmp_path / "out")]) == 0
    truth = (jobs / "truth.sbatch").read_text()
    runs = (jobs / "runs.sbatch").read_text()
    assert "#SBATCH --array=0-1" in truth and "--stage truth --index $SLURM_ARRAY_TASK_ID" \
        in truth                                               # two seeds
    assert "#SBATCH --array=0-5" in runs and "#SBATCH --ntasks=4" in runs   # 3 runs x 2 seeds
    assert "--stage table" in (jobs / "table.sbatch").read_text()
    submit = (jobs / "submit.sh").read_text()
    assert "--dependency=afterok:${truth}" in submit and "--dependency=afterany:${runs}" in submit
    assert slurm_main([str(path), "--ntasks", "4"]) == 2          # a study needs --slurm DIR

"""The five studies of configs/studies, each run with ``--quick`` (a tiny grid and window, one
seed): every run of its matrix finishes and the study writes its table and findings. Their
skill is not asserted here: that takes the full studies (docs/studies.md).

The five run in one module-scoped fixture, in this process, one after the other.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytest.importorskip("petsc4py")
pytest.importorskip("netCDF4")

STUDIES = Path(__file__).resolve().parents[1] / "configs" / "studies"
NAMES = ("z25", "li", "hey", "kw26", "bai")


@pytest.fixture(scope="module")
def quick_studies(tmp_path_factory):
    from pdafpy.study import main

    out = tmp_path_factory.mktemp("studies")
    results = {}
    for name in NAMES:
        status = main([str(STUDIES / f"{name}.toml"), "--quick", "--out", str(out / name),
                       "--json", str(out / f"{name}.json")])
        results[name] = (status, out / name, out / f"{name}.json")
    return results


def test_every_study_has_its_configuration():
    assert sorted(p.stem for p in STUDIES.glob("*.toml")) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_quick_study_runs_its_matrix_and_writes_its_table(quick_studies, name):
    from pdafpy.study_config import read_study

    status, out, json_path = quick_studies[name]
    assert status == 0
    study, _ = read_study(STUDIES / f"{name}.toml")
    seed = study.seeds[0]
    for run in study.run:
        summary = json.loads((out / f"seed_{seed}" / run.name / "summary.json").read_text())
        assert summary["variables"], f"{name} {run.name}: nothing scored"
    result = json.loads(json_path.read_text())
    assert result == json.loads((out / "study.json").read_text())
    assert result["study"] == study.tag and result["seeds"] == [seed]
    assert len(result["table"]) == len(study.table)
    assert len(result["findings"]) == len(study.finding)
    for row in result["table"]:
        assert set(row["cells"]) == set(study.columns)
    numbers = [c["median"] for row in result["table"] for c in row["cells"].values()]
    # a quick window leaves some metrics undefined (a correlation over one day), not all
    assert any(isinstance(v, float) and not math.isnan(v) for v in numbers)
    assert (out / "study.md").read_text().startswith(f"## {study.tag}")
    assert (out / "findings.png").stat().st_size > 0


def test_a_finished_study_is_reused_not_run_again(quick_studies, capsys):
    from pdafpy.study import main

    status, out, _ = quick_studies["li"]
    assert status == 0
    assert main([str(STUDIES / "li.toml"), "--quick", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "truth seed 2: reused" in printed and "WC_DA seed 2: reused" in printed

"""Small things a user meets first: strict JSON outputs and the command list."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pdafpy.atomic import write_json
from pdafpy.cli import main


def _strict_load(path):
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(path.read_text(), parse_constant=refuse)


def test_json_outputs_write_null_for_nan_and_infinities(tmp_path):
    path = tmp_path / "summary.json"
    write_json(path, {"a": math.nan, "b": [1.0, np.float64(np.inf), {"c": -math.inf}],
                      "d": (np.float64(2.5), "text", None, 3)})
    assert _strict_load(path) == {"a": None, "b": [1.0, None, {"c": None}],
                                  "d": [2.5, "text", None, 3]}


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("run", "analyse", "report", "verify", "bench", "slurm", "tutorial"):
        assert command in out


def test_run_takes_its_options_after_the_global_ones(capsys):
    assert main(["-q", "run", "--check"]) == 0
    assert "the packaged example: valid" in capsys.readouterr().out
    assert main(["-q", "run", "--check", "--tasks", "0"]) == 2
    assert "parallel.tasks = 0" in capsys.readouterr().err

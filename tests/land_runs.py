"""Helpers of the tests that run a configuration in this process and compare its NetCDF output
(not a test module)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def run_config(folder: Path, name: str, text: str) -> tuple[int, dict | None]:
    """``pdafpy run`` on the configuration ``text`` (written to ``folder/name.toml``) into
    ``folder/name``: its exit status and ``summary.json`` (None unless the status is 0)."""
    from pdafpy.run import main

    path = folder / f"{name}.toml"
    path.write_text(text)
    status = main([str(path), "--out", str(folder / name), "-q"])
    summary = json.loads((folder / name / "summary.json").read_text()) if status == 0 else None
    return status, summary


def netcdf_variables(path: Path) -> dict[str, np.ndarray]:
    """Every variable of the NetCDF file ``path``, by name."""
    import netCDF4

    with netCDF4.Dataset(path) as ds:
        return {k: np.asarray(ds[k][:]) for k in ds.variables}


def same_variables(a: dict, b: dict) -> bool:
    """The same variable names with bit-identical values."""
    return set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)

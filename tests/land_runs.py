"""A helper of the tests that run a configuration in this process (not a test module)."""

from __future__ import annotations

import json
from pathlib import Path


def run_config(folder: Path, name: str, text: str) -> tuple[int, dict | None]:
    """``pdafpy run`` on the configuration ``text`` (written to ``folder/name.toml``) into
    ``folder/name``: its exit status and ``summary.json`` (None unless the status is 0)."""
    from pdafpy.run import main

    path = folder / f"{name}.toml"
    path.write_text(text)
    status = main([str(path), "--out", str(folder / name), "-q"])
    summary = json.loads((folder / name / "summary.json").read_text()) if status == 0 else None
    return status, summary

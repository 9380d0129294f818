"""Write files so that a failure mid-write never leaves a truncated file behind.

Everything is written to a temporary name in the same folder and renamed into place, which is
atomic on POSIX file systems: readers see the old file or the complete new one.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

__all__ = ["atomic_path", "write_json"]


@contextmanager
def atomic_path(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it to ``path`` when the block succeeds.

    Example
    -------
    >>> with atomic_path("out.txt") as tmp:            # doctest: +SKIP
    ...     numpy.savetxt(tmp, field)
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json(path: Path | str, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path``, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1))

"""Write files so that a failure mid-write never leaves a truncated file behind.

Everything is written to a temporary name in the same folder and renamed into place, which is
atomic on POSIX file systems: readers see the old file or the complete new one.
"""

from __future__ import annotations

import json
import math
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
    """Write ``obj`` as indented strict JSON to ``path``, atomically: NaN and infinities, which
    strict parsers reject, are written as ``null``."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_strict(obj), indent=1, allow_nan=False))


def _strict(obj: Any) -> Any:
    """``obj`` with every non-finite float (Python's or numpy's) replaced by None."""
    if isinstance(obj, float):                      # numpy.float64 is a float too
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    return obj

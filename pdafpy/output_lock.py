"""One run per output folder: an exclusive lock file that a second run is refused on.

Two runs writing into one folder would overwrite each other's files, the open ``.part`` files
included, and both could end with status 0. ``pdafpy run`` therefore holds ``OUT/.pdafpy-run.lock``
while it runs: rank 0 creates it exclusively (``O_CREAT | O_EXCL``, atomic on POSIX file
systems) with its host name, process id and start time, and removes it when the run ends, failed
or not. A lock left by a run that was killed (``kill -9``, a node failure) is stale: on the same
host, a lock whose process no longer exists is replaced, with a warning; a lock from another host
cannot be checked from here and is reported with the way to remove it.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import RefusedOnEveryRank

__all__ = ["LOCK_NAME", "output_lock", "lock_holder", "process_alive"]

log = logging.getLogger("pdafpy.output_lock")

#: The lock file's name inside the output folder.
LOCK_NAME = ".pdafpy-run.lock"


class _Locked(Exception):
    """The folder is held by another run (the message names it)."""


@contextmanager
def output_lock(world: Any, folder: Path) -> Iterator[None]:
    """Hold the output folder ``folder`` for this run (collective over ``world``).

    Raises
    ------
    RefusedOnEveryRank
        On every rank, if another run holds the folder or the lock cannot be written (the
        message names the folder, and the other run's host, process id and start time).
    """
    path = Path(folder) / LOCK_NAME
    error = None
    if world.Get_rank() == 0:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
            _acquire(path)
        except _Locked as exc:
            error = str(exc)
        except OSError as exc:
            error = (f"{folder}: cannot lock the output folder ({exc.strerror or exc}); expected "
                     "a writable folder")
    error = world.bcast(error, root=0)
    if error is not None:
        raise RefusedOnEveryRank(error)
    try:
        yield
    finally:
        if world.Get_rank() == 0:
            path.unlink(missing_ok=True)


def _acquire(path: Path) -> None:
    """Create the lock file exclusively; replace it once if it is stale."""
    host = socket.gethostname()
    record = f"{host} {os.getpid()} {_dt.datetime.now().isoformat(timespec='seconds')}\n"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            other_host, pid, since = lock_holder(path)
            if other_host == host and pid is not None and not process_alive(pid):
                log.warning("%s: replacing the lock of a run that ended without removing it "
                            "(PID %d, since %s)", path, pid, since)
                path.unlink(missing_ok=True)
                continue
            raise _Locked(f"{path.parent}: in use by another pdafpy run (host {other_host}, PID "
                          f"{pid}, since {since}); choose another output folder ([output] "
                          f"directory or --out), or remove {path} if that run is gone") from None
        with os.fdopen(fd, "w") as f:
            f.write(record)
        return
    raise _Locked(f"{path.parent}: another run took the output folder while this one started")


def lock_holder(path: Path) -> tuple[str, int | None, str]:
    """Host, process id and start time written in a lock file (placeholders if unreadable)."""
    try:
        fields = path.read_text().split()
    except OSError:
        fields = []
    host = fields[0] if fields else "unknown"
    pid = int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else None
    since = fields[2] if len(fields) > 2 else "unknown"
    return host, pid, since


def process_alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (a zombie, killed and not yet reaped,
    as ranks orphaned by a killed job can stay in a container without an init, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:                         # exists, owned by another user
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")

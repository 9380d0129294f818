"""Checkpoints for bit-identical restarts: HDF5, one group per rank, written atomically.

Every rank hands :func:`write_checkpoint` what it needs to continue (its members' states and
parameters, model-internal state such as time-step controllers and AR(1) perturbation states,
counters), as a mapping of names to numpy arrays or scalars. World rank 0 gathers them and writes
one HDF5 file, ``/rank_00000/<name>``, ``/rank_00001/<name>``, ..., plus the layout and the
run's attributes, to a temporary name that is renamed when complete: a crash while writing never
damages the previous checkpoint.

A restart must use the same rank layout (world size, model tasks, filter ranks); with it,
:func:`read_checkpoint` gives every rank back exactly the arrays it wrote, so the run continues
bit-identically. Counter-based random numbers need no generator state beyond the cycle counter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .atomic import atomic_path
from .errors import InputFileError

__all__ = ["write_checkpoint", "read_checkpoint"]

FORMAT_VERSION = 1


def _group(rank: int) -> str:
    return f"rank_{rank:05d}"


def write_checkpoint(path: Path | str, world: Any, payload: Mapping[str, Any],
                     layout_signature: Mapping[str, int], attributes: Mapping[str, Any]) -> None:
    """Write this rank's ``payload`` into the checkpoint ``path`` (collective over ``world``).

    Parameters
    ----------
    path : Path
        Checkpoint file (``.h5``).
    world : mpi4py.MPI.Comm
    payload : mapping str -> ndarray or scalar
        What this rank needs to continue.
    layout_signature : mapping str -> int
        Numbers a restart must match (e.g. world size, tasks, filter ranks, members).
    attributes : mapping
        Run metadata stored as file attributes (time, cycle, configuration text, ...).
    """
    import h5py

    parts = world.gather({k: np.asarray(v) for k, v in payload.items()}, root=0)
    if world.Get_rank() == 0:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            with h5py.File(tmp, "w") as h5:
                h5.attrs["format_version"] = FORMAT_VERSION
                for key, value in layout_signature.items():
                    h5.attrs[f"layout_{key}"] = int(value)
                for key, value in attributes.items():
                    h5.attrs[key] = value
                for rank, part in enumerate(parts):
                    group = h5.create_group(_group(rank))
                    for name, array in part.items():
                        group.create_dataset(name, data=array)
    world.Barrier()


def read_checkpoint(path: Path | str, world: Any,
                    layout_signature: Mapping[str, int]) -> tuple[dict[str, np.ndarray], dict]:
    """This rank's arrays and the run's attributes from a checkpoint (collective).

    Raises
    ------
    InputFileError
        If the file is missing or unreadable, or was written with another rank layout (the
        message names what differs).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: checkpoint not found")
    try:
        with h5py.File(path, "r") as h5:
            attrs = {k: (v.item() if isinstance(v, np.generic) else v)
                     for k, v in h5.attrs.items()}
            wrong = [f"{key} = {attrs.get('layout_' + key)} (this run: {value})"
                     for key, value in layout_signature.items()
                     if attrs.get("layout_" + key) != int(value)]
            if wrong:
                raise InputFileError(f"{path}: written with another rank layout: "
                                     + ", ".join(wrong) + "; restart with the same layout")
            group = h5[_group(world.Get_rank())]
            arrays = {name: group[name][()] for name in group}
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read checkpoint ({exc})") from None
    return arrays, {k: v for k, v in attrs.items() if not k.startswith("layout_")}

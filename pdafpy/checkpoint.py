"""Checkpoints for bit-identical restarts: HDF5, one group per rank, written atomically.

Every rank hands :func:`write_checkpoint` what it needs to continue (its members' states and
parameters, model-internal state such as time-step controllers and AR(1) perturbation states,
counters), as a mapping of names to numpy arrays, scalars or nested mappings of them. World
rank 0 gathers them and writes one HDF5 file, ``/rank_00000/<name>``, ``/rank_00001/<name>``,
..., nested mappings as HDF5 groups (their keys made ``str``), plus the layout and the run's
attributes, to a temporary name that is renamed when complete: a crash while writing never
damages the previous checkpoint.

A restart must use the same rank layout (world size, model tasks, filter ranks); with it,
:func:`read_checkpoint` gives every rank back exactly the arrays it wrote, so the run continues
bit-identically. Counter-based random numbers need no generator state beyond the cycle counter.
Given the run's resolved configuration (a JSON-serialisable mapping), the checkpoint stores it
and its SHA-256, and :func:`read_checkpoint` refuses a checkpoint of another configuration,
naming the keys that differ.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .atomic import atomic_path
from .errors import InputFileError
from .segments import write_failure

__all__ = ["write_checkpoint", "read_checkpoint", "flatten", "config_digest"]

FORMAT_VERSION = 1
DATASET_OVERHEAD_BYTES = 512    # HDF5 metadata per dataset (object header), about
MAX_DIFFERENCES = 5          # configuration keys named in a refusal


def _group(rank: int) -> str:
    return f"rank_{rank:05d}"


def flatten(tree: Mapping[str, Any], prefix: str = "", sep: str = "/") -> dict[str, Any]:
    """``{"a": {"b": x}}`` as ``{"a/b": x}`` (keys made ``str``; lists stay leaves)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{sep}{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            out.update(flatten(value, name, sep))
        else:
            out[name] = value
    return out


def _config_paths(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaves of a JSON-like configuration by dotted path (``observations[1].error``)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_config_paths(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, (list, tuple)) and any(isinstance(v, (Mapping, list, tuple))
                                                for v in value):
        out = {}
        for i, item in enumerate(value):
            out.update(_config_paths(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _config_json(config: Mapping[str, Any]) -> str:
    return json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)


def config_digest(config: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of a resolved configuration's canonical JSON."""
    return hashlib.sha256(_config_json(config).encode()).hexdigest()


def _write_tree(group: Any, tree: Mapping[str, Any]) -> None:
    import h5py

    for name, value in flatten(tree).items():
        array = np.asarray(value)
        if array.dtype.kind == "U":                    # numpy unicode: h5py wants UTF-8 strings
            group.create_dataset(name, data=array.astype(object), dtype=h5py.string_dtype())
        else:
            group.create_dataset(name, data=array)


def _read_tree(group: Any) -> dict[str, Any]:
    import h5py

    out: dict[str, Any] = {}

    def visit(name: str, obj: Any) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        info = h5py.check_string_dtype(obj.dtype)
        if info is not None and info.length is None:
            value = obj.asstr()[()]
            value = np.array(value, dtype=str)
        else:
            value = obj[()]
        *parents, leaf = name.split("/")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value

    group.visititems(visit)
    return out


def _check_space(path: Path, parts: list[Mapping[str, Any]]) -> None:
    """Refuse to start a checkpoint the file system has no room for (HDF5 reports a full disk
    met midway only as a page of its error stack): raises ENOSPC with the space needed."""
    leaves = [np.asarray(v) for part in parts for v in flatten(part).values()]
    needed = sum(a.nbytes for a in leaves) + DATASET_OVERHEAD_BYTES * (len(leaves) + 64)
    free = shutil.disk_usage(path.parent).free
    if free < needed:
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)}: {free} bytes free, the "
                      f"checkpoint needs about {needed}")


def write_checkpoint(path: Path | str, world: Any, payload: Mapping[str, Any],
                     layout_signature: Mapping[str, int], attributes: Mapping[str, Any],
                     config: Mapping[str, Any] | None = None) -> None:
    """Write this rank's ``payload`` into the checkpoint ``path`` (collective over ``world``).

    Parameters
    ----------
    path : Path
        Checkpoint file (``.h5``); an older one is replaced atomically.
    world : mpi4py.MPI.Comm
    payload : mapping str -> ndarray, scalar or mapping of them
        What this rank needs to continue; nested mappings become HDF5 groups.
    layout_signature : mapping str -> int
        Numbers a restart must match (e.g. world size, tasks, filter ranks, members).
    attributes : mapping
        Run metadata stored as file attributes (time, cycle, ...).
    config : mapping, optional
        The run's resolved configuration (JSON-serialisable), stored with its SHA-256 so that
        :func:`read_checkpoint` can refuse another configuration.

    Raises
    ------
    OutputError
        On world rank 0, if the file cannot be written (e.g. a full disk), naming it and the
        reason; the previous checkpoint stays as it was.
    """
    import h5py

    parts = world.gather(payload, root=0)
    if world.Get_rank() == 0:
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _check_space(path, parts)
            with atomic_path(path) as tmp:
                with h5py.File(tmp, "w") as h5:
                    h5.attrs["format_version"] = FORMAT_VERSION
                    for key, value in layout_signature.items():
                        h5.attrs[f"layout_{key}"] = int(value)
                    for key, value in attributes.items():
                        h5.attrs[key] = value
                    if config is not None:
                        h5.attrs["config_json"] = _config_json(config)
                        h5.attrs["config_sha256"] = config_digest(config)
                    for rank, part in enumerate(parts):
                        _write_tree(h5.create_group(_group(rank)), part)
        except (OSError, RuntimeError) as exc:        # the previous checkpoint is intact
            raise write_failure(path, exc) from None
    world.Barrier()


def _config_differences(path: Path, saved_json: str, config: Mapping[str, Any]) -> str:
    saved = _config_paths(json.loads(saved_json))
    now = _config_paths(json.loads(_config_json(config)))
    wrong = [f"{key} = {json.dumps(saved.get(key))} (this run: {json.dumps(now.get(key))})"
             for key in sorted(set(saved) | set(now)) if saved.get(key) != now.get(key)]
    more = len(wrong) - MAX_DIFFERENCES
    text = ", ".join(wrong[:MAX_DIFFERENCES]) + (f" and {more} more" if more > 0 else "")
    return (f"{path}: written with another configuration: {text}; restart with the "
            "configuration the checkpoint was written with")


def read_checkpoint(path: Path | str, world: Any, layout_signature: Mapping[str, int],
                    config: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict]:
    """This rank's arrays and the run's attributes from a checkpoint (collective).

    Parameters
    ----------
    path : Path
    world : mpi4py.MPI.Comm
    layout_signature : mapping str -> int
        This run's layout numbers; each must equal the checkpoint's.
    config : mapping, optional
        This run's resolved configuration; the checkpoint's must have the same SHA-256.

    Returns
    -------
    dict
        This rank's payload as written (nested mappings back as dicts with ``str`` keys,
        scalars as numpy scalars, unicode arrays as ``str`` arrays).
    dict
        The attributes given to :func:`write_checkpoint` (plus ``format_version`` and, with a
        configuration, ``config_json`` and ``config_sha256``).

    Raises
    ------
    InputFileError
        If the file is missing or unreadable, or was written with another rank layout or
        another configuration (the one-line message names what differs).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: checkpoint not found")
    try:
        with h5py.File(path, "r") as h5:
            attrs = {k: (v.item() if isinstance(v, np.generic) else v)
                     for k, v in h5.attrs.items()}
            if attrs.get("format_version") != FORMAT_VERSION:
                found = attrs.get("format_version")
                raise InputFileError(
                    f"{path}: not a pdafpy checkpoint (format_version {found!r}, expected "
                    f"{FORMAT_VERSION}); give the checkpoint.h5 a pdafpy run wrote"
                    if found is None else f"{path}: checkpoint format {found!r}, this "
                    f"version reads format {FORMAT_VERSION}")
            wrong = [f"{key} = {attrs.get('layout_' + key)} (this run: {value})"
                     for key, value in layout_signature.items()
                     if attrs.get("layout_" + key) != int(value)]
            if wrong:
                raise InputFileError(f"{path}: written with another rank layout: "
                                     + ", ".join(wrong) + "; restart with the same layout")
            if config is not None and attrs.get("config_sha256") != config_digest(config):
                if "config_json" not in attrs:
                    raise InputFileError(f"{path}: holds no configuration to compare with this "
                                         "run's")
                raise InputFileError(_config_differences(path, attrs["config_json"], config))
            arrays = _read_tree(h5[_group(world.Get_rank())])
    except InputFileError:
        raise
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read checkpoint ({exc})") from None
    return arrays, {k: v for k, v in attrs.items() if not k.startswith("layout_")}

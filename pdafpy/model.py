"""The contract between pdafpy and a model it drives.

A model runs on the ranks of one model task (its ``COMM_model``) and owns a block of grid columns
on each of them (a :class:`~pdafpy.decomposition.Box` of a structured horizontal grid; columns are
never split). pdafpy asks it to describe its fields, sets one member's state, advances it, and reads
the state back; several members of a task run one after another on the same model object.

Models are found by name through the entry-point group ``pdafpy.models`` (see
:func:`load_model_class`), so pdafpy never imports ``models/`` and third parties can plug in their
own.

Example
-------
A model implements the methods of :class:`Model`::

    class MyModel:
        @classmethod
        def create(cls, comm, config): ...
        @property
        def grid(self) -> Grid: ...
        @property
        def fields(self) -> tuple[FieldSpec, ...]: ...
        @property
        def box(self) -> Box: ...
        def set_state(self, member, state): ...
        def get_state(self): ...
        def advance(self, t0, t1): ...

Optional members, used where a model has them:

- ``advance_members(members, states, t0, t1)``: advance every member of the task at once, each
  field with a leading member axis ``(k, levels, ny, nx)`` (a model vectorised over members,
  such as Lorenz-96, saves a Python call per member);
- ``checkpoint_state()`` / ``restore_checkpoint(saved)``: model-internal state a restart needs;
- for ``pdafpy run`` with pdafpy's generic experiment (:mod:`pdafpy.experiment`): a class
  attribute ``config_section`` (the dataclass of the model's own table, named after the model),
  ``time_unit_s`` (seconds per model time unit; 1 for models that count in seconds) and a
  classmethod ``initial_member(state, key, seed, box, config)`` giving a member's initial state
  from the model's own one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from .decomposition import Box
from .errors import ConfigError

__all__ = ["FieldSpec", "Grid", "Model", "load_model_class", "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "pdafpy.models"


@dataclass(frozen=True)
class FieldSpec:
    """One named field of a model's state or parameters.

    Attributes
    ----------
    name : str
        Name used in the state vector, the configuration and the output files.
    levels : int
        Number of vertical levels (1 for a surface field or a 2D parameter map).
    units : str
        Physical units (SI, e.g. ``"m"`` for pressure head, ``"m3 m-3"`` for water content).
    kind : str
        ``"state"`` (prognostic variable), ``"parameter"`` (per-member parameter field) or
        ``"diagnostic"`` (derived by the model from the state, e.g. water content from pressure
        head: observed and analysed like the others, then reconciled by the model in
        ``set_state``).
    """

    name: str
    levels: int = 1
    units: str = "1"
    kind: str = "state"

    def __post_init__(self) -> None:
        if self.levels < 1:
            raise ConfigError(f"field {self.name!r}: levels must be >= 1, got {self.levels}")
        if self.kind not in ("state", "parameter", "diagnostic"):
            raise ConfigError(f"field {self.name!r}: kind must be 'state', 'parameter' or "
                              f"'diagnostic', got {self.kind!r}")


@dataclass(frozen=True)
class Grid:
    """A structured horizontal grid with vertical levels.

    Attributes
    ----------
    ny, nx : int
        Rows (y) and columns (x).
    x : (nx,) float ndarray
        Column coordinates [m, or grid units for the PDAF tutorial].
    y : (ny,) float ndarray
        Row coordinates, same units as ``x``.
    z : (nz,) float ndarray
        Depth of the level centres below the surface [m], positive down (empty for 2D models).
    periodic : tuple of bool
        Whether the grid wraps around in (y, x).
    crs : str
        Coordinate reference system of ``x`` and ``y``: ``""`` for a local Cartesian grid
        (metres, or grid units for the PDAF tutorial), else an identifier such as
        ``"EPSG:32632"`` (UTM zone 32N), whose metres ``x`` and ``y`` are; observations given in
        longitude and latitude are placed on the grid through it.
    """

    ny: int
    nx: int
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray = field(default_factory=lambda: np.zeros(0))
    periodic: tuple[bool, bool] = (False, False)
    crs: str = ""

    @classmethod
    def uniform(cls, ny: int, nx: int, dy: float = 1.0, dx: float = 1.0, y0: float = 0.0,
                x0: float = 0.0, z: Sequence[float] = ()) -> "Grid":
        """A grid with uniform spacing; row ``i`` sits at ``y0 + i*dy``, column ``j`` at
        ``x0 + j*dx`` (0-based)."""
        return cls(ny, nx, x0 + dx * np.arange(nx, dtype=float),
                   y0 + dy * np.arange(ny, dtype=float), np.asarray(z, dtype=float))

    def column_coords(self, box: Box) -> np.ndarray:
        """Coordinates ``(x, y)`` of the columns of ``box``, row by row.

        Returns
        -------
        (box.size, 2) float ndarray
        """
        xx, yy = np.meshgrid(self.x[box.x0:box.x1], self.y[box.y0:box.y1])
        return np.column_stack([xx.ravel(), yy.ravel()])


@runtime_checkable
class Model(Protocol):
    """What every model driven by pdafpy implements.

    State arrays are per field with shape ``(levels, box.ny, box.nx)``, float64, in SI units.
    """

    @classmethod
    def create(cls, comm: Any, config: Mapping[str, Any]) -> "Model":
        """Build the model on the ranks of ``comm`` (one model task) from a configuration mapping."""

    @property
    def grid(self) -> Grid:
        """The global grid (identical on every rank)."""

    @property
    def fields(self) -> Sequence[FieldSpec]:
        """The fields that make up the assimilation state, in state-vector order."""

    @property
    def box(self) -> Box:
        """The block of columns this rank owns."""

    def set_state(self, member: int, state: Mapping[str, np.ndarray]) -> None:
        """Load member ``member``'s state and parameters (0-based member index)."""

    def get_state(self) -> dict[str, np.ndarray]:
        """The current state and parameters, one array per field."""

    def advance(self, t0: float, t1: float) -> None:
        """Advance the loaded member from time ``t0`` to ``t1`` [s]."""


def load_model_class(name: str) -> type:
    """The model class registered under ``name`` in the ``pdafpy.models`` entry-point group, or
    named ``package.module:Class``.

    Raises
    ------
    ConfigError
        If no model of that name is installed; the message lists the installed ones.
    """
    from .registry import load_registered

    return load_registered(ENTRY_POINT_GROUP, name, "model")

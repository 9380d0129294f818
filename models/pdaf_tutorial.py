"""PDAF's 2D tutorial model, its input files, and its offline and online experiments.

The model is a field of ``ny`` rows by ``nx`` columns that shifts one row down per time step,
cyclically (row ``i`` moves to row ``i+1``, the last row becomes the first). Its ranks split the
columns (as PDAF's parallel tutorial does), so the shift needs no communication.

Files follow PDAF's tutorial (``tutorial/inputs_offline``, ``tutorial/inputs_online``): a field is
text with ``ny`` rows of ``nx`` numbers; observation types A and B are full fields with ``-999``
where nothing is observed; type C lists ``count`` then ``value x y`` per line, observed by bilinear
interpolation. Grid point (row ``i``, column ``j``), 1-based, sits at ``(x, y) = (j, i)``. The
observation vector holds types A, B, C in that order, each in PDAF's column-major order.

Outputs carry PDAF's names and layout: offline ``state_ana.txt`` and ``ens_01_ana.txt`` ...;
online ``ens_01_step02_for.txt`` / ``_ana.txt`` and ``state_step02_for.txt`` / ``_ana.txt``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from pdafpy.analysis import analysis_step
from pdafpy.atomic import atomic_path
from pdafpy.decomposition import Box, block_boxes
from pdafpy.ensemble import EnsembleRunner
from pdafpy.errors import ConfigError, InputFileError
from pdafpy.localize import Localization
from pdafpy.model import FieldSpec, Grid
from pdafpy.obs.operators import bilinear, grid_point
from pdafpy.obs.types import ObservationType
from pdafpy.parallel import make_layout
from pdafpy.state import StateLayout

__all__ = ["TutorialModel", "TutorialSettings", "read_field", "read_point_obs",
           "field_observations", "point_observations", "run_offline", "run_online"]

log = logging.getLogger(__name__)

MISSING = -999.0
OBS_ERROR_STD = 0.5
FIELD = "field"


# -- files --------------------------------------------------------------------------------------
def read_field(path: Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """A field file as an ``(ny, nx)`` array; checks the shape when ``shape`` is given."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    try:
        data = np.loadtxt(path, ndmin=2)
    except ValueError as exc:
        raise InputFileError(f"{path}: not a table of numbers ({exc})") from None
    if shape is not None and data.shape != tuple(shape):
        raise InputFileError(f"{path}: expected {shape[0]} rows of {shape[1]} numbers, "
                             f"found {data.shape[0]} rows of {data.shape[1]}")
    return data


def read_point_obs(path: Path) -> np.ndarray:
    """A type-C observation file as an ``(m, 3)`` array of ``value, x, y``."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: file not found")
    lines = path.read_text().split("\n")
    try:
        count = int(lines[0].split()[0])
        rows = np.array([[float(v) for v in line.split()[:3]] for line in lines[1:count + 1]])
    except (ValueError, IndexError) as exc:
        raise InputFileError(f"{path}: expected a count, then 'value x y' per line ({exc})") \
            from None
    if rows.shape != (count, 3):
        raise InputFileError(f"{path}: announces {count} observations, holds {rows.shape[0]}")
    return rows.reshape(count, 3)


def write_field(path: Path, field: np.ndarray) -> None:
    """Write a field as PDAF's tutorial does (rows of numbers), via a temporary name."""
    with atomic_path(path) as tmp:
        np.savetxt(tmp, field, fmt="%.17e")


# -- observations ---------------------------------------------------------------------------------
def field_observations(name: str, obs_field: np.ndarray, grid: Grid,
                       loc: Localization) -> ObservationType:
    """Grid-point observations from a field with ``-999`` where nothing is observed.

    Observations are numbered in PDAF's column-major order (column by column, rows within).
    """
    cols, rows = np.nonzero(obs_field.T != MISSING)      # column-major order
    return ObservationType(
        name=name, value=obs_field[rows, cols], error_std=np.full(rows.size, OBS_ERROR_STD),
        coords=np.column_stack([grid.x[cols], grid.y[rows]]),
        operator=grid_point(FIELD, rows, cols), localization=loc)


def point_observations(name: str, table: np.ndarray, grid: Grid,
                       loc: Localization) -> ObservationType:
    """Observations between grid points (``value, x, y`` rows), bilinearly interpolated."""
    return ObservationType(
        name=name, value=table[:, 0], error_std=np.full(table.shape[0], OBS_ERROR_STD),
        coords=table[:, 1:3].copy(), operator=bilinear(FIELD, grid, table[:, 1], table[:, 2]),
        localization=loc)


# -- the model ------------------------------------------------------------------------------------
class TutorialModel:
    """PDAF's 2D tutorial model on the ranks of one model task (columns split over ranks)."""

    def __init__(self, comm: Any, ny: int, nx: int):
        self.comm = comm
        size = 1 if comm is None else comm.Get_size()
        rank = 0 if comm is None else comm.Get_rank()
        if size > nx:
            raise ConfigError(f"the tutorial model splits its {nx} columns over the ranks of a "
                              f"task; {size} ranks per task is too many")
        self._grid = Grid.uniform(ny, nx, x0=1.0, y0=1.0)
        self._box = block_boxes(ny, nx, 1, size)[rank]
        self._field = np.zeros((1, self._box.ny, self._box.nx))

    @classmethod
    def create(cls, comm: Any, config: Mapping[str, Any]) -> "TutorialModel":
        """Build from ``{"ny": int, "nx": int}``."""
        try:
            return cls(comm, int(config["ny"]), int(config["nx"]))
        except KeyError as exc:
            raise ConfigError(f"tutorial model: missing key {exc.args[0]!r}") from None

    @property
    def grid(self) -> Grid:
        return self._grid

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        return (FieldSpec(FIELD, levels=1, units="1"),)

    @property
    def box(self) -> Box:
        return self._box

    def set_state(self, member: int, state: Mapping[str, np.ndarray]) -> None:
        self._field = np.array(state[FIELD], dtype=float).reshape(self._field.shape)

    def get_state(self) -> dict[str, np.ndarray]:
        return {FIELD: self._field.copy()}

    def advance(self, t0: float, t1: float) -> None:
        """Shift the field ``t1 - t0`` rows down (time in model steps)."""
        steps = int(round(t1 - t0))
        self._field = np.roll(self._field, steps, axis=1)


# -- experiments ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TutorialSettings:
    """Settings of a tutorial run (PDAF's command-line names in brackets).

    Attributes
    ----------
    filter : str
        ``estkf``, ``etkf``, ``lestkf`` or ``letkf`` (``filtertype`` 6, 4, 7, 5).
    cradius, sradius : float
        Cut-off and support radius in grid units (``cradius``, ``sradius``; sradius defaults to
        cradius).
    locweight : int
        PDAF's weight code (0 uniform, 1 exponential, 2 Gaspari-Cohn, 5 Gaussian).
    forget : float
        Forgetting factor.
    type_trans : int
        PDAF's transform type.
    obs_types : str
        Which observation types to assimilate, e.g. ``"A"`` or ``"A,B,C"``.
    tasks : int
        Model tasks (``n_modeltasks``; online only).
    filter_ranks : int
        Separate filter ranks (0: task 0's ranks analyse).
    """

    filter: str = "lestkf"
    cradius: float = 0.0
    sradius: float | None = None
    locweight: int = 0
    forget: float = 1.0
    type_trans: int = 0
    obs_types: str = "A"
    tasks: int = 1
    filter_ranks: int = 0

    def localization(self) -> Localization:
        return Localization.from_pdaf(self.cradius, self.sradius, self.locweight, 0)

    def types(self) -> list[str]:
        kinds = [k.strip().upper() for k in self.obs_types.split(",") if k.strip()]
        bad = [k for k in kinds if k not in ("A", "B", "C")]
        if bad or not kinds:
            raise ConfigError(f"--obs: observation types must be among A, B, C, got "
                              f"{self.obs_types!r}")
        return [k for k in ("A", "B", "C") if k in kinds]


def _ensemble_files(directory: Path, prefix: str = "ens_") -> list[Path]:
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+)\.txt$")
    found = sorted((int(m.group(1)), p) for p in directory.iterdir()
                   if (m := pattern.match(p.name)))
    if not found:
        raise InputFileError(f"{directory}: no ensemble files {prefix}1.txt, {prefix}2.txt, ...")
    numbers = [n for n, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise InputFileError(f"{directory}: ensemble files must be numbered 1..N without gaps, "
                             f"found {numbers}")
    return [p for _, p in found]


def _observation_types(settings: TutorialSettings, grid: Grid, files: Mapping[str, Path]
                       ) -> list[ObservationType]:
    loc = settings.localization()
    shape = (grid.ny, grid.nx)
    types = []
    for kind in settings.types():
        if kind == "C":
            types.append(point_observations("C", read_point_obs(files["C"]), grid, loc))
        else:
            types.append(field_observations(kind, read_field(files[kind], shape), grid, loc))
    return types


class _FilterSide:
    """The filter ranks' view of a tutorial run: layout, boxes, gather for output."""

    def __init__(self, comm: Any, grid: Grid, settings: TutorialSettings, n_members: int):
        from pdafpy.filters import make_filter

        self.comm = comm
        self.grid = grid
        self.boxes = block_boxes(grid.ny, grid.nx, 1, comm.Get_size())
        self.box = self.boxes[comm.Get_rank()]
        self.layout = StateLayout((FieldSpec(FIELD),), self.box)
        self.filter = make_filter(settings.filter, forget=settings.forget,
                                  type_trans=settings.type_trans)
        self.n_members = n_members
        self.cycle = 0

    def analyse(self, ens: np.ndarray, obs_types: Sequence[ObservationType]) -> None:
        analysis_step(self.filter, ens, self.layout, self.grid, obs_types, self.comm, self.boxes,
                      cycle=self.cycle)
        self.cycle += 1

    def gather_fields(self, ens: np.ndarray) -> np.ndarray | None:
        """All members' global fields on filter rank 0 ``(N, ny, nx)``; None elsewhere."""
        local = self.layout.view(ens, FIELD)[:, 0]
        parts = self.comm.gather(local, root=0)
        if self.comm.Get_rank():
            return None
        full = np.empty((self.n_members, self.grid.ny, self.grid.nx))
        for b, part in zip(self.boxes, parts):
            full[:, b.y0:b.y1, b.x0:b.x1] = part
        return full

    def write(self, ens: np.ndarray, out: Path, suffix: str) -> None:
        full = self.gather_fields(ens)
        if full is None:
            return
        for k in range(self.n_members):
            write_field(out / f"ens_{k + 1:02d}_{suffix}.txt", full[k])
        write_field(out / f"state_{suffix}.txt", full.mean(axis=0))


def run_offline(world: Any, inputs: Path, out: Path, settings: TutorialSettings) -> None:
    """PDAF's offline tutorial: one analysis of the ensemble in ``inputs``.

    All ranks of ``world`` are filter ranks; the grid's columns are split over them.
    """
    inputs, out = Path(inputs), Path(out)
    files = _ensemble_files(inputs)
    first = read_field(files[0])
    grid = Grid.uniform(*first.shape, x0=1.0, y0=1.0)
    side = _FilterSide(world, grid, settings, len(files))
    ens = np.empty((len(files), side.layout.size))
    view = side.layout.view(ens, FIELD)
    for k, path in enumerate(files):
        field = read_field(path, first.shape)
        view[k, 0] = field[side.box.y0:side.box.y1, side.box.x0:side.box.x1]
    obs_types = _observation_types(settings, grid, {
        "A": inputs / "obs.txt", "B": inputs / "obsB.txt", "C": inputs / "obsC.txt"})
    side.analyse(ens, obs_types)
    if world.Get_rank() == 0:
        out.mkdir(parents=True, exist_ok=True)
    world.Barrier()
    side.write(ens, out, "ana")


def run_online(world: Any, inputs: Path, out: Path, settings: TutorialSettings,
               steps: int = 18, interval: int = 2) -> None:
    """PDAF's online tutorial: ``steps`` model steps, an analysis every ``interval`` steps.

    The world is cut into ``settings.tasks`` model tasks (plus ``settings.filter_ranks``
    separate filter ranks); each task advances its members one after another.
    """
    inputs, out = Path(inputs), Path(out)
    files = _ensemble_files(inputs)
    first = read_field(files[0])
    ny, nx = first.shape
    layout = make_layout(world, settings.tasks, len(files), settings.filter_ranks)
    model = TutorialModel(layout.comm_model, ny, nx) if layout.is_model else None
    grid = Grid.uniform(ny, nx, x0=1.0, y0=1.0)
    side = _FilterSide(layout.comm_filter, grid, settings, len(files)) \
        if layout.is_filter else None
    runner = EnsembleRunner(layout, model, side.box if side else None, (FieldSpec(FIELD),))

    def initial(member: int, box: Box) -> dict[str, np.ndarray]:
        field = read_field(files[member], first.shape)
        return {FIELD: field[None, box.y0:box.y1, box.x0:box.x1]}

    runner.load(initial)
    if world.Get_rank() == 0:
        out.mkdir(parents=True, exist_ok=True)
    world.Barrier()

    for step in range(interval, steps + 1, interval):
        runner.forecast(step - interval, step)
        ens = runner.collect()
        if side is not None:
            side.write(ens, out, f"step{step:02d}_for")
            obs_types = _observation_types(settings, grid, {
                "A": inputs / f"obs_step{step}.txt", "B": inputs / f"obsB_step{step}.txt",
                "C": inputs / f"iobs_step{step}.txt"})
            side.analyse(ens, obs_types)
            side.write(ens, out, f"step{step:02d}_ana")
        runner.distribute(ens)
    layout.free()

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
The online experiment runs through pdafpy's assimilation cycle
(:class:`pdafpy.cycle.AssimilationCycle` with :class:`TutorialHooks`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from pdafpy.cycle import analysis_step
from pdafpy.atomic import atomic_path
from pdafpy.cycle import AssimilationCycle, CycleHooks, CycleOptions, CycleStep, Observed
from pdafpy.decomposition import Box, block_boxes
from pdafpy.ensemble import EnsembleRunner
from pdafpy.errors import ConfigError, InputFileError
from pdafpy.groups import RunGroup, RunGroups
from pdafpy.localize import Localization
from pdafpy.model import FieldSpec, Grid
from pdafpy.obs.operators import bilinear, grid_point
from pdafpy.obs.types import ObservationType
from pdafpy.parallel import make_layout
from pdafpy.schedule import AnalysisSchedule
from pdafpy.state import StateLayout

__all__ = ["TutorialModel", "TutorialSettings", "TutorialHooks", "read_field", "read_point_obs",
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


def _filter_boxes(comm: Any, grid: Grid) -> list[Box]:
    """The filter's blocks: the columns split over the filter ranks, as the model splits them
    over a task's ranks (with separate filter ranks too)."""
    return block_boxes(grid.ny, grid.nx, 1, comm.Get_size())


def _make_filter(settings: TutorialSettings) -> Any:
    from pdafpy.filters import make_filter

    return make_filter(settings.filter, forget=settings.forget, type_trans=settings.type_trans)


def _write_ensemble(comm: Any, layout: StateLayout, boxes: Sequence[Box], grid: Grid,
                    ens: np.ndarray, out: Path, suffix: str) -> None:
    """Gather every member's field on filter rank 0 and write ``ens_01_{suffix}.txt`` ... and
    their mean ``state_{suffix}.txt`` (collective over the filter ranks ``comm``)."""
    parts = comm.gather(layout.view(ens, FIELD)[:, 0], root=0)
    if comm.Get_rank():
        return
    full = np.empty((ens.shape[0], grid.ny, grid.nx))
    for b, part in zip(boxes, parts):
        full[:, b.y0:b.y1, b.x0:b.x1] = part
    for k in range(full.shape[0]):
        write_field(out / f"ens_{k + 1:02d}_{suffix}.txt", full[k])
    write_field(out / f"state_{suffix}.txt", full.mean(axis=0))


class TutorialHooks(CycleHooks):
    """PDAF's online tutorial in the assimilation cycle: each analysis reads the step's
    observation files (``obs_step{t}.txt``, ``obsB_step{t}.txt``, ``iobs_step{t}.txt``) and
    writes the forecast and the analysis under PDAF's names (``ens_01_step02_for.txt``,
    ``state_step02_ana.txt`` ...). Times are model steps.

    Parameters
    ----------
    settings : TutorialSettings
    grid : Grid
    inputs, out : Path
        The folder of observation files and the output folder.
    comm : mpi4py.MPI.Comm or None
        The filter ranks' communicator (None off the filter).
    layout : StateLayout or None
        The state on this filter rank's block.
    boxes : sequence of Box or None
        Every filter rank's block.
    """

    def __init__(self, settings: TutorialSettings, grid: Grid, inputs: Path, out: Path,
                 comm: Any, layout: StateLayout | None, boxes: Sequence[Box] | None):
        self.settings, self.grid = settings, grid
        self.inputs, self.out = Path(inputs), Path(out)
        self.comm, self.layout, self.boxes = comm, layout, boxes

    @staticmethod
    def _step(t: float) -> int:
        return int(round(t))

    def observe(self, step: CycleStep, ens: np.ndarray) -> Observed:
        n = self._step(step.t1)
        return Observed(_observation_types(self.settings, self.grid, {
            "A": self.inputs / f"obs_step{n}.txt", "B": self.inputs / f"obsB_step{n}.txt",
            "C": self.inputs / f"iobs_step{n}.txt"}))

    def _write(self, ens: np.ndarray, t: float, kind: str) -> None:
        _write_ensemble(self.comm, self.layout, self.boxes, self.grid, ens, self.out,
                        f"step{self._step(t):02d}_{kind}")

    def record_forecast(self, step: CycleStep, ens: np.ndarray) -> None:
        self._write(ens, step.t1, "for")

    def record_analysis(self, step: CycleStep, ens: np.ndarray, forecast: np.ndarray,
                        observed: Observed) -> None:
        self._write(ens, step.t1, "ana")

    def describe_time(self, t: float) -> str:
        return f"step {self._step(t)}"


def run_offline(world: Any, inputs: Path, out: Path, settings: TutorialSettings) -> None:
    """PDAF's offline tutorial: one analysis of the ensemble in ``inputs``.

    All ranks of ``world`` are filter ranks; the grid's columns are split over them.
    """
    inputs, out = Path(inputs), Path(out)
    files = _ensemble_files(inputs)
    first = read_field(files[0])
    grid = Grid.uniform(*first.shape, x0=1.0, y0=1.0)
    boxes = _filter_boxes(world, grid)
    box = boxes[world.Get_rank()]
    layout = StateLayout((FieldSpec(FIELD),), box)
    ens = np.empty((len(files), layout.size))
    view = layout.view(ens, FIELD)
    for k, path in enumerate(files):
        field = read_field(path, first.shape)
        view[k, 0] = field[box.y0:box.y1, box.x0:box.x1]
    obs_types = _observation_types(settings, grid, {
        "A": inputs / "obs.txt", "B": inputs / "obsB.txt", "C": inputs / "obsC.txt"})
    analysis_step(_make_filter(settings), ens, layout, grid, obs_types, world, boxes)
    if world.Get_rank() == 0:
        out.mkdir(parents=True, exist_ok=True)
    world.Barrier()
    _write_ensemble(world, layout, boxes, grid, ens, out, "ana")


def run_online(world: Any, inputs: Path, out: Path, settings: TutorialSettings,
               steps: int = 18, interval: int = 2) -> None:
    """PDAF's online tutorial: ``steps`` model steps, an analysis every ``interval`` steps, run
    by :class:`pdafpy.cycle.AssimilationCycle` with :class:`TutorialHooks`.

    The world is cut into ``settings.tasks`` model tasks (plus ``settings.filter_ranks``
    separate filter ranks); each task advances its members one after another. The filter splits
    the columns over its ranks, as the model does (also with separate filter ranks, where
    :func:`pdafpy.job.set_up_job` would choose a 2D process grid for some rank counts).
    """
    inputs, out = Path(inputs), Path(out)
    files = _ensemble_files(inputs)
    first = read_field(files[0])
    ny, nx = first.shape
    layout = make_layout(world, settings.tasks, len(files), settings.filter_ranks)
    model = TutorialModel(layout.comm_model, ny, nx) if layout.is_model else None
    grid = Grid.uniform(ny, nx, x0=1.0, y0=1.0)
    boxes = _filter_boxes(layout.comm_filter, grid) if layout.is_filter else None
    runner = EnsembleRunner(layout, model,
                            boxes[layout.comm_filter.Get_rank()] if boxes else None,
                            (FieldSpec(FIELD),))

    def initial(member: int, box: Box) -> dict[str, np.ndarray]:
        field = read_field(files[member], first.shape)
        return {FIELD: field[None, box.y0:box.y1, box.x0:box.x1]}

    runner.load(initial)
    if world.Get_rank() == 0:
        out.mkdir(parents=True, exist_ok=True)
    world.Barrier()
    hooks = TutorialHooks(settings, grid, inputs, out,
                          layout.comm_filter if layout.is_filter else None,
                          runner.filter_layout if layout.is_filter else None, boxes)
    AssimilationCycle(runner, RunGroups([RunGroup("ensemble", "analysed", len(files))]),
                      AnalysisSchedule([interval], steps), _make_filter(settings), hooks,
                      CycleOptions(), grid, boxes).run()
    layout.free()

"""Helpers shared by the tests that analyse PDAF's offline tutorial ensemble."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from models.pdaf_tutorial import (FIELD, TutorialSettings, _observation_types, read_field)
from pdafpy.cycle import analysis_step
from pdafpy.decomposition import block_boxes
from pdafpy.filters import make_filter
from pdafpy.model import FieldSpec, Grid
from pdafpy.state import StateLayout


def load_offline(refs: Path) -> tuple[np.ndarray, Grid]:
    """The offline tutorial ensemble ``(N, ny, nx)`` and its grid."""
    inputs = refs / "inputs_offline"
    ens = np.array([read_field(inputs / f"ens_{k}.txt") for k in range(1, 10)])
    return ens, Grid.uniform(ens.shape[1], ens.shape[2], x0=1.0, y0=1.0)


def offline_obs(refs: Path, grid: Grid, settings: TutorialSettings):
    inputs = refs / "inputs_offline"
    return _observation_types(settings, grid, {"A": inputs / "obs.txt", "B": inputs / "obsB.txt",
                                               "C": inputs / "obsC.txt"})


def analyse_decomposed(comm, fields: np.ndarray, grid: Grid, obs_types, filter_name: str,
                       py: int = 1, **options) -> np.ndarray:
    """Analyse ``fields`` (N, ny, nx) split over ``comm`` as a py x px block grid; the full
    analysed fields on every rank."""
    size = comm.Get_size()
    boxes = block_boxes(grid.ny, grid.nx, py, size // py)
    box = boxes[comm.Get_rank()]
    layout = StateLayout((FieldSpec(FIELD),), box)
    ens = np.empty((fields.shape[0], layout.size))
    layout.view(ens, FIELD)[:, 0] = fields[:, box.y0:box.y1, box.x0:box.x1]
    filt = make_filter(filter_name, **options)
    analysis_step(filt, ens, layout, grid, obs_types, comm, boxes)
    out = np.empty_like(fields)
    for b, part in zip(boxes, comm.allgather(layout.view(ens, FIELD)[:, 0])):
        out[:, b.y0:b.y1, b.x0:b.x1] = part
    return out

"""Which filter rank owns an observation.

An observation belongs to the filter rank whose block of columns contains its horizontal
coordinate. A block covers its columns' cells: along x from half-way to the previous column to
half-way to the next one (likewise in y); the outermost blocks extend to infinity. A coordinate on
the edge between two blocks belongs to the lower rank.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..decomposition import Box
from ..errors import LayoutError
from ..model import Grid

__all__ = ["owner_of"]


def _block_edges(coords: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Coordinates of the edges between consecutive blocks starting at grid indices ``starts``."""
    inner = starts[1:]
    return 0.5 * (coords[inner - 1] + coords[inner])


def owner_of(xy: np.ndarray, grid: Grid, boxes: Sequence[Box]) -> np.ndarray:
    """Owning rank of each coordinate.

    Parameters
    ----------
    xy : (m, 2) float ndarray
        Horizontal coordinates (x, y) in the units of ``grid.x`` / ``grid.y``.
    grid : Grid
        The global grid.
    boxes : sequence of Box
        Every filter rank's block, in rank order; together a tensor-product block decomposition.

    Returns
    -------
    (m,) int64 ndarray
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    if len(boxes) == 1:
        return np.zeros(xy.shape[0], dtype=np.int64)
    x_starts = np.unique([b.x0 for b in boxes])
    y_starts = np.unique([b.y0 for b in boxes])
    rank_of_block = -np.ones((y_starts.size, x_starts.size), dtype=np.int64)
    for r, b in enumerate(boxes):
        rank_of_block[np.searchsorted(y_starts, b.y0), np.searchsorted(x_starts, b.x0)] = r
    if np.any(rank_of_block < 0) or len(boxes) != rank_of_block.size:
        raise LayoutError("filter blocks do not form a tensor-product decomposition")
    bx = np.searchsorted(_block_edges(grid.x, x_starts), xy[:, 0], side="left")
    by = np.searchsorted(_block_edges(grid.y, y_starts), xy[:, 1], side="left")
    return rank_of_block[by, bx]

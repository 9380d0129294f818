"""Block decompositions of a structured horizontal grid.

pdafpy's grids are structured in the horizontal: ``ny`` rows (y) by ``nx`` columns (x), each
column carrying any number of vertical levels. A rank owns a rectangular block of columns, a
:class:`Box`; columns are never split across ranks. The split rule is PETSc's DMDA rule
(``n // p`` each, the first ``n % p`` blocks one larger), so a model on a PETSc DMDA and the
filter agree on who owns what.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import LayoutError

__all__ = ["Box", "split_extent", "block_boxes", "choose_process_grid"]


@dataclass(frozen=True)
class Box:
    """A rectangular block of grid columns, half-open index ranges in global indices.

    Attributes
    ----------
    y0, y1 : int
        Row range ``[y0, y1)`` (0-based).
    x0, x1 : int
        Column range ``[x0, x1)`` (0-based).
    """

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def ny(self) -> int:
        """Number of rows in the block."""
        return max(0, self.y1 - self.y0)

    @property
    def nx(self) -> int:
        """Number of columns in the block."""
        return max(0, self.x1 - self.x0)

    @property
    def size(self) -> int:
        """Number of columns (grid points in the horizontal) in the block."""
        return self.ny * self.nx

    @property
    def empty(self) -> bool:
        """True when the block holds no column."""
        return self.size == 0

    def intersect(self, other: "Box") -> "Box":
        """The block of columns both boxes hold (possibly empty)."""
        return Box(max(self.y0, other.y0), min(self.y1, other.y1),
                   max(self.x0, other.x0), min(self.x1, other.x1))

    def grow(self, width: int, ny: int, nx: int) -> "Box":
        """The box grown by ``width`` columns on every side, clipped to an ``ny`` x ``nx`` grid."""
        return Box(max(0, self.y0 - width), min(ny, self.y1 + width),
                   max(0, self.x0 - width), min(nx, self.x1 + width))

    def local_slices(self, inner: "Box") -> tuple[slice, slice]:
        """Slices (rows, columns) that select ``inner`` from an array laid out over this box."""
        return (slice(inner.y0 - self.y0, inner.y1 - self.y0),
                slice(inner.x0 - self.x0, inner.x1 - self.x0))

    def as_array(self) -> np.ndarray:
        """The four bounds as an int64 array ``[y0, y1, x0, x1]`` (for MPI messages)."""
        return np.array([self.y0, self.y1, self.x0, self.x1], dtype=np.int64)


def split_extent(n: int, parts: int) -> np.ndarray:
    """Start offsets of ``parts`` contiguous blocks of ``n`` items, PETSc's rule.

    Each block gets ``n // parts`` items and the first ``n % parts`` blocks one more.

    Returns
    -------
    (parts + 1,) int ndarray
        Offsets; block ``k`` is ``[offsets[k], offsets[k+1])``.
    """
    if parts < 1:
        raise LayoutError(f"number of blocks must be >= 1, got {parts}")
    if n < parts:
        raise LayoutError(f"cannot split {n} grid columns or rows into {parts} non-empty blocks")
    sizes = np.full(parts, n // parts, dtype=np.int64)
    sizes[: n % parts] += 1
    return np.concatenate([[0], np.cumsum(sizes)])


def choose_process_grid(size: int, ny: int, nx: int) -> tuple[int, int]:
    """A process grid ``(py, px)`` with ``py * px == size`` and blocks as square as possible.

    Among the factorisations that leave every block non-empty, the one minimising the summed
    block perimeter is chosen (ties: more blocks along x).
    """
    best: tuple[float, int, int] | None = None
    for py in range(1, size + 1):
        if size % py:
            continue
        px = size // py
        if py > ny or px > nx:
            continue
        perimeter = ny / py + nx / px
        if best is None or perimeter < best[0] - 1e-12:
            best = (perimeter, py, px)
    if best is None:
        raise LayoutError(f"a {ny} x {nx} grid cannot be split into {size} non-empty blocks")
    return best[1], best[2]


def block_boxes(ny: int, nx: int, py: int, px: int) -> list[Box]:
    """The boxes of a ``py`` x ``px`` process grid, in rank order (x fastest, as PETSc's DMDA).

    Parameters
    ----------
    ny, nx : int
        Global grid rows and columns.
    py, px : int
        Blocks along y and along x.
    """
    ys = split_extent(ny, py)
    xs = split_extent(nx, px)
    return [Box(int(ys[j]), int(ys[j + 1]), int(xs[i]), int(xs[i + 1]))
            for j in range(py) for i in range(px)]


def boxes_from_array(bounds: np.ndarray) -> Sequence[Box]:
    """Boxes from an ``(n, 4)`` array of ``[y0, y1, x0, x1]`` rows (inverse of :meth:`Box.as_array`)."""
    return [Box(*(int(v) for v in row)) for row in np.asarray(bounds).reshape(-1, 4)]

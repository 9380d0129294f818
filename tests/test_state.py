"""State vector layout, state halo, observation operators and ownership."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

from pdafpy.decomposition import Box, block_boxes, choose_process_grid
from pdafpy.errors import ConfigError
from pdafpy.model import FieldSpec, Grid
from pdafpy.obs.operators import bilinear, grid_average, grid_point
from pdafpy.obs.ownership import owner_of
from pdafpy.state import StateHalo, StateLayout


def test_pack_unpack_and_column_indices():
    box = Box(2, 5, 1, 5)
    layout = StateLayout((FieldSpec("h", 3), FieldSpec("lai", 1)), box)
    state = {"h": np.arange(36.0).reshape(3, 3, 4), "lai": -np.arange(12.0).reshape(1, 3, 4)}
    vec = layout.pack(state)
    back = layout.unpack(vec)
    assert all(np.array_equal(back[k], v) for k, v in state.items())
    cols = layout.column_indices()
    assert cols.shape == (12, 4)
    # column 5 = row 1, col 1 of the box: h at three levels, then lai
    assert vec[cols[5]].tolist() == [5.0, 17.0, 29.0, -5.0]
    with pytest.raises(ConfigError, match="shape"):
        layout.pack({"h": np.zeros((3, 3, 3)), "lai": np.zeros((1, 3, 4))})
    with pytest.raises(ConfigError, match="unknown field"):
        layout.spec("theta")


def test_bilinear_is_exact_for_bilinear_fields():
    grid = Grid.uniform(6, 8, dy=2.0, dx=0.5, y0=1.0, x0=-1.0)
    f = lambda x, y: 1.0 + 2.0 * x - 3.0 * y + 0.5 * x * y         # noqa: E731
    field = f(grid.x[None, :], grid.y[:, None])[None, None]         # (1, 1, ny, nx)
    x = np.array([-1.0, 0.3, 2.5, 1.7])
    y = np.array([1.0, 4.2, 11.0, 7.7])
    op = bilinear("f", grid, x, y)
    got = op.apply(field, Box(0, 6, 0, 8))[0]
    assert np.allclose(got, f(x, y), rtol=0, atol=1e-12)
    with pytest.raises(ConfigError, match="outside the grid"):
        bilinear("f", grid, np.array([9.0]), np.array([1.0]))


def test_grid_average_and_point():
    field = np.arange(20.0).reshape(1, 1, 4, 5)
    op = grid_average("f", [[0, 0, -1], [1, 2, 3]], [[0, 1, -1], [4, 4, 4]])
    assert np.allclose(op.apply(field, Box(0, 4, 0, 5))[0], [0.5, 14.0], rtol=0, atol=1e-13)
    assert grid_point("f", [3], [2]).apply(field, Box(0, 4, 0, 5))[0].tolist() == [17.0]


@pytest.mark.mpi(min_size=2)
def test_operator_applied_from_owned_blocks_equals_the_global_one():
    comm = MPI.COMM_WORLD
    ny, nx = 7, 9
    boxes = block_boxes(ny, nx, *choose_process_grid(comm.Get_size(), ny, nx))
    box = boxes[comm.Get_rank()]
    full = np.random.default_rng(5).normal(size=(2, 3, ny, nx))
    rows = np.array([[0, 3, 6, 0], [2, 2, 3, 3], [6, 5, 6, -1]])    # footprints across blocks
    cols = np.array([[0, 4, 8, 0], [4, 5, 4, 5], [8, 8, 7, -1]])
    op = grid_average("f", rows, cols, [[0, 1, 2, 0], [1, 1, 1, 1], [2, 0, 1, 0]])
    shared = op.apply_shared(full[:, :, box.y0:box.y1, box.x0:box.x1], box, comm)
    assert np.array_equal(shared, op.apply(full, Box(0, ny, 0, nx)))


def test_ownership_ties_go_to_the_lower_rank():
    grid = Grid.uniform(4, 6)
    boxes = block_boxes(4, 6, 2, 2)                   # x edges at 2.5, y edge at 1.5
    xy = np.array([[2.5, 0.0], [2.6, 0.0], [0.0, 1.5], [2.5, 1.5], [5.0, 3.0]])
    assert owner_of(xy, grid, boxes).tolist() == [0, 1, 0, 0, 3]


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize("width", [1, 3, 20])
def test_state_halo_matches_global_field(width):
    comm = MPI.COMM_WORLD
    ny, nx = 11, 13
    boxes = block_boxes(ny, nx, *choose_process_grid(comm.Get_size(), ny, nx))
    box = boxes[comm.Get_rank()]
    full = np.random.default_rng(2).normal(size=(3, 2, ny, nx))
    halo = StateHalo(comm, boxes, ny, nx, width)
    ext = halo.extend(full[:, :, box.y0:box.y1, box.x0:box.x1])
    g = halo.grown
    assert np.array_equal(ext, full[:, :, g.y0:g.y1, g.x0:g.x1])


def test_models_are_found_by_entry_point():
    from models.pdaf_tutorial import TutorialModel
    from pdafpy.model import Model, load_model_class

    cls = load_model_class("pdaf_tutorial")
    assert cls is TutorialModel
    model = cls.create(None, {"ny": 4, "nx": 6})
    assert isinstance(model, Model)
    model.set_state(0, {"field": np.arange(24.0).reshape(1, 4, 6)})
    model.advance(0, 1)
    assert model.get_state()["field"][0, 0].tolist() == list(range(18, 24))
    with pytest.raises(ConfigError, match="not installed"):
        load_model_class("no_such_model")
    with pytest.raises(ConfigError, match="missing key 'nx'"):
        cls.create(None, {"ny": 4})

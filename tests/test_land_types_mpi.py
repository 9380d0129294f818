"""The new land observation types give the same analysis on any number of filter ranks: the
non-linear CRNS operator, satellite footprints reaching across subdomain edges, LAI updating the
leaf state, and wells turned into pressure-head pseudo-observations against the distributed
forecast (every rank's part gathered by ``forecast(operator)``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

NZ, NY, NX, N = 4, 6, 8, 6
INTERFACES = np.array([0.0, 0.05, 0.15, 0.45, 1.05])


def _analysis(comm):
    from models.landda.obs_crns import CRNSSection
    from models.landda.obs_groundwater_level import GroundwaterLevelSection
    from models.landda.obs_leaf_area_index import LeafAreaIndexSection
    from models.landda.obs_satellite_soil_moisture import SatelliteSoilMoistureSection
    from pdafpy.cycle import analysis_step
    from pdafpy.decomposition import block_boxes, choose_process_grid
    from pdafpy.filters import make_filter
    from pdafpy.localize import Localization
    from pdafpy.model import FieldSpec, Grid
    from pdafpy.obs.module import ObservationContext, build_modules
    from pdafpy.state import StateLayout

    grid = Grid.uniform(NY, NX, dy=500.0, dx=500.0, z=0.5 * (INTERFACES[1:] + INTERFACES[:-1]))
    fields = (FieldSpec("pressure_head", NZ), FieldSpec("leaf_biomass", 1),
              FieldSpec("water_content", NZ, kind="diagnostic"),
              FieldSpec("water_table_depth", 1, kind="diagnostic"),
              FieldSpec("leaf_area_index", 1, kind="diagnostic"))
    rng = np.random.default_rng(7)
    full = {"pressure_head": rng.normal(-0.2, 0.3, (N, NZ, NY, NX)),
            "leaf_biomass": rng.uniform(0.05, 0.15, (N, 1, NY, NX)),
            "water_content": rng.uniform(0.15, 0.35, (N, NZ, NY, NX)),
            "water_table_depth": rng.uniform(0.2, 0.6, (N, 1, NY, NX)),
            "leaf_area_index": rng.uniform(1.0, 3.0, (N, 1, NY, NX))}
    boxes = block_boxes(NY, NX, *choose_process_grid(comm.Get_size(), NY, NX))
    box = boxes[comm.Get_rank()]
    layout = StateLayout(fields, box)
    ens = np.empty((N, layout.size))
    for k, v in full.items():
        layout.view(ens, k)[:] = v[..., box.y0:box.y1, box.x0:box.x1]
    bare = np.zeros((NY, NX), dtype=bool)
    bare[0, :3] = True
    context = ObservationContext(grid, fields, 4, Localization.from_pdaf(1500.0, 1500.0, 2),
                                 {"interfaces": INTERFACES, "theta_s": 0.45, "theta_r": 0.05,
                                  "bare_ground": bare})
    sections = [SatelliteSoilMoistureSection(footprint="radius", footprint_radius_m=800.0,
                                             spacing_cells=3),
                CRNSSection(count=5),
                LeafAreaIndexSection(spacing_cells=2),
                GroundwaterLevelSection(count=6, form="hydrostatic_head")]

    def forecast(op):
        return op.apply_shared(layout.stacked(ens, op.field), box, comm)

    types = []
    for module in build_modules(sections, context):
        network = module.network()
        truth_like = module.synthesis_operator(network).apply_shared(
            layout.stacked(ens, module.synthesis_operator(network).field), box, comm).mean(0)
        records = replace(network, value=truth_like + 0.05)
        types.append(module.observation_type(module.process(records, forecast)))
    analysis_step(make_filter("letkf"), ens, layout, grid, types, comm, boxes,
                  analysed_fields=["pressure_head", "leaf_biomass", "water_content"])
    out = {}
    for k in full:
        parts = comm.allgather(layout.view(ens, k))
        arr = np.empty_like(full[k])
        for b, p in zip(boxes, parts):
            arr[..., b.y0:b.y1, b.x0:b.x1] = p
        out[k] = arr
    return full, out, [t.value.size for t in types]


@pytest.mark.mpi(min_size=2)
def test_new_land_types_analyse_identically_on_any_number_of_ranks():
    from mpi4py import MPI

    prior, serial, counts = _analysis(MPI.COMM_SELF)
    _, split, split_counts = _analysis(MPI.COMM_WORLD)
    assert counts == split_counts and all(c > 0 for c in counts)
    for k in ("pressure_head", "leaf_biomass", "water_content"):
        assert np.max(np.abs(serial[k] - prior[k])) > 1e-4
        assert np.max(np.abs(serial[k] - split[k])) <= 1e-12

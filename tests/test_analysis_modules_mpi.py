"""Two analysis modules at one time give the same ensemble on any number of filter ranks: a
soil-moisture module (mask ``unsaturated`` per member, update ``both``, its own radius) and a
wells module (hydrostatic pseudo-observations, mask ``saturated`` over all members, log10 Ks
damped by half), with the derived variables recomputed in between."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

NZ, NY, NX, N = 4, 6, 8, 6
INTERFACES = np.array([0.0, 0.05, 0.15, 0.45, 1.05])


def _modules(comm):
    from models.landda.analysis_state import LandAnalysisState
    from models.landda.obs_groundwater_level import GroundwaterLevelSection
    from models.landda.obs_satellite_soil_moisture import SatelliteSoilMoistureSection
    from models.richards.retention import van_genuchten
    from pdafpy.cycle import AnalysisPart, CycleHooks, CycleOptions, CycleStep, analyse_part
    from pdafpy.decomposition import block_boxes, choose_process_grid
    from pdafpy.filters import make_filter
    from pdafpy.localize import Localization
    from pdafpy.model import FieldSpec, Grid
    from pdafpy.obs.module import ObservationContext, build_modules
    from pdafpy.state import StateLayout

    centres = 0.5 * (INTERFACES[1:] + INTERFACES[:-1])
    grid = Grid.uniform(NY, NX, dy=500.0, dx=500.0, z=centres)
    fields = (FieldSpec("pressure_head", NZ), FieldSpec("leaf_biomass", 1),
              FieldSpec("water_content", NZ, kind="diagnostic"),
              FieldSpec("water_table_depth", 1, kind="diagnostic"),
              FieldSpec("leaf_area_index", 1, kind="diagnostic"),
              FieldSpec("log10_ks", NZ, kind="parameter"))
    rng = np.random.default_rng(11)
    head = rng.normal(0.0, 0.3, (N, NZ, NY, NX)) + np.array([-0.5, -0.3, 0.0, 0.4])[
        None, :, None, None]
    full = {"pressure_head": head, "leaf_biomass": rng.uniform(0.05, 0.15, (N, 1, NY, NX)),
            "water_content": van_genuchten(head, 0.078, 0.43, 3.6, 1.56, derivatives=False)[0],
            "water_table_depth": rng.uniform(0.2, 0.6, (N, 1, NY, NX)),
            "leaf_area_index": rng.uniform(1.0, 3.0, (N, 1, NY, NX)),
            "log10_ks": -5.5 + rng.normal(0.0, 0.3, (N, NZ, NY, NX))}
    boxes = block_boxes(NY, NX, *choose_process_grid(comm.Get_size(), NY, NX))
    box = boxes[comm.Get_rank()]
    layout = StateLayout(fields, box)
    ens = np.empty((N, layout.size))
    for k, v in full.items():
        layout.view(ens, k)[:] = v[..., box.y0:box.y1, box.x0:box.x1]
    soil = {"theta_r": np.array(0.078), "theta_s": np.array(0.43), "alpha": np.array(3.6),
            "n": np.array(1.56)}
    land = LandAnalysisState(layout, soil, centres, float(INTERFACES[-1]), -100.0,
                             np.full((box.ny, box.nx), 20.0), np.zeros((box.ny, box.nx), bool))

    class Hooks(CycleHooks):
        def analysis_mask(self, part, runs, index):
            return land.mask(part.mask, runs, index)

        def reconcile(self, step, part, runs, received):
            land.reconcile(runs, received, part.update, part.fields)

    context = ObservationContext(grid, fields, 4, Localization.from_pdaf(1500.0, 1500.0, 2),
                                 {"interfaces": INTERFACES, "theta_s": 0.43, "theta_r": 0.078,
                                  "bare_ground": np.zeros((NY, NX), bool)})
    sections = [SatelliteSoilMoistureSection(footprint="radius", footprint_radius_m=800.0,
                                             spacing_cells=2),
                GroundwaterLevelSection(count=6, form="hydrostatic_head")]
    analysed = ("pressure_head", "water_content", "water_table_depth")
    parts = [AnalysisPart((0,), analysed, name="soil_moisture", radius_m=3000.0,
                          mask="unsaturated", update="both"),
             AnalysisPart((1,), analysed + ("log10_ks",), damping={"log10_ks": 0.5},
                          name="wells", mask="saturated", mask_members="all_members")]
    parameters = np.zeros(layout.size, bool)
    parameters[layout.field_slice("log10_ks")] = True
    step = CycleStep(0, 0.0, 86400.0, [0, 1])
    filt = make_filter("letkf")
    for module, part in zip(build_modules(sections, context), parts):
        def forecast(op):
            return op.apply_shared(layout.stacked(ens, op.field), box, comm)
        network = module.network()
        op = module.synthesis_operator(network)
        truth_like = op.apply_shared(layout.stacked(ens, op.field), box, comm).mean(0)
        records = replace(network, value=truth_like + 0.03)
        types = [module.observation_type(module.process(records, forecast))]
        index = np.unique(layout.column_indices(part.fields))
        analyse_part(filt, part, types, ens, N, layout, grid, comm, boxes, Hooks(), step,
                     CycleOptions(rtps=0.5), True, index, parameters)
    out = {}
    for k in full:
        pieces = comm.allgather(layout.view(ens, k))
        arr = np.empty_like(full[k])
        for b, p in zip(boxes, pieces):
            arr[..., b.y0:b.y1, b.x0:b.x1] = p
        out[k] = arr
    return full, out


@pytest.mark.mpi(min_size=2)
def test_two_masked_modules_are_identical_on_any_number_of_filter_ranks():
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    before, distributed = _modules(comm)
    serial = _modules(MPI.COMM_SELF)[1] if comm.Get_rank() == 0 else None
    serial = comm.bcast(serial, root=0)
    for k in before:
        scale = max(1.0, float(np.max(np.abs(serial[k]))))
        assert np.max(np.abs(distributed[k] - serial[k])) <= 1e-12 * scale, k
    changed = np.abs(serial["pressure_head"] - before["pressure_head"]) > 0
    assert changed.any() and not changed.all()
    assert np.any(serial["log10_ks"] != before["log10_ks"])


def test_two_masked_modules_on_one_rank_keep_the_masks():
    """The serial run of the same modules: a cell saturated in some but not every member is
    changed by neither module where the masks exclude it."""
    from mpi4py import MPI

    before, after = _modules(MPI.COMM_SELF)
    sat = before["pressure_head"] >= 0
    mixed = sat.any(axis=0) & ~sat.all(axis=0)                  # (NZ, NY, NX)
    # wells (saturated, all members) leave mixed cells; soil moisture changes only the members
    # in which the cell is unsaturated: the saturated members of a mixed cell keep their head
    # unless the soil-moisture module's write-back of 'both' rewrote a cell it changed
    untouched = np.broadcast_to(mixed, sat.shape) & sat
    assert np.array_equal(after["log10_ks"][untouched], before["log10_ks"][untouched])

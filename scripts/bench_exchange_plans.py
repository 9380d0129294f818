"""Communication at scale without a cluster: the exchange plans of one analysis, counted.

Counts, per rank and without running a model (:mod:`pdafpy.exchange_plan`), the bytes and
messages of the observation halo of the local filters (LESTKF/LETKF), of an allgather of all
observations (what the LEnKF and the serial filters do by design) and of the ensemble collect and
distribute, for

weak scaling
    fixed 32 x 32-column blocks per filter rank at 1 km spacing, an observation at every 2nd column
    and row (256 per block), cut-off 10 km, N = 32, 30 values per column, 4 model tasks, from 16 to
    4096 filter ranks (``--weak-ranks``);
strong scaling
    Z25's grid (300 x 300 columns at 500 m, 30 layers, N = 32; SMAP at 9 km = every 18th column,
    and a dense network at every 2nd column, cut-off 10 km = 20 cells) and LI's grid
    (100 x 162 columns at 500 m, 25 layers, N = 128; 78 groundwater wells at 5 km and 12 CRNS
    sites at 100 km; seeded random columns, the sites are not published).

Prints tables, writes JSON (``--json``) and a PNG plot (``--plot``).

``--verify`` runs the real exchanges instead (under mpirun, any number of ranks the layout
allows) and checks, rank by rank, that the plan's bytes and messages are exactly what moved::

    mpirun -n 64 --oversubscribe python scripts/bench_exchange_plans.py --verify --tasks 2

Usage::

    python scripts/bench_exchange_plans.py --json out/exchange_plans.json \
        --plot out/exchange_plans.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from pdafpy.exchange_plan import (ExchangePlan, PlannedObservations, every_kth_column,
                                  plan_exchanges)
from pdafpy.localize import Localization
from pdafpy.model import Grid

LEFT_OFF = ("LEnKF and the serial EnSRF/EAKF gather every observation by design: their cost is "
            "the allgather column. A cut-off that spans the domain (LI's CRNS at 100 km) makes "
            "the halo an allgather for that type.")


# -- the problems ------------------------------------------------------------------------------
def weak_case(ranks: int, block: int = 32, stride: int = 2, radius_m: float = 10_000.0,
              spacing_m: float = 1_000.0) -> tuple[Grid, list[PlannedObservations],
                                                   tuple[int, int]]:
    """Grid, network and process grid of ``ranks`` blocks of ``block`` x ``block`` columns."""
    py = 2 ** (int(np.log2(ranks)) // 2)
    px = ranks // py
    grid = Grid.uniform(block * py, block * px, spacing_m, spacing_m)
    obs = [PlannedObservations("every 2nd column", every_kth_column(grid, stride),
                               Localization.from_pdaf(radius_m))]
    return grid, obs, (py, px)


def random_columns(grid: Grid, n: int, seed: int) -> np.ndarray:
    """``(n, 2)`` coordinates of ``n`` distinct columns drawn with ``seed``."""
    flat = np.random.default_rng(seed).choice(grid.ny * grid.nx, size=n, replace=False)
    rows, cols = np.divmod(flat, grid.nx)
    return np.column_stack([grid.x[cols], grid.y[rows]])


def strong_cases() -> list[dict[str, Any]]:
    """Z25 and LI: grid, members, values per column and observation networks."""
    z25 = Grid.uniform(300, 300, 500.0, 500.0)
    li = Grid.uniform(100, 162, 500.0, 500.0)
    wells = PlannedObservations("GWL wells", random_columns(li, 78, 1),
                                Localization.from_pdaf(5_000.0))
    crns = PlannedObservations("CRNS", random_columns(li, 12, 2), Localization.from_pdaf(100_000.0))
    return [
        dict(case="Z25", network="SMAP 9 km (every 18th column), 10 km", grid=z25, members=32,
             per_column=30, obs=[PlannedObservations(
                 "SMAP", every_kth_column(z25, 18, 9), Localization.from_pdaf(10_000.0))]),
        dict(case="Z25", network="every 2nd column, 10 km", grid=z25, members=32, per_column=30,
             obs=[PlannedObservations("dense", every_kth_column(z25, 2),
                                      Localization.from_pdaf(10_000.0))]),
        dict(case="LI", network="78 wells, 5 km", grid=li, members=128, per_column=25,
             obs=[wells]),
        dict(case="LI", network="78 wells 5 km + 12 CRNS 100 km", grid=li, members=128,
             per_column=25, obs=[wells, crns]),
    ]


# -- one row of a table ------------------------------------------------------------------------
def interior(plan: ExchangePlan, grid: Grid) -> np.ndarray:
    """Filter ranks whose block touches no edge of the domain."""
    return np.array([r for r, b in enumerate(plan.filter_boxes)
                     if b.y0 > 0 and b.x0 > 0 and b.y1 < grid.ny and b.x1 < grid.nx],
                    dtype=np.int64)


def record(plan: ExchangePlan, grid: Grid, n_tasks: int, **label: Any) -> dict[str, Any]:
    """The figures of one plan: per-rank maxima and means [bytes, messages]."""
    halo, ag, tr = plan.halo, plan.allgather, plan.transfer
    inner = interior(plan, grid)
    fw = tr.filter_world_ranks
    model = np.setdiff1d(np.arange(tr.collect.n_ranks), fw)     # model ranks off the filter
    rec = dict(label, filter_ranks=halo.n_ranks, world_ranks=tr.collect.n_ranks, tasks=n_tasks,
               columns=grid.ny * grid.nx, max_block=max(b.size for b in plan.filter_boxes),
               observations=int(halo.owned_obs.sum()), payload_bytes=halo.payload_bytes,
               halo=halo.summary(), halo_interior=halo.summary(inner) if inner.size else None,
               partners_max=int(halo.partners.max()),
               received_obs_max=int(halo.received_obs.max()),
               allgather=ag.summary(),
               collect_filter=tr.collect.summary(fw), collect_model=tr.collect.summary(model),
               distribute_filter=tr.distribute.summary(fw))
    h, a = rec["halo"]["bytes_received_max"], rec["allgather"]["bytes_received_max"]
    rec["allgather_over_halo"] = a / h if h else float("inf")
    return rec


def weak_scaling(ranks: Sequence[int], n_tasks: int, radius_m: float) -> list[dict[str, Any]]:
    """One record per filter-rank count, fixed blocks per rank."""
    rows = []
    for p in ranks:
        grid, obs, pg = weak_case(p, radius_m=radius_m)
        plan = plan_exchanges(grid, obs, 32, p, n_tasks, state_per_column=30, process_grid=pg)
        rows.append(record(plan, grid, n_tasks, study="weak", case="32x32 blocks",
                           network=f"every 2nd column, {radius_m / 1e3:g} km"))
    return rows


def strong_scaling(ranks: Sequence[int], n_tasks: int) -> list[dict[str, Any]]:
    """One record per case, network and filter-rank count."""
    rows = []
    for c in strong_cases():
        for p in ranks:
            if p > c["grid"].ny * c["grid"].nx // 4:
                continue
            plan = plan_exchanges(c["grid"], c["obs"], c["members"], p, n_tasks,
                                  state_per_column=c["per_column"])
            rows.append(record(plan, c["grid"], n_tasks, study="strong", case=c["case"],
                               network=c["network"]))
    return rows


# -- printing ----------------------------------------------------------------------------------
def kb(n: float) -> str:
    """Bytes as kB (1000 bytes) with 1 decimal."""
    return f"{n / 1e3:.1f}"


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    """The table of one study, one line per record."""
    print(f"{'case':6s} {'network':34s} {'P':>5s} {'obs':>8s} {'halo max':>9s} "
          f"{'inner mean':>10s} {'all mean':>9s} {'partn':>5s} {'msgs':>4s} "
          f"{'allgather':>11s} {'ratio':>7s} {'collect':>9s}")
    for r in rows:
        inner = r["halo_interior"]["bytes_received_mean"] if r["halo_interior"] else float("nan")
        print(f"{r['case']:6s} {r['network']:34s} {r['filter_ranks']:5d} {r['observations']:8d} "
              f"{kb(r['halo']['bytes_received_max']):>9s} {kb(inner):>10s} "
              f"{kb(r['halo']['bytes_received_mean']):>9s} {r['partners_max']:5d} "
              f"{r['halo']['messages_received_max']:4d} "
              f"{kb(r['allgather']['bytes_received_max']):>11s} "
              f"{r['allgather_over_halo']:7.1f} "
              f"{kb(r['collect_filter']['bytes_received_max']):>9s}")


def plot(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Bytes received per rank (maximum) against filter ranks: halo plan and allgather."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["study"], r["case"], r["network"]), []).append(r)
    fig, axes = plt.subplots(1, 2, figsize=(15, 5.5))
    for (study, case, network), rs in groups.items():
        ax = axes[0 if study == "weak" else 1]
        p = [r["filter_ranks"] for r in rs]
        line, = ax.loglog(p, [r["halo"]["bytes_received_max"] for r in rs], "o-",
                          label=f"{case}, {network}: halo")
        ax.loglog(p, [r["allgather"]["bytes_received_max"] for r in rs], "s--",
                  color=line.get_color(), alpha=0.6, label=f"{case}, {network}: allgather")
    for ax, title in zip(axes, ("weak scaling (32 x 32 columns per rank)",
                                "strong scaling (Z25, LI)")):
        ax.set_xlabel("filter ranks")
        ax.set_ylabel("bytes received per rank (max)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, -0.14), ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


# -- the check against real runs ---------------------------------------------------------------
class CountingComm:
    """A communicator that counts the point-to-point messages and bytes passing through it."""

    def __init__(self, comm: Any):
        self._comm = comm
        # messages and bytes: sent, received (other ranks); sent to itself
        self.counts = np.zeros(6, dtype=np.int64)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._comm, name)

    def Isend(self, buf: np.ndarray, dest: int, tag: int = 0) -> Any:
        if dest == self._comm.Get_rank():
            self.counts[4:6] += (1, buf.nbytes)
        else:
            self.counts[0:2] += (1, buf.nbytes)
        return self._comm.Isend(buf, dest=dest, tag=tag)

    def Irecv(self, buf: np.ndarray, source: int, tag: int = 0) -> Any:
        if source != self._comm.Get_rank():
            self.counts[2:4] += (1, buf.nbytes)
        return self._comm.Irecv(buf, source=source, tag=tag)


def check_problem(ny: int = 40, nx: int = 48, spacing: tuple[float, float] = (2.0, 1.5),
                  radii: Sequence[float] = (3.0, 8.0), stride: int = 2, between: int = 90,
                  vertical: bool = True, seed: int = 7) -> tuple[Grid, list]:
    """A grid (``spacing`` = (dy, dx)) and two types: grid points at every ``stride``-th column
    and row (with ``[top, bottom]`` when ``vertical``; cut-off ``radii[0]``) and ``between``
    random points between columns (bilinear; cut-off ``radii[1]``; none when 0)."""
    from pdafpy.obs.operators import bilinear, grid_point
    from pdafpy.obs.types import ObservationType

    grid = Grid.uniform(ny, nx, dy=spacing[0], dx=spacing[1])
    rng = np.random.default_rng(seed)
    rows, cols = (a.ravel() for a in np.meshgrid(np.arange(0, ny, stride),
                                                 np.arange(0, nx, stride), indexing="ij"))
    m = rows.size
    types = [ObservationType("points", rng.normal(size=m), np.full(m, 0.5),
                             np.column_stack([grid.x[cols], grid.y[rows]]),
                             grid_point("f", rows, cols), Localization.from_pdaf(radii[0]),
                             vertical_range=np.tile([0.0, 0.05], (m, 1)) if vertical else None)]
    if between:
        x = rng.uniform(grid.x[0], grid.x[-1], between)
        y = rng.uniform(grid.y[0], grid.y[-1], between)
        types.append(ObservationType("between", rng.normal(size=between), np.full(between, 0.3),
                                     np.column_stack([x, y]), bilinear("f", grid, x, y),
                                     Localization.from_pdaf(radii[-1])))
    return grid, types


def measure_exchanges(world: Any, tasks: int = 1, filter_ranks: int = 0, n_members: int = 5,
                      levels: int = 3, **problem: Any) -> tuple[ExchangePlan, list[tuple]]:
    """Run collect, the observation halo and distribute on ``world`` (collective).

    Returns the plan of the problem (:func:`check_problem`) and, per world rank, what moved:
    ``(filter rank or None, halo, collect, distribute)`` with ``halo`` = HaloStats' partners,
    sent_obs, received_obs, bytes_sent, bytes_received, the owned observations and the messages
    and bytes counted at the communicator (sent, received), and ``collect`` / ``distribute`` =
    :attr:`CountingComm.counts`.
    """
    from pdafpy.decomposition import block_boxes, choose_process_grid
    from pdafpy.halo import exchange_observations
    from pdafpy.model import FieldSpec
    from pdafpy.obs.observe import observe_owned
    from pdafpy.parallel import make_layout
    from pdafpy.state import StateLayout
    from pdafpy.transfer import EnsembleTransfer

    grid, types = check_problem(**problem)
    layout = make_layout(world, tasks, n_members, filter_ranks)
    model_boxes = block_boxes(grid.ny, grid.nx, *choose_process_grid(layout.ranks_per_task,
                                                                     grid.ny, grid.nx))
    filter_boxes = model_boxes if not filter_ranks else block_boxes(
        grid.ny, grid.nx, *choose_process_grid(filter_ranks, grid.ny, grid.nx))
    fields = (FieldSpec("f", levels),)
    transfer = EnsembleTransfer(layout, fields,
                                model_boxes[layout.model_rank] if layout.is_model else None,
                                filter_boxes[layout.filter_rank] if layout.is_filter else None)
    transfer.comm = CountingComm(transfer.comm)
    task_ens = None
    if layout.is_model:
        task_ens = np.random.default_rng(world.Get_rank()).normal(
            size=(len(layout.members), transfer.model_layout.size))
    ens = transfer.collect(task_ens)
    collect = transfer.comm.counts.copy()
    halo = np.zeros(10, dtype=np.int64)
    if layout.is_filter:
        box = filter_boxes[layout.filter_rank]
        owned = observe_owned(types, ens, StateLayout(fields, box), grid, layout.comm_filter,
                              filter_boxes)
        counting = CountingComm(layout.comm_filter)
        _, stats = exchange_observations(counting, owned, grid.column_coords(box),
                                         [t.localization for t in types])
        halo = np.concatenate([[stats.partners, stats.sent_obs, stats.received_obs,
                                stats.bytes_sent, stats.bytes_received, owned.size],
                               counting.counts[:4]])
    transfer.distribute(ens)
    distribute = transfer.comm.counts - collect
    got = world.allgather((layout.filter_rank, halo, collect, distribute))
    layout.free()
    plan = plan_exchanges(grid, [PlannedObservations.from_type(t) for t in types], n_members,
                          layout.ranks_per_task, tasks, filter_ranks, state_per_column=levels)
    return plan, got


def check_exchanges(world: Any, tasks: int = 1, filter_ranks: int = 0,
                    **problem: Any) -> tuple[list[str], dict[str, int]]:
    """The real exchanges against the plan on every rank (collective).

    Returns the mismatches (empty when the plan is exact) and what moved in all (bytes received
    by the halo, sent off-rank by collect and distribute; the halo's most partners).
    """
    plan, got = measure_exchanges(world, tasks, filter_ranks, **problem)
    moved = {"halo_bytes": int(sum(g[1][4] for g in got)),
             "halo_bytes_received_max": int(max(g[1][4] for g in got)),
             "halo_partners_max": int(max(g[1][0] for g in got)),
             "collect_bytes": int(sum(g[2][1] for g in got)),
             "distribute_bytes": int(sum(g[3][1] for g in got))}
    return compare(plan, got), moved


def compare(plan: ExchangePlan, got: Sequence[tuple]) -> list[str]:
    """Differences between the plan and what every world rank measured."""
    bad = []
    h = plan.halo
    for w, (fr, halo, collect, distribute) in enumerate(got):
        if fr is not None:
            want = [h.partners[fr], h.sent_obs[fr], h.received_obs[fr], h.bytes_sent[fr],
                    h.bytes_received[fr], h.owned_obs[fr], h.messages_sent[fr],
                    h.bytes_sent[fr], h.messages_received[fr], h.bytes_received[fr]]
            if not np.array_equal(halo, want):
                bad.append(f"filter rank {fr}: halo measured {halo.tolist()}, planned "
                           f"{[int(v) for v in want]}")
        for name, meas in (("collect", collect), ("distribute", distribute)):
            c = getattr(plan.transfer, name)
            want = [c.messages_sent[w], c.bytes_sent[w], c.messages_received[w],
                    c.bytes_received[w], int(c.self_bytes[w] > 0), c.self_bytes[w]]
            if not np.array_equal(meas, want):
                bad.append(f"world rank {w}: {name} measured {meas.tolist()}, planned "
                           f"{[int(v) for v in want]}")
    return bad


def verify(args: argparse.Namespace) -> int:
    """``--verify``: the real exchanges against the plan on this run's ranks."""
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    t0 = MPI.Wtime()
    if args.weak:          # the weak-scaling problem: 32 x 32 columns per rank, 1 km, one type
        py = 2 ** (int(np.log2(world.Get_size())) // 2)
        problem = dict(ny=32 * py, nx=32 * (world.Get_size() // py), spacing=(1e3, 1e3),
                       radii=(1e3 * args.radius_km,) * 2, between=0, vertical=False,
                       n_members=32)
    else:
        problem = dict(radii=tuple(args.check_radii), n_members=max(5, args.tasks))
    bad, moved = check_exchanges(world, args.tasks, args.filter_ranks, **problem)
    if world.Get_rank() == 0:
        print(f"{world.Get_size()} ranks, {args.tasks} task(s), {args.filter_ranks} separate "
              f"filter ranks, {problem}: "
              f"{'plan exact on every rank' if not bad else f'{len(bad)} MISMATCHES'} "
              f"({MPI.Wtime() - t0:.1f} s); moved {moved}")
        for line in bad[:20]:
            print("  " + line)
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", type=Path, help="write the records to this file")
    parser.add_argument("--plot", type=Path, help="write a PNG plot to this file")
    parser.add_argument("--weak-ranks", type=int, nargs="+",
                        default=[16, 32, 64, 128, 256, 512, 1024, 2048, 4096])
    parser.add_argument("--strong-ranks", type=int, nargs="+",
                        default=[4, 16, 64, 256, 1024, 4096])
    parser.add_argument("--radius-km", type=float, default=10.0, help="weak-scaling cut-off")
    parser.add_argument("--tasks", type=int, default=4, help="model tasks")
    parser.add_argument("--verify", action="store_true",
                        help="run the real exchanges under mpirun and compare with the plan")
    parser.add_argument("--filter-ranks", type=int, default=0,
                        help="--verify: separate filter ranks")
    parser.add_argument("--check-radii", type=float, nargs=2, default=[3.0, 8.0],
                        help="--verify: cut-offs of the two observation types [grid units]")
    parser.add_argument("--weak", action="store_true",
                        help="--verify: the weak-scaling problem (use with --tasks 1, a square "
                        "or 2:1 rank count)")
    args = parser.parse_args()
    if args.verify:
        return verify(args)
    weak = weak_scaling(args.weak_ranks, args.tasks, 1e3 * args.radius_km)
    print("weak scaling: bytes received per filter rank [kB] (halo: max, interior-rank mean, "
          "all-rank mean), allgather max [kB], ratio allgather/halo, collect per filter rank [kB]")
    print_table(weak)
    flat = [r["halo"]["bytes_received_max"] for r in weak]
    print(f"halo max per rank {min(flat)}..{max(flat)} bytes: spread "
          f"{100 * (max(flat) / min(flat) - 1):.1f} %")
    strong = strong_scaling(args.strong_ranks, args.tasks)
    print("\nstrong scaling (same columns)")
    print_table(strong)
    print("\n" + LEFT_OFF)
    if args.json:
        from pdafpy.atomic import write_json
        write_json(args.json, {"weak": weak, "strong": strong, "note": LEFT_OFF})
    if args.plot:
        plot(weak + strong, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())

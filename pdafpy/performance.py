"""A performance model of an assimilation run: core-hours, wall time, nodes and memory per rank,
from costs measured on small runs (docs/scaling.md has the calibration and its uncertainty).

The model, per simulated period of ``hours`` with ``analyses`` analyses, ``R`` runs (members,
open loop, truth) of a model on ``C = nx ny nz`` cells, ``N`` analysed members, ``D = nx ny``
local domains (columns) of ``n`` state elements each and about ``m`` local observations:

- **forecast** ``C hours R c_f / e_m`` core-seconds, ``c_f`` the model's cost per cell, hour and
  run on one core (it depends on the weather: a benign day, a storm, a draining water table)
  and ``e_m`` the parallel efficiency of a model task over its ranks;
- **analysis** ``analyses D (a(m) + b n N^2)`` core-seconds: ``a(m)`` the transform of a domain
  with ``m`` local observations (an ``m x m`` eigenproblem when ``m < N - 1``), scaled as
  ``(m / m_0)^3`` from the calibration, and ``b n N^2`` applying it to the domain's state;
- **exchange** per analysis: collect and distribute move every run's state once each way,
  ``2 R D n 8`` bytes, at ``bandwidth`` bytes per second per rank, and the observation halo
  ``halo_bytes`` per rank (:mod:`pdafpy.exchange_plan` counts them);
- **output** ``records x fields x C x 8 x 2`` bytes (mean and spread) at ``io_bandwidth``.

Wall time is the sum of the phases divided by the cores each phase uses (the forecast over all
model ranks, the analysis over the filter ranks); core-hours are wall time times cores.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Costs", "Setup", "Prediction", "predict"]

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Costs:
    """Calibrated unit costs (docs/scaling.md).

    Attributes
    ----------
    forecast_s : float
        Model cost per cell, simulated hour and run on one core [s].
    model_efficiency : float
        Parallel efficiency of a model task over its ranks, in (0, 1].
    transform_s : float
        Transform of one local domain with ``transform_m`` local observations [s].
    transform_m : float
        Local observations of the calibration.
    apply_s : float
        Applying a transform, per state element and member squared [s].
    bandwidth : float
        Bytes per second per rank of the collect/distribute and halo messages.
    latency_s : float
        Seconds per message.
    io_bandwidth : float
        Bytes per second of the output, for the whole run.
    """

    forecast_s: float
    model_efficiency: float = 1.0
    transform_s: float = 8.5e-6
    transform_m: float = 16.0
    apply_s: float = 5e-9
    bandwidth: float = 5e9
    latency_s: float = 2e-6
    io_bandwidth: float = 2e8


@dataclass(frozen=True)
class Setup:
    """A planned run.

    Attributes
    ----------
    nx, ny, nz : int
        Columns and layers.
    runs, members : int
        Runs advanced (members, open loop, truth) and members analysed.
    hours : float
        Simulated hours.
    analyses : int
        Analyses in that time.
    elements_per_column : int
        State elements per column (the analysis domain).
    local_obs : float
        Local observations per domain.
    cores : int
        Cores of the run (all of them advance the model and analyse).
    halo_bytes : float
        Observation halo bytes per rank and analysis.
    halo_messages : float
        Halo messages per rank and analysis.
    records : int
        Output records in the run.
    output_fields : int
        Layered fields written per record.
    """

    nx: int
    ny: int
    nz: int
    runs: int
    members: int
    hours: float
    analyses: int
    elements_per_column: int
    local_obs: float
    cores: int
    halo_bytes: float = 0.0
    halo_messages: float = 0.0
    records: int = 0
    output_fields: int = 2


@dataclass(frozen=True)
class Prediction:
    """What :func:`predict` gives.

    Attributes
    ----------
    seconds : dict of str to float
        Wall time per phase [s]: ``forecast``, ``analysis``, ``exchange``, ``output``.
    wall_s : float
    core_hours : float
    analysis_fraction : float
        The analysis's share of the wall time.
    core_s_per_cell_hour : float
        Core-seconds per cell and simulated hour, the whole system.
    """

    seconds: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    core_hours: float = 0.0
    analysis_fraction: float = 0.0
    core_s_per_cell_hour: float = 0.0


def predict(setup: Setup, costs: Costs) -> Prediction:
    """The run's cost under the model of the module notes."""
    s, c = setup, costs
    cells = s.nx * s.ny * s.nz
    domains = s.nx * s.ny
    forecast = cells * s.hours * s.runs * c.forecast_s / (s.cores * c.model_efficiency)
    per_domain = c.transform_s * (s.local_obs / c.transform_m) ** 3 \
        + c.apply_s * s.elements_per_column * s.members ** 2
    analysis = s.analyses * domains * per_domain / s.cores
    moved = 2.0 * s.runs * domains * s.elements_per_column * 8.0 / s.cores
    exchange = s.analyses * (moved / c.bandwidth + s.halo_bytes / c.bandwidth
                             + (s.halo_messages + 2.0) * c.latency_s)
    output = s.records * s.output_fields * cells * 8.0 * 2.0 / c.io_bandwidth
    seconds = {"forecast": forecast, "analysis": analysis, "exchange": exchange,
               "output": output}
    wall = sum(seconds.values())
    return Prediction(seconds, wall, wall * s.cores / SECONDS_PER_HOUR,
                      analysis / wall if wall else 0.0,
                      wall * s.cores / (cells * s.hours) if cells and s.hours else 0.0)

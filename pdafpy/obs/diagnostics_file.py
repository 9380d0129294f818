"""Observation-space diagnostics of every analysis: pdafpy's observation file, plus columns.

The file is an observation file (:mod:`pdafpy.obs.files`: ``time``, ``x``, ``y``, ``depth``,
``value``, ``error_std``, ``type``, ``qc``, ``station``, and ``sensor`` where a table is named,
along ``obs``), readable as one, with four more variables per observation, in the manner of
DART's ``obs_seq.final``:

=================  ===========================================================================
variable           meaning
=================  ===========================================================================
forecast_mean      the operator applied to the forecast ensemble mean
analysis_mean      the operator applied to the analysis ensemble mean
innovation         value - forecast_mean
residual           value - analysis_mean (observation minus analysis)
=================  ===========================================================================

Every observation of an analysis's windows is written, the assimilated ones (``qc`` 0) and those
withheld or rejected; ``rejected_by`` names the quality-control rule that rejected one during the
run ("" where none, or where the file itself flagged it). Like every pdafpy output, it is written in segments, one per checkpoint
interval (:mod:`pdafpy.segments`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .files import ObservationWriter
from .records import ObservationRecords

__all__ = ["ObservationDiagnosticsWriter", "WindowObservations"]

_DIAGNOSTICS = {"forecast_mean": "operator applied to the forecast ensemble mean",
                "analysis_mean": "operator applied to the analysis ensemble mean",
                "innovation": "observation minus forecast mean",
                "residual": "observation minus analysis mean"}


@dataclass
class WindowObservations:
    """What an analysis observed, per due type, for its diagnostics: the records of the type's
    window (assimilated, withheld and rejected), their operator and that operator on the
    forecast ensemble mean ``(m,)``."""

    records: list[ObservationRecords] = field(default_factory=list)
    operators: list[Any] = field(default_factory=list)
    forecast_mean: list[np.ndarray] = field(default_factory=list)


class ObservationDiagnosticsWriter(ObservationWriter):
    """Append observations and their diagnostics; call on one rank only.

    Parameters
    ----------
    path : Path
        Final file name (``.nc``).
    start : str
        The run's start (ISO 8601).
    units : mapping
        Each type's units (the diagnostics share them).
    attributes : mapping, optional
        Global attributes.
    sensors : bool
        Write each record's sensor label (``sensor``).
    """

    def __init__(self, path: Path | str, start: str, units: Mapping[str, str],
                 attributes: Mapping[str, str] | None = None, sensors: bool = False):
        super().__init__(path, start, units, dict(attributes or {}, title=(
            attributes or {}).get("title", "pdafpy observation-space diagnostics")),
            sensors=sensors)

    def _add_variables(self, ds: Any) -> None:
        for name, long_name in _DIAGNOSTICS.items():
            var = ds.createVariable(name, "f8", ("obs",), zlib=True)
            var.long_name = long_name
            var.units = ds["value"].units
        ds.createVariable("rejected_by", str, ("obs",)).long_name = (
            "the quality-control rule that rejected the observation during the run ('' where "
            "none)")

    def write_diagnostics(self, records: ObservationRecords, forecast_mean: np.ndarray,
                          analysis_mean: np.ndarray) -> None:
        """Append ``records`` with the operator on the forecast and analysis means, each
        ``(m,)`` in the records' order."""
        self.write(records, {"forecast_mean": forecast_mean, "analysis_mean": analysis_mean,
                             "innovation": records.value - forecast_mean,
                             "residual": records.value - analysis_mean,
                             "rejected_by": records.rejected_by.astype(object)})

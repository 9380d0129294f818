"""Skill per phase of a land run that assimilates, then forecasts freely (``[schedule]
assimilate_until_days``).

The cycle analyses up to the cut and then runs every group freely to the end, still stopping at
the schedule's (would-be) analysis times (:class:`pdafpy.cycle.CycleOptions`). The land twin
scores every such time as before, for the whole run (``summary.json``'s ``variables``), and
here also per phase: ``assimilation`` (the analysis times up to the cut) and ``free_forecast``
(the times after it, where the run that was assimilated is a forecast from its last analysis),
with the free forecast's RMSE per time beside the open loop's, so that one sees how long the
gain of the analyses lasts.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from .scoring import Skill

__all__ = ["PHASES", "PhasedSkill", "phase_summary"]

#: The phases of a run with a cut: the analysis times up to it, the would-be ones after it.
PHASES = ("assimilation", "free_forecast")


class PhasedSkill(Skill):
    """The skill of the whole run (as :class:`~models.landda.scoring.Skill`), of each of
    :data:`PHASES`, and the series of the free forecast's error (filter rank 0).

    :meth:`set_phase` says which phase and day the following :meth:`add` calls belong to.

    Attributes
    ----------
    phases : dict
        Phase -> :class:`~models.landda.scoring.Skill` of its analysis times.
    days : list of float
        The free forecast's scored times [d since the start].
    series : dict
        ``LABEL`` -> ``{"assimilation": [...], "open_loop": [...]}``: per time of ``days``, the
        RMSE over cells (or wells) of the ensemble mean of the run that was assimilated and of
        the open loop against the truth [the diagnostic's unit].
    """

    def __init__(self) -> None:
        super().__init__()
        self.phases = {p: Skill() for p in PHASES}
        self.phase = PHASES[0]
        self.days: list[float] = []
        self.series: dict[str, dict[str, list[float]]] = {}

    def set_phase(self, phase: str, day: float) -> None:
        """The phase (one of :data:`PHASES`) and the day [d since the start] of the next
        :meth:`add` calls."""
        if phase not in PHASES:
            raise ValueError(f"phase {phase!r}: expected one of {PHASES}")
        self.phase = phase
        if phase == "free_forecast":
            self.days.append(float(day))

    def add(self, label: str, estimates: Mapping[str, np.ndarray], truth: np.ndarray,
            spreads: Mapping[str, np.ndarray] | None = None) -> None:
        super().add(label, estimates, truth, spreads)
        self.phases[self.phase].add(label, estimates, truth, spreads)
        if self.phase != "free_forecast":
            return
        entry = self.series.setdefault(label, {"assimilation": [], "open_loop": []})
        for run, name in (("da", "assimilation"), ("ol", "open_loop")):
            error = np.asarray(estimates[run], dtype=float) - np.asarray(truth, dtype=float)
            finite = np.isfinite(error)
            entry[name].append(float(np.sqrt(np.mean(error[finite] ** 2))) if finite.any()
                               else float("nan"))

    def state(self) -> dict:
        """Its arrays, for a checkpoint (the series grows by one value per label and time of
        the free forecast)."""
        return dict(super().state(), phases={p: s.state() for p, s in self.phases.items()},
                    days=np.asarray(self.days, dtype=float),
                    series={label: {k: np.asarray(v, dtype=float) for k, v in e.items()}
                            for label, e in self.series.items()})

    def restore(self, saved: Mapping[str, Any]) -> None:
        """Inverse of :meth:`state`."""
        super().restore(saved)
        for p, s in saved.get("phases", {}).items():
            self.phases[p].restore(s)
        self.days = [float(d) for d in np.ravel(saved.get("days", []))]
        self.series = {label: {k: [float(x) for x in np.ravel(v)] for k, v in e.items()}
                       for label, e in saved.get("series", {}).items()}


def phase_summary(skill: PhasedSkill, cut_days: float) -> dict[str, Any]:
    """What ``summary.json`` adds for a run with a cut: ``phases`` (per phase, the variables'
    table of the whole run's ``variables``; a phase without a scored time is empty), and
    ``free_forecast_rmse`` (``days`` and, per diagnostic, the series of :class:`PhasedSkill`;
    NaN written as null)."""
    from .summary import variable_table

    series: dict[str, Any] = {"days": list(skill.days)}
    for label, entry in skill.series.items():
        series[label] = {run: [v if np.isfinite(v) else None for v in values]
                         for run, values in entry.items()}
    return {"assimilate_until_days": cut_days,
            "phases": {p: variable_table(s) for p, s in skill.phases.items()},
            "free_forecast_rmse": series}

"""What an application adds to the assimilation cycle: :class:`CycleHooks`, and the
:class:`CycleStep` and :class:`Observed` the cycle hands it (see :mod:`pdafpy.cycle.loop`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ..errors import ConfigError
from ..obs.types import ObservationType
from .parts import AnalysisPart

__all__ = ["CycleHooks", "CycleStep", "Observed"]


@dataclass(frozen=True)
class CycleStep:
    """One analysis of the schedule.

    Attributes
    ----------
    index : int
        Analysis counter (0-based); keys random draws.
    t0, t1 : float
        The forecast window ``(t0, t1]`` [model time units].
    due : list of int
        Observation types due at ``t1`` (their indices in the application's type list).
    assimilate : bool
        Whether the cycle analyses at ``t1``: False after :attr:`CycleOptions.assimilate_until`,
        where ``t1`` is a would-be analysis time of the free forecast.
    """

    index: int
    t0: float
    t1: float
    due: list[int]
    assimilate: bool = True


@dataclass
class Observed:
    """What a window holds, from :meth:`CycleHooks.observe`.

    Attributes
    ----------
    types : list of ObservationType
        The observations to assimilate in this window (the default analysis plan uses them all
        at once; :meth:`CycleHooks.plan` refers to them by position).
    details : Any
        Whatever the application keeps for its records (e.g. withheld values).
    used, rejected : int
        Observations the analysis used and left out by the innovation check (all filter ranks),
        filled in by the cycle.
    """

    types: list[ObservationType]
    details: Any = None
    used: int = 0
    rejected: int = 0


class CycleHooks:
    """What an application adds to the cycle. Methods run on the filter ranks (their
    ``ens`` is the rank's block of every run, ``(groups.total, n_state)``) unless noted.

    Subclasses implement :meth:`observe`; the others default to doing nothing.
    """

    #: Whether :meth:`record_analysis` wants the ensemble as the model holds it once loaded
    #: (derived variables recomputed, analysed values reconciled); costs one load per run.
    records_loaded_state: bool = False
    #: Whether :meth:`reconcile` recomputes derived variables between the parts of an
    #: analysis time (then each part's subset is inflated before them, not all at the end).
    reconciles: bool = False

    def observe(self, step: CycleStep, ens: np.ndarray) -> Observed:
        """The observations of the window ``(step.t0, step.t1]`` for the due types."""
        raise NotImplementedError

    def plan(self, step: CycleStep, observed: Observed) -> list[AnalysisPart]:
        """The analyses of this step, in order (default: all types, every field, at once)."""
        return [AnalysisPart(tuple(range(len(observed.types))))] if observed.types else []

    def analysis_mask(self, part: AnalysisPart, runs: np.ndarray, index: np.ndarray
                      ) -> np.ndarray:
        """Where each run may change: ``(n_runs, index.size)`` bool for the state elements
        ``index`` of ``runs`` (the state the part receives), for :attr:`AnalysisPart.mask`
        other than ``"all"``."""
        raise ConfigError(f"analysis {part.name!r}: mask = {part.mask!r}: "
                          f"{type(self).__name__} offers no masks")

    def reconcile(self, step: CycleStep, part: AnalysisPart, runs: np.ndarray,
                  received: np.ndarray) -> None:
        """Derived variables of ``runs`` made consistent with what ``part`` analysed (in
        place), before the next part observes them; ``received`` is the state the part
        received. Default: nothing."""

    def perturbed(self, step: CycleStep | None, runs: np.ndarray) -> None:
        """After an SEKF's perturbed runs were made from its analysed run (in place; ``runs[0]``
        the analysis, or the initial state where ``step`` is None, ``runs[1:]`` its
        perturbations, :meth:`pdafpy.filters.sekf.SEKF.perturbed_runs`): make the variables
        the model derives from, or keeps beside, the perturbed elements consistent with them
        (e.g. the prognostic head of a perturbed water content). Default: nothing."""

    def record_between(self, step: CycleStep, t: float, ens: np.ndarray) -> None:
        """Records of the forecast at ``t`` inside the step's window (every
        :attr:`CycleOptions.record_every`), before it reaches the analysis time."""

    def record_forecast(self, step: CycleStep, ens: np.ndarray) -> None:
        """Records of the forecast, before the analysis."""

    def constrain(self, step: CycleStep, ens: np.ndarray) -> None:
        """Bounds and back-transforms of the analysed runs (in place)."""

    def record_analysis(self, step: CycleStep, ens: np.ndarray, forecast: np.ndarray,
                        observed: Observed) -> None:
        """Records and scores after the analysis. ``forecast`` holds the analysed groups' runs
        before the analysis ``(n_analysed, n_state)``."""

    def files(self) -> dict[str, Any]:
        """Output files written in segments (:class:`pdafpy.segments.SegmentedWriter`): a
        checkpoint closes their open segments and keeps where they continue."""
        return {}

    def checkpoint_state(self) -> dict[str, Any]:
        """The application's state a restart needs (filter ranks)."""
        return {}

    def restore_checkpoint(self, saved: Mapping[str, Any]) -> None:
        """Inverse of :meth:`checkpoint_state`."""

    def describe_time(self, t: float) -> str:
        """A time for progress lines and messages (default: the model's time unit)."""
        return f"t = {t:g}"

    def stop_requested(self) -> bool:
        """True to end the run after this step (e.g. a diverged ensemble); asked on every rank
        after each step, and the run stops if any rank asks."""
        return False

"""Adaptive time-step control driven by Newton iterations and the largest pressure change.

After an accepted step the next step is the step taken scaled by ``target_iterations / its``
(``its`` Newton iterations), bounded to ``[shrink, grow]``: steps that converge in fewer
iterations than the target grow, steps that need more shrink, in proportion. The step is also
limited so that the largest pressure-head change of the cells unsaturated at the start or end of
the step stays near ``dh_target`` (in a saturated cell the head moves with the elastic storage
alone: a column filled to the surface by a storm would otherwise hold the step at seconds while
Newton converges in two iterations). In dry cells, whose head is below ``-dry_head`` at both
ends of the step, the change counts relative to the head, as ``|dh| dry_head / min(|h0|, |h1|)``
(:meth:`StepController.head_change`): a cell at -80 m whose water content barely moves while its
head relaxes by metres would otherwise hold every step at a few minutes. A failed step is cut by ``cut`` and retried, at most
``max_cuts`` times in a row.

Steps land exactly on the requested end time (a coupling interval's end). A remainder up to
``(1 + stretch) dt`` is taken in one step; a longer one starts with the wanted step ``dt``
itself, so every interval longer than ``(1 + stretch) dt`` tests the step the controller wants
and the controller learns from it. (Splitting such an interval into equal shorter steps never
tests ``dt``: with 3600 s intervals and a wanted 2025 s the controller settled on two 1800 s
steps per hour for good.) A short step that ends an interval may cut the wanted step when it was
hard but never grows it. The controller's state (:meth:`StepController.state`) is what a
checkpoint must save to continue identically.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

import numpy as np

from pdafpy.errors import ConfigError

__all__ = ["StepController"]


@dataclass
class StepController:
    """Time-step controller.

    Attributes
    ----------
    dt : float
        The step the controller wants next [s].
    dt_min, dt_max : float
        Bounds of the step [s].
    fixed : bool
        Keep ``dt`` constant (no growth; cuts still allowed only if ``max_cuts > 0``).
    grow, shrink : float
        Largest and smallest factor from one accepted step to the next.
    cut : float
        Factor for a failed step.
    target_iterations : float
        Newton iterations per step the controller aims at: an accepted step of ``its``
        iterations scales the step by ``target_iterations / its`` (within ``[shrink, grow]``).
    dh_target : float
        Desired largest pressure-head change per step in unsaturated cells [m]. 1 m (5 m
        before) keeps the steps through a storm's wetting hours short: the benchmark storm's
        final heads differ from the earlier controller's, with its shorter steps, by 1.5 mm RMS
        (3.2 mm with 5 m).
    dry_head : float
        Head magnitude [m] below which (``h < -dry_head`` at both ends of a step) a cell's head
        change counts relative to its head (:meth:`head_change`). 10 m: the wetting front of
        the benchmark storm and the water-table cases stay above -10 m, so their steps are
        unchanged; the top cell of a column dried by evaporation or by state perturbations,
        at -30 to -100 m, then moves 3-10 m per step for the 1 m a wet cell does, for water
        content changes of the same order.
    max_cuts : int
        Cuts in a row before a step is declared failed.
    stretch : float
        A remainder to the end time up to ``(1 + stretch) * dt`` is taken in one step.
    """

    dt: float = 60.0
    dt_min: float = 1e-3
    dt_max: float = 3600.0
    fixed: bool = False
    grow: float = 1.5
    shrink: float = 0.7
    cut: float = 0.5
    target_iterations: float = 8.0
    dh_target: float = 1.0
    dry_head: float = 10.0
    max_cuts: int = 12
    stretch: float = 0.2

    def __post_init__(self) -> None:
        if not (0 < self.dt_min <= self.dt_max):
            raise ConfigError(f"richards time stepping: need 0 < dt_min_s <= dt_max_s, got "
                              f"dt_min_s={self.dt_min}, dt_max_s={self.dt_max}")
        if not self.dt > 0:
            raise ConfigError(f"richards time stepping: dt_initial_s must be > 0, got {self.dt}")
        if not self.dry_head > 0:
            raise ConfigError(f"richards time stepping: dry_head must be > 0 m, got "
                              f"{self.dry_head}")
        if not 0 < self.cut < 1:
            raise ConfigError(f"richards time stepping: cut must be in (0, 1), got {self.cut}")
        if not (0 < self.shrink <= 1 <= self.grow and self.target_iterations > 0):
            raise ConfigError(f"richards time stepping: need 0 < shrink <= 1 <= grow and "
                              f"target_iterations > 0, got shrink={self.shrink}, "
                              f"grow={self.grow}, target_iterations={self.target_iterations}")
        self.dt = min(max(self.dt, self.dt_min), self.dt_max)

    def head_change(self, h0: np.ndarray, h1: np.ndarray) -> float:
        """The largest head change of a step as the controller counts it [m].

        Parameters
        ----------
        h0, h1 : numpy.ndarray
            Pressure head [m] at the start and the end of the step, any shape (the same).

        Returns
        -------
        float
            ``max |h1 - h0| / max(1, min(|h0|, |h1|) / dry_head)`` over the cells unsaturated
            at either end (``min(h0, h1) < 0``); 0 when there are none. A saturated cell's head
            moves with the elastic storage alone and does not limit the step.
        """
        unsaturated = np.minimum(h0, h1) < 0.0
        if not np.any(unsaturated):
            return 0.0
        a0, a1 = h0[unsaturated], h1[unsaturated]
        scale = np.maximum(1.0, np.minimum(np.abs(a0), np.abs(a1)) / self.dry_head)
        return float(np.max(np.abs(a1 - a0) / scale))

    def propose(self, t: float, t_end: float) -> float:
        """The length of the next step from ``t`` toward ``t_end`` [s].

        The whole remainder if it is at most ``(1 + stretch) dt``, else ``dt``.
        """
        rest = t_end - t
        if rest <= self.dt * (1.0 + self.stretch):
            return rest
        return self.dt

    def accept(self, dt_taken: float, newton_its: int, max_dh: float) -> None:
        """Update after an accepted step of length ``dt_taken`` [s].

        Parameters
        ----------
        dt_taken : float
            The step just taken [s]; shorter than ``dt`` when it ended an interval.
        newton_its : int
            Newton iterations it needed (all attempts).
        max_dh : float
            Largest head change of the step as :meth:`head_change` counts it [m].
        """
        if self.fixed:
            return
        f = self.grow if newton_its <= 0 else \
            min(self.grow, max(self.shrink, self.target_iterations / newton_its))
        dt_dh = dt_taken * self.dh_target / max_dh if max_dh > 0 else math.inf
        if dt_taken >= self.dt * (1.0 - 1e-12):
            ref = dt_taken                                  # the wanted (or a stretched) step
        else:
            # a short step ending an interval: it may cut the wanted step, not grow it
            ref, f = self.dt, min(f, 1.0)
        dt = max(ref * self.shrink, min(ref * f, dt_dh))
        self.dt = min(max(dt, self.dt_min), self.dt_max)

    def reject(self) -> None:
        """Cut the step after a failure."""
        self.dt = max(self.dt * self.cut, self.dt_min)

    def state(self) -> dict[str, Any]:
        """Everything a checkpoint needs to continue with the same steps."""
        return asdict(self)

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> "StepController":
        """Rebuild a controller from :meth:`state`."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in state.items() if k in names})

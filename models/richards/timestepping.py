"""Adaptive time-step control driven by Newton iterations and the largest pressure change.

After an accepted step the next step grows by ``grow`` when Newton needed at most
``easy_iterations``, shrinks by ``shrink`` when it needed more than ``hard_iterations``, and is
limited so that the largest pressure-head change of the cells unsaturated at the start or end of
the step stays near ``dh_target`` (in a saturated cell the head moves with the elastic storage
alone: a column filled to the surface by a storm would otherwise hold the step at seconds while
Newton converges in two iterations). A failed step is cut by
``cut`` and retried, at most ``max_cuts`` times in a row. Steps land exactly on the requested end
time: a remainder shorter than ``stretch`` x dt is folded into the last step, and one shorter
than two steps is split into two equal steps, so no sliver step is taken. The controller's
state (:meth:`StepController.state`) is what a checkpoint must save to continue identically.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

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
    grow, shrink, cut : float
        Factors for easy steps, hard steps and failed steps.
    easy_iterations, hard_iterations : int
        Newton iteration counts that mark a step easy or hard.
    dh_target : float
        Desired largest pressure-head change per step in unsaturated cells [m].
    max_cuts : int
        Cuts in a row before a step is declared failed.
    stretch : float
        A remainder to the end time shorter than ``stretch * dt`` is merged into the step.
    """

    dt: float = 60.0
    dt_min: float = 1e-3
    dt_max: float = 3600.0
    fixed: bool = False
    grow: float = 1.5
    shrink: float = 0.7
    cut: float = 0.5
    easy_iterations: int = 4
    hard_iterations: int = 8
    dh_target: float = 5.0
    max_cuts: int = 12
    stretch: float = 0.2

    def __post_init__(self) -> None:
        if not (0 < self.dt_min <= self.dt_max):
            raise ConfigError(f"richards time stepping: need 0 < dt_min_s <= dt_max_s, got "
                              f"dt_min_s={self.dt_min}, dt_max_s={self.dt_max}")
        if not self.dt > 0:
            raise ConfigError(f"richards time stepping: dt_initial_s must be > 0, got {self.dt}")
        if not 0 < self.cut < 1:
            raise ConfigError(f"richards time stepping: cut must be in (0, 1), got {self.cut}")
        self.dt = min(max(self.dt, self.dt_min), self.dt_max)

    def propose(self, t: float, t_end: float) -> float:
        """The length of the next step from ``t`` toward ``t_end`` [s]."""
        rest = t_end - t
        dt = self.dt
        if rest <= dt * (1.0 + self.stretch):
            return rest
        if rest < 2.0 * dt and not self.fixed:
            return 0.5 * rest                     # two equal steps rather than a sliver
        return dt

    def accept(self, dt_taken: float, newton_its: int, max_dh: float) -> None:
        """Update after an accepted step of length ``dt_taken`` [s]."""
        if self.fixed:
            return
        if dt_taken < self.dt * (1.0 - 1e-12) and newton_its <= self.hard_iterations:
            # a short final step says nothing about the step the controller wants
            return
        if newton_its <= self.easy_iterations:
            f = self.grow
        elif newton_its > self.hard_iterations:
            f = self.shrink
        else:
            f = 1.0
        if max_dh > 0:
            f = min(f, max(self.shrink, self.dh_target / max_dh))
        self.dt = min(max(self.dt * f, self.dt_min), self.dt_max)

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

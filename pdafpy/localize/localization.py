"""A domain localisation's settings: cut-off radius, weight function and metric
(:class:`Localization`, built from PDAF's parameters or with the weight's radius named)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

import numpy as np

from ..errors import ConfigError
from .distances import DistanceKind, Metric, _check_radius
from .weights import WeightKind, local_weight

__all__ = ["Localization"]

@dataclass(frozen=True)
class Localization:
    """Cut-off, weight function and metric of a domain localisation.

    Attributes
    ----------
    cradius : float >= 0
        Cut-off radius: observations with ``d <= cradius`` are local (coordinate units, or
        metres for geographic metrics).
    sradius : float >= 0
        Support radius of the weight: where Gaspari-Cohn reaches zero (twice its half-width),
        the 1/e distance of the exponential, the standard deviation of the Gaussian. Unused
        by UNIFORM. Prefer :meth:`create` with ``support_radius=`` or ``half_width=``.
    weight : WeightKind
        The weight function (PDAF locweight codes and names are accepted and converted).
    metric : Metric
        The distance (default: Cartesian).
    """

    cradius: float
    sradius: float
    weight: WeightKind
    metric: Metric = field(default_factory=Metric)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cradius", _check_radius("cradius", self.cradius))
        object.__setattr__(self, "sradius", _check_radius("sradius", self.sradius))
        object.__setattr__(self, "weight", WeightKind.from_pdaf(self.weight))
        if not isinstance(self.metric, Metric):
            raise ConfigError(f"metric={self.metric!r} must be a pdafpy.localize.Metric")

    @classmethod
    def create(
        cls,
        cradius: float,
        weight: Union[WeightKind, int, str],
        *,
        support_radius: Optional[float] = None,
        half_width: Optional[float] = None,
        metric: Optional[Metric] = None,
    ) -> "Localization":
        """Build a localisation naming the weight's radius explicitly.

        Parameters
        ----------
        cradius : float >= 0
            Cut-off radius.
        weight : WeightKind, int or str
            Weight function.
        support_radius : float, optional
            ``sradius`` itself: GC zero / exponential e-folding / Gaussian sigma.
        half_width : float, optional
            Gaspari-Cohn half-width ``c``; sets ``sradius = 2 c``. Only for GASPARI_COHN.
        metric : Metric, optional
            Default Cartesian.

        Exactly one of ``support_radius`` and ``half_width`` must be given (none for UNIFORM
        is allowed, which sets ``sradius = cradius``): pdafpy never guesses which one a
        literature "radius" means.
        """
        kind = WeightKind.from_pdaf(weight)
        if support_radius is not None and half_width is not None:
            raise ConfigError(
                f"support_radius={support_radius!r} and half_width={half_width!r} both given; "
                "give exactly one (support_radius = 2 * half_width)"
            )
        if half_width is not None:
            if kind is not WeightKind.GASPARI_COHN:
                raise ConfigError(
                    f"half_width={half_width!r} is only defined for the Gaspari-Cohn weight, "
                    f"not {kind.name}; give support_radius"
                )
            sradius = 2.0 * _check_radius("half_width", half_width)
        elif support_radius is not None:
            sradius = _check_radius("support_radius", support_radius)
        elif kind is WeightKind.UNIFORM:
            sradius = _check_radius("cradius", cradius)
        else:
            raise ConfigError(
                f"weight={kind.name} needs support_radius= (where GC reaches 0 / e-folding / "
                "sigma) or, for Gaspari-Cohn, half_width=; neither was given"
            )
        return cls(cradius, sradius, kind, metric if metric is not None else Metric())

    @classmethod
    def from_pdaf(
        cls,
        cradius: float,
        sradius: Optional[float] = None,
        locweight: Union[int, str, WeightKind] = 0,
        disttype: Union[int, str, DistanceKind] = 0,
        domain_size: Optional[Sequence[float]] = None,
        vertical_cutoff: Optional[float] = None,
    ) -> "Localization":
        """Build from PDAF's parameters (``cradius``, ``sradius``, ``locweight``, ``disttype``,
        ``domainsize``). ``sradius`` defaults to ``cradius`` as in PDAF's templates and
        TSMP-PDAF; disttype 10-13 give a 2+1D metric (see :class:`Metric`)."""
        cr = _check_radius("cradius", cradius)
        sr = cr if sradius is None else sradius
        return cls(cr, sr, WeightKind.from_pdaf(locweight),
                   Metric.from_pdaf(disttype, domain_size, vertical_cutoff))

    def weights(self, d: np.ndarray) -> np.ndarray:
        """Weights for distances ``d`` (any shape) with PDAF's conventions; see
        :func:`local_weight`."""
        return local_weight(d, self.weight, self.cradius, self.sradius)

"""The land model's forcing perturbations: which forcing variables may be perturbed, how each is
perturbed by default, and the ``[perturbations.forcing]`` table that configures them.

The perturbation process itself is generic (:class:`pdafpy.perturb.ForcingPerturbation`); this
module holds what only the land model knows: the names of its forcing
(:data:`models.forcing.VARIABLES`) and the studies' convention that fluxes which must stay >= 0
are multiplied and the rest offset (:data:`DEFAULT_KIND`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from pdafpy.config import option, parse_section
from pdafpy.errors import ConfigError
from pdafpy.perturb import ForcingVariable

from ..forcing import VARIABLES

__all__ = ["FORCING_VARIABLES", "DEFAULT_KIND", "ForcingVariableSection", "forcing_variables"]

#: Forcing variables the perturbations know: the names of :mod:`models.forcing`.
FORCING_VARIABLES = VARIABLES
#: The studies' convention: fluxes that must stay >= 0 are multiplied, the rest offset.
DEFAULT_KIND = {"precipitation": "multiplicative", "shortwave": "multiplicative",
                "longwave": "additive", "air_temperature": "additive",
                "specific_humidity": "multiplicative", "wind_speed": "multiplicative",
                "surface_pressure": "additive"}


@dataclass(frozen=True)
class ForcingVariableSection:
    """One perturbed forcing variable (``[perturbations.forcing]``: ``name = {sd = ..., ...}``)."""

    sd: float | None = option(
        None, "standard deviation (required): of the offset (additive, in the variable's unit) "
        "or of the factor (multiplicative; in linear space, or in log space with "
        "sd_space = 'log')", minimum=0.0)
    kind: str | None = option(
        None, "how the perturbation applies (default: multiplicative for precipitation, "
        "shortwave, specific_humidity, wind_speed; additive for the others)",
        choices=("multiplicative", "additive"))
    time_scale_s: float = option(
        86400.0, "AR(1) time scale tau, phi = exp(-dt/tau); inf: one draw per member, constant "
        "in time", unit="s", minimum=0.0, exclusive_minimum=True, allow_inf=True)
    mean: float | None = option(
        None, "mean factor (default 1) or mean offset (default 0)")
    sd_space: str = option("factor", "whether a multiplicative sd is of the factor or of its "
                           "logarithm", choices=("factor", "log"))

    def check(self, path: str) -> None:
        """``sd`` is required."""
        if self.sd is None:
            raise ConfigError(f"{path}.sd: missing; a perturbed forcing variable needs its "
                              "standard deviation")


def forcing_variables(table: Mapping[str, Any], path: str = "perturbations.forcing"
                      ) -> tuple[ForcingVariable, ...]:
    """The perturbed forcing variables of a ``[perturbations.forcing]`` table.

    Parameters
    ----------
    table : mapping name -> table
        ``{precipitation = {sd = 1.0}, air_temperature = {sd = 1.5, kind = "additive"}, ...}``.
    path : str
        Key path of the table, for messages.

    Returns
    -------
    tuple of ForcingVariable
        In the table's order (the order of ``perturbations.forcing_correlation``), each with its
        ``kind`` resolved (:data:`DEFAULT_KIND` when not given).

    Raises
    ------
    ConfigError
        Naming the key path: an unknown variable, an unknown key of a variable's table, a value
        of the wrong type or out of range, a missing ``sd``.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path} = {table!r}: expected a table of forcing variables")
    out = []
    for name, spec in table.items():
        where = f"{path}.{name}"
        if name not in FORCING_VARIABLES:
            raise ConfigError(f"{where}: unknown forcing variable; [{path}] accepts "
                              f"{', '.join(FORCING_VARIABLES)}")
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where} = {spec!r}: expected a table {{sd = ..., ...}}")
        s = parse_section(ForcingVariableSection, spec, where)
        try:
            var = ForcingVariable(name, s.sd, s.kind, s.time_scale_s, s.mean, s.sd_space)
            out.append(var.with_default_kind(DEFAULT_KIND))
        except ConfigError as exc:
            raise ConfigError(f"{path}.{exc}") from None
    return tuple(out)

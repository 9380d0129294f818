"""Ensemble filters, by name or by PDAF's filter type number.

>>> from pdafpy.filters import make_filter
>>> make_filter("lestkf", forget=0.95).pdaf_type
7
>>> make_filter(7).name
'lestkf'
"""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError
from .square_root import ESTKF, ETKF, LESTKF, LETKF, FilterOptions

__all__ = ["FILTERS", "make_filter", "filter_class", "FilterOptions", "ESTKF", "ETKF", "LESTKF",
           "LETKF"]

FILTERS = {cls.name: cls for cls in (ETKF, LETKF, ESTKF, LESTKF)}
_BY_PDAF_TYPE = {cls.pdaf_type: cls for cls in FILTERS.values()}


def filter_class(name: str | int) -> type:
    """The filter class for a name (``"lestkf"``) or PDAF filter type number (``7``)."""
    if isinstance(name, str) and name.strip().isdigit():
        name = int(name)
    if isinstance(name, int):
        if name not in _BY_PDAF_TYPE:
            raise ConfigError(f"filter type {name} is not available; PDAF type numbers known: "
                              f"{ {k: v.name for k, v in sorted(_BY_PDAF_TYPE.items())} }")
        return _BY_PDAF_TYPE[name]
    key = name.strip().lower()
    if key not in FILTERS:
        raise ConfigError(f"unknown filter {name!r}; choose one of {sorted(FILTERS)}")
    return FILTERS[key]


def make_filter(name: str | int, **options: Any):
    """A filter object; ``options`` are :class:`FilterOptions` fields (forget, type_trans, ...)."""
    return filter_class(name)(FilterOptions(**options))

"""Ensemble filters, by name or by PDAF's filter type number, all called the same way.

Every filter is called as ``filt.analyse(ens, inputs, cycle, forget)`` with an
:class:`AnalysisInputs`; its ``scheme`` says which observations the caller must prepare in
``inputs``: ``"global"`` owned only, ``"local"`` after the halo exchange and the local search,
``"gathered"`` owned, gathered by the filter itself (:func:`pdafpy.cycle.analysis_step` does
this for any filter).

| name | PDAF type | ``scheme`` | method |
|---|---|---|---|
| ``enkf`` | 2 | global | perturbed observations |
| ``etkf`` | 4 | global | square root |
| ``letkf`` | 5 | local | square root, one domain per grid column |
| ``estkf`` | 6 | global | square root |
| ``lestkf`` | 7 | local | square root |
| ``lenkf`` | 8 | gathered | covariance localisation, perturbed observations |
| ``ensrf`` / ``eakf`` | 13 | gathered | serial, covariance localisation |
| ``column_enkf`` | -- | local | perturbed observations |

``SEKF`` (:mod:`pdafpy.filters.sekf`, scheme local) needs its perturbation sizes and ``B`` and
is not made by name.

>>> from pdafpy.filters import make_filter
>>> make_filter("lestkf", forget=0.95).pdaf_type
7
>>> make_filter(7).name
'lestkf'
"""

from __future__ import annotations

from functools import partial
from typing import Any

from ..errors import ConfigError
from .enkf import ColumnEnKF, EnKF
from .gathered import LEnKF, SerialEnSRF
from .inputs import AnalysisInputs
from .square_root import ESTKF, ETKF, LESTKF, LETKF, FilterOptions

__all__ = ["FILTERS", "make_filter", "filter_class", "AnalysisInputs", "FilterOptions", "ESTKF",
           "ETKF", "LESTKF", "LETKF", "EnKF", "ColumnEnKF", "LEnKF", "SerialEnSRF"]

FILTERS = {cls.name: cls for cls in (EnKF, ETKF, LETKF, ESTKF, LESTKF, LEnKF, SerialEnSRF,
                                     ColumnEnKF)}
FILTERS["eakf"] = partial(SerialEnSRF, variant="eakf")
_BY_PDAF_TYPE = {cls.pdaf_type: cls for cls in FILTERS.values()
                 if isinstance(cls, type) and cls.pdaf_type is not None}


def filter_class(name: str | int) -> Any:
    """The filter class (or factory) for a name (``"lestkf"``) or PDAF type number (``7``)."""
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


def filter_name(name: str | int) -> str:
    """The canonical name for a name or PDAF type number."""
    cls = filter_class(name)
    return "eakf" if cls is FILTERS["eakf"] else cls.name


def make_filter(name: str | int, **options: Any):
    """A filter object; ``options`` are :class:`FilterOptions` fields (forget, type_trans, ...)."""
    return filter_class(name)(FilterOptions(**options))

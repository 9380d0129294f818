"""Land-cover classes and their parameters, with sources.

Five classes: ``crop``, ``grass`` (the default), ``deciduous_forest``, ``evergreen_forest`` and
``bare_soil``. :func:`column_parameters` turns a map of class names (or integer codes, see
:data:`CLASS_CODES`) into per-column parameter arrays, the form :class:`~.column.LandColumns`
uses; a column's parameters can then be changed one by one (e.g. per ensemble member).

Table (units in the field names of :class:`LandCover`)

=================  ======  =====  ==========  ==========  =====  =====  ======  =====  =====
class              albedo  Kc     root beta   SLA m2/kg   LAImx  LAImn  r_grow  s_bas  s_cold
=================  ======  =====  ==========  ==========  =====  =====  ======  =====  =====
crop               0.20    1.10   0.961       15          5.0    0.1    0.35    1/60   0.08
grass              0.23    1.00   0.943       15          4.0    0.5    0.30    1/60   0.04
deciduous_forest   0.17    1.00   0.966       15          5.0    0.0    0.25    1/150  0.10
evergreen_forest   0.12    1.00   0.976        5          5.5    3.0    0.10    1/1095 0.0
bare_soil          0.20    1.00   0.975        -          0.0    0.0    0       0      0
=================  ======  =====  ==========  ==========  =====  =====  ======  =====  =====

Sources
-------
- albedo: grass reference 0.23 (FAO-56, Allen et al. 1998, Eq. 38); crop, forest and bare-soil
  values are typical surface albedos (Oke 1987, *Boundary Layer Climates*, Table 1.1).
- Kc (factor on the FAO-56 grass reference ET): 1.0 for grass (the reference surface itself);
  1.10 for crops, a season-mean of the mid-season cereal/maize values 1.15-1.20 of FAO-56
  Table 12; 1.0 for forests and bare soil (an assumption: FAO-56 gives no forest Kc).
- root beta: Jackson et al. (1996), Oecologia 108, 389-411, Table 1 (crops 0.961, temperate
  grassland 0.943, temperate deciduous forest 0.966, temperate coniferous forest 0.976, desert
  0.975 for bare soil).
- specific leaf area (per dry leaf mass): CLM 4.5 ``slatop`` (Oleson et al. 2013, Table 8.1:
  0.030 m2 gC-1 for C3 grass, crop and broadleaf deciduous trees, 0.010 for needleleaf evergreen
  trees), divided by 2 for a carbon fraction of 0.5 of dry mass.
- LAI bounds: seasonal MODIS ranges typical of central Europe (an assumption, order of
  magnitude); growth and senescence rates are chosen so that the synthetic climate gives a
  spring green-up of about two months and leaf lifespans of two months (grass, crop), five
  months (deciduous) and three years (evergreen needles); they are tunable, not calibrated.
- interception: 0.1 kg m-2 of water per unit LAI (CLM's p_liq, Dickinson 1984).
- Feddes stress bounds: wilting point -150 m (-1.5 MPa), field capacity -3.4 m (-33 kPa), the
  usual soil-physics values, as ParFlow-CLM's ``Solver.CLM.WiltingPoint`` /
  ``FieldCapacity`` with ``VegWaterStress = Pressure``.
- snow: all snow below 0 degC, all rain above 2 degC (CLM 3.5, Oleson et al. 2004, Sect. 7.1);
  degree-day factor 3 mm d-1 K-1 (Hock 2003, J. Hydrol. 282, 104-115: 2.5-6 for snow).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Mapping

import numpy as np

from pdafpy.errors import ConfigError

__all__ = ["LandCover", "LAND_COVER", "CLASS_CODES", "ColumnParameters", "column_parameters",
           "class_indices", "DEFAULT_CLASS"]

DAY = 86400.0


@dataclass(frozen=True)
class LandCover:
    """Parameters of one land-cover class (SI units; rates per second)."""

    albedo: float
    kc: float                         # factor on the grass reference ET [-]
    root_beta: float                  # Jackson et al. (1996) beta [-]
    specific_leaf_area: float         # [m2 kg-1 dry leaf mass]
    lai_max: float                    # [m2 m-2]
    lai_min: float                    # [m2 m-2], leaves kept through winter
    lai_seed: float                   # [m2 m-2], bud/reserve LAI that spring growth starts from
    growth_rate: float                # [s-1] at optimal temperature, full light, no stress
    senescence_rate: float            # [s-1] background turnover
    cold_senescence_rate: float       # [s-1] extra turnover when cold
    t_base: float = 5.0               # [degC] growth starts
    t_opt: float = 20.0               # [degC] growth at full rate
    t_senescence: float = 8.0         # [degC] cold senescence starts below
    t_senescence_full: float = 0.0    # [degC] cold senescence at full rate below
    drought_senescence_rate: float = 0.02 / DAY   # [s-1] times (1 - btran)
    light_half_saturation: float = 150.0          # [W m-2] shortwave at half growth
    interception_per_lai: float = 0.1             # [kg m-2]
    extinction: float = 0.5           # Beer's-law coefficient for the vegetated fraction [-]
    h_wilt: float = -150.0            # [m] pressure head at the wilting point
    h_field_capacity: float = -3.4    # [m] pressure head at field capacity
    stress_exponent: float = 1.0      # power on the Feddes stress


#: The land-cover table; see the module docstring for sources.
LAND_COVER: dict[str, LandCover] = {
    "crop": LandCover(0.20, 1.10, 0.961, 15.0, 5.0, 0.1, 0.3, 0.35 / DAY, 1 / 60 / DAY,
                      0.08 / DAY),
    "grass": LandCover(0.23, 1.00, 0.943, 15.0, 4.0, 0.5, 0.5, 0.30 / DAY, 1 / 60 / DAY,
                       0.04 / DAY),
    "deciduous_forest": LandCover(0.17, 1.00, 0.966, 15.0, 5.0, 0.0, 0.5, 0.25 / DAY,
                                  1 / 150 / DAY, 0.10 / DAY, t_senescence=12.0,
                                  t_senescence_full=4.0),
    "evergreen_forest": LandCover(0.12, 1.00, 0.976, 5.0, 5.5, 3.0, 3.0, 0.10 / DAY,
                                  1 / 1095 / DAY, 0.0),
    "bare_soil": LandCover(0.20, 1.00, 0.975, 15.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0),
}
DEFAULT_CLASS = "grass"
#: Integer codes accepted in land-cover maps.
CLASS_CODES: dict[int, str] = {1: "crop", 2: "grass", 3: "deciduous_forest",
                               4: "evergreen_forest", 5: "bare_soil"}
_NAMES = tuple(LAND_COVER)


@dataclass
class ColumnParameters:
    """Per-column parameter arrays (each ``(ny, nx)`` float64), one field per :class:`LandCover`
    attribute, plus ``land_cover``, the class index into :data:`LAND_COVER`'s order."""

    land_cover: np.ndarray
    values: dict[str, np.ndarray]

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def copy(self) -> "ColumnParameters":
        return ColumnParameters(self.land_cover.copy(),
                                {k: v.copy() for k, v in self.values.items()})


def class_indices(classes: Any, shape: tuple[int, int]) -> np.ndarray:
    """Index into :data:`LAND_COVER`'s order for a class map.

    Parameters
    ----------
    classes : str, int, or (ny, nx) array_like of str or int
        Class names (see :data:`LAND_COVER`) or codes (see :data:`CLASS_CODES`).
    shape : (ny, nx)
        Shape of the columns the map is for.

    Raises
    ------
    ConfigError
        Naming an unknown class and listing the known ones, or a map of the wrong shape.
    """
    arr = np.asarray(classes, dtype=object)
    if arr.ndim == 0:
        arr = np.full(shape, arr.item(), dtype=object)
    if arr.shape != tuple(shape):
        raise ConfigError(f"land: land_cover must be one class or a map of shape {tuple(shape)}, "
                          f"got shape {arr.shape}")
    out = np.empty(shape, dtype=np.int64)
    for value in set(arr.ravel().tolist()):
        name = value
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            name = CLASS_CODES.get(int(value))
        if name not in LAND_COVER:
            raise ConfigError(
                f"land: unknown land-cover class {value!r}; known classes are "
                f"{list(_NAMES)} (or codes {CLASS_CODES})")
        out[arr == value] = _NAMES.index(name)
    return out


def column_parameters(classes: Any, shape: tuple[int, int],
                      overrides: Mapping[str, Mapping[str, float]] | None = None
                      ) -> ColumnParameters:
    """Per-column parameters for a land-cover map.

    Parameters
    ----------
    classes : see :func:`class_indices`
    shape : (ny, nx)
    overrides : mapping, optional
        ``{class name: {parameter: value}}`` replacing table values (SI units, rates in s-1).

    Raises
    ------
    ConfigError
        For an unknown class or parameter name.
    """
    table = dict(LAND_COVER)
    valid = {f.name for f in fields(LandCover)}
    for cls, params in (overrides or {}).items():
        if cls not in table:
            raise ConfigError(f"land: parameter override for unknown land-cover class {cls!r}; "
                              f"known classes are {list(_NAMES)}")
        bad = set(params) - valid
        if bad:
            raise ConfigError(f"land: unknown land-cover parameters {sorted(bad)} for class "
                              f"{cls!r}; parameters are {sorted(valid)}")
        table[cls] = replace(table[cls], **{k: float(v) for k, v in params.items()})
    idx = class_indices(classes, shape)
    rows = [asdict(table[n]) for n in _NAMES]
    values = {name: np.array([r[name] for r in rows], dtype=float)[idx] for name in valid}
    return ColumnParameters(idx, values)

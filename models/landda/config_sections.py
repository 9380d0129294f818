"""The coupled land/subsurface model's tables, typed: ``[grid]``, ``[soil]``, ``[boundary]``,
``[initial]``, ``[solver]``, ``[land]`` and ``[forcing]``.

One frozen dataclass per table declares the keys the model reads, with the model's own defaults
(a key the model requires has the default None and is reported missing by the section's
``check()``), units and ranges, so that :func:`pdafpy.config.parse_section` refuses an unknown key,
a value of the wrong type or out of range with its key path (``initial.water_table_dept_m:
unknown key; [initial] accepts ...``). :func:`pdafpy.config.parse_tables` validates the tables
and hands back only the keys given: the model still applies its defaults, which
``tests/test_config_sections.py`` holds equal to the ones declared here.

Soil parameters and the initial head may be one value, one per layer (top-down), one per column
(``(ny, nx)`` nested list) or one per cell (``(nz, ny, nx)``). ``[boundary]`` faces and
``[forcing]`` are discriminated by their ``type``: a key of another type is refused, as is
``[initial]`` ``pressure_head_m`` beside ``water_table_depth_m``. Such a key is recognised by a
value other than its default: one given at its default value passes here (the model refuses a
key of another type when it is built, and prefers ``water_table_depth_m``).

Unions are declared with ``typing.Union`` / ``Optional``: :func:`pdafpy.config.parse_section`
checks those members one by one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Mapping, Optional, Union

import numpy as np

from pdafpy.config import option
from pdafpy.errors import ConfigError

from ..land.evapotranspiration import ET_METHODS
from ..land.parameters import CLASS_CODES, LAND_COVER, LandCover
from ..land.roots import EVAP_BETA_KINDS
from ..land.layer_sets import LAYER_SETS, layer_thicknesses
from ..richards.averaging import KR_AVERAGING
from ..richards.boundary import SURFACE_KR
from ..richards.retention import MODELS as RETENTION_MODELS

__all__ = ["GridSection", "SoilSection", "FaceSection", "BoundarySection", "InitialSection",
           "SolverSection", "LandSection", "ForcingSection", "MODEL_SECTIONS",
           "check_field_shapes"]

#: A parameter over the grid: one value, one per layer, one per column or one per cell.
FieldValue = Union[float, tuple[float, ...], tuple[tuple[float, ...], ...],
                   tuple[tuple[tuple[float, ...], ...], ...]]

#: Boundary-condition types and the keys each takes besides ``type``.
FACE_KEYS: dict[str, tuple[str, ...]] = {
    "noflow": (), "no_flow": (), "free_drainage": (), "flux": ("flux_m_per_s",),
    "head": ("value_m", "water_table_depth_m"),
    "atmospheric": ("flux_m_per_s", "h_max_m", "h_min_m", "surface_kr")}

#: Forcing types and the keys each takes besides ``type``.
FORCING_KEYS: dict[str, tuple[str, ...]] = {
    "synthetic": ("seed", "latitude_deg", "elevation_m", "start_day_of_year",
                  "mean_temperature_c", "annual_amplitude_k", "diurnal_amplitude_k",
                  "anomaly_sd_k", "anomaly_corr", "annual_precipitation_m",
                  "wet_day_probability", "precipitation_spatial_sd", "wind_mean"),
    "netcdf": ("path", "start", "block_records")}


def _require(section: Any, path: str, names: tuple[str, ...], why: str) -> None:
    """Raise for the first of ``names`` that ``section`` leaves at None."""
    for name in names:
        if getattr(section, name) is None:
            raise ConfigError(f"{path}.{name}: missing; {why}")


def _refuse_other_keys(section: Any, path: str, kind: str, allowed: tuple[str, ...],
                       what: str) -> None:
    """Raise for a key given (not at its default) that a ``kind`` table does not take."""
    for f in dataclasses.fields(section):
        if f.name != "type" and f.name not in allowed and getattr(section, f.name) != f.default:
            takes = ", ".join(allowed) or "no other key"
            raise ConfigError(f"{path}.{f.name}: not a key of a {kind!r} {what}; it takes "
                              f"{takes}")


def _shape(value: Any, where: str) -> tuple[int, ...]:
    """Shape of a nested tuple; raise when its rows differ in length."""
    if not isinstance(value, tuple):
        return ()
    shapes = {_shape(v, where) for v in value}
    if len(shapes) > 1:
        raise ConfigError(f"{where}: rows of different lengths; expected a rectangular array")
    return (len(value),) + (shapes.pop() if shapes else ())


def _check_maps(section: Any, path: str) -> None:
    """Nested-list values of ``section`` (per column, per cell) must be rectangular (the parser
    checks every value's range itself)."""
    for f in dataclasses.fields(section):
        value = getattr(section, f.name)
        if isinstance(value, tuple) and value and isinstance(value[0], tuple):
            _shape(value, f"{path}.{f.name}")


@dataclass(frozen=True)
class GridSection:
    """The subsurface grid (``[grid]``): columns of layers, top-down."""

    #: Keys that exclude each other: a user's file giving one replaces the defaults' other.
    ALTERNATIVES: ClassVar[tuple[tuple[str, ...], ...]] = (("dz_m", "layers"),)

    nx: Optional[int] = option(None, "columns along x (required)", minimum=1)
    ny: Optional[int] = option(None, "columns along y (required)", minimum=1)
    dx_m: float = option(1.0, "column width along x", unit="m", minimum=0.0,
                         exclusive_minimum=True)
    dy_m: float = option(1.0, "column width along y", unit="m", minimum=0.0,
                         exclusive_minimum=True)
    dz_m: Optional[tuple[float, ...]] = option(None, "layer thicknesses, top-down (required unless "
                                            "layers is given)", unit="m", minimum=0.0,
                                            exclusive_minimum=True)
    layers: Optional[str] = option(None, "named layering instead of dz_m "
                                   "(models/land/layer_sets.py): 'zhao2025' (30 layers to 30 m, "
                                   "Zhao et al. 2025), 'noah4' (Noah/Noah-MP: 0.1, 0.3, 0.6, "
                                   "1.0 m, 2 m deep), 'clm10' (CLM 3.5 / CoLM 2014: 10 layers "
                                   "to 3.80 m)", choices=tuple(LAYER_SETS))
    crs: str = option("", "coordinate reference system of the columns' x and y ('' a local "
                      "Cartesian grid in metres; e.g. 'EPSG:32632' for UTM zone 32N, whose "
                      "metres x and y are)")
    origin_m: tuple[float, ...] = option((0.0, 0.0), "[x0, y0]: the grid's lower-left corner in "
                                         "its CRS; column centres lie at x0 + (i + 1/2) dx_m, "
                                         "y0 + (j + 1/2) dy_m", unit="m")

    def check(self, path: str) -> None:
        _require(self, path, ("nx", "ny"), "the model needs the number of columns")
        if len(self.origin_m) != 2:
            raise ConfigError(f"{path}.origin_m = {list(self.origin_m)}: expected [x0, y0]")
        if self.dz_m is not None and self.layers is not None:
            raise ConfigError(f"{path}.layers: give dz_m or layers, not both")
        if self.dz_m is None and self.layers is None:
            raise ConfigError(f"{path}.dz_m: missing; [{path}] needs dz_m (layer thicknesses, "
                              f"top-down) or layers (one of {', '.join(LAYER_SETS)})")
        if self.dz_m == ():
            raise ConfigError(f"{path}.dz_m = []: expected at least one layer thickness")


@dataclass(frozen=True)
class SoilSection:
    """Soil hydraulic parameters (``[soil]``): one value, per layer, per column or per cell.

    Either the hydraulic parameters themselves or a texture (``sand_percent``,
    ``clay_percent``) from which ``pedotransfer`` derives them (:mod:`models.land.texture`):
    a texture beside explicit ``theta_r``, ``theta_s``, ``alpha_per_m``, ``n`` or Ks is refused,
    and a texture given over defaults that give those replaces them (``ALTERNATIVES``).
    """

    ALTERNATIVES: ClassVar[tuple[tuple[str, ...], ...]] = tuple(
        (texture, key) for texture in ("sand_percent", "clay_percent")
        for key in ("theta_r", "theta_s", "alpha_per_m", "n", "ks_m_per_s", "ks_h_m_per_s",
                    "ks_v_m_per_s"))

    model: str = option("van_genuchten", "retention and relative-permeability model",
                        choices=tuple(RETENTION_MODELS))
    theta_r: Optional[FieldValue] = option(None, "residual water content (required)",
                                        unit="m3 m-3", minimum=0.0, maximum=1.0)
    theta_s: Optional[FieldValue] = option(None, "saturated water content, the porosity "
                                        "(required)", unit="m3 m-3", minimum=0.0,
                                        exclusive_minimum=True, maximum=1.0)
    alpha_per_m: Optional[FieldValue] = option(None, "inverse air-entry head alpha (required)",
                                            unit="m-1", minimum=0.0, exclusive_minimum=True,
                                            aliases=("alpha",))
    n: Optional[FieldValue] = option(None, "van Genuchten n (required by van_genuchten; gardner "
                                  "ignores it)", minimum=1.0, exclusive_minimum=True)
    ks_m_per_s: Optional[FieldValue] = option(None, "saturated conductivity, horizontal and "
                                           "vertical (required unless both ks_h_m_per_s and "
                                           "ks_v_m_per_s are given)", unit="m s-1", minimum=0.0,
                                           exclusive_minimum=True)
    ks_h_m_per_s: Optional[FieldValue] = option(None, "horizontal saturated conductivity "
                                             "(default: ks_m_per_s)", unit="m s-1",
                                             minimum=0.0, exclusive_minimum=True)
    ks_v_m_per_s: Optional[FieldValue] = option(None, "vertical saturated conductivity "
                                             "(default: ks_m_per_s)", unit="m s-1",
                                             minimum=0.0, exclusive_minimum=True)
    ss_per_m: FieldValue = option(0.0, "specific storage", unit="m-1", minimum=0.0,
                                  aliases=("ss",))
    mualem_l: float = option(0.5, "Mualem's tortuosity exponent l (van_genuchten)")
    kr_se_high: Optional[float] = option(None, "effective saturation in (0, 1) above which "
                                      "van Genuchten kr is a spline to 1 (default: off)")
    sand_percent: Optional[FieldValue] = option(None, "sand content of the soil; with "
                                                "clay_percent it gives theta_r, theta_s, "
                                                "alpha_per_m, n and Ks through pedotransfer "
                                                "(instead of those keys)", unit="%",
                                                minimum=0.0, maximum=100.0)
    clay_percent: Optional[FieldValue] = option(None, "clay content of the soil (with "
                                                "sand_percent)", unit="%", minimum=0.0,
                                                maximum=100.0)
    pedotransfer: str = option("cosby1984", "rule deriving the soil from sand_percent and "
                               "clay_percent: 'cosby1984' (Cosby et al. 1984 in CLM's form, "
                               "continuous in texture: for estimating texture) or "
                               "'rosetta_class_average' (Rosetta H1 class averages, piecewise "
                               "constant)", choices=("cosby1984", "rosetta_class_average"))

    def check(self, path: str) -> None:
        if self.sand_percent is not None or self.clay_percent is not None \
                or self.pedotransfer != "cosby1984":
            from ..land.texture import texture_table
            texture_table({f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                           if getattr(self, f.name) is not None}, path)
        if self.sand_percent is None:
            _require(self, path, ("theta_r", "theta_s", "alpha_per_m"), "the model needs it "
                     "(or a texture: sand_percent and clay_percent)")
            if self.model == "van_genuchten":
                _require(self, path, ("n",), "the van_genuchten model needs it")
            for name in ("ks_h_m_per_s", "ks_v_m_per_s"):
                if getattr(self, name) is None and self.ks_m_per_s is None:
                    raise ConfigError(f"{path}.ks_m_per_s: missing; [{path}] needs ks_m_per_s "
                                      "or both ks_h_m_per_s and ks_v_m_per_s")
        _check_maps(self, path)
        if (isinstance(self.theta_r, float) and isinstance(self.theta_s, float)
                and self.theta_r >= self.theta_s):
            raise ConfigError(f"{path}.theta_r = {self.theta_r}: must be below theta_s = "
                              f"{self.theta_s}")
        if self.kr_se_high is not None and not 0.0 < self.kr_se_high < 1.0:
            raise ConfigError(f"{path}.kr_se_high = {self.kr_se_high}: must lie in (0, 1)")


@dataclass(frozen=True)
class FaceSection:
    """One face's boundary condition (``[boundary] <face> = {type = ..., ...}``)."""

    ALTERNATIVES: ClassVar[tuple[tuple[str, ...], ...]] = (("value_m", "water_table_depth_m"),)

    type: Optional[str] = option(None, "condition (required): noflow, flux, head, free_drainage "
                              "(bottom only) or atmospheric (top only)",
                              choices=tuple(FACE_KEYS))
    flux_m_per_s: float = option(0.0, "prescribed flux density, positive into the domain "
                                 "(flux; atmospheric: the potential flux until the land sets "
                                 "it)", unit="m s-1")
    value_m: Optional[float] = option(None, "prescribed pressure head at the face (head)",
                                   unit="m")
    water_table_depth_m: Optional[float] = option(None, "hydrostatic head of a water table at this "
                                               "depth below the surface (head)", unit="m")
    h_max_m: float = option(0.0, "largest surface head; rain beyond what the soil takes runs "
                            "off (atmospheric)", unit="m")
    h_min_m: float = option(-100.0, "smallest surface head under evaporation, HYDRUS's hCritA "
                            "(atmospheric)", unit="m")
    surface_kr: str = option("kirchhoff", "relative permeability toward a held surface head "
                             "(atmospheric)", choices=SURFACE_KR)

    def check(self, path: str) -> None:
        if self.type is None:
            raise ConfigError(f"{path}.type: missing; expected one of {list(FACE_KEYS)}")
        _refuse_other_keys(self, path, self.type, FACE_KEYS[self.type], "boundary")
        if self.type == "head":
            if self.value_m is None and self.water_table_depth_m is None:
                raise ConfigError(f"{path}: a 'head' boundary needs value_m or "
                                  "water_table_depth_m")
            if self.value_m is not None and self.water_table_depth_m is not None:
                raise ConfigError(f"{path}.water_table_depth_m: give value_m or "
                                  "water_table_depth_m, not both")


def _no_flow() -> FaceSection:
    return FaceSection("noflow")


@dataclass(frozen=True)
class BoundarySection:
    """Boundary conditions of the six faces (``[boundary]``)."""

    top: FaceSection = option(default_factory=lambda: FaceSection("atmospheric"),
                              doc="the land surface: atmospheric (the land sets its flux)")
    bottom: FaceSection = option(default_factory=_no_flow, doc="the bottom of the domain")
    west: FaceSection = option(default_factory=_no_flow, doc="x = 0")
    east: FaceSection = option(default_factory=_no_flow, doc="x = nx dx")
    south: FaceSection = option(default_factory=_no_flow, doc="y = 0")
    north: FaceSection = option(default_factory=_no_flow, doc="y = ny dy")

    def check(self, path: str) -> None:
        if self.top.type != "atmospheric":
            raise ConfigError(f"{path}.top.type = {self.top.type!r}: the land sets the top "
                              "flux; expected 'atmospheric'")
        for f in dataclasses.fields(self):
            kind = getattr(self, f.name).type
            if f.name != "bottom" and kind == "free_drainage":
                raise ConfigError(f"{path}.{f.name}.type = 'free_drainage': only for the bottom")
            if f.name != "top" and kind == "atmospheric":
                raise ConfigError(f"{path}.{f.name}.type = 'atmospheric': only for the top")


@dataclass(frozen=True)
class InitialSection:
    """The initial pressure head (``[initial]``)."""

    ALTERNATIVES: ClassVar[tuple[tuple[str, ...], ...]] = (("water_table_depth_m",
                                                            "pressure_head_m"),)

    water_table_depth_m: float = option(1.0, "depth of the initial water table below the "
                                        "surface; the head is hydrostatic", unit="m")
    pressure_head_m: Optional[FieldValue] = option(None, "initial pressure head instead: one "
                                                "value, per layer, per column or per cell",
                                                unit="m")

    def check(self, path: str) -> None:
        default = InitialSection.water_table_depth_m
        if self.pressure_head_m is not None and self.water_table_depth_m != default:
            raise ConfigError(f"{path}.pressure_head_m: give water_table_depth_m or "
                              "pressure_head_m, not both")
        _check_maps(self, path)


@dataclass(frozen=True)
class SolverSection:
    """The Richards solver's time steps and PETSc options (``[solver]``)."""

    kr_averaging: str = option("upstream", "relative permeability at cell faces",
                               choices=KR_AVERAGING)
    dt_initial_s: float = option(60.0, "first time step", unit="s", minimum=0.0,
                                 exclusive_minimum=True)
    dt_min_s: float = option(1e-3, "smallest time step; a member whose step would fall below "
                             "it fails (fixed_dt: dt_initial_s)", unit="s", minimum=0.0,
                             exclusive_minimum=True)
    dt_max_s: float = option(3600.0, "largest time step (fixed_dt: dt_initial_s)", unit="s",
                             minimum=0.0, exclusive_minimum=True)
    fixed_dt: bool = option(False, "keep every step at dt_initial_s")
    options_prefix: str = option("richards_", "PETSc options prefix of the solver")
    petsc_options: dict = option(default_factory=dict, doc="PETSc options over the model's "
                                 "defaults, names without prefix or dash (e.g. "
                                 "{snes_rtol = 1e-10})")

    def check(self, path: str) -> None:
        for key, value in self.petsc_options.items():
            if not isinstance(value, (str, int, float, bool)):
                raise ConfigError(f"{path}.petsc_options.{key} = {value!r}: expected a string, "
                                  "a number or true/false")


@dataclass(frozen=True)
class LandSection:
    """The land columns (``[land]``)."""

    land_cover: Union[str, int, tuple[tuple[Union[str, int], ...], ...]] = option(
        "grass", f"land-cover class ({', '.join(LAND_COVER)}), its code "
        f"({min(CLASS_CODES)}-{max(CLASS_CODES)}), or a (ny, nx) map of them")
    et_method: str = option("penman_monteith", "reference evapotranspiration (FAO-56)",
                            choices=ET_METHODS)
    evap_beta: str = option("linear", "soil-evaporation reduction with the top layer's "
                            "saturation", choices=EVAP_BETA_KINDS)
    root_depth_m: float = option(3.0, "the subsurface layers whose top lies above this depth "
                                 "exchange water with the land", unit="m", minimum=0.0,
                                 exclusive_minimum=True)
    wind_height_m: float = option(10.0, "height of the forcing wind speed", unit="m",
                                  minimum=0.0, exclusive_minimum=True)
    degree_day_factor_mm_per_day_k: float = option(3.0, "snowmelt per degree above 0 degC",
                                                   unit="mm d-1 K-1", minimum=0.0)
    parameters: dict = option(default_factory=dict, doc="land-cover parameter overrides, "
                              "{class = {parameter = value}} (SI units, rates in s-1; see "
                              "models/land/parameters.py)")
    lai_initial: Optional[float] = option(None, "initial leaf area index (default: halfway "
                                       "between the class's lai_min and lai_max)",
                                       unit="m2 m-2", minimum=0.0)
    soil_temperature_initial_k: Optional[float] = option(
        None, "initial soil temperature, uniform in depth (default: the forcing's air "
        "temperature at model time 0, per column)", unit="K", minimum=0.0,
        exclusive_minimum=True)
    soil_heat_conductivity_w_per_m_k: float = option(
        1.2, "soil thermal conductivity (default: a moist loam)", unit="W m-1 K-1", minimum=0.0,
        exclusive_minimum=True)
    soil_heat_capacity_j_per_m3_k: float = option(
        2.5e6, "soil volumetric heat capacity (default: a moist loam)", unit="J m-3 K-1",
        minimum=0.0, exclusive_minimum=True)

    def check(self, path: str) -> None:
        where = f"{path}.land_cover"
        cover = self.land_cover
        _shape(cover, where)
        classes = [v for row in cover for v in row] if isinstance(cover, tuple) else [cover]
        for value in classes:
            if value not in LAND_COVER and value not in CLASS_CODES:
                raise ConfigError(f"{where} = {value!r}: expected one of {list(LAND_COVER)} or "
                                  f"a code {sorted(CLASS_CODES)}")
        names = {f.name for f in dataclasses.fields(LandCover)}
        for cls, params in self.parameters.items():
            if cls not in LAND_COVER:
                raise ConfigError(f"{path}.parameters.{cls}: unknown land-cover class; "
                                  f"expected one of {list(LAND_COVER)}")
            if not isinstance(params, dict):
                raise ConfigError(f"{path}.parameters.{cls} = {params!r}: expected a table")
            for name, value in params.items():
                if name not in names:
                    raise ConfigError(f"{path}.parameters.{cls}.{name}: unknown parameter; "
                                      f"accepts {', '.join(sorted(names))}")
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise ConfigError(f"{path}.parameters.{cls}.{name} = {value!r}: expected a "
                                      "number")


@dataclass(frozen=True)
class ForcingSection:
    """The meteorological forcing (``[forcing]``): the synthetic weather generator or a CF
    NetCDF file."""

    type: str = option("synthetic", "forcing source", choices=tuple(FORCING_KEYS))
    seed: int = option(1, "seed of the weather (synthetic)", minimum=0)
    latitude_deg: float = option(50.8, "latitude, for solar geometry (synthetic)", unit="deg",
                                 minimum=-90.0, maximum=90.0)
    elevation_m: float = option(100.0, "elevation, for air pressure and clear-sky radiation "
                                "(synthetic)", unit="m")
    start_day_of_year: int = option(1, "day of year of model time 0, 00:00 local solar time "
                                    "(synthetic)", minimum=1, maximum=366)
    mean_temperature_c: float = option(10.0, "annual mean air temperature (synthetic)",
                                       unit="degC")
    annual_amplitude_k: float = option(8.0, "seasonal amplitude of air temperature, coldest "
                                       "mid-January (synthetic; negative: mid-July)", unit="K")
    diurnal_amplitude_k: float = option(5.0, "diurnal amplitude of air temperature "
                                        "(synthetic)", unit="K", minimum=0.0)
    anomaly_sd_k: float = option(2.0, "standard deviation of the daily temperature anomaly "
                                 "(synthetic)", unit="K", minimum=0.0)
    anomaly_corr: float = option(0.7, "lag-one correlation of the daily temperature anomaly, "
                                 "in [0, 1) (synthetic)", minimum=0.0)
    annual_precipitation_m: float = option(0.8, "mean annual precipitation (synthetic)",
                                           unit="m", minimum=0.0)
    wet_day_probability: float = option(0.5, "probability that a day is wet (synthetic)",
                                        minimum=0.0, exclusive_minimum=True, maximum=1.0)
    precipitation_spatial_sd: float = option(0.0, "standard deviation of a log-normal factor on "
                                             "a wet day's precipitation per column (synthetic; "
                                             "0: uniform)", minimum=0.0)
    wind_mean: float = option(3.5, "mean wind speed (synthetic)", unit="m s-1", minimum=0.0)
    path: Optional[str] = option(None, "the forcing file (netcdf; required)")
    start: Optional[str] = option(None, "ISO 8601 date-time of model time 0 (netcdf; default: the "
                               "file's first record)")
    block_records: int = option(168, "records read at once (netcdf)", minimum=1)

    def check(self, path: str) -> None:
        _refuse_other_keys(self, path, self.type, FORCING_KEYS[self.type], "forcing")
        if self.type == "netcdf":
            _require(self, path, ("path",), "a 'netcdf' forcing reads this file")
        if not self.anomaly_corr < 1.0:
            raise ConfigError(f"{path}.anomaly_corr = {self.anomaly_corr}: must be < 1")
        if self.start is not None:
            try:
                datetime.fromisoformat(self.start)
            except ValueError:
                raise ConfigError(f"{path}.start = {self.start!r}: expected an ISO 8601 time "
                                  "such as 2020-04-01T00:00:00") from None


def check_field_shapes(tables: Mapping[str, Any]) -> None:
    """Values of ``[soil]`` and ``[initial]`` given per layer, per column or per cell must fit
    ``[grid]`` (checked here, before any model work, rather than when the model is built).

    Raises
    ------
    ConfigError
        Naming the key, the shape given and the shapes the grid allows.
    """
    grid = tables.get("grid", {})
    dz = grid.get("dz_m") or (layer_thicknesses(grid["layers"]) if grid.get("layers")
                              else None)
    nx, ny = grid.get("nx"), grid.get("ny")
    if dz is None or nx is None or ny is None:
        return
    nz = len(dz)
    allowed = {(), (nz,), (ny, nx), (nz, ny, nx)}
    for table, section in (("soil", SoilSection), ("initial", InitialSection)):
        fields = {f.name for f in dataclasses.fields(section) if "FieldValue" in str(f.type)}
        for key, value in tables.get(table, {}).items():
            shape = np.shape(value)
            if key in fields and shape not in allowed:
                raise ConfigError(f"{table}.{key}: shape {shape} does not fit the grid; expected "
                                  f"one value, {nz} (one per layer of grid.dz_m), ({ny}, {nx}) "
                                  f"(one per column) or ({nz}, {ny}, {nx}) (one per cell)")


#: The model's tables and their sections.
MODEL_SECTIONS: dict[str, type] = {
    "grid": GridSection, "soil": SoilSection, "boundary": BoundarySection,
    "initial": InitialSection, "solver": SolverSection, "land": LandSection,
    "forcing": ForcingSection}

"""``RichardsModel``: the 3D variably saturated subsurface behind pdafpy's Model protocol.

The state is the pressure head ``pressure_head`` [m], ``nz`` levels top-down, per owned column
block. Optionally ``log10_ks`` (log10 of the horizontal saturated conductivity [m/s], ``nz``
levels; the vertical one keeps its ratio to it) is exposed as a per-member parameter field.

Configuration (a mapping, e.g. a TOML table; units in the keys)::

    [grid]      nx, ny, dx_m, dy_m, dz_m = [...] (top-down) or layers = "zhao2025" | "noah4"
                | "clm10" (models.land.layer_sets)
    [soil]      model = "van_genuchten" | "gardner", theta_r, theta_s, alpha_per_m, n,
                ks_m_per_s (or ks_h_m_per_s and ks_v_m_per_s), ss_per_m; each a scalar,
                a list per layer, or a nested list per column / per cell; optional
                mualem_l and kr_se_high (van Genuchten kr regularised above this Se)
    [boundary]  top, bottom, west, east, south, north: tables {type = ..., ...}
                (see models.richards.boundary.boundary_from_config); default no-flow
    [initial]   water_table_depth_m (default 1.0) or pressure_head_m
    [solver]    kr_averaging, dt_initial_s, dt_min_s, dt_max_s, fixed_dt (bool),
                options_prefix (default "richards_"), petsc_options (table)
    parameter_fields = ["log10_ks"]   (optional)

The top flux from a land model is passed per column with :meth:`RichardsModel.set_top_flux`
(needs ``boundary.top.type = "atmospheric"`` or ``"flux"``) and root-water uptake as a
volumetric source with :meth:`RichardsModel.set_source`.
"""

from __future__ import annotations

import copy
import logging
from typing import Any, Mapping

import numpy as np

from pdafpy.decomposition import Box
from pdafpy.errors import ConfigError, ModelError
from pdafpy.model import FieldSpec, Grid

from .balance import WaterBalance, saturation, water_table_depth
from .boundary import FACES, Atmospheric, Flux, boundary_from_config
from .grid import RichardsGrid
from .solver import RichardsSolver
from .timestepping import StepController

__all__ = ["RichardsModel"]

log = logging.getLogger(__name__)

_SOIL_ALIASES = {
    "theta_r": ("theta_r",), "theta_s": ("theta_s",), "alpha": ("alpha_per_m", "alpha"),
    "n": ("n",), "ks_h": ("ks_h_m_per_s", "ks_m_per_s"), "ks_v": ("ks_v_m_per_s", "ks_m_per_s"),
    "ss": ("ss_per_m", "ss"),
}
_PARAMETER_FIELDS = ("log10_ks",)


def _get(cfg: Mapping[str, Any], section: str, key: str, default: Any = None) -> Any:
    if key not in cfg:
        if default is None:
            raise ConfigError(f"richards: [{section}] needs the key {key!r}")
        return default
    return cfg[key]


class RichardsModel:
    """The Richards solver as a pdafpy model (one object per model task, members in turn).

    Use :meth:`create`; the constructor takes an already built solver.
    """

    def __init__(self, solver: RichardsSolver, controller_template: StepController,
                 parameter_fields: tuple[str, ...] = (), crs: str = "",
                 origin_m: tuple[float, float] = (0.0, 0.0)) -> None:
        self.solver = solver
        self._template = controller_template
        self._parameter_fields = parameter_fields
        self._member: int | None = None
        self._members: dict[int, dict[str, Any]] = {}
        g = solver.grid
        x0, y0 = (float(v) for v in origin_m)
        self._grid = Grid(g.ny, g.nx, g.x + x0, g.y + y0, g.depth.copy(), crs=crs)
        self._ks_ratio = solver.disc.soil["ks_v"] / solver.disc.soil["ks_h"]

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(cls, comm: Any, config: Mapping[str, Any]) -> "RichardsModel":
        """Build the model on the ranks of ``comm`` from a configuration mapping.

        Raises
        ------
        ConfigError
            For a bad or missing key, before anything is solved (Ks <= 0, n <= 1,
            theta_r >= theta_s, a layer thickness <= 0, a grid the ranks cannot split, ...).
        """
        gcfg = dict(_get(config, "richards", "grid"))
        dz = gcfg.get("dz_m")
        if dz is None:
            from ..land.layer_sets import LAYER_SETS, layer_thicknesses
            if gcfg.get("layers") is None:
                raise ConfigError("richards: [grid] needs dz_m (layer thicknesses, top-down) "
                                  f"or layers (one of {', '.join(LAYER_SETS)})")
            dz = layer_thicknesses(gcfg["layers"])
        grid = RichardsGrid(comm, _get(gcfg, "grid", "nx"), _get(gcfg, "grid", "ny"), dz,
                            gcfg.get("dx_m", 1.0), gcfg.get("dy_m", 1.0))
        scfg = dict(_get(config, "richards", "soil"))
        model = scfg.pop("model", "van_genuchten")
        soil = {}
        for key, aliases in _SOIL_ALIASES.items():
            val = next((scfg[a] for a in aliases if a in scfg), None)
            if val is None:
                if key == "ss":
                    val = 0.0
                elif key == "n" and model == "gardner":
                    val = 2.0
                else:
                    raise ConfigError(f"richards: [soil] needs {' or '.join(aliases)}")
            soil[key] = grid.owned(val, key)
        known = {a for al in _SOIL_ALIASES.values() for a in al} | {"mualem_l", "kr_se_high"}
        unknown = set(scfg) - known
        if unknown:
            raise ConfigError(f"richards: [soil] has unknown keys {sorted(unknown)}")
        bcfg = dict(config.get("boundary", {}))
        unknown = set(bcfg) - set(FACES)
        if unknown:
            raise ConfigError(f"richards: [boundary] has unknown faces {sorted(unknown)}; "
                              f"faces are {FACES}")
        bcs = {f: boundary_from_config(f, bcfg.get(f)) for f in FACES}
        vcfg = dict(config.get("solver", {}))
        fixed = bool(vcfg.get("fixed_dt", False))
        dt0 = float(vcfg.get("dt_initial_s", 60.0))
        ctl = StepController(dt=dt0, dt_min=float(vcfg.get("dt_min_s", 1e-3 if not fixed else dt0)),
                             dt_max=float(vcfg.get("dt_max_s", 3600.0 if not fixed else dt0)),
                             fixed=fixed)
        params = tuple(config.get("parameter_fields", ()))
        bad = set(params) - set(_PARAMETER_FIELDS)
        if bad:
            raise ConfigError(f"richards: parameter_fields {sorted(bad)} unknown; "
                              f"available: {_PARAMETER_FIELDS}")
        solver = RichardsSolver(grid, soil, model, bcs,
                                kr_averaging=vcfg.get("kr_averaging", "upstream"),
                                controller=copy.deepcopy(ctl),
                                prefix=vcfg.get("options_prefix", "richards_"),
                                options=vcfg.get("petsc_options"),
                                mualem_l=float(scfg.get("mualem_l", 0.5)),
                                kr_se_high=scfg.get("kr_se_high"))
        self = cls(solver, ctl, params, str(gcfg.get("crs", "")),
                   tuple(gcfg.get("origin_m", (0.0, 0.0))))
        icfg = dict(config.get("initial", {}))
        unknown = set(icfg) - {"water_table_depth_m", "pressure_head_m"}
        if unknown:
            raise ConfigError(f"richards: [initial] has unknown keys {sorted(unknown)}")
        if "pressure_head_m" in icfg and "water_table_depth_m" not in icfg:
            h = grid.owned(icfg["pressure_head_m"], "initial.pressure_head_m")
        else:
            wtd = float(icfg.get("water_table_depth_m", 1.0))
            h = np.broadcast_to((grid.depth - wtd)[:, None, None], grid.owned_shape).copy()
        solver.set_head(h)
        self._initial = h
        return self

    # ------------------------------------------------------------------ protocol
    @property
    def grid(self) -> Grid:
        """The global horizontal grid; ``z`` holds the layer-centre depths [m]."""
        return self._grid

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        """``pressure_head`` [m] (state, nz levels), then any parameter fields."""
        nz = self.solver.grid.nz
        out = [FieldSpec("pressure_head", nz, "m", "state")]
        if "log10_ks" in self._parameter_fields:
            out.append(FieldSpec("log10_ks", nz, "log10(m s-1)", "parameter"))
        return tuple(out)

    @property
    def box(self) -> Box:
        """The columns this rank owns."""
        return self.solver.grid.box

    def _slot(self, member: int) -> dict[str, Any]:
        if member not in self._members:
            self._members[member] = {"controller": copy.deepcopy(self._template),
                                     "balance": WaterBalance(self.solver.grid)}
        return self._members[member]

    def set_state(self, member: int, state: Mapping[str, np.ndarray]) -> None:
        """Load member ``member``: its head, parameters, step controller and water balance."""
        g = self.solver.grid
        if "pressure_head" not in state:
            raise ConfigError("richards: set_state needs the field 'pressure_head'")
        h = np.asarray(state["pressure_head"], dtype=float)
        if h.shape != g.owned_shape:
            raise ConfigError(f"richards: pressure_head must have shape {g.owned_shape} "
                              f"(levels, box.ny, box.nx), got {h.shape}")
        if "log10_ks" in self._parameter_fields and "log10_ks" in state:
            ks = 10.0 ** np.asarray(state["log10_ks"], dtype=float)
            soil = dict(self.solver.disc.soil)
            soil["ks_h"] = ks
            soil["ks_v"] = ks * self._ks_ratio
            self.solver.disc.set_parameters(soil)
        slot = self._slot(member)
        self.solver.controller = slot["controller"]
        self.solver.balance = slot["balance"]
        self.solver.set_head(h)
        self._member = member

    def get_state(self) -> dict[str, np.ndarray]:
        """The current head (and parameter fields), each ``(nz, box.ny, box.nx)``."""
        out = {"pressure_head": self.solver.get_head()}
        if "log10_ks" in self._parameter_fields:
            out["log10_ks"] = np.log10(self.solver.disc.soil["ks_h"])
        return out

    def advance(self, t0: float, t1: float) -> None:
        """Advance the loaded member from ``t0`` to ``t1`` [s].

        Raises
        ------
        ModelError
            On every rank of the task, when a step fails after the controller's cuts; the
            member's step controller is then reset to the configured initial step, so a member
            replaced after a failure (``[ensemble] on_failure = "redraw"``) starts afresh.
        """
        try:
            self.solver.advance(t0, t1)
        except ModelError:
            if self._member is not None:
                slot = self._slot(self._member)
                slot["controller"] = copy.deepcopy(self._template)
                self.solver.controller = slot["controller"]
            raise

    # ------------------------------------------------------------------ coupling
    def set_top_flux(self, flux: Any) -> None:
        """Set the potential top flux [m/s], positive into the soil; scalar or ``(box.ny, box.nx)``."""
        top = self.solver.disc.boundaries["top"]
        if not isinstance(top, (Atmospheric, Flux)):
            raise ConfigError("richards: set_top_flux needs boundary.top.type 'atmospheric' or "
                              f"'flux', the top is {top.kind!r}")
        top.value = np.asarray(flux, dtype=float)

    def set_source(self, source: np.ndarray | None) -> None:
        """Set the volumetric source [1/s] per owned cell (negative: root-water uptake)."""
        if source is None:
            self.solver.source = None
            return
        src = np.asarray(source, dtype=float)
        if src.shape != self.solver.grid.owned_shape:
            raise ConfigError(f"richards: source must have shape {self.solver.grid.owned_shape},"
                              f" got {src.shape}")
        self.solver.source = src

    # ------------------------------------------------------------------ diagnostics
    def diagnostics(self) -> dict[str, np.ndarray]:
        """``theta`` [m3 m-3], ``saturation`` [-] per owned cell, ``water_table_depth`` [m] per
        owned column."""
        h = self.solver.get_head()
        th = self.solver.disc.theta_owned(h)
        return {"theta": th, "saturation": saturation(th, self.solver.disc.theta_s),
                "water_table_depth": water_table_depth(h, self.solver.grid.depth)}

    @property
    def water_balance(self) -> WaterBalance:
        """The loaded member's cumulative water balance."""
        return self.solver.balance

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything per member beyond the state arrays that a restart needs: the step
        controller (``dt`` [s] and its settings) and the cumulative water balance [m3]."""
        return {m: {"controller": s["controller"].state(), "balance": s["balance"].state()}
                for m, s in self._members.items()}

    def restore_checkpoint(self, saved: Mapping[Any, Mapping[str, Any]]) -> None:
        """Inverse of :meth:`checkpoint_state`; members may be keyed by ``int`` or ``str`` and
        values may be numpy scalars (as read back from a checkpoint file)."""
        for m, s in saved.items():
            slot = self._slot(int(m))
            slot["controller"] = StepController.from_state(
                {k: np.asarray(v).item() for k, v in s["controller"].items()})
            slot["balance"].totals = {k: float(v) for k, v in s["balance"]["totals"].items()}
            slot["balance"].steps = int(s["balance"]["steps"])
            if int(m) == self._member:
                self.solver.controller = slot["controller"]
                self.solver.balance = slot["balance"]

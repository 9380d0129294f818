"""Cross-correlated, AR(1)-in-time perturbations of forcing variables.

Generic: which variables exist and which are multiplied or offset by default is the model's
knowledge, passed in as ``known_variables`` and ``default_kinds`` (for the land model see
:mod:`models.landda.forcing_perturbations`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError
from .checks import (BoxLike, check_box, check_grid, check_int, check_members, check_nonnegative,
                     check_positive, correlation_cholesky)
from .fields import SpatialStructure, standard_field
from .truncation import truncate_normal, truncation_inner_limit

__all__ = ["ForcingVariable", "ForcingPerturbation"]

_KINDS = ("multiplicative", "additive")


@dataclass(frozen=True)
class ForcingVariable:
    """The perturbation of one forcing variable.

    Attributes
    ----------
    name : str
        The forcing variable (e.g. ``"precipitation"``); which names exist is the model's
        knowledge (:class:`ForcingPerturbation`'s ``known_variables``).
    sd : float >= 0
        ``"additive"``: sd of the offset, in the variable's unit (K, W m-2). ``"multiplicative"``:
        sd of the factor in linear space when ``sd_space="factor"`` (the HEY/KW26 convention:
        log-space sd ``s = sqrt(ln(1 + sd^2))``), or ``s`` itself when ``sd_space="log"``.
    kind : {"multiplicative", "additive"} or None
        None: the model's default kind for ``name`` (:meth:`with_default_kind`, applied by
        :class:`ForcingPerturbation` from its ``default_kinds``).
    time_scale_s : float > 0, math.inf, or None; s
        AR(1) time scale ``tau``: ``phi = exp(-dt/tau)`` (24 h in the studies). ``None``: white
        in time (``phi = 0``); ``math.inf``: one draw per member, constant in time (Z25).
    mean : float or None
        Mean factor (default 1) or mean offset (default 0); left None while ``kind`` is None.
        Z25's constant precipitation factor
        0.95 is ``mean=0.95, lognormal_bias_correction=False`` in the perturbation.
    sd_space : {"factor", "log"}
        See ``sd``; ignored for additive variables.
    """

    name: str
    sd: float
    kind: Optional[str] = None
    time_scale_s: Optional[float] = 86400.0
    mean: Optional[float] = None
    sd_space: str = "factor"

    def __post_init__(self) -> None:
        kind = self.kind
        if kind is not None and kind not in _KINDS:
            raise ConfigError(f"{self.name}.kind={self.kind!r} must be 'multiplicative' or "
                              "'additive'")
        check_nonnegative(f"{self.name}.sd", self.sd)
        if self.time_scale_s is not None:
            check_positive(f"{self.name}.time_scale_s", self.time_scale_s, allow_inf=True)
        if self.sd_space not in ("factor", "log"):
            raise ConfigError(f"{self.name}.sd_space={self.sd_space!r} must be 'factor' or "
                              "'log'")
        if kind is None and self.mean is None:
            return
        mean = (1.0 if kind == "multiplicative" else 0.0) if self.mean is None else self.mean
        try:
            mean = float(mean)
        except (TypeError, ValueError):
            raise ConfigError(f"{self.name}.mean={self.mean!r} must be a number") from None
        if not math.isfinite(mean) or (kind == "multiplicative" and mean <= 0.0):
            raise ConfigError(f"{self.name}.mean={self.mean!r} must be finite"
                              + (" and > 0 for a multiplicative factor"
                                 if kind == "multiplicative" else ""))
        object.__setattr__(self, "mean", mean)

    def with_default_kind(self, default_kinds: Mapping[str, str]) -> "ForcingVariable":
        """This variable with its ``kind`` (and default ``mean``) taken from ``default_kinds``
        when ``kind`` is None; unchanged otherwise.

        Raises
        ------
        ConfigError
            If ``kind`` is None and ``default_kinds`` has no entry for ``name``.
        """
        if self.kind is not None:
            return self
        if self.name not in default_kinds:
            raise ConfigError(f"{self.name}.kind=None: no default kind is known for "
                              f"{self.name!r}; give 'multiplicative' or 'additive'")
        return replace(self, kind=default_kinds[self.name])

    @property
    def log_sd(self) -> float:
        """Log-space sd ``s`` of a multiplicative factor (or ``sd`` of an additive offset)."""
        if self.kind is None:
            raise ConfigError(f"{self.name}.kind=None: resolve it first (with_default_kind)")
        if self.kind == "additive" or self.sd_space == "log":
            return float(self.sd)
        return math.sqrt(math.log1p(float(self.sd) ** 2))

    def phi(self, dt_s: float) -> float:
        """AR(1) coefficient ``exp(-dt/tau)`` (0 for white noise, 1 for constant)."""
        if self.time_scale_s is None:
            return 0.0
        return math.exp(-dt_s / float(self.time_scale_s))


class ForcingPerturbation:
    """Cross-correlated, AR(1)-in-time forcing perturbations for the members a rank holds.

    The standardised perturbation ``e`` (one per member, variable and column) follows

    ``e_t = phi e_{t-1} + sqrt(1 - phi^2) w_t,  w_t = L z_t``,  ``phi = exp(-dt/tau)``,

    with ``z_t`` independent standard-normal fields (truncated at ``truncate_sd``, see
    :func:`truncate_normal`) drawn with ``cycle = t`` and ``L`` the Cholesky factor of the
    cross-correlation matrix. The first step draws ``e = w`` (stationary from the start). The
    output is

    * multiplicative: ``mean * exp(s e - s^2/2)`` (mean ``mean`` in linear space for normal
      ``e``) or ``mean * exp(s e)`` with ``lognormal_bias_correction=False``;
    * additive: ``mean + sd * e``.

    With ``remove_ensemble_mean`` the factors are divided by their ensemble mean (offsets: the
    ensemble mean is subtracted) and multiplied by ``mean`` (offsets: ``mean`` added), so the
    ensemble-mean forcing is unperturbed (up to rounding). This needs every member's ``e``: each
    rank then carries the AR(1) state of all ``n_members`` for its columns (no communication,
    the same on every layout; ``n_members / len(members)`` times the work).

    Parameters
    ----------
    variables : sequence of ForcingVariable
        In the order given, which is the order of ``correlation``'s rows and of the random
        streams (never reordered).
    seed : int
        Experiment seed.
    n_members : int
        Ensemble size N.
    members : sequence of int
        The global members this rank holds (any order; the output follows it).
    box : Box or (y0, y1, x0, x1)
        This rank's block of the global grid.
    grid_shape : (Ny, Nx)
        The global grid.
    dt_s : float, s
        Time between two consecutive ``cycle`` values (the forcing/model step).
    correlation : (n_vars, n_vars) array or None
        Cross-correlation of the innovations (symmetric positive definite, unit diagonal);
        None: independent. With equal time scales it is also the stationary correlation of ``e``.
    truncate_sd : float or None
        Bound of the standard-normal innovations ``z`` (default 2.5 sd); None: no truncation.
    truncation : {"quantile", "clip"}
        See :func:`truncate_normal`.
    spatial : SpatialStructure
        Uniform per member (default), independent per column, or correlated field.
    remove_ensemble_mean : bool
        See above.
    lognormal_bias_correction : bool
        The ``-s^2/2`` shift that makes the mean factor 1 (default True).
    purpose : str
        Random stream name (change it to get a second, independent set of perturbations).
    known_variables : sequence of str or None
        The variable names the model knows (e.g. its forcing's); another name is a ConfigError.
        None: any name.
    default_kinds : mapping name -> {"multiplicative", "additive"} or None
        The kind of a variable given with ``kind=None`` (:meth:`ForcingVariable.with_default_kind`).
    """

    def __init__(self, variables: Sequence[ForcingVariable], *, seed: int, n_members: int,
                 members: Sequence[int], box: BoxLike, grid_shape: Tuple[int, int], dt_s: float,
                 correlation=None, truncate_sd: Optional[float] = 2.5,
                 truncation: str = "quantile",
                 spatial: SpatialStructure = SpatialStructure(),
                 remove_ensemble_mean: bool = False, lognormal_bias_correction: bool = True,
                 purpose: str = "forcing_perturbation",
                 known_variables: Optional[Sequence[str]] = None,
                 default_kinds: Optional[Mapping[str, str]] = None) -> None:
        variables = tuple(variables)
        if not variables:
            raise ConfigError("variables=() must name at least one forcing variable")
        for v in variables:
            if not isinstance(v, ForcingVariable):
                raise ConfigError(f"variables entry {v!r} must be a ForcingVariable")
            if known_variables is not None and v.name not in known_variables:
                raise ConfigError(f"forcing variable name={v.name!r} is unknown; expected one of "
                                  f"{tuple(known_variables)}")
        variables = tuple(v.with_default_kind(default_kinds or {}) for v in variables)
        names = [v.name for v in variables]
        if len(set(names)) != len(names):
            raise ConfigError(f"variables={names} must not repeat a name")
        if not isinstance(spatial, SpatialStructure):
            raise ConfigError(f"spatial={spatial!r} must be a SpatialStructure")
        self.variables = variables
        self.seed = check_int("seed", seed, 0, 2**64)
        self.n_members = check_int("n_members", n_members, 1)
        self.members = check_members("members", members, self.n_members)
        self.grid_shape = check_grid(grid_shape)
        self.box = check_box(box, self.grid_shape)
        self.dt_s = check_positive("dt_s", dt_s)
        self._chol = correlation_cholesky("correlation", correlation, len(variables))
        if truncate_sd is not None:
            if truncation == "quantile":
                truncation_inner_limit(truncate_sd)
            elif truncation == "clip":
                check_positive("truncate_sd", truncate_sd)
            else:
                raise ConfigError(f"truncation={truncation!r} must be 'quantile' or 'clip'")
        self.truncate_sd = truncate_sd
        self.truncation = truncation
        self.spatial = spatial
        self.remove_ensemble_mean = bool(remove_ensemble_mean)
        self.lognormal_bias_correction = bool(lognormal_bias_correction)
        self.purpose = str(purpose)
        self._phi = np.array([v.phi(self.dt_s) for v in variables])
        self._innov = np.sqrt(1.0 - self._phi ** 2)
        # members whose AR(1) state this rank advances
        self._held = (np.arange(self.n_members, dtype=np.int64) if self.remove_ensemble_mean
                      else self.members.copy())
        pos = {int(m): i for i, m in enumerate(self._held)}
        self._out_rows = np.array([pos[int(m)] for m in self.members], dtype=np.int64)
        self._values: Optional[np.ndarray] = None   # (n_held, n_vars, ny|1, nx|1)
        self._cycle: Optional[int] = None

    # -- the process ----------------------------------------------------------------------

    @property
    def cycle(self) -> Optional[int]:
        """The last cycle stepped to (None before the first :meth:`step`)."""
        return self._cycle

    def _innovations(self, cycle: int) -> np.ndarray:
        """``w = L z`` for every held member; (n_held, n_vars, ny|1, nx|1)."""
        nv = len(self.variables)
        z = [truncate_normal(standard_field(self.seed, self.purpose, cycle, self._held, k,
                                            self.box, self.grid_shape, self.spatial),
                             self.truncate_sd, self.truncation) for k in range(nv)]
        w = np.empty((self._held.size, nv) + z[0].shape[1:])
        for k in range(nv):
            acc = self._chol[k, 0] * z[0]
            for j in range(1, k + 1):
                acc = acc + self._chol[k, j] * z[j]
            w[:, k] = acc
        return w

    def step(self, cycle: int) -> Dict[str, np.ndarray]:
        """Advance the AR(1) state to ``cycle`` and return this rank's perturbations.

        Parameters
        ----------
        cycle : int >= 0
            Time-step counter. The first call starts the process at ``cycle``; later calls
            advance one step per counter value (a skipped counter is stepped through); the same
            counter again returns the same perturbations; an earlier counter is an error
            (restore a saved :meth:`state` instead).

        Returns
        -------
        dict name -> (len(members), box.ny, box.nx) float64
            Multiplicative factors (dimensionless) or additive offsets (the variable's unit),
            rows in the order of ``members``.
        """
        cycle = check_int("cycle", cycle)
        if self._cycle is None:
            self._values = self._innovations(cycle)
            self._cycle = cycle
        elif cycle < self._cycle:
            raise ConfigError(f"cycle={cycle} is before the current cycle {self._cycle}: the "
                              "AR(1) process cannot step back (restore a saved state)")
        else:
            white = bool(np.all(self._innov == 0.0))
            for c in range(self._cycle + 1, cycle + 1):
                if white:   # constant in time: nothing to draw
                    continue
                w = self._innovations(c)
                for k in range(len(self.variables)):
                    self._values[:, k] = (self._phi[k] * self._values[:, k]
                                          + self._innov[k] * w[:, k])
            self._cycle = cycle
        return self._output()

    def _output(self) -> Dict[str, np.ndarray]:
        shape = (self.members.size, self.box.ny, self.box.nx)
        out: Dict[str, np.ndarray] = {}
        for k, var in enumerate(self.variables):
            e = self._values[:, k]
            s = var.log_sd
            if var.kind == "multiplicative":
                g = np.exp(s * e - 0.5 * s * s) if self.lognormal_bias_correction \
                    else np.exp(s * e)
            else:
                g = s * e
            if self.remove_ensemble_mean:
                total = np.zeros_like(g[0])
                for i in range(g.shape[0]):        # sequential: identical on every layout
                    total = total + g[i]
                ens_mean = total / g.shape[0]
                g = g / ens_mean if var.kind == "multiplicative" else g - ens_mean
            val = var.mean * g if var.kind == "multiplicative" else var.mean + g
            out[var.name] = np.ascontiguousarray(np.broadcast_to(val[self._out_rows], shape))
        return out

    # -- restart --------------------------------------------------------------------------

    def state(self) -> Dict[str, np.ndarray]:
        """The AR(1) state for a checkpoint (copies).

        Returns
        -------
        dict
            ``"cycle"``: int64 scalar array (-1 before the first step); ``"members"``: (n_held,)
            int64 global members; ``"box"``: (4,) int64 ``y0, y1, x0, x1``; ``"grid_shape"``:
            (2,) int64; ``"variables"``: (n_vars,) str; ``"values"``: (n_held, n_vars, ny, nx)
            float64 standardised perturbations ``e`` ((n_held, n_vars, 1, 1) when uniform).
        """
        nv = len(self.variables)
        shape = (1, 1) if self.spatial.kind == "uniform" else (self.box.ny, self.box.nx)
        vals = (np.zeros((self._held.size, nv) + shape) if self._values is None
                else self._values.copy())
        b = self.box
        return {"cycle": np.array(-1 if self._cycle is None else self._cycle, dtype=np.int64),
                "members": self._held.copy(),
                "box": np.array([b.y0, b.y1, b.x0, b.x1], dtype=np.int64),
                "grid_shape": np.array(self.grid_shape, dtype=np.int64),
                "variables": np.array([v.name for v in self.variables]),
                "values": vals}

    @classmethod
    def from_state(cls, state: Mapping[str, np.ndarray], variables: Sequence[ForcingVariable],
                   **kwargs) -> "ForcingPerturbation":
        """A perturbation that continues bit-identically from a saved :meth:`state`.

        ``variables`` and ``kwargs`` are those of the constructor. The saved state may hold more
        members and a larger box than the new object needs (e.g. a state gathered onto one
        file): the needed members and columns are picked out, so a restart may use another
        rank layout.
        """
        obj = cls(variables, **kwargs)
        obj.restore(state)
        return obj

    def restore(self, state: Mapping[str, np.ndarray]) -> None:
        """Continue bit-identically from a saved :meth:`state` (see :meth:`from_state`).

        Raises
        ------
        ConfigError
            If ``state`` is not a state of this process (other variables, grid, members or
            spatial structure), naming what differs.
        """
        try:
            cycle = int(np.asarray(state["cycle"]))
            members = np.asarray(state["members"], dtype=np.int64)
            y0, y1, x0, x1 = (int(v) for v in np.asarray(state["box"]))
            names = [str(n) for n in np.asarray(state["variables"])]
            values = np.asarray(state["values"], dtype=float)
            grid = tuple(int(v) for v in np.asarray(state["grid_shape"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"state is not a ForcingPerturbation state: {exc!r}") from None
        if names != [v.name for v in self.variables]:
            raise ConfigError(f"state variables={names} differ from variables="
                              f"{[v.name for v in self.variables]}")
        if grid != self.grid_shape:
            raise ConfigError(f"state grid_shape={grid} differs from grid_shape="
                              f"{self.grid_shape}")
        if cycle < 0:
            self._values, self._cycle = None, None
            return
        lookup = {int(m): i for i, m in enumerate(members)}
        missing = [int(m) for m in self._held if int(m) not in lookup]
        if missing:
            raise ConfigError(f"state members lack {missing[:8]} needed by this rank")
        rows = np.array([lookup[int(m)] for m in self._held], dtype=np.int64)
        vals = values[rows]
        if self.spatial.kind != "uniform":
            b = self.box
            if not (y0 <= b.y0 and b.y1 <= y1 and x0 <= b.x0 and b.x1 <= x1):
                raise ConfigError(f"state box={(y0, y1, x0, x1)} does not contain box={b}")
            vals = vals[:, :, b.y0 - y0:b.y1 - y0, b.x0 - x0:b.x1 - x0]
        want = (self._held.size, len(self.variables)) + (
            (1, 1) if self.spatial.kind == "uniform" else (self.box.ny, self.box.nx))
        if vals.shape != want:
            raise ConfigError(f"state values select to shape {vals.shape}, expected {want} "
                              "(saved with another spatial.kind?)")
        self._values = np.array(vals, dtype=float, copy=True)
        self._cycle = cycle

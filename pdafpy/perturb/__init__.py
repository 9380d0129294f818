"""Ensemble generation: perturbations of forcing, initial states and model parameters.

Every random number comes from :mod:`pdafpy.random`, keyed by
``(seed, purpose, cycle, member, index)`` where ``member`` is the *global* member index and
``index`` is derived from the *global* grid position, so a rank that computes any member for
any block of columns gets exactly the numbers every other layout gets (bit for bit): the same
member on 1 or 4096 ranks, members in any order, a grid split in any boxes.

Keys
----
* ``cycle``: the time-step counter (forcing) or the cycle at which a state/parameter is
  perturbed (0 for the initial ensemble).
* ``index``: one *stream* ``s`` per variable, layer or component is folded in:

  - spatially uniform: ``index = s``;
  - independent per column: ``index = s * (Ny * Nx) + (row * Nx + col)`` (for a layer ``s`` this
    is the C-order index of cell ``(layer, row, col)`` of the global ``(levels, Ny, Nx)`` array);
  - correlated field: the random Fourier modes ``m`` of stream ``s`` use
    ``index = (s * n_modes + m) * 8 + j`` for their components ``j`` (see :func:`standard_field`).

Modules, by job (see ``docs/perturbations.md`` for the choices and their reasons)
--------------------------------------------------------------------------------
* :mod:`.truncation`: deterministic, redraw-free truncation of the innovations
  (:func:`truncate_normal`, variance-preserving by default);
* :mod:`.fields`: standard-normal fields, uniform, independent per column or spatially
  correlated (random Fourier modes) (:class:`SpatialStructure`, :func:`standard_field`);
* :mod:`.forcing`: AR(1), cross-correlated forcing perturbations (:class:`ForcingVariable`,
  :class:`ForcingPerturbation`); the model names its variables and their default kinds;
* :mod:`.state`: additive perturbations of layered state fields (:func:`perturb_state`);
* :mod:`.checks`: the argument checks they share.

Perturbations of a particular model's parameters, built on these, live with that model.
"""

from .fields import SpatialStructure, standard_field
from .forcing import ForcingPerturbation, ForcingVariable
from .state import perturb_state
from .truncation import truncate_normal, truncation_inner_limit

__all__ = [
    "SpatialStructure",
    "ForcingVariable",
    "ForcingPerturbation",
    "truncate_normal",
    "truncation_inner_limit",
    "standard_field",
    "perturb_state",
]

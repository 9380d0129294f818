"""Face values of the relative permeability from the two cells a face joins.

A face joins cell ``a`` and cell ``b``; ``dH = H_a - H_b`` is the total-head difference, so water
flows from ``a`` to ``b`` when ``dH > 0``. Schemes:

``upstream`` (default)
    the upstream cell's value (ParFlow's and PFLOTRAN's choice; robust at dry fronts).
``arithmetic``
    ``(kr_a + kr_b) / 2``.
``harmonic``
    ``2 kr_a kr_b / (kr_a + kr_b)``.
"""

from __future__ import annotations

import numpy as np

from pdafpy.errors import ConfigError

__all__ = ["KR_AVERAGING", "face_kr", "check_averaging"]

KR_AVERAGING = ("upstream", "arithmetic", "harmonic")


def check_averaging(scheme: str) -> str:
    """Return ``scheme`` if known, else raise :class:`ConfigError` naming it."""
    if scheme not in KR_AVERAGING:
        raise ConfigError(f"richards: kr_averaging must be one of {KR_AVERAGING}, got {scheme!r}")
    return scheme


def face_kr(kra: np.ndarray, krb: np.ndarray, dkra: np.ndarray, dkrb: np.ndarray,
            dH: np.ndarray, scheme: str = "upstream"
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Face relative permeability and its derivatives with respect to ``h_a`` and ``h_b``.

    Parameters
    ----------
    kra, krb : float ndarray
        Relative permeability of the cells on either side [-].
    dkra, dkrb : float ndarray
        Their derivatives with respect to the cells' own pressure heads [1/m].
    dH : float ndarray
        Total-head difference ``H_a - H_b`` [m].
    scheme : str
        One of :data:`KR_AVERAGING`.

    Returns
    -------
    kr, dkr_dha, dkr_dhb : float ndarrays (broadcast shape)
    """
    if scheme == "upstream":
        up = dH >= 0.0
        zero = np.zeros((), dtype=float)
        return (np.where(up, kra, krb), np.where(up, dkra, zero), np.where(up, zero, dkrb))
    if scheme == "arithmetic":
        return 0.5 * (kra + krb), 0.5 * dkra, 0.5 * dkrb
    if scheme == "harmonic":
        with np.errstate(all="ignore"):
            s = kra + krb
            s = np.where(s > 0, s, 1.0)
            return 2.0 * kra * krb / s, 2.0 * krb * krb / (s * s) * dkra, \
                2.0 * kra * kra / (s * s) * dkrb
    raise ConfigError(f"richards: kr_averaging must be one of {KR_AVERAGING}, got {scheme!r}")

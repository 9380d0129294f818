"""Pedotransfer rules: soil hydraulic parameters from sand and clay percentages.

* Cosby et al. (1984) univariate regressions in the form CLM 3.5 uses (continuous in texture:
  Ks, theta_s, psi_s, Clapp-Hornberger b; van Genuchten by matching the dry-end asymptote),
  :func:`cosby1984`;
* the Rosetta class-average table (Schaap et al. 2001) with the USDA texture triangle (van
  Genuchten theta_r, theta_s, alpha, n, Ks directly), :func:`rosetta_class_average` and
  :func:`usda_texture_class`.

Texture perturbations that feed them: :func:`models.land.soil_perturbations.perturb_texture`.
"""

from __future__ import annotations

from typing import Dict, Tuple

import numpy as np

from pdafpy.errors import ConfigError

__all__ = ["cosby1984", "USDA_CLASSES", "usda_texture_class", "rosetta_class_average"]

_IN_PER_H = 0.0254 / 3600.0      # m/s per inch/hour


def _texture(sand_pct, clay_pct) -> Tuple[np.ndarray, np.ndarray]:
    s = np.asarray(sand_pct, dtype=float)
    c = np.asarray(clay_pct, dtype=float)
    try:
        s, c = np.broadcast_arrays(s, c)
    except ValueError:
        raise ConfigError(f"sand_pct shape {s.shape} and clay_pct shape {c.shape} do not "
                          "broadcast") from None
    for name, a in (("sand_pct", s), ("clay_pct", c)):
        if not np.all(np.isfinite(a)) or np.any(a < 0) or np.any(a > 100):
            raise ConfigError(f"{name} must lie in [0, 100] %")
    if np.any(s + c > 100.0 + 1e-9):
        raise ConfigError("sand_pct + clay_pct must be <= 100 %")
    return s, c


def cosby1984(sand_pct, clay_pct) -> Dict[str, np.ndarray]:
    """Cosby et al. (1984) univariate pedotransfer regressions, in CLM 3.5's form.

    Cosby, B. J., Hornberger, G. M., Clapp, R. B. & Ginn, T. R. (1984), Water Resour. Res. 20,
    682-690, Table 4; as used by CLM 3.5 (Oleson et al. 2004, Eqs. 7.87-7.91) and the Z25 study
    (its Eqs. 6-8):

    * ``Ks = 0.0070556 mm/s * 10**(-0.884 + 0.0153 sand)`` (0.0070556 mm/s = 1 inch/h),
    * ``theta_s = 0.489 - 0.00126 sand``,
    * ``psi_s = 10 mm * 10**(1.88 - 0.0131 sand)`` (air-entry suction, magnitude),
    * ``b = 2.91 + 0.159 clay`` (Clapp-Hornberger / Campbell exponent).

    van Genuchten parameters by matching the dry-end asymptote of the Brooks-Corey/Campbell curve
    ``S = (psi/psi_s)^(-1/b)`` with ``S ~ (alpha psi)^(-(n-1))``: ``n = 1 + 1/b``,
    ``alpha = 1/psi_s``, ``theta_r = 0``. This gives low ``n`` (1.1-1.35): Campbell's b is fitted
    over the whole retention range; prefer :func:`rosetta_class_average` for vG-Mualem models.

    Parameters
    ----------
    sand_pct, clay_pct : float array_like, %, broadcastable; sand + clay <= 100

    Returns
    -------
    dict of float64 arrays: ``ks_m_s`` [m/s], ``theta_s`` [m3/m3], ``psi_s_m`` [m, > 0],
    ``b`` [-], ``alpha_per_m`` [1/m], ``n`` [-], ``theta_r`` [m3/m3].
    """
    s, c = _texture(sand_pct, clay_pct)
    ks = _IN_PER_H * 10.0 ** (-0.884 + 0.0153 * s)
    theta_s = 0.489 - 0.00126 * s
    psi_s = 0.01 * 10.0 ** (1.88 - 0.0131 * s)
    b = 2.91 + 0.159 * c
    return {"ks_m_s": ks, "theta_s": theta_s, "psi_s_m": psi_s, "b": b,
            "alpha_per_m": 1.0 / psi_s, "n": 1.0 + 1.0 / b, "theta_r": np.zeros_like(s)}


#: USDA texture classes in the order of :func:`usda_texture_class`'s codes.
USDA_CLASSES = ("sand", "loamy sand", "sandy loam", "loam", "silt loam", "silt",
                "sandy clay loam", "clay loam", "silty clay loam", "sandy clay", "silty clay",
                "clay")

# Rosetta class averages (Schaap, Leij & van Genuchten 2001, J. Hydrol. 251, 163-176, the
# class-average table of Rosetta's model H1): theta_r, theta_s [cm3/cm3], log10 alpha [1/cm],
# log10 n, log10 Ks [cm/day]; rows in USDA_CLASSES order.
_ROSETTA_H1 = np.array([
    [0.053, 0.375, -1.453, 0.502, 2.808],   # sand
    [0.049, 0.390, -1.459, 0.242, 2.022],   # loamy sand
    [0.039, 0.387, -1.574, 0.161, 1.583],   # sandy loam
    [0.061, 0.399, -1.954, 0.168, 1.081],   # loam
    [0.065, 0.439, -2.296, 0.221, 1.261],   # silt loam
    [0.050, 0.489, -2.182, 0.225, 1.641],   # silt
    [0.063, 0.384, -1.676, 0.124, 1.120],   # sandy clay loam
    [0.079, 0.442, -1.801, 0.151, 0.913],   # clay loam
    [0.090, 0.482, -2.076, 0.182, 1.046],   # silty clay loam
    [0.117, 0.385, -1.476, 0.082, 1.055],   # sandy clay
    [0.111, 0.481, -1.790, 0.121, 0.983],   # silty clay
    [0.098, 0.459, -1.825, 0.098, 1.169],   # clay
])


def usda_texture_class(sand_pct, clay_pct) -> np.ndarray:
    """USDA texture class (index into :data:`USDA_CLASSES`) of each sand/clay pair.

    The texture-triangle boundaries of the USDA Soil Survey Manual, silt = 100 - sand - clay;
    vectorised (``np.select`` over the 12 classes, first match wins).
    """
    s, c = _texture(sand_pct, clay_pct)
    si = 100.0 - s - c
    conds = [
        si + 1.5 * c < 15,                                                    # sand
        (si + 1.5 * c >= 15) & (si + 2 * c < 30),                             # loamy sand
        ((c >= 7) & (c < 20) & (s > 52) & (si + 2 * c >= 30))
        | ((c < 7) & (si < 50) & (si + 2 * c >= 30)),                         # sandy loam
        (c >= 7) & (c < 27) & (si >= 28) & (si < 50) & (s <= 52),             # loam
        ((si >= 50) & (c >= 12) & (c < 27)) | ((si >= 50) & (si < 80) & (c < 12)),  # silt loam
        (si >= 80) & (c < 12),                                                # silt
        (c >= 20) & (c < 35) & (si < 28) & (s > 45),                          # sandy clay loam
        (c >= 27) & (c < 40) & (s > 20) & (s <= 45),                          # clay loam
        (c >= 27) & (c < 40) & (s <= 20),                                     # silty clay loam
        (c >= 35) & (s > 45),                                                 # sandy clay
        (c >= 40) & (si >= 40),                                               # silty clay
        (c >= 40) & (s <= 45) & (si < 40),                                    # clay
    ]
    return np.select(conds, np.arange(12), default=3).astype(np.int64)


def rosetta_class_average(sand_pct, clay_pct) -> Dict[str, np.ndarray]:
    """van Genuchten-Mualem parameters from the Rosetta class-average table.

    Schaap, Leij & van Genuchten (2001), Rosetta model H1 (texture class only): each sand/clay
    pair is classified in the USDA triangle (:func:`usda_texture_class`) and given its class's
    average parameters. Piecewise constant in texture: a texture perturbation changes the
    parameters only where it crosses a class boundary.

    Returns
    -------
    dict of float64 arrays (``texture_class`` int64): ``theta_r``, ``theta_s`` [m3/m3],
    ``alpha_per_m`` [1/m], ``n`` [-], ``ks_m_s`` [m/s], ``texture_class``.
    """
    cls = usda_texture_class(sand_pct, clay_pct)
    t = _ROSETTA_H1[cls]
    return {"theta_r": t[..., 0], "theta_s": t[..., 1],
            "alpha_per_m": 100.0 * 10.0 ** t[..., 2], "n": 10.0 ** t[..., 3],
            "ks_m_s": 0.01 / 86400.0 * 10.0 ** t[..., 4], "texture_class": cls}

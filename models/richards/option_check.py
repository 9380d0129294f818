"""The Richards solver's PETSc options, checked before any model work.

:func:`check_petsc_options` hands the options the solver would use (its defaults, the command
line's ``-<prefix><name>`` where given, ``[solver] petsc_options`` otherwise) to a scratch SNES on
``COMM_SELF`` under a prefix of its own, and every ``*ksp_type`` and ``*pc_type`` (such as
``sub_pc_type``, read only when the solver is set up) to a scratch KSP or PC, so that PETSc
refuses a solver, preconditioner or line search it does not know, or a value it cannot read, in
one line naming the key, instead of when the model is built. Names PETSc does not know are not
checked (PETSc ignores them), nor values read only when the solver is set up on the model's
grid (other than the types). The options the model reads itself (``accept_fnorm``,
``retry_linesearch``, ``own_row_correction``, ``near_saturation_step``) are checked here against
what the solver accepts.
"""

from __future__ import annotations

from typing import Any, Mapping

from pdafpy.errors import ConfigError

__all__ = ["check_petsc_options"]

SCRATCH_PREFIX = "pdafpy_option_check_"
#: Values PETSc's options database reads as a logical (case-insensitive), true and false.
TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


def parse_bool(value: str) -> bool | None:
    """``value`` as PETSc's options database reads a logical, or None if it is not one."""
    word = value.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def _reason(exc: Exception) -> str:
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    return lines[-1].removeprefix("[0]").strip() if lines else "PETSc error"


def _unknown_type(name: str, value: str) -> str | None:
    """PETSc's reason when ``name`` (any ``*ksp_type`` or ``*pc_type``, such as
    ``sub_pc_type``, read only when the solver is set up) names a type it does not have."""
    from petsc4py import PETSc

    kind = PETSc.KSP if name.endswith("ksp_type") else PETSc.PC if name.endswith("pc_type") \
        else None
    if kind is None:
        return None
    obj = kind().create(PETSc.COMM_SELF)
    try:
        obj.setType(value)
    except PETSc.Error as exc:
        return _reason(exc)
    finally:
        obj.destroy()
    return None


def _refusal(values: Mapping[str, str]) -> str | None:
    """PETSc's reason for refusing ``values`` (names without prefix) on a scratch SNES, or
    None."""
    from petsc4py import PETSc

    db = PETSc.Options()
    for k, v in values.items():
        db.setValue(SCRATCH_PREFIX + k, v)
    snes = PETSc.SNES().create(PETSc.COMM_SELF)
    try:
        snes.setOptionsPrefix(SCRATCH_PREFIX)
        snes.setFromOptions()
    except PETSc.Error as exc:
        return _reason(exc)
    finally:
        snes.destroy()
        for k in values:
            db.delValue(SCRATCH_PREFIX + k)
    return None


def check_petsc_options(options: Mapping[str, Any], prefix: str = "richards_") -> None:
    """Refuse ``[solver] petsc_options`` PETSc or the solver cannot use.

    Parameters
    ----------
    options : mapping
        ``[solver] petsc_options`` (names without prefix or dash).
    prefix : str
        ``[solver] options_prefix`` (the command line's options under it win, as in the solver).

    Raises
    ------
    ConfigError
        Naming ``solver.petsc_options.<name>``, its value and PETSc's reason.
    """
    from petsc4py import PETSc

    from .solver import DEFAULT_OPTIONS, LOGICAL_OPTIONS, MODEL_OPTIONS, RETRY_LINESEARCHES

    db = PETSc.Options()
    given = {k.lstrip("-"): ("true" if v is True else "false" if v is False else str(v))
             for k, v in options.items()}
    merged = dict(DEFAULT_OPTIONS, **given)
    outside = {k for k in merged if db.hasName(prefix + k)}       # PETSC_OPTIONS, command line
    merged = {k: db.getString(prefix + k) if k in outside else v for k, v in merged.items()}
    where = {k: (f"-{prefix}{k} {merged[k]} (PETSc's options)" if k in outside else
                 f"solver.petsc_options.{k} = {given[k]!r}" if k in given else
                 f"the solver's default {k} = {merged[k]!r}") for k in merged}
    try:
        fnorm = float(merged["accept_fnorm"])
    except ValueError:
        fnorm = -1.0
    if not fnorm >= 0.0:
        raise ConfigError(f"{where['accept_fnorm']}: expected a number >= 0")
    if merged["retry_linesearch"].lower() not in RETRY_LINESEARCHES:
        raise ConfigError(f"{where['retry_linesearch']}: expected one of "
                          f"{', '.join(RETRY_LINESEARCHES)}")
    for name in LOGICAL_OPTIONS:
        text = merged[name]
        if parse_bool(text) is None and not (text == "" and name in outside):
            raise ConfigError(f"{where[name]}: expected true or false")
    petsc = {k: v for k, v in merged.items() if k not in MODEL_OPTIONS}
    for k, v in petsc.items():
        reason = _unknown_type(k, v)
        if reason is not None:
            raise ConfigError(f"{where[k]}: PETSc refuses it ({reason})")
    reason = _refusal(petsc)
    if reason is None:
        return
    for k in [k for k in petsc if k in given] + [k for k in petsc if k not in given]:
        without = {n: v for n, v in petsc.items() if n != k}          # the culprit
        if k in DEFAULT_OPTIONS and k in given:
            without[k] = DEFAULT_OPTIONS[k]
        if _refusal(without) is None:
            raise ConfigError(f"{where[k]}: PETSc refuses it ({reason})")
    raise ConfigError(f"solver.petsc_options: PETSc refuses them ({reason})")

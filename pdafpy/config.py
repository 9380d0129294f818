"""Typed configuration from TOML: frozen dataclasses, validated with the key path in every error.

A configuration section is a frozen dataclass whose fields are declared with :func:`option`
(default, description, unit, range, choices, PDAF aliases). :func:`parse_section` turns a TOML
table into an instance and reports, with the full key path (``filter.forget``), the value and
what is allowed:

- a key the section does not know (with the keys it does know);
- a value of the wrong type (an integer where a number is expected is accepted; a boolean is never
  a number);
- a value out of range or not among the choices;
- a key given twice, once under its own name and once under an alias.

Nested dataclasses are sub-tables, lists of dataclasses are arrays of tables (``[[observations]]``).
An element class of such an array may choose, from each table, the subclass that parses it
(a classmethod ``resolve(table, path)``, e.g. by the table's ``type``). Cross-field checks live
in each section's ``check()`` method, called after parsing. :func:`merge_tables` lays a user's
file over packaged defaults by the schema (aliases resolved first), :func:`reference_markdown`
writes the reference of a section tree for ``docs/``.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Mapping

from .errors import ConfigError, InputFileError

__all__ = ["option", "parse_section", "parse_tables", "load_toml", "check_keys",
           "reference_markdown", "merge_tables", "canonical_keys"]

_NUMBER = (int, float)
#: TOML's integers: 64-bit signed.
_INT64 = (-(2**63), 2**63 - 1)


def option(default: Any = dataclasses.MISSING, doc: str = "", *, unit: str = "",
           minimum: float | None = None, maximum: float | None = None,
           exclusive_minimum: bool = False, choices: tuple | None = None,
           aliases: tuple[str, ...] = (), default_factory: Any = dataclasses.MISSING,
           allow_inf: bool = False) -> Any:
    """A dataclass field with the metadata the parser and the reference need.

    Parameters
    ----------
    default, default_factory
        The default (every key has one: the model's defaults' value).
    doc : str
        One-line description for the reference and for error messages.
    unit : str
        Physical unit (SI), shown in the reference.
    minimum, maximum : float, optional
        Allowed range (inclusive unless ``exclusive_minimum``).
    choices : tuple, optional
        Allowed values.
    aliases : tuple of str
        Other accepted key names (PDAF's: ``forget``, ``cradius``, ...).
    allow_inf : bool
        Whether ``inf`` is a meaningful value (e.g. an infinite time scale); NaN never is.
    """
    meta = {"doc": doc, "unit": unit, "minimum": minimum, "maximum": maximum,
            "exclusive_minimum": exclusive_minimum, "choices": choices, "aliases": aliases,
            "allow_inf": allow_inf}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def load_toml(path: Path | str) -> dict[str, Any]:
    """Read a TOML file.

    Raises
    ------
    InputFileError
        Naming the file: missing or unreadable, not UTF-8 text, not valid TOML, or TOML that
        Python's parser cannot hold (an integer of thousands of digits, tables or arrays nested
        thousands deep).
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(f"{path}: configuration file not found")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: not UTF-8 text (byte {exc.start}); a configuration is a "
                             "UTF-8 TOML file") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(f"{path}: not valid TOML ({exc})") from None
    except ValueError as exc:               # an integer longer than Python converts
        raise InputFileError(f"{path}: not usable TOML ({str(exc).split(':')[0]})") from None
    except RecursionError:
        raise InputFileError(f"{path}: not usable TOML (arrays or tables nested too "
                             "deeply)") from None


def check_keys(table: Mapping[str, Any], path: str = "") -> None:
    """Refuse a key that is not printable text, at any depth of ``table`` (in arrays of tables
    too): no key of pdafpy's is, and messages name keys as they are, on one line.

    Raises
    ------
    ConfigError
        Naming the key path and the key (escaped).
    """
    todo: list[tuple[Any, str]] = [(table, path)]
    while todo:
        value, where = todo.pop()
        if isinstance(value, list):
            todo += [(v, f"{where}[{i}]") for i, v in enumerate(value)]
        elif isinstance(value, Mapping):
            for key, v in value.items():
                if not (isinstance(key, str) and key.isprintable()):
                    raise ConfigError(f"{where or 'top level'}: key {key!r}: expected a name "
                                      "of printable characters")
                todo.append((v, f"{where}.{key}" if where else key))


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (list, tuple):
        args = typing.get_args(tp)
        if not args:
            return "a list"
        inner = _describe(args[0])
        plural = {"a number": "numbers", "an integer": "integers", "a string": "strings",
                  "true or false": "booleans", "a table": "tables"}
        return f"a list of {plural[inner]}" if inner in plural else f"a list, each {inner}"
    if origin is typing.Union or origin is types.UnionType:
        return " or ".join(_describe(a) for a in typing.get_args(tp) if a is not type(None))
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            dict: "a table"}.get(tp, getattr(tp, "__name__", str(tp)))


def _convert(value: Any, tp: Any, path: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted (int -> float etc.)."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, path)
            except ConfigError as exc:
                errors.append(exc)
        raise ConfigError(f"{path} = {value!r}: expected {_describe(tp)}")
    if origin in (list, tuple):
        (item,) = typing.get_args(tp)[:1] or (Any,)
        if not isinstance(value, list):
            raise ConfigError(f"{path} = {value!r}: expected {_describe(tp)}")
        items = [_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
        return tuple(items)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{path} = {value!r}: expected a table")
        return parse_section(tp, value, path)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{path} = {value!r}: expected true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{path} = {value!r}: expected an integer")
        if not _INT64[0] <= value <= _INT64[1]:
            raise ConfigError(f"{path} = {value!r}: expected an integer of 64 bits (TOML's)")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, _NUMBER):
            raise ConfigError(f"{path} = {value!r}: expected a number")
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"{path} = {value!r}: expected a finite number") from None
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{path} = {value!r}: expected a string")
        return value
    if tp is dict or typing.get_origin(tp) is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{path} = {value!r}: expected a table")
        return dict(value)
    return value


def _flat(value: Any) -> list:
    """The scalars of a value, nested lists (per-layer, per-cell maps) unrolled."""
    if isinstance(value, tuple):
        return [x for v in value for x in _flat(v)]
    return [value]


def _check_range(value: Any, meta: Mapping[str, Any], path: str) -> None:
    if value is None:
        return
    for v in _flat(value):
        if meta.get("choices") is not None and v not in meta["choices"]:
            raise ConfigError(f"{path} = {v!r}: expected one of {list(meta['choices'])}")
        if not isinstance(v, _NUMBER) or isinstance(v, bool):
            continue
        if isinstance(v, float) and (math.isnan(v) or (math.isinf(v)
                                                       and not meta.get("allow_inf"))):
            raise ConfigError(f"{path} = {v!r}: expected a finite number")
        lo, hi = meta.get("minimum"), meta.get("maximum")
        if lo is not None and (v < lo or (meta.get("exclusive_minimum") and v == lo)):
            rel = ">" if meta.get("exclusive_minimum") else ">="
            raise ConfigError(f"{path} = {v!r}: must be {rel} {lo}")
        if hi is not None and v > hi:
            raise ConfigError(f"{path} = {v!r}: must be <= {hi}")


def parse_section(cls: type, table: Mapping[str, Any], path: str = "") -> Any:
    """An instance of the dataclass ``cls`` from a TOML table, validated.

    Parameters
    ----------
    cls : dataclass type
        The section schema (fields declared with :func:`option`).
    table : mapping
        The TOML table.
    path : str
        Key path of the table, for messages (e.g. ``"filter"``).
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = _names(cls)
    given: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in table.items():
        where = f"{path}.{key}" if path else key
        if key not in names:
            allowed = ", ".join(sorted(fields))
            raise ConfigError(f"{where}: unknown key; [{path or 'top level'}] accepts {allowed}")
        name = names[key]
        if name in given:
            raise ConfigError(f"{where}: {name!r} is given twice (as {spelled[name]!r} and "
                              f"{key!r})")
        tp = hints[name]
        elem = typing.get_args(tp)[0] if typing.get_origin(tp) in (list, tuple) else None
        if elem is not None and dataclasses.is_dataclass(elem):
            if not isinstance(value, list):
                raise ConfigError(f"{where}: expected an array of tables ([[{key}]])")
            converted = tuple(parse_section(_element_class(elem, v, f"{where}[{i}]"), v,
                                            f"{where}[{i}]") if isinstance(v, dict)
                              else _raise_table(f"{where}[{i}]", v) for i, v in enumerate(value))
        else:
            converted = _convert(value, tp, where)
        _check_range(converted, fields[name].metadata, where)
        given[name] = converted
        spelled[name] = key
    instance = cls(**given)
    check = getattr(instance, "check", None)
    if check is not None:
        check(path)
    return instance


def _plain(value: Any) -> Any:
    """A parsed value as TOML gives it: tuples as lists."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _given(section: Any, table: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``table`` under their field names, with ``section``'s converted values."""
    names = _names(type(section))
    out = {}
    for key, raw in table.items():
        value = getattr(section, names[key])
        out[names[key]] = _given(value, raw) if dataclasses.is_dataclass(value) else _plain(value)
    return out


def parse_tables(sections: Mapping[str, type], tables: Mapping[str, Any]) -> dict[str, Any]:
    """Validate tables that a model reads itself; the keys given, converted.

    Parameters
    ----------
    sections : mapping of str to dataclass type
        The section of each table.
    tables : mapping
        Tables by name, as read from TOML (and laid over the defaults): a key the model requires
        must be there.

    Returns
    -------
    dict
        Per table, a plain dict of the keys given (an alias under the key's own name), numbers
        as floats where the key is a number, lists as lists: the model applies its own defaults
        to the rest (which the sections declare and document).

    Raises
    ------
    ConfigError
        Naming the key path: an unknown table or key, a value of the wrong type or out of range,
        whatever a section's ``check()`` refuses.
    """
    out = {}
    for name, table in tables.items():
        cls = sections.get(name)
        if cls is None:
            raise ConfigError(f"{name}: not a table of the model; its tables are "
                              f"{', '.join(sections)}")
        if not isinstance(table, Mapping):
            raise ConfigError(f"{name} = {table!r}: expected a table [{name}]")
        out[name] = _given(parse_section(cls, table, name), table)
    return out


def _raise_table(path: str, value: Any) -> None:
    raise ConfigError(f"{path} = {value!r}: expected a table")


def _element_class(cls: type, table: Mapping[str, Any], path: str) -> type:
    """The class that parses one table of an array: ``cls.resolve(table, path)`` if defined."""
    resolve = getattr(cls, "resolve", None)
    return resolve(table, path) if resolve is not None else cls


def _names(cls: type) -> dict[str, str]:
    """Every accepted key of a section (names and aliases) -> its field name."""
    names = {}
    for f in dataclasses.fields(cls):
        names[f.name] = f.name
        for alias in f.metadata.get("aliases", ()):
            names[alias] = f.name
    return names


def canonical_keys(cls: type, table: Mapping[str, Any], path: str = "") -> dict[str, Any]:
    """``table`` with PDAF aliases renamed to the section's own names, in its sub-sections too
    (unknown keys are kept for :func:`parse_section` to report).

    Raises
    ------
    ConfigError
        If a key is given twice, under its name and an alias.
    """
    names, hints = _names(cls), typing.get_type_hints(cls)
    out: dict[str, Any] = {}
    spelled: dict[str, str] = {}
    for key, value in table.items():
        name = names.get(key, key)
        if name in out:
            raise ConfigError(f"{path + '.' if path else ''}{key}: {name!r} is given twice (as "
                              f"{spelled[name]!r} and {key!r})")
        tp = hints.get(name)
        if tp is not None and dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
            value = canonical_keys(tp, value, f"{path}.{name}" if path else name)
        out[name] = value
        spelled[name] = key
    return out


def merge_tables(schema: type | Mapping[str, type], base: Mapping[str, Any],
                 override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` laid over ``base`` (e.g. a user's file over the model's defaults).

    Keys are first brought to their own names (:func:`canonical_keys`), so that an alias in one
    and the name in the other are the same key. Sub-sections of the schema are merged key by
    key, except that a key of a section's ``ALTERNATIVES`` group (keys that exclude each other,
    such as ``dz_m`` and ``layers``) given in ``override`` drops the base's other keys of that
    group; everything else is replaced whole: values, arrays of tables, free-form tables (such as a
    list of perturbed variables, whose order matters), and any table whose ``type`` differs from
    the base's (a NetCDF forcing shares no key with a synthetic one).

    Parameters
    ----------
    schema : dataclass type or mapping of str to dataclass type
        The section tree, or the top-level tables and their sections.
    base, override : mapping
        TOML tables.
    """
    if isinstance(schema, Mapping):
        sections = dict(schema)
    else:
        base, override = canonical_keys(schema, base), canonical_keys(schema, override)
        sections = {k: tp for k, tp in typing.get_type_hints(schema).items()
                    if dataclasses.is_dataclass(tp)}
    out = dict(base)
    for key, value in override.items():
        section = sections.get(key)
        old = out.get(key)
        if section is not None and isinstance(value, Mapping) and isinstance(old, Mapping):
            if "type" in value and value.get("type") != old.get("type"):
                out[key] = canonical_keys(section, value, key)
            else:
                given = set(canonical_keys(section, value, key))
                dropped = {k for group in getattr(section, "ALTERNATIVES", ())
                           if given & set(group) for k in group if k not in given}
                out[key] = merge_tables(section, {k: v for k, v in old.items()
                                                  if k not in dropped}, value)
        else:
            out[key] = value
    return out


def reference_markdown(cls: type, title: str, path: str = "") -> str:
    """Markdown reference of a section tree: one table of keys per section."""
    hints = typing.get_type_hints(cls)
    rows, subsections = [], []
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        elem = typing.get_args(tp)[0] if typing.get_origin(tp) in (list, tuple) else None
        key = f"{path}.{f.name}" if path else f.name
        if dataclasses.is_dataclass(tp):
            subsections.append(reference_markdown(tp, f"[{key}]", key))
            continue
        if elem is not None and dataclasses.is_dataclass(elem):
            subsections.append(reference_markdown(elem, f"[[{key}]]", key))
            continue
        meta = f.metadata
        default = (f.default if f.default is not dataclasses.MISSING
                   else f.default_factory() if f.default_factory is not dataclasses.MISSING
                   else "required")
        allowed = []
        if meta.get("choices"):
            allowed.append(", ".join(map(str, meta["choices"])))
        if meta.get("minimum") is not None:
            allowed.append((">" if meta.get("exclusive_minimum") else ">=") + f" {meta['minimum']}")
        if meta.get("maximum") is not None:
            allowed.append(f"<= {meta['maximum']}")
        aliases = ", ".join(f"`{a}`" for a in meta.get("aliases", ()))
        rows.append(f"| `{f.name}` | {_describe(tp)} | `{default!r}` | {meta.get('unit', '')} | "
                    f"{'; '.join(allowed)} | {meta.get('doc', '')}"
                    f"{' (aliases: ' + aliases + ')' if aliases else ''} |")
    doc = (cls.__doc__ or "").strip().split("\n")[0]
    out = [f"## {title}", "", doc, ""]
    if rows:
        out += ["| key | type | default | unit | allowed | meaning |",
                "|---|---|---|---|---|---|", *rows, ""]
    return "\n".join(out + subsections)

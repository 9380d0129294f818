"""Property-based fuzzing of pdafpy's readers of user input: the property and the strategies.

The property: a reader given any input either loads it or refuses it with pdafpy's own error
(:class:`~pdafpy.errors.PdafpyError`, e.g. ``ConfigError``, ``InputFileError``) whose message is
one non-empty line; any other exception (``KeyError``, ``TypeError``, ``UnicodeDecodeError``, ...)
or a message over several lines is a bug. The tests (``tests/test_fuzz.py``) and the verification
suite ``pdafpy verify fuzz`` (:mod:`pdafpy.verify_fuzz`) share what is here:

- :func:`outcome` runs one call and tells :data:`LOADED`, :data:`REFUSED` or :data:`OTHER`;
- the targets, each a function of one drawn example: :func:`load_config_file` (bytes written
  to a TOML file, :func:`pdafpy.experiment.load_configuration`), :func:`load_config_mapping`
  (a table passed as it is) and :func:`read_observation_spec` (a NetCDF observation file,
  :func:`pdafpy.obs.files.read_observation_file`, in :mod:`pdafpy.fuzzing_files`);
- strategies of configurations built from the real schema (:func:`config_schema`): the
  framework's sections, every installed model's tables (through its experiment) and every
  registered observation type's section, found through the registries; keys under their names
  and aliases, values plausible for their type and range, at and past the range's edges (NaN,
  inf, huge integers, negative numbers, empty strings) or of any other TOML type, nested tables
  and arrays; files of random bytes, of text that is not UTF-8, of TOML made from those tables,
  of such TOML with bytes changed, and of pathological TOML (deep nesting, huge integers);
- :func:`toml_text`, a table written as TOML (the standard library only reads TOML).

Needs hypothesis (Debian's ``python3-hypothesis``), which a run of pdafpy does not.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import re
import traceback
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from hypothesis import strategies as st

from .errors import PdafpyError

__all__ = ["LOADED", "REFUSED", "OTHER", "CRASHED", "LibraryCrash", "outcome", "describe",
           "one_line", "toml_text", "ConfigSchema", "config_schema", "toml_values",
           "config_documents", "config_file_bytes", "load_config_file", "load_config_mapping",
           "CONFIG_NAME"]

#: Outcomes of one call: loaded, refused with pdafpy's own one-line error, anything else, and
#: a crash of a library in C (:class:`LibraryCrash`).
LOADED, REFUSED, OTHER, CRASHED = "loaded", "refused", "other", "crashed"
#: Name of the configuration file :func:`load_config_file` writes.
CONFIG_NAME = "fuzz.toml"


class LibraryCrash(Exception):
    """A library pdafpy calls (netCDF4 and HDF5) killed the process reading the input (a
    segmentation fault in C): a defect of that library, which no Python code can catch;
    :func:`outcome` tells it apart as :data:`CRASHED`."""


def one_line(message: str) -> bool:
    """Whether ``message`` is one non-empty line (no line break of any kind)."""
    return bool(message.strip()) and len(message.splitlines()) == 1


def outcome(call: Callable[[], Any]) -> tuple[str, BaseException | None]:
    """Run ``call()`` and classify what happened.

    Returns
    -------
    kind : str
        :data:`LOADED` (it returned), :data:`REFUSED` (it raised a :class:`PdafpyError` whose
        message is one non-empty line), :data:`CRASHED` (it raised :class:`LibraryCrash`) or
        :data:`OTHER` (any other exception, or a :class:`PdafpyError` whose message is empty or
        spans several lines).
    exc : BaseException or None
        What it raised.
    """
    try:
        call()
    except PdafpyError as exc:
        return (REFUSED if one_line(str(exc)) else OTHER), exc
    except LibraryCrash as exc:
        return CRASHED, exc
    except Exception as exc:                    # noqa: BLE001 - classifying is the point
        return OTHER, exc
    return LOADED, None


def describe(exc: BaseException) -> str:
    """One line: the exception's type, message and the innermost frame that raised it."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}{where}"


# ------------------------------------------------------------------------------ TOML writing

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f",
            "\r": "\\r"}


def _toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                               for k, v in value.items()) + "}"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def toml_text(doc: Mapping[str, Any]) -> str:
    """``doc`` as a TOML document: top-level tables as ``[name]``, arrays of tables as
    ``[[name]]``, deeper tables inline; ``tomllib.loads(toml_text(doc)) == doc``.

    Parameters
    ----------
    doc : mapping
        String keys; values bool, int, float (NaN and inf too), str, datetime, date, time,
        lists and mappings of these.
    """
    def is_table_array(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(t, Mapping) for t in v)

    def body(table: Mapping[str, Any]) -> list[str]:
        return [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()]

    plain = {k: v for k, v in doc.items() if not isinstance(v, Mapping)
             and not is_table_array(v)}
    lines = body(plain)
    for key, value in doc.items():
        if isinstance(value, Mapping):
            lines += ["", f"[{_toml_key(key)}]", *body(value)]
        elif is_table_array(value):
            for table in value:
                lines += ["", f"[[{_toml_key(key)}]]", *body(table)]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ the schema


@dataclass(frozen=True)
class ConfigSchema:
    """What a configuration may hold, from the installed packages.

    Attributes
    ----------
    framework : type
        :class:`pdafpy.experiment_config.ExperimentConfig`.
    models : dict
        Model name -> its experiment's own tables (name -> section) and the sections of free-form
        tables inside them (``"perturbations.forcing.<variable>"`` -> section); empty for a model
        that ``pdafpy run`` cannot run.
    observed : frozenset of str
        Models whose packaged defaults hold ``[[observations]]`` tables.
    observation_types : dict
        Registered observation type -> its ``[[observations]]`` section.
    words : tuple of str
        Every key, alias and string choice of the schema, and the words of its descriptions
        (names of forcing variables, land-cover classes, ...): keys and strings that reach past
        the first check.
    """

    framework: type
    models: dict[str, tuple[dict[str, type], dict[str, type]]]
    observed: frozenset[str]
    observation_types: dict[str, type]
    words: tuple[str, ...]


def _section_classes(tp: Any) -> list[type]:
    """The dataclasses a field's type holds (itself, an array's element, a union's member)."""
    if dataclasses.is_dataclass(tp):
        return [tp]
    return [c for arg in typing.get_args(tp) for c in _section_classes(arg)]


@functools.lru_cache(maxsize=None)
def config_schema() -> ConfigSchema:
    """The schema of the installed packages (models through ``pdafpy.models`` and their
    experiments, observation types through ``pdafpy.observations``)."""
    from .experiment import experiment_for
    from .experiment_config import OBSERVATION_GROUP, ExperimentConfig
    from .model import ENTRY_POINT_GROUP
    from .registry import registered

    models, observed = {}, set()
    for name in sorted(registered(ENTRY_POINT_GROUP)):
        try:
            experiment = experiment_for(name)
        except PdafpyError:                     # installed, but not runnable by pdafpy run
            models[name] = ({}, {})
            continue
        models[name] = (dict(experiment.sections()), dict(experiment.inner_sections()))
        if experiment.defaults().get("observations"):
            observed.add(name)
    types = {}
    for name, ep in sorted(registered(OBSERVATION_GROUP).items()):
        section = getattr(ep.load(), "section_class", None)
        if isinstance(section, type):
            types[name] = section
    words: set[str] = set(models) | set(types)
    seen: set[type] = set()
    todo = [ExperimentConfig, *types.values(),
            *(s for tables, inner in models.values() for s in (*tables.values(),
                                                                  *inner.values()))]
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            words.add(f.name)
            words.update(f.metadata.get("aliases", ()))
            words.update(c for c in f.metadata.get("choices") or () if isinstance(c, str))
            words.update(re.findall(r"[a-z][a-z0-9_]{2,}", f.metadata.get("doc", "")))
            todo += _section_classes(hints[f.name])
    return ConfigSchema(ExperimentConfig, models, frozenset(observed), types,
                        tuple(sorted(words)))


# ------------------------------------------------------------------------------ values

#: Integers at and past the edges: 64-bit limits and beyond (TOML's integers are 64-bit; a
#: table given from Python may hold any).
EDGE_INTEGERS = (0, -1, 1, 2, 2**31, 2**53 + 1, 2**63 - 1, -(2**63), 2**64, -(2**70), 10**30)
#: Floats at and past the edges.
EDGE_FLOATS = (0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 5e-324, 1e308, -1e308, 1.7976931348623157e308,
               math.nan, math.inf, -math.inf)
#: Strings that often break parsers.
EDGE_STRINGS = ("", " ", "\n", "\x00", "nan", "inf", "1", "true", "null", "[]", "{}", ":", ".",
                "..", "a:b", ":x", ".:x", "..x:y", "math:pi", "sys:maxsize", "os:sep",
                "pdafpy.errors:ConfigError", "no_such_module_qzx:Thing", "EPSG:4326",
                "2020-04-01T00:00:00", "2020-04-01", "2020-13-40T25:61:61", "T", "\u00e9\u6f22",
                "\U0001f600", "a\nb", "a\u2028b", "x" * 300)


def _with_edges(values: tuple, general: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.sampled_from(values), general)


#: Keys that are no key of the schema: any text, and the strings that break parsers.
_KEYS = _with_edges(EDGE_STRINGS, st.text(max_size=8))


def toml_scalars(python: bool = False) -> st.SearchStrategy:
    """Any TOML scalar (booleans, integers, floats with NaN and inf, strings, date-times, dates,
    times); with ``python``, also None (a table given from Python may hold it)."""
    out = st.one_of(st.booleans(), _with_edges(EDGE_INTEGERS, st.integers()),
                    _with_edges(EDGE_FLOATS, st.floats()),
                    _with_edges(EDGE_STRINGS, st.text(max_size=20)),
                    st.datetimes(), st.datetimes(timezones=st.just(dt.timezone.utc)),
                    st.dates(), st.times())
    return st.one_of(out, st.none()) if python else out


def toml_values(python: bool = False) -> st.SearchStrategy:
    """Any TOML value: scalars, arrays (of mixed types too) and tables, nested."""
    return st.recursive(toml_scalars(python),
                        lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                st.dictionaries(_KEYS, inner, max_size=4)),
                        max_leaves=8)


def _chance(numerator: int, denominator: int) -> st.SearchStrategy:
    """True with probability ``numerator / denominator``."""
    return st.integers(0, denominator - 1).map(lambda k: k < numerator)


def _plausible(tp: Any, meta: Mapping[str, Any], ctx: "_Context", path: str) -> st.SearchStrategy:
    """Values of the annotation ``tp``, near the range ``meta`` declares, and its edges."""
    origin = typing.get_origin(tp)
    choices = tuple(meta.get("choices") or ())
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        out = st.one_of(*(_plausible(a, meta, ctx, path) for a in args))
        return st.one_of(st.sampled_from(choices), out) if choices else out
    if origin in (list, tuple):
        args = typing.get_args(tp)
        item = args[0] if args else Any
        if dataclasses.is_dataclass(item):
            return st.lists(ctx.either(ctx.table(item, path)), max_size=3)
        return st.lists(ctx.value(item, meta, path), max_size=5)
    if dataclasses.is_dataclass(tp):
        return ctx.table(tp, path)
    if choices:
        return st.sampled_from(choices)
    if tp is bool:
        return st.booleans()
    if tp in (int, float):
        return _numbers(tp, meta, ctx.valid)
    if tp is str:
        if ctx.valid:               # a word, or a time (keys such as schedule.start)
            return st.one_of(st.just(""), st.sampled_from(ctx.schema.words),
                             st.datetimes().map(dt.datetime.isoformat))
        return st.one_of(st.sampled_from(ctx.schema.words), st.sampled_from(EDGE_STRINGS),
                         st.text(max_size=12))
    if tp is dict or origin is dict:
        inner = ctx.inner.get(f"{path}.<variable>")
        item = ctx.table(inner, path) if inner is not None else ctx.junk
        return st.dictionaries(ctx.key(), item, max_size=3)
    return ctx.junk


def _numbers(tp: type, meta: Mapping[str, Any], valid: bool) -> st.SearchStrategy:
    """Integers or numbers in the range ``meta`` declares; unless ``valid``, also just past it
    and at the edges (:data:`EDGE_INTEGERS`, :data:`EDGE_FLOATS`)."""
    lo, hi = meta.get("minimum"), meta.get("maximum")
    above = bool(meta.get("exclusive_minimum"))
    low = float(lo) if lo is not None else -10.0
    high = float(hi) if hi is not None else low + (20 if tp is int else 1e4)
    if tp is int:
        first = math.ceil(low) + (1 if above and math.ceil(low) == low else 0)
        inside = st.integers(first, max(first, math.floor(high)))
        if valid:
            return inside
        return st.one_of(inside, st.integers(first - 2, first + 2), st.sampled_from(EDGE_INTEGERS))
    inside = st.floats(low, high, exclude_min=above, allow_nan=False, allow_infinity=False)
    if valid:
        return inside
    edges = tuple(v for v in (lo, hi) if v is not None)
    return st.one_of(inside, st.sampled_from(edges + EDGE_FLOATS),
                     st.integers(int(low) - 1, int(low) + 100))


@dataclass
class _Context:
    """What value strategies need: the schema, the inner sections of the model drawn, the
    strategy of values of any type, and how often to draw one (one in ``junk_odds``)."""

    schema: ConfigSchema
    inner: dict[str, type]
    junk: st.SearchStrategy
    junk_odds: int = 8
    valid: bool = False

    def either(self, plausible: st.SearchStrategy) -> st.SearchStrategy:
        """``plausible``, or (one in ``junk_odds``, unless ``valid``) a value of any type."""
        if self.valid:
            return plausible
        return _chance(1, self.junk_odds).flatmap(lambda junk: self.junk if junk else plausible)

    def key(self) -> st.SearchStrategy:
        """A word of the schema, or (unless ``valid``) any string."""
        words = st.sampled_from(self.schema.words)
        return words if self.valid else st.one_of(words, _KEYS)

    def value(self, tp: Any, meta: Mapping[str, Any], path: str) -> st.SearchStrategy:
        """A plausible value of the field, or (one in ``junk_odds``) any value."""
        return self.either(st.deferred(lambda: _plausible(tp, meta, self, path)))

    def table(self, cls: type, path: str) -> st.SearchStrategy:
        """A table of section ``cls``: a few of its keys (names or aliases), rarely an unknown
        one."""
        hints = typing.get_type_hints(cls)
        keys = [(name, f) for f in dataclasses.fields(cls)
                for name in (f.name, *f.metadata.get("aliases", ()))]
        if not keys:
            return st.just({})

        @st.composite
        def draw_table(draw: Callable) -> dict[str, Any]:
            out: dict[str, Any] = {}
            chosen = draw(st.lists(st.sampled_from(keys), max_size=min(4, len(keys)),
                                   unique_by=(lambda kf: kf[1].name) if self.valid
                                   else (lambda kf: kf[0])))   # a key and its alias: refused
            for name, f in chosen:
                out[name] = draw(self.value(hints[f.name], f.metadata, f"{path}.{f.name}"))
            if not self.valid and draw(_chance(1, self.junk_odds)):
                out[draw(self.key())] = draw(self.junk)
            return out

        return draw_table()


def _observation_table(ctx: _Context) -> st.SearchStrategy:
    """An ``[[observations]]`` table: a registered type (or another value) and keys of its
    section."""
    by_type = ctx.schema.observation_types
    base = typing.get_args(typing.get_type_hints(ctx.schema.framework)["observations"])[0]

    @st.composite
    def draw_table(draw: Callable) -> dict[str, Any]:
        name = draw(ctx.either(st.sampled_from(sorted(by_type))))
        section = by_type.get(name) if isinstance(name, str) else None
        table = draw(ctx.table(section or base, "observations"))
        if ctx.valid or draw(_chance(7, 8)):
            table["type"] = name
        return table

    return draw_table()


def config_documents(python: bool = False, junk_odds: int = 8) -> st.SearchStrategy:
    """Configurations as TOML gives them (a dict), from the real schema.

    A document names a model (an installed one, mostly, or any value) and perhaps a mode, and
    holds some of the framework's tables, of ``[[observations]]`` tables and of the model's own
    tables, each with a few keys. Half the documents keep to the schema: keys of their table,
    values of their key's type and range. In the others, values are also drawn at and past
    the range's edges, one in ``junk_odds`` of any type, and rarely a key or table is unknown,
    or a table is given as another value.

    Parameters
    ----------
    python : bool
        Also None among the values (a table given from Python rather than read from TOML).
    junk_odds : int
        One value in this many is of any type rather than the key's.
    """
    schema = config_schema()
    framework_hints = typing.get_type_hints(schema.framework)
    framework_fields = {f.name: f for f in dataclasses.fields(schema.framework)}
    junk = toml_values(python)
    runnable = sorted(m for m, (tables, _) in schema.models.items() if tables)
    models = st.sampled_from(runnable * 3 + sorted(schema.models))   # mostly runnable ones

    @st.composite
    def draw_document(draw: Callable) -> dict[str, Any]:
        valid = draw(st.booleans())
        ctx = _Context(schema, {}, junk, junk_odds, valid)
        model = draw(st.sampled_from(runnable) if valid else ctx.either(models))
        sections, ctx.inner = schema.models.get(model, ({}, {})) if isinstance(model, str) \
            else ({}, {})
        if not sections:            # another model's tables, to be refused
            sections, ctx.inner = schema.models[draw(st.sampled_from(sorted(schema.models)))]
        doc: dict[str, Any] = {}
        if model != schema.framework.model or draw(st.booleans()):   # the default model
            doc["model"] = model
        if draw(st.booleans()):
            doc["mode"] = draw(ctx.value(framework_hints["mode"],
                                         framework_fields["mode"].metadata, "mode"))
        for name, f in framework_fields.items():
            # a valid document of a model without packaged observations brings its own
            needed = name == "observations" and valid and model not in schema.observed
            if name in ("mode", "model") or not (needed or draw(_chance(1, 3))):
                continue
            if name == "observations":
                doc[name] = draw(st.lists(ctx.either(_observation_table(ctx)),
                                          min_size=int(needed), max_size=3))
            else:
                doc[name] = draw(ctx.value(framework_hints[name], f.metadata, name))
        for name, cls in sections.items():
            if draw(_chance(1, 3)):
                doc[name] = draw(ctx.either(ctx.table(cls, name)))
        if not valid and draw(_chance(1, junk_odds)):
            doc[draw(ctx.key())] = draw(junk)
        return doc

    return draw_document()


# ------------------------------------------------------------------------------ files


def _not_utf8() -> st.SearchStrategy:
    """Bytes that are not UTF-8: text with a stray byte, or in another encoding."""
    @st.composite
    def draw_bytes(draw: Callable) -> bytes:
        text = draw(st.one_of(st.text(max_size=40), config_documents().map(toml_text)))
        how = draw(st.sampled_from(("stray", "utf-16", "latin-1")))
        if how == "utf-16":
            return text.encode("utf-16")
        if how == "latin-1":
            return (text + "\u00e9").encode("latin-1", errors="replace")
        data = text.encode()
        at = draw(st.integers(0, len(data)))
        stray = draw(st.sampled_from((b"\xff", b"\xfe", b"\x80", b"\xc3\x28", b"\xed\xa0\x80",
                                      b"\xf8\x88\x80\x80\x80")))
        return data[:at] + stray + data[at:]
    return draw_bytes()


def _mutated(docs: st.SearchStrategy) -> st.SearchStrategy:
    """TOML text with a few bytes inserted, deleted or replaced."""
    @st.composite
    def draw_bytes(draw: Callable) -> bytes:
        data = bytearray(draw(docs))
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(data)))
            op = draw(st.sampled_from(("insert", "delete", "replace")))
            piece = draw(st.one_of(st.binary(min_size=1, max_size=3),
                                   st.sampled_from((b"=", b"[", b"]", b'"', b"\n", b"#", b".",
                                                    b"{", b"}", b",", b"'''", b'"""'))))
            if op == "insert":
                data[at:at] = piece
            elif op == "delete":
                del data[at:at + len(piece)]
            else:
                data[at:at + len(piece)] = piece
        return bytes(data)
    return draw_bytes()


def _pathological() -> st.SearchStrategy:
    """TOML that strains a parser: arrays, inline tables and dotted table names nested
    thousands deep, numbers of thousands of digits."""
    depth = st.integers(1, 3000)
    return st.one_of(
        depth.map(lambda n: b"x = " + b"[" * n + b"]" * n + b"\n"),
        depth.map(lambda n: b"x = " + b"{ a = " * n + b"1" + b" }" * n + b"\n"),
        depth.map(lambda n: b"[" + b".".join([b"a"] * n) + b"]\n"),
        st.integers(1, 6000).map(lambda n: b"[ensemble]\nsize = " + b"9" * n + b"\n"),
        st.integers(1, 6000).map(lambda n: b"[ensemble]\nsize = 1" + b"0" * n + b".0\n"),
        st.integers(1, 6000).map(lambda n: b"[filter]\nforget = 1e" + b"9" * n + b"\n"))


def config_file_bytes() -> st.SearchStrategy:
    """Contents of a configuration file: random bytes, text that is not UTF-8, TOML of
    :func:`config_documents`, such TOML with bytes changed, pathological TOML."""
    docs = config_documents().map(lambda d: toml_text(d).encode())
    return st.one_of(st.binary(max_size=200), _not_utf8(), docs, docs, docs, _mutated(docs),
                     _pathological())


def load_config_file(data: bytes, folder: Path) -> Any:
    """Target: write ``data`` to ``folder/fuzz.toml`` and load it
    (:func:`pdafpy.experiment.load_configuration`)."""
    from .experiment import load_configuration

    path = Path(folder) / CONFIG_NAME
    path.write_bytes(data)
    return load_configuration(path)


def load_config_mapping(doc: Mapping[str, Any]) -> Any:
    """Target: load the table ``doc`` as it is (:func:`pdafpy.experiment.load_configuration`)."""
    from .experiment import load_configuration

    return load_configuration(doc)

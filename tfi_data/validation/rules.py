"""The rules file: a person-readable YAML file compiled to pandera schemas.

Top-level keys are frame names: an export's frame (by default its table: checked after the
transformer) or a source's name (checked as loaded, before it)::

    ridership:
      strict: false              # true: columns not listed here are an error
      unique: [day, route]       # key combination that must be unique
      rows: {min: 1, max: 100000}  # row count bounds (either may be left out)
      warn: [rows]               # table checks that only warn: rows, unique, strict
      columns:
        day:    {type: date, nullable: false}
        route:  {type: str, nullable: false, regex: '^[A-Z][0-9]+$'}
        riders: {type: int, min: 0, max: 100000, warn: [max]}
        kind:   {type: str, allowed: [bus, tram], min_length: 3, max_length: 4}

Column checks: ``type`` (int, float, number, bool, str, date, datetime, json), ``nullable`` (default
true), ``unique``, ``min`` / ``max`` (numbers; for date and datetime columns a YAML date or ISO
text such as '2026-01-31 08:00'), ``allowed`` (on a ``str`` column, numbers mean their text),
``regex``, ``min_length`` / ``max_length``. A column listed here must be present. A typed column
takes only the checks its type carries (``CHECKS_OF_TYPE``: ``min``/``max`` for numbers, dates and
datetimes; ``regex`` and lengths for text): ``min`` on a ``str`` column is refused with its line.

Column types: ``type`` is also the type of the table's column when the Exporter creates it (or
adds it), refined by ``precision``/``scale`` (``number``: NUMERIC(precision, scale); ``datetime``:
fractional-second digits 0..6), ``length`` (``str``: VARCHAR(length)) and ``tz`` (``datetime``:
``true`` or a zone such as ``Europe/Dublin``, the zone naive values are read in; a timestamp with
time zone). ``number`` without a precision leaves the choice to the table or the data.

Levels: every check is an error unless its name is in the ``warn`` list of its entry (the column's
for column checks, the frame's for ``rows``, ``unique`` and ``strict``). A warning is reported
but never stops a run nor rejects a row.

A file that does not parse, or names an unknown key, type or check, fails with a ``RulesError``
naming the file, the line and column of the offending key or value, and its path in the file.

Each check's rules-file name and level travel in the pandera schema's ``metadata`` (under
``"tfi"``), so the Validator can tell a warning from an error and report by rule name.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
import pyarrow
import yaml
from pandas.api import types as ptypes


class RulesError(ValueError):
    """A rules file or rules value that cannot be understood. Names the file, line and entry."""


def _inferred(s: pd.Series) -> str:
    return pd.api.types.infer_dtype(s, skipna=True)


# Type families: a column is "int" whether it is int64 or nullable Int64; object columns are
# judged by their values (pandas' pyarrow CSV engine gives datetime.date objects for dates).
_TYPE_TESTS = {
    "int": lambda s: ptypes.is_integer_dtype(s.dtype),
    "float": lambda s: ptypes.is_float_dtype(s.dtype),
    "number": lambda s: (
        (ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype)) or _inferred(s) in ("decimal", "empty")
    ),
    "bool": lambda s: ptypes.is_bool_dtype(s.dtype) or _inferred(s) == "boolean",
    "str": lambda s: ptypes.is_string_dtype(s.dtype) and _inferred(s) in ("string", "empty"),
    "datetime": lambda s: ptypes.is_datetime64_any_dtype(s.dtype),
    "date": lambda s: ptypes.is_datetime64_any_dtype(s.dtype) or _inferred(s) in ("date", "empty"),
    "json": lambda s: _nested(s),
}
TYPES = tuple(_TYPE_TESTS)

# The rules-file names of the checks, in the order they run; ``warn`` may name any of them.
COLUMN_CHECKS = ("type", "nullable", "unique", "min", "max", "allowed", "regex", "min_length", "max_length")
TABLE_CHECKS = ("rows", "unique", "strict")
_COLUMN_KEYS = {*COLUMN_CHECKS, "warn"}
_FRAME_KEYS = {"columns", "strict", "unique", "rows", "warn"}
LEVELS = ("error", "warn")


# Which value checks each type family carries (type, nullable and unique fit every column). A check
# that does not fit its column's type is refused when the file is read: `min` on text, `regex` on
# numbers. A family not in this table (and an untyped column) takes every check.
_NUMERIC_CHECKS = frozenset({"min", "max", "allowed"})
_TEXT_CHECKS = frozenset({"allowed", "regex", "min_length", "max_length"})
CHECKS_OF_TYPE: dict[str, frozenset[str]] = {
    "int": _NUMERIC_CHECKS,
    "float": _NUMERIC_CHECKS,
    "number": _NUMERIC_CHECKS,
    "bool": frozenset({"allowed"}),
    "str": _TEXT_CHECKS,
    "date": _NUMERIC_CHECKS,
    "datetime": _NUMERIC_CHECKS,
    "json": frozenset(),  # lists and objects: only type, nullable and unique
}
_ANY_TYPE_CHECKS = frozenset({"type", "nullable", "unique"})


def check_fits(family: str | None, check: str) -> bool:
    """Whether a column of type ``family`` can carry ``check`` (see ``CHECKS_OF_TYPE``)."""
    return check in _ANY_TYPE_CHECKS or family not in CHECKS_OF_TYPE or check in CHECKS_OF_TYPE[family]


# Declarations of the table's column type (not checks): see ``column_types``.
TYPE_KEYS = ("precision", "scale", "length", "tz")
_COLUMN_KEYS |= set(TYPE_KEYS)


def _nested(s: pd.Series) -> bool:
    """Lists and objects (JSON arrays/objects), as Arrow list/struct columns or Python values."""
    if isinstance(s.dtype, pd.ArrowDtype):
        return pyarrow.types.is_nested(s.dtype.pyarrow_dtype)
    values = s.dropna()
    return s.dtype == object and bool(values.map(lambda v: isinstance(v, (list, dict, tuple))).all())


def column_types(schema: pa.DataFrameSchema) -> dict[str, dict[str, Any]]:
    """The column types a frame's rules declare (``type`` plus ``precision``, ``scale``,
    ``length``, ``tz``), as the Exporter takes them; columns without a type are left out."""
    out = {}
    for name, column in schema.columns.items():
        declared = ((column.metadata or {}).get("tfi") or {}).get("column_type")
        if declared:
            out[name] = dict(declared)
    return out


def _type_declaration(spec: Mapping[str, Any], family: str | None, where: _Where, path: tuple) -> dict[str, Any]:
    declared = {k: spec[k] for k in TYPE_KEYS if k in spec}
    for key in ("precision", "scale", "length"):
        if key in declared:
            n = declared[key]
            if not isinstance(n, int) or isinstance(n, bool) or n < (0 if key == "scale" else 1):
                raise where.error((*path, key), f"expected a whole number >= {int(key != 'scale')}", value=True)
    kinds = {
        "precision": ("number", "float", "datetime"),
        "scale": ("number",),
        "length": ("str",),
        "tz": ("datetime",),
    }
    for key in declared:
        if family not in kinds[key]:
            raise where.error(
                (*path, key), f"{key} applies to type {' or '.join(kinds[key])}, not {family or 'no type'}"
            )
    if family == "number" and "scale" in declared and "precision" not in declared:
        raise where.error((*path, "scale"), "scale needs a precision (the total number of digits)")
    if "scale" in declared and declared["scale"] > declared["precision"]:
        raise where.error((*path, "scale"), f"scale {declared['scale']} is above precision {declared['precision']}")
    if family == "datetime" and "precision" in declared and declared["precision"] > 6:
        raise where.error((*path, "precision"), "timestamps are stored to microseconds at most: precision 0..6")
    if family == "float" and "precision" in declared:
        raise where.error((*path, "precision"), "a float has no precision to set; use type: number with precision")
    tz = declared.get("tz")
    if tz is not None and tz is not True:
        try:
            zoneinfo.ZoneInfo(str(tz))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise where.error((*path, "tz"), f"unknown time zone {tz!r} (true means UTC)", value=True) from None
    return {"type": family, **declared} if family is not None else {}


def type_matches(family: str, s: pd.Series) -> bool:
    """Whether a column belongs to a type family (the test behind ``type:``)."""
    return bool(_TYPE_TESTS[family](s))


class _Where:
    """Turns a path in the rules (frame, "columns", column, key) into "file:line:col: path"."""

    def __init__(self, label: str, nodes: Mapping[tuple[str, ...], tuple[yaml.Node, yaml.Node]] | None = None):
        self.label = label
        self.nodes = nodes or {}

    def error(self, path: tuple[Any, ...], problem: str, *, at: tuple[Any, ...] | None = None, value=False):
        path = tuple(str(p) for p in path)
        entry = self.nodes.get(tuple(str(p) for p in at) if at is not None else path)
        loc = self.label
        if entry is not None:
            mark = (entry[1] if value else entry[0]).start_mark
            loc += f":{mark.line + 1}:{mark.column + 1}"
        return RulesError(f"{loc}: {': '.join(path)}: {problem}" if path else f"{loc}: {problem}")


def _parse_yaml(text: str, label: str) -> tuple[Any, dict[tuple[str, ...], tuple[yaml.Node, yaml.Node]]]:
    """YAML text -> (data, {path: (key node, value node)}); the nodes give line marks and spans."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        nodes: dict[tuple[str, ...], tuple[yaml.Node, yaml.Node]] = {}
        if node is not None:
            _index(node, (), nodes, label)  # before construction: it flattens merge keys in place
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise RulesError(f"{label}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    except ValueError as exc:  # PyYAML lets e.g. `2026-13-01` (a timestamp that is no date) through bare
        mark = _bad_scalar(node)
        line = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise RulesError(f"{label}{line}: not valid YAML: {exc}") from exc
    finally:
        loader.dispose()
    return data, nodes


def _bad_scalar(node: yaml.Node) -> yaml.Mark | None:
    """The mark of the first scalar that does not construct."""
    if isinstance(node, yaml.ScalarNode):
        try:
            yaml.SafeLoader("").construct_object(node)
        except ValueError:
            return node.start_mark
        return None
    children = node.value if isinstance(node, yaml.SequenceNode) else [n for pair in node.value for n in pair]
    return next((m for m in map(_bad_scalar, children) if m is not None), None)


def _index(node: yaml.Node, path: tuple[str, ...], nodes: dict, label: str) -> None:
    if not isinstance(node, yaml.MappingNode):
        return
    seen: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = key_node.value
        if key in seen:
            # PyYAML keeps the last silently: a duplicated column entry is almost always a mistake
            first = seen[key].start_mark.line + 1
            raise _Where(label, {(*path, key): (key_node, value_node)}).error(
                (*path, key), f"duplicate key {key!r} (first at line {first})"
            )
        seen[key] = key_node
        nodes[(*path, key)] = (key_node, value_node)
        _index(value_node, (*path, key), nodes, label)


def _names(value: Any, where: _Where, path: tuple, what: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise where.error(path, f"expected a list of {what}, got {value!r}", value=True)
    return value


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _bound_check(rule: str, value: Any, family: str | None, where: _Where, path: tuple) -> pa.Check:
    if _is_number(value):
        return pa.Check.ge(value) if rule == "min" else pa.Check.le(value)
    if isinstance(value, str) and family in (None, "date", "datetime"):
        try:
            value = dt.date.fromisoformat(value) if family == "date" else dt.datetime.fromisoformat(value)
        except ValueError:
            if family is not None:  # untyped: fall through to "expected a number"
                raise where.error(path, f"not an ISO date: {value!r}", value=True) from None
    if not isinstance(value, dt.date):
        raise where.error(path, f"expected a number (or a date for date columns), got {value!r}", value=True)
    op, name = (pd.Series.ge, "greater_than_or_equal_to") if rule == "min" else (pd.Series.le, "less_than_or_equal_to")

    # datetime64 columns compare with Timestamps, object columns of dates with dates
    def test(s: pd.Series) -> pd.Series:
        return op(s, pd.Timestamp(value) if ptypes.is_datetime64_any_dtype(s.dtype) else value)

    return pa.Check(test, name=name, error=f"{name}({value})")


def _column(spec: Any, where: _Where, path: tuple) -> pa.Column:
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise where.error(path, f"expected a mapping of checks, got {spec!r}", value=True)
    unknown = [k for k in spec if k not in _COLUMN_KEYS]
    if unknown:
        raise where.error(
            path,
            f"unknown check(s) {sorted(map(str, unknown))}; expected some of {sorted(_COLUMN_KEYS)}",
            at=(*path, unknown[0]),
        )
    for flag in ("nullable", "unique"):
        if flag in spec and not isinstance(spec[flag], bool):
            raise where.error((*path, flag), f"expected true or false, got {spec[flag]!r}", value=True)
    family = spec.get("type")
    if family is not None and family not in _TYPE_TESTS:
        raise where.error(
            path, f"unknown type {family!r}; expected one of {', '.join(_TYPE_TESTS)}", at=(*path, "type"), value=True
        )
    unfit = [k for k in spec if k in COLUMN_CHECKS and not check_fits(family, str(k))]
    if unfit:
        fits = sorted(CHECKS_OF_TYPE[family] | _ANY_TYPE_CHECKS)
        raise where.error(
            (*path, unfit[0]), f"{unfit[0]!r} does not fit a {family} column; it takes {', '.join(fits)}", value=False
        )
    checks: list[pa.Check] = []
    rules: list[str] = []
    if family is not None:
        test = _TYPE_TESTS[family]
        checks.append(pa.Check(lambda s: bool(test(s)), name=f"type={family}", error=f"type is not {family}"))
        rules.append("type")
    for rule in ("min", "max"):
        if rule in spec:
            checks.append(_bound_check(rule, spec[rule], family, where, (*path, rule)))
            rules.append(rule)
    if _is_number(spec.get("min")) and _is_number(spec.get("max")) and spec["min"] > spec["max"]:
        raise where.error(path, f"min {spec['min']} is above max {spec['max']}", at=(*path, "min"))
    if "allowed" in spec:
        allowed = spec["allowed"]
        if not isinstance(allowed, list):
            raise where.error((*path, "allowed"), f"expected a list of values, got {allowed!r}", value=True)
        if family == "str":  # `allowed: [1, 2]` on a text column means the texts "1" and "2"
            allowed = [str(v) if _is_number(v) else v for v in allowed]
        checks.append(pa.Check.isin(allowed))
        rules.append("allowed")
    if "regex" in spec:
        pattern = spec["regex"]
        try:
            re.compile(pattern)
        except (re.error, TypeError) as exc:
            raise where.error((*path, "regex"), f"not a regular expression: {exc}", value=True) from None
        checks.append(pa.Check.str_matches(pattern))
        rules.append("regex")
    for rule in ("min_length", "max_length"):
        if rule in spec:
            n = spec[rule]
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise where.error((*path, rule), f"expected a whole number >= 0, got {n!r}", value=True)
            checks.append(
                pa.Check.str_length(min_value=n) if rule == "min_length" else pa.Check.str_length(max_value=n)
            )
            rules.append(rule)
    warn = _names(spec.get("warn", []), where, (*path, "warn"), "check names")
    active = set(rules) | {k for k in ("nullable",) if spec.get(k) is False} | {k for k in ("unique",) if spec.get(k)}
    for name in warn:
        if name not in active:
            raise where.error(
                (*path, "warn"), f"{name!r} is not a check of this column; it has {sorted(active)}", value=True
            )
    declared = _type_declaration(spec, family, where, path)
    return pa.Column(
        checks=checks,
        nullable=bool(spec.get("nullable", True)),
        unique=bool(spec.get("unique", False)),
        required=True,
        metadata={"tfi": {"checks": rules, "warn": sorted(warn), **({"column_type": declared} if declared else {})}},
    )


def _rows_check(spec: Any, where: _Where, path: tuple) -> pa.Check:
    if not isinstance(spec, Mapping) or not spec:
        raise where.error(path, f"expected {{min: N, max: M}}, got {spec!r}", value=True)
    unknown = [k for k in spec if k not in ("min", "max")]
    if unknown:
        raise where.error(
            path, f"unknown key(s) {sorted(map(str, unknown))}; expected min, max", at=(*path, unknown[0])
        )
    for k, v in spec.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise where.error((*path, k), f"expected a whole number >= 0, got {v!r}", value=True)
    lo, hi = spec.get("min", 0), spec.get("max")
    if hi is not None and lo > hi:
        raise where.error(path, f"min {lo} is above max {hi}")
    text = f"rows >= {lo}" if hi is None else f"rows between {lo} and {hi}"
    return pa.Check(lambda df: lo <= len(df) and (hi is None or len(df) <= hi), name="rows", error=text)


def _schema(name: str, rules: Any, where: _Where) -> pa.DataFrameSchema:
    path = (name,)
    if not isinstance(rules, Mapping):
        raise where.error(path, f"expected a mapping with 'columns', got {rules!r}", value=True)
    unknown = [k for k in rules if k not in _FRAME_KEYS]
    if unknown:
        raise where.error(
            path,
            f"unknown key(s) {sorted(map(str, unknown))}; expected some of {sorted(_FRAME_KEYS)}",
            at=(*path, unknown[0]),
        )
    columns = rules.get("columns") or {}
    if not isinstance(columns, Mapping):
        raise where.error((*path, "columns"), "expected a mapping of column name -> checks", value=True)
    unique = rules.get("unique")
    if unique is not None and (not isinstance(unique, list) or not all(isinstance(c, str) for c in unique)):
        raise where.error((*path, "unique"), "expected a list of column names", value=True)
    if "strict" in rules and not isinstance(rules["strict"], bool):
        raise where.error((*path, "strict"), f"expected true or false, got {rules['strict']!r}", value=True)
    checks, names = [], []
    if "rows" in rules:
        checks.append(_rows_check(rules["rows"], where, (*path, "rows")))
        names.append("rows")
    warn = _names(rules.get("warn", []), where, (*path, "warn"), "check names")
    active = set(names) | ({"unique"} if unique else set()) | ({"strict"} if rules.get("strict") else set())
    for check in warn:
        if check not in active:
            raise where.error(
                (*path, "warn"), f"{check!r} is not a check of this frame; it has {sorted(active)}", value=True
            )
    return pa.DataFrameSchema(
        {str(col): _column(spec, where, (*path, "columns", col)) for col, spec in columns.items()},
        checks=checks,
        strict=bool(rules.get("strict", False)),
        unique=list(unique) if unique else None,
        name=name,
        metadata={"tfi": {"checks": names, "warn": sorted(warn)}},
    )


def schema_from_rules(name: str, rules: Mapping[str, Any], where: str = "rules") -> pa.DataFrameSchema:
    """Compile one frame's rules (the mapping under its name) to a pandera schema."""
    return _schema(name, rules, _Where(where))


def _schemas(data: Any, where: _Where) -> dict[str, pa.DataFrameSchema]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise where.error((), "expected a mapping of frame name -> rules")
    return {str(name): _schema(str(name), spec, where) for name, spec in data.items()}


def parse_rules(text: str, path: str | Path | None = None) -> dict[str, Any]:
    """Rules text -> the rules mapping, checked as ``load_rules_file`` checks it (RulesError with line)."""
    return compile_rules(text, path)[0]


def compile_rules(text: str, path: str | Path | None = None) -> tuple[dict[str, Any], dict[str, pa.DataFrameSchema]]:
    """Rules text -> (the rules mapping, its pandera schemas), parsed and compiled once."""
    where = _label(path)
    data, nodes = _parse_yaml(text, where)
    schemas = _schemas(data, _Where(where, nodes))
    return {str(k): v for k, v in (data or {}).items()}, schemas


def schemas_from_mapping(rules: Mapping[str, Any], where: str = "rules") -> dict[str, pa.DataFrameSchema]:
    """A whole rules mapping (frame name -> rules) -> pandera schemas."""
    return _schemas(rules, _Where(where))


def _label(path: str | Path | None) -> str:
    return f"rules file {path}" if path is not None else "rules"


def load_rules_file(path: str | Path) -> dict[str, pa.DataFrameSchema]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"rules file {path}: cannot read: {exc.strerror or exc}") from exc
    data, nodes = _parse_yaml(text, _label(path))
    return _schemas(data, _Where(_label(path), nodes))

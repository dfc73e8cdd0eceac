"""The rules file: a person-readable YAML file compiled to pandera schemas.

Top-level keys are frame names (a pipeline's source names)::

    ridership:
      strict: false            # true: columns not listed here are an error
      unique: [day, route]     # key combination that must be unique
      columns:
        route:  {type: str, nullable: false, regex: '^[A-Z][0-9]+$'}
        riders: {type: int, min: 0, max: 100000}
        kind:   {type: str, allowed: [bus, tram]}
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pandera.pandas as pa
import yaml
from pandas.api import types as ptypes


class RulesError(ValueError):
    """A rules file or rules value that cannot be understood. Names the file and the entry."""


def _inferred(s: pd.Series) -> str:
    return pd.api.types.infer_dtype(s, skipna=True)


# Type families: a column is "int" whether it is int64 or nullable Int64; object columns are
# judged by their values (pandas' pyarrow CSV engine gives datetime.date objects for dates).
_TYPE_TESTS = {
    "int": lambda s: ptypes.is_integer_dtype(s.dtype),
    "float": lambda s: ptypes.is_float_dtype(s.dtype),
    "number": lambda s: ptypes.is_numeric_dtype(s.dtype) and not ptypes.is_bool_dtype(s.dtype),
    "bool": lambda s: ptypes.is_bool_dtype(s.dtype) or _inferred(s) == "boolean",
    "str": lambda s: ptypes.is_string_dtype(s.dtype) and _inferred(s) in ("string", "empty"),
    "datetime": lambda s: ptypes.is_datetime64_any_dtype(s.dtype),
    "date": lambda s: ptypes.is_datetime64_any_dtype(s.dtype) or _inferred(s) in ("date", "empty"),
}

_COLUMN_KEYS = {"type", "nullable", "unique", "min", "max", "allowed", "regex", "min_length", "max_length"}
_FRAME_KEYS = {"columns", "strict", "unique"}


def _type_check(family: str, where: str) -> pa.Check:
    try:
        test = _TYPE_TESTS[family]
    except KeyError:
        raise RulesError(f"{where}: unknown type {family!r}; expected one of {', '.join(_TYPE_TESTS)}") from None
    return pa.Check(lambda s: bool(test(s)), name=f"type={family}", error=f"type is not {family}")


def _column(spec: Mapping[str, Any], where: str) -> pa.Column:
    if not isinstance(spec, Mapping):
        raise RulesError(f"{where}: expected a mapping of checks, got {spec!r}")
    unknown = sorted(set(spec) - _COLUMN_KEYS)
    if unknown:
        raise RulesError(f"{where}: unknown check(s) {unknown}; expected some of {sorted(_COLUMN_KEYS)}")
    checks: list[pa.Check] = []
    if "type" in spec:
        checks.append(_type_check(str(spec["type"]), where))
    if "min" in spec:
        checks.append(pa.Check.ge(spec["min"]))
    if "max" in spec:
        checks.append(pa.Check.le(spec["max"]))
    if "allowed" in spec:
        checks.append(pa.Check.isin(list(spec["allowed"])))
    if "regex" in spec:
        checks.append(pa.Check.str_matches(str(spec["regex"])))
    if "min_length" in spec or "max_length" in spec:
        checks.append(pa.Check.str_length(spec.get("min_length"), spec.get("max_length")))
    return pa.Column(
        checks=checks,
        nullable=bool(spec.get("nullable", True)),
        unique=bool(spec.get("unique", False)),
        required=True,
    )


def schema_from_rules(name: str, rules: Mapping[str, Any], where: str = "rules") -> pa.DataFrameSchema:
    """Compile one frame's rules (the mapping under its name) to a pandera schema."""
    where = f"{where}: {name}"
    if not isinstance(rules, Mapping):
        raise RulesError(f"{where}: expected a mapping with 'columns', got {rules!r}")
    unknown = sorted(set(rules) - _FRAME_KEYS)
    if unknown:
        raise RulesError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(_FRAME_KEYS)}")
    columns = rules.get("columns") or {}
    if not isinstance(columns, Mapping):
        raise RulesError(f"{where}: columns: expected a mapping of column name -> checks")
    unique = rules.get("unique")
    if unique is not None and (isinstance(unique, str) or not all(isinstance(c, str) for c in unique)):
        raise RulesError(f"{where}: unique: expected a list of column names")
    return pa.DataFrameSchema(
        {str(col): _column(spec or {}, f"{where}: columns: {col}") for col, spec in columns.items()},
        strict=bool(rules.get("strict", False)),
        unique=list(unique) if unique else None,
        name=name,
    )


def load_rules_file(path: str | Path) -> dict[str, pa.DataFrameSchema]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RulesError(f"rules file {path}: cannot read: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        raise RulesError(f"rules file {path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, Mapping):
        raise RulesError(f"rules file {path}: expected a mapping of frame name -> rules")
    return {str(name): schema_from_rules(str(name), spec, where=f"rules file {path}") for name, spec in data.items()}

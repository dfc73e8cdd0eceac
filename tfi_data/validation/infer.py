"""Rules inferred from data, written as a rules file a person can read and refine.

``infer_rules(frames)`` returns a rules mapping (the rules-file structure); ``rules_to_yaml(rules,
frames)`` writes it with a comment per column saying what was observed. What is inferred, beyond
pandera's ``infer_schema`` (dtype, nullability, exact numeric min/max):

- ``type`` from the dtype family (left out when no family fits, e.g. an all-null column), with
  the rest of the column type the Exporter creates from it: ``precision``/``scale`` for decimals,
  ``tz`` for timestamps with a time zone;
- ``nullable`` from observed nulls;
- ``min``/``max`` for numbers, widened by ``margin`` x the observed range (or x the value when
  there is one value), rounded outward to a round step, never crossing zero for data that does not;
- ``allowed`` for text columns with at most ``max_categories`` distinct values, some repeated;
- ``regex`` for text whose every value has the same shape and contains digits (codes such as
  ``^[A-Z]\\d+$``, ``^\\d{5}$``, ISO dates ``^\\d{4}-\\d{2}-\\d{2}$``), or is an e-mail address;
  ``min_length: 1`` for other text without empty values;
- ``unique: true`` for columns whose values are all distinct and which look like keys (a key-like
  name, or letter-and-digit codes); ``unique: [..]`` for the ``key_columns`` given.

Every inferred rule holds for the data it was inferred from (regexes are verified on all values).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tfi_data.export.types import json_text
from tfi_data.validation.rules import type_matches

# first match wins (datetime64 is also "date"; "number" here means decimals)
_FAMILIES = ("bool", "int", "float", "datetime", "date", "str", "json", "number")
_KEY_NAME = re.compile(r"(?:^|[_\s.-])(?:id|key|code|uuid|guid|ref|no|nr|number)$", re.IGNORECASE)
_KEY_CAMEL = re.compile(r"[a-z0-9](?:Id|ID|Key|Code|No|Nr)$")
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
_TOKEN = re.compile(r"[A-Z]+|[a-z]+|[0-9]+|[-_./:#]|.", re.DOTALL)
_CLASS = {"A": "[A-Z]", "a": "[a-z]", "9": r"\d"}
_SHAPE_SAMPLE = 2000


@dataclass(frozen=True)
class Observed:
    """What one column holds: the facts behind an inferred rule and its comment."""

    rows: int
    nulls: int
    distinct: int
    family: str | None  # type family, None when none fits
    lo: Any = None  # min/max for numbers, dates and datetimes
    hi: Any = None
    min_len: int | None = None  # for text
    max_len: int | None = None

    def __str__(self) -> str:
        nulls = "no nulls" if not self.nulls else f"{self.nulls} null" + ("s" if self.nulls > 1 else "")
        parts = [f"{self.rows} rows", nulls, f"{self.distinct} distinct"]
        if self.lo is not None:
            parts.append(f"observed {_span(self.lo, self.hi)}")
        if self.min_len is not None:
            parts.append(f"length {_span(self.min_len, self.max_len)}")
        return ", ".join(parts)


def _span(lo: Any, hi: Any) -> str:
    return _show(lo) if lo == hi else f"{_show(lo)}..{_show(hi)}"


def _show(v: Any) -> str:
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def family_of(s: pd.Series) -> str | None:
    """The type family a column belongs to (as ``type:`` would check it), None for all-null or mixed."""
    if len(s) and s.isna().all():
        return None
    return next((f for f in _FAMILIES if type_matches(f, s)), None)


def observe(s: pd.Series) -> Observed:
    family = family_of(s)
    values = s.dropna()
    lo = hi = min_len = max_len = None
    if len(values) and family in ("int", "float", "date", "datetime"):
        if family in ("int", "float"):
            finite = values[np.isfinite(values.to_numpy(dtype="float64"))]
            if len(finite):
                lo, hi = _plain(finite.min()), _plain(finite.max())
        else:
            lo, hi = _plain(values.min()), _plain(values.max())
    if len(values) and family == "str":
        lengths = values.str.len()
        min_len, max_len = int(lengths.min()), int(lengths.max())
    distinct = values if family != "json" else json_text(values)  # lists are not hashable
    return Observed(len(s), int(s.isna().sum()), int(distinct.nunique()), family, lo, hi, min_len, max_len)


def column_type(s: pd.Series, family: str | None) -> dict[str, Any]:
    """The rest of the column type the Exporter would create for these values: a decimal's
    precision and scale (the digits seen, plus two whole digits of headroom), a timestamp's zone."""
    if family == "number":
        values = [v for v in s.dropna() if isinstance(v, decimal.Decimal) and v.is_finite()]
        if not values:
            return {}
        scale = max(max(-v.as_tuple().exponent, 0) for v in values)
        whole = max(max(len(v.as_tuple().digits) + v.as_tuple().exponent, 1) for v in values)
        return {"precision": whole + scale + 2, "scale": scale}
    if family == "datetime" and isinstance(s.dtype, pd.DatetimeTZDtype):
        zone = str(s.dtype.tz)
        return {"tz": True if zone in ("UTC", "utc") else zone}
    return {}


def _plain(v: Any) -> Any:
    """numpy and pandas scalars as the Python values YAML writes (Timestamp -> datetime)."""
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v.item() if isinstance(v, np.generic) else v


def widen(lo: float, hi: float, margin: float, integer: bool) -> tuple[float, float]:
    """Observed [lo, hi] widened by margin x range, rounded outward to a round step; zero is not crossed."""
    if margin <= 0:
        return lo, hi
    pad = margin * ((hi - lo) or abs(hi) or 1)
    exp = math.floor(math.log10(pad))
    if integer:
        exp = max(exp, 0)
    step = 10.0**exp
    digits = max(0, -exp)
    new_lo = round(math.floor((lo - pad) / step) * step, digits)
    new_hi = round(math.ceil((hi + pad) / step) * step, digits)
    if lo >= 0:
        new_lo = max(new_lo, 0)
    if hi <= 0:
        new_hi = min(new_hi, 0)
    new_lo, new_hi = min(new_lo, lo), max(new_hi, hi)  # rounding must never narrow the range
    return _tidy(new_lo, integer), _tidy(new_hi, integer)


def _tidy(v: float, integer: bool) -> float | int:
    return int(v) if integer or float(v).is_integer() else float(v)


def shape_regex(values: pd.Series) -> str | None:
    """A regex every (non-null, text) value matches when they share one shape with digits, else None."""
    distinct = pd.unique(values.dropna().astype(str))
    if not len(distinct):
        return None
    if all(re.match(_EMAIL, v) for v in distinct[:_SHAPE_SAMPLE]):
        pattern = _EMAIL
    else:
        pattern = _common_shape(distinct[:_SHAPE_SAMPLE])
    if pattern is None:
        return None
    # built from a sample: keep it only if every value matches
    return pattern if bool(pd.Series(distinct, dtype="string").str.fullmatch(pattern).all()) else None


def _common_shape(values: Sequence[str]) -> str | None:
    shapes = None
    for v in values:
        tokens = _TOKEN.findall(v)
        kinds = []
        for t in tokens:
            if t[0].isascii() and t[0].isupper():
                kinds.append("A")
            elif t[0].isascii() and t[0].islower():
                kinds.append("a")
            elif t[0] in "0123456789":
                kinds.append("9")
            elif t in "-_./:#":
                kinds.append(t)
            else:
                return None  # spaces and other characters: free text, not a code
        if "9" not in kinds:
            return None
        if shapes is None:
            shapes = (kinds, [{len(t)} for t in tokens])
        elif kinds != shapes[0]:
            return None
        else:
            for lengths, t in zip(shapes[1], tokens, strict=True):
                lengths.add(len(t))
    assert shapes is not None
    parts = []
    for kind, lengths in zip(*shapes, strict=True):
        if kind not in _CLASS:
            parts.append("\\." if kind == "." else kind)  # the other separators are literal in a regex
        elif len(lengths) > 1 or (kind == "9" and lengths == {1}):
            parts.append(_CLASS[kind] + "+")  # a single digit is most likely a counter that will grow
        else:
            n = next(iter(lengths))
            parts.append(_CLASS[kind] + (f"{{{n}}}" if n > 1 else ""))
    return "^" + "".join(parts) + "$"


def _looks_like_key(name: str, family: str | None, regex: str | None) -> bool:
    if _KEY_NAME.search(name) or _KEY_CAMEL.search(name):
        return family in ("int", "str")
    # letter-and-digit codes (R12, AB-003) are identifiers; digit-only shapes are often dates or numbers
    return family == "str" and regex is not None and regex != _EMAIL and ("[A-Z]" in regex or "[a-z]" in regex)


def infer_column(
    s: pd.Series, *, margin: float = 0.1, max_categories: int = 20, key: bool = False
) -> tuple[dict[str, Any], Observed]:
    """Rules for one column and what they were inferred from. ``key``: part of the given key columns."""
    seen = observe(s)
    spec: dict[str, Any] = {}
    if seen.family is not None:
        spec["type"] = seen.family
        spec.update(column_type(s, seen.family))
    spec["nullable"] = seen.nulls > 0
    values = s.dropna()
    present = len(values)
    categorical = seen.family == "str" and 0 < seen.distinct <= max_categories and seen.distinct < present
    regex = shape_regex(values) if seen.family == "str" and not categorical else None
    if (
        not key
        and present >= 2
        and seen.nulls == 0
        and seen.distinct == present
        and _looks_like_key(str(s.name), seen.family, regex)
    ):
        spec["unique"] = True
    if seen.family in ("int", "float") and seen.lo is not None:
        spec["min"], spec["max"] = widen(seen.lo, seen.hi, margin, seen.family == "int")
    if categorical:
        spec["allowed"] = sorted(str(v) for v in values.unique())
    elif regex is not None:
        spec["regex"] = regex
    elif seen.family == "str" and present and seen.min_len and values.str.strip().str.len().min() > 0:
        spec["min_length"] = 1
    return spec, seen


def infer_frame(
    df: pd.DataFrame,
    *,
    margin: float = 0.1,
    max_categories: int = 20,
    key_columns: Sequence[str] = (),
    strict: bool = False,
) -> tuple[dict[str, Any], dict[str, Observed]]:
    """Rules for one frame (the mapping under its name) and what each column showed."""
    keys = list(key_columns)
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise ValueError(f"key column(s) {missing} not in the frame; it has {list(map(str, df.columns))}")
    if keys:
        dups = int(df.duplicated(subset=keys, keep=False).sum())
        if dups:
            raise ValueError(f"key column(s) {keys} are not unique: {dups} rows share a key")
    rules: dict[str, Any] = {"strict": strict}
    if keys:
        rules["unique"] = keys
    columns, seen = {}, {}
    for col in df.columns:
        columns[str(col)], seen[str(col)] = infer_column(
            df[col], margin=margin, max_categories=max_categories, key=col in keys
        )
    rules["columns"] = columns
    return rules, seen


def infer_rules(
    frames: Mapping[str, pd.DataFrame],
    *,
    margin: float = 0.1,
    max_categories: int = 20,
    key_columns: Mapping[str, Sequence[str]] | Sequence[str] | None = None,
    strict: bool = False,
) -> dict[str, Any]:
    """Rules for every frame: ``{frame: {strict, unique?, columns: {col: {...}}}}``.

    ``key_columns``: a dict of frame name -> key columns, or one list when there is one frame; it
    becomes the frame's ``unique`` (and must be unique in the data)."""
    keys = _keys_by_frame(frames, key_columns)
    return {
        name: infer_frame(
            df, margin=margin, max_categories=max_categories, key_columns=keys.get(name, ()), strict=strict
        )[0]
        for name, df in frames.items()
    }


def _keys_by_frame(frames: Mapping[str, pd.DataFrame], key_columns: Any) -> dict[str, Sequence[str]]:
    if key_columns is None:
        return {}
    if isinstance(key_columns, Mapping):
        unknown = sorted(set(key_columns) - set(frames))
        if unknown:
            raise ValueError(f"key_columns name frame(s) {unknown}, but the frames are {sorted(frames)}")
        return {k: list(v) for k, v in key_columns.items()}
    if isinstance(key_columns, str) or len(frames) != 1:
        raise ValueError("key_columns: give a dict of frame name -> columns (or one list for one frame)")
    return {next(iter(frames)): list(key_columns)}


HEADER = (
    "# Rules inferred from data by tfi-data. Edit freely: re-inferring reports drift and merges\n"
    "# only accepted changes, keeping your edits. `warn: [check, ...]` makes checks warnings.\n"
)


def dump_value(value: Any) -> str:
    """One YAML value in flow style, quoted where YAML would misread it (on, 1e3, 2026-01-01, ...)."""
    text = yaml.safe_dump(
        _no_times(value), default_flow_style=True, sort_keys=False, width=math.inf, allow_unicode=True
    )
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _no_times(value: Any) -> Any:
    # in flow style PyYAML writes a datetime as !!timestamp '...'; the rules read ISO text for dates
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dict):
        return {k: _no_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_times(v) for v in value]
    return value


def column_lines(
    columns: Mapping[str, Any], indent: int, observed: Mapping[str, Observed] | None = None, width: int = 0
) -> list[str]:
    """``name: {checks}  # observed`` lines, names padded (to at least ``width``) so the checks line up."""
    keys = {name: dump_value(str(name)) + ":" for name in columns}
    width = max(width, *map(len, keys.values()), 0)
    lines = []
    for name, spec in columns.items():
        line = f"{' ' * indent}{keys[name]:<{width}} {dump_value(dict(spec or {}))}"
        if observed and name in observed:
            line += f"  # {observed[name]}"
        lines.append(line)
    return lines


def frame_lines(name: str, rules: Mapping[str, Any], frame: pd.DataFrame | None = None, indent: int = 2) -> list[str]:
    """One frame's entry as rules-file lines (comments from ``frame`` when given)."""
    observed = {str(c): observe(frame[c]) for c in frame.columns} if frame is not None else None
    head = dump_value(str(name)) + ":"
    if frame is not None:
        n = len(frame.columns)
        head += f"  # {len(frame)} rows, {n} column{'' if n == 1 else 's'}"
    lines = [head]
    pad = " " * indent
    for key, value in rules.items():
        if key != "columns":
            lines.append(f"{pad}{key}: {dump_value(value)}")
    lines.append(f"{pad}columns:")
    lines.extend(column_lines(rules.get("columns") or {}, indent * 2, observed))
    return lines


def rules_to_yaml(rules: Mapping[str, Any], frames: Mapping[str, pd.DataFrame] | None = None) -> str:
    """A rules mapping as rules-file text; with ``frames``, each column carries an observation comment."""
    frames = frames or {}
    blocks = ["\n".join(frame_lines(name, spec, frames.get(name))) for name, spec in rules.items()]
    return HEADER + "".join(block + "\n" for block in blocks)

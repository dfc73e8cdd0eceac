"""Rules inferred from data, written as a rules file a person can read and refine.

``infer_rules(frames)`` returns a rules mapping (the rules-file structure); ``rules_to_yaml(rules,
frames)`` writes it with a comment per column saying what was observed. What is inferred, beyond
pandera's ``infer_schema`` (dtype, nullability, exact numeric min/max):

- ``type`` from the dtype family, with the rest of the column type the Exporter creates from
  it: ``precision``/``scale`` for decimals, ``tz`` for timestamps with a time zone; columns
  with no family (binary, mixed, durations, all null) get only ``nullable`` and a comment
  saying why;
- ``nullable`` from observed nulls;
- ids (a key-like name, or distinct non-negative integers that count up): ``unique: true``,
  ``nullable: false`` and at most ``min: 0``, never a closed range;
- ``min``/``max`` for numbers, each side widened by ``margin`` x the larger of the observed range
  and that side's own size, rounded outward to a round step, never crossing zero and never more
  than doubling a side; -90..90 / -180..180 for latitudes / longitudes by name; Unix times (by
  name and value) the window their dates would get;
- dates and datetimes: a window of whole years (``date_window``) from before the first to a year
  past the last or past today;
- ``allowed`` for a closed set of labels: at most ``max_categories`` distinct values, repeated, at
  most half of them seen once; never for free text (several words a value, many distinct words)
  nor for lists written as text;
- ``regex`` for text whose every value has the same shape and contains digits (codes such as
  ``^[A-Z]\\d+$``, ``^\\d{5}$``, ISO dates ``^\\d{4}-\\d{2}-\\d{2}$``), or is an e-mail address;
  ``min_length: 1`` for other text without empty values;
- ``unique: true`` for columns whose values are all distinct and which look like keys (a key-like
  name, or letter-and-digit codes); ``unique: [..]`` for the ``key_columns`` given.

Notes for a person (in the column comments, and from ``frame_findings``): codes that lost or keep
leading zeros (with the ``dtype`` option that keeps them), Unix times, and key problems
(``key_findings``: duplicated or null keys with examples, key columns the frame lacks).

Every inferred rule holds for the data it was inferred from (regexes are verified on all values),
except the given ``key_columns``: an export's key stays its ``unique`` rule even when the data
breaks it, and the break is reported as a finding.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow
import yaml
from pandas.api import types as ptypes

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
    notes: tuple[str, ...] = ()  # what a person should know: no type and why, leading zeros, ...

    def __str__(self) -> str:
        nulls = "no nulls" if not self.nulls else f"{self.nulls} null" + ("s" if self.nulls > 1 else "")
        parts = [f"{self.rows} rows", nulls, f"{self.distinct} distinct"]
        if self.lo is not None:
            parts.append(f"observed {_span(self.lo, self.hi)}")
        if self.min_len is not None:
            parts.append(f"length {_span(self.min_len, self.max_len)}")
        return ", ".join(parts + list(self.notes))


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


def _hashable(v: Any) -> Any:
    """A value as something ``nunique`` can count: lists, dicts and arrays by their JSON text."""
    if isinstance(v, (list, tuple, dict, np.ndarray, set)):
        try:
            return json.dumps(v.tolist() if isinstance(v, np.ndarray) else v, sort_keys=True, default=str)
        except (TypeError, ValueError):
            return repr(v)
    try:
        hash(v)
    except TypeError:
        return repr(v)
    return v


def _comparable(s: pd.Series) -> pd.Series:
    """Lists and dicts (Python's, or an Arrow list column) as their JSON text; other values as they are."""
    nested = isinstance(s.dtype, pd.ArrowDtype) and pyarrow.types.is_nested(s.dtype.pyarrow_dtype)
    return s.astype(object).map(_hashable) if nested or s.dtype == object else s


def _distinct(values: pd.Series) -> int:
    return int(_comparable(values).nunique())


_PY_KINDS = {
    "list": "lists",
    "tuple": "lists",
    "ndarray": "lists",
    "dict": "objects (dicts)",
    "bytes": "binary values",
    "bytearray": "binary values",
    "Decimal": "decimals",
    "time": "times of day",
    "Timedelta": "durations",
    "timedelta": "durations",
}


def _untyped_note(s: pd.Series, values: pd.Series) -> str:
    """Why a column gets no type (and so no value checks): the comment that says so."""
    if not len(values):
        return "all null: no type or value checks inferred"
    if ptypes.is_timedelta64_dtype(s.dtype):
        return "durations: no type in the rules, only nulls checked"
    kinds = sorted({_PY_KINDS.get(type(v).__name__, type(v).__name__) for v in values.iloc[:_SHAPE_SAMPLE]})
    if len(kinds) == 1:
        return f"{kinds[0]}: no type in the rules, only nulls checked"
    return f"mixed types ({', '.join(kinds)}): only nulls checked"


def observe(s: pd.Series) -> Observed:
    family = family_of(s)
    values = s.dropna()
    lo = hi = min_len = max_len = None
    notes: list[str] = []
    if family is None:
        notes.append(_untyped_note(s, values))
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
    if family in ("int", "float") and lo is not None:
        epoch = epoch_unit(str(s.name), lo, hi)
        if epoch is not None:
            when = [
                dt.datetime.fromtimestamp(v / epoch[1], dt.timezone.utc).strftime("%Y-%m-%d %H:%M") for v in (lo, hi)
            ]
            notes.append(f"Unix time in {epoch[0]} ({when[0]}..{when[1]} UTC)")
    zeros = _leading_zeros(str(s.name), family, values)
    if zeros:
        notes.append(zeros)
    return Observed(len(s), int(s.isna().sum()), _distinct(values), family, lo, hi, min_len, max_len, tuple(notes))


_CODE_NAME = re.compile(
    r"(?:^|[_\s.-])(?:zip|zipcode|zip_code|postal|postcode|post_code|plz|fips|geoid|code|cd)$|^(?:zip|postal|fips)",
    re.IGNORECASE,
)


def _leading_zeros(name: str, family: str | None, values: pd.Series) -> str | None:
    """A note when a column is a code whose leading zeros matter: digits with leading zeros kept
    as text, or a code read as numbers whose widths differ (00501 read as 501)."""
    option = f"dtype={{{name!r}: str}}"
    if family == "str" and len(values):
        sample = pd.Series(pd.unique(values.astype(str))[:_SHAPE_SAMPLE], dtype="string")
        digits = sample.str.fullmatch(r"\d{2,}")
        if bool(digits.all()) and bool(sample.str.startswith("0").any()):
            return f"digits with leading zeros: keep reading it as text ({option})"
        return None
    if family == "int" and len(values) and _CODE_NAME.search(name):
        ints = values.astype("int64")
        if bool((ints >= 0).all()):
            widths = ints.astype(str).str.len()
            if widths.max() >= 3 and widths.min() < widths.max():
                return (
                    f"a code read as numbers: {int((widths < widths.max()).sum())} value(s) shorter than "
                    f"{int(widths.max())} digits lost leading zeros? read it as text with {option}"
                )
    return None


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
    """Observed [lo, hi] widened, each side by margin x the larger of the range and that side's own
    size (a level such as 138,000 jobs moves by thousands even when it was seen within a narrow
    band), rounded outward to a round step.

    Zero is not crossed (non-negative data stays non-negative, non-positive stays non-positive),
    and a side never grows past twice its observed size: observed -1..2000000 gives min -2, not
    -200000 (each side is rounded to a step of its own)."""
    if margin <= 0:
        return lo, hi
    spread = hi - lo
    pad_lo = margin * (max(spread, abs(lo)) or 1)
    pad_hi = margin * (max(spread, abs(hi)) or 1)
    if lo < 0:
        pad_lo = min(pad_lo, abs(lo))
    if hi > 0:
        pad_hi = min(pad_hi, abs(hi))
    new_lo = _round_out(lo - pad_lo, pad_lo, integer, math.floor)
    new_hi = _round_out(hi + pad_hi, pad_hi, integer, math.ceil)
    if lo >= 0:
        new_lo = max(new_lo, 0)
    if hi <= 0:
        new_hi = min(new_hi, 0)
    new_lo, new_hi = min(new_lo, lo), max(new_hi, hi)  # rounding must never narrow the range
    return _tidy(new_lo, integer), _tidy(new_hi, integer)


def _round_out(value: float, pad: float, integer: bool, direction) -> float:
    exp = math.floor(math.log10(pad)) if pad > 0 else 0
    if integer:
        exp = max(exp, 0)
    step = 10.0**exp
    return round(direction(value / step) * step, max(0, -exp))


# coordinates by name: their values can only be within these bounds
_LAT = re.compile(r"(?:^|[_\s.-])(?:lat|latitude)$|^lat(?:itude)?(?:[_\s.-]|$)", re.IGNORECASE)
_LON = re.compile(r"(?:^|[_\s.-])(?:lon|lng|long|longitude)$|^(?:lon|lng|long|longitude)(?:[_\s.-]|$)", re.IGNORECASE)


def _physical_bounds(name: str, lo: float, hi: float) -> tuple[float, float] | None:
    """-90..90 for a latitude, -180..180 for a longitude (by name, when the values fit): any place on
    Earth is a valid coordinate; a regional data set's tighter box is a person's refinement."""
    for pattern, limit in ((_LAT, 90), (_LON, 180)):
        if pattern.search(name) and -limit <= lo and hi <= limit:
            return -limit, limit
    return None


_TIME_NAME = re.compile(r"time|date|stamp|epoch|updated|created|modified|_at$|_ts$", re.IGNORECASE)
_EPOCH_UNITS = (("seconds", 1), ("milliseconds", 1_000))
_EPOCH_RANGE = (946_684_800, 4_102_444_800)  # 2000-01-01 .. 2100-01-01 in seconds


def epoch_unit(name: str, lo: float, hi: float) -> tuple[str, int] | None:
    """(unit, per second) when a number column named like a time holds Unix times of this century."""
    if not _TIME_NAME.search(name):
        return None
    for unit, scale in _EPOCH_UNITS:
        if _EPOCH_RANGE[0] * scale <= lo and hi <= _EPOCH_RANGE[1] * scale:
            return unit, scale
    return None


def _epoch_window(name: str, lo: float, hi: float, margin: float) -> tuple[int, int] | None:
    """Unix times get the window their dates would get, in the same unit."""
    found = epoch_unit(name, lo, hi)
    if found is None:
        return None
    scale = found[1]
    utc = dt.timezone.utc
    first, last = date_window(
        dt.datetime.fromtimestamp(lo / scale, utc), dt.datetime.fromtimestamp(hi / scale, utc), margin
    )
    return tuple(int(dt.datetime.fromisoformat(d).timestamp()) * scale for d in (first, last))


def date_window(lo: Any, hi: Any, margin: float, today: dt.date | None = None) -> tuple[Any, Any]:
    """A plausible window for dates or datetimes seen in [lo, hi]: widened by margin x the span but
    at least a year each side, and on to a year after ``today`` (new data brings new dates: a
    history inferred in 2026 still takes 2027's rows), then out to whole years. Dates stay dates;
    datetimes become ISO text in their column's zone."""
    is_date = not isinstance(lo, dt.datetime)
    span = (hi - lo) if not is_date else dt.timedelta(days=(hi - lo).days)
    pad = max(span * margin, dt.timedelta(days=365))
    start = (lo - pad) if lo.year > dt.MINYEAR + 1 else lo
    end = (hi + pad) if hi.year < dt.MAXYEAR - 1 else hi
    ahead = ((today or dt.date.today()) + dt.timedelta(days=365)).year
    first, last = dt.date(start.year, 1, 1), dt.date(min(max(end.year, ahead) + 1, dt.MAXYEAR), 1, 1)
    if is_date:
        return first, last
    # as ISO text, as the rules file holds datetimes ('2025-01-01', or with the column's zone)
    return tuple(
        d.isoformat() if zone is None else dt.datetime(d.year, 1, 1, tzinfo=zone).isoformat(sep=" ")
        for d, zone in ((first, lo.tzinfo), (last, hi.tzinfo))
    )


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


def _key_name(name: str) -> bool:
    return bool(_KEY_NAME.search(name) or _KEY_CAMEL.search(name))


def _looks_like_key(name: str, family: str | None, regex: str | None) -> bool:
    if _key_name(name):
        return family in ("int", "str")
    # letter-and-digit codes (R12, AB-003) are identifiers; digit-only shapes are often dates or numbers
    return family == "str" and regex is not None and regex != _EMAIL and ("[A-Z]" in regex or "[a-z]" in regex)


_SEQUENCE_MIN_ROWS = 20


_NOT_ID = re.compile(r"year|yr|date|time|day|month|hour|age|temp", re.IGNORECASE)


def _sequence_like(name: str, values: pd.Series) -> bool:
    """Distinct non-negative integers that count up (monotone) or fill most of their span: row
    numbers, serials (not years, times or measurements that happen to be distinct)."""
    if len(values) < _SEQUENCE_MIN_ROWS or _NOT_ID.search(name):
        return False
    ints = values.astype("int64")
    if int(ints.min()) < 0:
        return False
    span = int(ints.max()) - int(ints.min()) + 1
    return bool(ints.is_monotonic_increasing) or span <= 2 * len(ints)


_WORD = re.compile(r"[^\W\d_]")
_FREE_TEXT_WORDS = 20


def _free_text(values: pd.Series) -> bool:
    """Sentences rather than labels: several words a value and many distinct words overall (three
    species names of four words each are labels; ten remarks of six words are free text)."""
    sample = pd.unique(values.astype(str))[:_SHAPE_SAMPLE]
    if not len(sample):
        return False
    words = [[w for w in v.lower().split() if _WORD.search(w)] for v in sample]  # spaced words with letters
    per_value = sum(map(len, words)) / len(sample)
    vocabulary = len({w for ws in words for w in ws})
    return per_value >= 3 and vocabulary >= _FREE_TEXT_WORDS


_SEPARATORS = ",;|"


def _text_list(values: pd.Series) -> bool:
    """Lists written as text (``,geoserve,origin,``): their combinations outnumber their parts, so
    new combinations of known parts are to come; no closed set of categories."""
    distinct = pd.unique(values.astype(str))[:_SHAPE_SAMPLE]
    for sep in _SEPARATORS:
        if all(sep in v for v in distinct):
            parts = {p.strip() for v in distinct for p in v.split(sep) if p.strip()}
            return len(distinct) > len(parts)
    return False


def _closed_set(values: pd.Series, distinct: int) -> bool:
    """Whether the values look like a closed set of categories: repeated, and at most half of them
    seen only once (many values seen once say more are to come)."""
    if distinct >= len(values) or _text_list(values):
        return False
    singletons = int((values.value_counts() == 1).sum())
    return singletons * 2 <= distinct


def infer_column(
    s: pd.Series, *, margin: float = 0.1, max_categories: int = 20, key: bool = False
) -> tuple[dict[str, Any], Observed]:
    """Rules for one column and what they were inferred from. ``key``: part of the given key columns.

    What a column is decides its rules: an identifier (a key-like name, or distinct integers that
    count up) gets ``unique`` and ``nullable: false`` and at most a lower bound, never a closed
    range (the next id is above every id seen); free text gets no ``allowed`` list; a quantity gets
    a range that keeps its observed sign (and -90..90 / -180..180 for latitudes and longitudes);
    dates and datetimes a window of whole years around what was seen; columns with no type (lists,
    dicts, binary, mixed, all null) only their nullability, with a comment saying why."""
    seen = observe(s)
    spec: dict[str, Any] = {}
    if seen.family is not None:
        spec["type"] = seen.family
        spec.update(column_type(s, seen.family))
    spec["nullable"] = seen.nulls > 0
    if seen.family is None:
        return spec, seen
    name = str(s.name)
    values = s.dropna()
    present = len(values)
    text = seen.family == "str"
    free = text and present > 0 and _free_text(values)
    categorical = text and not free and 0 < seen.distinct <= max_categories and _closed_set(values, seen.distinct)
    regex = shape_regex(values) if text and not categorical and not free else None
    distinct = present >= 2 and seen.nulls == 0 and seen.distinct == present
    ident = seen.family == "int" and (
        _key_name(name) or (distinct and _sequence_like(name, values)) or (key and distinct)
    )
    if not key and distinct and (ident or _looks_like_key(name, seen.family, regex)):
        spec["unique"] = True
    if seen.family in ("int", "float") and seen.lo is not None:
        if ident:
            if seen.lo >= 0:  # an id grows: only its sign is a rule
                spec["min"] = 0
        else:
            lo, hi = widen(seen.lo, seen.hi, margin, seen.family == "int")
            bounds = _physical_bounds(name, seen.lo, seen.hi) or _epoch_window(name, seen.lo, seen.hi, margin)
            spec["min"], spec["max"] = bounds or (lo, hi)
    if seen.family in ("date", "datetime") and seen.lo is not None and margin > 0:
        spec["min"], spec["max"] = date_window(seen.lo, seen.hi, margin)
    elif seen.family in ("date", "datetime") and seen.lo is not None:
        spec["min"], spec["max"] = seen.lo, seen.hi
    if categorical:
        spec["allowed"] = sorted(str(v) for v in values.unique())
    elif regex is not None:
        spec["regex"] = regex
    elif text and present and seen.min_len and values.str.strip().str.len().min() > 0:
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
    """Rules for one frame (the mapping under its name) and what each column showed.

    ``key_columns`` (an export's keys) become ``unique`` even when the data breaks them: duplicated
    or null keys and key columns the frame lacks are not errors here but findings
    (``key_findings``), written as comments above the frame's rules and printed by ``tfi-data infer``."""
    keys = [k for k in key_columns if k in df.columns]  # a missing key column is a finding (key_findings)
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


def _key_text(key: Any) -> str:
    parts = key if isinstance(key, tuple) else (key,)
    text = ", ".join(
        "null" if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) else str(v) for v in parts
    )
    return f"({text})" if len(parts) > 1 else text


def key_findings(df: pd.DataFrame, keys: Sequence[str], shown: int = 5) -> list[str]:
    """What is wrong with a frame's key columns: absent, null or duplicated keys (with examples)."""
    keys = list(keys)
    findings = []
    missing = [k for k in keys if k not in df.columns]
    if missing:
        findings.append(f"key column(s) {missing} not in the frame; it has {list(map(str, df.columns))}")
    present = [k for k in keys if k in df.columns]
    if not present:
        return findings
    # lists or dicts in a key column: compared by their JSON text
    frame = df[present].apply(_comparable)
    dup = frame.duplicated(keep=False)
    nulls = frame.isna().any(axis=1)
    if nulls.any():
        findings.append(f"key {present}: {int(nulls.sum())} row(s) with a null key (rows {_rows(nulls)})")
    if dup.any():
        groups = frame[dup].value_counts(dropna=False, sort=True)
        examples = ", ".join(f"{_key_text(k)} x{n}" for k, n in groups.head(shown).items())
        more = ", ..." if len(groups) > shown else ""
        findings.append(
            f"key {present} is not unique: {int(dup.sum())} rows share {len(groups)} key(s): {examples}{more}"
        )
    return findings


def _rows(mask: pd.Series, shown: int = 5) -> str:
    pos = np.flatnonzero(mask.to_numpy())
    return ", ".join(map(str, pos[:shown].tolist())) + (", ..." if len(pos) > shown else "")


def frame_findings(df: pd.DataFrame, rules: Mapping[str, Any], keys: Sequence[str] = ()) -> list[str]:
    """Everything a person should look at in one frame's inferred rules: key problems (of
    ``keys``, else the frame's ``unique``) and the columns' notes (no type and why, leading zeros)."""
    found = key_findings(df, list(keys) or list(rules.get("unique") or []))
    for col in df.columns:
        found += [f"{col}: {note}" for note in observe(df[col]).notes]
    return found


def row_bounds(counts: Sequence[int]) -> dict[str, int]:
    """``rows`` bounds learnt from the row counts of several batches (the files of a glob): at least
    half the smallest batch, rounded down to two significant digits. No upper bound: a run reads
    every file its glob matches, and files accumulate. An empty or truncated load stops the run."""
    return {"min": _round_sig(min(counts) / 2, math.floor)}


def batch_notes(batches: Sequence[pd.DataFrame], label: str) -> list[str]:
    """What several batches of one frame show beyond their union: their sizes, and the columns
    only some of them have."""
    counts = [len(b) for b in batches]
    notes = [f"learnt from {len(batches)} files of {label}: {min(counts)}..{max(counts)} rows each"]
    for col in dict.fromkeys(c for b in batches for c in b.columns):
        having = sum(col in b.columns for b in batches)
        if having < len(batches):
            notes.append(f"column {col!r} is in {having} of {len(batches)} files only")
    return notes


def _round_sig(v: float, direction) -> int:
    if v < 1:
        return int(direction(v))
    step = 10 ** max(0, math.floor(math.log10(v)) - 1)
    return int(direction(v / step) * step)


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


def frame_lines(
    name: str,
    rules: Mapping[str, Any],
    frame: pd.DataFrame | None = None,
    indent: int = 2,
    notes: Sequence[str] = (),
) -> list[str]:
    """One frame's entry as rules-file lines (comments from ``frame`` when given; ``notes`` as
    ``# NOTE`` lines under its name)."""
    observed = {str(c): observe(frame[c]) for c in frame.columns} if frame is not None else None
    head = dump_value(str(name)) + ":"
    if frame is not None:
        n = len(frame.columns)
        head += f"  # {len(frame)} rows, {n} column{'' if n == 1 else 's'}"
    lines = [head]
    pad = " " * indent
    if frame is not None and rules.get("unique"):
        lines += [f"{pad}# NOTE {finding}" for finding in key_findings(frame, rules["unique"])]
    lines += [f"{pad}# NOTE {note}" for note in notes]
    for key, value in rules.items():
        if key != "columns":
            lines.append(f"{pad}{key}: {dump_value(value)}")
    lines.append(f"{pad}columns:")
    lines.extend(column_lines(rules.get("columns") or {}, indent * 2, observed))
    return lines


def rules_to_yaml(
    rules: Mapping[str, Any],
    frames: Mapping[str, pd.DataFrame] | None = None,
    notes: Mapping[str, Sequence[str]] | None = None,
) -> str:
    """A rules mapping as rules-file text; with ``frames``, each column carries an observation
    comment; ``notes`` (by frame) are written as ``# NOTE`` lines under the frame's name."""
    frames, notes = frames or {}, notes or {}
    blocks = [
        "\n".join(frame_lines(name, spec, frames.get(name), notes=notes.get(name, ()))) for name, spec in rules.items()
    ]
    return HEADER + "".join(block + "\n" for block in blocks)

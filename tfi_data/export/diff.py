"""The reference diff: what must change to turn the table's rows into the new rows.

Every dialect's write path must produce the same table and counts as this. Values are compared
NULL-safely in a canonical form per type family, so a value read back from any database
equals the value that was written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Changes:
    inserts: pd.DataFrame  # full new rows whose key is not in the table
    updates: pd.DataFrame  # full new rows whose key is in the table with different values
    deletes: pd.DataFrame  # key columns of table rows absent from the new data
    unchanged: int


def canonical(series: pd.Series, family: str) -> pd.Series:
    """A comparable form of a column for its family: timestamps as naive UTC, dates as
    midnight timestamps, numbers as nullable numbers; NULL/NaN/NaT all become NA."""
    s = series.reset_index(drop=True)
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(s.dtype.categories.dtype)
    if family == "timestamptz":
        s = pd.to_datetime(s, utc=True).dt.tz_localize(None)
    elif family in ("timestamp", "date"):
        s = _to_datetime(s)
    elif family == "int":
        try:  # exact for 64-bit ints (a float detour would round above 2**53)
            s = s.astype("Int64")
        except (TypeError, ValueError):  # non-integral values stored in a float column
            s = pd.to_numeric(s).astype("Float64")
    elif family == "float":
        s = pd.to_numeric(s).astype("Float64")
    elif family == "bool":
        s = s.astype("boolean")
    elif family == "str" and not isinstance(s.dtype, pd.StringDtype):
        s = s.astype("string")
    return s


def _to_datetime(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        return s.dt.tz_convert("UTC").dt.tz_localize(None)
    if s.dtype == object:
        # python dates/datetimes; tz-aware ones are made naive UTC first
        s = s.map(_naive_utc)
    return pd.to_datetime(s)


def _naive_utc(v: object) -> object:
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return v


def values_equal(a: pd.Series, b: pd.Series) -> np.ndarray:
    """NULL-safe equality: two NULLs are equal, NULL and a value are not."""
    a_na = a.isna().to_numpy()
    b_na = b.isna().to_numpy()
    eq = (a == b).fillna(False).to_numpy(dtype=bool) if len(a) else np.zeros(0, dtype=bool)
    return (a_na & b_na) | (eq & ~a_na & ~b_na)


def diff(
    old: pd.DataFrame,
    new: pd.DataFrame,
    keys: Sequence[str],
    families: dict[str, str],
    *,
    deletes: bool,
) -> Changes:
    """Compare ``old`` (rows read from the table) with ``new`` by ``keys``.

    ``families`` names each new column's type family; columns of ``new`` missing from ``old``
    (just added to the table) count as NULL in the old rows.
    """
    keys = list(keys)
    value_cols = [c for c in new.columns if c not in keys]
    old_c = pd.DataFrame(
        {c: canonical(old[c], families[c]) if c in old else pd.NA for c in new.columns}, index=range(len(old))
    )
    new_c = pd.DataFrame({c: canonical(new[c], families[c]) for c in new.columns})
    old_c["__old_pos"] = np.arange(len(old_c))
    new_c["__new_pos"] = np.arange(len(new_c))
    joined = old_c.merge(new_c, on=keys, how="outer", suffixes=("__old", ""), indicator=True, sort=False)

    both = joined[joined["_merge"] == "both"]
    changed = np.zeros(len(both), dtype=bool)
    for col in value_cols:
        changed |= ~values_equal(both[f"{col}__old"], both[col])
    new_pos_updates = both.loc[changed, "__new_pos"].astype(int).to_numpy()
    new_pos_inserts = joined.loc[joined["_merge"] == "right_only", "__new_pos"].astype(int).to_numpy()
    if deletes:
        old_pos_deletes = joined.loc[joined["_merge"] == "left_only", "__old_pos"].astype(int).to_numpy()
    else:
        old_pos_deletes = np.zeros(0, dtype=int)
    return Changes(
        inserts=new.iloc[np.sort(new_pos_inserts)],
        updates=new.iloc[np.sort(new_pos_updates)],
        deletes=old[keys].iloc[np.sort(old_pos_deletes)],
        unchanged=int((~changed).sum()),
    )

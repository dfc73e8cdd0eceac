"""The reference diff: what must change to turn the table's rows into the new rows.

Every dialect's write path must produce the same table and counts as this. Both sides are
compared NULL-safely in what the database stores for the *column's* type (``types.stored``):
timestamps at its precision with its rounding, decimals exactly at its scale, floats after the
float64 round trip, JSON as canonical text. So a rerun of a frame finds nothing to update.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tfi_data.export import types as ty
from tfi_data.export.types import ColumnType


@dataclass
class Changes:
    inserts: pd.DataFrame  # full new rows whose key is not in the table
    updates: pd.DataFrame  # full new rows whose key is in the table with different values
    deletes: pd.DataFrame  # key columns of table rows absent from the new data
    unchanged: int


def canonical(series: pd.Series, column: ColumnType, dialect: str, *, data: ColumnType | None = None) -> pd.Series:
    """A comparable form of values in a column of type ``column`` on ``dialect``: equal exactly
    when the database holds the same value. NULL/NaN/NaT all become NA."""
    return ty.compare_form(ty.stored(series.reset_index(drop=True), column, dialect, data=data), column)


def values_equal(a: pd.Series, b: pd.Series) -> np.ndarray:
    """NULL-safe equality: two NULLs are equal, NULL and a value are not."""
    a_na = a.isna().to_numpy()
    b_na = b.isna().to_numpy()
    both = ~a_na & ~b_na
    eq = np.zeros(len(a), dtype=bool)
    if both.any():  # compared only where both hold a value (NA == x is NA, not False)
        left, right = a[both].reset_index(drop=True), b[both].reset_index(drop=True)
        eq[both] = (left == right).to_numpy(dtype=bool)
    return (a_na & b_na) | eq


def diff(
    old: pd.DataFrame,
    new: pd.DataFrame,
    keys: Sequence[str],
    types: Mapping[str, ColumnType],
    dialect: str,
    *,
    deletes: bool,
    data: Mapping[str, ColumnType | None] | None = None,
) -> Changes:
    """Compare ``old`` (rows read from the table) with ``new`` by ``keys``; ``types`` gives each
    column's type in the table. Columns of ``new`` missing from ``old`` (about to be added)
    count as NULL in the old rows."""
    keys = list(keys)
    data = data or {}
    value_cols = [c for c in new.columns if c not in keys]
    old_c = pd.DataFrame(
        {c: canonical(old[c], types[c], dialect, data=data.get(c)) if c in old else pd.NA for c in new.columns},
        index=range(len(old)),
    )
    new_c = pd.DataFrame({c: canonical(new[c], types[c], dialect, data=data.get(c)) for c in new.columns})
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

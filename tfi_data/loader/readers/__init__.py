"""One small reader per source kind, behind one registry (``READERS``).

Each reader turns one concrete file (or URL / query) into a DataFrame with tfi-data's standard
dtypes, passing the source's options straight to pandas/pyarrow. Globs, error wording and
bookkeeping live in GeneralLoader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import pandas as pd

from tfi_data.loader.readers.dtypes import standard_dtypes
from tfi_data.loader.readers.files import read_csv, read_excel, read_json, read_jsonl, read_parquet
from tfi_data.loader.readers.http import read_http
from tfi_data.loader.readers.sql import read_sql


class Reader(Protocol):
    def __call__(self, target: str, options: Mapping[str, Any]) -> pd.DataFrame: ...


READERS: dict[str, Reader] = {
    "csv": read_csv,
    "json": read_json,
    "jsonl": read_jsonl,
    "parquet": read_parquet,
    "excel": read_excel,
    "sql": read_sql,
    "http": read_http,
}

__all__ = ["READERS", "Reader", "read_csv", "standard_dtypes"]

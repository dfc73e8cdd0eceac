"""Reader of a SQL query against a database named by an environment variable."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from tfi_data.loader.readers.dtypes import standard_dtypes
from tfi_data.settings import require_env


def read_sql(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    import sqlalchemy as sa

    opts = dict(options)
    url_env = opts.pop("url_env", None)
    url = require_env(url_env, "SQL source url_env") if url_env else opts.pop("url", None)
    if not url:
        raise ValueError("a SQL source needs url_env=... naming an environment variable (or url=...)")
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return standard_dtypes(pd.read_sql, sa.text(target), {**opts, "con": conn})
    finally:
        engine.dispose()

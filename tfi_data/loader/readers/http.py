"""Reader of a URL returning CSV, JSON or Parquet."""

from __future__ import annotations

import io
import urllib.request
from collections.abc import Mapping
from typing import Any

import pandas as pd

from tfi_data.loader.readers.files import read_csv, read_json, read_jsonl, read_parquet


def read_http(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    opts = dict(options)
    fmt = opts.pop("format", None) or _format_from_url(target)
    headers = opts.pop("headers", {})
    timeout = opts.pop("timeout", 30)
    request = urllib.request.Request(target, headers=dict(headers))
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return _PARSERS[fmt](io.BytesIO(body), opts)


def _format_from_url(url: str) -> str:
    path = url.split("?", 1)[0].lower()
    for ext, fmt in ((".jsonl", "jsonl"), (".json", "json"), (".parquet", "parquet"), (".csv", "csv")):
        if path.endswith(ext):
            return fmt
    return "csv"


_PARSERS = {"csv": read_csv, "json": read_json, "jsonl": read_jsonl, "parquet": read_parquet}

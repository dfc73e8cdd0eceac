"""Reader of an HTTP(S) URL returning CSV, JSON, JSON Lines or Parquet, with retries and pagination.

Options (everything else goes to the pandas parser, e.g. ``sep``, ``dtype``, ``encoding``):

- ``format``: ``csv``, ``json``, ``jsonl`` or ``parquet``; else taken from the Content-Type, else
  from the URL's extension.
- ``headers``, ``params`` (query parameters merged into the URL); credentials in the URL
  (``https://user:pw@host/...``) are sent as HTTP Basic auth.
- ``timeout`` (seconds the server may stay silent, default 30), ``retries`` (default 3) with
  exponential backoff from ``backoff`` seconds (default 0.5) on 429, 5xx, connection errors and
  timeouts; a ``Retry-After`` header is honoured, every wait capped at ``max_retry_wait`` (30).
- JSON: an array of records, or the records under the dotted ``record_path`` (``"data.items"``);
  nested objects become ``a.b`` columns as with ``pandas.json_normalize`` (``sep`` and
  ``max_level`` are accepted); a column of mixed types becomes text.
- Pagination: ``next_link="links.next"`` (dotted path in the JSON body to the next URL, relative
  or absolute) or a ``Link: <...>; rel="next"`` header (always followed); or page numbers with
  ``page_param="page"`` from ``page_start`` (default 1) until a page has no records. More than
  ``max_pages`` (default 1000) pages is an error.

The result's ``attrs["fingerprint"]`` holds the first response's ``etag``, ``last_modified`` and
the ``url`` (credentials hidden) for change detection, plus the number of ``pages``.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import http.client
import io
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit

import pandas as pd

from tfi_data.loader.readers.dtypes import concat_arrow, standard_dtypes
from tfi_data.loader.readers.files import read_csv, read_jsonl, read_parquet, records_frame

FORMATS = ("csv", "json", "jsonl", "parquet")

_CONTENT_TYPES = {
    "text/csv": "csv",
    "application/csv": "csv",
    "text/x-csv": "csv",
    "application/json": "json",
    "text/json": "json",
    "application/x-ndjson": "jsonl",
    "application/ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/jsonlines": "jsonl",
    "application/vnd.apache.parquet": "parquet",
    "application/x-parquet": "parquet",
    "application/parquet": "parquet",
}
_EXTENSIONS = {".csv": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}

# Query parameters whose values are masked wherever a URL is shown.
_SECRET_PARAM = re.compile(r"key|token|secret|passw|pwd|auth|sig|credential|session", re.IGNORECASE)
_LINK = re.compile(r"<([^>]*)>((?:\s*;\s*[^;,]*)*)")
_REL = re.compile(r"""\brel\s*=\s*"?([^";]*)"?""", re.IGNORECASE)


class HTTPReadError(RuntimeError):
    """A URL could not be read. The message names the URL without credentials, never header values."""


def read_http(target: str, options: Mapping[str, Any]) -> pd.DataFrame:
    opts = dict(options)
    fmt = opts.pop("format", None)
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"format={fmt!r}: expected one of {', '.join(FORMATS)}")
    record_path = opts.pop("record_path", None)
    next_link = opts.pop("next_link", None)
    page_param = opts.pop("page_param", None)
    page_start = int(opts.pop("page_start", 1))
    max_pages = int(opts.pop("max_pages", 1000))
    url, headers = _split_credentials(target, dict(opts.pop("headers", None) or {}))
    url = _with_query(url, opts.pop("params", None) or {})
    client = _Client(
        headers=headers,
        timeout=float(opts.pop("timeout", 30)),
        retries=int(opts.pop("retries", 3)),
        backoff=float(opts.pop("backoff", 0.5)),
        max_retry_wait=float(opts.pop("max_retry_wait", 30)),
    )

    parts: list[Any] = []  # JSON: lists of records (normalized together); other formats: DataFrames
    bodies: list[bytes] = []  # JSON pages, parsed again by the flattener when it needs exact ints
    first: _Response | None = None
    seen = {url}
    page = page_start
    while True:
        response = client.get(_with_query(url, {page_param: page}) if page_param else url)
        if first is None:
            first = response
            fmt = fmt or _detect_format(response)
            if fmt != "json" and (record_path or next_link):
                raise ValueError(f"record_path/next_link apply to JSON, but {response.safe_url} is {fmt}")
        doc = _json(response) if fmt == "json" else None
        if fmt == "json":
            bodies.append(response.body)
        part = _records(doc, record_path, response) if fmt == "json" else _frame(response, fmt, opts)
        if page_param:
            if len(part) == 0:
                if not parts:  # keep the (empty) shape of a source with no records at all
                    parts.append(part)
                break
            if len(parts) == max_pages:
                raise HTTPReadError(f"more than max_pages={max_pages} pages from {first.safe_url}")
            parts.append(part)
            page += 1
            continue
        parts.append(part)
        nxt = _next_url(response, doc, next_link)
        if nxt is None:
            break
        if nxt in seen:
            raise HTTPReadError(f"pagination loops: {redact_url(nxt)} was already read")
        if len(parts) == max_pages:
            raise HTTPReadError(f"more than max_pages={max_pages} pages from {first.safe_url}")
        seen.add(nxt)
        url = nxt

    if fmt == "json":

        def records(parse_int):
            pages = (json.loads(body, parse_int=parse_int) if body.strip() else None for body in bodies)
            return [r for doc in pages for r in _records(doc, record_path, first)]

        df = records_frame(records, opts)
    elif len(parts) == 1:
        df = parts[0]
    elif "dtype_backend" in opts:
        df = pd.concat(parts, ignore_index=True)
    else:  # in Arrow, so a column empty on one page takes its type from the others
        df = standard_dtypes(lambda frames, dtype_backend: concat_arrow(frames), parts, {})
    df.attrs["fingerprint"] = {
        "etag": first.headers.get("ETag"),
        "last_modified": first.headers.get("Last-Modified"),
        "url": first.safe_url,
        "pages": max(len(parts), 1),
    }
    return df


@dataclass(frozen=True)
class _Response:
    url: str  # after redirects: relative next links resolve against it
    safe_url: str
    body: bytes
    headers: http.client.HTTPMessage


@dataclass(frozen=True)
class _Client:
    headers: dict[str, str]
    timeout: float
    retries: int
    backoff: float
    max_retry_wait: float

    def get(self, url: str) -> _Response:
        safe = redact_url(url)
        parts = urlsplit(url)
        # urllib's own errors for other schemes would print the whole URL, secrets included.
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {safe}")
        # Some APIs and CDNs turn away urllib's default agent.
        headers = {"User-Agent": "tfi-data", **self.headers}
        attempts = self.retries + 1
        attempt = 1
        while True:
            tried = f" (after {attempt} attempts)" if attempt > 1 else ""
            retry_after = None
            try:
                request = urllib.request.Request(url, headers=headers)
                with urllib.request.urlopen(request, timeout=self.timeout) as resp:
                    return _Response(resp.geturl(), safe, resp.read(), resp.headers)
            except urllib.error.HTTPError as exc:
                exc.close()
                if (exc.code != 429 and exc.code < 500) or attempt >= attempts:
                    raise HTTPReadError(f"HTTP {exc.code} {exc.reason} from {safe}{tried}") from exc
                retry_after = exc.headers.get("Retry-After")
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
                if attempt >= attempts:
                    if isinstance(reason, TimeoutError):
                        raise HTTPReadError(f"timed out after {self.timeout:g} s waiting for {safe}{tried}") from exc
                    raise HTTPReadError(f"cannot reach {safe}: {reason}{tried}") from exc
            time.sleep(self._wait(attempt, retry_after))
            attempt += 1

    def _wait(self, attempt: int, retry_after: str | None) -> float:
        wait = self.backoff * 2 ** (attempt - 1)
        if retry_after:
            try:
                wait = float(retry_after)
            except ValueError:
                with contextlib.suppress(TypeError, ValueError):  # unreadable: keep the backoff
                    wait = email.utils.parsedate_to_datetime(retry_after).timestamp() - time.time()
        return min(max(wait, 0.0), self.max_retry_wait)


def _detect_format(response: _Response) -> str:
    content_type = (response.headers.get_content_type() or "").lower()
    if content_type in _CONTENT_TYPES:
        return _CONTENT_TYPES[content_type]
    if content_type.endswith("+json"):  # application/vnd.api+json and the like
        return "json"
    path = urlsplit(response.url).path.lower()
    for ext, fmt in _EXTENSIONS.items():
        if path.endswith(ext):
            return fmt
    raise HTTPReadError(
        f"cannot tell the format of {response.safe_url} (Content-Type {content_type!r}): "
        f"give format= one of {', '.join(FORMATS)}"
    )


def _frame(response: _Response, fmt: str, options: Mapping[str, Any]) -> pd.DataFrame:
    if not response.body.strip():  # an empty page, not a parse error
        return pd.DataFrame()
    if fmt == "csv":
        charset = response.headers.get_content_charset()
        if charset and "encoding" not in options:
            options = {**options, "encoding": charset}
        return read_csv(io.BytesIO(response.body), options)
    reader = read_jsonl if fmt == "jsonl" else read_parquet
    return reader(io.BytesIO(response.body), options)


def _json(response: _Response) -> Any:
    if not response.body.strip():
        return None
    try:
        return json.loads(response.body)
    except ValueError as exc:
        raise HTTPReadError(f"invalid JSON from {response.safe_url}: {exc}") from exc


def _records(doc: Any, record_path: str | None, response: _Response) -> list[Any]:
    if doc is None:  # an empty body or JSON null: no records
        return []
    for key in record_path.split(".") if record_path else ():
        if not isinstance(doc, dict) or key not in doc:
            raise HTTPReadError(f"record_path {record_path!r}: no {key!r} in the JSON from {response.safe_url}")
        doc = doc[key]
    if doc is None:
        return []
    return doc if isinstance(doc, list) else [doc]


def _next_url(response: _Response, doc: Any, next_link: str | None) -> str | None:
    """The next page's absolute URL from the body's ``next_link`` path, else the Link header."""
    if next_link:
        target = doc
        for key in next_link.split("."):
            target = target.get(key) if isinstance(target, dict) else None
        if isinstance(target, str) and target.strip():
            return urljoin(response.url, target.strip())
    for value in response.headers.get_all("Link") or ():
        for match in _LINK.finditer(value):
            rel = _REL.search(match.group(2))
            if rel and "next" in rel.group(1).lower().split():
                return urljoin(response.url, match.group(1).strip())
    return None


def _split_credentials(url: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The URL without user:password, which become a Basic Authorization header (unless one is given)."""
    parts = urlsplit(url)
    if parts.username is None:
        return url, headers
    if not any(name.lower() == "authorization" for name in headers):
        token = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        headers = {**headers, "Authorization": "Basic " + base64.b64encode(token).decode()}
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2])), headers


def _with_query(url: str, params: Mapping[str, Any]) -> str:
    if not params:
        return url
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    for key, value in params.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        query.extend((key, str(v)) for v in values)
    return urlunsplit(parts._replace(query=urlencode(query)))


def redact_url(url: str) -> str:
    """The URL as it may be shown: no user:password, secret-looking query values masked."""
    parts = urlsplit(url)
    query = [(k, "***" if _SECRET_PARAM.search(k) else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="*"), ""))

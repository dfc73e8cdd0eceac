"""Reader of an HTTP(S) URL returning CSV, JSON, JSON Lines or Parquet, with retries and pagination.

Options (everything else goes to the pandas parser, e.g. ``sep``, ``dtype``, ``encoding``):

- ``format``: ``csv``, ``json``, ``jsonl`` or ``parquet``; else taken from the Content-Type, else
  from the URL's extension.
- ``headers``, ``params`` (query parameters merged into the URL); credentials in the URL
  (``https://user:pw@host/...``) are sent as HTTP Basic auth. Credentials (``Authorization``,
  ``Cookie``, and any header whose name looks secret, such as ``X-API-Key``) go only to the
  first URL's scheme+host+port: a redirect or a next link elsewhere is requested without them.
- ``timeout`` (seconds the server may stay silent, default 30), ``retries`` (default 3) with
  exponential backoff from ``backoff`` seconds (default 0.5) on 429, 5xx, connection errors and
  timeouts; a ``Retry-After`` header is honoured, every wait capped at ``max_retry_wait`` (30).
  Requests go through ``requests`` with urllib3's ``Retry``; ``Link`` headers are parsed by requests.
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
import email.message
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit

import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError
from urllib3.util.retry import Retry

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
# Headers never sent to another origin (beside any whose name looks secret, as X-API-Key).
_CREDENTIAL_HEADERS = {"authorization", "proxy-authorization", "cookie"}


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
    headers: Mapping[str, str]  # case-insensitive

    def content_type(self) -> tuple[str, str | None]:
        """The media type (lower case) and its charset parameter, parsed by the email package."""
        header = self.headers.get("Content-Type")
        if not header:
            return "", None
        message = email.message.Message()
        message["Content-Type"] = header
        return message.get_content_type().lower(), message.get_content_charset()


def _sensitive(header: str) -> bool:
    """Headers that carry credentials: never sent to another origin."""
    return header.lower() in _CREDENTIAL_HEADERS or bool(_SECRET_PARAM.search(header))


class _Session(requests.Session):
    """A session whose redirects drop every credential header, not only ``Authorization``, when
    they leave the original scheme+host+port (requests' ``should_strip_auth`` decides)."""

    def rebuild_auth(self, prepared_request, response):
        if self.should_strip_auth(response.request.url, prepared_request.url):
            for name in [n for n in prepared_request.headers if _sensitive(n)]:
                del prepared_request.headers[name]
        super().rebuild_auth(prepared_request, response)


def _capped_retry(max_wait: float) -> type[Retry]:
    class CappedRetry(Retry):
        """urllib3's Retry with every server-requested wait (``Retry-After``) capped."""

        def get_retry_after(self, response):
            wait = super().get_retry_after(response)
            return None if wait is None else min(wait, max_wait)

    return CappedRetry


class _Client:
    """GETs with urllib3's ``Retry`` (exponential backoff on 429, 5xx, connection errors and
    timeouts, honouring ``Retry-After``) through a requests session."""

    def __init__(self, headers: dict[str, str], timeout: float, retries: int, backoff: float, max_retry_wait: float):
        self.headers = headers
        self.timeout = timeout
        self.retries = retries
        self.origin: str | None = None  # the first URL: credentials go only to its origin
        retry = _capped_retry(max_retry_wait)(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=[429, *range(500, 600)],
            backoff_factor=backoff,
            backoff_max=max_retry_wait,
            respect_retry_after_header=True,
            raise_on_status=False,  # the last response is reported with its status
        )
        self.session = _Session()
        adapter = HTTPAdapter(max_retries=retry)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        # Some APIs and CDNs turn away a client's default agent.
        self.session.headers["User-Agent"] = "tfi-data"

    def get(self, url: str) -> _Response:
        safe = redact_url(url)
        parts = urlsplit(url)
        # other schemes' errors would print the whole URL, secrets included
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {safe}")
        if self.origin is None:
            self.origin = url
        headers = self.headers
        if self.session.should_strip_auth(self.origin, url):  # a next link to another origin
            headers = {k: v for k, v in headers.items() if not _sensitive(k)}
        try:
            resp = self.session.get(url, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise self._failure(exc, safe) from exc
        attempts = len(resp.raw.retries.history) + 1 if resp.raw is not None and resp.raw.retries else 1
        tried = f" (after {attempts} attempts)" if attempts > 1 else ""
        if resp.status_code >= 400:
            raise HTTPReadError(f"HTTP {resp.status_code} {resp.reason} from {safe}{tried}")
        return _Response(resp.url, safe, resp.content, resp.headers)

    def _failure(self, exc: requests.RequestException, safe: str) -> HTTPReadError:
        """The error of a request that never got a response, without the URL's query (urllib3's
        messages include it)."""
        reason: BaseException = exc
        while isinstance(reason, (requests.RequestException, MaxRetryError)) and reason.args:
            inner = reason.args[0]
            inner = getattr(inner, "reason", inner) if isinstance(inner, MaxRetryError) else inner
            if not isinstance(inner, BaseException) or inner is reason:
                break
            reason = inner
        tried = f" (after {self.retries + 1} attempts)" if self.retries else ""
        if isinstance(exc, requests.Timeout) or isinstance(reason, (TimeoutError, ReadTimeoutError)):
            return HTTPReadError(f"timed out after {self.timeout:g} s waiting for {safe}{tried}")
        text = str(reason)
        if isinstance(reason, NewConnectionError):  # "<HTTPConnection object at 0x..>: Failed to ...: [Errno] .."
            text = text.rpartition(": ")[2] if "Errno" not in text else text[text.index("[Errno") :]
        return HTTPReadError(f"cannot reach {safe}: {text}{tried}")


def _detect_format(response: _Response) -> str:
    content_type = response.content_type()[0]
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
        charset = response.content_type()[1]
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
    for link in requests.utils.parse_header_links(response.headers.get("Link", "")):
        if "next" in str(link.get("rel", "")).lower().split() and link.get("url", "").strip():
            return urljoin(response.url, link["url"].strip())
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

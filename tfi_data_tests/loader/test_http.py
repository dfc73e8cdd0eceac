"""HTTP reader against a real local server: formats, options, retries, timeouts, pagination, fingerprints."""

from __future__ import annotations

import base64
import io
import json
import socket
import time

import pandas as pd
import pytest

from tfi_data import Source
from tfi_data.loader import GeneralLoader, LoadError
from tfi_data.loader.readers.http import HTTPReadError, read_http
from tfi_data_tests.loader.http_server import LocalServer, Reply, local_server

CSV = {"Content-Type": "text/csv"}
JSON = {"Content-Type": "application/json"}
FAST = {"backoff": 0.01}  # retries without slowing the suite


@pytest.fixture
def server():
    with local_server() as s:
        yield s


def json_reply(doc: object, **headers: str) -> Reply:
    return Reply(json.dumps(doc), headers={**JSON, **headers})


# --- formats ----------------------------------------------------------------------------------


def test_csv_by_content_type_with_standard_dtypes(server: LocalServer):
    url = server.serve("/export", Reply("id,n,name\n1,10,x\n2,,y\n", headers=CSV))
    df = read_http(url, {})
    assert df["n"].dtype == "Int64" and df["n"].isna().tolist() == [False, True]
    assert df["name"].tolist() == ["x", "y"] and df["name"].dtype == "string[pyarrow]"


def test_json_records_with_nested_objects_are_flattened(server: LocalServer):
    records = [{"id": 1, "geo": {"lat": 53.3, "city": {"name": "Dublin"}}}, {"id": 2, "geo": {"lat": None}}]
    url = server.serve("/stations", json_reply(records))
    df = read_http(url, {})
    assert list(df.columns) == ["id", "geo.lat", "geo.city.name"]
    assert df["id"].dtype == "Int64" and df["geo.lat"].dtype == "Float64"
    assert df["geo.city.name"].tolist()[0] == "Dublin" and pd.isna(df["geo.city.name"].tolist()[1])


def test_json_integers_next_to_nulls_stay_exact_integers(server: LocalServer):
    big = 2**60 + 1  # float64 would round it
    url = server.serve("/a", Reply(f'[{{"id": {big}, "n": 5}}, {{"id": 2, "n": null}}]', headers=JSON))
    df = read_http(url, {})
    assert df["id"].dtype == "Int64" and df["id"].tolist() == [big, 2]
    assert df["n"].dtype == "Int64" and df["n"].tolist()[0] == 5 and pd.isna(df["n"].tolist()[1])


def test_json_column_of_mixed_types_becomes_text(server: LocalServer):
    url = server.serve("/a", json_reply([{"code": 7}, {"code": "B7"}, {"code": True}, {"code": None}]))
    df = read_http(url, {})
    assert df["code"].dtype == "string[pyarrow]" and df["code"].tolist()[:3] == ["7", "B7", "true"]


def test_json_normalize_options_sep_and_max_level(server: LocalServer):
    url = server.serve("/a", json_reply([{"a": {"b": {"c": 1}}}]))
    assert list(read_http(url, {"sep": "_"}).columns) == ["a_b_c"]
    assert read_http(url, {"max_level": 1}).to_dict("records") == [{"a.b": {"c": 1}}]


def test_json_records_under_a_dotted_record_path(server: LocalServer):
    url = server.serve("/a", json_reply({"meta": {"n": 2}, "data": {"items": [{"id": 1}, {"id": 2}]}}))
    assert read_http(url, {"record_path": "data.items"})["id"].tolist() == [1, 2]
    with pytest.raises(HTTPReadError, match=r"record_path 'data.rows': no 'rows' in the JSON from http://"):
        read_http(url, {"record_path": "data.rows"})


def test_jsonl_by_content_type_and_parquet_by_extension(server: LocalServer):
    jsonl = server.serve(
        "/feed", Reply('{"id": 1, "v": "a"}\n{"id": 2, "v": null}\n', headers={"Content-Type": "application/x-ndjson"})
    )
    buf = io.BytesIO()
    pd.DataFrame({"id": [1, 2], "v": ["a", None]}).to_parquet(buf)
    parquet = server.serve("/dump.parquet", Reply(buf.getvalue(), headers={"Content-Type": "application/octet-stream"}))
    for url in (jsonl, parquet):
        df = read_http(url, {})
        assert df["id"].tolist() == [1, 2], url
        assert df["v"].isna().tolist() == [False, True], url


def test_format_option_beats_content_type_and_extension(server: LocalServer):
    url = server.serve("/data.csv", Reply('[{"id": 7}]', headers={"Content-Type": "text/plain"}))
    assert read_http(url, {"format": "json"})["id"].tolist() == [7]


def test_unknown_format_asks_for_the_format_option(server: LocalServer):
    url = server.serve("/blob", Reply("id\n1\n", headers={"Content-Type": "text/plain"}))
    with pytest.raises(HTTPReadError, match=r"cannot tell the format of http://.*/blob .*'text/plain'.*format="):
        read_http(url, {})


def test_remaining_options_pass_through_to_pandas(server: LocalServer):
    url = server.serve("/a.csv", Reply("code;v\n7;2,5\n-;1,0\n", headers=CSV))
    df = read_http(url, {"sep": ";", "decimal": ",", "na_values": ["-"]})
    assert df["code"].tolist()[0] == 7 and pd.isna(df["code"].tolist()[1]) and df["v"].tolist() == [2.5, 1.0]


def test_charset_from_content_type_decodes_csv(server: LocalServer):
    url = server.serve(
        "/a", Reply("name\nCorcaigh Ó\n".encode("latin-1"), headers={"Content-Type": "text/csv; charset=latin-1"})
    )
    assert read_http(url, {})["name"].tolist() == ["Corcaigh Ó"]


# --- request options ----------------------------------------------------------------------------


def test_headers_and_params_are_sent(server: LocalServer):
    url = server.serve("/a.csv", Reply("id\n1\n", headers=CSV))
    read_http(url + "?fixed=1&limit=5", {"headers": {"X-Token": "abc"}, "params": {"limit": 10, "day": "2024-05-01"}})
    seen = server.requests[-1]
    assert seen.headers["X-Token"] == "abc"
    assert seen.query == {"fixed": "1", "limit": "10", "day": "2024-05-01"}


def test_credentials_in_the_url_become_basic_auth_and_are_never_shown(server: LocalServer):
    server.serve("/private.csv", Reply("id\n1\n", headers=CSV))
    url = server.base.replace("http://", "http://ana:s3cr3t-pw@") + "/private.csv"
    assert read_http(url, {})["id"].tolist() == [1]
    assert server.requests[-1].headers["Authorization"] == "Basic " + base64.b64encode(b"ana:s3cr3t-pw").decode()
    missing = server.base.replace("http://", "http://ana:s3cr3t-pw@") + "/gone.csv"
    with pytest.raises(HTTPReadError) as exc:
        read_http(missing, {})
    assert "s3cr3t-pw" not in str(exc.value) and "ana" not in str(exc.value)


def test_errors_never_show_header_values_or_secret_query_values(server: LocalServer):
    url = server.url("/gone.csv")
    with pytest.raises(LoadError) as exc:
        GeneralLoader().load(
            Source.http("a", url, headers={"Authorization": "Bearer HEADER-SECRET"}, params={"api_key": "Q-SECRET"})
        )
    message = str(exc.value)
    assert "HEADER-SECRET" not in message and "Q-SECRET" not in message
    assert f"HTTP 404 Not Found from {url}?api_key=***" in message
    assert server.requests[-1].query == {"api_key": "Q-SECRET"}  # the real value was sent


# --- errors and retries -------------------------------------------------------------------------


def test_404_fails_at_once_naming_url_and_status(server: LocalServer):
    url = server.url("/x.csv")
    with pytest.raises(LoadError) as exc:
        GeneralLoader().load(Source.http("rides", url, **FAST))
    assert str(exc.value) == f"source 'rides' (http {url!r}): HTTP 404 Not Found from {url}"
    assert server.count("/x.csv") == 1  # a client error is not retried


def test_500_is_retried_then_fails_naming_url_and_status(server: LocalServer):
    url = server.serve("/boom.csv", Reply("oops", status=500))
    with pytest.raises(
        HTTPReadError, match=r"^HTTP 500 Internal Server Error from http://.*/boom.csv \(after 3 attempts\)$"
    ):
        read_http(url, {"retries": 2, **FAST})
    assert server.count("/boom.csv") == 3


def test_503_then_success_is_retried_with_backoff(server: LocalServer):
    url = server.serve("/a.csv", Reply(status=503), Reply(status=502), Reply("id\n1\n", headers=CSV))
    assert read_http(url, FAST)["id"].tolist() == [1]
    assert server.count("/a.csv") == 3


def test_429_honours_retry_after(server: LocalServer):
    url = server.serve("/a.csv", Reply(status=429, headers={"Retry-After": "1"}), Reply("id\n1\n", headers=CSV))
    started = time.monotonic()
    assert read_http(url, FAST)["id"].tolist() == [1]
    assert server.count("/a.csv") == 2
    assert time.monotonic() - started >= 0.9  # waited as told, not the 0.01 s backoff


def test_retry_after_is_capped(server: LocalServer):
    url = server.serve("/a.csv", Reply(status=429, headers={"Retry-After": "3600"}), Reply("id\n1\n", headers=CSV))
    started = time.monotonic()
    assert read_http(url, {"max_retry_wait": 0.2, **FAST})["id"].tolist() == [1]
    assert time.monotonic() - started < 5


def test_timeout_is_retried_then_fails(server: LocalServer):
    url = server.serve("/slow.csv", Reply("id\n1\n", headers=CSV, delay=30))
    started = time.monotonic()
    with pytest.raises(
        HTTPReadError, match=r"^timed out after 0.3 s waiting for http://.*/slow.csv \(after 2 attempts\)$"
    ):
        read_http(url, {"timeout": 0.3, "retries": 1, **FAST})
    assert time.monotonic() - started < 5
    assert server.count("/slow.csv") == 2


def test_unreachable_server_is_retried_then_fails():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/a.csv"
    with pytest.raises(HTTPReadError, match=rf"^cannot reach {url}: .*refused.* \(after 2 attempts\)$"):
        read_http(url, {"retries": 1, "timeout": 2, **FAST})


# --- pagination ---------------------------------------------------------------------------------


def test_next_link_in_the_body_relative_and_absolute(server: LocalServer):
    server.serve("/items", json_reply({"data": [{"id": 1}, {"id": 2}], "links": {"next": "/items2?cursor=b"}}))
    server.serve(
        "/items2",
        json_reply({"data": [{"id": 3}], "links": {"next": server.url("/items3")}}),
    )
    server.serve("/items3", json_reply({"data": [{"id": 4}], "links": {"next": None}}))
    df = read_http(server.url("/items"), {"record_path": "data", "next_link": "links.next"})
    assert df["id"].tolist() == [1, 2, 3, 4]
    assert [r.path for r in server.requests] == ["/items", "/items2", "/items3"]
    assert server.requests[1].query == {"cursor": "b"}


def test_link_header_is_followed(server: LocalServer):
    server.serve(
        "/p1", json_reply([{"id": 1}], Link=f'<{server.url("/p2")}>; rel="next", <{server.url("/p3")}>; rel="last"')
    )
    server.serve("/p2", json_reply([{"id": 2}], Link='</p3>; rel="next"'))
    server.serve("/p3", json_reply([{"id": 3}], Link='</p1>; rel="first"'))
    assert read_http(server.url("/p1"), {})["id"].tolist() == [1, 2, 3]


def test_link_header_pages_of_csv_are_concatenated(server: LocalServer):
    server.serve("/c1", Reply("id,v\n1,a\n", headers={**CSV, "Link": '</c2>; rel="next"'}))
    server.serve("/c2", Reply("id,v\n2,\n", headers=CSV))
    df = read_http(server.url("/c1"), {})
    assert df["id"].tolist() == [1, 2] and df["v"].isna().tolist() == [False, True]
    # The second page's v is all empty: the first page's text type wins, not object.
    assert df["id"].dtype == "Int64" and df["v"].dtype == "string[pyarrow]"


def test_page_numbers_until_an_empty_page(server: LocalServer):
    pages = {"1": [{"id": 1}, {"id": 2}], "2": [{"id": 3}]}
    url = server.serve_with("/rows", lambda q: json_reply({"rows": pages.get(q["page"], [])}))
    df = read_http(url, {"page_param": "page", "record_path": "rows", "params": {"size": 2}})
    assert df["id"].tolist() == [1, 2, 3]
    assert [r.query for r in server.requests] == [{"size": "2", "page": str(p)} for p in (1, 2, 3)]


def test_page_start(server: LocalServer):
    pages = {"0": [{"id": 1}], "1": [{"id": 2}]}
    url = server.serve_with("/rows", lambda q: json_reply(pages.get(q["p"], [])))
    assert read_http(url, {"page_param": "p", "page_start": 0})["id"].tolist() == [1, 2]


def test_max_pages_exceeded_raises(server: LocalServer):
    url = server.serve_with("/endless", lambda q: json_reply([{"id": int(q["page"])}]))
    with pytest.raises(HTTPReadError, match=r"more than max_pages=3 pages from http://"):
        read_http(url, {"page_param": "page", "max_pages": 3})
    assert server.count("/endless") == 4
    server.serve_with(
        "/chain", lambda q: json_reply([{"id": 1}], Link=f'</chain?n={int(q.get("n", 0)) + 1}>; rel="next"')
    )
    with pytest.raises(HTTPReadError, match=r"more than max_pages=5 pages"):
        read_http(server.url("/chain"), {"max_pages": 5})
    assert server.count("/chain") == 5


def test_a_next_link_back_to_a_read_page_is_an_error(server: LocalServer):
    server.serve("/a", json_reply([{"id": 1}], Link='</b>; rel="next"'))
    server.serve("/b", json_reply([{"id": 2}], Link='</a>; rel="next"'))
    with pytest.raises(HTTPReadError, match=r"pagination loops: http://.*/a was already read"):
        read_http(server.url("/a"), {})
    assert server.count("/a") == 1


# --- fingerprint --------------------------------------------------------------------------------


def test_fingerprint_records_etag_and_last_modified(server: LocalServer):
    modified = "Wed, 01 May 2024 06:00:00 GMT"
    url = server.serve("/a.csv", Reply("id\n1\n", headers={**CSV, "ETag": '"v42"', "Last-Modified": modified}))
    df = GeneralLoader().load(Source.http("a", url, params={"token": "T0P"}))
    assert df.attrs["fingerprint"] == {
        "etag": '"v42"',
        "last_modified": modified,
        "url": url + "?token=***",
        "pages": 1,
    }
    bare = server.serve("/b.csv", Reply("id\n1\n", headers=CSV))
    assert read_http(bare, {}).attrs["fingerprint"] == {"etag": None, "last_modified": None, "url": bare, "pages": 1}


def test_a_failed_source_never_shows_secrets_from_its_url(tmp_path):
    from tfi_data import Source
    from tfi_data.loader import GeneralLoader, LoadError

    src = Source.http("api", "http://user:hunter2@127.0.0.1:1/data.csv?api_key=s3cr3t&page=1", retries=0, timeout=2)
    with pytest.raises(LoadError) as exc:
        GeneralLoader(tmp_path).load(src)
    assert "hunter2" not in str(exc.value) and "s3cr3t" not in str(exc.value)
    assert "source 'api' (http" in str(exc.value)


# --- credentials never leave their origin -------------------------------------------------------

SECRETS = {"X-API-Key": "KEY-SECRET", "Cookie": "session=COOKIE-SECRET", "X-Trace": "not-a-secret"}


def _credentials_seen(seen) -> set[str]:
    return {h for h in ("Authorization", "X-API-Key", "Cookie") if h in seen.headers}


def test_a_redirect_to_another_origin_drops_credentials():
    with local_server() as a, local_server() as b:
        other = b.serve("/data.csv", Reply("id\n1\n", headers=CSV)).replace("127.0.0.1", "localhost")
        a.serve("/start.csv", Reply(status=302, headers={"Location": other}))
        a.serve("/same.csv", Reply(status=302, headers={"Location": "/data.csv"}))
        a.serve("/data.csv", Reply("id\n2\n", headers=CSV))
        with_user = a.base.replace("http://", "http://user:s3cret@")
        assert read_http(with_user + "/start.csv", {"headers": SECRETS})["id"].tolist() == [1]
        assert _credentials_seen(a.requests[-1]) == {"Authorization", "X-API-Key", "Cookie"}
        assert _credentials_seen(b.requests[-1]) == set()  # another host and port: nothing
        assert b.requests[-1].headers["X-Trace"] == "not-a-secret"
        assert read_http(with_user + "/same.csv", {"headers": SECRETS})["id"].tolist() == [2]
        # same origin: credentials kept (requests rebuilds Cookie from its jar on every redirect)
        assert _credentials_seen(a.requests[-1]) >= {"Authorization", "X-API-Key"}


def test_a_next_link_to_another_origin_gets_no_credentials():
    with local_server() as a, local_server() as b:
        b.serve("/p2", json_reply({"items": [{"id": 2}]}, Link=f'<{a.url("/p3")}>; rel="next"'))
        a.serve("/p3", json_reply({"items": [{"id": 3}]}))
        a.serve("/p1", json_reply({"items": [{"id": 1}], "next": b.url("/p2").replace("127.0.0.1", "localhost")}))
        url = a.base.replace("http://", "http://user:s3cret@") + "/p1"
        df = read_http(url, {"headers": SECRETS, "record_path": "items", "next_link": "next"})
        assert df["id"].tolist() == [1, 2, 3]
        assert _credentials_seen(b.requests[-1]) == set()
        assert _credentials_seen(a.requests[-1]) == {"Authorization", "X-API-Key", "Cookie"}  # back home


def test_link_header_with_several_rels_is_parsed_by_requests(server: LocalServer):
    server.serve("/b", json_reply([{"id": 2}]))
    server.serve("/a", json_reply([{"id": 1}], Link=f'<{server.url("/x")}>; rel="prev", </b>; rel="next last"'))
    assert read_http(server.url("/a"), {})["id"].tolist() == [1, 2]

"""A real HTTP server on 127.0.0.1 for reader tests: canned replies per path, every request recorded."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Reply:
    body: bytes | str = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to stay silent before answering


@dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


# A route answers with its replies in turn (the last one repeats), or computes one from the query.
Route = list[Reply] | Callable[[dict[str, str]], Reply]


class LocalServer:
    def __init__(self, httpd: ThreadingHTTPServer) -> None:
        self.httpd = httpd
        self.routes: dict[str, Route] = {}
        self.requests: list[Seen] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, path: str) -> str:
        return self.base + path

    def serve(self, path: str, *replies: Reply) -> str:
        self.routes[path] = list(replies)
        return self.url(path)

    def serve_with(self, path: str, reply: Callable[[dict[str, str]], Reply]) -> str:
        self.routes[path] = reply
        return self.url(path)

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path == path)

    def reply_to(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Reply:
        with self.lock:
            self.requests.append(Seen(path, query, headers))
            route = self.routes.get(path)
            if route is None:
                return Reply(b"no such path", status=404)
            if callable(route):
                return route(query)
            return route.pop(0) if len(route) > 1 else route[0]


def _handler(server: LocalServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            reply = server.reply_to(parts.path, dict(parse_qsl(parts.query)), dict(self.headers.items()))
            # Woken early when the server shuts down, so a slow reply never holds up a test.
            if reply.delay and server.stopping.wait(reply.delay):
                return
            body = reply.body.encode() if isinstance(reply.body, str) else reply.body
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    return Handler


@contextmanager
def local_server() -> Iterator[LocalServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    server = LocalServer(httpd)
    httpd.RequestHandlerClass = _handler(server)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)

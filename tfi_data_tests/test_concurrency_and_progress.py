"""In-process runs load their sources concurrently, and show progress only on a terminal."""

import os
import pty
import re
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tfi_data import Export, Pipeline, PipelineDetails, Source

DELAY = 1.0


class _Slow(BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(DELAY)
        body = b"id,v\n1,a\n2,b\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/csv")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _timed_ingest(url, names, sqlite_url, tmp_path):
    details = PipelineDetails(
        name=f"slow_{len(names)}",
        sources=[Source.http(n, f"{url}/{n}.csv") for n in names],
        transformer=lambda frames: frames[names[0]],
        exports=[Export(table=f"t{len(names)}", keys=["id"])],
        base_dir=tmp_path,
    )
    start = time.perf_counter()
    result = Pipeline(details, database_url=sqlite_url).ingest()
    assert result.success, result.error
    return time.perf_counter() - start


def test_two_slow_sources_take_about_the_time_of_one(slow_server, sqlite_url, tmp_path):
    one = _timed_ingest(slow_server, ["a"], sqlite_url, tmp_path)
    two = _timed_ingest(slow_server, ["a", "b"], sqlite_url, tmp_path)
    assert one >= DELAY
    assert two < one + DELAY / 2, (one, two)  # serial loading would take one + DELAY


def _run_in_terminal(args: list[str], cwd: Path) -> str:
    exe = str(Path(sys.executable).with_name("tfi-data"))
    leader, follower = pty.openpty()
    proc = subprocess.Popen([exe, *args], stdout=follower, stderr=follower, cwd=cwd, close_fds=True)
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # the terminal closes when the child exits
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.slow
def test_progress_shows_on_a_terminal_only(tmp_path, examples):
    shown = _run_in_terminal(["run", str(examples)], tmp_path)
    assert "stations: loaded stations: 5 rows in" in shown
    assert "ridership: loaded ridership: 12 rows in" in shown
    assert re.search(r"stations: loading stations \d+s, [\d.]+ of [\d.]+ MB \(\d+%\)", shown)  # bytes read
    quiet_json = _run_in_terminal(["run", str(examples), "--json"], tmp_path)
    assert "loaded" not in quiet_json and '"pipeline": "stations"' in quiet_json
    piped = subprocess.run(
        [str(Path(sys.executable).with_name("tfi-data")), "run", str(examples)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert piped.returncode == 0 and "loaded" not in piped.stdout + piped.stderr

"""Secrets never leak: a password in the database URL and HTTP credentials (in the URL and in a
header) appear in no output, cache file, Dagster event log or metadata, over succeeding and
failing runs recorded in a persistent Dagster instance."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

from sqlalchemy.engine import make_url

from ..conftest import REPO, run_cli
from ..loader.http_server import Reply, local_server

DB_SECRET = "S3cr3t-db-Pw9"
HTTP_SECRET = "S3cr3t-http-Pw7"
TOKEN = "tok-S3cr3t-4411"


def _leaks(root: Path, needles: list[str]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {n}" for n in needles if n.encode() in data]
    return found


def test_no_secret_in_outputs_cache_events_or_metadata(pg_url, tmp_path, figures):
    basic = base64.b64encode(f"tfi:{HTTP_SECRET}".encode()).decode()
    auth = f"://tfi:{HTTP_SECRET}@"
    needles = [DB_SECRET, HTTP_SECRET, TOKEN, basic]
    with local_server() as server:
        good = server.serve("/rows.csv", Reply("id,v\n1,a\n2,b\n", headers={"Content-Type": "text/csv"}))
        bad = server.serve("/broken.csv", Reply("boom", status=500))
        (tmp_path / "dl").mkdir()
        (tmp_path / "dl" / "pipes.py").write_text(
            "from tfi_data import Export, PipelineDetails, Source\n"
            f"H = {{'X-Api-Key': {TOKEN!r}}}\n"
            f"GOOD, BAD = {good.replace('://', auth)!r}, {bad.replace('://', auth)!r}\n"
            "good = PipelineDetails(name='good', sources=[Source.http('rows', GOOD, headers=H)],\n"
            "                      exports=[Export(table='good', keys=['id'])])\n"
            "bad = PipelineDetails(name='bad', sources=[Source.http('rows', BAD, headers=H, retries=0)],\n"
            "                     exports=[Export(table='bad', keys=['id'])])\n"
            "wrong = PipelineDetails(name='wrong', sources=[Source.csv('rows', 'rows.csv')],\n"
            "                        exports=[Export(table='good', schema='no_such_schema', keys=['id'])])\n"
        )
        (tmp_path / "dl" / "rows.csv").write_text("id\n1\n")
        home = tmp_path / "home"
        home.mkdir()
        shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
        database = make_url(pg_url).set(password=DB_SECRET).render_as_string(hide_password=False)
        env = {"DAGSTER_HOME": str(home), "TFI_DATABASE_URL": database, "TFI_CACHE_DIR": str(tmp_path / "cache")}
        outputs = []
        for args in (["--verbose", "--keep-cache"], ["--json", "--dry-run"]):
            out = run_cli("run", str(tmp_path / "dl"), *args, env=env, cwd=tmp_path)
            outputs.append(out)
            assert out.returncode == 1  # 'good' succeeds, 'bad' fails (and 'wrong', when it writes)
            assert "pipeline 'bad' failed: load_rows: LoadError: source 'rows'" in out.stderr
            assert ("pipeline 'wrong' failed" in out.stderr) is ("--dry-run" not in args)
        bad_url = make_url(pg_url).set(password=DB_SECRET, database="no_such_db").render_as_string(hide_password=False)
        unreachable = run_cli("run", str(tmp_path / "dl"), "--pipeline", "good", "--database", bad_url, cwd=tmp_path)
        outputs.append(unreachable)
        assert unreachable.returncode == 1 and "no_such_db" in unreachable.stderr
    assert server.count("/rows.csv") >= 2
    text = "\n".join(o.stdout + o.stderr for o in outputs)
    assert [n for n in needles if n in text] == []
    assert _leaks(home, needles) == []  # the instance: runs, event logs, metadata, compute logs
    assert list((tmp_path / "cache").rglob("*.parquet")) and _leaks(tmp_path / "cache", needles) == []
    assert list(home.rglob("*.db")), "the runs were not recorded in the instance"
    figures.append(
        f"secrets: {len(outputs)} runs (succeeding and failing), {len(needles)} secrets: none in stdout, stderr, "
        "the cache, the Dagster instance's event logs or metadata"
    )

"""tfi-data benchmark: the Exporter and `tfi-data run` against PostgreSQL's physical limits and dlt.

    python benchmarks/run.py --setup            # once: dlt's own virtualenv + the data files
    python benchmarks/run.py --rows 1000000     # the benchmark (default 1M rows)
    python benchmarks/run.py --quick            # 100k rows

Workloads (files from benchmarks/generate.py):
    W1  initial load of N rows into an empty table
    W2  W1's table -> W2 file: 1% updated, 1% inserted, 1% deleted
    W3  W1's table -> W1 file again (unchanged re-ingest: nothing may be written)

Every measurement runs on a freshly prepared table in a dedicated database, in its own process,
with a timeout. Results are printed as a table and written to benchmarks/results-<rows>.json.
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import generate
import psycopg
from psycopg import sql

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = generate.DATA_DIR
DLT_VENV = HERE / ".venv-dlt"
DLT_REQUIREMENTS = HERE / "requirements-dlt.txt"
TABLE = "bench"
DLT_DATASET = "bench_dlt"
COLUMNS = ("id", "name", "city", "note", "amount", "qty", "created_at", "active")
VALUE_COLUMNS = COLUMNS[1:]
# The table the baselines load into: the types tfi-data's Exporter creates for these dtypes.
DDL = (
    f"CREATE TABLE {TABLE} (id bigint PRIMARY KEY, name text, city text, note text, "
    "amount double precision, qty bigint, created_at timestamp, active boolean)"
)
MB = 1024 * 1024


class MeasureError(RuntimeError):
    """A measurement (or its preparation) failed; the message says how."""


def log(msg: str = "") -> None:
    print(msg, flush=True)


# -- subprocesses --------------------------------------------------------------------------------


@dataclass
class Proc:
    cmd: list[str]
    returncode: int | None
    seconds: float  # process start to exit
    peak_rss: int  # bytes: the child's ru_maxrss (the largest of it and its reaped descendants)
    stdout: str
    stderr: str
    timed_out: bool

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def describe_failure(self) -> str:
        if self.timed_out:
            return f"timed out after {self.seconds:.1f} s: {' '.join(self.cmd[:3])} ..."
        tail = (self.stderr.strip() or self.stdout.strip())[-1500:]
        return f"exit code {self.returncode}: {' '.join(self.cmd[:3])} ...\n{tail}"

    def json(self) -> Any:
        """The JSON the child printed: its whole stdout, or else its last line that parses."""
        text = self.stdout.strip()
        with contextlib.suppress(ValueError):
            return json.loads(text)
        for line in reversed(text.splitlines()):
            with contextlib.suppress(ValueError):
                return json.loads(line)
        raise MeasureError(f"no JSON in the output of {' '.join(self.cmd[:3])}: {text[-500:]!r}")


def run_process(cmd: list[str], *, timeout: float, cwd: Path | None = None, env: dict | None = None) -> Proc:
    """Run ``cmd`` in its own process group; kill the group after ``timeout`` seconds.

    ``os.wait4`` gives this child's own resource usage, so ``peak_rss`` belongs to this
    measurement alone (``RUSAGE_CHILDREN`` would be the maximum over every child so far).
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, cwd=cwd, env=env, start_new_session=True
        )
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.daemon = True
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: do not leave the child running
            kill()
            proc.wait()
            raise
        finally:
            timer.cancel()
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Proc(
            cmd=[str(c) for c in cmd],
            returncode=proc.returncode,
            seconds=seconds,
            peak_rss=usage.ru_maxrss * 1024,  # KiB on Linux
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            timed_out=timed_out.is_set(),
        )


# -- PostgreSQL ----------------------------------------------------------------------------------


class Postgres:
    """The benchmark database: admin SQL through psycopg, baselines through psql."""

    def __init__(self, host: str, port: int, user: str, dbname: str) -> None:
        self.host, self.port, self.user, self.dbname = host, port, user, dbname
        self.password = os.environ.get("PGPASSWORD")  # psql and psycopg read it from the environment too

    def url(self, driver: str = "postgresql+psycopg", *, password: str | None = None) -> str:
        secret = f":{password}" if password else ""
        return f"{driver}://{self.user}{secret}@{self.host}:{self.port}/{self.dbname}"

    def connect(self, dbname: str | None = None) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, dbname=dbname or self.dbname, autocommit=True
        )

    def execute(self, query: str | sql.Composable, params: tuple | None = None, *, dbname: str | None = None):
        """Run one statement on a new connection (so statistics are never a cached snapshot)."""
        with self.connect(dbname) as conn, conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall() if cur.description else None

    def scalar(self, query: str | sql.Composable, params: tuple | None = None) -> Any:
        rows = self.execute(query, params)
        return rows[0][0] if rows else None

    def psql(self, *args: str) -> list[str]:
        exe = shutil.which("psql") or "psql"
        conn = ["-h", self.host, "-p", str(self.port), "-U", self.user, "-d", self.dbname]
        return [exe, "-X", "-q", "-v", "ON_ERROR_STOP=1", *conn, *args]

    def recreate_database(self) -> None:
        """A fresh dedicated database (reused when another session holds it open)."""
        ident = sql.Identifier(self.dbname)
        try:
            self.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(ident), dbname="postgres")
        except psycopg.errors.ObjectInUse:
            log(f"note: database {self.dbname!r} is in use by another session; reusing it")
            return
        self.execute(sql.SQL("CREATE DATABASE {}").format(ident), dbname="postgres")

    def terminate_others(self) -> None:
        """End sessions left on the benchmark database (a killed client's backend keeps its locks)."""
        self.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (self.dbname,),
        )


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# -- the benchmark -------------------------------------------------------------------------------


@dataclass
class Spec:
    key: str
    workload: str
    label: str
    prepare: Callable[[], None]  # a fresh table in the state the measurement starts from
    run: Callable[[], dict[str, Any]]  # the timed part; returns at least "seconds"
    check: Callable[[dict[str, Any]], None] | None = None  # raises MeasureError when the outcome is wrong
    table: tuple[str, str] = ("public", TABLE)  # (schema, table) whose pg_stat_user_tables counters are reported


class Bench:
    def __init__(self, args: argparse.Namespace, pg: Postgres, manifest: generate.Manifest) -> None:
        self.args = args
        self.pg = pg
        self.m = manifest
        self.rows = manifest.rows
        self.w1 = Path(manifest.w1_path)
        self.w2 = Path(manifest.w2_path)
        self.k = manifest.expected_inserted
        self.timeout = args.timeout
        self.results: dict[str, dict[str, Any]] = {}
        self.refs: dict[str, str] = {}  # workload -> checksum of the table the baseline produced
        self.work = DATA / "work"
        self.dlt_python: Path | None = None
        self.dlt_skip_reason: str | None = None
        self._checkpoint_ok = True

    # -- table preparation -----------------------------------------------------------------------

    def drop_table(self) -> None:
        self.pg.execute(f"DROP TABLE IF EXISTS public.{TABLE}")

    def create_table(self) -> None:
        self.drop_table()
        self.pg.execute(DDL)

    def copy_cmd(self, csv: Path, table: str = TABLE) -> str:
        return f"\\copy {table} FROM {sql_literal(str(csv))} WITH (FORMAT csv, HEADER true)"

    def preload_w1(self) -> None:
        """A table holding W1 (loaded with COPY), vacuumed and analyzed, as every W2/W3 run starts from."""
        self.create_table()
        p = run_process(self.pg.psql("-c", self.copy_cmd(self.w1)), timeout=self.timeout)
        if not p.ok:
            raise MeasureError(f"preloading W1 failed: {p.describe_failure()}")
        self.pg.execute(f"VACUUM (ANALYZE) {TABLE}")

    def settle(self) -> None:
        """Flush dirty pages now rather than during the next measurement; let statistics arrive."""
        if self._checkpoint_ok:
            try:
                self.pg.execute("CHECKPOINT")
            except psycopg.Error as exc:
                self._checkpoint_ok = False
                log(f"note: CHECKPOINT refused ({exc}); continuing without it")
        time.sleep(self.args.settle)

    def stats(self, schema: str, table: str) -> tuple[int, int, int]:
        row = self.pg.execute(
            "SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables WHERE schemaname = %s AND relname = %s",
            (schema, table),
        )
        return tuple(row[0]) if row else (0, 0, 0)

    def count(self, qualified: str = f"public.{TABLE}") -> int:
        return int(self.pg.scalar(f"SELECT count(*) FROM {qualified}"))

    def checksum(self) -> str:
        """Order-independent digest of the table's values, each column in its SQL text form."""
        row = ", ".join(COLUMNS)
        value = self.pg.execute(
            f"SELECT count(*), coalesce(sum(hashtextextended(ROW({row})::text, 0)::numeric), 0) FROM public.{TABLE}"
        )[0]
        return f"{value[0]}:{value[1]}"

    def expect_content(self, rec: dict[str, Any], ref: str) -> None:
        """The table must hold exactly what the baseline produced for this workload."""
        if ref not in self.refs:
            rec.setdefault("notes", []).append(f"content not compared (no {ref} baseline in this run)")
            return
        got = self.checksum()
        if got != self.refs[ref]:
            raise MeasureError(f"table content differs from the {ref} baseline (checksum {got} != {self.refs[ref]})")
        rec["content_matches_baseline"] = True

    # -- runners ---------------------------------------------------------------------------------

    def _child(self, *args: str) -> dict[str, Any]:
        p = run_process([sys.executable, str(HERE / "bench_child.py"), *args], timeout=self.timeout, cwd=self.work)
        if not p.ok:
            raise MeasureError(p.describe_failure())
        out = p.json()
        out["process_seconds"] = round(p.seconds, 3)
        out["process_peak_rss"] = p.peak_rss  # includes the untimed CSV read
        out.setdefault("peak_rss", p.peak_rss)  # the child's own: the timed write's high-water mark
        return out

    def run_psql_copy(self) -> dict[str, Any]:
        p = run_process(self.pg.psql("-c", self.copy_cmd(self.w1)), timeout=self.timeout)
        if not p.ok:
            raise MeasureError(p.describe_failure())
        return {"seconds": round(p.seconds, 4), "process_seconds": round(p.seconds, 4)}

    def merge_script(self, csv: Path) -> Path:
        """The hand-written merge: COPY into a temp table, then UPDATE / INSERT / DELETE, one transaction."""
        values = ", ".join(VALUE_COLUMNS)
        script = "\n".join(
            [
                "BEGIN;",
                f"CREATE TEMP TABLE stage (LIKE {TABLE}) ON COMMIT DROP;",
                self.copy_cmd(csv, "stage"),
                "ANALYZE stage;",
                f"UPDATE {TABLE} AS t SET " + ", ".join(f"{c} = s.{c}" for c in VALUE_COLUMNS),
                "  FROM stage AS s WHERE t.id = s.id",
                "  AND ("
                + ", ".join(f"t.{c}" for c in VALUE_COLUMNS)
                + ") IS DISTINCT FROM ("
                + ", ".join(f"s.{c}" for c in VALUE_COLUMNS)
                + ");",
                f"INSERT INTO {TABLE} (id, {values}) SELECT s.id, "
                + ", ".join(f"s.{c}" for c in VALUE_COLUMNS)
                + f" FROM stage AS s WHERE NOT EXISTS (SELECT 1 FROM {TABLE} AS t WHERE t.id = s.id);",
                f"DELETE FROM {TABLE} AS t WHERE NOT EXISTS (SELECT 1 FROM stage AS s WHERE s.id = t.id);",
                "COMMIT;",
                "",
            ]
        )
        path = self.work / f"hand_merge_{csv.stem}.sql"
        path.write_text(script)
        return path

    def run_hand_merge(self, csv: Path) -> dict[str, Any]:
        p = run_process(self.pg.psql("-f", str(self.merge_script(csv))), timeout=self.timeout)
        if not p.ok:
            raise MeasureError(p.describe_failure())
        return {"seconds": round(p.seconds, 4), "process_seconds": round(p.seconds, 4)}

    def run_exporter(self, csv: Path, mode: str) -> dict[str, Any]:
        return self._child("exporter", "--csv", str(csv), "--url", self.pg.url(), "--mode", mode, "--table", TABLE)

    def run_to_sql(self) -> dict[str, Any]:
        return self._child("to_sql", "--csv", str(self.w1), "--url", self.pg.url(), "--table", TABLE)

    def dataloader(self, workload: str, csv: Path, mode: str) -> Path:
        """A generated dataloader module: CSV source -> identity transformer -> export."""
        path = DATA / "dataloaders" / f"bench_{workload.lower()}_{self.rows}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            f'"""Generated by benchmarks/run.py: {workload} CSV -> identity transform -> {mode} export."""\n\n'
            "from tfi_data import Export, PipelineDetails, Source\n\n\n"
            "def identity(frames):\n"
            '    return frames["bench"]\n\n\n'
            "details = PipelineDetails(\n"
            f'    name="bench_{workload.lower()}",\n'
            f'    sources=[Source.csv("bench", {str(csv)!r})],\n'
            "    transformer=identity,\n"
            f'    exports=[Export(table="{TABLE}", keys=["id"], mode="{mode}")],\n'
            ")\n"
        )
        return path

    def tfi_data_cmd(self) -> list[str]:
        exe = Path(sys.executable).parent / "tfi-data"
        if exe.exists():
            return [str(exe)]
        return [sys.executable, "-c", "import sys; from tfi_data.cli import main; sys.exit(main())"]

    def run_tfi(self, workload: str, csv: Path, mode: str) -> dict[str, Any]:
        module = self.dataloader(workload, csv, mode)
        cache = self.work / "tfi_cache"
        shutil.rmtree(cache, ignore_errors=True)
        cmd = [
            *self.tfi_data_cmd(),
            "run",
            str(module),
            "--database",
            self.pg.url(),
            "--json",
            "--cache-dir",
            str(cache),
        ]
        try:
            p = run_process(cmd, timeout=self.timeout, cwd=self.work)
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        if not p.ok:
            raise MeasureError(p.describe_failure())
        rows = p.json()
        if not isinstance(rows, list) or len(rows) != 1:
            raise MeasureError(f"tfi-data run printed {rows!r}; expected one export row")
        return {
            "seconds": round(p.seconds, 4),
            "process_seconds": round(p.seconds, 4),
            "peak_rss": p.peak_rss,
            "result": rows[0],
        }

    # dlt ---------------------------------------------------------------------------------------

    def reset_dlt(self) -> None:
        for schema in (DLT_DATASET, f"{DLT_DATASET}_staging"):
            self.pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        shutil.rmtree(self.work / "dlt_pipelines", ignore_errors=True)

    def run_dlt(self, csv: Path) -> dict[str, Any]:
        assert self.dlt_python is not None
        # dlt insists on a password; with trust authentication any will do.
        credentials = self.pg.url("postgresql", password=self.pg.password or "unused")
        cmd = [
            str(self.dlt_python),
            str(HERE / "dlt_child.py"),
            "--csv",
            str(csv),
            "--credentials",
            credentials,
            "--dataset",
            DLT_DATASET,
            "--table",
            TABLE,
            "--pipelines-dir",
            str(self.work / "dlt_pipelines"),
        ]
        env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", "RUNTIME__LOG_LEVEL": "WARNING"}
        p = run_process(cmd, timeout=self.timeout, cwd=self.work, env=env)
        if not p.ok:
            raise MeasureError(p.describe_failure())
        out = p.json()
        return {
            "seconds": round(p.seconds, 4),
            "process_seconds": round(p.seconds, 4),
            "peak_rss": p.peak_rss,
            "result": out,
        }

    def dlt_w1_state(self) -> None:
        """The state dlt's W2 starts from: dlt's own W1 load (untimed), vacuumed and analyzed."""
        self.reset_dlt()
        self.run_dlt(self.w1)
        self.pg.execute(f"VACUUM (ANALYZE) {DLT_DATASET}.{TABLE}")

    # -- checks ----------------------------------------------------------------------------------

    def check_count(self, expected: int, qualified: str = f"public.{TABLE}") -> None:
        got = self.count(qualified)
        if got != expected:
            raise MeasureError(f"{qualified} holds {got} rows; expected {expected}")

    def note_written(self, rec: dict[str, Any], minimal: tuple[int, int, int]) -> None:
        """Warn (not fail) when pg_stat counted other writes than the minimal change set: a baseline
        doing so means the counters arrived late (raise --settle); a writer, that it rewrote rows."""
        w = rec["rows_written"]
        got = (w["ins"], w["upd"], w["del"])
        if got != minimal:
            rec.setdefault("warnings", []).append(
                "pg_stat_user_tables counted ins/upd/del {}/{}/{}; the minimal change set is {}/{}/{}".format(
                    *got, *minimal
                )
            )

    def check_result(self, rec: dict[str, Any], **expected: int) -> None:
        result = rec.get("result") or {}
        wrong = {k: (result.get(k), v) for k, v in expected.items() if result.get(k) != v}
        if wrong:
            raise MeasureError(
                "reported counts differ: " + ", ".join(f"{k}={g} (expected {e})" for k, (g, e) in wrong.items())
            )

    # -- the measurements ------------------------------------------------------------------------

    def specs(self) -> list[Spec]:
        n, k = self.rows, self.k
        w1_minimal, w2_minimal, w3_minimal = (n, 0, 0), (k, k, k), (0, 0, 0)  # least a writer can do
        w1_counts = {"inserted": n, "updated": 0, "deleted": 0, "rows_in_table": n}
        w2_counts = {"inserted": k, "updated": k, "deleted": k, "unchanged": n - 2 * k, "rows_in_table": n}
        w3_counts = {"inserted": 0, "updated": 0, "deleted": 0, "unchanged": n, "rows_in_table": n}
        dlt_table = (DLT_DATASET, TABLE)

        def verify(ref: str, written: tuple[int, int, int], counts: dict | None = None, baseline: bool = False):
            """Row count, the counts the tool reported, and content equal to the baseline's (or become it)."""

            def check(rec: dict[str, Any]) -> None:
                self.note_written(rec, written)
                if baseline:
                    self.check_count(n)
                    self.refs[ref] = self.checksum()
                    return
                problems = []  # every check runs, so one report names all that is wrong
                for step in (
                    lambda: self.check_count(n),
                    lambda: self.check_result(rec, **(counts or {})),
                    lambda: self.expect_content(rec, ref),
                ):
                    try:
                        step()
                    except MeasureError as exc:
                        problems.append(str(exc))
                if problems:
                    raise MeasureError("; ".join(problems))

            return check

        def dlt_rows(expected: int) -> Callable[[dict[str, Any]], None]:
            return lambda rec: self.check_count(expected, f"{DLT_DATASET}.{TABLE}")

        return [
            # Baselines first: their tables are the reference content for the rest.
            Spec(
                key="psql_copy_w1",
                workload="W1",
                label="psql \\copy into a fresh table with a primary key",
                prepare=self.create_table,
                run=self.run_psql_copy,
                check=verify("W1", w1_minimal, baseline=True),
            ),
            Spec(
                key="hand_merge_w2",
                workload="W2",
                label="hand-written SQL merge (psql: \\copy to temp, UPDATE/INSERT/DELETE)",
                prepare=self.preload_w1,
                run=lambda: self.run_hand_merge(self.w2),
                check=verify("W2", w2_minimal, baseline=True),
            ),
            Spec(
                key="hand_merge_w3",
                workload="W3",
                label="hand-written SQL merge, unchanged data",
                prepare=self.preload_w1,
                run=lambda: self.run_hand_merge(self.w1),
                check=verify("W1", w3_minimal),
            ),
            Spec(
                key="to_sql_w1",
                workload="W1",
                label="pandas DataFrame.to_sql (executemany, chunks of 10k)",
                prepare=self.create_table,
                run=self.run_to_sql,
                check=verify("W1", w1_minimal),
            ),
            Spec(
                key="exporter_w1",
                workload="W1",
                label="tfi Exporter, merge into an empty table",
                prepare=self.create_table,
                run=lambda: self.run_exporter(self.w1, "merge"),
                check=verify("W1", w1_minimal, w1_counts),
            ),
            Spec(
                key="exporter_w2",
                workload="W2",
                label="tfi Exporter, sync",
                prepare=self.preload_w1,
                run=lambda: self.run_exporter(self.w2, "sync"),
                check=verify("W2", w2_minimal, w2_counts),
            ),
            Spec(
                key="exporter_w3",
                workload="W3",
                label="tfi Exporter, sync, unchanged data",
                prepare=self.preload_w1,
                run=lambda: self.run_exporter(self.w1, "sync"),
                check=verify("W1", w3_minimal, w3_counts),
            ),
            Spec(
                key="tfi_run_w1",
                workload="W1",
                label="tfi-data run, merge, table absent (process start to exit)",
                prepare=self.drop_table,
                run=lambda: self.run_tfi("W1", self.w1, "merge"),
                check=verify("W1", w1_minimal, w1_counts),
            ),
            Spec(
                key="tfi_run_w2",
                workload="W2",
                label="tfi-data run, sync (process start to exit)",
                prepare=self.preload_w1,
                run=lambda: self.run_tfi("W2", self.w2, "sync"),
                check=verify("W2", w2_minimal, w2_counts),
            ),
            Spec(
                key="dlt_w1",
                workload="W1",
                label="dlt merge, Arrow input, csv loader (process start to exit)",
                prepare=self.reset_dlt,
                run=lambda: self.run_dlt(self.w1),
                check=dlt_rows(n),
                table=dlt_table,
            ),
            # dlt's merge upserts: keys missing from the new data are not deleted, so W2 leaves n + k rows.
            Spec(
                key="dlt_w2",
                workload="W2",
                label="dlt merge (upserts; does not delete), process start to exit",
                prepare=self.dlt_w1_state,
                run=lambda: self.run_dlt(self.w2),
                check=dlt_rows(n + k),
                table=dlt_table,
            ),
        ]

    def measure(self, spec: Spec) -> dict[str, Any]:
        """Prepare, run and check ``spec`` ``--repeat`` times; keep the fastest correct run."""
        runs: list[dict[str, Any]] = []
        for _ in range(self.args.repeat):
            rec: dict[str, Any] = {"key": spec.key, "workload": spec.workload, "label": spec.label, "status": "ok"}
            try:
                spec.prepare()
                self.settle()
                before = self.stats(*spec.table)
                rec.update(spec.run())
                time.sleep(self.args.settle)  # a finished backend's counters reach pg_stat shortly after it exits
                after = self.stats(*spec.table)
                rec["rows_written"] = dict(zip(("ins", "upd", "del"), (a - b for a, b in zip(after, before))))
                if spec.check is not None:
                    spec.check(rec)
            except MeasureError as exc:
                rec["status"] = "timeout" if "timed out" in str(exc) else "failed"
                rec["error"] = str(exc)
            except Exception as exc:  # a bug or a database problem: report it, go on with the rest
                rec["status"] = "failed"
                rec["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
            if rec["status"] != "ok":
                with contextlib.suppress(Exception):
                    self.pg.terminate_others()
            runs.append(rec)
        good = [r for r in runs if r["status"] == "ok"]
        best = min(good, key=lambda r: r["seconds"]) if good else runs[-1]
        best["runs"] = [{k: r.get(k) for k in ("seconds", "status", "error")} for r in runs]
        self.results[spec.key] = best
        self._progress(best)
        return best

    def _progress(self, rec: dict[str, Any]) -> None:
        status = rec["status"].upper() if rec["status"] != "ok" else "ok"
        secs = f"{rec['seconds']:9.3f} s" if rec.get("seconds") is not None else " " * 11
        extra = ""
        if "rows_written" in rec:
            w = rec["rows_written"]
            extra = f"  written ins/upd/del {w['ins']}/{w['upd']}/{w['del']}"
        log(f"  [{status:^7}] {rec['workload']} {rec['key']:<14} {secs}{extra}")
        for note in [*rec.get("warnings", []), *rec.get("notes", [])]:
            log(f"            note: {note}")
        if rec.get("error"):
            log("            " + rec["error"].strip().replace("\n", "\n            "))

    def run(self, only: set[str] | None) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        for spec in self.specs():
            if only and spec.key not in only and not any(spec.key.startswith(o) for o in only):
                continue
            if spec.key.startswith("dlt_") and self.dlt_python is None:
                self.results[spec.key] = {
                    "key": spec.key,
                    "workload": spec.workload,
                    "label": spec.label,
                    "status": "skipped",
                    "error": self.dlt_skip_reason,
                }
                self._progress(self.results[spec.key])
                continue
            self.measure(spec)
        with contextlib.suppress(Exception):
            self.reset_dlt()
            self.drop_table()


# -- report --------------------------------------------------------------------------------------


def _secs(results: dict, key: str) -> float | None:
    rec = results.get(key)
    return rec.get("seconds") if rec and rec.get("status") == "ok" else None


def comparisons(results: dict) -> list[dict[str, Any]]:
    """Each figure against its baseline and its target. ratio = figure / baseline (lower is better),
    except the dlt rows, where speedup = dlt / tfi-data run (higher is better)."""
    out = []

    def ratio(name, key, base, target=None, kind="ratio"):
        a, b = _secs(results, key), _secs(results, base)
        if kind == "speedup":
            value = (b / a) if a and b else None
            passed = None if value is None or target is None else value >= target
        else:
            value = (a / b) if a and b else None
            passed = None if value is None or target is None else value <= target
        out.append(
            {
                "name": name,
                "measurement": key,
                "baseline": base,
                "kind": kind,
                "value": value,
                "target": target,
                "pass": passed,
                "seconds": a,
                "baseline_seconds": b,
            }
        )

    ratio("W1 Exporter vs psql \\copy", "exporter_w1", "psql_copy_w1", 1.3)
    ratio("W2 Exporter vs hand merge", "exporter_w2", "hand_merge_w2", 1.3)
    ratio("W3 Exporter vs hand merge", "exporter_w3", "hand_merge_w3", 1.0)
    ratio("W1 tfi-data run vs psql \\copy", "tfi_run_w1", "psql_copy_w1", 2.5)
    ratio("W2 tfi-data run vs hand merge", "tfi_run_w2", "hand_merge_w2")
    ratio("W1 pandas to_sql vs psql \\copy", "to_sql_w1", "psql_copy_w1")
    ratio("W1 dlt vs psql \\copy", "dlt_w1", "psql_copy_w1")
    ratio("W2 dlt vs hand merge", "dlt_w2", "hand_merge_w2")
    ratio("W1 tfi-data run faster than dlt", "tfi_run_w1", "dlt_w1", 4.0, kind="speedup")
    ratio("W2 tfi-data run faster than dlt", "tfi_run_w2", "dlt_w2", 4.0, kind="speedup")

    w3 = results.get("exporter_w3") or {}
    written = w3.get("rows_written")
    total = sum(written.values()) if written else None
    out.append(
        {
            "name": "W3 Exporter rows written (pg_stat ins+upd+del)",
            "measurement": "exporter_w3",
            "kind": "rows_written",
            "value": total,
            "target": 0,
            "pass": None if total is None else total == 0,
        }
    )

    def df_bytes(key: str, fallback: str) -> int | None:
        return (results.get(key) or {}).get("df_bytes") or (results.get(fallback) or {}).get("df_bytes")

    def memory(name: str, key: str, rss: int | None, df: int | None, target: float | None) -> None:
        ok = (results.get(key) or {}).get("status") == "ok"
        value = rss / df if ok and rss and df else None
        passed = None if value is None or target is None else value <= target
        out.append(
            {
                "name": name,
                "measurement": key,
                "kind": "memory",
                "value": value,
                "target": target,
                "pass": passed,
                "peak_rss": rss,
                "df_bytes": df,
            }
        )

    # A DataFrame-less process (tfi-data run) is compared with the exporter's DataFrame of the same file.
    for key, fallback, target in (
        ("exporter_w1", "exporter_w1", 3.0),
        ("exporter_w2", "exporter_w2", 3.0),
        ("exporter_w3", "exporter_w3", 3.0),
        ("to_sql_w1", "to_sql_w1", None),
        ("tfi_run_w1", "exporter_w1", None),
        ("tfi_run_w2", "exporter_w2", None),
    ):
        rec = results.get(key) or {}
        peak, imports, df = rec.get("peak_rss"), rec.get("rss_after_imports"), df_bytes(key, fallback)
        memory(f"{key} peak RSS / DataFrame", key, peak, df, target)
        if peak and imports:  # what the work itself added on top of the interpreter and its libraries
            memory(f"{key} (peak - RSS after imports) / DataFrame", key, peak - imports, df, None)
        loaded = rec.get("rss_after_load")
        if peak and loaded:  # what the write added on top of the loaded DataFrame
            memory(f"{key} (peak - RSS with data loaded) / DataFrame", key, peak - loaded, df, None)
    return out


def _fmt(v: float | None, spec: str = ".3f", suffix: str = "") -> str:
    return "-" if v is None else f"{v:{spec}}{suffix}"


def _mb(v: int | None) -> str:
    return _fmt(v / MB if v else None, ".0f", " MB")


def _verdict(c: dict[str, Any]) -> str:
    if c["target"] is None:
        return "info"
    return {True: "PASS", False: "FAIL", None: "n/a"}[c["pass"]]


def _comparison_cells(c: dict[str, Any]) -> tuple[str, str, str, str]:
    """(figure, baseline, value, target) as printed."""
    target = c["target"]
    if c["kind"] in ("ratio", "speedup"):
        op = ">=" if c["kind"] == "speedup" else "<="
        shown = "" if target is None else f"{op} {target:.1f}x"
        return (
            _fmt(c["seconds"], suffix=" s"),
            _fmt(c["baseline_seconds"], suffix=" s"),
            _fmt(c["value"], ".2f", "x"),
            shown,
        )
    if c["kind"] == "rows_written":
        return "", "", _fmt(c["value"], "d"), "= 0 rows"
    shown = "" if target is None else f"<= {target:.1f}x"
    return _mb(c["peak_rss"]), _mb(c["df_bytes"]), _fmt(c["value"], ".2f", "x"), shown


def print_report(results: dict, comps: list[dict], meta: dict) -> None:
    rule = "-" * 118
    log()
    log(
        f"tfi-data benchmark: {meta['rows']:,} rows; W1 {meta['w1_mb']:.1f} MB, W2 {meta['w2_mb']:.1f} MB CSV; "
        f"{meta['postgres']}; {meta['cpus']} CPUs"
    )
    log(rule)
    log(f"{'measurement':<15}{'W':<3}{'what':<69}{'seconds':>9}{'peak RSS':>9}  {'written i/u/d':>15}")
    log(rule)
    for key, rec in results.items():
        secs = _fmt(rec.get("seconds")) if rec["status"] == "ok" else rec["status"].upper()
        rss = _mb(rec.get("peak_rss")) if not key.startswith(("psql_", "hand_")) else ""  # psql's own RSS: moot
        w = rec.get("rows_written")
        written = f"{w['ins']}/{w['upd']}/{w['del']}" if w else ""
        log(f"{key:<15}{rec['workload']:<3}{rec['label'][:68]:<69}{secs:>9}{rss:>9}  {written:>15}")
    log(rule)
    log(f"{'comparison':<52}{'figure':>11}{'baseline':>11}{'value':>10}   {'target':<11}result")
    log(rule)
    for c in comps:
        figure, baseline, value, target = _comparison_cells(c)
        log(f"{c['name']:<52}{figure:>11}{baseline:>11}{value:>10}   {target:<11}{_verdict(c)}")
    log(rule)
    log("Time rows: value = figure / baseline (lower is better); 'faster than dlt': value = dlt s / tfi-data run s.")
    log(
        "Memory rows: figure = peak RSS (exporter/to_sql: of the timed write, the mark reset after the CSV was read;"
        " tfi-data run: the whole process), baseline = DataFrame memory_usage(deep=True).sum()."
    )
    log("written i/u/d = pg_stat_user_tables n_tup_ins/n_tup_upd/n_tup_del deltas on the target table.")
    failed = [r["key"] for r in results.values() if r["status"] in ("failed", "timeout")]
    if failed:
        log(f"{len(failed)} measurement(s) failed: {', '.join(failed)} (details above)")


# -- setup ---------------------------------------------------------------------------------------


def dlt_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def dlt_ready(venv: Path) -> str | None:
    """dlt's version when the virtualenv ``venv`` has a working dlt, else None."""
    py = dlt_python(venv)
    if not py.exists():
        return None
    p = run_process([str(py), "-c", "import dlt, pyarrow, psycopg2; print(dlt.__version__)"], timeout=120)
    return p.stdout.strip() if p.ok else None


def setup_dlt(venv: Path) -> tuple[bool, str]:
    """Create ``venv`` and install dlt[postgres] there (never into tfi-data's environment)."""
    version = dlt_ready(venv)
    if version:
        return True, f"dlt {version} ready in {venv}"
    log(f"setting up dlt in its own virtualenv {venv} (once) ...")
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(dlt_python(venv)), "-m", "pip", "install", "--quiet", "-r", str(DLT_REQUIREMENTS)],
    ]
    for cmd in steps:
        try:
            p = run_process(cmd, timeout=1800)
        except OSError as exc:
            return False, f"dlt could not be installed: {' '.join(cmd)}: {exc}"
        if not p.ok:
            return False, f"dlt could not be installed: {p.describe_failure()}"
    version = dlt_ready(venv)
    if not version:
        return False, f"dlt was installed in {venv} but does not import"
    return True, f"dlt {version} installed in {venv}"


# -- main ----------------------------------------------------------------------------------------


def metadata(pg: Postgres, m: generate.Manifest, args: argparse.Namespace) -> dict[str, Any]:
    def version(mod: str) -> str | None:
        try:
            return __import__(mod).__version__
        except Exception:
            return None

    def git(*a: str) -> str | None:
        p = run_process(["git", "--no-optional-locks", "-C", str(REPO), *a], timeout=30)
        return p.stdout.strip() if p.ok else None

    settings = dict(
        pg.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name IN "
            "('shared_buffers', 'work_mem', 'maintenance_work_mem', 'synchronous_commit', 'fsync', 'max_wal_size')"
        )
    )
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return {
        "rows": m.rows,
        "w1_mb": m.w1_bytes / 1e6,
        "w2_mb": m.w2_bytes / 1e6,
        "changes_per_kind": m.expected_inserted,
        "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "postgres": (pg.scalar("SELECT version()") or "").split(" on ")[0],
        "postgres_settings": settings,
        "database": pg.url().replace(pg.password or "\0", "***"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "versions": {mod: version(mod) for mod in ("pandas", "pyarrow", "numpy", "sqlalchemy", "psycopg")},
        "git_commit": git("rev-parse", "HEAD"),
        "git_dirty": bool(dirty),
        "repeat": args.repeat,
        "timeout_s": args.timeout,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    generate.add_size_args(p)
    p.add_argument("--setup", action="store_true", help="create dlt's virtualenv and the data files, then exit")
    p.add_argument("--host", default=os.environ.get("PGHOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PGPORT", "5432")))
    p.add_argument("--user", default=os.environ.get("PGUSER", "postgres"))
    p.add_argument(
        "--dbname", default="tfi_bench", help="dedicated database, dropped and recreated (default tfi_bench)"
    )
    p.add_argument("--timeout", type=float, help="seconds per subprocess (default: 600, or 1800 per million rows)")
    p.add_argument("--repeat", type=int, default=1, help="runs per measurement; the fastest correct one counts")
    p.add_argument("--settle", type=float, default=1.0, help="seconds to wait for pg_stat counters (default 1)")
    p.add_argument("--only", help="comma-separated measurement keys or prefixes, e.g. psql_copy,exporter")
    p.add_argument("--no-dlt", action="store_true", help="skip the dlt baseline")
    p.add_argument("--dlt-venv", type=Path, default=DLT_VENV, help="dlt's own virtualenv (default %(default)s)")
    p.add_argument("--output", type=Path, help="results JSON (default benchmarks/results-<rows>.json)")
    args = p.parse_args(argv)
    args.rows = generate.rows_from_args(args)
    if args.rows < 100:
        p.error("--rows must be at least 100")
    if args.timeout is None:
        args.timeout = max(600.0, 1800.0 * args.rows / 1_000_000)
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    pg = Postgres(args.host, args.port, args.user, args.dbname)

    if args.setup:
        ok, message = setup_dlt(args.dlt_venv)
        log(message if ok else f"WARNING: {message}\nThe benchmark will run without the dlt baseline.")
        m = generate.ensure(args.rows, log=log)
        log(f"data for {m.rows:,} rows ready: {m.w1_path}, {m.w2_path}")
        log("setup done")
        return 0

    manifest = generate.ensure(args.rows, log=log)
    try:
        pg.recreate_database()
    except psycopg.Error as exc:
        log(f"cannot reach PostgreSQL at {args.host}:{args.port} as {args.user}: {exc}")
        return 2
    meta = metadata(pg, manifest, args)
    bench = Bench(args, pg, manifest)
    if args.no_dlt:
        bench.dlt_skip_reason = "--no-dlt"
    else:
        ok, message = setup_dlt(args.dlt_venv)
        if ok:
            bench.dlt_python = dlt_python(args.dlt_venv)
            log(message)
        else:
            bench.dlt_skip_reason = message
            log(f"WARNING: dlt is not available, its measurements are skipped: {message}")
    log(f"benchmark: {args.rows:,} rows, database {pg.url()}, timeout {args.timeout:.0f} s per process")
    only = {o.strip() for o in args.only.split(",") if o.strip()} if args.only else None
    bench.run(only)

    results = bench.results
    comps = comparisons(results)
    dlt_out = (results.get("dlt_w1") or {}).get("result") or {}
    meta["versions"]["dlt"] = dlt_out.get("dlt_version")
    output = args.output or HERE / f"results-{args.rows}.json"
    output.write_text(json.dumps({"meta": meta, "measurements": results, "comparisons": comps}, indent=2) + "\n")
    print_report(results, comps, meta)
    log(f"results written to {output}")
    return 1 if any(r["status"] in ("failed", "timeout") for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

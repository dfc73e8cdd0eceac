"""The cache between ops, re-execution from failure, fingerprints, skipping, pruning."""

import decimal
import os
import time

import dagster as dg
import pandas as pd
import pytest

from tfi_data import Export, Pipeline, PipelineDetails, Source, cache
from tfi_data.orchestration import ParquetCacheIOManager

from ..conftest import run_cli, table_rows


def _roundtrip(base_path: str, df: pd.DataFrame) -> None:
    @dg.op
    def make() -> pd.DataFrame:
        return df

    @dg.op
    def check(frame: pd.DataFrame) -> None:
        pd.testing.assert_frame_equal(frame, df)

    @dg.job(resource_defs={"io_manager": ParquetCacheIOManager(base_path=base_path)})
    def roundtrip():
        check(make())

    assert roundtrip.execute_in_process().success


TYPED = pd.DataFrame(
    {
        "i": pd.array([1, None], dtype="Int64"),
        "c": pd.Categorical(["a", "b"]),
        "tz": pd.to_datetime(["2026-01-01", "2026-01-02"]).tz_localize("Europe/Dublin"),
        "s": pd.array(["x", None], dtype="string[pyarrow]"),
        "p": pd.array(["x", None], dtype="string[python]"),
        "d": [decimal.Decimal("1.10"), None],
        "b": pd.array([True, None], dtype="boolean"),
    }
)


def test_dtypes_survive_the_cache_on_disk(tmp_path):
    _roundtrip(str(tmp_path / "cache"), TYPED)
    assert list((tmp_path / "cache").rglob("*.parquet"))


def test_the_cache_can_live_on_an_fsspec_filesystem():
    _roundtrip("memory://tfi-test-cache", TYPED)
    assert cache.location("memory://tfi-test-cache").exists()


def test_an_unstorable_column_is_named(tmp_path, sqlite_url):
    (tmp_path / "a.csv").write_text("id\n1\n2\n")
    details = PipelineDetails(
        name="mixed",
        sources=[Source.csv("a", "a.csv")],
        transformer=lambda f: f["a"].assign(v=[1, "one"]),
        exports=[Export(table="t", keys=["id"])],
        base_dir=tmp_path,
    )
    result = Pipeline(details, database_url=sqlite_url).ingest()
    assert not result.success
    assert "output 'frame_t' of step 'transform': column(s) 'v' (int, str) cannot be stored as Parquet" in (
        result.error
    )


def _dataloader(tmp_path, body: str):
    (tmp_path / "dl").mkdir(exist_ok=True)
    (tmp_path / "dl" / "pipe.py").write_text(
        "from pathlib import Path\nfrom tfi_data import Export, PipelineDetails, Source\n" + body
    )
    return tmp_path / "dl"


def test_reexecution_from_failure_reuses_cached_loads(tmp_path, sqlite_url):
    """The transform fails; the source then disappears. Re-executed from failure, the run still
    succeeds: the load is not run again, its cached output is read instead."""
    dl = _dataloader(
        tmp_path,
        "HERE = Path(__file__).parent\n"
        "def tidy(frames):\n"
        "    if (HERE / 'broken').exists():\n"
        "        raise RuntimeError('transformer bug')\n"
        "    return frames['src']\n"
        "details = PipelineDetails(name='rx', sources=[Source.csv('src', 'src.csv')], transformer=tidy,\n"
        "                          exports=[Export(table='rx', keys=['id'])])\n",
    )
    (dl / "src.csv").write_text("id,v\n1,a\n2,b\n")
    (dl / "broken").touch()
    job = dg.build_reconstructable_job(
        "tfi_data.orchestration.definitions",
        "job_from_dataloaders",
        reconstructable_args=(str(dl), "rx", sqlite_url, str(tmp_path / "cache")),
    )
    (tmp_path / "home").mkdir()
    with dg.DagsterInstance.local_temp(str(tmp_path / "home")) as instance:
        first = dg.execute_job(job, instance=instance)
        assert not first.success
        (dl / "broken").unlink()
        (dl / "src.csv").unlink()
        options = dg.ReexecutionOptions.from_failure(first.run_id, instance)
        second = dg.execute_job(job, instance=instance, reexecution_options=options)
        assert second.success
        ran = {e.step_key for e in second.all_events if e.is_step_success}
    assert "rx__pipeline.load_src" not in ran and {"rx__pipeline.transform", "rx__pipeline.export_rx"} <= ran
    assert table_rows(sqlite_url, "rx", "id") == [(1, "a"), (2, "b")]


def _skippable(tmp_path):
    (tmp_path / "a.csv").write_text("id,v\n1,a\n")
    return PipelineDetails(
        name="skippy",
        sources=[Source.csv("a", "a.csv")],
        exports=[Export(table="t", keys=["id"])],
        skip_unchanged=True,
        base_dir=tmp_path,
    )


def test_skip_unchanged_skips_only_when_every_file_is_the_same(tmp_path, sqlite_url):
    details = _skippable(tmp_path)
    pipe = Pipeline(details, database_url=sqlite_url, cache_dir=str(tmp_path / "cache"))
    first = pipe.ingest()
    assert first.success and not first.skipped and first.exports[0].inserted == 1
    second = pipe.ingest()
    assert second.success and second.skipped and second.exports == []
    (tmp_path / "a.csv").write_text("id,v\n1,a\n2,b\n")
    third = pipe.ingest()
    assert not third.skipped and third.exports[0].inserted == 1
    os.utime(tmp_path / "a.csv", (time.time() + 100, time.time() + 100))  # touched, same bytes
    assert pipe.ingest().skipped


def test_a_failed_run_does_not_count_as_the_last_success(tmp_path, sqlite_url):
    details = _skippable(tmp_path)
    pipe = Pipeline(details, database_url=sqlite_url, cache_dir=str(tmp_path / "cache"))
    engine_url = sqlite_url
    import sqlalchemy as sa

    engine = sa.create_engine(engine_url)
    with engine.begin() as conn:  # the export will fail: the key column is missing here
        conn.execute(sa.text("CREATE TABLE t (other INTEGER PRIMARY KEY, id TEXT NOT NULL, v INTEGER)"))
    engine.dispose()
    assert not pipe.ingest().success
    rerun = pipe.ingest()
    assert not rerun.skipped  # the failed run's sources were not remembered


def test_loads_record_a_fingerprint_of_what_they_read(tmp_path, sqlite_url):
    details = _skippable(tmp_path)
    result = Pipeline(details, database_url=sqlite_url, cache_dir=str(tmp_path / "c")).build_job().execute_in_process()
    (obs,) = result.asset_observations_for_node("skippy__pipeline.load_a")
    (file,) = obs.metadata["fingerprint"].value["files"]
    assert file["size"] == len("id,v\n1,a\n") and len(file["sha256"]) == 64
    assert file["path"].endswith("a.csv")


def test_cache_prune_removes_old_runs_only(tmp_path):
    base = tmp_path / "cache"
    for run, age_days in (("old", 10), ("new", 1)):
        f = base / run / "load_a" / "result.parquet"
        f.parent.mkdir(parents=True)
        f.write_bytes(b"x" * 1000)
        stamp = time.time() - age_days * 86400
        os.utime(f, (stamp, stamp))
    (base / "fingerprints").mkdir()
    (base / "fingerprints" / "p.json").write_text("{}")
    out = run_cli("cache", "prune", "--older-than", "7d", "--cache-dir", str(base))
    assert out.returncode == 0, out.stderr
    assert "removed 1 cached run(s)" in out.stdout
    assert sorted(p.name for p in base.iterdir()) == ["fingerprints", "new"]
    bad = run_cli("cache", "prune", "--older-than", "soon", "--cache-dir", str(base))
    assert bad.returncode == 2 and "expected a number and a unit" in bad.stderr


@pytest.mark.parametrize(("text", "seconds"), [("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800)])
def test_durations(text, seconds):
    assert cache.parse_duration(text) == seconds

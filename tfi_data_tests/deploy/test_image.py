"""The image: small, non-root, health-checked; runs `tfi-data run` and `dagster job execute` on a
mounted dataloaders directory against the host's PostgreSQL; rebuilds a code change fast."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tfi_data_tests.conftest import REPO, table_rows
from tfi_data_tests.deploy.conftest import BuiltImage, env_args, pg_env, sh

pytestmark = [pytest.mark.container, pytest.mark.slow]

MAX_IMAGE_BYTES = 600_000_000


def podman_run(image: BuiltImage, *command: str, env: dict[str, str] | None = None, mounts=(), timeout=300):
    args = ["podman", "run", "--rm", "--network", "host", *env_args(env or {})]
    for source, target in mounts:
        args += ["-v", f"{source}:{target}:ro"]
    return sh(*args, image.name, *command, timeout=timeout)


def test_image_is_small_non_root_health_checked_with_volumes(image: BuiltImage) -> None:
    meta = image.inspect()
    config = meta["Config"]
    assert meta["Size"] <= MAX_IMAGE_BYTES, f"image is {meta['Size'] / 1e6:.0f} MB"
    assert config["User"] == "tfi"
    healthcheck = meta.get("Healthcheck") or config.get("Healthcheck")  # podman: top level; docker: Config
    assert healthcheck["Test"] == ["CMD", "dagster", "api", "grpc-health-check", "-p", "4000"]
    assert set(config["Volumes"]) == {"/opt/dagster/cache", "/var/lib/tfi-data", "/opt/dagster/home/storage"}
    assert config["Cmd"][:3] == ["dagster", "code-server", "start"]

    # Non-root, the package installed once (no source tree shadowing it), writable state
    # directories, the deployment instance config, the init template inside the wheel.
    script = (
        "set -e; id -u; python -c 'import tfi_data; print(tfi_data.__file__)'; "
        "test ! -e /opt/tfi-data && test ! -e /src && test ! -e /tmp/wheels; "
        "touch $DAGSTER_HOME/storage/w $TFI_CACHE_DIR/w /var/lib/tfi-data/w; "
        "grep -q DAGSTER_PG_HOST $DAGSTER_HOME/dagster.yaml; "
        "tfi-data init /tmp/repo >/dev/null && test -f /tmp/repo/tests/test_dataloaders.py && echo init-ok"
    )
    done = podman_run(image, "sh", "-c", script)
    assert done.returncode == 0, done.stderr
    uid, module, init = done.stdout.split()
    assert uid != "0"
    assert module == "/opt/venv/lib/python3.11/site-packages/tfi_data/__init__.py"
    assert init == "init-ok"


def test_tfi_data_run_on_mounted_dataloaders_against_postgres(
    image: BuiltImage, pg_url: str, mounted_examples: Path
) -> None:
    done = podman_run(
        image,
        *("tfi-data", "run", "/opt/dataloaders", "--json"),
        env={"TFI_DATABASE_URL": pg_url},
        mounts=[(mounted_examples, "/opt/dataloaders")],
    )
    assert done.returncode == 0, done.stderr
    summary = {row["table"]: row for row in json.loads(done.stdout)}
    assert summary["ridership"]["inserted"] == 12 and summary["stations"]["inserted"] == 5
    assert len(table_rows(pg_url, "ridership", "day, route")) == 12
    assert [r[0] for r in table_rows(pg_url, "stations", "station_id")][:2] == [101, 102]


def test_dagster_job_execute_stores_the_run_in_postgres(image: BuiltImage, pg_url: str, mounted_examples: Path) -> None:
    done = podman_run(
        image,
        *("dagster", "job", "execute", "-m", "tfi_data.definitions", "-j", "stations"),
        env={"TFI_DATABASE_URL": pg_url, **pg_env(pg_url)},
        mounts=[(mounted_examples, "/opt/dataloaders")],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(table_rows(pg_url, "stations", "station_id")) == 5
    # The instance is the deployment one: the run is recorded in PostgreSQL (dagster-postgres).
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            runs = conn.execute(sa.text("SELECT pipeline_name, status FROM runs")).all()
    finally:
        engine.dispose()
    assert [tuple(r) for r in runs] == [("stations", "SUCCESS")]


def test_dagster_without_postgres_settings_fails_short_and_clear(image: BuiltImage, mounted_examples: Path) -> None:
    done = podman_run(image, "dagster", "job", "execute", "-m", "tfi_data.definitions", "-j", "stations")
    assert done.returncode == 64
    assert "Traceback" not in done.stderr
    message = [line for line in done.stderr.splitlines() if line.startswith("tfi-data image:")]
    assert len(message) == 2, done.stderr
    for var in ("DAGSTER_PG_USERNAME", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB"):
        assert var in message[0]
    assert "DAGSTER_HOME=/opt/dagster/local" in message[1]

    # The documented fallback for a one-off run: a throwaway SQLite instance in the container.
    done = podman_run(
        image,
        *("sh", "-c", "dagster job execute -m tfi_data.definitions -j stations && ls /opt/dagster/local"),
        env={"DAGSTER_HOME": "/opt/dagster/local"},
        mounts=[(mounted_examples, "/opt/dataloaders")],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "RUN_SUCCESS" in done.stderr
    assert "storage" in done.stdout.split()


def test_a_code_only_change_rebuilds_from_cached_dependencies_fast(image: BuiltImage, tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "setup.cfg", "README.md", "dagster.yaml"):
        shutil.copy(REPO / name, context / name)
    for tree in ("tfi_data", "examples/dataloaders", "deploy"):
        shutil.copytree(REPO / tree, context / tree, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    with (context / "tfi_data" / "settings.py").open("a") as f:
        f.write(f"\n# code-only change {time.time()}\n")
    tag = f"{image.name}-rebuild"
    started = time.monotonic()
    done = sh("podman", "build", "--format", "docker", "-t", tag, str(context), timeout=600)
    seconds = time.monotonic() - started
    try:
        assert done.returncode == 0, done.stderr[-3000:]
        log = done.stdout
        install = log.index("RUN /opt/venv/bin/pip install --quiet -r /tmp/constraints.txt")
        assert log[install:].splitlines()[1].startswith("--> Using cache"), "the dependency layer was rebuilt"
        assert seconds < 30, f"a code-only change took {seconds:.1f} s to rebuild"
        print(f"\ncode-only rebuild: {seconds:.1f} s")
        marker = sh(
            "podman",
            "run",
            "--rm",
            tag,
            "grep",
            "-c",
            "code-only change",
            "/opt/venv/lib/python3.11/site-packages/tfi_data/settings.py",
        )
        assert marker.stdout.strip() == "1"
    finally:
        sh("podman", "rmi", "-f", tag)

"""Fixtures for the container tests: real podman, the project's Dockerfile and compose file.

The image is built once per session (tag ``localhost/tfi-data:test-<checkout hash>``, kept
afterwards so the next session reuses its layers). Without podman these tests skip locally and
FAIL in CI (``CI=true``):
``bash ../shared/containers/setup.sh`` installs podman, podman-compose and the base image.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tfi_data_tests.conftest import EXAMPLES, REPO

# One tag per checkout: worktrees on one machine do not retag each other's image.
IMAGE = f"localhost/tfi-data:test-{hashlib.sha1(str(REPO).encode()).hexdigest()[:8]}"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def require_tool(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} not found: run `bash ../shared/containers/setup.sh` (installs podman and podman-compose)"
        if in_ci():
            pytest.fail(f"{message}; container tests must run in CI (CI=true)")
        pytest.skip(f"{message}; container tests skipped")
    return path


def sh(*args: str, timeout: float = 300, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        list(args), capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}, **kwargs
    )


@dataclass(frozen=True)
class BuiltImage:
    name: str
    seconds: float
    log: str

    def inspect(self) -> dict:
        return json.loads(sh("podman", "image", "inspect", self.name).stdout)[0]


@pytest.fixture(scope="session")
def podman() -> str:
    path = require_tool("podman")
    info = sh(path, "info", "--format", "{{.Host.OCIRuntime.Name}}", timeout=60)
    if info.returncode != 0:
        pytest.fail(f"podman is installed but does not work: {info.stderr.strip()}")
    return path


@pytest.fixture(scope="session")
def image(podman: str) -> BuiltImage:
    """The project's image, built from this checkout (docker format: keeps the HEALTHCHECK)."""
    started = time.monotonic()
    done = sh(podman, "build", "--format", "docker", "-t", IMAGE, str(REPO), timeout=900)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        pytest.fail(f"podman build failed ({seconds:.0f} s):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    print(f"\nimage {IMAGE} built in {seconds:.1f} s")
    return BuiltImage(IMAGE, seconds, done.stdout + done.stderr)


def shared_dir(prefix: str) -> Path:
    """A directory the image's non-root user can read (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def open_up(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)


@pytest.fixture
def mounted_examples() -> Iterator[Path]:
    """A world-readable copy of the bundled example dataloaders, to mount into containers."""
    root = shared_dir("tfi-deploy-examples-")
    target = root / "dataloaders"
    shutil.copytree(EXAMPLES, target, ignore=shutil.ignore_patterns("__pycache__"))
    open_up(root)
    yield target
    shutil.rmtree(root, ignore_errors=True)


def pg_env(url: str) -> dict[str, str]:
    """DAGSTER_PG_* for a test database URL (the host's PostgreSQL, reached with --network host)."""
    u = make_url(url)
    return {
        "DAGSTER_PG_USERNAME": u.username or "postgres",
        "DAGSTER_PG_PASSWORD": u.password or "",
        "DAGSTER_PG_HOST": u.host or "127.0.0.1",
        "DAGSTER_PG_PORT": str(u.port or 5432),
        "DAGSTER_PG_DB": u.database,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_args(env: dict[str, str]) -> list[str]:
    return [arg for name, value in sorted(env.items()) for arg in ("-e", f"{name}={value}")]

"""deploy/constraints.txt pins every runtime dependency at a version pyproject.toml allows, and
pyproject.toml bounds every dependency from above (the image installs exactly the pins)."""

from __future__ import annotations

import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tfi_data_tests.conftest import REPO


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "deploy" / "constraints.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def _dependencies() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]]


def test_every_dependency_is_pinned_within_its_range() -> None:
    pins = _pins()
    for requirement in _dependencies():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{requirement.name} is not in deploy/constraints.txt: run deploy/lock.py"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"deploy/constraints.txt pins {name}=={pins[name]}, outside {requirement}: run deploy/lock.py"
        )
    assert "tfi-data" not in pins


def test_every_dependency_has_an_upper_bound() -> None:
    unbounded = [str(r) for r in _dependencies() if not any(s.operator in ("<", "<=", "==", "~=") for s in r.specifier)]
    assert unbounded == []

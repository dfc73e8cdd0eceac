"""The fault suite: kill -9 during exports, a database that goes away, concurrent runs, secrets.
Marked ``faults`` (deselect locally with ``-m 'not faults'``); ``--soak`` runs 100 kill trials per
database instead of 20. Each test adds its figures to ``FIGURES``, printed at the end of the run."""

from __future__ import annotations

import pytest

FIGURES: list[str] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/faults/" in str(item.path):
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def trials(request: pytest.FixtureRequest) -> int:
    return 100 if request.config.getoption("--soak") else 20


@pytest.fixture
def figures() -> list[str]:
    return FIGURES

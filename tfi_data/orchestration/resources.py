"""Dagster resources. Database URLs come from the environment (EnvVar) and are never logged."""

from __future__ import annotations

import dagster as dg

from tfi_data import settings
from tfi_data.export import Exporter, make_engine


class DatabaseResource(dg.ConfigurableResource):
    """The database exports write into. ``url`` is a SQLAlchemy URL."""

    url: str = settings.DEFAULT_DATABASE_URL

    def exporter(self) -> Exporter:
        return Exporter(make_engine(self.url))


def database_from_env() -> DatabaseResource:
    """Bind to ``TFI_DATABASE_URL`` through EnvVar, so the URL never shows in the UI's config."""
    if settings.env(settings.DATABASE_URL_VAR):
        return DatabaseResource(url=dg.EnvVar(settings.DATABASE_URL_VAR))
    return DatabaseResource(url=settings.DEFAULT_DATABASE_URL)

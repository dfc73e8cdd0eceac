#!/usr/bin/env python3
"""Run every dataloader of this repository (or one: --pipeline NAME) with tfi-data's Pipeline
class and print what each export changed. Exit code: 0 all succeeded, 1 a pipeline failed.

    python run.py                                  # into $TFI_DATABASE_URL, else ./tfi_data.sqlite
    python run.py --database postgresql+psycopg://user@host/db --pipeline trips

In the tfi-data compose stack the `run` service does the same for the mounted directory
(`tfi-data run /opt/dataloaders`); see README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tfi_data import Pipeline
from tfi_data.discovery import discover

DATALOADERS = Path(__file__).resolve().parent / "dataloaders"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", help="run only this pipeline")
    parser.add_argument("--database", help="SQLAlchemy URL (default: $TFI_DATABASE_URL or sqlite:///tfi_data.sqlite)")
    parser.add_argument("--dry-run", action="store_true", help="plan every export: print the counts, write nothing")
    args = parser.parse_args(argv)

    pipelines = [d for d in discover(DATALOADERS) if args.pipeline in (None, d.name)]
    if not pipelines:
        print(f"run.py: no pipeline {args.pipeline!r} in {DATALOADERS}", file=sys.stderr)
        return 1
    failed = 0
    for details in pipelines:
        result = Pipeline(details, database_url=args.database).ingest(dry_run=args.dry_run)
        if not result.success:
            failed += 1
            print(f"{details.name}: FAILED: {result.error}", file=sys.stderr)
            continue
        for row in result.rows():
            print(
                f"{row['pipeline']} -> {row['table']}: +{row['inserted']} ~{row['updated']} -{row['deleted']}"
                f" ={row['unchanged']} ({row['rows_in_table']} rows)"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Runs at once, as separate processes: four runs of one pipeline into one table, and four
pipelines into their own tables, on every database. Each table ends exact, and the runs of the
one table agree: one inserted the rows, the others found them unchanged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..conftest import table_rows

ROWS = 5_000
DATALOADER = """
import pandas as pd
from tfi_data import Export, PipelineDetails, Source

def shape(frames):
    return frames["ids"].assign(v=lambda d: d["id"] * 3)

shared = PipelineDetails(name="shared", sources=[Source.csv("ids", "ids.csv")], transformer=shape,
                         exports=[Export(table="shared", keys=["id"], mode="sync")])
""" + "".join(
    f"""
p{k} = PipelineDetails(name="p{k}", sources=[Source.csv("ids", "ids.csv")], transformer=shape,
                       exports=[Export(table="own_{k}", keys=["id"], mode="merge")])
"""
    for k in range(4)
)


def _start(path: Path, k: int, url: str, cache: Path) -> subprocess.Popen:
    """Process k runs the shared pipeline, then its own: four processes start together."""
    exe = Path(sys.executable).with_name("tfi-data")
    return subprocess.Popen(
        [str(exe), "run", str(path), "--pipeline", "shared", "--pipeline", f"p{k}", "--database", url, "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TFI_CACHE_DIR": str(cache)},
    )


def test_four_runs_of_one_table_and_four_pipelines_at_once(db_url, tmp_path, figures):
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl" / "ids.csv").write_text("id\n" + "".join(f"{i}\n" for i in range(ROWS)))
    (tmp_path / "dl" / "pipes.py").write_text(DATALOADER)
    procs = [_start(tmp_path / "dl", k, db_url, tmp_path / f"c{k}") for k in range(4)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        outputs.append({row["table"]: row for row in json.loads(out)})
    shared = sorted((o["shared"]["inserted"], o["shared"]["unchanged"]) for o in outputs)
    assert shared == [(0, ROWS), (0, ROWS), (0, ROWS), (ROWS, 0)]
    expected = [(i, i * 3) for i in range(ROWS)]
    assert table_rows(db_url, "shared", "id") == expected
    for k in range(4):
        assert outputs[k][f"own_{k}"]["inserted"] == ROWS
        assert table_rows(db_url, f"own_{k}", "id") == expected
    dialect = db_url.split(":")[0].split("+")[0]
    figures.append(
        f"{dialect}: 4 concurrent runs into one table ({ROWS:,} rows: 1 inserted, 3 unchanged) "
        "and 4 pipelines at once: every table exact"
    )

"""A child process for the kill -9 trials: builds a frame, says "ready", waits for "go" on stdin,
exports it, says "done". The parent kills it somewhere in between."""

import sys

import numpy as np
import pandas as pd

from tfi_data import Export
from tfi_data.export import Exporter


def frame(rows: int, version: int) -> pd.DataFrame:
    """Version 0: the old table. Version 1: every third row changed, a tenth deleted, new rows."""
    ids = np.arange(rows, dtype="int64")
    df = pd.DataFrame({"id": ids, "v": ids * 2.5, "s": pd.array([f"row {i}" for i in ids], dtype="string")})
    if version == 1:
        df.loc[df["id"] % 3 == 0, "v"] += 1
        df = df[df["id"] % 10 != 7]
        extra = np.arange(rows, rows + rows // 5, dtype="int64")
        new = pd.DataFrame({"id": extra, "v": extra * 1.0, "s": pd.array([f"new {i}" for i in extra], dtype="string")})
        df = pd.concat([df, new], ignore_index=True)
    return df.reset_index(drop=True)


SPEC = Export(table="victim", keys=["id"], mode="sync", max_delete_fraction=0.5)

if __name__ == "__main__":
    url, rows = sys.argv[1], int(sys.argv[2])
    df = frame(rows, 1)
    exporter = Exporter(url)
    print("ready", flush=True)
    sys.stdin.readline()
    exporter.export(df, SPEC)
    print("done", flush=True)

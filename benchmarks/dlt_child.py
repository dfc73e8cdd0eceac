"""One dlt load, run by benchmarks/run.py with the interpreter of benchmarks/.venv-dlt.

Reads the CSV with pyarrow and hands the Arrow table to dlt (postgres destination,
``loader_file_format="csv"``, ``write_disposition="merge"``, primary key ``id``). Prints one JSON
line: seconds spent reading and in ``pipeline.run``. Imports nothing of tfi-data: dlt lives in its
own virtualenv and never becomes a dependency of tfi-data.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--csv", required=True)
    p.add_argument("--credentials", required=True, help="postgresql://user[:password]@host:port/database")
    p.add_argument("--dataset", required=True, help="schema dlt loads into")
    p.add_argument("--table", default="bench")
    p.add_argument("--pipelines-dir", required=True)
    args = p.parse_args(argv)

    start = time.perf_counter()
    import dlt
    import pyarrow.csv as pacsv

    imported = time.perf_counter()
    # Like pandas: an unquoted empty field is NULL (the generator writes NULL that way).
    table = pacsv.read_csv(args.csv, convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
    read = time.perf_counter()

    @dlt.resource(name=args.table, primary_key="id", write_disposition="merge")
    def rows():
        yield table

    pipeline = dlt.pipeline(
        pipeline_name="tfi_bench_dlt",
        destination=dlt.destinations.postgres(credentials=args.credentials),
        dataset_name=args.dataset,
        pipelines_dir=args.pipelines_dir,
    )
    info = pipeline.run(rows(), loader_file_format="csv")
    done = time.perf_counter()
    out = {
        "import_s": round(imported - start, 3),
        "read_s": round(read - imported, 3),
        "run_s": round(done - read, 3),
        "rows_read": table.num_rows,
        "has_failed_jobs": bool(info.has_failed_jobs),
        "dlt_version": dlt.__version__,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    print(json.dumps(out))
    return 1 if info.has_failed_jobs else 0


if __name__ == "__main__":
    sys.exit(main())

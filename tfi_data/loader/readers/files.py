"""Readers of one local or fsspec file (or an open binary stream): CSV/TSV, JSON, JSON Lines,
Parquet, Excel.

Each returns a DataFrame with tfi-data's standard dtypes. Compressed files (.gz, .bz2, .zip, .xz,
.zst) are read by extension, as pandas infers it. When a file does not parse, the reader looks at
it again (only then, never on the happy path) to say where and why, and raises ``ReadError``.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import re
import sys
import zipfile
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pa_compute
import pyarrow.csv as pa_csv

from tfi_data.loader.readers.dtypes import arrow_to_standard, standard_dtypes, to_standard, with_defaults


class ReadError(ValueError):
    """A file could not be parsed. The message says where (line, row, sheet) and why."""


class EmptyFileError(ReadError):
    """The file holds nothing at all: no header, no rows."""


# --- CSV ---------------------------------------------------------------------------------------


def read_csv(target: Any, options: Mapping[str, Any]) -> pd.DataFrame:
    """CSV, TSV or any other delimiter: ``pandas.read_csv`` with every option passed through
    (``sep``, ``encoding``, ``header``, ``names``, ``dtype``, ``parse_dates``, ``na_values``,
    ``skiprows``, ``quoting``, ...). Runs on the pyarrow engine unless an option needs one of
    pandas' own engines; pandas' C engine is the reference, so a file pyarrow refuses or misreads
    is read again with it. Without ``encoding`` the file must be UTF-8 (a BOM is dropped)."""
    opts = dict(options)
    if "engine" not in opts:
        opts["engine"] = _csv_engine(opts)
    df = _read_with_pyarrow(target, opts) if opts["engine"] == "pyarrow" else None
    if df is None:
        if opts["engine"] == "pyarrow":
            opts["engine"] = "c"
        # pandas' own engines pad a row with too few fields with nulls: find such a row first
        if (problem := _ragged(target, opts)) is not None:
            raise _text_problem(target, opts) or problem
        df = _read_csv(target, opts)
    _refuse_what_reads_wrong(target, opts, df)
    return df if "dtype_backend" in opts else arrow_to_standard(df)


def _read_with_pyarrow(target: Any, opts: Mapping[str, Any]) -> pd.DataFrame | None:
    """What pyarrow reads, or None when the C engine must read the file instead. pyarrow refuses
    some files the C engine reads (a quoted line break on the edge of its parallel blocks, a later
    block whose values change a column's type, a short row: padded with nulls), and takes a quote
    left open on a row's last column as running to the end of the file, where the C engine refuses
    it. Either way the C engine decides, and names the line when it refuses."""
    try:
        df = _read_csv(target, opts, explain=False)
    except _CSV_ERRORS as exc:
        if "columns, got" in str(exc):  # a row with too few or too many fields, or not text at all
            problem = _text_problem(target, opts) or _ragged(target, opts)
            if problem is not None:
                raise problem from None
        return None  # e.g. a quoted line break on the edge of pyarrow's parallel blocks
    last = df.iloc[-1, -1] if len(df) and len(df.columns) else None
    if isinstance(last, str) and ("\n" in last or "\r" in last):
        return None
    if not _ends_with_newline(target, opts):
        return None  # the last line may hold a quote left open, which pyarrow accepts
    # pyarrow reads bytes not valid in the encoding as a binary column, not as an error.
    if any(isinstance(t, pd.ArrowDtype) and pa.types.is_binary(t.pyarrow_dtype) for t in df.dtypes):
        raise _text_problem(target, opts) or ReadError(f"not valid {opts.get('encoding') or 'utf-8'} text")
    return df


_CSV_ERRORS = (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeError, pa.ArrowInvalid)


def _ragged(target: Any, opts: Mapping[str, Any]) -> ReadError | None:
    """The first row whose number of fields is not the header's, by line, found by pyarrow's
    parser (quotes and quoted line breaks as the readers see them). None when every row fits,
    or when the options are ones this check cannot follow (a comment character, rows skipped by
    a list or a function, a multi-character separator): the reader then decides alone."""
    sep = opts.get("sep", opts.get("delimiter", ","))
    skip = opts.get("skiprows") or 0
    if not isinstance(sep, str) or len(sep) != 1 or "comment" in opts or not isinstance(skip, int):
        return None
    if opts.get("header", "infer") not in ("infer", 0):
        return None
    bad: list[Any] = []

    def handler(row: Any) -> str:
        if not bad:
            bad.append(row)
        return "skip"

    encoding = opts.get("encoding") or "utf-8"
    try:
        with _open_binary(target, opts) as f:
            pa_csv.read_csv(
                f,
                read_options=pa_csv.ReadOptions(use_threads=False, skip_rows=skip, encoding=encoding),
                parse_options=pa_csv.ParseOptions(
                    delimiter=sep,
                    quote_char=opts.get("quotechar", '"'),
                    newlines_in_values=True,
                    invalid_row_handler=handler,
                ),
                convert_options=pa_csv.ConvertOptions(include_columns=[]),
            )
    except (pa.ArrowException, OSError, ValueError, LookupError):
        return None  # not parseable this way: the reader's own error says more
    if not bad:
        return None
    row = bad[0]
    line = f"line {row.number + skip}" if row.number is not None else "a row"
    said = f"{line}: expected {row.expected_columns} fields, saw {row.actual_columns}"
    return ReadError(
        said + (f" ({row.text[:80]!r}): a row cut short" if row.actual_columns < row.expected_columns else "")
    )


def _ends_with_newline(target: Any, opts: Mapping[str, Any]) -> bool:
    """Whether the file's last byte ends a line (True when that cannot be told cheaply)."""
    if not hasattr(target, "seek") and opts.get("compression", "infer") not in ("infer", None):
        return True
    try:
        if hasattr(target, "seek"):
            target.seek(-1, 2)
            return target.read(1) in (b"\n", b"\r")
        if re.search(r"\.(gz|bz2|xz|zip|zst|tar)$", str(target)):
            return True
        with fsspec.open(str(target), "rb", **(opts.get("storage_options") or {})) as f:
            f.seek(-1, 2)
            return f.read(1) in (b"\n", b"\r")
    except (OSError, ValueError):
        return True


def _refuse_what_reads_wrong(target: Any, opts: Mapping[str, Any], df: pd.DataFrame) -> None:
    """What a CSV parser accepts but would store wrong: a file of blank lines read as one blank
    column, a NUL byte inside a value (no database stores it in text), and integers past 64 bits
    read as floats (their last digits lost)."""
    blank = len(df.columns) and all(isinstance(c, str) and not c.strip() for c in df.columns)
    if blank and (problem := _text_problem(target, opts)) is not None:
        raise problem
    for i, name in enumerate(df.columns):
        column = df.iloc[:, i]
        if column.dtype == object or isinstance(column.dtype, (pd.StringDtype, pd.ArrowDtype)):
            try:  # Arrow-backed text: one vectorized pass, no copy
                values = pa.array(column, from_pandas=True)  # an Arrow-backed column's own chunks
            except (pa.ArrowException, TypeError, ValueError):
                continue  # mixed Python objects: not text
            if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
                continue
            hits = pa_compute.match_substring(values, "\x00")
            if pa_compute.any(hits).as_py():
                row = pa_compute.index(hits, True).as_py()
                raise ReadError(
                    f"row {row + 1}, column {name!r}: a NUL byte (0x00) inside a value: "
                    "no database stores it in text; is this a binary file?"
                )
    floats = []
    for i, name in enumerate(df.columns):
        if pd.api.types.is_float_dtype(df.iloc[:, i].dtype):
            values = df.iloc[:, i].dropna().to_numpy(dtype="float64")
            if len(values) and (np.abs(values) >= 2**53).any() and (np.mod(values, 1) == 0).all():
                floats.append(name)
    if floats:
        text = pd.read_csv(
            # the C engine: pyarrow would infer numbers first, then make text of the rounded floats
            _rewound(target),
            **{**with_defaults(opts, dtype_backend="pyarrow"), "usecols": floats, "dtype": str, "engine": "c"},
        )
        for name in floats:
            big = text[name].dropna()
            big = big[big.str.fullmatch(r"\s*[+-]?\d+\s*") & (big.str.strip().str.lstrip("+-").str.len() >= 16)]
            lost = big[[float(v) >= 2**53 or float(v) <= -(2**53) for v in big]]
            if len(lost):
                raise ReadError(
                    f"row {lost.index[0] + 1}, column {name!r}: the integer {lost.iloc[0].strip()} does not fit "
                    f"64 bits, so it would be read as a float that loses its last digits; read the column as "
                    f"text with dtype={{{name!r}: str}}"
                )


def _read_csv(target: Any, opts: Mapping[str, Any], explain: bool = True) -> pd.DataFrame:
    try:
        return pd.read_csv(_rewound(target), **with_defaults(opts, dtype_backend="pyarrow"))
    except _CSV_ERRORS as exc:
        if not explain:
            raise
        raise _explain_csv(target, opts, exc) from exc


# Options the pyarrow CSV engine refuses; with them we fall back to pandas' C engine.
_PYARROW_UNSUPPORTED = {
    "skipfooter",
    "nrows",
    "chunksize",
    "iterator",
    "converters",
    "comment",
    "thousands",
    "low_memory",
    "on_bad_lines",
    "lineterminator",
    "dialect",
    "memory_map",
    "float_precision",
    "quoting",
    "skip_blank_lines",
    "verbose",
    "skipinitialspace",
    "doublequote",
    "escapechar",
    "dayfirst",
    "delim_whitespace",
}


def _csv_engine(opts: Mapping[str, Any]) -> str:
    # pyarrow parses in parallel and is several times faster than the C engine.
    sep = opts.get("sep", opts.get("delimiter", ","))
    if sep is None or (len(sep) > 1 and sep != r"\s+"):
        return "python"  # sniffing or a regex separator: only the python engine has them
    na_values, usecols = opts.get("na_values"), opts.get("usecols")
    if (
        _PYARROW_UNSUPPORTED & set(opts)
        or len(sep) > 1
        or callable(usecols)
        or (isinstance(usecols, (list, tuple)) and not all(isinstance(c, str) for c in usecols))
        or isinstance(na_values, dict)
        or (isinstance(na_values, (list, tuple, set)) and not all(isinstance(v, str) for v in na_values))
        # pandas 2's pyarrow engine accepts these but reads wrong: it ignores skiprows when there
        # is a header, leaves date-only columns as dates under parse_dates, and applies dtype
        # after inferring numbers (dtype=str would turn "007" into "7").
        or opts.get("skiprows") not in (None, 0)
        or opts.get("parse_dates") not in (None, False)
        or _casts_to_non_numeric(opts.get("dtype"))
    ):
        return "c"
    return "pyarrow"


def _casts_to_non_numeric(dtype: Any) -> bool:
    if dtype is None:
        return False
    for wanted in dtype.values() if isinstance(dtype, Mapping) else [dtype]:
        try:
            if not pd.api.types.is_numeric_dtype(pd.api.types.pandas_dtype(wanted)):
                return True
        except TypeError:
            return True
    return False


def _explain_csv(target: Any, opts: Mapping[str, Any], exc: Exception) -> ReadError:
    if isinstance(exc, pd.errors.EmptyDataError):
        return EmptyFileError("the file is empty: no header, no rows")
    return _text_problem(target, opts) or ReadError(_tidy(exc))


def _tidy(exc: Exception) -> str:
    text = re.sub(r"^(Error tokenizing data\. C error: |CSV parse error: )", "", str(exc).strip())
    # The C engine counts a string's start in records from 0; say it as a line like its other errors.
    eof = re.match(r"EOF inside string starting at row (\d+)", text)
    if eof:
        return f"line {int(eof.group(1)) + 1}: unterminated quote: the quoted field starting there never closes"
    # Say the line first, as every other message does.
    return re.sub(r"^Expected (\d+) fields in line (\d+), saw (\d+)", r"line \2: expected \1 fields, saw \3", text)


# --- JSON and JSON Lines -----------------------------------------------------------------------

# Options only pandas.read_json has: with any of them the file goes to pandas.read_json as it is,
# unflattened (``orient`` for pandas' own layouts, ``dtype``, ``convert_dates``, ...).
_READ_JSON_ONLY = {
    "orient",
    "typ",
    "dtype",
    "convert_axes",
    "convert_dates",
    "keep_default_dates",
    "precise_float",
    "date_unit",
    "encoding_errors",
    "lines",
    "chunksize",
    "nrows",
    "engine",
    "dtype_backend",
}


def read_json(target: Any, options: Mapping[str, Any]) -> pd.DataFrame:
    """A JSON array of records, or the records at ``record_path`` inside a document: a dotted path
    of keys (and list indexes), e.g. ``record_path="data.items"`` for ``{"data": {"items": [...]}}``
    (as the HTTP reader takes it; a list of keys works too). Nested objects become columns named
    by their path (``address.city``) through ``pandas.json_normalize``, which takes ``sep`` and
    ``max_level``. ``encoding`` (default UTF-8) and ``compression`` (default: by extension) say
    how to read the bytes. With an option only ``pandas.read_json`` has (``orient``, ``dtype``,
    ...) the file is read by it instead, unflattened."""
    opts = dict(options)
    if _READ_JSON_ONLY & set(opts):
        if "record_path" in opts:
            raise ReadError(f"record_path cannot be combined with {sorted(_READ_JSON_ONLY & set(opts))}")
        return standard_dtypes(pd.read_json, target, opts)
    record_path = opts.pop("record_path", None)
    text = _read_text(target, opts)
    if not text.strip():
        raise EmptyFileError("the file is empty: no records")

    def records(parse_int: Callable[[str], Any]) -> list[Any]:
        try:
            document = json.loads(text, parse_int=parse_int, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise ReadError(f"line {exc.lineno} column {exc.colno}: malformed JSON: {exc.msg}") from None
        except BadNumber as exc:
            raise ReadError(f"{_where_token(text, exc.token)}{exc}") from None
        except RecursionError:
            raise ReadError(
                f"nested deeper than Python's JSON parser goes ({sys.getrecursionlimit()} levels)"
            ) from None
        if record_path is not None:
            document = _at_record_path(document, record_path)
        elif isinstance(document, dict):
            arrays = [k for k, v in document.items() if isinstance(v, list)]
            hint = f" (keys holding arrays: {', '.join(map(repr, arrays))})" if arrays else ""
            raise ReadError(
                "the document is a JSON object, not an array of records: say where the records are with "
                f"record_path='key.subkey'{hint}, or read a pandas layout with orient=..."
            )
        return _objects(document if isinstance(document, list) else [document], "")

    return records_frame(records, opts)


def read_jsonl(target: Any, options: Mapping[str, Any]) -> pd.DataFrame:
    """JSON Lines: one JSON object per line (blank lines skipped), nested objects flattened as in
    ``read_json``, with the same options; ``record_path`` finds the records inside each line's
    document. A bad line is named by its number."""
    opts = dict(options)
    if _READ_JSON_ONLY & set(opts):
        if "record_path" in opts:
            raise ReadError(f"record_path cannot be combined with {sorted(_READ_JSON_ONLY & set(opts))}")
        return standard_dtypes(pd.read_json, target, with_defaults(opts, lines=True))
    record_path = opts.pop("record_path", None)
    text = _read_text(target, opts)
    if not text.strip():
        raise EmptyFileError("the file is empty: no records")

    def records(parse_int: Callable[[str], Any]) -> list[Any]:
        parsed = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line, parse_int=parse_int, parse_constant=_no_constant)
                if record_path is not None:  # the records inside each line's document
                    found = _at_record_path(record, record_path)
                    parsed.extend(_objects(found if isinstance(found, list) else [found], f"line {number}: "))
                    continue
            except json.JSONDecodeError as exc:
                raise ReadError(f"line {number} column {exc.colno}: malformed JSON: {exc.msg}") from None
            except RecursionError:
                raise ReadError(f"line {number}: nested deeper than Python's JSON parser goes") from None
            except ReadError as exc:
                raise ReadError(f"line {number}: {exc}") from None
            if not isinstance(record, dict):
                raise ReadError(f"line {number}: expected a JSON object, found {_json_type(record)}")
            parsed.append(record)
        return parsed

    return records_frame(records, opts)


def _at_record_path(document: Any, record_path: str | list[str]) -> Any:
    keys = record_path.split(".") if isinstance(record_path, str) else [str(k) for k in record_path]
    for depth, key in enumerate(keys):
        if isinstance(document, dict) and key in document:
            document = document[key]
        elif isinstance(document, list) and key.lstrip("-").isdigit() and -len(document) <= int(key) < len(document):
            document = document[int(key)]
        else:
            where = f"under {'.'.join(keys[:depth])!r}" if depth else "at the top"
            if isinstance(document, dict):
                found = f"keys there: {', '.join(map(repr, document))}"
            else:
                found = f"{_json_type(document)} there" + (
                    f" of {len(document)} items" if isinstance(document, list) else ""
                )
            raise ReadError(f"record_path {record_path!r}: no {key!r} {where} ({found})")
    if not isinstance(document, (list, dict)):
        raise ReadError(
            f"record_path {record_path!r}: expected an array of records there, found {_json_type(document)}"
        )
    return document


def _objects(records: list[Any], where: str) -> list[Any]:
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise ReadError(f"{where}the record at index {index}: expected a JSON object, found {_json_type(record)}")
    return records


class BadNumber(ReadError):
    """A JSON number that cannot be stored as it is written."""

    def __init__(self, token: str, message: str) -> None:
        super().__init__(message)
        self.token = token


def _no_constant(name: str) -> Any:
    raise BadNumber(name, f"{name} is not a JSON number; a NaN or an infinity would be stored as something else")


def _int64(text: str) -> int:
    """A JSON integer that fits 64 bits (signed, or unsigned up to 2**64 - 1)."""
    value = int(text)
    if not -(2**63) <= value < 2**64:
        raise BadNumber(text, f"the integer {text} does not fit 64 bits; no column type holds it exactly")
    return value


# A JSON string, or (group 1) a bare token: where a number or constant is, outside strings.
_TOKENS = re.compile(r'"(?:\\.|[^"\\])*"|(-?[A-Za-z0-9.+-]+)')


def _where_token(text: str, token: str) -> str:
    """'line L column C: ' of the first ``token`` outside strings, or '' if it cannot be found."""
    for match in _TOKENS.finditer(text):
        if match.group(1) == token:
            line = text.count("\n", 0, match.start(1)) + 1
            column = match.start(1) - (text.rfind("\n", 0, match.start(1)) + 1) + 1
            return f"line {line} column {column}: "
    return ""


def records_frame(records: Callable[[Callable[[str], Any]], list[Any]], opts: Mapping[str, Any]) -> pd.DataFrame:
    """``records(parse_int)`` flattened by ``pandas.json_normalize`` into standard dtypes: the one
    JSON flattener (files, JSON Lines and HTTP). ``records`` parses the JSON again with
    ``parse_int=str`` when integers past 2**53 need their exact value."""
    parsed = records(_int64)
    normalize_opts = {k: v for k, v in opts.items() if k not in ("encoding", "compression", "storage_options")}
    unknown = set(normalize_opts) - {"sep", "max_level"}
    if unknown:
        raise ReadError(
            f"unknown option(s) {sorted(unknown)}: JSON takes record_path, sep, max_level, encoding, compression, "
            "storage_options, or an option of pandas.read_json (orient, dtype, ...)"
        )
    df = pd.json_normalize(parsed, **normalize_opts)
    # An integer field with a null or a missing key arrives as float (NaN). Parsed again with
    # integers kept as text, a column whose values were all JSON integers is taken as integers
    # (Int64, keeping the gaps; exact past 2**53 too); JSON numbers with a fraction or exponent
    # (1.0, 2.5) keep the column a float column, whole-looking or not.
    candidates = []
    for i in range(df.shape[1]):
        column = df.iloc[:, i]
        if column.dtype == "float64" and column.hasnans:
            values = column.dropna()
            if len(values) and (values % 1 == 0).all():
                candidates.append(i)
    if candidates:
        exact = pd.json_normalize(records(str), **normalize_opts)
        for i in candidates:
            texts = exact.iloc[:, i].dropna()
            if not texts.map(lambda v: isinstance(v, str)).all():
                continue  # a JSON float among them: a float column
            try:
                ints = pa.array(exact.iloc[:, i], type=pa.string(), from_pandas=True).cast(pa.int64())
            except (pa.ArrowInvalid, pa.ArrowTypeError):
                continue  # integers past 64 bits: they stay floats
            df.isetitem(i, pd.Series(ints.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get), index=df.index))
    return to_standard(df)


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _read_text(target: Any, opts: Mapping[str, Any]) -> str:
    encoding = opts.get("encoding") or "utf-8"
    if codecs.lookup(encoding).name == "utf-8":
        encoding = "utf-8-sig"  # a BOM is not part of the first key
    with _open_binary(target, opts) as f:
        data = f.read()
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        problem = _text_problem(target, opts)
        if problem is None:
            raise
        raise problem from None


# --- Parquet and Excel -------------------------------------------------------------------------


def read_parquet(target: Any, options: Mapping[str, Any]) -> pd.DataFrame:
    try:
        return standard_dtypes(pd.read_parquet, target, options)
    except pa.ArrowInvalid as exc:
        if _is_empty(target, options):
            raise EmptyFileError("the file is empty (0 bytes), not Parquet") from exc
        raise ReadError(f"not a readable Parquet file: {exc}") from exc


def read_excel(target: Any, options: Mapping[str, Any]) -> pd.DataFrame:
    """One sheet of a workbook: ``sheet_name`` by name or 0-based index (default: the first);
    other options go to ``pandas.read_excel``. A sheet that is not there is named with the sheets
    that are."""
    sheet = options.get("sheet_name", 0)
    if sheet is None or isinstance(sheet, list):
        raise ReadError("sheet_name must name one sheet (a name or an index): declare one source per sheet")
    try:
        return standard_dtypes(pd.read_excel, target, options)
    except (ValueError, IndexError, KeyError, zipfile.BadZipFile) as exc:
        if _is_empty(target, options):
            raise EmptyFileError("the file is empty (0 bytes), not a workbook") from exc
        sheets = _sheet_names(target, options)
        if sheets is None:
            raise ReadError(f"not an Excel workbook: {exc}") from exc
        if sheet in sheets or (isinstance(sheet, int) and -len(sheets) <= sheet < len(sheets)):
            raise
        raise ReadError(f"no sheet {sheet!r} in the workbook; its sheets are {', '.join(map(repr, sheets))}") from exc


def _sheet_names(target: Any, options: Mapping[str, Any]) -> list[str] | None:
    try:
        with pd.ExcelFile(_rewound(target), engine=options.get("engine")) as book:
            return list(book.sheet_names)
    except Exception:  # not a workbook at all: the original error says more
        return None


# --- Looking again at a file that did not parse ------------------------------------------------

# File signatures of things that end up in the wrong place, named so the error says what it is.
_SIGNATURES = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive (an .xlsx workbook? use Source.excel; a zipped file? name it .zip)",
    b"\x1f\x8b": "gzip-compressed data (name the file .gz)",
    b"PAR1": "a Parquet file (use Source.parquet)",
}


def _text_problem(target: Any, opts: Mapping[str, Any]) -> ReadError | None:
    """Why a file cannot be read as text: empty, binary, or not in its encoding (None: it is text)."""
    encoding = opts.get("encoding")
    with _open_binary(target, opts) as f:
        head = f.read(1 << 16)
    if not head.strip():
        return EmptyFileError("the file is empty: no header, no rows")
    if encoding is None and head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return ReadError("the file is UTF-16 text: pass encoding='utf-16'")
    for signature, what in _SIGNATURES.items():
        if head.startswith(signature):
            return ReadError(f"not a text file: it is {what}")
    nul = head.find(b"\0")
    if nul >= 0 and not (encoding and codecs.lookup(encoding).name.startswith(("utf-16", "utf-32"))):
        return ReadError(f"not a text file: binary data (a NUL byte at offset {nul})")
    if opts.get("encoding_errors", "strict") != "strict":
        return None
    return _decode_problem(target, opts, encoding or "utf-8")


def _decode_problem(target: Any, opts: Mapping[str, Any], encoding: str) -> ReadError | None:
    """The first byte that does not decode, with its offset and line, read in chunks."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = newlines = 0
    with _open_binary(target, opts) as f:
        for chunk in _chunks(f):
            pending = len(decoder.getstate()[0])  # bytes of a character split across chunks
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                at = offset - pending + exc.start
                line = newlines + chunk.count(b"\n", 0, max(0, at - offset)) + 1
                byte = exc.object[exc.start]
                if codecs.lookup(encoding).name == "utf-8" and opts.get("encoding") is None:
                    hint = "the file is in another encoding: pass encoding='cp1252' (Windows) or encoding='latin-1'"
                else:
                    hint = f"check encoding={opts.get('encoding')!r} (encoding='latin-1' accepts every byte)"
                return ReadError(
                    f"line {line}: byte 0x{byte:02x} at offset {at} is not valid {encoding} ({exc.reason}); {hint}"
                )
            offset += len(chunk)
            newlines += chunk.count(b"\n")
    return None


def _chunks(f: IO[bytes]) -> Iterator[bytes]:
    while chunk := f.read(1 << 20):
        yield chunk
    yield b""  # the final call flushes a truncated character at the very end


def _is_empty(target: Any, opts: Mapping[str, Any]) -> bool:
    try:
        with _open_binary(target, opts) as f:
            return not f.read(1)
    except OSError:
        return False


def _open_binary(target: Any, opts: Mapping[str, Any]) -> contextlib.AbstractContextManager[IO[bytes]]:
    """The file's bytes, decompressed as pandas would (by extension, or ``compression=``)."""
    if hasattr(target, "read"):
        return contextlib.nullcontext(_rewound(target))
    compression = opts.get("compression", "infer")
    if isinstance(compression, dict):
        compression = compression.get("method")
    return fsspec.open(str(target), "rb", compression=compression, **(opts.get("storage_options") or {}))


def _rewound(target: Any) -> Any:
    if hasattr(target, "seek"):
        target.seek(0)
    return target

"""Read the two input tables (CSV, gzipped CSV, Parquet) into normalised frames.

Why: every stage — features, training, scoring, audit — must see the same typed,
trimmed, lower-cased frame whatever the export looked like, and a bad value must
become a reported problem (line, column, value, rule), never a silent drop or a
crash. Dates and times are parsed and range-checked here, vectorised, because
Great Expectations is very slow at datetime rules (design.md); validation.py runs
the rest.

Normalisation (shared data contract):

- column names and category values are trimmed and lower-cased; strings trimmed;
  an empty string is missing; a row whose every field is empty (a blank line) is
  skipped;
- integers may carry a trailing ``.0``; booleans are ``true/false/1/0/yes/no`` in
  any case;
- ``assessment_date`` is ``YYYY-MM-DD`` and becomes naive midnight;
- timestamps are ISO 8601. With an offset (``Z``, ``+01:00``) they are exact.
  Without one they are UK local time (Europe/London); a bare date is local
  midnight. The clock rule, the same as JavaScript Temporal's "compatible":
  a local time that does not exist (the spring-forward hour, e.g.
  2024-03-31 01:30) is read with the offset in force just before the change, so
  it lands one hour later on the wall clock (01:30 GMT = 01:30 UTC); a local time
  that happens twice (the autumn hour, e.g. 2024-10-27 01:30) is the first
  occurrence, in BST (00:30 UTC).
- dates and times outside 1990-01-01 .. 2100-01-01 are reported (rule
  ``date_in_range``) and, like unparseable values, become missing.

``_line`` identifies each row: for CSV the line in the file (the header is line
1; a quoted value spanning lines makes later rows count records, not physical
lines); for Parquet and in-memory frames the 1-based row number.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import pandas as pd

from stalkrisk.data import contract
from stalkrisk.data.contract import Column, Table
from stalkrisk.errors import InputError
from stalkrisk.data.values import (  # noqa: F401  (the readers' rule names and cleaners, used by their callers too)
    DATE_BOUNDS,
    RULE_BOOLEAN,
    RULE_DATE,
    RULE_DATE_RANGE,
    RULE_INTEGER,
    RULE_TIMESTAMP,
    _blank_text,
    _coerce,
    _is_text,
    _to_date,
    _to_timestamp,
    clean_category,
    clean_text,
    coded_category,
    to_utc,
)

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

PROBLEM_COLUMNS = ("table", "line", "case_id", "column", "value", "rule")
LINE = "_line"


_SUFFIXES = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet"}


@dataclass
class ReadResult:
    """A normalised table, the problems met while normalising it, and its source."""

    frame: pd.DataFrame
    problems: pd.DataFrame
    table: str
    path: Path | None = None
    sha256: str | None = None


def read_cases(path: str | Path) -> ReadResult:
    return read_table(path, contract.CASES)


def read_events(path: str | Path) -> ReadResult:
    return read_table(path, contract.EVENTS)


def read_table(path: str | Path, table: Table) -> ReadResult:
    """Read ``path`` (format by extension) and normalise it to ``table``.

    The file's SHA-256 is computed on a thread of its own meanwhile (hashlib and file reads
    release the GIL), so a large file's hash costs little wall time.
    """
    path, fmt = check_file(path)
    with ThreadPoolExecutor(1, thread_name_prefix="stalkrisk-sha256") as beside:
        digest = beside.submit(_sha256, path)
        if fmt == "csv":
            raw, first_line = _read_csv(path), 2
        else:
            raw, first_line = _read_parquet(path, table), 1
        _check_reserved(raw.columns, path)
        result = normalise(raw, table, path=path, first_line=first_line)
        result.sha256 = digest.result()
    log.info("read %s: %d rows, %d problems", path.name, len(result.frame), len(result.problems))
    return result


def normalise(
    raw: pd.DataFrame, table: Table, *, path: str | Path | None = None, first_line: int = 1
) -> ReadResult:
    """Normalise a raw frame (all strings, or already typed) to ``table``.

    Rows are numbered ``first_line, first_line + 1, ...`` in ``_line`` unless
    ``raw`` already has a ``_line`` column. Contract columns come first, in
    contract order, then any extra columns as they were.
    """
    raw = _normalise_names(raw, path)
    check_required(raw.columns, table, path)

    if LINE in raw.columns:
        lines = pd.array(raw[LINE], dtype="Int64")
    else:
        lines = pd.arrays.IntegerArray(np.arange(first_line, first_line + len(raw), dtype=np.int64),
                                       np.zeros(len(raw), dtype=bool))
    raw = raw.drop(columns=[LINE], errors="ignore").reset_index(drop=True)

    texts: dict[str, pd.Series] = {}
    out: dict[str, pd.Series] = {}
    bad: list[tuple[str, str, pd.Series]] = []
    for column in table.columns:
        if column.name not in raw.columns:
            out[column.name] = _absent(column, len(raw))
            continue
        src = raw[column.name]
        values, rule_masks = _coerce(src, column)
        out[column.name] = values
        for rule, mask in rule_masks:
            if mask.any():
                texts.setdefault(column.name, clean_text(src))
                bad.append((column.name, rule, mask))

    frame = pd.DataFrame(out)
    extras = [c for c in raw.columns if c not in table.names]
    for c in extras:
        frame[c] = raw[c]
    frame[LINE] = pd.Series(lines, index=frame.index, copy=False)

    blank = _blank_rows(raw)
    if blank is not None and blank.any():
        keep = ~blank
        frame = frame[keep].reset_index(drop=True)
        bad = [(c, r, m[keep].reset_index(drop=True)) for c, r, m in bad]
        texts = {c: t[keep].reset_index(drop=True) for c, t in texts.items()}

    problems = _problems(table.name, frame, bad, texts)
    return ReadResult(frame=frame, problems=problems, table=table.name, path=None if path is None else Path(path))


def _absent(column: Column, rows: int) -> pd.Series:
    """A column missing from the file: every value missing, in the column's dtype."""
    if column.coded:
        return pd.Series(pd.Categorical.from_codes(np.full(rows, -1, dtype=np.int8),
                                                   dtype=contract.dtype_of(column)))
    return pd.Series(pd.array([None] * rows, dtype=contract.PANDAS_DTYPES[column.kind]))


def check_required(names, table: Table, path: str | Path | None) -> None:
    """Stop with one line naming the file and the first missing required column."""
    missing = [c for c in table.required if c not in set(names)]
    if missing:
        quoted = ", ".join(f"'{c}'" for c in missing)
        noun = "column" if len(missing) == 1 else "columns"
        verb = "is" if len(missing) == 1 else "are"
        raise InputError(path, f"required {noun} {quoted} {verb} missing", column=missing[0])


def empty_problems() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "table": pd.Series(dtype="str"),
            "line": pd.Series(dtype="Int64"),
            "case_id": pd.Series(dtype="str"),
            "column": pd.Series(dtype="str"),
            "value": pd.Series(dtype="str"),
            "rule": pd.Series(dtype="str"),
        }
    )


# --- files ------------------------------------------------------------------


def check_file(path: str | Path) -> tuple[Path, str]:
    """The path and its format (by extension); a clear error when it is no file of a known type."""
    path = Path(path)
    fmt = _format_of(path)
    if not path.is_file():
        raise InputError(path, "file not found or not a file")
    return path, fmt


def _check_reserved(names, path: str | Path) -> None:
    """``_line`` numbers the rows in every report: a column of that name in a file would replace them."""
    if LINE in {str(n).strip().lower() for n in names}:
        raise InputError(path, f"column '{LINE}' is reserved (stalkrisk numbers the rows with it); "
                         "rename or drop it", column=LINE)


def plain_columns(data, path: str | Path, table: Table):
    """A Parquet table or batch with plain values: lists and records in a contract column refused,
    bytes read as UTF-8 text (refused, naming the column, when they are not)."""
    import pyarrow as pa

    wanted = {c.name for c in table.columns}
    columns, names = list(data.columns), list(data.schema.names)
    for i, (name, column) in enumerate(zip(names, columns)):
        kind = column.type
        key = str(name).strip().lower()
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        nested = pa.types.is_nested(kind)
        if nested and key in wanted:
            raise InputError(path, f"column '{key}' holds lists or records (Parquet {kind}); "
                             "expected one plain value per row", column=key)
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            try:
                columns[i] = column.cast(pa.string() if pa.types.is_binary(kind) else pa.large_string())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                raise InputError(path, f"column '{key}' holds bytes that are not UTF-8 text", column=key) from None
    if columns == list(data.columns):
        return data
    build = pa.Table.from_arrays if isinstance(data, pa.Table) else pa.RecordBatch.from_arrays
    return build(columns, names=names)


def check_input_path(path: str | Path, name: str) -> Path:
    """A wrong input path refused at once (before a model loads): missing, a folder, unreadable."""
    path, _ = check_file(path)
    if not os.access(path, os.R_OK):
        raise InputError(path, f"the {name} file cannot be read (permission denied)")
    return path


def _open_file(path: str | Path) -> tuple[Path, str, str]:
    """The path, its format (by extension) and SHA-256; a clear error when it is no file."""
    path, fmt = check_file(path)
    return path, fmt, _sha256(path)


def _format_of(path: Path) -> str:
    name = path.name.lower()
    for suffix, fmt in _SUFFIXES.items():
        if name.endswith(suffix):
            return fmt
    raise InputError(path, "unknown file type: expected .csv, .csv.gz or .parquet")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")


def _csv_header(path: Path) -> list[str]:
    try:
        with _open_text(path) as f:
            header = next(csv.reader(f), None)
    except (UnicodeDecodeError, OSError, EOFError, csv.Error) as e:
        reason = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else type(e).__name__
        raise InputError(path, f"cannot be read as CSV ({reason})") from None
    if not header:
        raise InputError(path, "the file is empty (no header row)")
    return header


def _csv_convert_options(names: list[str]):
    """Every column as text, nothing null: normalisation decides what is missing."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    return pacsv.ConvertOptions(
        column_types={n: pa.string() for n in names},
        null_values=[],
        strings_can_be_null=False,
        quoted_strings_can_be_null=False,
    )


class _ShapeErrors:
    """Arrow's invalid-row handler: remembers rows of the wrong width and stops the read."""

    def __init__(self) -> None:
        self.rows: list[int] = []

    def __call__(self, row) -> str:
        self.rows.append(row.actual_columns)
        return "error"


def _csv_parse_options(on_invalid: _ShapeErrors):
    """Blank lines kept (normalise skips them and the line numbers stay true), quoted newlines allowed."""
    import pyarrow.csv as pacsv

    return pacsv.ParseOptions(ignore_empty_lines=False, newlines_in_values=True, invalid_row_handler=on_invalid)


def _read_csv(path: Path) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    header = _csv_header(path)
    names = [f"c{i}" for i in range(len(header))]
    shape_errors = _ShapeErrors()
    try:
        arrow = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(column_names=names, skip_rows=1),
            parse_options=_csv_parse_options(shape_errors),
            convert_options=_csv_convert_options(names),
        )
    except (pa.ArrowException, OSError, EOFError) as e:
        if shape_errors.rows:
            raise InputError(path, _shape_message(path, len(header))) from None
        if _only_header(path):
            return pd.DataFrame({h: pd.Series(dtype=object) for h in header})
        reason = "not UTF-8 text" if "UTF8" in str(e) or "utf8" in str(e) else type(e).__name__
        raise InputError(path, f"cannot be read as CSV ({reason})") from None
    frame = arrow.to_pandas()
    frame.columns = header
    return frame


def _only_header(path: Path) -> bool:
    """The file holds its header and no row (with or without a final line break)."""
    try:
        with _open_text(path) as f:
            reader = csv.reader(f)
            next(reader, None)
            return all(not row for row in reader)
    except (UnicodeDecodeError, OSError, EOFError, csv.Error):
        return False


def _shape_message(path: Path, expected: int) -> str:
    """Find (slowly, only on this error path) the first row of the wrong width."""
    with _open_text(path) as f:
        reader = csv.reader(f)
        next(reader, None)
        for row in reader:
            if row and len(row) != expected:
                return (
                    f"line {reader.line_num} has {len(row)} fields "
                    f"but the header has {expected}"
                )
    return f"a row does not have the {expected} fields of the header"


def _read_parquet(path: Path, table: Table) -> pd.DataFrame:
    """The file as a raw frame; text category columns come as dictionaries (see ``clean_category``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    categories = {c.name for c in table.columns if c.kind == "category"}
    try:
        schema = pq.read_schema(path)
        dictionary = [f.name for f in schema if str(f.name).strip().lower() in categories
                      and (pa.types.is_string(f.type) or pa.types.is_large_string(f.type))]
        arrow = pq.read_table(path, read_dictionary=dictionary, memory_map=True)  # no copy of the file read
    except (pa.ArrowException, OSError) as e:
        raise InputError(path, f"cannot be read as Parquet ({type(e).__name__})") from None
    return arrow_to_frame(plain_columns(arrow, path, table))


# --- streaming ------------------------------------------------------------------


@dataclass
class BatchReader:
    """A file read in record batches of raw values, for runs too large to hold at once.

    ``names`` are the normalised column names (the required ones checked before any
    row is read); each batch carries them plus ``_line``, numbered as ``read_table``
    numbers rows; ``arrow_to_frame`` turns them into the raw frame ``normalise`` takes,
    typed exactly as ``read_table`` reads the whole file.
    """

    path: Path
    table: Table
    names: list[str]
    schema: "pa.Schema"
    batches: "Iterator[pa.RecordBatch]"
    sha256: str


def arrow_to_frame(data) -> pd.DataFrame:
    """Arrow (a table or a record batch) to the raw pandas frame ``normalise`` takes."""
    import pyarrow as pa

    mapping = {pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(), pa.bool_(): pd.BooleanDtype()}
    return data.to_pandas(types_mapper=mapping.get, date_as_object=False)


def open_batches(path: str | Path, table: Table, batch_rows: int = 1 << 20) -> BatchReader:
    """Open ``path`` (format by extension) to read ``table`` in batches of about ``batch_rows``."""
    import pyarrow as pa

    path, fmt, digest = _open_file(path)
    if fmt == "csv":
        raw_schema, batches, first_line = _csv_batches(path, batch_rows)
    else:
        raw_schema, batches, first_line = _parquet_batches(path, batch_rows)
    _check_reserved(raw_schema.names, path)
    names = list(_normalise_names(pd.DataFrame(columns=raw_schema.names), path).columns)
    check_required(names, table, path)
    if fmt != "csv":
        raw_schema = plain_columns(raw_schema.empty_table(), path, table).schema
        batches = (plain_columns(b, path, table) for b in batches)

    def numbered() -> Iterator[pa.RecordBatch]:
        line = first_line
        for batch in batches:
            lines = pa.array(np.arange(line, line + batch.num_rows, dtype=np.int64))
            line += batch.num_rows
            yield pa.RecordBatch.from_arrays([*batch.columns, lines], names=[*names, LINE])

    schema = pa.schema([pa.field(n, f.type) for n, f in zip(names, raw_schema)] + [pa.field(LINE, pa.int64())])
    return BatchReader(path=path, table=table, names=names, schema=schema, batches=numbered(), sha256=digest)


def _csv_batches(path: Path, batch_rows: int):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    header = _csv_header(path)
    names = [f"c{i}" for i in range(len(header))]
    shape_errors = _ShapeErrors()

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            reader = pacsv.open_csv(
                path,
                read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, block_size=1 << 24),
                parse_options=_csv_parse_options(shape_errors),
                convert_options=_csv_convert_options(names),
            )
            for batch in reader:
                for start in range(0, batch.num_rows, batch_rows):
                    yield batch.slice(start, batch_rows)
        except (pa.ArrowException, OSError, EOFError) as e:
            if shape_errors.rows:
                raise InputError(path, _shape_message(path, len(header))) from None
            if "Empty CSV file" in str(e) or _only_header(path):
                return
            reason = "not UTF-8 text" if "UTF8" in str(e) or "utf8" in str(e) else type(e).__name__
            raise InputError(path, f"cannot be read as CSV ({reason})") from None

    return pa.schema([pa.field(h, pa.string()) for h in header]), batches(), 2


def _parquet_batches(path: Path, batch_rows: int):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # pre_buffer caches what it reads ahead and, measured, grew by ~20 MB a row group: off.
        handle = pq.ParquetFile(path, pre_buffer=False)
    except (pa.ArrowException, OSError) as e:
        raise InputError(path, f"cannot be read as Parquet ({type(e).__name__})") from None

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from handle.iter_batches(batch_size=batch_rows)
        except (pa.ArrowException, OSError) as e:
            raise InputError(path, f"cannot be read as Parquet ({type(e).__name__})") from None

    return handle.schema_arrow, batches(), 1


# --- names and rows -----------------------------------------------------------


def _normalise_names(raw: pd.DataFrame, path: str | Path | None) -> pd.DataFrame:
    names = [str(c).strip().lower() for c in raw.columns]
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise InputError(path, f"column '{name}' appears more than once", column=name)
        seen.add(name)
    raw = raw.copy(deep=False)
    raw.columns = names
    return raw


def _blank_rows(raw: pd.DataFrame) -> pd.Series | None:
    """Rows whose every field is empty text (blank lines in a CSV, empty rows of a text export)."""
    if raw.empty or not all(_is_text(raw[c]) for c in raw.columns):
        return None
    blank = np.ones(len(raw), dtype=bool)
    for c in raw.columns:
        blank &= _blank_text(raw[c])
        if not blank.any():
            break
    return pd.Series(blank, index=raw.index)


def _problems(
    table: str, frame: pd.DataFrame, bad: list[tuple[str, str, pd.Series]], texts: dict[str, pd.Series]
) -> pd.DataFrame:
    if not bad:
        return empty_problems()
    parts = []
    for column, rule, mask in bad:
        mask = mask.to_numpy(dtype=bool)
        parts.append(
            pd.DataFrame(
                {
                    "table": table,
                    "line": frame[LINE].to_numpy()[mask],
                    "case_id": frame["case_id"].to_numpy()[mask] if "case_id" in frame else None,  # (history: none)
                    "column": column,
                    "value": texts[column].to_numpy()[mask],
                    "rule": rule,
                }
            )
        )
    problems = pd.concat(parts, ignore_index=True)
    problems = problems.astype({"table": "str", "line": "Int64", "case_id": "str",
                                "column": "str", "value": "str", "rule": "str"})
    return problems.sort_values("line", kind="stable").reset_index(drop=True)


# --- values -------------------------------------------------------------------



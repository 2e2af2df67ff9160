"""Writing the output folder's tables: part by part, under temporary names, renamed when complete."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from stalkrisk.io_utils import atomic_path
from stalkrisk.outputs.schema import SCORES_SCHEMA, TABLE_FILES, explanations_schema

ROW_GROUP_ROWS = 1 << 18  # rows of the wide explanations a row group holds (~90 columns each)


def _encoded(schema: pa.Schema) -> pa.Schema:
    """The explanations as ``explain.wide_table`` builds them: text dictionary-encoded."""
    return pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if pa.types.is_string(f.type) else f
                      for f in schema])


#: The first characters a spreadsheet runs as a formula (OWASP "CSV injection"): = + - @ tab CR.
FORMULA_START = np.frombuffer(b"=+-@\t\r", dtype=np.uint8)


def formula_rows(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Per row: does the text start with a character a spreadsheet would run?

    Read from the first byte of each value in Arrow's buffers (every such character is
    ASCII, so its first UTF-8 byte is itself): no text is decoded, where a regular expression
    over the same columns would be a visible share of the write's hot path.
    """
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    parts = []
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        width = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
        _, offsets, data = chunk.buffers()
        off = np.frombuffer(offsets, dtype=width)[chunk.offset: chunk.offset + len(chunk) + 1]
        hit = np.zeros(len(chunk), dtype=bool)
        nonempty = np.flatnonzero(off[1:] > off[:-1])
        if len(nonempty):
            hit[nonempty] = np.isin(np.frombuffer(data, dtype=np.uint8)[off[nonempty]], FORMULA_START)
        if chunk.null_count:
            hit &= chunk.is_valid().to_numpy(zero_copy_only=False)
        parts.append(hit)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=bool)


def neutralise_formulas(table: pa.Table) -> pl.DataFrame:
    """The table for ``scores.csv``: text a spreadsheet would run gets a leading ``'`` (OWASP).

    Only the CSV is neutralised, the file people open in a spreadsheet; Parquet keeps the true
    values (programs read it). A neutralised cell is also quoted by the CSV writer when it holds
    a comma, quote or line break, as every cell is.
    """
    frame = pl.from_arrow(table)
    fixes = []
    for name in table.column_names:
        if not pa.types.is_string(table.schema.field(name).type) and not pa.types.is_large_string(table.schema.field(name).type):
            continue
        hit = formula_rows(table[name])
        if hit.any():
            fixes.append(pl.when(pl.Series(hit)).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name)).alias(name))
    return frame.with_columns(fixes) if fixes else frame


def _write_csv_rows(table: pa.Table, file: BinaryIO) -> None:
    """Append the rows as CSV, without the header (written once, when the file opens).

    Scores with six decimals, booleans as ``true``/``false``, missing and empty text as an
    empty field; a field is quoted only when it holds a comma, quote or line break; text that
    a spreadsheet would run (``=``, ``+``, ``-``, ``@``, tab or CR first) starts with ``'``.
    """
    frame = neutralise_formulas(table).with_columns(pl.col(pl.String).replace("", None))
    frame.write_csv(file, include_header=False, float_precision=6, line_terminator="\n")


@dataclass
class TableWriters:
    """The three tables, written part by part under temporary names.

    One background thread writes a part while the next is computed (Arrow and
    polars encode and compress without holding the GIL, and the machine has two
    cores); parts are written in order, and at most one waits, so memory stays flat.
    """

    scores_parquet: pq.ParquetWriter
    scores_csv: BinaryIO
    explanations: pq.ParquetWriter
    _thread: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "stalkrisk-write"))
    _pending: Future | None = None

    def write(self, scores: pd.DataFrame, explanations: pa.Table | None) -> None:
        """Queue one part's rows, after the previous part's are written (its error raised here)."""
        table = pa.Table.from_pandas(scores, schema=SCORES_SCHEMA, preserve_index=False)
        self.flush()
        self._pending = self._thread.submit(self._write, table, explanations)

    def flush(self) -> None:
        """Wait for the part being written; raise what writing it raised."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        """Stop the thread (after its write, whose error is left to ``flush``) and close the files."""
        self._thread.shutdown(wait=True)
        self.scores_parquet.close()
        self.explanations.close()
        self.scores_csv.close()

    def _write(self, table: pa.Table, explanations: pa.Table | None) -> None:
        self.scores_parquet.write_table(table)
        _write_csv_rows(table, self.scores_csv)
        if explanations is not None and explanations.num_rows:
            write_explanations(self.explanations, explanations)


def explanations_writer(path: Path, feature_names: list[str] | tuple[str, ...]) -> pq.ParquetWriter:
    """The writer of the wide ``explanations.parquet`` (tables go in through ``write_explanations``).

    Statistics only for case_id and outcome (what a reader filters on); dictionaries for the
    columns that repeat (case ids, outcomes, base values); the contributions plain (few repeat).
    No Arrow schema is stored, so the text reads back as plain strings, not categories.
    """
    return pq.ParquetWriter(
        path, _encoded(explanations_schema(feature_names)), compression="zstd", store_schema=False,
        use_dictionary=["case_id", "outcome", "base_value"], write_statistics=["case_id", "outcome"],
    )


def write_explanations(writer: pq.ParquetWriter, explanations: pa.Table) -> None:
    """Append one part's wide table (``explain.wide_table``) in row groups of ``ROW_GROUP_ROWS``.

    The dictionary-encoded text is written as it is (Parquet keeps its own dictionaries),
    so no string is ever built per row.
    """
    for start in range(0, explanations.num_rows, ROW_GROUP_ROWS):
        writer.write_table(explanations.slice(start, ROW_GROUP_ROWS).cast(writer.schema))


@contextmanager
def open_tables(out: Path, feature_names: list[str] | tuple[str, ...]) -> Iterator[TableWriters]:
    """The output tables under temporary names; ``feature_names``: the model's (the explanations' columns)."""
    with ExitStack() as stack:
        paths = {name: stack.enter_context(atomic_path(out / name)) for name in TABLE_FILES}
        scores_parquet = pq.ParquetWriter(paths["scores.parquet"], SCORES_SCHEMA, compression="zstd")
        explanations = explanations_writer(paths["explanations.parquet"], feature_names)
        csv_file = open(paths["scores.csv"], "wb")  # noqa: SIM115 - closed below, before the rename
        csv_file.write((",".join(SCORES_SCHEMA.names) + "\n").encode("utf-8"))
        outputs = TableWriters(scores_parquet, csv_file, explanations)
        try:
            yield outputs
            outputs.flush()
        finally:
            outputs.close()

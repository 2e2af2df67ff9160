"""Writing the output folder's tables: part by part, under temporary names, renamed when complete."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from stalkrisk.io_utils import atomic_path
from stalkrisk.outputs.schema import EXPLANATIONS_SCHEMA, SCORES_SCHEMA, TABLE_FILES

ROW_GROUP_ROWS = 1 << 20  # pyarrow's default maximum
#: The explanations as ``explain.long_table`` builds them: text dictionary-encoded.
_EXPLANATIONS_ENCODED = pa.schema(
    [pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if pa.types.is_string(f.type) else f
     for f in EXPLANATIONS_SCHEMA]
)


def _write_csv_rows(table: pa.Table, file: BinaryIO) -> None:
    """Append the rows as CSV, without the header (written once, when the file opens).

    Scores with six decimals, booleans as ``true``/``false``, missing and empty text as an
    empty field; a field is quoted only when it holds a comma, quote or line break.
    """
    frame = pl.from_arrow(table).with_columns(pl.col(pl.String).replace("", None))
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


def explanations_writer(path: Path) -> pq.ParquetWriter:
    """The writer of ``explanations.parquet`` (tables go in through ``write_explanations``).

    Statistics only for case_id (what a reader filters on); dictionaries for the columns that
    repeat. Measured: a fifth less writing time than the defaults, for a file of the same size.
    No Arrow schema is stored, so the text reads back as plain strings, not categories.
    """
    return pq.ParquetWriter(
        path, _EXPLANATIONS_ENCODED, compression="zstd", store_schema=False,
        use_dictionary=["case_id", "feature", "group", "value", "base_value"], write_statistics=["case_id"],
    )


def write_explanations(writer: pq.ParquetWriter, explanations: pa.Table) -> None:
    """Append one part's long table (``explain.long_table``) in row groups of the default size.

    The dictionary-encoded text is written as it is (Parquet keeps its own dictionaries),
    so no string is ever built per row.
    """
    for start in range(0, explanations.num_rows, ROW_GROUP_ROWS):
        writer.write_table(explanations.slice(start, ROW_GROUP_ROWS).cast(_EXPLANATIONS_ENCODED))


@contextmanager
def open_tables(out: Path) -> Iterator[TableWriters]:
    with ExitStack() as stack:
        paths = {name: stack.enter_context(atomic_path(out / name)) for name in TABLE_FILES}
        scores_parquet = pq.ParquetWriter(paths["scores.parquet"], SCORES_SCHEMA, compression="zstd")
        explanations = explanations_writer(paths["explanations.parquet"])
        csv_file = open(paths["scores.csv"], "wb")  # noqa: SIM115 - closed below, before the rename
        csv_file.write((",".join(SCORES_SCHEMA.names) + "\n").encode("utf-8"))
        outputs = TableWriters(scores_parquet, csv_file, explanations)
        try:
            yield outputs
            outputs.flush()
        finally:
            outputs.close()

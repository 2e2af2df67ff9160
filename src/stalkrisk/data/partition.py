"""Split a caseload's two files into case-aligned parts on disk, in one streaming pass.

Why: a national export does not fit in memory alongside its features and
explanations, but each case needs only its own events. Part ``k`` holds the case
rows ``k * chunk_size`` to ``(k + 1) * chunk_size - 1`` in input order and every
event naming one of them, so it can be read, validated and scored on its own,
and memory stays flat however large the caseload grows.

Rules across rows need the whole file, so the pass also finds:

- case rows sharing a ``case_id`` and events sharing an ``event_id`` (event ids are
  spread over hash buckets on disk, so this too runs in bounded memory); their rows
  are kept as *context* for the parts, so the uniqueness rule in Great Expectations
  sees every row of a duplicate, whichever part it sits in;
- events naming no case (or no case id): they go to the *unattached* part.

An event naming a duplicated case id goes to every part holding that id, so each
of those case rows carries the event's failures, as in the whole-file validation.
Raw values are spilled as Arrow IPC; the reader's normalisation runs per part.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from stalkrisk.errors import InputError
from stalkrisk.data import contract

from stalkrisk.data import readers
from stalkrisk.data.ids import IdIndex, repeated
from stalkrisk.data.memory import release_free_memory
from stalkrisk.data.readers import LINE, ReadResult

log = logging.getLogger(__name__)

EVENT_ID_BUCKETS = 16


@dataclass
class Partitioned:
    """The parts on disk, the rows that rules across parts need, and the inputs' facts."""

    workdir: Path
    n_parts: int
    cases_reader: readers.BatchReader
    events_reader: readers.BatchReader
    counts: dict[str, int]
    context: dict[str, pd.DataFrame] = field(default_factory=dict)  # normalised duplicate rows
    repeated_event_lines: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    @property
    def inputs(self) -> dict[str, dict]:
        return {r.table.name: {"path": str(r.path), "sha256": r.sha256, "rows": self.counts[r.table.name]}
                for r in (self.cases_reader, self.events_reader)}

    def read(self, k: int | None) -> tuple[ReadResult, ReadResult]:
        """Normalised cases and events of part ``k`` (``None``: the unattached events)."""
        cases = _read_spill(_spill_path(self.workdir, "cases", k), self.cases_reader.schema)
        events = _read_spill(_spill_path(self.workdir, "events", k), self.events_reader.schema)
        return (_normalise(cases, self.cases_reader), _normalise(events, self.events_reader))

    def read_cases(self, k: int) -> pd.DataFrame:
        """The normalised case rows of part ``k`` alone (a pass over the cases, such as linking by
        suspect, reads no events)."""
        cases = _read_spill(_spill_path(self.workdir, "cases", k), self.cases_reader.schema)
        return _normalise(cases, self.cases_reader).frame

    def parts(self) -> Iterator[int]:
        return iter(range(self.n_parts))


def partition(
    cases_path: str | Path,
    events_path: str | Path,
    workdir: str | Path,
    *,
    chunk_size: int,
    batch_rows: int = 1 << 20,
) -> Partitioned:
    """Stream both files once into ``workdir``; see the module docstring."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    # Cases in batches of at most a part: a file written as one row group is still read a part at a time.
    cases_reader = readers.open_batches(cases_path, contract.CASES, min(batch_rows, chunk_size))
    events_reader = readers.open_batches(events_path, contract.EVENTS, batch_rows)

    ids, case_lines = _spill_cases(cases_reader, workdir, chunk_size)
    n_cases = len(ids)
    if n_cases == 0:
        raise InputError(cases_reader.path, "has no case rows (a header only, or blank lines): nothing to score")
    n_parts = max(1, -(-n_cases // chunk_size))
    case_part = (np.arange(n_cases) // chunk_size).astype(np.int64)
    index = IdIndex(ids)
    duplicate_case = repeated(ids)
    extra_parts = _extra_parts(ids, case_part, duplicate_case)

    n_events, copied_lines = _spill_events(events_reader, workdir, index, case_part, extra_parts)
    duplicate_event_lines = _duplicate_event_lines(workdir)
    del index
    release_free_memory()  # hand the pass's working memory back before scoring

    parted = Partitioned(
        workdir=workdir, n_parts=n_parts, cases_reader=cases_reader, events_reader=events_reader,
        counts={"cases": n_cases, "events": n_events}, repeated_event_lines=copied_lines,
    )
    parted.context = {  # an event may sit in several parts (its case id is duplicated): look in all
        "cases": _gather(cases_reader, [_spill_path(workdir, "cases", int(k))
                                        for k in np.unique(case_part[duplicate_case])], case_lines[duplicate_case]),
        "events": _gather(events_reader, sorted(workdir.glob("events-*.arrow")), duplicate_event_lines),
    }
    log.info("partitioned %d cases and %d events into %d parts", n_cases, n_events, n_parts)
    return parted


# --- the pass -------------------------------------------------------------------


def _ids(batch: pa.RecordBatch, column: str) -> pa.Array:
    """The column's values as the reader normalises them (trimmed text; empty is missing)."""
    values = readers.clean_text(readers.arrow_to_frame(batch.select([column]))[column])
    return pa.array(values, type=pa.large_string(), from_pandas=True)


def _spill_cases(reader: readers.BatchReader, workdir: Path, chunk_size: int) -> tuple[pa.Array, np.ndarray]:
    """Write each part's case rows; return every row's normalised id and line, in order."""
    ids: list[pa.Array] = []
    lines: list[np.ndarray] = []
    writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
    row = 0
    try:
        for batch in reader.batches:
            ids.append(_ids(batch, "case_id"))
            lines.append(batch.column(LINE).to_numpy())
            start = 0
            while start < batch.num_rows:
                k = (row + start) // chunk_size
                stop = min(batch.num_rows, (k + 1) * chunk_size - row)
                if k not in writers:
                    for old in list(writers):  # cases arrive in order: earlier parts are complete
                        writers.pop(old).close()
                    writers[k] = pa.ipc.new_stream(_spill_path(workdir, "cases", k), reader.schema)
                writers[k].write_batch(batch.slice(start, stop - start))
                start = stop
            row += batch.num_rows
    finally:
        for w in writers.values():
            w.close()
    all_ids = pa.concat_arrays(ids) if ids else pa.array([], type=pa.large_string())
    return all_ids, np.concatenate(lines) if lines else np.empty(0, np.int64)


def _extra_parts(ids: pa.Array, case_part: np.ndarray, duplicate: np.ndarray) -> dict[str, list[int]]:
    """For a duplicated case id, the parts holding it after its first."""
    if not duplicate.any():
        return {}
    frame = pd.DataFrame({"id": ids.filter(pa.array(duplicate)).to_pylist(), "part": case_part[duplicate]})
    out = {}
    for case_id, parts in frame.groupby("id", sort=False)["part"]:
        later = sorted(set(parts.tolist()) - {int(parts.iloc[0])})
        if later:
            out[case_id] = later
    return out


def _spill_events(
    reader: readers.BatchReader,
    workdir: Path,
    index: IdIndex,
    case_part: np.ndarray,
    extra_parts: dict[str, list[int]],
) -> tuple[int, np.ndarray]:
    """Route every event row to the part(s) holding its case; bucket event ids by hash.

    Returns the number of event rows and the lines of events written to more than
    one part (they name a duplicated case id).
    """
    import polars as pl

    has_event_id = "event_id" in reader.names
    bucket_schema = pa.schema([("id", pa.large_string()), (LINE, pa.int64())])
    writers: dict[object, pa.ipc.RecordBatchStreamWriter] = {}
    buckets: list[pa.ipc.RecordBatchStreamWriter] = []
    copied_lines: list[np.ndarray] = []
    extra_ids = pa.array(list(extra_parts), type=pa.large_string())
    n = 0

    def write(key, table: pa.Table) -> None:
        if key not in writers:
            writers[key] = pa.ipc.new_stream(_spill_path(workdir, "events", key), reader.schema)
        writers[key].write_table(table)

    try:
        if has_event_id:
            buckets = [pa.ipc.new_stream(workdir / f"event-ids-{b:02d}.arrow", bucket_schema)
                       for b in range(EVENT_ID_BUCKETS)]
        for batch in reader.batches:
            n += batch.num_rows
            ids = _ids(batch, "case_id")
            where = index.first_row(ids)
            part = np.where(where >= 0, case_part[np.maximum(where, 0)], -1)
            table = pa.Table.from_batches([batch])
            starts = np.flatnonzero(np.r_[True, part[1:] != part[:-1]]) if len(part) else np.empty(0, np.int64)
            if len(starts) == len(np.unique(part)):  # each part one run (an export sorted by case): slices, no copy
                for s, e in zip(starts.tolist(), [*starts[1:].tolist(), len(part)]):
                    write(None if part[s] < 0 else int(part[s]), table.slice(s, e - s))
            else:
                for k in np.unique(part).tolist():
                    write(None if k < 0 else k, table.take(pa.array(np.flatnonzero(part == k))))
            if len(extra_ids):
                again = pc.is_in(ids, value_set=extra_ids, skip_nulls=True).fill_null(False).to_numpy(
                    zero_copy_only=False)
                if again.any():
                    rows = np.flatnonzero(again)
                    copied_lines.append(batch.column(LINE).to_numpy()[rows])
                    for row in rows:
                        for k in extra_parts[ids[int(row)].as_py()]:
                            write(k, pa.Table.from_batches([batch.slice(int(row), 1)]))
            if has_event_id:
                event_ids = _ids(batch, "event_id")
                present = pc.is_valid(event_ids)
                keyed = pa.table({"id": event_ids, LINE: batch.column(LINE)}).filter(present)
                bucket = (pl.from_arrow(keyed["id"]).hash(seed=7) % EVENT_ID_BUCKETS).to_numpy()
                for b in np.unique(bucket):
                    buckets[int(b)].write_table(keyed.filter(pa.array(bucket == b)))
    finally:
        for w in [*writers.values(), *buckets]:
            w.close()
    return n, np.concatenate(copied_lines) if copied_lines else np.empty(0, np.int64)


def _duplicate_event_lines(workdir: Path) -> np.ndarray:
    """Lines of events whose event id appears more than once, bucket by bucket."""
    found = []
    for path in sorted(workdir.glob("event-ids-*.arrow")):
        with pa.ipc.open_stream(path) as r:
            table = r.read_all()
        path.unlink()
        if table.num_rows:
            dup = repeated(table["id"])
            found.append(table[LINE].to_numpy()[dup])
    return np.sort(np.concatenate(found)) if found else np.empty(0, np.int64)


def _gather(reader: readers.BatchReader, paths: list[Path], lines: np.ndarray) -> pd.DataFrame:
    """The normalised rows at ``lines``, from the spill files ``paths`` (each row once)."""
    wanted = pa.array(lines, type=pa.int64())
    pieces = [reader.schema.empty_table()]
    if len(lines):
        for path in paths:
            spilled = _read_spill(path, reader.schema)
            pieces.append(spilled.filter(pc.is_in(spilled[LINE], value_set=wanted)))
    frame = _normalise(pa.concat_tables(pieces), reader).frame
    return frame.drop_duplicates(subset=[LINE]).reset_index(drop=True)


def _spill_path(workdir: Path, table: str, k: int | None) -> Path:
    """Part ``k``'s spill file of ``table`` (``None``: the unattached events)."""
    return workdir / f"{table}-{'unattached' if k is None else f'{k:05d}'}.arrow"


def _read_spill(path: Path, schema: pa.Schema) -> pa.Table:
    if not path.exists():
        return schema.empty_table()
    with pa.ipc.open_stream(path) as r:
        return r.read_all()


def _normalise(table: pa.Table, reader: readers.BatchReader) -> ReadResult:
    result = readers.normalise(readers.arrow_to_frame(table), reader.table, path=reader.path)
    result.sha256 = reader.sha256
    return result

"""What runs inside Spark tasks: read the inputs with the project's readers, and score a partition.

Why these are the project's own functions, not Spark's: the contract's normalisation
(``_line`` as the line in the file, blank rows skipped, quoted newlines, ``Z``/UK-local
times, BOMs) is defined by ``readers``; Spark's CSV reader numbers no lines and parses
differently. So a task reads a whole file with ``readers.open_batches`` (CSV and gzip are
not splittable without losing line numbers) and hands Spark raw rows plus two keys: the
normalised ``case_id`` (``_key``, what the shuffle co-partitions by) and ``event_id``.

A scoring task receives one hash partition sorted by ``_key``, cuts it into sub-chunks of
about ``chunk_size`` cases at key boundaries (every row of a case id, and every event
naming it, in the same sub-chunk), and runs ``validation.validate`` (with the duplicate
event ids of the whole file as context, as ``partition`` gives every part), ``score_chunk``,
``assemble_scores`` and the review pages: the single-machine path's functions on the same
rows. Its results go to files split by the single-machine part (``row // chunk_size``), so
the driver can write each part exactly as the single-machine run does.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from stalkrisk.data import contract
from stalkrisk.data import readers
from stalkrisk.data.readers import LINE

TAG, KEY, ROW, EID, SID = "_tag", "_key", "_row", "_eid", "_sid"
PREFIX = {"cases": "c__", "events": "e__", "orders": "o__"}
SUMMARY_SCHEMA = pa.schema([
    ("partition", pa.int64()), ("cases", pa.int64()), ("orphan_events", pa.int64()),
    ("events", pa.int64()), ("events_valid", pa.int64()), ("validation_warnings", pa.int64()),
    ("files", pa.list_(pa.string())), ("pages", pa.list_(pa.string())),
    ("base_values", pa.list_(pa.float64())), ("feature_names", pa.list_(pa.string())),
])
#: Test-only: the partition whose task dies (``os._exit``) after writing its first sub-chunk.
FAIL_ENV = "STALKRISK_SPARK_TEST_FAIL_PARTITION"


@dataclass(frozen=True)
class FileSpec:
    """One input file as the tasks read it: its table, path and raw columns (normalised names)."""

    table: str
    path: str
    names: tuple[str, ...]
    spark_types: tuple[pa.DataType, ...]  # each raw column's type as Spark carries it


def spark_safe(t: pa.DataType) -> pa.DataType:
    """The Arrow type Spark can carry without changing a value (text categories become text)."""
    if pa.types.is_dictionary(t):
        return spark_safe(t.value_type)
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_timestamp(t) and t.unit == "ns":
        return pa.timestamp("us", t.tz)  # cast with safe=True below: sub-microsecond values refuse
    return t


def describe(path: str | Path, table: contract.Table) -> FileSpec:
    """Open ``path`` as the single-machine run does (clear errors, required columns) and describe it."""
    reader = readers.open_batches(path, table, 1)
    raw = [f for f in reader.schema if f.name != LINE]
    return FileSpec(table.name, str(reader.path), tuple(f.name for f in raw),
                    tuple(spark_safe(f.type) for f in raw))


def read_rows(spec: FileSpec, arrow_schema: pa.Schema, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """A whole file as Spark rows: prefixed raw columns, ``_line``, the row number and the keys."""
    table = contract.TABLES[spec.table]
    reader = readers.open_batches(spec.path, table, batch_rows)
    row = 0
    from stalkrisk.data.partition import _ids  # the normalised id exactly as the single-machine pass keys it

    for batch in reader.batches:
        n = batch.num_rows
        cols = {f.name: pa.nulls(n, f.type) for f in arrow_schema}
        for name in spec.names:
            target = arrow_schema.field(PREFIX[spec.table] + name).type
            cols[PREFIX[spec.table] + name] = batch.column(name).cast(target, safe=True)
        cols[TAG] = pa.array([spec.table] * n, pa.string())
        cols[LINE] = batch.column(LINE)
        cols[ROW] = pa.array(np.arange(row, row + n, dtype=np.int64))
        cols[KEY] = _ids(batch, "case_id").cast(pa.string())  # the case id: the driver re-keys by person
        if spec.table == "events" and "event_id" in spec.names:
            cols[EID] = _ids(batch, "event_id").cast(pa.string())
        if spec.table in ("cases", "orders") and "suspect_id" in spec.names:
            cols[SID] = _ids(batch, "suspect_id").cast(pa.string())
        row += n
        yield pa.RecordBatch.from_arrays([cols[f.name] for f in arrow_schema], schema=arrow_schema)


def raw_frame(rows: pa.Table, spec: FileSpec) -> pd.DataFrame:
    """This table's rows, unprefixed, in file order: the raw frame ``readers.normalise`` takes."""
    rows = rows.filter(pc.equal(rows[TAG], spec.table))
    rows = rows.take(pc.sort_indices(rows[LINE]))
    names = [PREFIX[spec.table] + n for n in spec.names]
    picked = rows.select([*names, LINE]).rename_columns([*spec.names, LINE])
    return readers.arrow_to_frame(picked)


# --- the scoring task ---------------------------------------------------------------

_CACHE: dict[str, object] = {}  # per Python worker (reused across tasks): the model and the suites


def _model(model_files: dict[str, str], digest: str):
    """The driver's model, rebuilt from its two files with ``RiskModel.load``; checked by digest."""
    from stalkrisk.model.risk_model import RiskModel

    if _CACHE.get("digest") != digest:
        with tempfile.TemporaryDirectory(prefix="stalkrisk-model-") as tmp:
            for name, text in model_files.items():
                Path(tmp, name).write_text(text, encoding="utf-8")
            model = RiskModel.load(tmp)
        if model.digest() != digest:
            raise RuntimeError("the model rebuilt on the executor differs from the driver's")
        _CACHE.update(digest=digest, model=model)
    return _CACHE["model"]


def _runner():
    from stalkrisk.validation.suite import SuiteRunner, load_suites

    if "runner" not in _CACHE:
        _CACHE["runner"] = SuiteRunner(load_suites())
    return _CACHE["runner"]


def _run_start(keys: pa.Array) -> int:
    """Where the trailing run of equal keys starts (missing equals missing)."""
    last = keys[len(keys) - 1]
    same = pc.is_null(keys) if not last.is_valid else pc.fill_null(pc.equal(keys, last), False)
    different = np.flatnonzero(~same.to_numpy(zero_copy_only=False))
    return int(different[-1]) + 1 if len(different) else 0


def sub_chunks(batches: Iterator[pa.RecordBatch], chunk_size: int) -> Iterator[pa.Table]:
    """Rows sorted by ``_key`` in tables of at least ``chunk_size`` cases, cut only between keys."""
    held: list[pa.RecordBatch] = []
    cases = 0
    for batch in batches:
        held.append(batch)
        cases += int(pc.sum(pc.equal(batch.column(TAG), "cases")).as_py() or 0)
        if cases >= chunk_size:
            table = pa.Table.from_batches(held)
            cut = _run_start(table[KEY].combine_chunks())
            if cut == 0:
                continue  # one case id fills the buffer: keep reading to its end
            yield table.slice(0, cut)
            rest = table.slice(cut)
            held = rest.to_batches()
            cases = int(pc.sum(pc.equal(rest[TAG], "cases")).as_py() or 0)
    if held:
        yield pa.Table.from_batches(held)


@dataclass
class Job:
    """Everything a scoring task needs, shipped in its closure (small: no case data)."""

    cases: FileSpec
    events: FileSpec
    work: str
    chunk_size: int
    method: str
    review: str
    model_files: dict[str, str]
    digest: str
    model_name: str
    model_version: str
    model_uri: str
    run_id: str
    context_events: pd.DataFrame  # normalised rows whose event id appears more than once
    fail_partition: int | None = None
    orders: FileSpec | None = None  # the orders table, when given: its rows come co-partitioned
    orders_check: object | None = None  # its ``OrdersCheck`` from the driver (rows left out): judged once


def local_orders(rows: pa.Table, job: Job) -> pd.DataFrame | None:
    """The valid orders rows of a sub-chunk, in file order, each once: what the single-machine run
    applies, cut to the orders naming these cases or their suspects.

    The driver judged the whole table once (``job.orders_check``); its failing lines are left out
    here. An order naming a case and a different suspect reaches two partitions (or one twice):
    each applies it only to its own cases, and a repeat within one sub-chunk is dropped by line.
    """
    if job.orders is None:
        return None
    frame = readers.normalise(raw_frame(rows, job.orders), contract.ORDERS, path=job.orders.path).frame
    bad = job.orders_check.failures["line"].to_numpy()
    frame = frame.loc[~frame[LINE].isin(bad).to_numpy(dtype=bool)].drop_duplicates(subset=[LINE])
    return frame.reset_index(drop=True)


def score_partition(job: Job, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Score one hash partition (see the module docstring); yield its one summary row."""
    from pyspark import TaskContext

    from stalkrisk.scoring import assemble_scores, score_chunk
    from stalkrisk.pipelines.score import NO_SCORES
    from stalkrisk.tracking.registry import LoadedModel
    from stalkrisk.validation.orders import apply_orders
    from stalkrisk.validation.suite import validate

    ctx = TaskContext.get()
    pid, attempt = ctx.partitionId(), ctx.attemptNumber()
    _threads(ctx.cpus())
    model = _model(job.model_files, job.digest)
    loaded = LoadedModel(model=model, name=job.model_name, version=job.model_version, run_id=job.run_id,
                         uri=job.model_uri, digest=job.digest)
    runner = _runner()
    files, pages, n_cases, orphans, n_events, n_events_valid, n_warnings = [], set(), 0, 0, 0, 0, 0
    base, names = None, None
    for s, rows in enumerate(sub_chunks(batches, job.chunk_size)):
        cases_raw, events_raw = raw_frame(rows, job.cases), raw_frame(rows, job.events)
        row_of_line = dict(zip(cases_raw[LINE].tolist(), rows.filter(pc.equal(rows[TAG], "cases"))
                               .sort_by(LINE)[ROW].to_pylist()))
        cases = readers.normalise(cases_raw, contract.CASES, path=job.cases.path)
        events = readers.normalise(events_raw, contract.EVENTS, path=job.events.path)
        context = {"events": job.context_events} if len(job.context_events) else None
        checked = validate(cases, events, runner=runner, context=context)
        orders = local_orders(rows, job)
        if orders is not None:
            from dataclasses import replace

            checked = apply_orders(checked, replace(job.orders_check, orders=orders))
        n_warnings += len(checked.warnings)
        orphans += checked.counts["orphan_events"]
        n_events += checked.counts["events"]
        n_events_valid += checked.counts["events_valid"]
        n_cases += len(checked.cases_all)
        result = (score_chunk(model, checked.cases, checked.events, method=job.method, orders=orders)
                  if len(checked.cases) else None)
        scores = assemble_scores(checked.cases_all, checked.quarantine,
                                 result.scores if result is not None else NO_SCORES, job.model_name, job.model_version)
        if job.review != "none" and result is not None:
            from stalkrisk.pipelines import review as review_mod
            from stalkrisk.report.render import write_case_pages

            views = review_mod.case_views(loaded, result, checked.cases, checked.events,
                                          only_flagged=job.review == "flagged")
            pages = write_case_pages(Path(job.work) / "review", views, pages, create=False)
        rows_out = np.array([row_of_line[int(x)] for x in checked.cases_all[LINE]], dtype=np.int64)
        files += _write_results(job, pid, attempt, s, rows_out, scores, result, list(model.feature_names),
                                model.outcomes)
        if result is not None:  # one base value per outcome, in the model's outcome order
            base = [float(result.outcome_explanations[o].base_value) for o in model.outcomes]
            names = list(result.explanation.feature_names)
        if job.fail_partition == pid:
            os._exit(1)  # test-only: the worker dies mid-task, as when an executor is killed
    yield pa.RecordBatch.from_pylist([{
        "partition": pid, "cases": n_cases, "orphan_events": orphans, "events": n_events,
        "events_valid": n_events_valid, "validation_warnings": n_warnings, "files": files,
        "pages": sorted(pages), "base_values": base, "feature_names": names,
    }], schema=SUMMARY_SCHEMA)


def _threads(cpus: int) -> None:
    """One task, its share of cores: numba's TreeSHAP threads must not oversubscribe the executor."""
    try:
        import numba

        numba.set_num_threads(max(1, min(cpus, numba.config.NUMBA_NUM_THREADS)))
    except (ImportError, ValueError):
        pass


def _write_results(job: Job, pid: int, attempt: int, s: int, rows: np.ndarray, scores: pd.DataFrame,
                   result, feature_names: list[str], outcomes: tuple[str, ...]) -> list[str]:
    """Write the sub-chunk's rows to one Arrow file per single-machine part; return the file names.

    Each row carries its case's contributions per outcome (``_contrib_<outcome>``, a fixed-size list)."""
    from stalkrisk.outputs.schema import SCORES_SCHEMA

    table = pa.Table.from_pandas(scores, schema=SCORES_SCHEMA, preserve_index=False)
    p = len(feature_names)
    if result is not None:
        names = list(result.explanation.feature_names)
        if names != feature_names:
            raise RuntimeError("the explanation's features differ from the model's")
        position = pd.Series(np.arange(len(result.scores)), index=result.scores["case_id"].to_numpy())
        at = position.reindex(table["case_id"].to_numpy(zero_copy_only=False)).to_numpy()
        scored = np.asarray(pc.equal(table["status"], "scored").to_numpy(zero_copy_only=False), dtype=bool)
        contrib = {}
        for outcome in outcomes:
            contrib[outcome] = np.full((len(rows), p), np.nan)
            contrib[outcome][scored] = result.outcome_explanations[outcome].contributions[at[scored].astype(np.int64)]
    if result is None:
        empty = pa.nulls(len(rows), pa.list_(pa.float64(), p))
        for outcome in outcomes:
            table = table.append_column(f"_contrib_{outcome}", empty)
    else:
        for outcome in outcomes:
            arr = pa.FixedSizeListArray.from_arrays(pa.array(contrib[outcome].reshape(-1)), p, mask=pa.array(~scored))
            table = table.append_column(f"_contrib_{outcome}", arr)
    table = table.append_column(ROW, pa.array(rows))
    part = rows // job.chunk_size
    out = []
    for k in np.unique(part).tolist():
        name = f"k{k:06d}.p{pid:05d}.a{attempt}.s{s:05d}.arrow"
        final = Path(job.work) / "results" / name
        tmp = final.with_suffix(".partial")
        with pa.ipc.new_stream(tmp, table.schema) as w:
            w.write_table(table.filter(pa.array(part == k)))
        os.replace(tmp, final)
        out.append(name)
    return out

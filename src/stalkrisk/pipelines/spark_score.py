"""``stalkrisk score --engine spark``: the single-machine scoring run, fanned out over Spark.

Why it gives the same bytes: Spark only moves rows. The tasks read the files with the
project's readers, the shuffle co-partitions cases and events by the hash of the
normalised ``case_id`` (so every row of a duplicated case id, and every event naming it
or naming no case, meets its case in one task), and each task runs the same validation
(with the file's duplicate event ids as context, the one rule the shuffle cannot make
local), ``score_chunk``, ``assemble_scores`` and review pages (``spark_tasks``). The driver
then rebuilds the single-machine parts (``row // chunk_size``) one at a time, in input
order, and writes them with the same writers, so ``scores.*`` and ``explanations.parquet``
are byte-identical and ``stalkrisk audit verify`` re-runs either.

Failure safety: everything is written under a private folder inside ``out``; the outputs
are renamed into place only after every task succeeded, and ``audit.json`` last.
On a cluster, the inputs and ``out`` must be on storage every executor mounts at the
same path (the tasks read the files and write their results there).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from stalkrisk import progress
from stalkrisk.data import contract
from stalkrisk.data import readers
from stalkrisk.tracking import registry as tracking
from stalkrisk.defaults import DEFAULT_CHUNK_SIZE
from stalkrisk.explain.reasons import Explanation
from stalkrisk.explain.wide import wide_table
from stalkrisk.features import feature_names as registry_feature_names
from stalkrisk.io_utils import atomic_write_text, sha256_file
from stalkrisk.pipelines import review as review_mod
from stalkrisk.outputs.schema import SCORE_COLUMNS, TABLE_FILES
from stalkrisk.outputs.writer import open_tables
from stalkrisk.outputs.folder import building
from stalkrisk.pipelines.score import (DEFAULT_MODEL, DEFAULT_REVIEW_CAP, NO_SCORES, ScoreSummary, audit_record,
                                       check_request, run_warnings)
from stalkrisk.report import case_page_name
from stalkrisk.data.readers import LINE
from stalkrisk.scoring import assemble_scores
from stalkrisk.pipelines.spark_session import DEFAULT_MASTER, SparkEngineError, require_spark, session  # noqa: F401
from stalkrisk.pipelines.spark_tasks import (EID, FAIL_ENV, KEY, PREFIX, ROW, SID, SUMMARY_SCHEMA, TAG, Job, describe,
                                             raw_frame)

log = logging.getLogger(__name__)

READ_BATCH_ROWS = 1 << 16
#: How long a failed job's cancelled tasks may take to end before the building folder goes.
TASK_END_TIMEOUT = 60.0


def _spark_schema(specs) -> pa.Schema:
    """One row layout for every table: prefixed raw columns, the tag, line, row and keys."""
    fields = [pa.field(PREFIX[s.table] + n, t) for s in specs for n, t in zip(s.names, s.spark_types)]
    return pa.schema(fields + [pa.field(TAG, pa.string()), pa.field(LINE, pa.int64()), pa.field(ROW, pa.int64()),
                               pa.field(KEY, pa.string()), pa.field(EID, pa.string()), pa.field(SID, pa.string())])


def run(
    cases: str | Path, events: str | Path, out: str | Path, *, model: str = DEFAULT_MODEL,
    review: str = "flagged", quiet: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE,
    method: str | None = None, master: str | None = None, spark=None, partitions: int | None = None,
    overwrite: bool = False, review_cap: int | None = DEFAULT_REVIEW_CAP, orders: str | Path | None = None,
) -> ScoreSummary:
    """Score two contract files (and the optional orders table) into ``out`` on Spark; the same
    outputs as ``pipelines.score.run``.

    ``spark``: an existing SparkSession (else one is made for ``master``, default ``local[*]``).
    ``partitions``: hash partitions of the shuffle (default: Spark's default parallelism).
    """
    check_request(cases, events, out, review=review, chunk_size=chunk_size, overwrite=overwrite,
                  review_cap=review_cap, orders=orders)
    if spark is None:
        require_spark()
    started = datetime.now(timezone.utc)
    stages = progress.Stages(3, quiet=quiet)
    stages.start(f"loading the model {model}")
    loaded = tracking.load_model(model)
    loaded.model.check_features(registry_feature_names() + list(loaded.model.meta.protected_features))
    method = method or loaded.model.meta.explain_method
    specs = (describe(cases, contract.CASES), describe(events, contract.EVENTS),
             *((describe(orders, contract.ORDERS),) if orders is not None else ()))
    digests = {s.table: sha256_file(s.path) for s in specs}
    checked_orders = _check_orders(orders)

    own = spark is None
    spark = spark or session(master or DEFAULT_MASTER)
    try:
        with building(out, overwrite=overwrite) as work:
            s = _run(spark, specs, digests, loaded, cases, events, work, review=review, quiet=quiet,
                     chunk_size=chunk_size, method=method, partitions=partitions, started=started, stages=stages,
                     review_cap=review_cap, orders=orders, checked_orders=checked_orders)
        final = Path(os.path.abspath(out))
        index = None if s.review_index is None else final / s.review_index.relative_to(work)
        return ScoreSummary(final, s.counts, index, s.model_name, s.model_version, s.warnings)
    finally:
        if own:
            spark.stop()


def _check_orders(orders):
    """The orders table judged once, whole, on the driver (as ``PartValidator`` does): the tasks
    get its verdicts (failing lines, whom they name) without its rows, which come co-partitioned."""
    if orders is None:
        return None
    from dataclasses import replace

    from stalkrisk.validation.orders import read_and_check
    from stalkrisk.validation.suite import SuiteRunner, load_suites

    check = read_and_check(orders, SuiteRunner(load_suites()))
    return replace(check, orders=check.orders.iloc[:0])


def _run(spark, specs, digests, loaded, cases, events, out: Path, *, review, quiet, chunk_size, method,
         partitions, started, stages, review_cap, orders=None, checked_orders=None) -> ScoreSummary:
    master = spark.sparkContext.master
    # A failed job may leave executors writing for a moment after the driver gives up: the removal
    # must not replace the job's error (the building folder is removed after, or swept next run).
    with tempfile.TemporaryDirectory(prefix=".stalkrisk-spark-", dir=out, ignore_cleanup_errors=True) as work:
        work = Path(work)
        (work / "results").mkdir()
        if review != "none":
            (work / "review" / "cases").mkdir(parents=True)  # the tasks write into it, never create it
        stages.start(f"reading {Path(cases).name} and {Path(events).name} on Spark ({master})")
        rows, n_raw, context = _read(spark, specs)
        try:
            stages.start(f"validating, scoring and explaining {n_raw:,} case rows on Spark ({master})")
            job = Job(
                cases=specs[0], events=specs[1], work=str(work), chunk_size=chunk_size, method=method,
                review=review, model_files=_model_files(loaded.model), digest=loaded.model.digest(),
                model_name=loaded.name, model_version=loaded.version, model_uri=loaded.uri, run_id=loaded.run_id,
                context_events=context, fail_partition=_test_failure(),
                orders=specs[2] if len(specs) > 2 else None, orders_check=checked_orders,
            )
            summaries = _score(spark, rows, job, partitions or spark.sparkContext.defaultParallelism)
        finally:
            rows.unpersist()
        warnings = _warnings(specs[:2], summaries)
        counts, review_index = _write(out, work, loaded, summaries, n_raw, chunk_size, review, quiet,
                                      review_cap, warnings)
        stages.finish()
    audit = audit_record(
        loaded, cases, events, {t: {"sha256": d} for t, d in digests.items()}, review=review,
        chunk_size=chunk_size, method=method, review_cap=review_cap, counts=counts, out=out, started=started,
        warnings=warnings, engine={"name": "spark", "master": master, "spark_version": spark.version},
        orders=orders,
    )
    atomic_write_text(out / "audit.json", json.dumps(audit, indent=2) + "\n")
    return ScoreSummary(out, counts, review_index, loaded.name, loaded.version, warnings)


def _warnings(specs, summaries: pa.Table) -> list[str]:
    """The single-machine run's warnings, from the files' columns and the tasks' counts."""
    from types import SimpleNamespace

    events = int(sum(summaries["events"].to_pylist())) if "events" in summaries.column_names else 1
    readers_ = [SimpleNamespace(path=Path(spec.path), table=table, names=list(spec.names))
                for spec, table in zip(specs, (contract.CASES, contract.EVENTS))]
    parted = SimpleNamespace(cases_reader=readers_[0], events_reader=readers_[1])
    return run_warnings(parted, {"events": events, "orphan_events": int(sum(summaries["orphan_events"].to_pylist()))})


def _test_failure() -> int | None:
    value = os.environ.get(FAIL_ENV)
    return int(value) if value else None


def _model_files(model) -> dict[str, str]:
    """The model's files as text (``booster.txt``, one booster per risk domain, ``model.json``):
    shipped to the executors in the task closure."""
    with tempfile.TemporaryDirectory(prefix="stalkrisk-model-") as tmp:
        folder = model.save(tmp)
        return {path.name: path.read_text(encoding="utf-8") for path in sorted(folder.iterdir()) if path.is_file()}


def _read(spark, specs):
    """Read both files in tasks (one per file); return the rows (persisted on disk), the number of
    case rows and the normalised rows whose event id repeats (every partition's context)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    from stalkrisk.pipelines.spark_tasks import read_rows

    schema = _spark_schema(specs)
    spark_schema = from_arrow_schema(schema)

    def read(batches):
        for batch in batches:
            for i in batch.column(0).to_pylist():
                yield from read_rows(specs[i], schema, READ_BATCH_ROWS)

    seeds = spark.createDataFrame([(i,) for i in range(len(specs))], "i int").repartition(len(specs), "i")
    rows = seeds.mapInArrow(read, spark_schema).persist(StorageLevel.DISK_ONLY)
    n_raw = rows.filter(F.col(TAG) == "cases").count()
    events = rows.filter((F.col(TAG) == "events") & F.col(EID).isNotNull())
    repeated = events.groupBy(EID).count().filter(F.col("count") > 1).select(EID)
    dup = events.join(F.broadcast(repeated), on=EID, how="left_semi").toArrow()
    context = readers.normalise(raw_frame(dup, specs[1]), contract.EVENTS, path=specs[1].path).frame
    return rows, n_raw, context.drop_duplicates(subset=[LINE]).reset_index(drop=True)


def _score(spark, rows, job: Job, partitions: int) -> pa.Table:
    """The scoring stage: co-partition by case, score each partition; the tasks' summaries."""
    from pyspark.sql.pandas.types import from_arrow_schema

    from stalkrisk.pipelines.spark_tasks import score_partition

    spread = co_partition_keys(rows).repartition(max(1, partitions), KEY).sortWithinPartitions(KEY, TAG, LINE)
    scored = spread.mapInArrow(lambda batches: score_partition(job, batches), from_arrow_schema(SUMMARY_SCHEMA))
    sc = spark.sparkContext
    group = f"stalkrisk-score-{uuid.uuid4().hex}"
    sc.setJobGroup(group, "stalkrisk score", interruptOnCancel=True)
    try:
        return scored.toArrow()
    except BaseException:
        sc.cancelJobGroup(group)
        _wait_for_tasks(sc, group)
        raise
    finally:
        for name in ("spark.jobGroup.id", "spark.job.description", "spark.job.interruptOnCancel"):
            sc.setLocalProperty(name, None)


def _wait_for_tasks(sc, group: str, timeout: float = TASK_END_TIMEOUT) -> None:
    """Wait (up to ``timeout`` seconds) until no task of ``group``'s jobs still runs.

    A failed job's other tasks are cancelled, not stopped at once: one still writing into the
    building folder while the driver removes it could leave part of it behind."""
    tracker = sc.statusTracker()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = [tracker.getJobInfo(j) for j in tracker.getJobIdsForGroup(group)]
        stages = [tracker.getStageInfo(s) for info in jobs if info is not None for s in info.stageIds]
        if not any(info is not None and info.status == "RUNNING" for info in jobs) and \
                not any(stage is not None and stage.numActiveTasks > 0 for stage in stages):
            return
        time.sleep(0.2)
    log.warning("Spark tasks of the failed job still ran %.0f s after it was cancelled", timeout)


def co_partition_keys(rows):
    """``rows`` with ``_key`` set to the partition key: the case's ``suspect_id`` where present,
    else its ``case_id``, so every case of a suspect (and what follows them) meets in one task.

    Events follow their case (by case id); an orders row follows its case, and goes to its
    ``suspect_id``'s key as well when that differs (one row per key); an order naming no one
    is left out (it breaks a rule, and quarantines nothing). A case id on several rows takes
    the least of their suspect ids (the rows are quarantined as duplicates, but stay together).
    Keys are tagged (``s:``/``c:``), so a suspect id never meets a case id by accident.
    """
    from pyspark.sql import functions as F

    case = F.col(TAG) == "cases"
    keys = (rows.filter(case & F.col(KEY).isNotNull()).groupBy(KEY).agg(F.min(SID).alias("_suspect"))
            .select(F.col(KEY).alias("_case"), F.coalesce(F.concat(F.lit("s:"), "_suspect"),
                                                          F.concat(F.lit("c:"), KEY)).alias("_follow")))
    joined = rows.join(keys, rows[KEY] == keys["_case"], "left")
    follow = F.coalesce(F.col("_follow"), F.concat(F.lit("c:"), F.col(KEY)))  # null: no case id at all
    by_suspect = F.concat(F.lit("s:"), F.col(SID))
    order_keys = F.array_distinct(F.filter(F.array(follow, by_suspect), lambda k: k.isNotNull()))
    out = joined.withColumn("_keys", F.when(F.col(TAG) == "orders", order_keys).otherwise(F.array(follow)))
    out = out.filter((F.col(TAG) != "orders") | (F.size("_keys") > 0))
    out = out.withColumn(KEY, F.explode_outer("_keys"))
    return out.select(*rows.columns)


def _write(out: Path, work: Path, loaded, summaries: pa.Table, n_raw: int, chunk_size: int, review: str,
           quiet: bool, review_cap: int | None, warnings: list[str]) -> tuple[dict[str, int], Path | None]:
    """Rebuild the single-machine parts from the tasks' files, write them as it does, then rename."""
    files: dict[int, list[str]] = defaultdict(list)
    for names in summaries["files"].to_pylist():
        for name in names:
            files[int(name[1:7])].append(name)
    known = [(b, f) for b, f in zip(summaries["base_values"].to_pylist(), summaries["feature_names"].to_pylist())
             if b is not None]
    base, names = known[0] if known else ([0.0] * len(loaded.model.outcomes), list(loaded.model.feature_names))
    final = work / "final"
    index_parts, flagged, n_cases, scored = [], 0, 0, 0
    queued = {"consider_spo": 0, "review": 0}
    pool: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # the pageable cases (score, seq, id)
    with open_tables(final, loaded.model.feature_names) as outputs, progress.bar(n_raw, quiet) as bar:
        for k in range(max(1, -(-n_raw // chunk_size))):
            scores, explanations = _part(work, files.get(k, []), base, names, loaded)
            outputs.write(scores, explanations)
            flagged += int(scores["consider_spo"].fillna(False).sum())
            for name in queued:
                queued[name] += int((scores["queue"] == name).sum())
            n_cases += len(scores)
            scored += int(scores["status"].eq("scored").sum())
            if review != "none":
                index_parts.append(review_mod.index_rows(scores))
                rows = review_mod.page_pool(scores, only_flagged=review == "flagged")
                pool.append((scores["score"].to_numpy(dtype=float)[rows], n_cases - len(scores) + rows,
                             scores["case_id"].to_numpy(dtype=object)[rows]))
            bar.update(len(scores))
    paged = {p for pages in summaries["pages"].to_pylist() for p in pages}
    if review != "none" and review_cap is not None:  # the tasks paged every case: keep the local run's pick
        value, seq, ids = (np.concatenate([p[i] for p in pool]) if pool else np.empty(0) for i in range(3))
        keep = {case_page_name(str(ids[i])) for i in review_mod.best_pages(value, seq, review_cap)}
        for name in paged - keep:
            (work / "review" / "cases" / name).unlink(missing_ok=True)
        paged &= keep
    for name in TABLE_FILES:
        os.replace(final / name, out / name)
    review_index = None
    if review != "none":
        review_dir = out / "review"
        if (work / "review").is_dir():
            os.replace(work / "review", review_dir)
        slim = (pd.concat(index_parts, ignore_index=True) if index_parts
                else pd.DataFrame({c: [] for c in review_mod.INDEX_COLUMNS}))
        review_index = review_mod.write_index(review_dir, loaded, slim, paged, warnings=warnings, cap=review_cap)
    counts = {
        "input_cases": n_cases, "scored": scored, "not_scored": n_cases - scored, "flagged": flagged,
        "queue_consider_spo": queued["consider_spo"], "queue_review": queued["review"],
        "validation_warnings": int(sum(summaries["validation_warnings"].to_pylist())),
        "orphan_events": int(sum(summaries["orphan_events"].to_pylist())),
        "input_events": int(sum(summaries["events"].to_pylist())),
        "events_used": int(sum(summaries["events_valid"].to_pylist())), "review_pages": len(paged),
    }
    return counts, review_index


def _part(work: Path, names: list[str], base: list[float], features: list[str], loaded
          ) -> tuple[pd.DataFrame, pa.Table | None]:
    """One single-machine part: its rows from every task, in input order, as ``assemble_scores`` gave them."""
    if not names:  # no case row (blank lines only, or an empty file): what the single-machine run writes
        empty = pd.DataFrame({"case_id": pd.Series(dtype="str"), "_line": pd.Series(dtype="int64")})
        return assemble_scores(empty, pd.DataFrame(), NO_SCORES, loaded.name, loaded.version), None
    tables = []
    for name in sorted(names):
        with pa.ipc.open_stream(work / "results" / name) as r:
            tables.append(r.read_all())
    table = pa.concat_tables(tables)
    table = table.take(np.argsort(table[ROW].to_numpy(), kind="stable"))
    scores = table.select(list(SCORE_COLUMNS)).to_pandas(types_mapper={pa.bool_(): pd.BooleanDtype()}.get)
    is_scored = (scores["status"] == "scored").to_numpy()
    if not is_scored.any():
        return scores, None
    p = len(features)
    picked = table.filter(pa.array(is_scored))

    def matrix(column: str) -> np.ndarray:
        return picked[column].combine_chunks().flatten().to_numpy().reshape(-1, p)

    explanations = {o: Explanation(list(features), matrix(f"_contrib_{o}"), b)
                    for o, b in zip(loaded.model.outcomes, base)}
    return scores, wide_table(explanations, scores["case_id"][is_scored].reset_index(drop=True))

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
import shutil
import sys
import tempfile
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
from stalkrisk.errors import StalkriskError
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
from stalkrisk.pipelines.spark_tasks import EID, FAIL_ENV, KEY, PREFIX, ROW, SUMMARY_SCHEMA, TAG, Job, describe, raw_frame

log = logging.getLogger(__name__)

DEFAULT_MASTER = "local[*]"


class SparkEngineError(StalkriskError):
    """Spark cannot start here (no pyspark, no Java): a user's setup to fix, said in one line."""


READ_BATCH_ROWS = 1 << 16


def session(master: str = DEFAULT_MASTER, **conf: str):
    """A SparkSession for ``master``; local masters stay on localhost with no UI.

    The workers run this interpreter (so they import this stalkrisk and its pinned libraries).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SparkEngineError("the spark engine needs pyspark: pip install 'stalkrisk[spark]'") from None
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        raise SparkEngineError("the spark engine needs Java 17 or later: install a JRE "
                               "(e.g. apt-get install openjdk-17-jre-headless) or set JAVA_HOME")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName("stalkrisk-score")
    defaults = {"spark.sql.execution.arrow.pyspark.enabled": "true"}
    if master.startswith("local"):
        defaults.update({"spark.driver.bindAddress": "127.0.0.1", "spark.driver.host": "127.0.0.1",
                         "spark.ui.enabled": "false", "spark.pyspark.python": sys.executable})
    for key, value in {**defaults, **conf}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _spark_schema(specs) -> pa.Schema:
    """One row layout for both tables: prefixed raw columns, the tag, line, row and keys."""
    fields = [pa.field(PREFIX[s.table] + n, t) for s in specs for n, t in zip(s.names, s.spark_types)]
    return pa.schema(fields + [pa.field(TAG, pa.string()), pa.field(LINE, pa.int64()), pa.field(ROW, pa.int64()),
                               pa.field(KEY, pa.string()), pa.field(EID, pa.string())])


def run(
    cases: str | Path, events: str | Path, out: str | Path, *, model: str = DEFAULT_MODEL,
    review: str = "flagged", quiet: bool = False, chunk_size: int = DEFAULT_CHUNK_SIZE,
    method: str | None = None, master: str | None = None, spark=None, partitions: int | None = None,
    overwrite: bool = False, review_cap: int | None = DEFAULT_REVIEW_CAP,
) -> ScoreSummary:
    """Score two contract files into ``out`` on Spark; the same outputs as ``pipelines.score.run``.

    ``spark``: an existing SparkSession (else one is made for ``master``, default ``local[*]``).
    ``partitions``: hash partitions of the shuffle (default: Spark's default parallelism).
    """
    check_request(cases, events, out, review=review, chunk_size=chunk_size, overwrite=overwrite,
                  review_cap=review_cap)
    started = datetime.now(timezone.utc)
    stages = progress.Stages(3, quiet=quiet)
    stages.start(f"loading the model {model}")
    loaded = tracking.load_model(model)
    loaded.model.check_features(registry_feature_names() + list(loaded.model.meta.protected_features))
    method = method or loaded.model.meta.explain_method
    specs = (describe(cases, contract.CASES), describe(events, contract.EVENTS))
    digests = {s.table: sha256_file(s.path) for s in specs}

    own = spark is None
    spark = spark or session(master or DEFAULT_MASTER)
    try:
        with building(out, overwrite=overwrite) as work:
            s = _run(spark, specs, digests, loaded, cases, events, work, review=review, quiet=quiet,
                     chunk_size=chunk_size, method=method, partitions=partitions, started=started, stages=stages,
                     review_cap=review_cap)
        final = Path(os.path.abspath(out))
        index = None if s.review_index is None else final / s.review_index.relative_to(work)
        return ScoreSummary(final, s.counts, index, s.model_name, s.model_version, s.warnings)
    finally:
        if own:
            spark.stop()


def _run(spark, specs, digests, loaded, cases, events, out: Path, *, review, quiet, chunk_size, method,
         partitions, started, stages, review_cap) -> ScoreSummary:
    master = spark.sparkContext.master
    # A failed job may leave executors writing for a moment after the driver gives up: the removal
    # must not replace the job's error (the building folder is removed after, or swept next run).
    with tempfile.TemporaryDirectory(prefix=".stalkrisk-spark-", dir=out, ignore_cleanup_errors=True) as work:
        work = Path(work)
        (work / "results").mkdir()
        stages.start(f"reading {Path(cases).name} and {Path(events).name} on Spark ({master})")
        rows, n_raw, context = _read(spark, specs)
        try:
            stages.start(f"validating, scoring and explaining {n_raw:,} case rows on Spark ({master})")
            job = Job(
                cases=specs[0], events=specs[1], work=str(work), chunk_size=chunk_size, method=method,
                review=review, model_files=_model_files(loaded.model), digest=loaded.model.digest(),
                model_name=loaded.name, model_version=loaded.version, model_uri=loaded.uri, run_id=loaded.run_id,
                context_events=context, fail_partition=_test_failure(),
            )
            summaries = _score(spark, rows, job, partitions or spark.sparkContext.defaultParallelism)
        finally:
            rows.unpersist()
        warnings = _warnings(specs, summaries)
        counts, review_index = _write(out, work, loaded, summaries, n_raw, chunk_size, review, quiet,
                                      review_cap, warnings)
        stages.finish()
    audit = audit_record(
        loaded, cases, events, {t: {"sha256": d} for t, d in digests.items()}, review=review,
        chunk_size=chunk_size, method=method, review_cap=review_cap, counts=counts, out=out, started=started,
        warnings=warnings, engine={"name": "spark", "master": master, "spark_version": spark.version},
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

    spread = rows.repartition(max(1, partitions), KEY).sortWithinPartitions(KEY, TAG, LINE)
    return spread.mapInArrow(lambda batches: score_partition(job, batches),
                             from_arrow_schema(SUMMARY_SCHEMA)).toArrow()


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
    ranked: list[pd.DataFrame] = []  # the pageable cases, for the page cap
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
                ok = np.array(scores["status"].eq("scored").to_numpy(dtype=bool))  # a writable copy
                if review == "flagged":  # the cases in a queue, as the single-machine run pages them
                    ok &= scores["queue"].fillna("").astype(str).ne("").to_numpy(dtype=bool)
                ranked.append(pd.DataFrame({"case_id": scores["case_id"][ok], "score": scores["score"][ok]}))
            bar.update(len(scores))
    paged = {p for pages in summaries["pages"].to_pylist() for p in pages}
    if review != "none" and review_cap is not None:  # the tasks paged every case: keep the local run's pick
        pool = pd.concat(ranked, ignore_index=True) if ranked else pd.DataFrame({"case_id": [], "score": []})
        keep = {case_page_name(str(c)) for c in pool.sort_values("score", ascending=False, kind="stable")
                ["case_id"].head(review_cap)}
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
        "validation_warnings": 0,  # (the orders table, the only source of warnings, is not read on Spark)
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

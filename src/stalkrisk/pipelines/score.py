"""The batch-scoring pipeline: files and a model in, the output folder out.

Output (shared data contract): ``scores.parquet``, ``scores.csv``,
``explanations.parquet``, ``review/``, and ``audit.json`` written last.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

import pandas as pd

from stalkrisk import __version__, progress
from stalkrisk._runtime.ahead import made_ahead
from stalkrisk._runtime.preload import collector_frozen
from stalkrisk.data import contract, readers
from stalkrisk.data.memory import release_free_memory
from stalkrisk.data.partition import partition
from stalkrisk.defaults import DEFAULT_CHUNK_SIZE
from stalkrisk.errors import ConfigError
from stalkrisk.features import feature_names as registry_feature_names
from stalkrisk.features.history_asof import HISTORY_COLUMNS
from stalkrisk.features.linking import LinkTable
from stalkrisk.io_utils import atomic_write_text, sha256_file
from stalkrisk.outputs.schema import AUDIT_FILE, CHANGE_KINDS, CHANGES_FILE, REASON_COLUMNS, REVIEW_DIR, TABLE_FILES
from stalkrisk.outputs.folder import building, check_target
from stalkrisk.outputs.writer import open_tables
from stalkrisk.pipelines import changes as changes_mod
from stalkrisk.pipelines import review as review_mod
from stalkrisk.pipelines.review import PageQueue
from stalkrisk.report import case_page_name
from stalkrisk.scoring import (
    assemble_scores,
    score_chunk,
)
from stalkrisk.tracking import registry as tracking
from stalkrisk.validation.parts import PartValidator

log = logging.getLogger(__name__)

DEFAULT_MODEL = "models:/stalkrisk@champion"
REVIEW_CHOICES = ("flagged", "all", "none")
#: Case pages written by default: what a reviewer can work through; the rest are one
#: command away (``stalkrisk explain DIR --case-id ID``) or in the workbench.
DEFAULT_REVIEW_CAP = 500
#: What a chunk whose every case is quarantined "scored": nothing, with the columns.
NO_SCORES = pd.DataFrame({"case_id": pd.Series(dtype="str"), "score": pd.Series(dtype="float64"),
                          "score_persistence": pd.Series(dtype="float64"), "score_harm": pd.Series(dtype="float64"),
                          "risk_band": pd.Series(dtype="str"), "course_of_conduct": pd.Series(dtype="boolean"),
                          "consider_spo": pd.Series(dtype="boolean"),
                          **{name: pd.Series(dtype="str") for name in ("queue", "queue_reason", *REASON_COLUMNS)},
                          "linked_cases": pd.Series(dtype="int64")})


@dataclass
class ScoreSummary:
    out: Path
    counts: dict[str, int]
    review_index: Path | None
    model_name: str
    model_version: str
    warnings: list[str] = field(default_factory=list)


def run(
    cases: str | Path,
    events: str | Path,
    out: str | Path,
    *,
    model: str = DEFAULT_MODEL,
    review: str = "flagged",
    quiet: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    method: str | None = None,
    overwrite: bool = False,
    review_cap: int | None = DEFAULT_REVIEW_CAP,
    orders: str | Path | None = None,
    previous: str | Path | None = None,
    history: str | Path | None = None,
) -> ScoreSummary:
    """Score every case of two contract files (and the optional orders and history tables) into ``out``.

    The files are streamed once into case-aligned parts (``partition``), then each
    part is validated, scored, explained and written before the next is read, so
    memory stays flat however large the caseload. Everything is built in a private
    sibling of ``out`` and renamed onto it at the end (``outputs.folder``). ``previous``: an
    earlier run's folder to compare with (``changes.parquet``; never modified).
    """
    check_request(cases, events, out, review=review, chunk_size=chunk_size, overwrite=overwrite,
                  review_cap=review_cap, orders=orders, previous=previous,
                  history=history)
    started = datetime.now(timezone.utc)
    stages = progress.Stages(3, quiet=quiet)
    stages.start(f"loading the model {model}")
    loaded = tracking.load_model(model)
    loaded.model.check_features(
        registry_feature_names() + list(loaded.model.meta.protected_features)
    )
    method = method or loaded.model.meta.explain_method
    with collector_frozen() as settled, building(out, overwrite=overwrite) as work:
        summary = _run_into(work, cases, events, loaded, review=review, stages=stages, quiet=quiet,
                            chunk_size=chunk_size, method=method, started=started, review_cap=review_cap,
                            orders=orders, previous=previous, history=history, settled=settled)
    final = Path(os.path.abspath(out))
    index = None if summary.review_index is None else final / summary.review_index.relative_to(work)
    return ScoreSummary(final, summary.counts, index, summary.model_name, summary.model_version, summary.warnings)


def check_request(cases, events, out, *, review: str, chunk_size: int, overwrite: bool,
                  review_cap: int | None, orders: str | Path | None = None,
                  previous: str | Path | None = None,
                  history: str | Path | None = None) -> None:
    """Everything that can be refused before the model loads (which takes seconds), refused now."""
    if review not in REVIEW_CHOICES:
        raise ConfigError(f"--review must be one of {', '.join(REVIEW_CHOICES)}")
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise ConfigError(f"--chunk-size must be a whole number of at least 1 (got {chunk_size})")
    if review_cap is not None and review_cap < 0:
        raise ConfigError(f"--review-cap must be 0 or more (got {review_cap})")
    for name, path in (("cases", cases), ("events", events), ("orders", orders), ("history", history)):
        if path is not None:
            readers.check_input_path(path, name)
    check_target(Path(os.path.abspath(out)), overwrite)
    if previous is not None:
        changes_mod.check_previous(previous, out)


def _run_into(out: Path, cases, events, loaded, *, review: str, stages, quiet: bool, chunk_size: int,
              method: str, started: datetime, review_cap: int | None,
              orders: str | Path | None = None, previous: str | Path | None = None,
              history: str | Path | None = None, settled: Callable[[], None] = lambda: None) -> ScoreSummary:
    """The run inside its building folder; ``settled()`` is called once the whole-run state is
    built (``_runtime.preload.collector_frozen``)."""
    review_dir = out / REVIEW_DIR
    index_parts: list[pd.DataFrame] = []
    prev = None if previous is None else changes_mod.load_previous(previous)
    pages = PageQueue(review_dir, review_cap, previous=prev)
    flagged = 0
    queued = {"consider_spo": 0, "review": 0}
    # The spill holds case data: it lives inside the private building folder.
    with tempfile.TemporaryDirectory(prefix=".stalkrisk-parts-", dir=out) as work:
        stages.start(f"reading {Path(cases).name} and {Path(events).name} into parts of {chunk_size:,} cases")
        parted = partition(cases, events, work, chunk_size=chunk_size)
        stages.start(f"validating, scoring and explaining {parted.counts['cases']:,} cases")
        links = LinkTable.from_frames(parted.read_cases(k) for k in parted.parts())  # the whole table, once
        validator = PartValidator(parted, orders=orders, history=history)
        valid_orders = validator.orders.orders if validator.orders is not None else None
        settled()  # the libraries, the model, the links and the suites live to the end of the run
        with open_tables(out, loaded.model.feature_names) as outputs, progress.bar(parted.counts["cases"], quiet) as bar:
            for k, checked in made_ahead(validator):  # the next part validated meanwhile (_runtime.ahead)
                if k is None:  # the events naming no case: validated and counted, nothing to score
                    continue
                result = None
                if len(checked.cases):
                    result = score_chunk(loaded.model, checked.cases, checked.events, method=method,
                                         orders=valid_orders, progress=bar.update, links=links)
                scored = result.scores if result is not None else NO_SCORES
                scores = assemble_scores(checked.cases_all, checked.quarantine, scored, loaded.name, loaded.version)
                outputs.write(scores, result.explanations if result is not None else None)
                flagged += int(scores["consider_spo"].fillna(False).sum())
                for name in queued:
                    queued[name] += int((scores["queue"] == name).sum())
                if review != "none":
                    index_parts.append(review_mod.index_rows(scores))
                    if result is not None:
                        pages.offer(loaded, result, checked.cases, checked.events, only_flagged=review == "flagged")
                bar.update(len(checked.cases_all) - (len(checked.cases) if result is not None else 0))
                del result, scored, scores, checked  # nothing of this part outlives it
                release_free_memory()
        validation = validator.combined()
        warnings = run_warnings(parted, validation.counts, history=history is not None)
    stages.finish()
    changes = None if prev is None else changes_mod.write_changes(out, prev)
    review_index = None
    paged: set[str] = set()
    if review != "none":
        paged = pages.finish(loaded, None if prev is None else changes_mod.PageChanges(changes, prev))
        slim = (pd.concat(index_parts, ignore_index=True) if index_parts
                else pd.DataFrame({c: [] for c in review_mod.INDEX_COLUMNS}))
        summary = (None if prev is None else
                   changes_mod.summary(changes, prev, int(validation.counts["cases_valid"]), paged, case_page_name))
        review_index = review_mod.write_index(review_dir, loaded, slim, paged, warnings=warnings,
                                              cap=review_cap, changes=summary)
    c = validation.counts
    counts = {
        "input_cases": c["cases"],
        "scored": c["cases_valid"],
        "not_scored": c["cases_quarantined"],
        "flagged": flagged,
        "queue_consider_spo": queued["consider_spo"],
        "queue_review": queued["review"],
        "validation_warnings": int(len(validation.warnings)),
        "orphan_events": c["orphan_events"],
        "input_events": c["events"],
        "events_used": c["events_valid"],
        "review_pages": len(paged),
        **({} if changes is None else {f"changes_{k}": int((changes["change"] == k).sum()) for k in CHANGE_KINDS}),
    }
    audit = audit_record(loaded, cases, events, validation.inputs, review=review, chunk_size=chunk_size,
                         method=method, review_cap=review_cap, counts=counts, out=out, started=started,
                         warnings=warnings, orders=orders, previous=previous, history=history)
    atomic_write_text(out / AUDIT_FILE, json.dumps(audit, indent=2) + "\n")
    return ScoreSummary(out, counts, review_index, loaded.name, loaded.version, warnings)


#: Optional columns scoring never reads (a label, ids, the force, the person keys and separation date
#: of contract v2, which no case's own features read: ``suspect_id`` links cases and orders) or
#: reads only for fairness. A version 1 file lacks the v2 columns: that alone is no warning.
UNSCORED_COLUMNS = frozenset({"label", "event_id", "force_code", "suspect_id", "victim_id", "separation_date",
                              *contract.PROTECTED_ATTRIBUTES})


def run_warnings(parted, counts: dict[str, int], *, history: bool = False) -> list[str]:
    """What degrades the scores without stopping the run, said plainly (summary, index, audit.json).

    A missing optional column is read as "not recorded" for every row, and an empty events table
    leaves every case with no history: the run is valid, but its scores are not what the same
    caseload with those data would give. With a history table (``history``), the prior counts come
    from it: their columns missing from the cases file is no warning.
    """
    out = []
    rebuilt = set(HISTORY_COLUMNS) if history else set()
    for reader in (parted.cases_reader, parted.events_reader):
        present = set(reader.names)
        for column in reader.table.columns:
            if not column.required and column.name not in present and column.name not in UNSCORED_COLUMNS | rebuilt:
                out.append(f"{reader.path.name} has no '{column.name}' column (optional): every {reader.table.name[:-1]} "
                           f"is scored as if it were not recorded, so scores may be lower than with it")
    if counts.get("events", 0) == 0:
        out.append(f"{parted.events_reader.path.name} holds no events: every case is scored with no recorded "
                   "behaviour, so none can show a course of conduct")
    if counts.get("orphan_events", 0):
        out.append(f"{counts['orphan_events']:,} event(s) name no case in {parted.cases_reader.path.name} "
                   "(orphan events): they are counted and not scored")
    return out


def audit_record(loaded, cases, events, inputs: dict, *, review: str, chunk_size: int, method: str,
                 review_cap: int | None, counts: dict, out: Path, started: datetime, warnings: list[str],
                 engine: str | None = None, orders: str | Path | None = None,
                 previous: str | Path | None = None,
                 history: str | Path | None = None) -> dict:
    """``audit.json``: everything needed to re-run, and what the run produced (written last)."""
    audit = {
        "stalkrisk_version": __version__,
        "command": "score",
        **({"engine": engine} if engine else {}),
        "model": model_record(loaded),
        "inputs": {
            "cases": {"path": str(Path(cases).resolve()), "sha256": inputs["cases"]["sha256"]},
            "events": {"path": str(Path(events).resolve()), "sha256": inputs["events"]["sha256"]},
            **({"orders": {"path": str(Path(orders).resolve()), "sha256": inputs["orders"]["sha256"]}}
               if orders is not None else {}),
            **({"previous": {"path": str(Path(previous).resolve()), "sha256": sha256_file(Path(previous) / AUDIT_FILE)}}
               if previous is not None else {}),
            **({"history": {"path": str(Path(history).resolve()), "sha256": inputs["history"]["sha256"]}}
               if history is not None else {}),
        },
        "config": {"review": review, "chunk_size": chunk_size, "explain_method": method,
                   "review_cap": review_cap},
        "packages": tracking.package_versions(),
        "counts": counts,
        "warnings": warnings,
        "outputs": {name: sha256_file(out / name) for name in TABLE_FILES + (CHANGES_FILE,)
                    if name in TABLE_FILES or (out / name).is_file()},
        "started_at": started.isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(),
    }
    return audit


def model_record(loaded) -> dict:
    record = {"uri": loaded.uri, "name": loaded.name, "version": loaded.version,
              "run_id": loaded.run_id, "artifact_sha256": loaded.digest}
    if getattr(loaded, "provenance", ""):
        record["provenance"] = loaded.provenance
    return record

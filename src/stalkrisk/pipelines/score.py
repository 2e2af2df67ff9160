"""The batch-scoring pipeline: files and a model in, the output folder out.

Output (shared data contract): ``scores.parquet``, ``scores.csv``,
``explanations.parquet``, ``review/``, and ``audit.json`` written last.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from stalkrisk import __version__, progress
from stalkrisk.data.memory import release_free_memory
from stalkrisk.data.partition import partition
from stalkrisk.defaults import DEFAULT_CHUNK_SIZE
from stalkrisk.features import feature_names as registry_feature_names
from stalkrisk.io_utils import atomic_write_text, sha256_file
from stalkrisk.outputs.schema import AUDIT_FILE, REASON_COLUMNS, REVIEW_DIR, TABLE_FILES
from stalkrisk.outputs.writer import open_tables
from stalkrisk.pipelines import review as review_mod
from stalkrisk.report.render import write_case_pages
from stalkrisk.scoring import (
    assemble_scores,
    score_chunk,
)
from stalkrisk.tracking import registry as tracking
from stalkrisk.validation.parts import PartValidator

log = logging.getLogger(__name__)

DEFAULT_MODEL = "models:/stalkrisk@champion"
REVIEW_CHOICES = ("flagged", "all", "none")
TABLE_FILES = ("scores.parquet", "scores.csv", "explanations.parquet")
#: What a chunk whose every case is quarantined "scored": nothing, with the columns.
NO_SCORES = pd.DataFrame({"case_id": pd.Series(dtype="str"), "score": pd.Series(dtype="float64"),
                          "risk_band": pd.Series(dtype="str"), "course_of_conduct": pd.Series(dtype="boolean"),
                          "consider_spo": pd.Series(dtype="boolean"),
                          **{name: pd.Series(dtype="str") for name in ("queue", "queue_reason", *REASON_COLUMNS)}})


@dataclass
class ScoreSummary:
    out: Path
    counts: dict[str, int]
    review_index: Path | None
    model_name: str
    model_version: str


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
    orders: str | Path | None = None,
) -> ScoreSummary:
    """Score every case of two contract files (and the optional orders table) into ``out``.

    The files are streamed once into case-aligned parts (``partition``), then each
    part is validated, scored, explained and written before the next is read, so
    memory stays flat however large the caseload.
    """
    if review not in REVIEW_CHOICES:
        raise ValueError(f"--review must be one of {REVIEW_CHOICES}")
    if chunk_size < 1:
        raise ValueError("--chunk-size must be at least 1")
    started = datetime.now(timezone.utc)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / AUDIT_FILE).unlink(missing_ok=True)  # a half-rewritten folder must not look finished
    stages = progress.Stages(3, quiet=quiet)

    stages.start(f"loading the model {model}")
    loaded = tracking.load_model(model)
    loaded.model.check_features(
        registry_feature_names() + list(loaded.model.meta.protected_features)
    )
    method = method or loaded.model.meta.explain_method
    review_dir = out / REVIEW_DIR
    if review != "none":
        shutil.rmtree(review_dir, ignore_errors=True)

    index_parts: list[pd.DataFrame] = []
    paged: set[str] = set()
    flagged = 0
    queued = {"consider_spo": 0, "review": 0}
    # The spill holds case data: it lives beside the outputs (same protection), private to this user.
    with tempfile.TemporaryDirectory(prefix=".stalkrisk-parts-", dir=out) as work:
        stages.start(f"reading {Path(cases).name} and {Path(events).name} into parts of {chunk_size:,} cases")
        parted = partition(cases, events, work, chunk_size=chunk_size)
        stages.start(f"validating, scoring and explaining {parted.counts['cases']:,} cases")
        validator = PartValidator(parted, orders=orders)
        valid_orders = validator.orders.orders if validator.orders is not None else None
        with open_tables(out) as outputs, progress.bar(parted.counts["cases"], quiet) as bar:
            for k, checked in validator:
                if k is None:  # the events naming no case: validated and counted, nothing to score
                    continue
                result = None
                if len(checked.cases):
                    result = score_chunk(loaded.model, checked.cases, checked.events, method=method,
                                         orders=valid_orders)
                scored = result.scores if result is not None else NO_SCORES
                scores = assemble_scores(checked.cases_all, checked.quarantine, scored, loaded.name, loaded.version)
                outputs.write(scores, result.explanations if result is not None else None)
                flagged += int(scores["consider_spo"].fillna(False).sum())
                for name in queued:
                    queued[name] += int((scores["queue"] == name).sum())
                if review != "none":
                    index_parts.append(review_mod.index_rows(scores))
                    if result is not None:
                        views = review_mod.case_views(loaded, result, checked.cases, checked.events,
                                                      only_flagged=review == "flagged")
                        paged = write_case_pages(review_dir, views, paged)
                bar.update(len(checked.cases_all))
                del result, scored, scores, checked  # nothing of this part outlives it
                release_free_memory()
        validation = validator.combined()
    stages.finish()

    review_index = None
    if review != "none":
        slim = (pd.concat(index_parts, ignore_index=True) if index_parts
                else pd.DataFrame({c: [] for c in review_mod.INDEX_COLUMNS}))
        review_index = review_mod.write_index(review_dir, loaded, slim, paged)
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
        "review_pages": len(paged),
    }
    audit = {
        "stalkrisk_version": __version__,
        "command": "score",
        "model": {
            "uri": loaded.uri, "name": loaded.name, "version": loaded.version,
            "run_id": loaded.run_id, "artifact_sha256": loaded.digest,
        },
        "inputs": {
            "cases": {"path": str(Path(cases).resolve()), "sha256": validation.inputs["cases"]["sha256"]},
            "events": {"path": str(Path(events).resolve()), "sha256": validation.inputs["events"]["sha256"]},
            **({"orders": {"path": str(Path(orders).resolve()), "sha256": validation.inputs["orders"]["sha256"]}}
               if orders is not None else {}),
        },
        "config": {"review": review, "chunk_size": chunk_size, "explain_method": method},
        "packages": tracking.package_versions(),
        "counts": counts,
        "outputs": {name: sha256_file(out / name) for name in TABLE_FILES},
        "started_at": started.isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(),
    }
    atomic_write_text(out / AUDIT_FILE, json.dumps(audit, indent=2) + "\n")
    return ScoreSummary(out, counts, review_index, loaded.name, loaded.version)

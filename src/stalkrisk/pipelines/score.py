"""The batch-scoring pipeline: files and a model in, the output folder out.

Output (shared data contract): ``scores.parquet``, ``scores.csv``,
``explanations.parquet``, ``review/``, and ``audit.json`` written last.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from stalkrisk import __version__, tracking
from stalkrisk.features import feature_names as registry_feature_names
from stalkrisk.io_utils import atomic_path, atomic_write_text, sha256_file
from stalkrisk.pipelines import review as review_mod
from stalkrisk.scoring import (
    EXPLANATIONS_SCHEMA,
    SCORES_SCHEMA,
    assemble_scores,
    iter_chunks,
    progress,
    score_chunk,
)
from stalkrisk.validation import load_and_validate

log = logging.getLogger(__name__)

DEFAULT_MODEL = "models:/stalkrisk@champion"
REVIEW_CHOICES = ("flagged", "all", "none")
OUTPUT_FILES = ("scores.parquet", "scores.csv", "explanations.parquet")


@dataclass
class ScoreSummary:
    out: Path
    counts: dict[str, int]
    review_index: Path | None
    model_name: str
    model_version: str


def _csv_bytes(scores: pd.DataFrame) -> bytes:
    frame = scores.copy()
    for name in ("course_of_conduct", "consider_spo"):
        frame[name] = frame[name].map({True: "true", False: "false"}).fillna("")
    frame["score"] = frame["score"].map(lambda v: "" if pd.isna(v) else f"{v:.6f}")
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def run(
    cases: str | Path,
    events: str | Path,
    out: str | Path,
    *,
    model: str = DEFAULT_MODEL,
    review: str = "flagged",
    quiet: bool = False,
    chunk_size: int = 50_000,
    method: str | None = None,
) -> ScoreSummary:
    """Score every case of two contract files into ``out``."""
    if review not in REVIEW_CHOICES:
        raise ValueError(f"--review must be one of {REVIEW_CHOICES}")
    started = datetime.now(timezone.utc)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "audit.json").unlink(missing_ok=True)  # a half-rewritten folder must not look finished

    loaded = tracking.load_model(model)
    loaded.model.check_features(
        registry_feature_names() + list(loaded.model.meta.get("protected_features", []))
    )
    method = method or loaded.model.meta.get("explain_method", "fast")
    validation = load_and_validate(cases, events)

    scored_parts: list[pd.DataFrame] = []
    review_cases = []
    with atomic_path(out / "explanations.parquet") as tmp_expl:
        writer = pq.ParquetWriter(tmp_expl, EXPLANATIONS_SCHEMA, compression="zstd")
        try:
            with progress(len(validation.cases), quiet) as bar:
                for chunk_cases, chunk_events in iter_chunks(validation.cases, validation.events, chunk_size):
                    result = score_chunk(loaded.model, chunk_cases, chunk_events, method=method)
                    writer.write_table(result.explanations.cast(EXPLANATIONS_SCHEMA))
                    scored_parts.append(result.scores)
                    if review != "none":
                        review_cases.extend(
                            review_mod.case_views(loaded, result, chunk_cases, chunk_events, only_flagged=review == "flagged")
                        )
                    bar.update(len(chunk_cases))
        finally:
            writer.close()

    scored = pd.concat(scored_parts, ignore_index=True) if scored_parts else pd.DataFrame(columns=["case_id", "score"])
    scores = assemble_scores(validation.cases_all, validation.quarantine, scored, loaded.name, loaded.version)
    with atomic_path(out / "scores.parquet") as tmp:
        pq.write_table(pa.Table.from_pandas(scores, schema=SCORES_SCHEMA, preserve_index=False), tmp, compression="zstd")
    with atomic_path(out / "scores.csv") as tmp:
        tmp.write_bytes(_csv_bytes(scores))

    review_index = None
    review_dir = out / "review"
    if review != "none":
        shutil.rmtree(review_dir, ignore_errors=True)
        review_index = review_mod.write(review_dir, loaded, scores, review_cases)
    counts = {
        "input_cases": int(len(scores)),
        "scored": int((scores["status"] == "scored").sum()),
        "not_scored": int((scores["status"] == "not_scored").sum()),
        "flagged": int(scores["consider_spo"].fillna(False).sum()),
        "orphan_events": int(validation.counts.get("orphan_events", 0)),
        "review_pages": len(review_cases),
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
        },
        "config": {"review": review, "chunk_size": chunk_size, "explain_method": method},
        "packages": tracking.package_versions(),
        "counts": counts,
        "outputs": {name: sha256_file(out / name) for name in OUTPUT_FILES},
        "started_at": started.isoformat(),
        "finished_at": datetime.now(timezone.utc).isoformat(),
    }
    atomic_write_text(out / "audit.json", json.dumps(audit, indent=2) + "\n")
    return ScoreSummary(out, counts, review_index, loaded.name, loaded.version)

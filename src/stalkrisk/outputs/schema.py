"""The scoring output folder's format, in one place: its files and their columns.

Scoring writes it (``outputs.writer``), ``audit verify`` and ``explain`` read it back
(``outputs.reader``, ``outputs.case_record``); the workbench reads the same files.
"""

from __future__ import annotations

import pyarrow as pa

#: Written last: a folder without it is an interrupted run.
AUDIT_FILE = "audit.json"
#: The tables, each written under a temporary name and renamed when complete.
TABLE_FILES = ("scores.parquet", "scores.csv", "explanations.parquet")
#: Written only by a run given ``--previous DIR``: what changed since that run (issue 19).
CHANGES_FILE = "changes.parquet"
#: Tables a run writes only when asked; ``audit.json`` lists those it wrote.
OPTIONAL_TABLE_FILES = (CHANGES_FILE,)
#: ``changes.parquet``'s ``change`` values: queue transitions first, then score movement.
CHANGE_KINDS = ("newly_queued", "left_queue", "raised", "lowered", "unchanged")
#: ``changes.parquet``'s leading columns; one column per reason group follows them.
CHANGES_COLUMNS = ("case_id", "previous_score", "score", "change", "base_value_change")
REVIEW_DIR = "review"

REASON_COLUMNS = ("reason_1", "reason_2", "reason_3")
#: The queues of the ``queue`` column, in the order the review index shows them.
QUEUE_VALUES = ("consider_spo", "review")
SCORES_SCHEMA = pa.schema(
    [
        ("case_id", pa.string()),
        ("status", pa.string()),
        ("not_scored_reason", pa.string()),
        ("score", pa.float64()),  # the flag's risk: P(persistence or harm) within the horizon
        ("score_persistence", pa.float64()),  # P(acts on 2+ UK days); empty for a model without the domain
        ("score_harm", pa.float64()),  # P(a threat or violence)
        ("risk_band", pa.string()),
        ("course_of_conduct", pa.bool_()),
        ("consider_spo", pa.bool_()),  # queue == "consider_spo"
        ("queue", pa.string()),  # "consider_spo", "review" or "" (no queue)
        ("queue_reason", pa.string()),  # why the case is queued, "; " between reasons
        ("linked_cases", pa.int64()),  # other cases of the same suspect known by the assessment date
        *((name, pa.string()) for name in REASON_COLUMNS),
        ("model_name", pa.string()),
        ("model_version", pa.string()),
    ]
)
SCORE_COLUMNS = tuple(SCORES_SCHEMA.names)
#: The wide explanations' first columns; then one float64 column per model feature
#: (``explanations_schema``). One row per scored case and outcome (``risk``, ``persistence``,
#: ``harm``): ``base_value`` plus the feature columns = the logit of that outcome's score.
EXPLANATIONS_KEYS = pa.schema(
    [
        ("case_id", pa.string()),
        ("outcome", pa.string()),
        ("base_value", pa.float64()),
    ]
)


def explanations_schema(feature_names: list[str] | tuple[str, ...]) -> pa.Schema:
    """The columns of ``explanations.parquet`` for a model of ``feature_names``."""
    return pa.schema([*EXPLANATIONS_KEYS, *((name, pa.float64()) for name in feature_names)])

"""Plain data the review pages are rendered from.

Scoring builds these views; the renderer never sees the model, the frames or the
files. Keeping the boundary as frozen dataclasses of plain values means pages can
be rendered (and tested) from hand-written cases, and the same inputs always give
the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Risk bands in display order (lowest first).
BANDS: tuple[str, ...] = ("low", "medium", "high", "very_high")


@dataclass(frozen=True)
class GroupContribution:
    """One reason group's share of a case's calibrated log-odds."""

    group: str  # reason-group key, e.g. "threats"
    label: str  # reviewer-facing label, e.g. "Threats"
    contribution: float  # calibrated log-odds
    reason: str  # e.g. "Threats: 3 recorded in the last 30 days (raises concern)"


@dataclass(frozen=True)
class TimelineEvent:
    """One recorded behaviour known by the assessment date."""

    event_time: pd.Timestamp  # UTC; shown in UK local time
    behaviour: str
    channel: str | None


@dataclass(frozen=True)
class ModelInfo:
    """What produced the score, shown on every page."""

    name: str
    version: str
    trained_on: str  # date string
    threshold: float  # flag threshold (probability)
    band_edges: tuple[float, float, float]  # probability cut points low|medium|high|very_high
    label_description: str  # e.g. "threat, violence or order breach within 90 days"


@dataclass(frozen=True)
class CaseView:
    """Everything one case review page shows."""

    case_id: str
    assessment_date: str
    score: float
    risk_band: str
    consider_spo: bool
    course_of_conduct: bool
    base_value: float  # calibrated log-odds
    groups: tuple[GroupContribution, ...]  # all groups, any order; the page sorts by |contribution|
    reasons: tuple[str, ...]  # reason_1..3 as the reviewer sees them
    events: tuple[TimelineEvent, ...]  # known by the assessment date
    facts: tuple[tuple[str, str], ...]  # ("Relationship", "Ex-partner"), ...
    model: ModelInfo
    events_not_shown: int = 0  # earlier events left off the page (only the most recent are shown)

    @property
    def final_log_odds(self) -> float:
        """Base value plus every group's contribution: the logit of ``score``."""
        return float(self.base_value + sum(g.contribution for g in self.groups))


@dataclass(frozen=True)
class FlaggedRow:
    """One row of the index's table of flagged cases."""

    case_id: str
    score: float
    risk_band: str
    reason_1: str
    page: str | None  # relative link (e.g. "cases/AB-1.html") or None


@dataclass(frozen=True, eq=False)
class IndexView:
    """The caseload summary page.

    ``eq=False``: ``scores`` is an array, so field-wise equality has no single truth value.
    """

    title: str
    counts_by_status: dict[str, int]
    counts_by_band: dict[str, int]
    counts_by_flag: dict[str, int]
    scores: np.ndarray  # scored cases' scores, for the distribution chart
    flagged: tuple[FlaggedRow, ...]
    not_scored: tuple[tuple[str, str], ...]  # (case_id, reason); the page shows the first 200
    model: ModelInfo
    not_scored_limit: int = 200
    warnings: tuple[str, ...] = ()  # what degraded the run's scores (a missing column, no events)
    page_cap: int | None = None  # at most this many case pages were written (highest scores first)
    flagged_total: int | None = None  # flagged cases in all (``flagged`` may list only the highest)


def model_info(loaded) -> ModelInfo:
    m = loaded.model
    return ModelInfo(
        name=loaded.name,
        version=str(loaded.version),
        trained_on=str(m.meta.get("trained_at", m.meta.get("data_to", ""))),
        threshold=float(m.threshold),
        band_edges=tuple(float(x) for x in m.band_edges),
        label_description=str(m.meta.get("label_description", "")),
    )

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
    acts: str = ""  # the occasions of the acts behind this group, e.g. "occasions 1, 3 and 4"


@dataclass(frozen=True)
class TimelineEvent:
    """One recorded behaviour known by the assessment date."""

    event_time: pd.Timestamp  # UTC; shown in UK local time
    behaviour: str
    channel: str | None
    target: str | None = None  # victim, third_party, unknown (contract v2)


@dataclass(frozen=True)
class ActRow:
    """One act associated with stalking, as evidence for SPA 2019 s.1(1)(a)."""

    when: str  # UK local date and time
    act: str  # "Following (s.2A(3)(a))", "Threat", ...
    occasion: int  # 1, 2, ...: the distinct UK days with acts, in date order
    channel: str
    target: str  # "the victim", "a third party (stalking by proxy)", "not recorded"
    behaviour: str = ""  # the contract's value ("following", ...): which reason groups cite the act


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
class GroupChange:
    """How much one reason group's contribution moved since the previous screening (log-odds)."""

    group: str
    label: str
    change: float


@dataclass(frozen=True)
class CaseChange:
    """What changed in one case since the previous screening (``stalkrisk score --previous``)."""

    previous_score: float
    score: float
    kind: str  # newly_queued, left_queue, raised, lowered, unchanged
    since: str  # "3 March 2026": the previous assessment day, or the previous run's date
    since_is_assessment: bool  # False: ``since`` is the previous run's date (its cases file is gone)
    base_value_change: float  # the model's starting point (0 with the same model)
    groups: tuple[GroupChange, ...]  # every group of either model, any order
    previous_queue: str = ""
    queue: str = ""
    events_since: tuple[TimelineEvent, ...] | None = ()  # None: not known (no previous assessment day)
    events_since_not_shown: int = 0


@dataclass(frozen=True)
class LinkedCase:
    """One other case of the same suspect known by the assessment date (``features.linking``)."""

    case_id: str
    force: str  # force_code, "not recorded" when empty
    assessment_date: str
    relationship: str  # the suspect's relationship to that case's victim
    victim: str  # "same victim", "another victim" or "victim not recorded"


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
    queue: str = ""  # "consider_spo", "review" or ""
    queue_reason: str = ""
    acts: tuple[ActRow, ...] = ()  # acts associated with stalking known by the assessment date
    orders_in_force: str | None = None  # e.g. "spo, non_molestation"; "" none; None: no orders table
    events_not_shown: int = 0  # earlier events left off the page (only the most recent are shown)
    change: CaseChange | None = None  # since the previous screening (``--previous``), when scored in both
    linked: tuple[LinkedCase, ...] | None = None  # the suspect's other cases; None: no suspect_id or no table
    linked_not_shown: int = 0  # earlier linked cases left off the page
    domains: tuple[DomainView, ...] = ()  # the risk domains' scores and reasons (a model with domains)

    @property
    def final_log_odds(self) -> float:
        """Base value plus every group's contribution: the logit of ``score``."""
        return float(self.base_value + sum(g.contribution for g in self.groups))


@dataclass(frozen=True)
class DomainView:
    """One risk domain on a case page (s.1(1)(b)): its calibrated score and its top reasons."""

    outcome: str  # "persistence", "harm"
    label: str  # what it is the chance of, in plain words
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class FlaggedRow:
    """One row of the index's tables of queued cases (``consider_spo`` or ``review``)."""

    case_id: str
    score: float
    risk_band: str
    reason_1: str
    page: str | None  # relative link (e.g. "cases/AB-1.html") or None
    queue: str = "consider_spo"  # "consider_spo" or "review"
    queue_reason: str = ""


@dataclass(frozen=True)
class ChangedRow:
    """One case of the index's "changed since the last screening" tables."""

    case_id: str
    previous_score: float
    score: float
    kind: str  # newly_queued or raised
    page: str | None
    driver: str = ""  # the reason group that moved the score most, e.g. "Threats"


@dataclass(frozen=True)
class ChangesSummary:
    """The index's first section when a run was compared with a previous one."""

    counts: dict[str, int]  # per change kind, cases scored in both runs
    rows: tuple[ChangedRow, ...]  # newly queued and raised cases (the largest rises first)
    previous: str  # "the run of 3 March 2026 (model stalkrisk version 2)"
    only_now: int = 0  # scored now, not scored (or absent) in the previous run
    only_before: int = 0  # scored before, not scored (or absent) now
    rows_total: int = 0  # newly queued and raised in all (``rows`` may list only the first)


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
    counts_by_queue: dict[str, int] | None = None  # consider_spo, review, none (scored cases)
    warnings: tuple[str, ...] = ()  # what degraded the run's scores (a missing column, no events)
    page_cap: int | None = None  # at most this many case pages were written (highest scores first)
    flagged_total: int | None = None  # flagged cases in all (``flagged`` may list only the highest)
    changes: ChangesSummary | None = None  # since the previous screening (``--previous``)


def model_info(loaded) -> ModelInfo:
    m = loaded.model
    return ModelInfo(
        name=loaded.name,
        version=str(loaded.version),
        trained_on=m.meta.trained_at or m.meta.data_to,
        threshold=float(m.threshold),
        band_edges=tuple(float(x) for x in m.band_edges),
        label_description=m.meta.label_description,
    )

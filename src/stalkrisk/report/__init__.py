"""Self-contained HTML review pages: the caseload index and one page per flagged case.

Scoring builds plain views (``views.py``); ``render.py`` turns them into pages that
need no network, and ``svg.py`` draws their charts.
"""

from __future__ import annotations

from stalkrisk.report.render import (
    case_id_from_page_name,
    case_page_link,
    case_page_name,
    render_case,
    render_index,
    write_review,
)
from stalkrisk.report.views import (
    CaseView,
    DomainView,
    FlaggedRow,
    GroupContribution,
    IndexView,
    ModelInfo,
    TimelineEvent,
    model_info,
)

__all__ = [
    "CaseView",
    "DomainView",
    "FlaggedRow",
    "GroupContribution",
    "IndexView",
    "ModelInfo",
    "TimelineEvent",
    "model_info",
    "case_id_from_page_name",
    "case_page_link",
    "case_page_name",
    "render_case",
    "render_index",
    "write_review",
]

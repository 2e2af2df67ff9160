"""What changed since the previous screening, in plain English for an officer.

The numbers are exact (``outputs.changes``): the change of a case's log-odds is the change of
the model's starting point plus each reason group's change. Log-odds are glossed as what a
reviewer can picture: a change of ``d`` multiplies the odds (the chance it happens against the
chance it does not) by ``exp(d)``.
"""

from __future__ import annotations

import math

from stalkrisk.report import svg
from stalkrisk.report.views import CaseChange, ChangesSummary, GroupChange

#: Group changes smaller than this (log-odds) are not listed.
SMALL = 0.005
#: Group changes smaller than this (log-odds: the odds move by under 5%) are not named as a driver.
DRIVER = 0.05
#: At most this many groups are named as driving a change.
DRIVERS = 3

KIND_LABELS = {
    "newly_queued": "Newly queued",
    "left_queue": "Left the queue",
    "raised": "Score raised",
    "lowered": "Score lowered",
    "unchanged": "Unchanged",
}
KIND_NOTES = {
    "newly_queued": "in no queue at the last screening, in a queue now",
    "left_queue": "in a queue at the last screening, in none now",
    "raised": "risk band up, or score up by at least 2 points within the band",
    "lowered": "risk band down, or score down by at least 2 points within the band",
    "unchanged": "everything else (a move between the two queues included)",
}
_QUEUES = {"consider_spo": "the consider-an-SPO queue", "review": "the review queue", "": "no queue"}


def odds_gloss(delta: float) -> str:
    """``+0.90`` -> "on its own, multiplies the odds by 2.5"."""
    factor = math.exp(abs(delta))
    digits = 2 if factor < 1.995 else 1 if factor < 9.95 else 0
    verb = "multiplies" if delta >= 0 else "divides"
    return f"on its own, {verb} the odds by {factor:.{digits}f}"


def _driver(g: GroupChange) -> str:
    return f"{g.label.lower()} ({svg.signed(g.change)} on the log-odds scale, i.e. {odds_gloss(g.change)})"


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def drivers(change: CaseChange) -> tuple[list[GroupChange], list[GroupChange]]:
    """The groups that moved the score the way it went (largest first), and those against it."""
    total = change.base_value_change + math.fsum(g.change for g in change.groups)
    sign = 1.0 if total >= 0 else -1.0
    moving = sorted((g for g in change.groups if sign * g.change >= DRIVER), key=lambda g: -abs(g.change))
    against = sorted((g for g in change.groups if -sign * g.change >= DRIVER), key=lambda g: -abs(g.change))
    return moving[:DRIVERS], against[:DRIVERS]


def case_change_text(change: CaseChange) -> list[str]:
    """Sentences for a case page: the move, what drove it, what offset it, the queue."""
    since = f"the screening of {change.since}" if change.since_is_assessment else \
        f"the previous screening (run on {change.since})"
    before, now = svg.pct(change.previous_score), svg.pct(change.score)
    if change.score > change.previous_score:
        head = f"Score rose from {before} to {now} since {since}"
        word = "rise"
    elif change.score < change.previous_score:
        head = f"Score fell from {before} to {now} since {since}"
        word = "fall"
    else:
        head = f"Score unchanged at {now} since {since}"
        word = ""
    moving, against = drivers(change)
    out = []
    if word and moving:
        out.append(f"{head}; most of the {word} came from: {_listed([_driver(g) for g in moving])}.")
    else:
        out.append(head + ".")
    if word and against:
        out.append(f"Partly offset by: {_listed([_driver(g) for g in against])}.")
    if abs(change.base_value_change) >= SMALL:
        out.append(f"The model changed between the two screenings: its starting point moved by "
                   f"{svg.signed(change.base_value_change)} on the log-odds scale ({odds_gloss(change.base_value_change)}).")
    if change.previous_queue != change.queue:
        out.append(f"Queue: {_QUEUES.get(change.previous_queue, change.previous_queue)} then, "
                   f"{_QUEUES.get(change.queue, change.queue)} now.")
    out.append("The log-odds scale is the one on which the model adds up its reasons: +0.7 roughly doubles "
               "the odds of the outcome, −0.7 roughly halves them.")
    return out


def change_rows(change: CaseChange) -> list[dict]:
    """Every group that moved, largest first, for the page's table."""
    rows = sorted((g for g in change.groups if abs(g.change) >= SMALL), key=lambda g: -abs(g.change))
    out = [{"label": g.label, "signed": svg.signed(g.change), "gloss": odds_gloss(g.change)} for g in rows]
    if abs(change.base_value_change) >= SMALL:
        out.append({"label": "Model's starting point (a different model)", "signed": svg.signed(change.base_value_change),
                    "gloss": odds_gloss(change.base_value_change)})
    return out


def index_changes_context(summary: ChangesSummary) -> dict:
    """The index's "changed since the last screening" section."""
    return {
        "previous": summary.previous,
        "counts": [(KIND_LABELS[k], KIND_NOTES[k], f"{summary.counts.get(k, 0):,}") for k in KIND_LABELS],
        "compared": f"{sum(summary.counts.values()):,}",
        "only_now": f"{summary.only_now:,}",
        "only_before": f"{summary.only_before:,}",
        "rows": [{"case_id": r.case_id, "href": r.page, "kind": KIND_LABELS.get(r.kind, r.kind),
                  "before": svg.pct(r.previous_score), "now": svg.pct(r.score),
                  "sort": f"{r.score - r.previous_score:.6f}", "driver": r.driver}
                 for r in summary.rows],
        "unlisted": f"{summary.rows_total - len(summary.rows):,}" if summary.rows_total > len(summary.rows) else "",
    }

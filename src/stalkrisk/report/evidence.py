"""The evidence of a review page, laid out by the conditions of SPA 2019 s.1(1).

(a) acts associated with stalking: each dated act, which s.2A(3) example it is (or threat,
violence, breach, contact through a third party), on which occasion (distinct UK calendar day),
through which channel, to whom; (b) the risk and its reasons, which cite the acts' occasions
when acts drive them; (c) necessity, which stays with the reviewer: the questions to answer.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from stalkrisk.data.contract import ACT_BEHAVIOURS, LOCAL_TZ, STATUTORY_BEHAVIOURS
from stalkrisk.report.svg import minute_texts
from stalkrisk.report.views import ActRow, LinkedCase, TimelineEvent

#: s.2A(3) Protection from Harassment Act 1997: the paragraph of each example.
S2A3 = {b: f"s.2A(3)({chr(ord('a') + i)})" for i, b in enumerate(STATUTORY_BEHAVIOURS)}
_ACT_LABELS = {
    "following": "Following", "contacting": "Contacting or attempting to contact",
    "publishing": "Publishing material about the person", "monitoring_online": "Monitoring online",
    "loitering": "Loitering", "property_interference": "Interfering with property",
    "watching": "Watching or spying", "threat": "Threat", "violence": "Violence",
    "order_breach": "Breach of a protective order", "other": "Other behaviour",
}
_TARGETS = {"victim": "the victim", "third_party": "a third party (stalking by proxy)", "unknown": "not known"}
#: The behaviours behind each reason group, for citing the acts.
GROUP_BEHAVIOURS = {
    "threats": ("threat",), "violence": ("violence",), "order_breach": ("order_breach",),
    "following_watching": ("following", "loitering", "watching"), "property": ("property_interference",),
    "online": ("publishing", "monitoring_online"), "contact_frequency": ACT_BEHAVIOURS,
    "escalation": ACT_BEHAVIOURS,
}
#: s.1(1)(c): what only a person can judge.
NECESSITY_QUESTIONS = (
    "Is an order necessary to protect the person from the risk, or would other measures (a charge with "
    "bail conditions, a restraining or non-molestation order, words of advice) be enough?",
    "Which prohibitions would stop the acts recorded here, and which requirements (for example engaging "
    "with a perpetrator programme) would address their cause?",
    "Is anyone else at risk: the victim's family, friends, colleagues or new partner, or other victims of "
    "the same suspect?",
    "What does the victim say, and what would an application, or no application, mean for their safety?",
    "Is anything missing or out of date in the record (a fact shown as not recorded, an order, a later "
    "incident) that would change the answer?",
)


def is_act(behaviour: str, channel: str | None, target: str | None) -> bool:
    """An act associated with stalking: the course-of-conduct proxy's definition."""
    return behaviour in ACT_BEHAVIOURS or channel == "third_party" or target == "third_party"


def act_rows(events: Iterable[TimelineEvent]) -> tuple[ActRow, ...]:
    """The acts among ``events`` (known by the assessment date), oldest first, with occasions."""
    acts = [e for e in events if is_act(e.behaviour, e.channel, e.target)]
    if not acts:
        return ()
    times = pd.to_datetime([e.event_time for e in acts], utc=True)
    order = np.argsort(times.asi8, kind="stable")  # converted and formatted in one go, not per act
    dates, whens = times.tz_convert(LOCAL_TZ).date, minute_texts(times)
    days: dict = {}
    rows = []
    for i in order:
        e = acts[i]
        occasion = days.setdefault(dates[i], len(days) + 1)
        label = _ACT_LABELS.get(e.behaviour, e.behaviour.replace("_", " ").capitalize())
        if e.behaviour in S2A3:
            label += f" ({S2A3[e.behaviour]})"
        elif e.behaviour == "other":
            label += " (through a third party)"
        channel = (e.channel or "not recorded").replace("_", " ")
        rows.append(ActRow(when=whens[i], act=label, occasion=occasion, channel=channel,
                           target=_TARGETS.get(e.target or "", "not recorded"), behaviour=e.behaviour))
    return tuple(rows)


def cited_occasions(group: str, rows: tuple[ActRow, ...]) -> str:
    """The occasions of the acts behind a reason group: "occasions 1, 3 and 4", or ""."""
    wanted = GROUP_BEHAVIOURS.get(group)
    if not wanted or not rows:
        return ""
    found = sorted({r.occasion for r in rows if r.behaviour in wanted})
    if not found:
        return ""
    if len(found) == 1:
        return f"occasion {found[0]}"
    shown = [str(k) for k in found[:12]]
    more = f" and {len(found) - 12} more" if len(found) > 12 else ""
    return f"occasions {', '.join(shown[:-1])} and {shown[-1]}{more}" if not more else \
        f"occasions {', '.join(shown)}{more}"


#: Linked cases listed on a page, latest first; the rest are counted ("and N earlier").
MAX_LINKED = 50


def _plain(value, none: str = "not recorded") -> str:
    return none if value is None or pd.isna(value) else str(value)


def linked_rows(links, case_id: str) -> tuple[tuple[LinkedCase, ...] | None, int]:
    """The suspect's other cases known by the assessment date, for s.1(1)(a)/(b) (latest first, at
    most ``MAX_LINKED``), and how many more there are. ``(None, 0)`` when the case cannot link (no
    ``suspect_id``) or no linking table was given."""
    if links is None:
        return None, 0
    at = int(links.position([case_id])[0]) if len(links.rows) else -1
    if at < 0:
        return None, 0
    found = links.others(case_id)
    if found.empty:
        return (), 0
    victim = links.rows["victim_id"].iloc[at]
    rows = tuple(
        LinkedCase(case_id=str(r.case_id), force=_plain(r.force_code),
                   assessment_date=str(pd.Timestamp(r.assessment_date).date()),
                   relationship=_plain(r.relationship).replace("_", " "),
                   victim=("victim not recorded" if pd.isna(r.victim_id) or pd.isna(victim)
                           else "same victim" if r.victim_id == victim else "another victim"))
        for r in found.head(MAX_LINKED).itertuples(index=False))
    return rows, max(len(found) - MAX_LINKED, 0)

"""The acts listed as evidence for s.1(1)(a), and the occasions a reason group cites (by hand)."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from stalkrisk.report.evidence import act_rows, cited_occasions
from stalkrisk.report.views import TimelineEvent


def event(when: str, behaviour: str, channel: str | None = "in_person", target: str | None = "victim"):
    return TimelineEvent(event_time=pd.Timestamp(when, tz="UTC"), behaviour=behaviour, channel=channel, target=target)


def test_acts_are_oldest_first_with_occasions_by_uk_day():
    events = [
        event("2024-07-02 09:00", "threat", "phone"),
        event("2024-07-01 23:30", "following"),  # 00:30 on 2 July in British Summer Time: occasion 2
        event("2024-07-01 08:00", "following"),
        event("2024-07-01 12:00", "contacting", "phone", "third_party"),
        event("2024-07-01 12:30", "other"),  # not an act: neither its behaviour nor a third party
        event("2024-07-03 10:00", "property_interference", None, None),
    ]
    rows = act_rows(events)
    assert [(r.when, r.occasion, r.behaviour) for r in rows] == [
        ("01 Jul 2024 09:00", 1, "following"),
        ("01 Jul 2024 13:00", 1, "contacting"),
        ("02 Jul 2024 00:30", 2, "following"),
        ("02 Jul 2024 10:00", 2, "threat"),
        ("03 Jul 2024 11:00", 3, "property_interference"),
    ]
    assert rows[0].act == "Following (s.2A(3)(a))"
    assert rows[1].target == "a third party (stalking by proxy)"
    assert (rows[4].channel, rows[4].target) == ("not recorded", "not recorded")


def test_a_group_cites_the_occasions_of_its_own_behaviours():
    rows = act_rows([
        event("2024-01-10 10:00", "following"), event("2024-01-11 10:00", "threat"),
        event("2024-01-12 10:00", "watching"), event("2024-01-12 11:00", "following"),
    ])
    assert cited_occasions("following_watching", rows) == "occasions 1 and 3"
    assert cited_occasions("threats", rows) == "occasion 2"
    assert cited_occasions("violence", rows) == ""
    assert cited_occasions("not_a_group", rows) == ""
    many = act_rows([event(f"2024-03-{d:02d} 12:00", "threat") for d in range(1, 16)])
    assert cited_occasions("threats", many) == "occasions 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 and 3 more"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60 * 24 * 400), st.sampled_from(["following", "threat", "violence",
                                                                          "watching", "other"])),
                max_size=30))
def test_occasions_count_distinct_uk_days_in_order(items):
    events = [event(str(pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(minutes=m)), b) for m, b in items]
    rows = act_rows(events)
    acts = [e for e in events if e.behaviour != "other"]
    local = sorted(e.event_time.tz_convert("Europe/London") for e in acts)
    assert len(rows) == len(acts)
    assert [r.occasion for r in rows] == [sorted({t.date() for t in local}).index(t.date()) + 1 for t in local]

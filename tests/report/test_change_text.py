"""What a case page says changed since the last screening, on a hand-built case."""

from __future__ import annotations

import pandas as pd
from test_report import make_case

from stalkrisk.report.change_text import case_change_text, change_rows, odds_gloss
from stalkrisk.report.render import render_case
from stalkrisk.report.views import CaseChange, GroupChange, TimelineEvent


def _change(**kw) -> CaseChange:
    base = dict(previous_score=0.21, score=0.47, kind="raised", since="3 March 2026", since_is_assessment=True,
                base_value_change=0.0,
                groups=(GroupChange("contact_frequency", "Frequency of recorded behaviour", 0.9),
                        GroupChange("threats", "Threats", 0.25), GroupChange("victim_fear", "Victim's fear", -0.11),
                        GroupChange("online", "Online behaviour", 0.001)),
                previous_queue="", queue="review")
    return CaseChange(**{**base, **kw})


def test_odds_gloss() -> None:
    assert odds_gloss(0.9) == "on its own, multiplies the odds by 2.5"
    assert odds_gloss(-0.11) == "on its own, divides the odds by 1.12"
    assert odds_gloss(3.0) == "on its own, multiplies the odds by 20"


def test_the_rise_its_drivers_what_offset_it_and_the_queue() -> None:
    lines = case_change_text(_change())
    assert lines[0] == ("Score rose from 21% to 47% since the screening of 3 March 2026; most of the rise came "
                        "from: frequency of recorded behaviour (+0.90 on the log-odds scale, i.e. on its own, "
                        "multiplies the odds by 2.5) and threats (+0.25 on the log-odds scale, i.e. on its own, "
                        "multiplies the odds by 1.28).")
    assert lines[1] == ("Partly offset by: victim's fear (\u22120.11 on the log-odds scale, i.e. on its own, "
                        "divides the odds by 1.12).")
    assert lines[2] == "Queue: no queue then, the review queue now."
    assert [r["label"] for r in change_rows(_change())] == ["Frequency of recorded behaviour", "Threats", "Victim's fear"]


def test_a_fall_with_another_model_dated_by_the_previous_run() -> None:
    lines = case_change_text(_change(previous_score=0.6, score=0.3, since="1 March 2026", since_is_assessment=False,
                                     base_value_change=-1.0, groups=(GroupChange("threats", "Threats", -0.2),)))
    assert lines[0].startswith("Score fell from 60% to 30% since the previous screening (run on 1 March 2026); "
                               "most of the fall came from: threats (\u22120.20")
    assert any("The model changed between the two screenings" in line for line in lines)


def test_the_case_page_lists_what_was_recorded_since() -> None:
    since = (TimelineEvent(pd.Timestamp("2026-03-10T09:30Z"), "following", "in_person", "victim"),)
    page = render_case(make_case(case_id="C1", change=_change(events_since=since)))
    assert "Changed since the last screening: Score raised" in page
    assert "10 Mar 2026 09:30" in page and "Following" in page
    unknown = render_case(make_case(case_id="C1", change=_change(events_since=None, since_is_assessment=False)))
    assert "cases file is gone or has changed" in unknown
    assert "Changed since" not in render_case(make_case(case_id="C1"))

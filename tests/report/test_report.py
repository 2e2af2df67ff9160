"""Review pages: file names, escaping, self-containment, additivity, determinism."""

from __future__ import annotations

import base64
import hashlib
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalkrisk.data.contract import CASE_ID_PATTERN
from stalkrisk.report import svg
from stalkrisk.report.render import (
    case_id_from_page_name,
    case_page_link,
    case_page_name,
    render_case,
    render_index,
    waterfall_steps,
    write_case_pages,
    write_review,
)
from stalkrisk.report.views import (
    CaseView,
    FlaggedRow,
    GroupContribution,
    IndexView,
    ModelInfo,
    TimelineEvent,
)

HOSTILE = "<script>alert(1)</script>"
URL_PATTERN = re.compile(r"https?:|//")

MODEL = ModelInfo(
    name="stalkrisk-lgbm",
    version="7",
    trained_on="2025-01-31",
    threshold=0.3,
    band_edges=(0.1, 0.25, 0.5),
    label_description="threat, violence or order breach within 90 days",
)

# base -2.0; +1.2 +0.5 -0.3 +0.001 -0.002 -> final log-odds -0.601, score expit(-0.601) = 0.3541
GROUPS = (
    GroupContribution("threats", "Threats", 1.2, "Threats: 3 recorded in the last 30 days (raises concern)"),
    GroupContribution("frequency", "Contact frequency", 0.5, "Contact frequency: 12 in the last 30 days"),
    GroupContribution("history", "Suspect history", -0.3, "Suspect history: no earlier offences (lowers concern)"),
    GroupContribution("online", "Online behaviour", 0.001, "Online behaviour: none recorded"),
    GroupContribution("victim", "Victim's account", -0.002, "Victim's account: not recorded"),
)
FINAL = -0.601


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


EVENTS = (
    TimelineEvent(utc("2025-01-05 09:00"), "contacting", "text_message"),
    TimelineEvent(utc("2025-02-10 18:30"), "following", "in_person"),
    TimelineEvent(utc("2025-03-01 12:00"), "threat", None),
    TimelineEvent(utc("2025-03-14 23:30"), "contacting", "phone"),  # 23:30 GMT, still 14 March
    TimelineEvent(utc("2025-03-15 00:30"), "violence", "in_person"),  # after the assessment day
)


def make_case(**changes) -> CaseView:
    fields = dict(
        case_id="MPS-2025-000123",
        assessment_date="2025-03-14",
        score=1 / (1 + math.exp(-FINAL)),
        risk_band="high",
        consider_spo=True,
        course_of_conduct=True,
        base_value=-2.0,
        groups=GROUPS,
        reasons=tuple(g.reason for g in GROUPS[:3]),
        events=EVENTS,
        facts=(("Relationship", "Ex-partner"), ("Protective order in force", "No")),
        model=MODEL,
    )
    fields.update(changes)
    return CaseView(**fields)


def make_index(**changes) -> IndexView:
    fields = dict(
        title="Caseload screening, March 2025",
        counts_by_status={"scored": 5, "not_scored": 2},
        counts_by_band={"low": 2, "medium": 0, "high": 1, "very_high": 2},
        counts_by_flag={"true": 2, "false": 3},
        scores=np.array([0.01, 0.02, 0.33, 0.97, 1.0, np.nan]),
        flagged=(
            FlaggedRow("MPS-2025-000123", 0.33, "high", "Threats: 3 recorded", case_page_link("MPS-2025-000123")),
            FlaggedRow("WMP:2025.9", 0.97, "very_high", "Order breach: 1 recorded", case_page_link("WMP:2025.9")),
        ),
        not_scored=(("BAD-1", "victim_age: 7 is below 10"), ("BAD-2", "relationship: 'partner' is not allowed")),
        model=MODEL,
    )
    fields.update(changes)
    return IndexView(**fields)


# --- file names -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case_id", "name"),
    [
        ("C0000042", "C0000042.html"),
        ("case-1", "case-1_lf.html"),
        ("AB-1.2:x_y", "AB-1_2e2_3ax_5fy_l280.html"),
        ("con", "con_l7.html"),
        ("CON", "_43ON.html"),
        ("LPT1", "_4cPT1.html"),
        ("é", "_c3_a9.html"),
        ("", "_.html"),
        ("../etc", "_2e_2e_2fetc_l38.html"),
    ],
)
def test_case_page_name_golden(case_id: str, name: str) -> None:
    assert case_page_name(case_id) == name
    assert case_id_from_page_name(name) == case_id


@given(st.lists(st.text(max_size=80), unique=True, max_size=30))
def test_case_page_name_is_injective_even_ignoring_case(ids: list[str]) -> None:
    names = [case_page_name(i) for i in ids]
    assert len(set(names)) == len(ids)
    assert len({n.lower() for n in names}) == len(ids)  # Windows and macOS shares


@given(st.text(max_size=400))
def test_case_page_name_is_always_safe(case_id: str) -> None:
    name = case_page_name(case_id)
    assert re.fullmatch(r"[A-Za-z0-9_-]+\.html", name)
    assert len(name) <= 220
    stem = name.removesuffix(".html")
    assert stem.upper() not in {"CON", "PRN", "AUX", "NUL"} | {f"{d}{i}" for d in ("COM", "LPT") for i in range(10)}


@given(st.from_regex(CASE_ID_PATTERN, fullmatch=True))
def test_contract_case_ids_round_trip(case_id: str) -> None:
    name = case_page_name(case_id)
    assert "__" not in name
    assert case_id_from_page_name(name) == case_id


@given(st.text(max_size=60))
def test_any_undigested_name_round_trips(case_id: str) -> None:
    name = case_page_name(case_id)
    assert case_id_from_page_name(name) == (None if "__" in name else case_id)


def test_longest_contract_id_is_not_digested() -> None:
    case_id = "A." * 32
    name = case_page_name(case_id)
    assert len(name) <= 220 and case_id_from_page_name(name) == case_id


def test_long_ids_get_a_digest_and_stay_distinct() -> None:
    a, b = "x" * 300 + "a", "x" * 300 + "b"
    assert case_page_name(a) != case_page_name(b)
    assert "__" in case_page_name(a)
    assert case_id_from_page_name(case_page_name(a)) is None


@pytest.mark.parametrize("name", ["x_zz.html", "a__b.html", "abc.txt", "a.html", "a_u1.html", "A_l1.html"])
def test_foreign_names_do_not_decode(name: str) -> None:
    assert case_id_from_page_name(name) is None


# --- formatting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("p", "digits", "text"),
    [(0.3541, 0, "35%"), (0.004, 0, "<1%"), (0.0, 0, "0%"), (0.9996, 0, ">99%"), (1.0, 0, "100%"),
     (0.3, 1, "30.0%"), (0.0004, 1, "<0.1%"), (float("nan"), 0, "–")],
)
def test_pct(p: float, digits: int, text: str) -> None:
    assert svg.pct(p, digits) == text


def test_signed_and_num() -> None:
    assert svg.signed(-0.25) == "\u22120.25"
    assert svg.signed(1.2) == "+1.20"
    assert svg.signed(0.001) == "0.00"
    assert svg.num(-0.0001) == "0.00"


# --- the case page --------------------------------------------------------------------


def _floats(html: str, attribute: str) -> list[float]:
    return [float(v) for v in re.findall(rf'{attribute}="([^"]+)"', html)]


def test_waterfall_bars_add_up_to_the_final_log_odds() -> None:
    html = render_case(make_case())
    base = _floats(re.search(r'<g class="wf-base"[^>]*>', html).group(0), "data-log-odds")[0]
    final = _floats(re.search(r'<g class="wf-final"[^>]*>', html).group(0), "data-log-odds")[0]
    steps = _floats(html, "data-contribution")
    # three groups of their own and the two tiny ones folded into one bar
    assert steps == pytest.approx([1.2, 0.5, -0.3, -0.001])
    assert "2 other groups" in html
    assert base == -2.0
    assert base + math.fsum(steps) == pytest.approx(final, abs=1e-12)
    assert final == pytest.approx(FINAL, abs=1e-12)
    assert svg.expit(final) == pytest.approx(make_case().score)
    # the ends are labelled in probability: 12% and 35%
    assert re.search(r'class="wf-base".*?>12%</text>', html, re.S)
    assert re.search(r'class="wf-final".*?>35%</text>', html, re.S)


@settings(max_examples=60)
@given(st.lists(st.floats(-3, 3, allow_nan=False), max_size=12))
def test_waterfall_steps_keep_the_sum_and_order(values: list[float]) -> None:
    groups = [GroupContribution(f"g{i}", f"G{i}", v, "") for i, v in enumerate(values)]
    steps = waterfall_steps(groups)
    assert math.fsum(s.value for s in steps) == pytest.approx(math.fsum(values), abs=1e-9)
    big = [abs(s.value) for s in steps if not s.label.endswith("other groups")]
    assert big == sorted(big, reverse=True)


def test_case_page_states_result_reasons_law_and_model() -> None:
    html = render_case(make_case())
    assert "<h1>Case MPS-2025-000123</h1>" in html
    assert "Flagged: consider whether to seek a Stalking Protection Order." in html
    assert "The score (35%) is at or above the flag threshold (30.0%)" in html
    assert "Stalking Protection Act 2019" in html
    for test in ("acts associated with stalking", "risk associated with stalking", "necessary"):
        assert f"<strong>{test}</strong>" in html
    assert "not a decision" in html
    reasons = re.search(r'<ol class="reasons">(.*?)</ol>', html, re.S).group(1)
    assert re.findall(r"<li>(.*?)</li>", reasons) == [g.reason.replace("'", "&#39;") for g in GROUPS[:3]]
    assert "<th scope=\"row\">Relationship</th><td>Ex-partner</td>" in html
    assert "stalkrisk-lgbm" in html and "<dd>7</dd>" in html and "2025-01-31" in html
    assert "Assessment date 14 Mar 2025" in html
    assert "<dd>High<small>25.0% to 50.0%</small></dd>" in html


def test_not_flagged_says_why() -> None:
    html = render_case(make_case(consider_spo=False, course_of_conduct=False, score=0.12))
    assert "Not flagged for SPO consideration." in html
    assert "the score (12%) is below the flag threshold (30.0%) and no course of conduct is recorded" in html


def test_timeline_stops_at_the_end_of_the_uk_assessment_day() -> None:
    html = render_case(make_case())
    assert html.count('class="tl-dot"') == 4  # the 00:30 15 March event is not drawn
    assert 'data-behaviour="violence"' not in html
    assert "All 4 events in date order" in html and "15 Mar 2025" not in html
    assert "4 events in 3 behaviours, from 05 Jan 2025 09:00 to 14 Mar 2025 23:30 (UK time)" in html
    # British Summer Time: 22:30 UTC on 1 July is 23:30 that day; 23:30 UTC is already 2 July
    summer = (TimelineEvent(utc("2025-07-01 22:30"), "watching", None),
              TimelineEvent(utc("2025-07-01 23:30"), "threat", None))
    html = render_case(make_case(assessment_date="2025-07-01", events=summer))
    assert html.count('class="tl-dot"') == 1
    assert "01 Jul 2025 23:30" in html and "02 Jul 2025" not in html
    assert "All 1 event in date order" in html
    assert "Assessment date 1 Jul 2025" in html


def test_no_events_is_said_plainly() -> None:
    html = render_case(make_case(events=()))
    assert "No events recorded up to the assessment date" in html
    assert 'class="tl-dot"' not in html


def test_every_data_string_is_escaped() -> None:
    hostile_model = ModelInfo(HOSTILE, HOSTILE, HOSTILE, 0.3, (0.1, 0.25, 0.5), HOSTILE)
    case = make_case(
        case_id=HOSTILE,
        assessment_date="2025-03-14",
        groups=(GroupContribution(HOSTILE, HOSTILE, 0.4, HOSTILE),),
        reasons=(HOSTILE,),
        events=(TimelineEvent(utc("2025-03-01 10:00"), HOSTILE + '" onclick="x', HOSTILE),),
        facts=((HOSTILE, HOSTILE),),
        model=hostile_model,
        risk_band=HOSTILE,
    )
    html = render_case(case)
    assert "<script" not in html
    assert 'onclick="x' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    index = render_index(make_index(
        title=HOSTILE,
        counts_by_status={HOSTILE: 1},
        counts_by_band={HOSTILE: 1},
        counts_by_flag={HOSTILE: 1},
        flagged=(FlaggedRow(HOSTILE, 0.5, HOSTILE, HOSTILE, case_page_link(HOSTILE)),),
        not_scored=((HOSTILE, HOSTILE),),
        model=hostile_model,
    ))
    assert index.count("<script") == 1  # the page's own sorting script, and nothing else
    assert "alert(1)</script>" not in index
    assert f'href="cases/{case_page_name(HOSTILE)}"' in index


@pytest.mark.parametrize("page", ["https://example.org/x.html", "//host/x.html", "javascript:alert(1)",
                                  "../../etc/passwd", "/abs/x.html"])
def test_unsafe_links_are_not_linked(page: str) -> None:
    html = render_index(make_index(flagged=(FlaggedRow("A-1", 0.5, "high", "r", page),)))
    assert "<a href" not in html.split('id="flagged-table"')[1]


def test_pages_reference_nothing_outside_themselves() -> None:
    for html in (render_case(make_case()), render_index(make_index())):
        page = re.sub(r"'sha256-[A-Za-z0-9+/=]+'", "'sha256-…'", html)  # (a script hash may hold "//")
        assert not URL_PATTERN.search(page), URL_PATTERN.search(page)
        assert not re.search(r"""\ssrc=|url\(|@import|<link|<iframe|<object|<embed""", html)
        assert "default-src 'none'" in html


def test_csp_allows_exactly_the_shipped_script() -> None:
    assert "script-src 'none'" in render_case(make_case())
    html = render_index(make_index())
    script = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in html
    no_flags = render_index(make_index(flagged=()))
    assert "<script" not in no_flags and "script-src 'none'" in no_flags
    assert "No cases were flagged." in no_flags


def test_rendering_is_deterministic_and_order_free() -> None:
    case = make_case()
    shuffled = make_case(groups=GROUPS[::-1], events=EVENTS[::-1])
    assert render_case(case) == render_case(case) == render_case(shuffled)
    index = make_index()
    reordered = make_index(
        counts_by_band=dict(reversed(list(index.counts_by_band.items()))),
        counts_by_status=dict(reversed(list(index.counts_by_status.items()))),
        flagged=index.flagged[::-1],
    )
    assert render_index(index) == render_index(reordered)


# --- the index page ---------------------------------------------------------------------


def test_index_counts_histogram_and_flagged_order() -> None:
    html = render_index(make_index())
    counts = [int(n) for n in re.findall(r'class="hist-bar" data-count="(\d+)"', html)]
    assert len(counts) == 20
    assert counts[0] == 2 and counts[6] == 1 and counts[19] == 2 and sum(counts) == 5  # NaN left out
    assert "Scores of 5 scored cases" in html and "3 are at or above the flag threshold" in html
    table = html.split('id="flagged-table"')[1]
    assert table.index("WMP:2025.9") < table.index("MPS-2025-000123")  # highest score first
    assert '<th scope="row">Very high</th><td class="num">2</td>' in html
    assert '<th scope="row">Flagged: consider an SPO</th><td class="num">2</td>' in html
    assert "7 cases" in html


def test_index_shows_the_first_200_not_scored_and_the_count() -> None:
    not_scored = tuple((f"BAD-{i:04d}", "victim_age: 7 is below 10") for i in range(1234))
    html = render_index(make_index(not_scored=not_scored))
    body = html.split('class="notscored"')[1]
    assert body.count("<tr><td") == 200
    assert "BAD-0199" in body and "BAD-0200" not in body
    assert "Showing the first 200 of 1,234 cases not scored" in html
    assert "Cases not scored (1,234)" in html


def test_an_empty_caseload_still_renders() -> None:
    html = render_index(make_index(scores=np.array([]), flagged=(), not_scored=(),
                                   counts_by_status={"scored": 0}, counts_by_band={}, counts_by_flag={}))
    assert "Every case was scored." in html and "No cases were flagged." in html
    assert [int(n) for n in re.findall(r'data-count="(\d+)"', html)] == [0] * 20


# --- writing ------------------------------------------------------------------------------


def test_write_review_writes_linked_pages_atomically(tmp_path: Path) -> None:
    cases = [make_case(), make_case(case_id="WMP:2025.9", score=0.97, risk_band="very_high")]
    write_review(tmp_path, make_index(), iter(cases))
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["cases/MPS-2025-000123.html", "cases/WMP_3a2025_2e9.html", "index.html"]
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    for href in re.findall(r'<a href="([^"]+)"', index):
        assert (tmp_path / href).is_file()
        assert (tmp_path / href).read_text(encoding="utf-8").count('href="../index.html"') == 1
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.html")}
    write_review(tmp_path, make_index(), cases)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.html")} == before


def test_write_review_refuses_duplicate_case_ids(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unique"):
        write_review(tmp_path, make_index(), [make_case(), make_case()])


def test_pages_written_without_create_never_re_create_a_removed_folder(tmp_path: Path) -> None:
    # a Spark task still running after its job failed must not bring back the building folder
    gone = tmp_path / "building" / "review"
    with pytest.raises(FileNotFoundError, match="gone"):
        write_case_pages(gone, [make_case()], set(), create=False)
    assert not (tmp_path / "building").exists()
    (gone / "cases").mkdir(parents=True)
    assert write_case_pages(gone, [make_case()], set(), create=False) == {"MPS-2025-000123.html"}


def test_month_ticks_fall_on_uk_local_month_starts() -> None:
    ticks = svg._month_ticks(utc("2024-08-31 23:00"), utc("2025-03-15 00:00"))
    # 1 September and 1 October 2024 are in British Summer Time (an hour ahead of UTC)
    assert ticks[:3] == [utc("2024-08-31 23:00"), utc("2024-09-30 23:00"), utc("2024-11-01 00:00")]
    assert ticks[-1] == utc("2025-03-01 00:00") and len(ticks) == 7
    decade = svg._month_ticks(utc("2015-03-31 23:00"), utc("2025-07-15 00:00"))
    assert len(decade) <= 8 and all(t.tz_convert("Europe/London").month == 1 for t in decade)


def test_log_odds_is_glossed_and_the_starting_point_explained() -> None:
    """A reviewer reads what "log-odds" means and where the chart starts (issue 21, item 11)."""
    import html as html_mod

    page = html_mod.unescape(render_case(make_case()))
    text = re.sub(r"<[^>]+>", " ", page.split("<body", 1)[1])
    assert "Average case" not in text and "average case" not in text
    assert "pushed the score up or down" in text and "starting point" in text
    assert "It is not the average score of the caseload" in text
    assert "is the scale on which these pushes add up" in text


def test_a_long_history_is_cut_to_the_most_recent_events() -> None:
    page = render_case(make_case(events_not_shown=99_900))
    assert "99,900 earlier events are not" in page

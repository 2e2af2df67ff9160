"""Review pages in headless Chromium: they draw, fetch nothing, raise no errors, and link up."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import pytest
from browser import is_blank, require_chromium
from test_report import make_case, make_index

from stalkrisk.report.render import case_page_link, case_page_name, write_review
from stalkrisk.report.evidence import act_rows
from stalkrisk.report.views import FlaggedRow, TimelineEvent

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SCREENS = Path("/tmp/report-screens")
INJECTION = '<img src="x" onerror="document.title=\'pwned\'">'


@pytest.fixture(scope="module")
def review(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small review folder: two flagged cases (one with a ':' and '.' id) and a hostile one."""
    out = tmp_path_factory.mktemp("review")
    ids = ["MPS-2025-000123", "WMP:2025.9", INJECTION]
    cases = [make_case(case_id=i, score=s, risk_band=b)
             for i, s, b in zip(ids, (0.35, 0.97, 0.41), ("high", "very_high", "high"), strict=True)]
    # a case in the review queue, with its acts as s.1(1)(a) evidence (issue 18)
    events = tuple(TimelineEvent(pd.Timestamp("2025-03-01T10:00Z") + pd.Timedelta(days=k), b, c, t)
                   for k, (b, c, t) in enumerate([("following", "in_person", "victim"),
                                                  ("contacting", "third_party", "third_party"),
                                                  ("order_breach", "phone", "victim")]))
    queued = make_case(case_id="REVIEW-1", score=0.12, risk_band="medium", consider_spo=False, events=events,
                       queue="review", queue_reason="SPO in force with 1 breach in the last 30 days: consider "
                       "breach action (SPA 2019 s.8) or variation (s.4)", acts=act_rows(events),
                       orders_in_force="spo")
    cases.append(queued)
    flagged = tuple(FlaggedRow(c.case_id, c.score, c.risk_band, c.reasons[0], case_page_link(c.case_id),
                               queue=c.queue or "consider_spo", queue_reason=c.queue_reason)
                    for c in cases)
    scores = np.random.default_rng(0).beta(1.2, 6, 400)
    write_review(out, make_index(flagged=flagged, scores=scores,
                                 counts_by_queue={"consider_spo": 3, "review": 1, "none": 396}), cases)
    return out


def _pages(review: Path) -> list[Path]:
    return [review / "index.html", *sorted((review / "cases").glob("*.html"))]


def test_every_page_renders_offline_without_errors(chromium, review: Path) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    keep = {"index.html": "index.png", case_page_name("MPS-2025-000123"): "case.png",
            case_page_name("REVIEW-1"): "case-review.png"}
    for path in _pages(review):
        result = chromium.render(path)
        assert result.requests == [path.resolve().as_uri()], path.name
        assert result.console_errors == [], path.name
        assert not is_blank(result.screenshot_png), path.name
        if path.name in keep:
            (SCREENS / keep[path.name]).write_bytes(result.screenshot_png)


def test_a_hostile_case_id_stays_text(chromium, review: Path) -> None:
    page_path = review / "cases" / case_page_name(INJECTION)
    with chromium.open(page_path) as (page, recorder):
        assert page.title() != "pwned"
        assert page.locator("h1").inner_text() == f"Case {INJECTION}"
        assert page.locator("img").count() == 0
        assert recorder.requests == [page_path.resolve().as_uri()]


def test_flagged_links_resolve_and_sorting_works(chromium, review: Path) -> None:
    index = review / "index.html"
    with chromium.open(index) as (page, recorder):
        hrefs = page.eval_on_selector_all("#flagged-table a", "links => links.map(a => a.href)")
        assert len(hrefs) == 3
        for href in hrefs:
            target = Path(unquote(urlparse(href).path))
            assert urlparse(href).scheme == "file"
            assert target.is_file() and target.parent == (review / "cases").resolve()
        first_cells = "rows => rows.map(r => r.cells[0].innerText)"
        assert page.eval_on_selector_all("#flagged-table tbody tr", first_cells)[0] == "WMP:2025.9"
        page.click("#flagged-table th button[data-col='1']")  # score: descending -> ascending
        assert page.eval_on_selector_all("#flagged-table tbody tr", first_cells)[0] == "MPS-2025-000123"
        assert page.get_attribute("#flagged-table th:nth-child(2)", "aria-sort") == "ascending"
        page.click("#flagged-table th button[data-col='0']")  # case id, ascending
        assert page.eval_on_selector_all("#flagged-table tbody tr", first_cells) == sorted(
            ["MPS-2025-000123", "WMP:2025.9", INJECTION])
        page.click("#flagged-table a >> nth=0")
        page.wait_for_load_state("load")
        assert page.locator("h1").inner_text().startswith("Case ")
        assert recorder.console_errors == []


def test_print_layout_is_not_blank(chromium, review: Path) -> None:
    result = chromium.render(review / "cases" / case_page_name("WMP:2025.9"),
                             action=lambda page: page.emulate_media(media="print"))
    assert not is_blank(result.screenshot_png)
    assert result.console_errors == []


def test_is_blank_tells_an_empty_page_from_a_drawn_one(chromium, tmp_path: Path) -> None:
    empty = tmp_path / "empty.html"
    empty.write_text("<!DOCTYPE html><title>x</title>", encoding="utf-8")
    assert is_blank(chromium.render(empty).screenshot_png)
    fetching = tmp_path / "fetching.html"
    text = "<p>" + "A line of ordinary text on the page. " * 40 + "</p>"
    fetching.write_text(f'<!DOCTYPE html><h1>Hi</h1>{text}<img src="https://example.invalid/x.png">',
                        encoding="utf-8")
    result = chromium.render(fetching)
    assert not is_blank(result.screenshot_png)
    assert "https://example.invalid/x.png" in result.requests  # recorded, and aborted
    assert result.console_errors  # the failed load is reported


def test_missing_chromium_skips_but_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STALKRISK_CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception):
        require_chromium()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception):
        require_chromium()


def test_the_queues_and_the_evidence_show_in_the_browser(chromium, review: Path) -> None:
    with chromium.open(review / "index.html") as (page, _):
        headings = page.locator("h2").all_inner_texts()
        assert "Queue: Consider an SPO (3)" in headings and "Queue: Review (1)" in headings
        assert page.locator("#review-table tbody tr").count() == 1
    with chromium.open(review / "cases" / case_page_name("REVIEW-1")) as (page, _):
        rows = page.locator("table.acts tbody tr").all_inner_texts()
        assert len(rows) == 3 and "a third party (stalking by proxy)" in rows[1]
        assert "Breach of a protective order" in rows[2]
        assert page.locator("ol.questions li").count() == 5

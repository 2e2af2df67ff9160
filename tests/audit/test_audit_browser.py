"""The audit reports in headless Chromium: they draw, fetch nothing, raise no errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from test_audit_fairness import variant
from browser import is_blank

from stalkrisk.audit.case import case_audit
from stalkrisk.audit.drift import drift_audit
from stalkrisk.audit.fairness import fairness_audit
from stalkrisk.audit.pages import render_case_audit, render_drift, render_fairness, write_page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600)]

INJECTION = '<img src="x" onerror="document.title=\'pwned\'">'


@pytest.fixture(scope="module")
def pages(trained, caseload, scored_dir, tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("audit-pages")
    uri = f"models:/stalkrisk/{trained.version}"
    scores = pd.read_parquet(scored_dir / "scores.parquet")
    flagged = scores.loc[scores["consider_spo"].fillna(False).to_numpy(bool), "case_id"].iloc[0]
    files = variant(caseload, out / "data", n=800)
    fair = fairness_audit(uri, files["cases"], files["events"], n_boot=10, proxy_max_rows=600)
    fair.warnings.append(f"hostile text stays text: {INJECTION}")
    return {
        "case": write_page(render_case_audit(case_audit(scored_dir, flagged), scored_dir), out / "case.html"),
        "fairness": write_page(render_fairness(fair), out / "fairness.html"),
        "drift": write_page(render_drift(drift_audit(uri, files["cases"], files["events"])), out / "drift.html"),
    }


@pytest.mark.parametrize("name", ["case", "fairness", "drift"])
def test_audit_page_renders_offline_without_errors(chromium, pages, name) -> None:
    path = pages[name]
    html = path.read_text(encoding="utf-8")
    assert "default-src 'none'" in html and "<script" not in html
    result = chromium.render(path)
    assert result.requests == [path.resolve().as_uri()]
    assert result.console_errors == []
    assert not is_blank(result.screenshot_png)


def test_hostile_text_in_a_report_stays_text(chromium, pages) -> None:
    with chromium.open(pages["fairness"]) as (page, recorder):
        assert page.title() != "pwned"
        assert page.locator("main img").count() == 0
        assert INJECTION in page.locator("main").inner_text()

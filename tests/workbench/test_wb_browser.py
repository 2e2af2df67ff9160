"""The workbench in Debian's Chromium: sign in, see the queue, open a case, record a decision,
download the pack; nothing is fetched from anywhere but the workbench itself."""

from __future__ import annotations

from pathlib import Path

import pytest
from wb_server import PASSWORD

from stalkrisk.workbench.pack import chromium as pdf_chromium

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def test_sign_in_queue_case_decision_and_pack(chromium, server, db, case_ids, tmp_path: Path) -> None:
    from stalkrisk.workbench.decisions import case_history

    cid = case_ids["ours"]
    context = chromium._browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True,
                                            service_workers="block")
    elsewhere: list[str] = []

    def only_here(route) -> None:
        if route.request.url.startswith(server.url + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    context.route("**/*", only_here)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.goto(f"{server.url}/queue")
        assert page.url == f"{server.url}/login"
        page.fill("#username", "alice")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{server.url}/queue")
        assert page.locator("#queue-consider_spo tbody tr").count() > 0
        assert page.locator("h1").inner_text() == "Cases to review"
        page.click(f"#queue-consider_spo a >> text={cid}")
        page.wait_for_url(f"{server.url}/cases/{cid}")
        assert page.locator("h1").inner_text() == f"Case {cid}"
        page.check("input[name=decision][value=apply_interim]")
        page.fill("#reason", "Repeated contact after warnings; victim very afraid.")
        page.fill("#conditions", "No contact by any means; exclusion zone around the victim's street.")
        page.click("form[action$='/decision'] button[type=submit]")
        page.wait_for_load_state("load")
        assert page.locator(".flash").inner_text() == "Decision recorded."
        assert "Apply for an interim SPO" in page.locator("#history").inner_text()
        [decision], _ = case_history(db, cid)
        assert (decision.reviewer, decision.decision) == ("alice", "apply_interim")
        with page.expect_download() as download:
            page.click("#pack-download")
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        html = saved.read_text(encoding="utf-8")
        assert saved.suffix == ".html" and f"Case {cid}" in html and "(c) Necessity" in html
        assert "Repeated contact after warnings" in html  # the decision is in the pack
        if pdf_chromium() is not None:
            with page.expect_download() as download:
                page.click("#pack-pdf")
            pdf = tmp_path / download.value.suggested_filename
            download.value.save_as(pdf)
            assert pdf.read_bytes().startswith(b"%PDF-")
        page.goto(f"{server.url}/cases/{cid}/pack")
        assert page.locator("h2").first.inner_text().startswith("(a) Acts associated with stalking")
        assert errors == [] and elsewhere == []
    finally:
        context.close()

"""Take the docs' workbench screenshots from a scoring folder (run by hand, not a test):

    .venv/bin/python tests/workbench/screenshots.py demo-output/score docs/

Starts the workbench on a throwaway database, signs in a demo reviewer of the force with the
most flagged cases, records one decision on a case with 12-30 acts, and saves the queue, a case and its pack as PNG.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from browser import LAUNCH_ARGS, find_chromium  # noqa: E402

from stalkrisk.workbench.accounts import add_user  # noqa: E402
from stalkrisk.workbench.app import create_app  # noqa: E402
from stalkrisk.workbench.db import open_database  # noqa: E402
from stalkrisk.workbench.results import load_results  # noqa: E402

PASSWORD = "demo reviewer password"


def main(results_dir: str, out: str) -> None:
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    results = load_results(results_dir)
    queued = results.scores.loc[results.scores["queue"] == "consider_spo"]
    force = str(queued["force_code"].value_counts().index[0])
    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"{tmp}/workbench.db")
        add_user(db, "pc.demo", "reviewer", [force], PASSWORD)
        server = make_server("127.0.0.1", 0, create_app(results, db), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}"
        mine = results.queue("consider_spo", (force,)).index
        case = next((str(c) for c in mine if 12 <= len(results.acts(c) or ()) <= 30), str(mine[0]))  # a page-sized chronology
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=find_chromium(), args=LAUNCH_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(f"{url}/login")
            page.fill("#username", "pc.demo")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/queue")
            page.screenshot(path=f"{out}/workbench-queue.png")
            page.goto(f"{url}/cases/{case}")
            page.check("input[name=decision][value=more_information]")
            page.fill("#reason", "Need the victim's account of the last two contacts before deciding.")
            page.click("form[action$='/decision'] button[type=submit]")
            page.wait_for_load_state("load")
            page.check("input[name=decision][value=apply]")
            page.fill("#reason", "Contact continues after two warnings; victim very afraid. Seek a full order.")
            page.fill("#conditions", "No contact by any means; exclusion zone around the victim's home street.")
            page.screenshot(path=f"{out}/workbench-case.png", full_page=True)
            page.goto(f"{url}/cases/{case}/pack")
            page.screenshot(path=f"{out}/workbench-pack.png", full_page=True)
            browser.close()
        server.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

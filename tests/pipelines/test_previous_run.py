"""`stalkrisk score --previous DIR` end to end: a caseload scored, then the same caseload 30 days on.

changes.parquet covers exactly the cases scored in both runs, adds up exactly (1e-9, every row),
the index and case pages say what changed (drawn in headless Chromium), `audit verify` reproduces
it, the previous folder is untouched, and a previous folder that is no complete run is one line,
exit 2.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from browser import is_blank

from stalkrisk.cli import main
from stalkrisk.outputs.changes import group_columns, logit
from stalkrisk.outputs.schema import CHANGE_KINDS, CHANGES_COLUMNS
from stalkrisk.report.render import case_page_name

N_CASES = 800
SHIFT_DAYS = 30


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def screenings(tmp_path_factory, caseload, trained):
    """Two screenings of one caseload, the second 30 days on (with the events recorded meanwhile)."""
    from stalkrisk.pipelines.score import run

    root = tmp_path_factory.mktemp("previous")
    cases = caseload.cases.head(N_CASES).copy()
    events = caseload.events.loc[caseload.events["case_id"].isin(set(cases["case_id"]))]
    ids = cases["case_id"].tolist()
    first, later = cases.copy(), cases.copy()
    later["assessment_date"] = pd.to_datetime(later["assessment_date"]) + pd.Timedelta(days=SHIFT_DAYS)
    first.loc[first["case_id"] == ids[1], "relationship"] = "spaceship"  # not scored then, scored now
    later.loc[later["case_id"] == ids[2], "relationship"] = "spaceship"  # scored then, not scored now
    later = later.loc[later["case_id"] != ids[3]]  # gone from the export
    new = cases.iloc[[4]].assign(case_id="NEW-1")  # new in the export
    later = pd.concat([later, new], ignore_index=True)
    new_events = events.loc[events["case_id"] == ids[4]].assign(case_id="NEW-1")
    folders = {}
    for name, frame, ev in (("first", first, events), ("later", later, pd.concat([events, new_events]))):
        (root / name).mkdir()
        frame.to_csv(root / name / "cases.csv", index=False, date_format="%Y-%m-%d")
        ev.to_csv(root / name / "events.csv", index=False)
        folders[name] = root / name
    model = f"models:/stalkrisk/{trained.version}"
    run(folders["first"] / "cases.csv", folders["first"] / "events.csv", root / "out1", model=model, quiet=True)
    before = _tree(root / "out1")
    code = main(["score", "--cases", str(folders["later"] / "cases.csv"), "--events",
                 str(folders["later"] / "events.csv"), "--out", str(root / "out2"), "--model", model,
                 "--previous", str(root / "out1"), "--quiet"])
    assert code == 0
    return {"root": root, "ids": ids, "before": before, "model": model, **folders}


def _scored(folder: Path) -> set[str]:
    scores = pd.read_parquet(folder / "scores.parquet")
    return set(scores.loc[scores["status"] == "scored", "case_id"])


def test_changes_cover_exactly_the_cases_scored_in_both(screenings) -> None:
    root, ids = screenings["root"], screenings["ids"]
    changes = pd.read_parquet(root / "out2" / "changes.parquet")
    both = _scored(root / "out1") & _scored(root / "out2")
    assert set(changes["case_id"]) == both and len(changes) == len(both)
    for left_out in (ids[1], ids[2], ids[3], "NEW-1"):  # not scored then, not scored now, gone, new
        assert left_out not in set(changes["case_id"])
    assert ids[1] in _scored(root / "out2") and ids[2] in _scored(root / "out1")
    assert tuple(changes.columns[:5]) == CHANGES_COLUMNS and set(changes["change"]) <= set(CHANGE_KINDS)
    assert changes["change"].nunique() >= 3  # 30 days on, cases move


def test_changes_add_up_exactly_on_every_row(screenings) -> None:
    changes = pd.read_parquet(screenings["root"] / "out2" / "changes.parquet")
    moved = logit(changes["score"].to_numpy()) - logit(changes["previous_score"].to_numpy())
    parts = changes["base_value_change"].to_numpy() + changes[group_columns(changes)].to_numpy().sum(axis=1)
    assert np.max(np.abs(moved - parts)) < 1e-9
    assert (changes["base_value_change"] == 0).all()  # the same model: its starting point did not move
    # and the scores are those of the two runs
    prev = pd.read_parquet(screenings["root"] / "out1" / "scores.parquet").set_index("case_id")["score"]
    assert np.array_equal(changes["previous_score"].to_numpy(), prev.loc[changes["case_id"]].to_numpy())


def test_the_previous_folder_is_never_modified_and_the_run_is_recorded(screenings) -> None:
    root = screenings["root"]
    assert _tree(root / "out1") == screenings["before"]
    record = json.loads((root / "out2" / "audit.json").read_text())
    assert record["inputs"]["previous"]["path"] == str((root / "out1").resolve())
    assert "changes.parquet" in record["outputs"]
    assert sum(record["counts"][f"changes_{k}"] for k in CHANGE_KINDS) == len(pd.read_parquet(root / "out2" / "changes.parquet"))


def test_index_shows_what_changed_first(screenings, chromium) -> None:
    root = screenings["root"]
    index = root / "out2" / "review" / "index.html"
    text = index.read_text()
    sections = re.findall(r'<section aria-labelledby="([a-z-]+)"', text)
    assert sections[0] == "changes-h"
    assert "Changed since the last screening" in text
    changes = pd.read_parquet(root / "out2" / "changes.parquet")
    for kind, n in changes["change"].value_counts().items():
        assert re.search(rf"<td class=\"num\">{n:,}</td>", text), kind
    raised = changes.loc[changes["change"].isin(["newly_queued", "raised"])]
    linked = [c for c in raised["case_id"] if f'href="cases/{case_page_name(c)}"' in text]
    assert linked, "newly queued or raised cases link to their pages"
    result = chromium.render(index)
    assert result.console_errors == [] and result.requests == [index.resolve().as_uri()]
    assert not is_blank(result.screenshot_png)


def test_case_pages_say_what_changed_and_list_what_was_recorded_since(screenings, chromium) -> None:
    root = screenings["root"]
    changes = pd.read_parquet(root / "out2" / "changes.parquet").set_index("case_id")
    pages = {p.name: p for p in (root / "out2" / "review" / "cases").glob("*.html")}
    with_change = [c for c in changes.index if case_page_name(c) in pages]
    assert with_change
    events = pd.read_csv(screenings["later"] / "events.csv")
    cases1 = pd.read_csv(screenings["first"] / "cases.csv").set_index("case_id")
    shown_since = 0
    for cid in with_change:
        text = pages[case_page_name(cid)].read_text()
        assert "Changed since the last screening" in text
        row = changes.loc[cid]
        day = pd.Timestamp(cases1.loc[cid, "assessment_date"])
        assert f"since the screening of {day.day} " in text
        if row["score"] > row["previous_score"]:
            assert "Score rose from" in text
        ev = events.loc[events["case_id"] == cid]
        t = pd.to_datetime(ev["event_time"], utc=True, format="ISO8601")
        # the end of each assessment day in UK local time
        end1 = (day + pd.Timedelta(days=1)).tz_localize("Europe/London").tz_convert("UTC")
        end2 = (day + pd.Timedelta(days=SHIFT_DAYS + 1)).tz_localize("Europe/London").tz_convert("UTC")
        new = int(((t >= end1) & (t < end2)).sum()) if "recorded_at" not in ev else None
        if new is None:
            rec = pd.to_datetime(ev["recorded_at"], utc=True, format="ISO8601")
            known_now = (t < end2) & (rec.isna() | (rec < end2))
            known_then = (t < end1) & (rec.isna() | (rec < end1))
            new = int((known_now & ~known_then).sum())
        since = text.split("Recorded since the last screening", 1)[1].split("</section>", 1)[0]
        rows = since.count("<tr>") - 1 if "<table" in since else 0
        assert rows == min(new, 100), cid
        shown_since += rows
    assert shown_since > 0, "some case had acts recorded in the 30 days"
    page = pages[case_page_name(with_change[0])]
    result = chromium.render(page)
    assert result.console_errors == [] and not is_blank(result.screenshot_png)


def test_audit_verify_reproduces_the_changes(screenings, capsys) -> None:
    code = main(["audit", "verify", str(screenings["root"] / "out2")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "changes.parquet" in out


def test_a_previous_folder_that_is_no_complete_run_is_one_line_exit_2(screenings, capsys, tmp_path) -> None:
    root, later = screenings["root"], screenings["later"]
    broken = tmp_path / "broken"
    shutil.copytree(root / "out1", broken)
    (broken / "explanations.parquet").unlink()
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    base = ["score", "--cases", str(later / "cases.csv"), "--events", str(later / "events.csv"),
            "--model", screenings["model"], "--quiet"]
    for previous, out, words in ((broken, tmp_path / "o1", "explanations.parquet"),
                                 (nothing, tmp_path / "o2", "no audit.json"),
                                 (root / "out1", root / "out1", "is the --out folder")):
        code = main([*base, "--out", str(out), "--previous", str(previous), "--overwrite"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and "\n" not in err and words in err and "--previous" in err, err
        assert not (tmp_path / "o1").exists() and not (tmp_path / "o2").exists()
    assert _tree(root / "out1") == screenings["before"]


def test_pages_written_as_the_run_goes_say_what_changed_too(screenings) -> None:
    """--review-cap none writes each part's pages as it goes: the change comes from the part in memory,
    and says the same as the capped run's pages."""
    from stalkrisk.pipelines.score import run

    root, later = screenings["root"], screenings["later"]
    out = root / "uncapped"
    run(later / "cases.csv", later / "events.csv", out, model=screenings["model"], quiet=True,
        review_cap=None, chunk_size=300, previous=root / "out1")
    assert (out / "changes.parquet").read_bytes() == (root / "out2" / "changes.parquet").read_bytes()
    capped = {p.name: p.read_text() for p in (root / "out2" / "review" / "cases").glob("*.html")}
    for path in (out / "review" / "cases").glob("*.html"):
        if path.name in capped:
            section = path.read_text().split('<section aria-labelledby="change-h"', 1)
            theirs = capped[path.name].split('<section aria-labelledby="change-h"', 1)
            assert len(section) == len(theirs)
            if len(section) == 2:
                assert section[1].split("</section>")[0] == theirs[1].split("</section>")[0]

"""The workbench over real HTTP: sign-in, force scoping, CSRF, disabled accounts, hostile input,
the rate limit, concurrent decisions and a restart, against a real SQLite database, and the tests
marked ``both_databases`` against a real PostgreSQL server too."""

from __future__ import annotations

import re
import threading
from datetime import datetime, timezone

import pytest
import requests
import sqlalchemy as sa
from wb_server import PASSWORD, both_databases, sign_in, start_server, token

from stalkrisk.workbench.accounts import MAX_FAILURES, authenticate, disable_user
from stalkrisk.workbench.app import when
from stalkrisk.workbench.db import Decision, Outcome, SignInFailure, open_database

pytestmark = pytest.mark.timeout(120)

RAW_VALUE = re.compile(r">\s*(None|nan|NaN|NaT|True|False|<NA>)\s*<|\b(None|NaN|NaT)\b")
HOSTILE = "<script>document.title='pwned'</script>\"'; DROP TABLE decisions; --"


def decide(s: requests.Session, url: str, case_id: str, **form) -> requests.Response:
    page = s.get(f"{url}/cases/{case_id}", timeout=30)
    return s.post(f"{url}/cases/{case_id}/decision", data={"csrf_token": token(page.text), **form},
                  allow_redirects=False, timeout=30)


def rows(db, model=Decision) -> list:
    with db.session() as s:
        return list(s.scalars(sa.select(model).order_by(model.id)))


def test_no_page_without_signing_in(server, case_ids) -> None:
    cid = case_ids["ours"]
    for path in ("/", "/queue", f"/cases/{cid}", f"/cases/{cid}/pack", f"/cases/{cid}/pack.pdf",
                 f"/cases/{cid}/review", "/cases/NO-SUCH-CASE"):
        r = requests.get(server.url + path, allow_redirects=False, timeout=30)
        assert r.status_code == 302 and r.headers["Location"].endswith("/login"), path
        assert cid not in r.text
    r = requests.post(f"{server.url}/cases/{cid}/decision", data={"decision": "apply", "reason": "x"}, timeout=30)
    assert r.status_code == 400


@both_databases
def test_sign_in_sets_a_strict_httponly_cookie_and_a_strict_policy(server) -> None:
    s, r = sign_in(server.url, "alice")
    assert r.status_code == 302 and r.headers["Location"].endswith("/queue")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    page = s.get(f"{server.url}/queue", timeout=30)
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["Cache-Control"] == "no-store"
    _, wrong = sign_in(server.url, "alice", "not the password")
    assert wrong.status_code == 401


def test_another_forces_case_is_refused_without_its_content(server, results, case_ids) -> None:
    theirs = case_ids["other"]
    secret = results.row(theirs)["reason_1"]
    s, _ = sign_in(server.url, "alice")
    queue = s.get(f"{server.url}/queue", timeout=30).text
    assert case_ids["ours"] in queue and theirs not in queue
    for path in (f"/cases/{theirs}", f"/cases/{theirs}/pack", f"/cases/{theirs}/pack.pdf", f"/cases/{theirs}/review"):
        r = s.get(server.url + path, timeout=60)
        assert r.status_code == 404, path
        assert theirs not in r.text and secret not in r.text
    nowhere = s.get(f"{server.url}/cases/NO-SUCH-CASE", timeout=30)
    assert nowhere.status_code == 404 and nowhere.text == s.get(f"{server.url}/cases/{theirs}", timeout=30).text
    page = s.get(f"{server.url}/cases/{case_ids['ours']}", timeout=30)
    r = s.post(f"{server.url}/cases/{theirs}/decision",
               data={"csrf_token": token(page.text), "decision": "apply", "reason": "not mine"}, timeout=30)
    assert r.status_code == 404


def test_the_case_page_shows_each_risk_domains_score(server, results, case_ids) -> None:
    from stalkrisk.workbench.app import pct

    cid = case_ids["ours"]
    row = results.row(cid)
    s, _ = sign_in(server.url, "alice")
    page = s.get(f"{server.url}/cases/{cid}", timeout=30).text
    for name, label in (("score", "Score (risk of persistence or harm)"),
                        ("score_persistence", "Persistence: acts associated with stalking on two or more days"),
                        ("score_harm", "Harm: a threat or violence")):
        shown = re.search(rf"<dt>{re.escape(label)}</dt><dd id=\"[a-z-]+\">([^<]+)</dd>", page)
        assert shown is not None and shown.group(1) == pct(row[name]), name


def test_a_supervisor_sees_both_forces_and_an_auditor_reads_but_never_decides(server, db, case_ids) -> None:
    sam, _ = sign_in(server.url, "sam")
    queue = sam.get(f"{server.url}/queue", timeout=30).text
    assert case_ids["ours"] in queue and case_ids["other"] in queue
    audrey, _ = sign_in(server.url, "audrey")
    page = audrey.get(f"{server.url}/cases/{case_ids['other']}", timeout=30)
    assert page.status_code == 200 and "Record your decision" not in page.text
    r = audrey.post(f"{server.url}/cases/{case_ids['other']}/decision",
                    data={"csrf_token": token(page.text), "decision": "apply", "reason": "x"}, timeout=30)
    assert r.status_code == 403 and rows(db) == []


def test_a_missing_or_forged_csrf_token_is_refused(server, db, case_ids) -> None:
    cid = case_ids["ours"]
    s, _ = sign_in(server.url, "alice")
    url = f"{server.url}/cases/{cid}/decision"
    form = {"decision": "apply", "reason": "a reason"}
    assert s.post(url, data=form, timeout=30).status_code == 400
    assert s.post(url, data={**form, "csrf_token": "forged." + "A" * 60}, timeout=30).status_code == 400
    bob, _ = sign_in(server.url, "bob")  # a valid token, but of another session
    bobs = token(bob.get(f"{server.url}/cases/{cid}", timeout=30).text)
    assert s.post(url, data={**form, "csrf_token": bobs}, timeout=30).status_code == 400
    assert requests.post(f"{server.url}/login", data={"username": "alice", "password": PASSWORD},
                         timeout=30).status_code == 400
    assert rows(db) == []


@both_databases
def test_a_disabled_user_is_refused_at_once(server, db) -> None:
    s, _ = sign_in(server.url, "bob")
    assert s.get(f"{server.url}/queue", allow_redirects=False, timeout=30).status_code == 200
    disable_user(db, "bob")
    r = s.get(f"{server.url}/queue", allow_redirects=False, timeout=30)
    assert r.status_code == 302 and r.headers["Location"].endswith("/login")
    _, again = sign_in(server.url, "bob")
    assert again.status_code == 401


@both_databases
def test_sql_and_html_in_every_field_are_stored_and_shown_inert(server, db, case_ids) -> None:
    cid = case_ids["ours"]
    s, _ = sign_in(server.url, "alice")
    r = decide(s, server.url, cid, decision="apply", reason=HOSTILE, conditions=HOSTILE)
    assert r.status_code == 303
    page = s.get(f"{server.url}/cases/{cid}", timeout=30)
    r = s.post(f"{server.url}/cases/{cid}/outcome", data={"csrf_token": token(page.text), "outcome": "made",
               "outcome_date": "2025-01-31", "note": HOSTILE}, allow_redirects=False, timeout=30)
    assert r.status_code == 303
    bad = decide(s, server.url, cid, decision=HOSTILE, reason="x")
    assert bad.status_code == 400 and "<script>" not in bad.text
    [d] = rows(db)
    [o] = rows(db, Outcome)
    assert d.reason == HOSTILE and d.conditions == HOSTILE and o.note == HOSTILE
    for path in (f"/cases/{cid}", f"/cases/{cid}/pack"):
        text = s.get(server.url + path, timeout=30).text
        assert "<script>" not in text and "&lt;script&gt;" in text, path
    for path in ("/queue", f"/cases/{cid}", f"/cases/{cid}/pack"):  # plain English, no Python values
        text = s.get(server.url + path, timeout=30).text
        assert not RAW_VALUE.search(text), (path, RAW_VALUE.search(text))
    assert "Order made on 31 Jan 2025" in s.get(f"{server.url}/cases/{cid}", timeout=30).text
    _, r = sign_in(server.url, HOSTILE[:64], "whatever")
    assert r.status_code == 401 and "<script>" not in r.text
    with db.session() as sess:
        assert sess.scalar(sa.select(SignInFailure.username)) == HOSTILE[:64]
    hostile_id = s.get(f"{server.url}/cases/{requests.utils.quote(HOSTILE, safe='')}", timeout=30)
    assert hostile_id.status_code == 404 and "<script>" not in hostile_id.text


@both_databases
def test_failed_sign_ins_are_limited_per_name_and_address_across_restarts(server, results, db, db_url) -> None:
    for _ in range(MAX_FAILURES):
        assert sign_in(server.url, "alice", "wrong password!")[1].status_code == 401
    assert sign_in(server.url, "alice")[1].status_code == 429  # even with the right password
    assert sign_in(server.url, "bob")[1].status_code == 302  # another name is not held up
    assert authenticate(db, "alice", PASSWORD, "10.1.2.3") is not None  # nor another address
    server.stop()
    again = start_server(results, open_database(db_url))
    try:
        assert sign_in(again.url, "alice")[1].status_code == 429
    finally:
        again.stop()


@both_databases
def test_two_reviewers_deciding_at_once_both_land_in_order(server, db, case_ids) -> None:
    cid, rounds = case_ids["ours"], 5
    sessions = [sign_in(server.url, name)[0] for name in ("alice", "bob")]
    tokens = [token(s.get(f"{server.url}/cases/{cid}", timeout=30).text) for s in sessions]
    answers: list[int] = []

    def post(i: int, n: int, start: threading.Barrier) -> None:
        start.wait()
        answers.append(sessions[i].post(f"{server.url}/cases/{cid}/decision", allow_redirects=False, timeout=60, data={
            "csrf_token": tokens[i], "decision": ("apply", "no_application")[i], "reason": f"round {n} reviewer {i}"}
        ).status_code)

    for n in range(rounds):
        start = threading.Barrier(2)
        threads = [threading.Thread(target=post, args=(i, n, start)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert answers == [303] * 2 * rounds
    landed = rows(db)
    assert sorted(d.reason for d in landed) == sorted(f"round {n} reviewer {i}" for n in range(rounds) for i in range(2))
    times = [d.decided_at for d in landed]  # in id order, i.e. the order they landed
    assert times == sorted(times) and len(set(times)) == len(times)
    page = sessions[0].get(f"{server.url}/cases/{cid}", timeout=30).text
    shown = [page.index(d.reason) for d in landed]
    assert shown == sorted(shown, reverse=True)  # newest first on the page


@both_databases
def test_a_restart_loses_nothing(server, results, db, db_url, case_ids) -> None:
    cid = case_ids["ours"]
    s, _ = sign_in(server.url, "alice")
    before = datetime.now(timezone.utc)
    assert decide(s, server.url, cid, decision="more_information", reason="before the restart").status_code == 303
    [first] = rows(db)  # the time is stored with its zone: read back, it is the moment it was taken
    assert before <= first.decided_at <= datetime.now(timezone.utc) and first.decided_at.utcoffset() is not None
    server.stop()
    again = start_server(results, open_database(db_url))  # a new app on the same database
    try:
        page = s.get(f"{again.url}/cases/{cid}", allow_redirects=False, timeout=30)  # the same cookie still works
        assert page.status_code == 200 and "before the restart" in page.text
        assert when(first.decided_at) in page.text  # shown in UK time, whatever the database's clock
        assert decide(s, again.url, cid, decision="apply", reason="after the restart").status_code == 303
    finally:
        again.stop()
    assert [d.reason for d in rows(db)] == ["before the restart", "after the restart"]


@both_databases
def test_decisions_and_outcomes_are_append_only_in_the_database(db) -> None:
    from stalkrisk.workbench.decisions import Shown, record_decision

    shown = Shown("m", "1", 0.9, "high", "consider_spo", "flagged", 0.5, "F01", None, "")
    record_decision(db, "C1", "alice", "apply", "a reason", "", shown)
    for statement in ("UPDATE decisions SET reason = 'changed'", "DELETE FROM decisions"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.engine.begin() as c:
            c.execute(sa.text(statement))
    assert [d.reason for d in rows(db)] == ["a reason"]

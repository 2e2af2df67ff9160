"""The workbench's parts on their own: queue and force reading, the pack's chronology and
suggestions, the CSV export's formula guard, the decisions audit, the schema, and the commands."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime, timezone

import pandas as pd
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from wb_server import PASSWORD, both_databases

from stalkrisk.cli import main as stalkrisk
from stalkrisk.workbench.audit_decisions import audit_decisions, format_audit
from stalkrisk.workbench.decisions import Shown, decisions_frame, neutralise, record_decision, record_outcome
from stalkrisk.workbench.pack import occasions, render_pack, suggestions
from stalkrisk.workbench.results import FLAGGED, Act, derive_queue, load_results, shared_reasons

pytestmark = pytest.mark.timeout(120)


def act(when: str, behaviour: str, channel: str | None = None, target: str | None = None) -> Act:
    return Act(pd.Timestamp(when, tz="UTC"), behaviour, channel, target)


def test_the_queue_is_read_as_written_or_derived_from_the_flag() -> None:
    v1 = pd.DataFrame({"case_id": ["a", "b"], "consider_spo": [True, False]})
    got = derive_queue(v1)
    assert got["queue"].tolist() == ["consider_spo", ""] and got["queue_reason"].tolist() == [FLAGGED, ""]
    v2 = pd.DataFrame({"case_id": ["a", "b", "c"], "consider_spo": [True, False, False],
                       "queue": ["consider_spo", "review", None], "queue_reason": ["score", "order expiring", None]})
    got = derive_queue(v2)
    assert got["queue"].tolist() == ["consider_spo", "review", ""]
    assert got["queue_reason"].tolist() == ["score", "order expiring", ""]


def test_a_sections_shared_queue_reasons_are_said_once() -> None:
    common, own = shared_reasons(pd.Series(["risk; violence (1); breach", "risk; breach", "breach; risk; weapons"]))
    assert common == ["risk", "breach"] and own == [["violence (1)"], [], ["weapons"]]
    assert shared_reasons(pd.Series(["a", "b"])) == ([], [["a"], ["b"]])
    assert shared_reasons(pd.Series([], dtype=object)) == ([], [])


def test_forces_come_from_the_cases_file_and_are_unknown_without_it(results, scored_dir, tmp_path) -> None:
    cases = pd.read_csv(json.loads((scored_dir / "audit.json").read_text())["inputs"]["cases"]["path"])
    expected = cases.set_index("case_id")["force_code"]
    got = results.scores["force_code"]
    assert (got == expected.reindex(got.index).astype(str)).all()
    copy = tmp_path / "run"
    shutil.copytree(scored_dir, copy, ignore=shutil.ignore_patterns("review"))
    audit = json.loads((copy / "audit.json").read_text())
    audit["inputs"]["cases"]["sha256"] = "0" * 64  # the file changed since the run: not used
    (copy / "audit.json").write_text(json.dumps(audit))
    moved = load_results(copy)
    assert set(moved.scores["force_code"]) == {"unknown"} and moved.events is None
    assert any("SHA-256 differs" in n for n in moved.notes)


def test_occasions_are_uk_calendar_days_with_an_act_associated_with_stalking() -> None:
    acts = [act("2024-06-30T22:30", "contacting"),  # 23:30 BST on 30 June
            act("2024-06-30T23:30", "following"),  # 00:30 BST on 1 July: a second day
            act("2024-07-01T10:00", "loitering"),  # the same UK day
            act("2024-07-05T10:00", "other")]  # not an act associated with stalking
    assert occasions(acts) == 2
    assert occasions(acts[:1]) == 1 and occasions([]) == 0


def test_suggestions_follow_the_recorded_behaviours_and_channels() -> None:
    acts = [act("2024-01-01", "contacting", "text_message"), act("2024-01-02", "contacting", "phone"),
            act("2024-01-03", "contacting", "third_party", "third_party"), act("2024-01-04", "loitering", "in_person"),
            act("2024-01-05", "monitoring_online", "social_media")]
    got = suggestions(acts, {"suspect_mental_health_concern": True, "suspect_substance_misuse": False})
    assert [s.kind for s in got] == ["Prohibition"] * 4 + ["Requirement"]
    assert got[0].text.endswith("in person, by telephone, by text message, through social media.")
    assert got[0].basis == "4 recorded acts in person, by telephone, by text message, through social media."
    assert "family, friends" in got[1].text and got[1].basis == "1 act through or aimed at other people."
    assert "exclusion zone" in got[2].text and "mark the zone on a map" in got[2].text
    assert "online accounts" in got[3].text
    assert "mental-health" in got[4].text
    assert suggestions([], {}) == []


def test_the_packs_behaviour_summary_says_an_unrecorded_channel_last() -> None:
    from stalkrisk.workbench.pack import _channel_list

    acts = [act("2024-01-01", "contacting", "text_message"), act("2024-01-02", "contacting"),
            act("2024-01-03", "contacting", "phone"), act("2024-01-04", "contacting", "text_message")]
    assert _channel_list(acts) == "by telephone, by text message, channel not recorded"
    assert _channel_list(acts[:1]) == "by text message" and _channel_list(acts[1:2]) == "channel not recorded"


def test_the_pack_is_laid_out_by_the_three_conditions(results, case_ids) -> None:
    cid = case_ids["ours"]
    html = render_pack(results, cid)
    a, b, c = (html.index(h) for h in ("(a) Acts associated with stalking", "(b) Risk associated with stalking",
                                       "(c) Necessity"))
    assert a < b < c
    acts = results.acts(cid)
    chronology = html[html.index('<table class="chronology">'):b]
    assert chronology.count('<tr><td class="date">') == len(acts) > 0
    assert f"on\n<strong>{occasions(acts)}</strong> separate day" in html
    assert html.count('<span class="tag">Suggestion</span>') == len(suggestions(acts, {
        n: results.fact(cid, n) for n in ("suspect_mental_health_concern", "suspect_substance_misuse")})) > 0
    assert "default-src 'none'" in html and "<script" not in html and "http" not in html.replace("http-equiv", "")


@given(st.text(max_size=30))
def test_neutralise_leaves_no_cell_a_spreadsheet_would_run(text: str) -> None:
    cell = neutralise(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell in (text, "'" + text)


def shown(score: float, threshold: float = 0.5, force: str = "F01", band: str = "high",
          flagged_at: datetime | None = None) -> Shown:
    return Shown("stalkrisk", "3", score, band, "consider_spo", "flagged", threshold, force, flagged_at, "abc")


@both_databases
def test_decisions_export_neutralises_formulas(db, db_url, tmp_path) -> None:
    record_decision(db, "=C1", "alice", "apply", "=HYPERLINK(\"http://x\",\"y\")", "+1 -2", shown(0.9))
    record_decision(db, "C2", "bob", "no_application", "@SUM(A1)", "-2+3+cmd|' /C calc'!A0", shown(0.6))
    record_outcome(db, "=C1", "alice", "made", "2025-02-01", "-note", "F01")
    out = tmp_path / "decisions.csv"
    assert stalkrisk(["decisions", "export", "--db", db_url, "--out", str(out)]) == 0
    with open(out, newline="", encoding="utf-8") as f:
        got = list(csv.DictReader(f))
    assert [r["case_id"] for r in got] == ["'=C1", "C2"]
    assert got[0]["reason"] == "'=HYPERLINK(\"http://x\",\"y\")" and got[0]["conditions"] == "'+1 -2"
    assert got[1]["reason"] == "'@SUM(A1)" and got[1]["conditions"] == "'-2+3+cmd|' /C calc'!A0"
    assert got[0]["outcome"] == "made" and got[0]["outcome_note"] == "'-note" and got[1]["outcome"] == ""
    assert got[0]["score"] == "0.900000" and got[0]["model_version"] == "3"


@both_databases
def test_the_decisions_audit_by_hand(db) -> None:
    flagged = datetime(2025, 1, 1, tzinfo=timezone.utc)
    # near the threshold (0.5): logit distance < 0.5 for scores 0.45..0.6; far: 0.95, 0.99
    for cid, score, decision in (("n1", 0.55, "apply"), ("n2", 0.52, "no_application"), ("n3", 0.48, "refer"),
                                 ("f1", 0.95, "apply"), ("f2", 0.99, "apply_interim")):
        record_decision(db, cid, "alice", decision, "Victim does not support" if decision == "no_application"
                        else "reason", "", shown(score, flagged_at=flagged))
    record_decision(db, "n1", "sam", "apply", "confirmed", "", shown(0.55, flagged_at=flagged))
    frame = decisions_frame(db)
    frame["decided_at"] = flagged + pd.to_timedelta([1, 2, 3, 4, 5, 6], unit="D")
    a = audit_decisions(frame)
    assert (a.records, a.cases, a.changed_minds) == (6, 5, 1)
    assert a.overrides == {"n": 4, "agreed": 3, "overridden": 1, "rate": 0.75, "pending": 1, "override_rate": 0.25}
    assert a.override_reasons == [("victim does not support", 1)]
    assert a.days_to_decision == {"n": 5, "median": 3.0, "p90": pytest.approx(4.6)}
    assert a.automation_bias["near"] == {"n": 2, "agreed": 1, "overridden": 1, "rate": 0.5}
    assert a.automation_bias["far"] == {"n": 2, "agreed": 2, "overridden": 0, "rate": 1.0}
    assert a.by_queue.loc["consider_spo", "total"] == 5
    text = format_audit(a)
    assert "override rate 25%" in text and "never used as training labels" in text


@both_databases
def test_the_migrations_build_exactly_the_models(db) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from stalkrisk.workbench.db import Base

    with db.engine.connect() as c:
        assert compare_metadata(MigrationContext.configure(c), Base.metadata) == []
        assert c.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0001"


@both_databases
def test_the_migrations_go_down_to_empty_and_up_again(db) -> None:
    from alembic import command

    from stalkrisk.workbench.db import Base, alembic_config, upgrade

    record_decision(db, "C1", "alice", "apply", "a reason", "", shown(0.9))
    config = alembic_config()
    with db.engine.begin() as c:
        config.attributes["connection"] = c
        command.downgrade(config, "base")
    assert set(sa.inspect(db.engine).get_table_names()) == {"alembic_version"}
    upgrade(db.engine)
    assert set(sa.inspect(db.engine).get_table_names()) == set(Base.metadata.tables) | {"alembic_version"}
    record_decision(db, "C1", "alice", "apply", "again", "", shown(0.9))
    with pytest.raises(sa.exc.DatabaseError, match="append-only"), db.engine.begin() as c:  # triggers rebuilt
        c.execute(sa.text("DELETE FROM decisions"))


@both_databases
def test_the_commands(db_url, tmp_path, capsys, scored_dir, case_ids, monkeypatch) -> None:
    url = db_url  # empty: the first command migrates it
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(PASSWORD + "\n"))
    assert stalkrisk(["users", "add", "sam", "--role", "supervisor", "--force", "F01", "--force", "F02",
                      "--db", url, "--password-stdin"]) == 0
    for argv in (["users", "add", "sam", "--role", "auditor", "--db", url, "--password-stdin"],  # exists
                 ["users", "add", "r", "--role", "reviewer", "--db", url, "--password-stdin"],  # no force
                 ["users", "disable", "nobody", "--db", url],
                 ["pack", str(tmp_path), "--case-id", "x", "--out", str(tmp_path / "p")],
                 ["pack", str(scored_dir), "--case-id", "NOPE", "--out", str(tmp_path / "p")],
                 ["audit", "decisions", "--db", f"sqlite:///{tmp_path}/no/such/folder.db"]):
        monkeypatch.setattr("sys.stdin", __import__("io").StringIO(PASSWORD + "\n"))
        capsys.readouterr()
        assert stalkrisk(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("stalkrisk "), err
    assert stalkrisk(["users", "disable", "sam", "--db", url]) == 0
    assert stalkrisk(["users", "list", "--db", url]) == 0
    assert "sam                     supervisor  disabled  F01, F02" in capsys.readouterr().out
    assert stalkrisk(["pack", str(scored_dir), "--case-id", case_ids["ours"], "--out", str(tmp_path / "p"),
                      "--no-pdf"]) == 0
    assert list((tmp_path / "p").glob("spo-pack-*.html"))
    assert stalkrisk(["audit", "decisions", "--db", url]) == 0
    assert "no decisions recorded yet" in capsys.readouterr().out


def test_database_urls_are_normalised() -> None:
    from stalkrisk.workbench.db import normalise_url, shown_url

    assert normalise_url("postgresql://sr:pw@db.example:5432/stalkrisk") == "postgresql+psycopg://sr:pw@db.example:5432/stalkrisk"
    assert normalise_url("postgres://sr@db/stalkrisk") == "postgresql+psycopg://sr@db/stalkrisk"
    assert normalise_url("postgresql+psycopg://sr@db/x") == "postgresql+psycopg://sr@db/x"
    assert normalise_url("sqlite:///w.db") == "sqlite:///w.db"
    assert normalise_url("w.db").startswith("sqlite:////") and normalise_url("w.db").endswith("/w.db")
    assert "pw" not in shown_url("postgresql+psycopg://sr:pw@db/x")


def test_postgresql_mistakes_are_one_line_and_never_show_the_password(pg_cluster, capsys) -> None:
    import socket

    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    pg_cluster.create_database("wb_no_rights")
    admin = sa.create_engine(pg_cluster.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:  # PostgreSQL 15: a role that does not own the database may not create tables
        c.execute(sa.text("CREATE ROLE clerk LOGIN PASSWORD 'sekrit-pw'"))
    admin.dispose()
    for url, said in ((f"postgresql://clerk:sekrit-pw@127.0.0.1:{closed}/x", "Connection refused"),
                      (f"postgresql://clerk:sekrit-pw@127.0.0.1:{pg_cluster.port}/wb_no_rights",
                       "permission denied for schema public")):
        capsys.readouterr()
        assert stalkrisk(["users", "list", "--db", url]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err and "sekrit" not in err, err


def test_servers_starting_at_once_on_a_new_postgresql_database_take_turns(pg_cluster) -> None:
    import threading

    from stalkrisk.workbench.db import Base, open_database

    url = pg_cluster.create_database("wb_at_once")
    start, errors, opened = threading.Barrier(3), [], []

    def open_it() -> None:
        start.wait()
        try:
            opened.append(open_database(url))
        except Exception as exc:  # noqa: BLE001  (the failure is the finding)
            errors.append(repr(exc))

    threads = [threading.Thread(target=open_it) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)  # without the migration lock they block each other (or fail on a duplicate table)
    assert errors == [] and len(opened) == 3
    assert set(Base.metadata.tables) <= set(sa.inspect(opened[0].engine).get_table_names())
    for database in opened:
        database.engine.dispose()


def test_a_postgresql_backup_restores_whole_and_still_append_only(pg_cluster, tmp_path) -> None:
    """The backup the PostgreSQL guide gives: pg_dump's custom format, restored into a new database."""
    import subprocess

    from stalkrisk.workbench.accounts import add_user, authenticate
    from stalkrisk.workbench.db import open_database

    db = open_database(pg_cluster.create_database("wb_backed_up"))
    add_user(db, "alice", "reviewer", ["F01"], PASSWORD)
    for n in range(3):
        record_decision(db, f"C{n}", "alice", "apply", f"reason {n}", "", shown(0.9))
    record_outcome(db, "C0", "alice", "made", "2025-02-01", "", "F01")
    before = decisions_frame(db)
    db.engine.dispose()
    dump = tmp_path / "stalkrisk.dump"
    libpq = {"host": "127.0.0.1", "port": str(pg_cluster.port), "user": "postgres"}
    args = [f"--{k}={v}" for k, v in libpq.items()]
    subprocess.run([str(pg_cluster.bin / "pg_dump"), *args, "--format=custom", f"--file={dump}", "wb_backed_up"],
                   check=True, capture_output=True, timeout=60)
    restored_url = pg_cluster.create_database("wb_restored")
    subprocess.run([str(pg_cluster.bin / "pg_restore"), *args, "--dbname=wb_restored", str(dump)],
                   check=True, capture_output=True, timeout=60)
    restored = open_database(restored_url)
    try:
        pd.testing.assert_frame_equal(decisions_frame(restored), before)
        assert authenticate(restored, "alice", PASSWORD, "10.0.0.1") is not None
        record_decision(restored, "C9", "alice", "refer", "after the restore", "", shown(0.7))
        assert decisions_frame(restored)["id"].tolist() == [1, 2, 3, 4]  # the sequence came too
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), restored.engine.begin() as c:
            c.execute(sa.text("UPDATE decisions SET reason = 'changed'"))
    finally:
        restored.engine.dispose()


@both_databases
def test_one_name_added_twice_at_once_is_one_account_and_one_clear_error(db) -> None:
    import threading

    from stalkrisk.workbench import WorkbenchError
    from stalkrisk.workbench.accounts import add_user, list_users

    start, outcomes = threading.Barrier(2), []

    def add() -> None:
        start.wait()
        try:
            outcomes.append(add_user(db, "pc.same", "reviewer", ["F01"], PASSWORD).username)
        except WorkbenchError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=add) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["pc.same", "user 'pc.same' already exists"]
    assert [a.username for a in list_users(db)] == ["pc.same"]

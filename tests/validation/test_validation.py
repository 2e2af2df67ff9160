"""Validation through real Great Expectations: every bad row named, nothing dropped."""

from __future__ import annotations

import json
import pickle
import shutil

import numpy as np
import pandas as pd
import pytest

from fixtures_messy import (
    EXPECTED_FAILURES,
    QUARANTINED,
    VALID_CASES,
    VALID_EVENT_LINES,
    write_messy,
)
from stalkrisk.data import contract
from stalkrisk.data import readers
from stalkrisk.validation import suite as validation
from stalkrisk.data.readers import InputError

KEY = ["table", "line", "case_id", "column", "value", "rule"]


@pytest.fixture(scope="module")
def messy_files(tmp_path_factory):
    return write_messy(tmp_path_factory.mktemp("messy"))


@pytest.fixture(scope="module")
def result(messy_files):
    return validation.load_and_validate(messy_files["cases_csv"], messy_files["events_csv"])


def rows(frame: pd.DataFrame) -> list[tuple]:
    plain = frame[KEY].astype(object)
    return [tuple(r) for r in plain.where(frame[KEY].notna(), None).itertuples(index=False)]


def test_every_bad_row_is_named(result):
    assert rows(result.failures) == EXPECTED_FAILURES
    assert list(result.failures.columns) == list(validation.FAILURE_COLUMNS)


def test_no_case_is_dropped_silently(result):
    assert result.cases_all["case_id"].tolist() == ["C001", "C002", "C003", "C004", "C003", "C005", "C006"]
    assert result.cases["case_id"].tolist() == VALID_CASES
    assert result.quarantine["case_id"].tolist() == QUARANTINED
    assert len(result.cases) + len(result.quarantine) == len(result.cases_all)


def test_events_kept_are_those_of_valid_cases_that_pass(result):
    assert result.events["_line"].tolist() == VALID_EVENT_LINES
    assert result.orphan_events == 1
    assert result.counts == {
        "cases": 7, "cases_valid": 2, "cases_quarantined": 5, "events": 8, "events_valid": 4,
        "events_failing": 4, "orphan_events": 1, "failures": 10,
    }


def test_quarantine_reasons_are_plain_english(result):
    reasons = dict(zip(result.quarantine["line"], result.quarantine["reasons"]))
    assert reasons[7] == (
        "events line 6: behaviour 'shouting' is not an allowed value; "
        "events line 6: event_id 'E5' appears more than once; "
        "events line 7: event_id 'E5' appears more than once; "
        "events line 9: event_time '2024-06-31 10:00' is not an ISO 8601 date or time"
    )
    assert reasons[4] == (
        "cases line 4: case_id 'C003' appears more than once; "
        "cases line 4: victim_age 150 is not between 10 and 110"
    )
    assert reasons[6] == "cases line 6: case_id 'C003' appears more than once"
    assert reasons[3] == "cases line 3: assessment_date '2024-03-32' is not a date written YYYY-MM-DD"


def test_parquet_input_gives_the_same_verdict(messy_files, result):
    pq = validation.load_and_validate(messy_files["cases_parquet"], messy_files["events_parquet"])
    shifted = result.failures.assign(line=result.failures["line"] - 1)
    pd.testing.assert_frame_equal(pq.failures[KEY], shifted[KEY])
    assert pq.quarantine["case_id"].tolist() == QUARANTINED
    assert pq.inputs["cases"]["sha256"] != result.inputs["cases"]["sha256"]


def test_raw_frames_are_normalised_then_validated():
    cases = pd.DataFrame({"Case_ID": ["A", "B"], "assessment_date": ["2024-01-01", "2024-01-02"],
                          "relationship": ["Family", "aunt"], "victim_sex": ["male", "male"],
                          "suspect_sex": ["male", "male"]}, dtype="str")
    events = pd.DataFrame({"case_id": ["A", "B", "Z"], "event_time": ["2024-01-01"] * 3,
                           "behaviour": ["threat"] * 3}, dtype="str")
    r = validation.validate(cases, events)
    assert rows(r.failures) == [
        ("cases", 2, "B", "relationship", "aunt", "allowed_value"),
        ("events", 3, "Z", "case_id", "Z", "case_id_names_a_case"),
    ]
    assert r.cases["case_id"].tolist() == ["A"]
    assert r.events["case_id"].tolist() == ["A"]
    assert r.inputs["cases"] == {"path": None, "sha256": None, "rows": 2}


def test_clean_input_has_no_failures():
    cases = pd.DataFrame({"case_id": ["A"], "assessment_date": ["2024-01-01"], "relationship": ["family"],
                          "victim_sex": ["male"], "suspect_sex": ["female"]}, dtype="str")
    events = pd.DataFrame({"case_id": ["A"], "event_time": ["2024-01-01"], "behaviour": ["threat"]},
                          dtype="str")
    r = validation.validate(cases, events)
    assert r.failures.empty and r.quarantine.empty
    assert "no rule failed" in validation.summarise(r)


def test_a_verdict_sent_through_pickle_gives_the_same_result_and_knows_when_all_is_clean(messy_files, result):
    cases_r, events_r = readers.read_cases(messy_files["cases_csv"]), readers.read_events(messy_files["events_csv"])
    verdict = pickle.loads(pickle.dumps(validation.judge(cases_r, events_r)))  # as a forked child sends it
    again = verdict.apply(cases_r, events_r)
    assert rows(again.failures) == rows(result.failures) and again.counts == result.counts
    pd.testing.assert_frame_equal(again.cases, result.cases)
    pd.testing.assert_frame_equal(again.events, result.events)
    pd.testing.assert_frame_equal(again.quarantine, result.quarantine)
    assert not verdict.clean

    ok_cases = cases_r.frame.loc[~verdict.bad_case].reset_index(drop=True)
    ok_events = events_r.frame.loc[verdict.event_ok].reset_index(drop=True)
    clean = validation.judge(readers.normalise(ok_cases, contract.CASES),
                             readers.normalise(ok_events, contract.EVENTS))
    assert clean.clean and clean.failures.empty


def test_one_bad_event_makes_a_verdict_unclean_though_every_case_row_is_sound():
    cases = pd.DataFrame({"case_id": ["A", "B"], "assessment_date": ["2024-01-01"] * 2, "relationship": ["family"] * 2,
                          "victim_sex": ["male"] * 2, "suspect_sex": ["female"] * 2}, dtype="str")
    events = pd.DataFrame({"case_id": ["A", "B", "Z"], "event_time": ["2024-01-01"] * 3,
                           "behaviour": ["threat"] * 3}, dtype="str")
    orphan = validation.judge(readers.normalise(cases, contract.CASES), readers.normalise(events, contract.EVENTS))
    assert not orphan.bad_case.any() and orphan.event_ok.tolist() == [True, True, False]
    assert not orphan.clean
    both = validation.judge(readers.normalise(cases, contract.CASES),
                            readers.normalise(events.head(2), contract.EVENTS))
    assert both.clean


def test_summary_counts_rules_and_gives_examples(result):
    text = validation.summarise(result)
    assert "cases: 7 rows, 2 valid, 5 quarantined" in text
    assert "events: 8 rows, 4 used, 4 failing, 1 naming no case" in text
    assert "  cases.case_id unique: 2 rows, e.g. 'C003'" in text
    assert "  events.behaviour allowed_value: 1 row, e.g. 'shouting'" in text
    assert "C001" not in text  # a valid case's contents never appear


def test_report_is_written_atomically_and_complete(result, tmp_path):
    path = validation.write_report(result, tmp_path / "validation.json")
    report = json.loads(path.read_text())
    assert [tuple(f[k] for k in KEY) for f in report["failures"]] == EXPECTED_FAILURES
    assert report["counts"] == result.counts
    assert report["inputs"]["events"]["rows"] == 8 and len(report["inputs"]["events"]["sha256"]) == 64
    assert [q["case_id"] for q in report["quarantine"]] == QUARANTINED
    assert sorted(p.name for p in tmp_path.iterdir()) == ["validation.json"]


# --- local suites ------------------------------------------------------------------


@pytest.fixture
def suites_dir(tmp_path):
    root = tmp_path / "expectations"
    shutil.copytree(validation.DEFAULT_EXPECTATIONS_DIR, root,
                    ignore=shutil.ignore_patterns("README.md", "*.json.*"))
    for extra in (root / "local").glob("*.json"):  # a force's own suites must not leak in
        extra.unlink()
    return root


def local_suite(meta: dict, expectations: list[dict]) -> dict:
    return {"name": "force rules", "meta": meta, "expectations": expectations}


def test_local_suites_run_by_meta_and_by_file_name(messy_files, suites_dir):
    (suites_dir / "local" / "channel_required.json").write_text(json.dumps(local_suite(
        {"table": "events"},
        [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "channel"},
          "meta": {"rule": "channel_required", "message": "{column} must be recorded"}}],
    )))
    (suites_dir / "local" / "cases_force.json").write_text(json.dumps(local_suite(
        {}, [{"type": "expect_column_values_to_be_in_set",
              "kwargs": {"column": "force_code", "value_set": ["WM"]}}],
    )))
    r = validation.load_and_validate(messy_files["cases_csv"], messy_files["events_csv"],
                                     expectations_dir=suites_dir)
    extra = r.failures[r.failures["rule"].isin(["channel_required", "expect_column_values_to_be_in_set"])]
    assert rows(extra) == [("events", line, cid, "channel", None, "channel_required")
                           for line, cid in [(5, "C006"), (6, "C005"), (7, "C005"), (8, "C999"), (9, "C005")]]
    assert extra["message"].iloc[0] == "channel must be recorded"
    assert r.cases["case_id"].tolist() == ["C001"]  # C006 now has an event that breaks a rule


def test_a_suite_without_a_table_is_an_input_error(suites_dir):
    bad = suites_dir / "local" / "mystery.json"
    bad.write_text(json.dumps(local_suite({}, [])))
    with pytest.raises(InputError, match=r"^mystery\.json: suite names no table"):
        validation.load_suites(suites_dir)


def test_an_expectation_on_a_missing_column_is_an_input_error(suites_dir):
    (suites_dir / "local" / "events_x.json").write_text(json.dumps(local_suite(
        {"table": "events"},
        [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "officer"}}],
    )))
    cases = pd.DataFrame({"case_id": ["A"], "assessment_date": ["2024-01-01"], "relationship": ["family"],
                          "victim_sex": ["male"], "suspect_sex": ["female"]}, dtype="str")
    events = pd.DataFrame({"case_id": ["A"], "event_time": ["2024-01-01"], "behaviour": ["threat"]},
                          dtype="str")
    with pytest.raises(InputError) as info:
        validation.validate(cases, events, expectations_dir=suites_dir)
    assert str(info.value).startswith("events_x.json: expect_column_values_to_not_be_null on officer")
    assert info.value.column == "officer"


def test_missing_expectations_folder(tmp_path):
    with pytest.raises(InputError, match="expectations folder not found"):
        validation.load_suites(tmp_path / "nowhere")


def test_default_suites_are_found():
    tables = sorted({s.table for s in validation.load_suites()})
    assert tables == ["cases", "events", "history", "orders"]  # orders, history: the optional tables of contract v2
    assert (validation.DEFAULT_EXPECTATIONS_DIR / "cases.json").is_file()


def test_reader_problem_is_not_reported_twice():
    """A required time that could not be parsed is one failure, not also 'required'."""
    cases = readers.normalise(pd.DataFrame({
        "case_id": ["A"], "assessment_date": ["01/02/2024"], "relationship": ["family"],
        "victim_sex": ["male"], "suspect_sex": ["female"]}, dtype="str"), contract.CASES, first_line=2)
    events = pd.DataFrame({"case_id": ["A"], "event_time": [""], "behaviour": ["threat"]}, dtype="str")
    r = validation.validate(cases, events)
    assert rows(r.failures) == [
        ("cases", 2, "A", "assessment_date", "01/02/2024", "parseable_date"),
        ("events", 1, "A", "event_time", None, "required"),
    ]


def _cases(ids: list[str], relationship: list[str | None], ages: list[int]) -> pd.DataFrame:
    n = len(ids)
    return pd.DataFrame({"case_id": ids, "assessment_date": ["2024-01-01"] * n, "relationship": relationship,
                         "victim_sex": ["male"] * n, "suspect_sex": ["female"] * n,
                         "victim_age": [str(a) for a in ages]}, dtype="str")


def test_a_runner_remembers_verdicts_across_frames_and_matches_a_fresh_one():
    """The second frame repeats a failing value GX judged in the first (and a missing one), adds
    a new failing value, and has more distinct ages than the memo keeps: every verdict must be
    what a runner seeing that frame alone reaches."""
    events = pd.DataFrame({"case_id": ["A"], "event_time": ["2024-01-01"], "behaviour": ["threat"]}, dtype="str")
    first = _cases(["A", "B", "C"], ["family", "aunt", None], [30, 200, 40])
    ages = list(range(validation.MEMO_LIMIT + 10))
    second = _cases([f"D{i}" for i in range(len(ages))],
                    (["aunt", "family", None, "boss"] * len(ages))[: len(ages)], ages)
    suites = validation.load_suites()
    runner = validation.SuiteRunner(suites)
    for frame in (first, second, first):
        shared = validation.validate(frame, events, runner=runner)
        alone = validation.validate(frame, events, runner=validation.SuiteRunner(suites))
        assert rows(shared.failures) == rows(alone.failures)
        assert shared.quarantine["case_id"].tolist() == alone.quarantine["case_id"].tolist()
    second_rows = rows(validation.validate(second, events, runner=runner).failures)
    assert ("cases", 1, "D0", "relationship", "aunt", "allowed_value") in second_rows  # remembered
    assert ("cases", 4, "D3", "relationship", "boss", "allowed_value") in second_rows  # new
    assert sum(r[3] == "victim_age" for r in second_rows) == len(ages) - 101  # ages 0-9 and 111 up
    memos = runner._memos.values()  # memory stays bounded: a memo past the limit is not kept open
    assert all(m.open == (len(m.seen) <= validation.MEMO_LIMIT) for m in memos if m.open)
    assert sum(not m.open for m in memos) == 2  # case ids, and ages (too many distinct values)


def test_events_follow_any_usable_row_of_their_case_id_when_a_suite_allows_repeats(suites_dir):
    """A force's suites may drop the uniqueness rule: then an id with one bad row and one good
    row still has a usable case, and its events are kept; an id whose only row is bad has none."""
    spec = json.loads((suites_dir / "cases.json").read_text())
    spec["expectations"] = [e for e in spec["expectations"] if e["type"] != "expect_column_values_to_be_unique"]
    (suites_dir / "cases.json").write_text(json.dumps(spec))
    cases = _cases(["A", "A", "B", "C"], ["aunt", "family", "aunt", "family"], [30, 30, 30, 30])
    events = pd.DataFrame({"case_id": ["A", "B", "C", "A", "Z", None], "event_time": ["2024-01-01"] * 6,
                           "behaviour": ["threat"] * 6}, dtype="str")
    r = validation.validate(cases, events, expectations_dir=suites_dir)
    assert r.quarantine["line"].tolist() == [1, 3]  # the 'aunt' rows: A's first, B's only
    assert r.events["_line"].tolist() == [1, 3, 4]  # A, C, A; not B (no usable row), Z (no case), None
    assert r.orphan_events == 1


def test_events_naming_a_case_reuse_the_verdicts_on_its_id():
    """The runner asks GX only about events' case ids that name no case; failures are the same."""
    cases = pd.DataFrame({"case_id": ["A", "bad id!"], "assessment_date": ["2024-01-01"] * 2,
                          "relationship": ["family"] * 2, "victim_sex": ["male"] * 2,
                          "suspect_sex": ["female"] * 2}, dtype="str")
    events = pd.DataFrame({"case_id": ["A", "bad id!", "orphan?"], "event_time": ["2024-01-01"] * 3,
                           "behaviour": ["threat"] * 3}, dtype="str")
    frames = {"cases": readers.normalise(cases, contract.CASES).frame,
              "events": readers.normalise(events, contract.EVENTS).frame}
    naming = np.array([True, True, False])
    plain = validation.SuiteRunner(validation.load_suites()).run(frames)
    hinted = validation.SuiteRunner(validation.load_suites()).run(
        frames, same_values={("events", "case_id"): (("cases", "case_id"), naming)})
    pd.testing.assert_frame_equal(hinted, plain)
    bad_ids = plain.loc[(plain["table"] == "events") & (plain["column"] == "case_id"), "value"].tolist()
    assert sorted(bad_ids) == ["bad id!", "orphan?"]
    # The hint is taken at its word: rows said to name a case are not looked at.
    trusting = validation.SuiteRunner(validation.load_suites()).run(
        frames, same_values={("events", "case_id"): (("cases", "case_id"), np.ones(3, dtype=bool))})
    assert "orphan?" not in trusting["value"].tolist()


def test_a_forces_own_suites_folder_is_read_beside_the_packaged_suites(tmp_path, monkeypatch):
    (tmp_path / "channel_required.json").write_text(json.dumps(local_suite(
        {"table": "events"},
        [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "channel"}, "meta": {"rule": "r"}}],
    )))
    packaged = [s.path for s in validation.load_suites()]
    monkeypatch.setenv(validation.LOCAL_SUITES_ENV, str(tmp_path))
    assert [s.path for s in validation.load_suites()] == packaged + [tmp_path / "channel_required.json"]
    monkeypatch.setenv(validation.LOCAL_SUITES_ENV, str(tmp_path / "missing"))
    with pytest.raises(InputError, match="does not exist"):
        validation.load_suites()

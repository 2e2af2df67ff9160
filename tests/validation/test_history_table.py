"""The optional history table (contract v2): each bad row reported with its file, line, column and
rule, its suspect's cases quarantined, never dropped; the prior counts built from it as of each
assessment day (hand-worked), the exported columns the fallback; and the leakage property: rows
recorded after the assessment day shape no feature."""

from __future__ import annotations

import json
from datetime import timedelta

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stalkrisk.cli import main
from stalkrisk.data import contract, readers
from stalkrisk.features import build_features
from stalkrisk.features.asof import day_end_utc
from stalkrisk.features.history_asof import HISTORY_COLUMNS, PRIOR_OF_OFFENCE, with_history
from stalkrisk.validation.history import apply_history, check_history
from stalkrisk.validation.suite import SuiteRunner, load_and_validate, load_suites, validate

CASES = pd.DataFrame({"case_id": ["A", "B", "C"], "assessment_date": ["2024-03-10", "2024-07-01", "2024-03-10"],
                      "relationship": ["stranger"] * 3, "victim_sex": ["female"] * 3, "suspect_sex": ["male"] * 3,
                      "suspect_id": ["S1", "S2", None], "suspect_prior_stalking": ["9", "9", "4"],
                      "suspect_prior_violence": ["9", "9", "1"]}, dtype="str")
EVENTS = pd.DataFrame({"case_id": ["A", "B", "C"], "event_time": ["2024-02-01"] * 3,
                       "behaviour": ["following"] * 3}, dtype="str")
HISTORY = pd.DataFrame({
    "suspect_id": ["S1", "S1", "S1", "S1", "S1", "S2", "S2"],
    "offence_date": ["2023-01-01", "2024-03-10", "2024-03-01", "2022-01-01", "2023-05-05", "2024-06-30", "2024-06-30"],
    # times without an offset are UK local: the end of A's day (10 March) is local midnight, 2024-03-11 00:00
    # UTC; of B's (1 July, summer time) 2024-07-02 00:00 local, which is 2024-07-01 23:00 UTC
    "recorded_at": ["2023-01-02T10:00", "2024-03-10T23:59", "2024-03-11T00:00", "2022-01-02", "2023-05-06",
                    "2024-07-01T23:00+00:00", "2024-07-01T23:59"],
    "offence": ["harassment", "sexual", "stalking", "domestic_abuse", "order_breach", "violence", "stalking"],
}, dtype="str")
BAD = pd.DataFrame({"suspect_id": ["S2", None, "S1"], "offence_date": ["2024-02-30", "2024-01-01", "2024-01-01"],
                    "recorded_at": ["2024-03-01", "2024-01-02", "2024-01-02"],
                    "offence": ["stalking", "stalking", "burglary"]}, dtype="str")


@pytest.fixture(scope="module")
def runner():
    return SuiteRunner(load_suites())


def norm(frame: pd.DataFrame, table: contract.Table) -> pd.DataFrame:
    return readers.normalise(frame, table).frame


def test_prior_counts_are_built_as_of_the_assessment_day_by_hand():
    got = with_history(norm(CASES, contract.CASES), norm(HISTORY, contract.HISTORY))
    rows = got[["case_id", *HISTORY_COLUMNS]].astype(object).where(got.notna(), None).values.tolist()
    assert rows == [
        # A: harassment (stalking count) and a sexual offence recorded 23:59 on the day (violence count);
        # the stalking recorded at the very end of the day is not known; domestic abuse flag; a breach counts nowhere
        ["A", 1, 1, True],
        # B: the stalking recorded 23:59 local is known; the violence recorded at 23:00 UTC, the very end, is not
        ["B", 1, 0, False],
        # C names no suspect: the exported counts stay (the fallback)
        ["C", 4, 1, None],
    ]
    assert set(PRIOR_OF_OFFENCE) <= set(contract.OFFENCES)
    cases = norm(CASES, contract.CASES)
    assert with_history(cases, None) is cases  # no history table: the export as it was


def test_each_bad_history_row_is_reported_and_its_suspects_cases_quarantined(runner):
    check = check_history(readers.normalise(BAD, contract.HISTORY, first_line=2), runner)
    f = check.failures[["table", "line", "column", "value", "rule"]].astype(object)
    got = f.where(f.notna(), None).values.tolist()
    assert got == [["history", 2, "offence_date", "2024-02-30", readers.RULE_DATE],
                   ["history", 3, "suspect_id", None, "required"],
                   ["history", 4, "offence", "burglary", "allowed_value"]]
    assert check.history.empty
    base = validate(readers.normalise(CASES, contract.CASES), readers.normalise(EVENTS, contract.EVENTS),
                    runner=runner)
    result = apply_history(base, check)
    assert sorted(result.quarantine["case_id"]) == ["A", "B"] and result.cases["case_id"].tolist() == ["C"]
    reasons = dict(zip(result.quarantine["case_id"], result.quarantine["reasons"]))
    assert reasons["A"].startswith("history line 4: offence 'burglary'") and "history line 2" in reasons["B"]
    assert result.counts["cases_valid"] == 1 and result.counts["cases_quarantined"] == 2


def test_the_validate_and_features_commands_read_history(tmp_path, capsys):
    for name, frame in (("cases", CASES), ("events", EVENTS), ("history", pd.concat([HISTORY, BAD]))):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    args = ["--cases", str(tmp_path / "cases.csv"), "--events", str(tmp_path / "events.csv"),
            "--history", str(tmp_path / "history.csv")]
    report = tmp_path / "report.json"
    assert main(["validate", *args, "--report", str(report)]) == 1
    assert "history: 10 rows, 3 failing" in capsys.readouterr().out
    doc = json.loads(report.read_text())
    assert {(f["table"], f["line"], f["column"], f["rule"]) for f in doc["failures"]} == {
        ("history", 9, "offence_date", readers.RULE_DATE), ("history", 10, "suspect_id", "required"),
        ("history", 11, "offence", "allowed_value")}
    assert doc["inputs"]["history"]["rows"] == 10
    HISTORY.to_csv(tmp_path / "history.csv", index=False)
    assert main(["features", *args, "--out", str(tmp_path / "f.parquet")]) == 0
    features = pd.read_parquet(tmp_path / "f.parquet")
    assert features["suspect_prior_stalking"].tolist() == [1, 1, 4]
    assert features["sdash_prior_harassment"].tolist() == [1, 1, 1]
    validation = load_and_validate(tmp_path / "cases.csv", tmp_path / "events.csv",
                                   history_path=tmp_path / "history.csv")
    assert validation.cases["suspect_prior_violence"].tolist() == [1, 0, 1]


DAY = pd.Timestamp("2024-03-31")  # the clocks go forward: the end of the day is 2024-03-31 23:00 UTC


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(later=st.lists(st.tuples(st.sampled_from(["S1", "S2", "S9"]), st.integers(-800, 30),
                                st.integers(0, 400 * 24 * 60), st.sampled_from(contract.OFFENCES)),
                      min_size=1, max_size=30))
def test_nothing_recorded_after_the_assessment_day_shapes_a_feature(later):
    """Append arbitrary rows recorded at or after the end of each case's assessment day (any offence,
    any offence date, the cases' own suspects): every feature stays as it was."""
    cases = norm(CASES.assign(assessment_date=[str(DAY.date()), "2024-03-30", str(DAY.date())]), contract.CASES)
    events = norm(EVENTS, contract.EVENTS)
    history = norm(HISTORY, contract.HISTORY)
    end = day_end_utc(DAY)  # the latest end of day among the cases
    extra = pd.DataFrame({
        "suspect_id": [s for s, _, _, _ in later],
        "offence_date": [str((DAY + pd.Timedelta(days=d)).date()) for _, d, _, _ in later],
        "recorded_at": [(end + timedelta(minutes=m)).isoformat() for _, _, m, _ in later],  # from the very instant
        "offence": [o for _, _, _, o in later]}, dtype="str")
    grown = pd.concat([history, norm(extra, contract.HISTORY)], ignore_index=True)
    before = build_features(with_history(cases, history), events)
    after = build_features(with_history(cases, grown), events)
    pd.testing.assert_frame_equal(after, before, check_exact=True)

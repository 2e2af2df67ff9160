"""The optional orders table (contract v2): each bad row reported with its line, column, value
and rule; the cases it names quarantined, never dropped; a protective_order_in_force that
disagrees with the orders reported as a warning and kept as it was; v1 files still valid."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from stalkrisk.cli import main
from stalkrisk.data import contract, readers
from stalkrisk.validation.orders import RULE_AGREES, apply_orders, check_orders
from stalkrisk.validation.parts import validate_files
from stalkrisk.validation.suite import SuiteRunner, load_suites, validate

CASES = pd.DataFrame({"case_id": ["A", "B", "C", "D"], "assessment_date": ["2024-03-01"] * 4,
                      "relationship": ["stranger"] * 4, "victim_sex": ["female"] * 4, "suspect_sex": ["male"] * 4,
                      "suspect_id": ["S1", "S2", "S3", "S4"], "protective_order_in_force": ["false", "", "", "true"]},
                     dtype="str")
EVENTS = pd.DataFrame({"case_id": ["A", "B", "C", "D"], "event_time": ["2024-02-01"] * 4,
                       "behaviour": ["following"] * 4, "target": ["victim", "third_party", "unknown", "Victim "]},
                      dtype="str")
ORDERS = pd.DataFrame({
    "order_id": ["o1", "o2", "o3", "o4", "o5"],
    "case_id": ["A", None, None, "C", None],
    "suspect_id": [None, None, "S2", None, "S9"],
    "order_type": ["spo", "dvpo", "non_molestation", "banana", "spo"],
    "made_on": ["2024-01-01", "2024-01-01", "2024-01-01", "2024-01-01", "2024-02-01"],
    "expires_on": ["", "", "", "", "2024-01-31"],
}, dtype="str")


@pytest.fixture(scope="module")
def runner():
    return SuiteRunner(load_suites())


def test_each_bad_orders_row_is_reported_with_line_column_value_and_rule(runner):
    check = check_orders(readers.normalise(ORDERS, contract.ORDERS, first_line=2), runner)
    got = check.failures[["line", "column", "value", "rule"]].astype(object).where(check.failures.notna(), None).values.tolist()
    assert got == [[3, "case_id", None, contract.RULE_ORDER_NAMES_SOMEONE],
                   [5, "order_type", "banana", "allowed_value"],
                   [6, "expires_on", "2024-01-31", contract.RULE_EXPIRES_AFTER_MADE]]
    assert check.failures["message"].iloc[1] == "order_type 'banana' is not an allowed value"
    assert check.orders["order_id"].tolist() == ["o1", "o3"]


def test_named_cases_are_quarantined_and_disagreements_are_warnings(runner):
    check = check_orders(readers.normalise(ORDERS, contract.ORDERS, first_line=2), runner)
    base = validate(readers.normalise(CASES, contract.CASES), readers.normalise(EVENTS, contract.EVENTS),
                    runner=runner)
    result = apply_orders(base, check)
    assert result.quarantine["case_id"].tolist() == ["C"]
    assert "orders line 5: order_type 'banana'" in result.quarantine["reasons"].iloc[0]
    assert result.cases["case_id"].tolist() == ["A", "B", "D"]
    assert "C" not in set(result.events["case_id"])
    # A says false, its SPO says otherwise: kept false, reported. B was empty: filled from S2's order.
    assert result.cases["protective_order_in_force"].tolist() == [False, True, True]
    w = result.warnings
    assert w[["case_id", "column", "value", "rule"]].values.tolist() == [
        ["A", "protective_order_in_force", "false", RULE_AGREES], ["D", "protective_order_in_force", "true", RULE_AGREES]]
    assert "orders in force: spo" in w["message"].iloc[0]


def test_unknown_target_is_reported_and_the_case_kept_in_the_output(runner):
    events = EVENTS.assign(target=["victim", "proxy", "", "unknown"])
    result = validate(readers.normalise(CASES, contract.CASES), readers.normalise(events, contract.EVENTS),
                      runner=runner)
    bad = result.failures.loc[result.failures["column"] == "target"]
    assert bad[["case_id", "value", "rule"]].values.tolist() == [["B", "proxy", "allowed_value"]]
    assert result.quarantine["case_id"].tolist() == ["B"] and len(result.cases_all) == 4


def test_the_validate_command_reads_orders(tmp_path, capsys):
    for name, frame in (("cases", CASES), ("events", EVENTS), ("orders", ORDERS)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    report = tmp_path / "report.json"
    code = main(["validate", "--cases", str(tmp_path / "cases.csv"), "--events", str(tmp_path / "events.csv"),
                 "--orders", str(tmp_path / "orders.csv"), "--report", str(report)])
    out = capsys.readouterr().out
    assert code == 1 and "orders: 5 rows, 3 failing" in out and "warnings: 2 case row(s)" in out
    doc = json.loads(report.read_text())
    assert {(f["table"], f["line"], f["rule"]) for f in doc["failures"]} == {
        ("orders", 3, contract.RULE_ORDER_NAMES_SOMEONE), ("orders", 5, "allowed_value"),
        ("orders", 6, contract.RULE_EXPIRES_AFTER_MADE)}
    assert [w["case_id"] for w in doc["warnings"]] == ["A", "D"]
    assert [q["case_id"] for q in doc["quarantine"]] == ["C"]
    assert doc["inputs"]["orders"]["rows"] == 5


def test_version_1_files_stay_valid(tmp_path):
    v1_cases = CASES.drop(columns=["suspect_id"])
    v1_events = EVENTS.drop(columns=["target"])
    v1_cases.to_csv(tmp_path / "c.csv", index=False)
    v1_events.to_csv(tmp_path / "e.csv", index=False)
    result = validate_files(tmp_path / "c.csv", tmp_path / "e.csv")
    assert result.failures.empty and result.counts["cases_valid"] == 4


def test_spark_scoring_takes_orders_and_says_in_one_line_when_spark_is_missing(tmp_path, capsys):
    """--orders is read by --engine spark too (tests/spark hold it to the single-machine outputs);
    in a venv without pyspark the engine refuses in one line, before any model loads."""
    import importlib.util

    if importlib.util.find_spec("pyspark") is not None:
        pytest.skip("pyspark is installed here: tests/spark run the engine with orders")
    for name, frame in (("cases", CASES), ("events", EVENTS), ("orders", ORDERS)):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    code = main(["score", "--cases", str(tmp_path / "cases.csv"), "--events", str(tmp_path / "events.csv"),
                 "--orders", str(tmp_path / "orders.csv"), "--out", str(tmp_path / "o"), "--engine", "spark",
                 "--model", "models:/no-such-model/1"])
    err = capsys.readouterr().err
    assert code == 2 and "the spark engine needs pyspark" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "o").exists()


def test_a_bad_row_naming_a_case_and_its_suspect_is_said_once(runner):
    """The row reaches the case by its case id and by its suspect: one reason, not the same one twice."""
    orders = pd.DataFrame({"order_id": ["o1"], "case_id": ["C"], "suspect_id": ["S3"], "order_type": ["spo"],
                           "made_on": ["2024-02-01"], "expires_on": ["2024-01-31"]}, dtype="str")
    check = check_orders(readers.normalise(orders, contract.ORDERS, first_line=2), runner)
    base = validate(readers.normalise(CASES, contract.CASES), readers.normalise(EVENTS, contract.EVENTS),
                    runner=runner)
    reasons = apply_orders(base, check).quarantine.set_index("case_id")["reasons"]
    assert reasons["C"] == "orders line 2: expires_on '2024-01-31' is before made_on"

"""The suites and the Python checks together cover the contract exactly.

Every rule implied by contract.py (required, categories, ranges, unique, pattern,
and the parse and range rules of integers, booleans, dates and times) must be
covered once by a suite expectation or a declared Python check, and nothing may
check a column the contract does not have.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from stalkrisk.data import contract

from stalkrisk.data import readers

from stalkrisk.validation import suite as validation

SUITES = {t: json.loads((validation.DEFAULT_EXPECTATIONS_DIR / f"{t}.json").read_text()) for t in contract.TABLES}
RULE_OF_TYPE = {
    "expect_column_values_to_not_be_null": "required",
    "expect_column_values_to_be_in_set": "allowed_value",
    "expect_column_values_to_be_between": "in_range",
    "expect_column_values_to_be_unique": "unique",
    "expect_column_values_to_match_regex": "pattern",
}
PARSE_RULES = {
    "int": {readers.RULE_INTEGER},
    "bool": {readers.RULE_BOOLEAN},
    "date": {readers.RULE_DATE, readers.RULE_DATE_RANGE},
    "timestamp": {readers.RULE_TIMESTAMP, readers.RULE_DATE_RANGE},
}
#: The rules across tables or columns: events "must name a row of cases"; an orders row
#: names a case or a suspect, and expires no earlier than it was made (contract v2).
CROSS_TABLE = {("events", "case_id", validation.RULE_NAMES_A_CASE),
               ("orders", "case_id", contract.RULE_ORDER_NAMES_SOMEONE),
               ("orders", "expires_on", contract.RULE_EXPIRES_AFTER_MADE)}


def contract_rules() -> set[tuple[str, str, str]]:
    rules = set(CROSS_TABLE)
    for table in contract.TABLES.values():
        for c in table.columns:
            if c.required:
                rules.add((table.name, c.name, "required"))
            if c.categories:
                rules.add((table.name, c.name, "allowed_value"))
            if c.min_value is not None or c.max_value is not None:
                rules.add((table.name, c.name, "in_range"))
            if c.unique:
                rules.add((table.name, c.name, "unique"))
            if c.pattern:
                rules.add((table.name, c.name, "pattern"))
            rules |= {(table.name, c.name, r) for r in PARSE_RULES.get(c.kind, ())}
    return rules


def suite_rules() -> list[tuple[str, str, str]]:
    return [(t, e["kwargs"]["column"], RULE_OF_TYPE[e["type"]])
            for t, s in SUITES.items() for e in s["expectations"]]


def python_rules() -> list[tuple[str, str, str]]:
    return [(c.table, col, c.rule) for c in validation.PYTHON_CHECKS for col in c.columns]


def test_every_contract_rule_is_covered_exactly_once():
    covered = suite_rules() + python_rules()
    assert len(covered) == len(set(covered)), "a rule is checked twice"
    assert set(covered) == contract_rules()


def test_suites_name_their_table_and_only_contract_columns():
    for table, suite in SUITES.items():
        assert suite["name"] == table and suite["meta"]["table"] == table
        for e in suite["expectations"]:
            assert e["kwargs"]["column"] in contract.TABLES[table].names
            assert e["meta"]["rule"] == RULE_OF_TYPE[e["type"]]


def test_suite_values_equal_the_contract():
    for table, suite in SUITES.items():
        for e in suite["expectations"]:
            column = contract.TABLES[table][e["kwargs"]["column"]]
            if e["type"] == "expect_column_values_to_be_in_set":
                assert tuple(e["kwargs"]["value_set"]) == column.categories
            if e["type"] == "expect_column_values_to_be_between":
                assert e["kwargs"].get("min_value") == column.min_value
                assert e["kwargs"].get("max_value") == column.max_value
            if e["type"] == "expect_column_values_to_match_regex":
                assert e["kwargs"]["regex"] == column.pattern == contract.CASE_ID_PATTERN


def test_suites_round_trip_through_great_expectations():
    import great_expectations as gx

    gx.get_context(mode="ephemeral")
    for spec in SUITES.values():
        again = gx.ExpectationSuite(**spec).to_json_dict()
        assert again["name"] == spec["name"] and again["meta"]["table"] == spec["meta"]["table"]
        strip = [(e["type"], e["kwargs"], e["meta"]) for e in spec["expectations"]]
        assert [(e["type"], e["kwargs"], e["meta"]) for e in again["expectations"]] == strip


BAD_VALUE = {
    readers.RULE_INTEGER: "many",
    readers.RULE_BOOLEAN: "perhaps",
    readers.RULE_DATE: "2024-02-30",
    readers.RULE_TIMESTAMP: "last tuesday",
}
OUT_OF_RANGE = {"date": "1989-12-31", "timestamp": "2100-01-01T00:00:00Z"}
GOOD = {"cases": {"case_id": "A", "assessment_date": "2024-01-01", "relationship": "family",
                  "victim_sex": "male", "suspect_sex": "male"},
        "events": {"case_id": "A", "event_time": "2024-01-01", "behaviour": "threat"},
        "orders": {"order_id": "O1", "case_id": "A", "order_type": "spo", "made_on": "2023-06-01"},
        "history": {"suspect_id": "S1", "offence_date": "2023-06-01", "recorded_at": "2023-06-02T10:00",
                    "offence": "stalking"}}


@pytest.mark.parametrize("check", [c for c in validation.PYTHON_CHECKS if c.where == "readers"],
                         ids=lambda c: f"{c.table}-{c.rule}")
def test_each_declared_reader_check_really_fires(check):
    table = contract.TABLES[check.table]
    for column in check.columns:
        bad = (OUT_OF_RANGE[table[column].kind] if check.rule == readers.RULE_DATE_RANGE
               else BAD_VALUE[check.rule])
        raw = pd.DataFrame([{**GOOD[check.table], column: bad}], dtype="str")
        problems = readers.normalise(raw, table).problems
        assert problems[["column", "value", "rule"]].values.tolist() == [[column, bad, check.rule]]


def good_frames() -> dict[str, pd.DataFrame]:
    cases = pd.DataFrame({"case_id": ["A", "B"], "assessment_date": ["2024-01-01"] * 2,
                          "relationship": ["family"] * 2, "victim_sex": ["male"] * 2,
                          "suspect_sex": ["male"] * 2, "victim_age": ["30"] * 2, "suspect_age": ["30"] * 2,
                          "suspect_prior_stalking": ["0"] * 2, "suspect_prior_violence": ["0"] * 2,
                          "victim_fear": ["afraid"] * 2, "victim_ethnicity": ["white"] * 2,
                          "suspect_ethnicity": ["white"] * 2}, dtype="str")
    events = pd.DataFrame({"case_id": ["A", "B"], "event_time": ["2024-01-01"] * 2,
                           "behaviour": ["threat"] * 2, "channel": ["phone"] * 2, "target": ["victim"] * 2,
                           "event_id": ["e1", "e2"]}, dtype="str")
    orders = pd.DataFrame({"order_id": ["o1", "o2"], "case_id": ["A", "B"], "suspect_id": ["S1", None],
                           "order_type": ["spo", "dvpo"], "made_on": ["2023-06-01"] * 2}, dtype="str")
    history = pd.DataFrame({"suspect_id": ["S1", "S2"], "offence_date": ["2023-06-01"] * 2,
                            "recorded_at": ["2023-06-02T10:00"] * 2, "offence": ["stalking", "violence"]}, dtype="str")
    return {"history": readers.normalise(history, contract.HISTORY).frame,
            "cases": readers.normalise(cases, contract.CASES).frame,
            "events": readers.normalise(events, contract.EVENTS).frame,
            "orders": readers.normalise(orders, contract.ORDERS).frame}


def test_each_suite_expectation_can_fail_in_real_great_expectations():
    """Break one cell per expectation; that expectation, and only it, reports the row."""
    suites = [s for s in validation.load_suites() if s.path.parent == validation.DEFAULT_EXPECTATIONS_DIR]
    clean = validation.run_suites(good_frames(), suites)
    assert clean.empty
    for suite in suites:
        for e in suite.spec["expectations"]:
            frames = good_frames()
            f = frames[suite.table]
            column, kind = e["kwargs"]["column"], e["type"]
            if kind.endswith("not_be_null"):
                f.loc[1, column] = None
            elif kind.endswith("be_in_set"):
                if isinstance(f[column].dtype, pd.CategoricalDtype):  # a coded column stays coded
                    f[column] = f[column].cat.add_categories("zzz")
                f.loc[1, column] = "zzz"
            elif kind.endswith("be_between"):
                f.loc[1, column] = e["kwargs"]["min_value"] - 1
            elif kind.endswith("be_unique"):
                f.loc[1, column] = f.loc[0, column]
            elif kind.endswith("match_regex"):
                f.loc[1, column] = "not ok!"
            one = validation.SuiteFile(suite.table, suite.path, {**suite.spec, "expectations": [e]})
            got = validation.run_suites(frames, [one])
            assert set(got["line"]) >= {2} and set(got["column"]) == {column}, (suite.table, kind, column)
            assert set(got["rule"]) == {e["meta"]["rule"]}

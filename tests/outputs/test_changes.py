"""changes.parquet's arithmetic on hand-built cases: exact deltas per reason group, the change kinds,
and the reader that turns the long explanations table into the wide shape the comparison reads."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalkrisk.outputs.changes import TOLERANCE, classify, compare, group_columns, group_of, logit
from stalkrisk.outputs.reader import read_contributions
from stalkrisk.outputs.schema import CHANGES_COLUMNS

# Registry features of three groups: threats (two windows), contact frequency, victim's fear.
T7, T30, CONTACT, FEAR = "n_threat_7d", "n_threat_30d", "n_contacting_30d", "victim_fear"


#: The long form of explanations.parquet written before the risk domains (one row per case and
#: feature): folders of that form are still read.
LONG_SCHEMA = pa.schema([("case_id", pa.dictionary(pa.int32(), pa.string())),
                         ("feature", pa.dictionary(pa.int32(), pa.string())), ("group", pa.string()),
                         ("value", pa.float64()), ("contribution", pa.float64()), ("base_value", pa.float64())])


def _long(names: list[str], values: np.ndarray, base: float, ids: list[str]) -> pa.Table:
    n, k = values.shape
    return pa.table({"case_id": pa.array(np.repeat(ids, k)).dictionary_encode(),
                     "feature": pa.array(names * n).dictionary_encode(),
                     "group": pa.array([group_of(f) for f in names] * n), "value": pa.array(values.ravel() * 10),
                     "contribution": pa.array(values.ravel()), "base_value": pa.array(np.full(n * k, base))},
                    schema=LONG_SCHEMA)


def _write_long(path, parts: list[pa.Table]) -> None:
    import pyarrow.parquet as pq

    with pq.ParquetWriter(path, LONG_SCHEMA) as writer:
        for part in parts:
            writer.write_table(part)


def _wide(base: float, rows: dict[str, dict[str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "case_id"
    frame.insert(0, "base_value", base)
    return frame


def _scores(rows: list[tuple[str, float, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["case_id", "score", "risk_band", "queue"])


def test_the_features_used_here_are_in_the_groups_named() -> None:
    assert [group_of(f) for f in (T7, T30, CONTACT, FEAR)] == ["threats", "threats", "contact_frequency", "victim_fear"]
    assert group_of("victim_sex_female") == "protected"  # a protected feature a config named


def test_golden_case_with_known_contributions() -> None:
    """Case A: base -2.0 then -1.5; threats 0.3+0.2 then 0.4+0.5; contact 0.1 then 0.6; fear 0.2 both.

    logit before = -2.0 + 0.5 + 0.1 + 0.2 = -1.2; after = -1.5 + 0.9 + 0.6 + 0.2 = 0.2.
    Change 1.4 = base +0.5, threats +0.4, contact +0.5, fear 0.
    """
    before, after = -1.2, 0.2
    prev = _wide(-2.0, {"A": {T7: 0.3, T30: 0.2, CONTACT: 0.1, FEAR: 0.2}})
    cur = _wide(-1.5, {"A": {T7: 0.4, T30: 0.5, CONTACT: 0.6, FEAR: 0.2}})
    out = compare(_scores([("A", 1 / (1 + math.exp(-before)), "medium", "")]), prev,
                  _scores([("A", 1 / (1 + math.exp(-after)), "high", "consider_spo")]), cur)
    assert tuple(out.columns) == CHANGES_COLUMNS + ("contact_frequency", "threats", "victim_fear")
    row = out.iloc[0]
    assert row["change"] == "newly_queued"
    assert row["base_value_change"] == pytest.approx(0.5, abs=1e-15)
    assert row["threats"] == pytest.approx(0.4, abs=1e-15)
    assert row["contact_frequency"] == pytest.approx(0.5, abs=1e-15)
    assert row["victim_fear"] == 0.0
    moved = logit(out["score"]) - logit(out["previous_score"])
    assert abs(moved[0] - (row["base_value_change"] + row[group_columns(out)].sum())) < 1e-12


def test_another_model_a_group_missing_counts_zero() -> None:
    """The previous model had no contact feature, the new one no fear feature."""
    prev = _wide(-1.0, {"A": {T7: 0.5, FEAR: 0.25}})
    cur = _wide(-0.5, {"A": {T7: 0.75, CONTACT: 0.125}})
    out = compare(_scores([("A", 0.4, "medium", "review")]), prev, _scores([("A", 0.6, "high", "review")]), cur)
    row = out.iloc[0]
    assert (row["threats"], row["contact_frequency"], row["victim_fear"]) == (0.25, 0.125, -0.25)
    assert row["change"] == "raised"  # both queued: a band rise


def test_only_cases_scored_in_both_in_the_current_order() -> None:
    prev = _wide(0.0, {k: {T7: 0.0} for k in ("A", "B", "C")})
    cur = _wide(0.0, {k: {T7: 0.0} for k in ("D", "C", "A")})
    out = compare(_scores([(k, 0.5, "high", "") for k in "ABC"]), prev,
                  _scores([(k, 0.5, "high", "") for k in "DCA"]), cur)
    assert out["case_id"].tolist() == ["C", "A"]
    assert (out["change"] == "unchanged").all()


def test_a_scored_case_without_an_explanation_is_refused() -> None:
    prev = _wide(0.0, {"A": {T7: 0.0}})
    cur = _wide(0.0, {"Z": {T7: 0.0}})
    with pytest.raises(ValueError, match="no explanation for scored case 'A'"):
        compare(_scores([("A", 0.5, "high", "")]), prev, _scores([("A", 0.5, "high", "")]), cur)


@pytest.mark.parametrize(("before", "after", "kind"), [
    ((0.30, "high", ""), (0.31, "high", "consider_spo"), "newly_queued"),
    ((0.60, "very_high", "consider_spo"), (0.62, "very_high", ""), "left_queue"),  # queue first
    ((0.30, "medium", ""), (0.305, "high", ""), "raised"),  # band up beats the tolerance
    ((0.30, "high", ""), (0.30 + TOLERANCE, "high", ""), "raised"),
    ((0.30, "high", ""), (0.30 + TOLERANCE / 2, "high", ""), "unchanged"),
    ((0.30, "high", ""), (0.25, "high", ""), "lowered"),
    ((0.30, "high", "consider_spo"), (0.30, "high", "review"), "unchanged"),  # queue to queue
])
def test_change_kinds(before, after, kind) -> None:
    got = classify(np.array([before[0]]), np.array([after[0]]), pd.Series([before[1]]), pd.Series([after[1]]),
                   pd.Series([before[2]]), pd.Series([after[2]]))
    assert got.tolist() == [kind]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-3, 3, allow_nan=False), min_size=8, max_size=8),
       st.floats(-4, 1), st.floats(-4, 1))
def test_the_deltas_always_add_up(values, base_before, base_after) -> None:
    """Whatever the contributions, base change + group changes = the change in log-odds."""
    feats = [T7, T30, CONTACT, FEAR]
    prev = _wide(base_before, {"A": dict(zip(feats, values[:4]))})
    cur = _wide(base_after, {"A": dict(zip(feats, values[4:]))})
    lo_before, lo_after = base_before + math.fsum(values[:4]), base_after + math.fsum(values[4:])
    out = compare(_scores([("A", 1 / (1 + math.exp(-lo_before)), "low", "")]), prev,
                  _scores([("A", 1 / (1 + math.exp(-lo_after)), "low", "")]), cur)
    parts = out["base_value_change"].iloc[0] + out[group_columns(out)].iloc[0].sum()
    assert abs((lo_after - lo_before) - parts) < 1e-9
    assert abs(logit(out["score"])[0] - logit(out["previous_score"])[0] - parts) < 1e-9


def test_read_contributions_turns_the_long_table_wide(tmp_path) -> None:
    """Written as scoring writes it (two parts, dictionary-encoded), read back value for value."""
    names = [T7, CONTACT, FEAR]
    parts = [(["A", "B"], np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])), (["C"], np.array([[-1.0, 0.0, 2.5]]))]
    _write_long(tmp_path / "explanations.parquet", [_long(names, values, -1.25, ids) for ids, values in parts])
    wide = read_contributions(tmp_path)
    expected = pd.DataFrame({"base_value": -1.25, T7: [0.1, 0.4, -1.0], CONTACT: [0.2, 0.5, 0.0],
                             FEAR: [0.3, 0.6, 2.5]}, index=pd.Index(["A", "B", "C"], name="case_id", dtype=object))
    pd.testing.assert_frame_equal(wide, expected)
    assert read_contributions(tmp_path, outcome="harm").empty  # the long form held risk alone


def test_read_contributions_of_a_run_with_no_scored_case(tmp_path) -> None:
    _write_long(tmp_path / "explanations.parquet", [])
    wide = read_contributions(tmp_path)
    assert wide.empty and list(wide.columns) == ["base_value"]


def test_read_contributions_does_not_depend_on_the_row_order(tmp_path) -> None:
    """Rows shuffled (another writer): placed by their codes, cases in order of first appearance."""
    import pyarrow.parquet as pq

    names = [T7, CONTACT, FEAR]
    values = np.arange(12, dtype=float).reshape(4, 3) / 8
    table = _long(names, values, 0.5, ["A", "B", "C", "D"])
    order = np.random.default_rng(3).permutation(table.num_rows)
    pq.write_table(table.take(order), tmp_path / "explanations.parquet")
    wide = read_contributions(tmp_path)
    first_seen = list(dict.fromkeys(np.array(["A", "B", "C", "D"]).repeat(3)[order]))
    expected = pd.DataFrame(values, columns=names, index=pd.Index(["A", "B", "C", "D"], name="case_id", dtype=object))
    expected.insert(0, "base_value", 0.5)
    pd.testing.assert_frame_equal(wide, expected.loc[first_seen])


def test_read_contributions_joins_a_case_split_across_batches(tmp_path, monkeypatch) -> None:
    """Batches of 5 rows over cases of 3 features: most cases straddle two batches."""
    import stalkrisk.outputs.reader as reader

    monkeypatch.setattr(reader, "BATCH_ROWS", 5)
    names = [T7, CONTACT, FEAR]
    values = np.arange(21, dtype=float).reshape(7, 3) - 4.0
    ids = pd.Series([f"K{i}" for i in range(7)])
    _write_long(tmp_path / "explanations.parquet", [_long(names, values, 0.25, ids.tolist())])
    expected = pd.DataFrame(values, columns=names, index=pd.Index(ids.tolist(), name="case_id", dtype=object))
    expected.insert(0, "base_value", 0.25)
    pd.testing.assert_frame_equal(read_contributions(tmp_path), expected)

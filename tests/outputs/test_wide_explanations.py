"""The wide explanations file: built, written and read back by the one reader, golden values by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stalkrisk.explain.reasons import Explanation
from stalkrisk.explain.wide import wide_table
from stalkrisk.outputs.case_record import format_case, load_case
from stalkrisk.outputs.reader import read_case_contributions, read_contributions, read_outcomes
from stalkrisk.outputs.schema import SCORES_SCHEMA
from stalkrisk.outputs.writer import open_tables

FEATURES = ["n_threat_30d", "victim_fear_high"]
#: Two cases, three outcomes: contributions and base values worked out by hand.
GOLDEN = {
    "risk": Explanation(FEATURES, np.array([[0.5, -0.25], [1.0, 0.0]]), -1.0),
    "persistence": Explanation(FEATURES, np.array([[0.125, 0.0], [2.0, 0.5]]), -0.5),
    "harm": Explanation(FEATURES, np.array([[0.0, 0.75], [-1.0, 0.25]]), -2.0),
}


def test_wide_table_is_case_major_with_a_column_per_feature():
    frame = wide_table(GOLDEN, pd.Series(["A", "B"])).to_pandas()
    assert list(frame.columns) == ["case_id", "outcome", "base_value", *FEATURES]
    assert frame["case_id"].astype(str).tolist() == ["A", "A", "A", "B", "B", "B"]
    assert frame["outcome"].astype(str).tolist() == ["risk", "persistence", "harm"] * 2
    assert frame["base_value"].tolist() == [-1.0, -0.5, -2.0] * 2
    assert frame["n_threat_30d"].tolist() == [0.5, 0.125, 0.0, 1.0, 2.0, -1.0]
    assert frame["victim_fear_high"].tolist() == [-0.25, 0.0, 0.75, 0.0, 0.5, 0.25]


def test_wide_table_refuses_explanations_of_other_cases():
    bad = {**GOLDEN, "harm": Explanation(FEATURES, np.zeros((3, 2)), 0.0)}
    with pytest.raises(ValueError, match="harm"):
        wide_table(bad, ["A", "B"])


def _scores(ids: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({name: pd.Series([None] * len(ids), dtype=object) for name in SCORES_SCHEMA.names})
    frame["case_id"] = ids
    frame["status"] = "scored"
    for name in ("score", "score_persistence", "score_harm"):
        frame[name] = 0.5
    return frame


def test_written_and_read_back_by_outcome(tmp_path):
    with open_tables(tmp_path, FEATURES) as outputs:
        outputs.write(_scores(["A", "B"]), wide_table(GOLDEN, ["A", "B"]))
        outputs.write(_scores(["C"]), wide_table({k: Explanation(FEATURES, e.contributions[:1], e.base_value)
                                                 for k, e in GOLDEN.items()}, ["C"]))
    assert read_outcomes(tmp_path) == ("risk", "persistence", "harm")
    harm = read_contributions(tmp_path, "harm")
    assert harm.index.tolist() == ["A", "B", "C"] and list(harm.columns) == ["base_value", *FEATURES]
    assert (harm["base_value"] + harm[FEATURES].sum(axis=1)).tolist() == [-1.25, -2.75, -1.25]
    only_b = read_contributions(tmp_path, "persistence", case_ids=["B"])
    assert only_b.loc["B"].tolist() == [-0.5, 2.0, 0.5]
    one = read_case_contributions(tmp_path, "B")
    assert one.index.tolist() == ["risk", "persistence", "harm"] and one.loc["risk", "n_threat_30d"] == 1.0


def test_an_empty_run_writes_the_columns(tmp_path):
    with open_tables(tmp_path, FEATURES) as outputs:
        outputs.write(_scores([]), None)
    assert pq.read_schema(tmp_path / "explanations.parquet").names == ["case_id", "outcome", "base_value", *FEATURES]
    assert read_contributions(tmp_path).empty and read_outcomes(tmp_path) == ()


def test_a_folder_of_the_long_form_reads_the_same(tmp_path):
    long = pd.DataFrame({"case_id": ["A", "A", "B", "B"], "feature": FEATURES * 2, "group": ["threats", "fear"] * 2,
                         "value": [1.0, 0.0, 2.0, 1.0], "contribution": [0.5, -0.25, 1.0, 0.0],
                         "base_value": [-1.0] * 4})
    pq.write_table(pa.Table.from_pandas(long, preserve_index=False), tmp_path / "explanations.parquet")
    risk = read_contributions(tmp_path)
    assert risk.index.tolist() == ["A", "B"] and risk.loc["A"].tolist() == [-1.0, 0.5, -0.25]
    assert read_contributions(tmp_path, "harm").empty and read_outcomes(tmp_path) == ("risk",)


def test_the_long_view_of_one_case_per_outcome(tmp_path):
    with open_tables(tmp_path, FEATURES) as outputs:
        scores = _scores(["A", "B"]).assign(score=[0.3, 0.5], score_persistence=[0.4, 0.6], score_harm=[0.2, 0.1],
                                            risk_band="high", course_of_conduct=True, consider_spo=False,
                                            reason_1="", reason_2="", reason_3="", model_name="m",
                                            model_version="1")
        outputs.write(scores, wide_table(GOLDEN, ["A", "B"]))
    record = load_case(tmp_path, "B")
    assert list(record.outcomes) == ["risk", "persistence", "harm"]
    assert record.base_value == -1.0 and record.explanation["contribution"].tolist() == [1.0, 0.0]
    assert record.outcomes["persistence"]["contribution"].sum() == 2.5
    text = format_case(record)
    assert "persistence (score_persistence 0.6000):" in text and "harm (score_harm 0.1000):" in text
    assert text.count("= logit(") == 3

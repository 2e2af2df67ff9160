"""scores.csv neutralises cells a spreadsheet would run (OWASP CSV injection); Parquet keeps the truth."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from stalkrisk.outputs.schema import SCORES_SCHEMA
from stalkrisk.outputs.writer import _write_csv_rows, formula_rows

DANGEROUS = "=+-@\t\r"


def _scores(ids: list[str], reason: str = "") -> pa.Table:
    n = len(ids)
    frame = pd.DataFrame({
        "case_id": ids, "status": ["scored"] * n, "not_scored_reason": [reason] * n, "score": [0.25] * n,
        "score_persistence": [0.125] * n, "score_harm": [float("nan")] * n,
        "risk_band": ["low"] * n, "course_of_conduct": [True] * n, "consider_spo": [False] * n,
        "queue": [""] * n, "queue_reason": ["-a reason"] * n, "linked_cases": [0] * n, "reason_1": [""] * n, "reason_2": [""] * n, "reason_3": [""] * n,
        "model_name": ["m"] * n, "model_version": ["1"] * n,
    })
    return pa.Table.from_pandas(frame, schema=SCORES_SCHEMA, preserve_index=False)


def _csv(table: pa.Table) -> str:
    buffer = io.BytesIO()
    _write_csv_rows(table, buffer)
    return buffer.getvalue().decode("utf-8")


def test_golden_rows():
    ids = ['=HYPERLINK("http://x","y")', "-A1", "-2-3", "+1", "@SUM(A1)", "\tx", "\rq", "ok", "a=b", "A-1"]
    lines = _csv(_scores(ids)).split("\n")
    firsts = [line.split(",")[0] for line in lines[:-1]]
    assert lines[0].startswith('"\'=HYPERLINK(""http://x"",""y"")"')
    assert firsts[1:] == ["'-A1", "'-2-3", "'+1", "'@SUM(A1)", "'\tx", "\"'\rq\"", "ok", "a=b", "A-1"]


def test_every_text_column_and_sliced_tables():
    table = _scores(["x", "-y", "=z"], reason="-1 events")
    text = _csv(table.slice(1))  # an offset into Arrow's buffers
    assert text == ("'-y,scored,'-1 events,0.250000,0.125000,,low,true,false,,'-a reason,0,,,,m,1\n"
                    "'=z,scored,'-1 events,0.250000,0.125000,,low,true,false,,'-a reason,0,,,,m,1\n")
    assert formula_rows(pa.array(["", None, "-", "a"])).tolist() == [False, False, True, False]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=0, max_size=6), min_size=1, max_size=20))
def test_no_cell_starts_a_formula_and_the_truth_is_one_quote_away(ids):
    read = pd.read_csv(io.StringIO("\n".join([",".join(SCORES_SCHEMA.names), _csv(_scores(ids))])),
                       dtype=str, keep_default_na=False)
    for written, true in zip(read["case_id"], ids):
        if true[:1] in DANGEROUS and true:
            assert written == "'" + true or (true.startswith("\r") and written.replace("\r\n", "\n") == "'" + true.replace("\r\n", "\n"))
        assert not written[:1] or written[:1] not in DANGEROUS

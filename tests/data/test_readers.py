"""Readers: normalisation, the UK clock rule, formats agreeing, and clean input errors."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures_messy import CASES_CSV, EVENTS_CSV, write_messy
from stalkrisk.data import contract
from stalkrisk.data import readers
from stalkrisk.data.readers import InputError

UTC = "UTC"


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


@pytest.fixture
def messy(tmp_path):
    return write_messy(tmp_path)


def events_of(*times: str) -> pd.DataFrame:
    raw = pd.DataFrame({"case_id": ["C1"] * len(times), "event_time": list(times),
                        "behaviour": ["threat"] * len(times)}, dtype="str")
    return readers.normalise(raw, contract.EVENTS, first_line=2)


# --- the messy export -----------------------------------------------------------


def test_messy_cases_normalised_by_hand(messy):
    r = readers.read_cases(messy["cases_csv"])
    f = r.frame
    assert list(f.columns) == list(contract.CASES.names) + ["notes", "_line"]
    assert f["case_id"].tolist() == ["C001", "C002", "C003", "C004", "C003", "C005", "C006"]
    assert f["_line"].tolist() == [2, 3, 4, 5, 6, 7, 8]
    first = f.iloc[0]
    assert first["assessment_date"] == pd.Timestamp("2024-03-01")
    assert first["relationship"] == "ex_partner"
    assert (first["victim_sex"], first["suspect_sex"]) == ("female", "male")
    assert (first["victim_age"], first["suspect_age"]) == (34, 41)
    assert (first["suspect_prior_stalking"], first["suspect_prior_violence"]) == (2, 1)
    assert bool(first["suspect_prior_domestic_abuse"]) is True
    assert bool(first["suspect_substance_misuse"]) is False
    assert bool(first["protective_order_in_force"]) is False
    assert first["victim_fear"] == "very_afraid"
    assert first["force_code"] == "WM"
    assert pd.isna(first["label"])
    assert f.loc[1, "assessment_date"] is pd.NaT
    assert pd.isna(f.loc[1, "victim_age"]) and pd.isna(f.loc[1, "suspect_prior_domestic_abuse"])
    assert f.loc[2, "victim_age"] == 150  # parseable; the range rule is validation's
    for column in contract.CASES.columns:
        assert str(f[column.name].dtype) == contract.PANDAS_DTYPES[column.kind], column.name
    assert r.problems[["line", "column", "value", "rule"]].values.tolist() == [
        [3, "assessment_date", "2024-03-32", "parseable_date"]
    ]
    assert r.sha256 == hashlib.sha256(Path(messy["cases_csv"]).read_bytes()).hexdigest()  # hashed beside the reading


def test_messy_events_clock_and_categories(messy):
    r = readers.read_events(messy["events_csv"])
    f = r.frame
    assert f["behaviour"].tolist() == [
        "following", "contacting", "threat", "watching", "shouting", "threat", "threat", "following"
    ]
    assert f["channel"].tolist()[:3] == ["phone", "text_message", "in_person"]
    assert f["event_time"].tolist()[:7] == [
        ts("2024-03-31 01:30"),  # nonexistent local time: read as GMT
        ts("2024-10-27 00:30"),  # ambiguous local time: the first (BST) occurrence
        ts("2024-02-20 00:00"),  # bare date in winter: local midnight = UTC midnight
        ts("2024-07-01 22:30"),  # summer local time
        ts("2024-06-01 10:00"),
        ts("2024-06-02 09:00"),
        ts("2024-06-02 23:00"),  # bare date in summer: local midnight = 23:00 UTC the day before
    ]
    assert f["event_time"].isna().tolist()[7]
    assert f.loc[1, "recorded_at"] == ts("2024-10-27 08:00")
    assert str(f["event_time"].dtype) == "datetime64[ns, UTC]"
    for column in contract.EVENTS.columns:
        assert str(f[column.name].dtype) == str(contract.dtype_of(column)), column.name
    assert list(f["behaviour"].cat.categories) == ["contacting", "following", "shouting", "threat", "watching"]
    assert r.problems.values.tolist() == [
        ["events", 9, "C005", "event_time", "2024-06-31 10:00", "parseable_timestamp"]
    ]


def test_gzip_and_parquet_give_the_same_frame_as_csv(messy):
    for table in ("cases", "events"):
        plain = readers.read_table(messy[f"{table}_csv"], contract.TABLES[table])
        gz = readers.read_table(messy[f"{table}_gz"], contract.TABLES[table])
        pq = readers.read_table(messy[f"{table}_parquet"], contract.TABLES[table])
        pd.testing.assert_frame_equal(plain.frame, gz.frame)
        pd.testing.assert_frame_equal(plain.problems, gz.problems)
        assert plain.sha256 != gz.sha256
        # Parquet numbers rows from 1; CSV lines from 2 (the header is line 1).
        assert (pq.frame["_line"] == plain.frame["_line"] - 1).all()
        pd.testing.assert_frame_equal(plain.frame.drop(columns="_line"), pq.frame.drop(columns="_line"))
        shifted = plain.problems.assign(line=plain.problems["line"] - 1)
        pd.testing.assert_frame_equal(shifted, pq.problems)


def test_typed_parquet_equals_csv(tmp_path):
    """Typed Parquet columns (ints with gaps as floats, booleans, dates, times) read as CSV does."""
    csv_text = (
        "case_id,assessment_date,relationship,victim_sex,suspect_sex,victim_age,"
        "suspect_prior_domestic_abuse\n"
        "A,2024-01-05,family,male,female,30,true\n"
        "B,2024-06-30,stranger,female,male,,\n"
    )
    (tmp_path / "c.csv").write_text(csv_text)
    typed = pd.DataFrame({
        "case_id": ["A", "B"],
        "assessment_date": pd.to_datetime(["2024-01-05", "2024-06-30"]).date,
        "relationship": ["family", "stranger"],
        "victim_sex": ["male", "female"],
        "suspect_sex": ["female", "male"],
        "victim_age": [30.0, np.nan],
        "suspect_prior_domestic_abuse": pd.array([True, None], dtype="boolean"),
    })
    typed.to_parquet(tmp_path / "c.parquet", index=False)
    a = readers.read_cases(tmp_path / "c.csv").frame.drop(columns="_line")
    b = readers.read_cases(tmp_path / "c.parquet").frame.drop(columns="_line")
    pd.testing.assert_frame_equal(a, b)

    ev_csv = "case_id,event_time,behaviour\nA,2024-07-01 23:30,threat\nA,2024-01-01T10:00:00+02:00,threat\n"
    (tmp_path / "e.csv").write_text(ev_csv)
    naive = pd.DataFrame({"case_id": ["A", "A"],
                          "event_time": pd.to_datetime(["2024-07-01 23:30", "2024-01-01 08:00"]),
                          "behaviour": ["threat", "threat"]})
    aware = naive.assign(event_time=pd.to_datetime(["2024-07-01 22:30", "2024-01-01 08:00"], utc=True))
    aware.to_parquet(tmp_path / "aware.parquet", index=False)
    naive.iloc[:1].to_parquet(tmp_path / "naive.parquet", index=False)
    e_csv = readers.read_events(tmp_path / "e.csv").frame
    e_aware = readers.read_events(tmp_path / "aware.parquet").frame
    e_naive = readers.read_events(tmp_path / "naive.parquet").frame
    pd.testing.assert_series_equal(e_csv["event_time"], e_aware["event_time"])
    assert e_naive["event_time"].tolist() == [ts("2024-07-01 22:30")]


# --- values ---------------------------------------------------------------------


def test_clock_rule_golden_cases():
    f = events_of("2024-03-31 01:30", "2024-10-27 01:30", "2024-07-01 23:30", "2024-07-01",
                  "2024-12-25", "2024-03-31 00:59:59", "2024-03-31T02:00:00",
                  "2024-10-27 02:00", "2024-07-01T23:30:00.5+01:00", "2024-07-01T23:30z",
                  "2024-07-01 23:30 -0100").frame
    assert f["event_time"].tolist() == [
        ts("2024-03-31 01:30"),
        ts("2024-10-27 00:30"),
        ts("2024-07-01 22:30"),
        ts("2024-06-30 23:00"),
        ts("2024-12-25 00:00"),
        ts("2024-03-31 00:59:59"),
        ts("2024-03-31 01:00"),
        ts("2024-10-27 02:00"),
        ts("2024-07-01 22:30:00.5"),
        ts("2024-07-01 23:30"),
        ts("2024-07-02 00:30"),
    ]


def test_bad_and_out_of_range_times_are_reported_and_missing():
    r = events_of("yesterday", "2024-07", "1989-12-31T23:59:59Z", "2100-01-01", "2099-12-31 23:00",
                  "12:30", "2024-02-30 10:00")
    assert r.frame["event_time"].isna().tolist() == [True, True, True, True, False, True, True]
    assert r.problems[["line", "value", "rule"]].values.tolist() == [
        [2, "yesterday", "parseable_timestamp"],
        [3, "2024-07", "parseable_timestamp"],
        [4, "1989-12-31T23:59:59Z", "date_in_range"],
        [5, "2100-01-01", "date_in_range"],
        [7, "12:30", "parseable_timestamp"],
        [8, "2024-02-30 10:00", "parseable_timestamp"],
    ]


def test_integers_booleans_and_blanks():
    raw = pd.DataFrame({
        "case_id": ["a", "b", "c", "d", ""], "assessment_date": ["2024-01-01"] * 5,
        "relationship": ["x"] * 5, "victim_sex": ["x"] * 5, "suspect_sex": ["x"] * 5,
        "victim_age": ["1.0", " 7 ", "7.5", "-3", ""],
        "label": ["YES", "No", "1", "T", ""],
    }, dtype="str")
    r = readers.normalise(raw, contract.CASES)
    assert r.frame["victim_age"].tolist() == [1, 7, pd.NA, -3, pd.NA]
    assert r.frame["label"].tolist() == [True, False, True, pd.NA, pd.NA]
    assert r.frame["case_id"].isna().tolist() == [False, False, False, False, True]
    assert r.problems[["line", "column", "value", "rule"]].values.tolist() == [
        [3, "victim_age", "7.5", "integer"],
        [4, "label", "T", "boolean"],
    ]


def test_blank_lines_are_skipped_and_lines_stay_true(tmp_path):
    p = tmp_path / "events.csv"
    p.write_text("case_id,event_time,behaviour\nA,2024-01-01,threat\n\n,,\nB,2024-01-02,nonsense\n\n")
    f = readers.read_events(p).frame
    assert f["case_id"].tolist() == ["A", "B"]
    assert f["_line"].tolist() == [2, 5]


def test_blank_rows_of_an_all_text_parquet_file_are_skipped_as_in_csv(tmp_path):
    """A spreadsheet exported to Parquet as text keeps its empty rows; they are skipped like blank lines,
    also when the category columns come as dictionaries."""
    (tmp_path / "events.csv").write_text("case_id,event_time,behaviour\nA,2024-01-01,threat\n\n,,\nB,2024-01-02, \n")
    pd.DataFrame({"case_id": ["A", "", None, "B"], "event_time": ["2024-01-01", "", " ", "2024-01-02"],
                  "behaviour": ["threat", "", "", " "]}, dtype="str").to_parquet(tmp_path / "events.parquet")
    csv = readers.read_events(tmp_path / "events.csv").frame
    pq = readers.read_events(tmp_path / "events.parquet").frame
    assert pq["case_id"].tolist() == ["A", "B"] and pq["_line"].tolist() == [1, 4]
    pd.testing.assert_frame_equal(csv.drop(columns="_line"), pq.drop(columns="_line"))


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=-(10**12), max_value=10**12), st.sampled_from(["", ".0", ".00", "."]),
       st.sampled_from(["", " ", "  "]))
def test_integer_spellings_property(n, tail, pad):
    raw = pd.DataFrame({"case_id": ["a"], "assessment_date": ["2024-01-01"], "relationship": ["x"],
                        "victim_sex": ["x"], "suspect_sex": ["x"],
                        "suspect_prior_stalking": [f"{pad}{n}{tail}{pad}"]}, dtype="str")
    r = readers.normalise(raw, contract.CASES)
    assert r.frame["suspect_prior_stalking"].tolist() == [n]
    assert r.problems.empty


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(contract.TRUE_SPELLINGS + contract.FALSE_SPELLINGS), st.randoms())
def test_boolean_spellings_property(word, rnd):
    shouted = "".join(ch.upper() if rnd.random() < 0.5 else ch for ch in word)
    raw = pd.DataFrame({"case_id": ["a"], "assessment_date": ["2024-01-01"], "relationship": ["x"],
                        "victim_sex": ["x"], "suspect_sex": ["x"], "label": [f" {shouted} "]}, dtype="str")
    r = readers.normalise(raw, contract.CASES)
    assert r.frame["label"].tolist() == [word in contract.TRUE_SPELLINGS]


@settings(max_examples=80, deadline=None)
@given(st.datetimes(min_value=pd.Timestamp("1990-01-02").to_pydatetime(),
                    max_value=pd.Timestamp("2099-12-30").to_pydatetime()))
def test_local_time_round_trips_except_in_the_spring_gap(moment):
    """Converting back to London wall time gives the input, or one hour later in the gap."""
    local = pd.Timestamp(moment).floor("s")
    utc = readers.to_utc(pd.Series([local]))[0]
    back = utc.tz_convert(contract.LOCAL_TZ).tz_localize(None)
    assert back in (local, local + pd.Timedelta(hours=1))
    if back != local:  # only in the spring-forward gap
        assert local.month == 3 and local.hour == 1


# --- input errors ----------------------------------------------------------------


def test_missing_required_column_names_file_and_column(tmp_path):
    p = tmp_path / "cases.csv"
    p.write_text("case_id,relationship,victim_sex,suspect_sex\nA,family,male,male\n")
    with pytest.raises(InputError) as info:
        readers.read_cases(p)
    assert str(info.value) == "cases.csv: required column 'assessment_date' is missing"
    assert info.value.column == "assessment_date" and info.value.path == p
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "name, content, expected",
    [
        ("cases.xlsx", b"whatever", "cases.xlsx: unknown file type: expected .csv, .csv.gz or .parquet"),
        ("cases.parquet", b"not parquet at all", "cases.parquet: cannot be read as Parquet (ArrowInvalid)"),
        ("cases.csv", b"", "cases.csv: the file is empty (no header row)"),
        ("cases.csv", "case_id,assessment_date\nA,2024-01-0\xe9\n".encode("latin-1"),
         "cases.csv: cannot be read as CSV (not UTF-8 text)"),
        ("cases.csv.gz", b"not gzip", "cases.csv.gz: cannot be read as CSV (BadGzipFile)"),
        ("cases.csv", b"a,b\n" + b"1,2\n" * 50_000 + "\xe9,1\n".encode("latin-1"),
         "cases.csv: cannot be read as CSV (not UTF-8 text)"),
        ("cases.csv", b"a,b\n1,2\n3\n", "cases.csv: line 3 has 1 fields but the header has 2"),
        ("cases.csv", b"case_id,Case_ID \n", "cases.csv: column 'case_id' appears more than once"),
    ],
)
def test_unusable_files_raise_one_line_input_error(tmp_path, name, content, expected):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(InputError) as info:
        readers.read_cases(p)
    assert str(info.value) == expected


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"^nope\.csv: file not found"):
        readers.read_events(tmp_path / "nope.csv")


def test_header_only_file_gives_empty_typed_frame(tmp_path):
    p = tmp_path / "events.csv.gz"
    p.write_bytes(gzip.compress(EVENTS_CSV.splitlines()[0].encode() + b"\n"))
    f = readers.read_events(p).frame
    assert len(f) == 0 and str(f["event_time"].dtype) == "datetime64[ns, UTC]"


def test_cases_fixture_text_is_unchanged():
    # Guard: the golden lines in the tests depend on the fixture layout.
    assert CASES_CSV.count("\n") == 8 and EVENTS_CSV.count("\n") == 9


_CATEGORY_TEXT = st.lists(st.one_of(st.none(), st.sampled_from(["", " ", "Ex-Partner ", "ex-partner", "\tSTRANGER"]),
                                    st.text(max_size=6)), max_size=30)


@given(_CATEGORY_TEXT, st.sampled_from(["str", "object", "category"]))
def test_category_cleaning_of_distinct_values_equals_row_by_row(values, dtype):
    s = pd.Series(values, dtype=dtype)
    expected = readers.clean_text(s).str.lower()
    got = readers.clean_category(s)
    pd.testing.assert_series_equal(got, expected)
    coded = readers.coded_category(s)
    assert coded.astype("str").isna().tolist() == expected.isna().tolist()
    assert coded.astype("str").dropna().tolist() == expected.dropna().tolist()
    assert list(coded.cat.categories) == sorted(expected.dropna().unique())


def test_coded_columns_absent_or_empty():
    raw = pd.DataFrame({"case_id": ["A", "B"], "event_time": ["2024-01-01"] * 2, "behaviour": ["Threat", " "]},
                       dtype="str")
    f = readers.normalise(raw, contract.EVENTS).frame
    assert f["behaviour"].tolist()[0] == "threat" and pd.isna(f["behaviour"][1])
    assert f["channel"].isna().all() and isinstance(f["channel"].dtype, pd.CategoricalDtype)
    empty = contract.empty_frame(contract.EVENTS)
    assert isinstance(empty["behaviour"].dtype, pd.CategoricalDtype) and len(empty) == 0


def test_parquet_category_columns_read_as_dictionaries_or_not_give_one_frame(tmp_path):
    """A category column stored as a dictionary, as plain text or as numbers reads as CSV does."""
    (tmp_path / "c.csv").write_text(
        "case_id,assessment_date,relationship,victim_sex,suspect_sex\n"
        "A,2024-01-05, Ex-Partner ,MALE,1\nB,2024-06-30,,female,2\nC,2024-06-30,stranger,,\n")
    stored = pd.DataFrame({
        "Case_ID": ["A", "B", "C"], "assessment_date": ["2024-01-05", "2024-06-30", "2024-06-30"],
        " Relationship": pd.Series([" Ex-Partner ", "", "stranger"], dtype="category"),
        "victim_sex": ["MALE", "female", None], "suspect_sex": pd.array([1, 2, None], dtype="Int64"),
    })
    stored.to_parquet(tmp_path / "c.parquet", index=False)
    a = readers.read_cases(tmp_path / "c.csv").frame.drop(columns="_line")
    b = readers.read_cases(tmp_path / "c.parquet").frame.drop(columns="_line")
    pd.testing.assert_frame_equal(a, b)
    assert b["relationship"].tolist()[0] == "ex-partner" and pd.isna(b["relationship"][1])
    assert b["suspect_sex"].tolist()[:2] == ["1", "2"]


_TEXT = st.lists(st.one_of(st.none(), st.sampled_from(["", " ", "A1", " A1", "A1\t", "\u00a0A1", "A1\u3000", "é", "x y"]),
                           st.text(max_size=5)), max_size=40)


@given(_TEXT, st.integers(min_value=1, max_value=4), st.integers(min_value=0, max_value=3),
       st.booleans())
def test_clean_text_equals_trimming_every_value(values, chunks, skip, large):
    """The tidy-text shortcut gives what trimming and blanking every value gives, whatever the
    Arrow layout: several chunks, a sliced chunk, 32- or 64-bit offsets."""
    import pyarrow as pa

    kind = pa.large_string() if large else pa.string()
    whole = pa.array([None] * skip + values, type=kind).slice(skip)
    step = max(1, -(-len(values) // chunks))
    parts = [whole.slice(i, step) for i in range(0, len(values), step)] or [whole]
    s = pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array(parts, type=kind)), dtype="str")
    trimmed = s.str.strip()
    expected = trimmed.mask(trimmed == "")
    pd.testing.assert_series_equal(readers.clean_text(s), expected)


def test_tidy_text_is_returned_uncopied():
    s = pd.Series(["C1", "C-2", None, "x.y:z"], dtype="str")
    assert readers.clean_text(s).array is s.array
    assert readers.clean_text(pd.Series(["C1", " C2"], dtype="str")).tolist() == ["C1", "C2"]


def test_typed_times_out_of_range_are_reported_and_missing():
    aware = pd.Series(pd.to_datetime(["1989-12-31T23:59:59Z", "1990-01-01T00:00:00Z", None,
                                      "2099-12-31T23:59:59Z", "2100-01-01T00:00:00Z"], utc=True))
    x, rules = readers._to_timestamp(aware)
    assert x.isna().tolist() == [True, False, True, False, True]
    assert [(rule, mask.tolist()) for rule, mask in rules] == [
        ("date_in_range", [True, False, False, False, True])]
    assert str(x.dtype) == "datetime64[ns, UTC]"
    d, rules = readers._to_date(pd.Series(pd.to_datetime(["1989-12-31", "2024-02-29", None, "2100-01-01"])))
    assert d.isna().tolist() == [True, False, True, True]
    assert rules[1][1].tolist() == [True, False, False, True]

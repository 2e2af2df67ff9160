"""Linking by suspect (``features.linking``): hand-worked values, the as-of rule as a property, and the
purity that lets Spark run it per partition of suspects."""

from __future__ import annotations


import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings, strategies as st

from reference_features import make_caseload, reference_features
from stalkrisk.data import contract, readers
from stalkrisk.features import build_features
from stalkrisk.features.linking import LINK_FEATURES, LinkTable, link_values, linkable
from stalkrisk.features.registry import FEATURES_BY_NAME, feature_names


def frame(rows: list[dict]) -> pd.DataFrame:
    base = {"relationship": "ex_partner", "victim_sex": "female", "suspect_sex": "male"}
    return readers.normalise(pd.DataFrame([{**base, **r} for r in rows], dtype="str"), contract.CASES).frame


#: Suspect S: this case (X) and two earlier cases of two other victims in two forces; one later case (W),
#: assessed after X, which X cannot know; N names no suspect.
HAND = [
    {"case_id": "X", "assessment_date": "2024-03-10", "suspect_id": "S", "victim_id": "V1", "force_code": "F1",
     "victim_fear": "not_afraid"},
    {"case_id": "Y", "assessment_date": "2024-02-01", "suspect_id": "S", "victim_id": "V2", "force_code": "F2",
     "victim_fear": "very_afraid", "protective_order_in_force": "true"},
    {"case_id": "Z", "assessment_date": "2024-01-05", "suspect_id": "S", "victim_id": "V3", "force_code": "F1",
     "victim_fear": "afraid"},
    {"case_id": "W", "assessment_date": "2024-04-01", "suspect_id": "S", "victim_id": "V1", "force_code": "F3"},
    {"case_id": "N", "assessment_date": "2024-03-10", "victim_id": "V9"},
]


def test_a_suspect_with_two_other_victims_cases_links_to_both():
    got = LinkTable.from_cases(frame(HAND)).features_for(frame(HAND)).set_index(pd.Index(["X", "Y", "Z", "W", "N"]))
    x = got.loc["X"]
    # Y and Z assessed before X; two other victims (V2, V3); one other force (F2); both within the year;
    # Z's victim was afraid, Y's very afraid; Y had an order
    assert x.tolist() == [2, 2, 1, 2, 2, 1]
    assert got.loc["Z"].tolist() == [0, 0, 0, 0, 0, 0]
    # W knows X, Y, Z; its own victim V1 is X's too, so two other victims; F1 and F2 are other forces
    assert got.loc["W"].tolist() == [3, 2, 2, 3, 2, 1]
    assert got.loc["N"].isna().all()  # no suspect_id: not recorded


def test_cases_the_same_day_know_each_other_and_a_duplicated_id_links_to_nothing():
    rows = frame([{"case_id": "A", "assessment_date": "2024-05-01", "suspect_id": "S"},
                  {"case_id": "B", "assessment_date": "2024-05-01", "suspect_id": "S"},
                  {"case_id": "D", "assessment_date": "2024-04-01", "suspect_id": "S"},
                  {"case_id": "D", "assessment_date": "2024-04-02", "suspect_id": "S"}])
    got = LinkTable.from_cases(rows).features_for(rows)
    assert got["linked_cases"].tolist()[:2] == [1, 1] and got["linked_cases_365d"].tolist()[:2] == [1, 1]
    assert got.iloc[2:].isna().all().all()


def test_the_registry_declares_the_linking_features():
    assert [n for n in feature_names() if FEATURES_BY_NAME[n].family == "linked"] == list(LINK_FEATURES)
    assert FEATURES_BY_NAME["linked_cases"].reason(float("nan")) == "Suspect's other cases: not recorded"
    assert FEATURES_BY_NAME["linked_cases"].reason(2.0) == "Suspect has 2 other cases known by the assessment date"


def test_others_lists_the_linked_cases_latest_first():
    links = LinkTable.from_cases(frame(HAND))
    assert links.others("X")["case_id"].tolist() == ["Y", "Z"]
    assert links.others("N").empty and links.others("nobody").empty


SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def caseloads(draw):
    n = draw(st.integers(1, 25))
    day0 = np.datetime64("2024-01-01")
    rows = [{"case_id": f"C{i}",
             "assessment_date": str(day0 + draw(st.integers(0, 60))),
             "suspect_id": draw(st.one_of(st.none(), st.sampled_from(["S1", "S2", "S3"]))),
             "victim_id": draw(st.one_of(st.none(), st.sampled_from(["V1", "V2", "V3", "V4"]))),
             "force_code": draw(st.one_of(st.none(), st.sampled_from(["F1", "F2"]))),
             "victim_fear": draw(st.sampled_from(["afraid", "not_afraid", "very_afraid"])),
             "protective_order_in_force": draw(st.sampled_from(["true", "false", ""]))} for i in range(n)]
    return rows


@SETTINGS
@given(rows=caseloads(), later=caseloads(), day=st.integers(0, 60))
def test_cases_assessed_after_a_day_never_change_a_case_assessed_on_it(rows, later, day):
    cutoff = np.datetime64("2024-01-01") + day
    before = [r for r in rows if np.datetime64(r["assessment_date"]) <= cutoff]
    added = [{**r, "case_id": f"L{r['case_id']}", "assessment_date": str(cutoff + 1 + k % 30)}
             for k, r in enumerate(later)]
    alone = frame(before) if before else None
    if alone is None:
        return
    grown = frame(before + added)
    expected = LinkTable.from_cases(alone).features_for(alone)
    pd.testing.assert_frame_equal(LinkTable.from_cases(grown).features_for(alone), expected, check_exact=True)


@SETTINGS
@given(rows=caseloads())
def test_partitions_by_suspect_give_the_whole(rows):
    """Pure over any frame that holds all cases of its suspects: Spark's co-partitioned run is the same."""
    cases = frame(rows)
    whole = LinkTable.from_cases(cases).features_for(cases)
    key = cases["suspect_id"].fillna("(none)")
    for suspect in key.unique():
        part = cases.loc[key == suspect]
        got = LinkTable.from_cases(part).features_for(part)
        pd.testing.assert_frame_equal(got, whole.loc[(key == suspect).to_numpy()].reset_index(drop=True),
                                      check_exact=True)


def test_the_builder_agrees_with_the_slow_oracle_on_linked_caseloads():
    cases, events = make_caseload(120, 7)
    built = build_features(cases, events)
    slow = reference_features(cases, events)
    pd.testing.assert_frame_equal(built[list(LINK_FEATURES)], slow[list(LINK_FEATURES)], check_exact=True)
    assert built["linked_cases"].max() >= 2  # the generator's few suspects do link


def test_linking_a_table_of_one_suspect_costs_no_pairs():
    n = 200_000
    rows = pd.DataFrame({"case_id": [f"C{i}" for i in range(n)], "suspect_id": "UNKNOWN",
                         "assessment_date": pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(n) % 365, "D"),
                         "victim_id": None, "force_code": None, "relationship": None, "victim_fear": None,
                         "protective_order_in_force": pd.array([None] * n, dtype="boolean")})
    got = link_values(linkable(rows))
    assert got["linked_cases"].max() == n - 1


def test_parts_give_the_whole_table_even_when_a_case_id_spans_two_parts():
    rows = HAND + [{"case_id": "Y", "assessment_date": "2024-02-02"}]  # Y again, with no suspect: Y links to nothing
    whole = LinkTable.from_cases(frame(rows))
    parts = LinkTable.from_frames([frame(rows[:2]), frame(rows[2:4]), frame(rows[4:])])
    pd.testing.assert_frame_equal(parts.features_for(frame(rows)), whole.features_for(frame(rows)), check_exact=True)
    got = whole.features_for(frame(rows))["linked_cases"].fillna(-1).tolist()
    assert got == [1, -1, 0, 2, -1, -1]  # X knows Z only; W knows X and Z; both Y rows link to nothing
    for case in ("X", "W", "Y", "nobody"):  # the pages' lists: the same from parts (rows of many chunks)
        pd.testing.assert_frame_equal(parts.others(case).reset_index(drop=True),
                                      whole.others(case).reset_index(drop=True))
    assert parts.others("W")["case_id"].tolist() == ["X", "Z"]  # latest first


def test_recency_looks_back_a_year():
    rows = frame([{"case_id": "A", "assessment_date": "2023-01-01", "suspect_id": "S"},
                  {"case_id": "B", "assessment_date": "2024-01-01", "suspect_id": "S"},  # 365 days later
                  {"case_id": "C", "assessment_date": "2025-01-02", "suspect_id": "S"}])  # 367 after B
    got = LinkTable.from_cases(rows).features_for(rows)
    assert got["linked_cases"].tolist() == [0, 1, 2]
    assert got["linked_cases_365d"].tolist() == [0, 1, 0]  # B is 365 days after A; C 367 after B

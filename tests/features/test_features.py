"""The feature builder: oracle agreement, hand-worked golden cases, the point-in-time
rule at the clock's edges, and the properties the pipeline promises (nothing after the
cutoff matters, partitions add up to the whole, protected attributes are not used)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_features import make_caseload, reference_cutoff, reference_features

from stalkrisk.data.contract import BEHAVIOURS, CHANNELS, PROTECTED_ATTRIBUTES
from stalkrisk.features import build_features, feature_names
from stalkrisk.features.asof import cutoff_utc, in_window, known_by_cutoff
from stalkrisk.features.linking import LINK_FEATURES, LinkTable

SETTINGS = settings(max_examples=25, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def utc(*stamps: str | None) -> pd.Series:
    return pd.Series(pd.to_datetime(list(stamps), utc=True, format="ISO8601")).astype("datetime64[ns, UTC]")


def frame_cases(rows: list[dict]) -> pd.DataFrame:
    out = pd.DataFrame(rows)
    out["case_id"] = out["case_id"].astype("str")
    out["assessment_date"] = pd.to_datetime(out["assessment_date"]).astype("datetime64[ns]")
    for c in ("suspect_prior_stalking", "suspect_prior_violence"):
        out[c] = out[c].astype("Int64")
    for c in ("suspect_prior_domestic_abuse", "suspect_substance_misuse",
              "protective_order_in_force"):
        out[c] = out[c].astype("boolean")
    for c in ("relationship", "victim_fear", "victim_sex", "suspect_sex"):
        out[c] = out[c].astype("str")
    return out


def frame_events(rows: list[tuple]) -> pd.DataFrame:
    case_id, t, behaviour, channel, rec = zip(*rows)
    return pd.DataFrame({
        "case_id": pd.Series(case_id, dtype="str"),
        "event_time": utc(*t),
        "behaviour": pd.Series(behaviour, dtype="str"),
        "channel": pd.Series(channel, dtype="str"),
        "recorded_at": utc(*rec),
    })


# --- the oracle --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2])
def test_agrees_with_the_slow_oracle(seed: int) -> None:
    cases, events = make_caseload(250, seed)
    fast = build_features(cases, events)
    slow = reference_features(cases, events)
    pd.testing.assert_frame_equal(fast, slow, check_exact=False, rtol=1e-12, atol=1e-12)
    # the generator must exercise the features, or agreement means little
    for name in ("sdash_visits_over_3_a_week", "n_order_breach_7d", "course_of_conduct",
                 "days_since_first_violence", "distinct_channels_90d"):
        assert fast[name].gt(0).any(), name
    assert fast["weekly_trend_12w"].lt(0).any() and fast["threat_shift_30d"].lt(0).any()


# --- golden cases worked out by hand --------------------------------------------------------

GOLDEN_CASES = [
    # A: summer (BST): cutoff 2024-07-01 23:00 UTC
    dict(case_id="A", assessment_date="2024-07-01", relationship="ex_partner",
         suspect_prior_stalking=2, suspect_prior_violence=0, suspect_prior_domestic_abuse=True,
         suspect_substance_misuse=False, protective_order_in_force=None,
         victim_fear="very_afraid", victim_sex="female", suspect_sex="male"),
    # B: winter (GMT): cutoff 2024-01-16 00:00 UTC; every optional value missing
    dict(case_id="B", assessment_date="2024-01-15", relationship=None,
         suspect_prior_stalking=None, suspect_prior_violence=None,
         suspect_prior_domestic_abuse=None, suspect_substance_misuse=None,
         protective_order_in_force=True, victim_fear="unknown", victim_sex="male",
         suspect_sex="unknown"),
    # C: no events at all
    dict(case_id="C", assessment_date="2024-05-05", relationship="stranger",
         suspect_prior_stalking=0, suspect_prior_violence=3, suspect_prior_domestic_abuse=False,
         suspect_substance_misuse=True, protective_order_in_force=False,
         victim_fear="not_afraid", victim_sex="female", suspect_sex="female"),
]
GOLDEN_EVENTS = [
    ("A", "2024-07-01T22:30Z", "threat", "phone", None),            # 23:30 BST: known
    ("A", "2024-07-01T23:30Z", "contacting", "phone", None),        # 00:30 BST next day: no
    ("A", "2024-06-30T10:00Z", "contacting", "text_message", "2024-07-02T09:00Z"),  # recorded late
    ("A", "2024-06-28T12:00Z", "following", "in_person", "2024-06-28T13:00Z"),
    ("A", "2024-06-24T23:00Z", "loitering", "in_person", None),     # exactly cutoff - 7 days
    ("A", "2024-06-01T08:00Z", "contacting", "email", None),        # 30.625 days back
    ("A", "2024-03-01T12:00Z", "violence", "in_person", None),      # 122.458 days back
    ("A", "2023-01-01T12:00Z", "order_breach", None, None),         # 547.458 days back
    ("A", "2024-06-30T20:00Z", "threat", "social_media", "2024-06-30T21:00Z"),  # 1.125 days
    ("B", "2024-01-15T23:30Z", "contacting", "in_person", None),    # 23:30 GMT: known
    ("B", "2024-01-16T00:30Z", "violence", "in_person", None),      # next day: not known
    ("B", "2024-01-10T09:00Z", "watching", "in_person", None),      # 5.625 days
    ("B", "2024-01-12T09:00Z", "property_interference", "in_person", None),  # 3.625
    ("B", "2024-01-14T09:00Z", "following", "in_person", None),     # 1.625
    ("B", "2023-12-01T12:00Z", "contacting", "third_party", None),  # 45.5 days
    ("Z", "2024-01-01T12:00Z", "threat", "phone", None),            # no such case
]
NAN = math.nan
HALF_HOUR = 1 / 48
#: The golden cases name no suspect: they link to nothing (features.linking), which is "not recorded".
NO_SUSPECT = {name: NAN for name in LINK_FEATURES}
GOLDEN_EXPECTED = {
    "A": {**NO_SUSPECT,
        "rel_ex_partner": 1, "suspect_prior_stalking": 2, "suspect_prior_domestic_abuse": 1,
        "protective_order_in_force": NAN, "victim_fear": 2,
        **{f"n_threat_{w}": 2 for w in ("7d", "30d", "90d", "365d", "all")},
        **{f"n_following_{w}": 1 for w in ("7d", "30d", "90d", "365d")},
        **{f"n_loitering_{w}": 1 for w in ("7d", "30d", "90d", "365d")},
        "n_contacting_90d": 1, "n_contacting_365d": 1,
        "n_violence_365d": 1, "n_violence_all": 1, "n_order_breach_all": 1,
        "n_events_7d": 4, "n_events_30d": 4, "n_events_90d": 5, "n_events_365d": 6,
        "n_events_all": 7,
        "distinct_days_30d": 4, "distinct_days_90d": 5, "distinct_days_365d": 6,
        "distinct_channels_90d": 4,  # phone, in_person, email, social_media
        "online_share_90d": 2 / 5,
        "weekly_trend_12w": (5.5 * 4 + 1.5 * 1) / 143,  # 4 events in week x=11, 1 in x=7
        "change_30d_vs_prior_60d": 4 - 1 / 2,
        "days_since_last_event": HALF_HOUR, "history_length_days": 547 + 11 / 24,
        "days_since_first_threat": 1.125, "days_since_first_violence": 122 + 11 / 24,
        "days_since_first_order_breach": 547 + 11 / 24,
        "threat_shift_30d": 2 / 4 - 1 / 3,
        "sdash_loitering": 1, "sdash_threats": 1, "sdash_violence": 1,
        "sdash_prior_harassment": 1, "sdash_fear": 1, "course_of_conduct": 1,
    },
    "B": {**NO_SUSPECT,
        **{f"rel_{r}": NAN for r in ("ex_partner", "current_partner", "family", "acquaintance",
                                     "colleague", "neighbour", "online_only", "stranger",
                                     "unknown")},
        "suspect_prior_stalking": NAN, "suspect_prior_violence": NAN,
        "suspect_prior_domestic_abuse": NAN, "suspect_substance_misuse": NAN,
        "protective_order_in_force": 1, "victim_fear": NAN,
        "n_contacting_7d": 1, "n_contacting_30d": 1, "n_contacting_90d": 2,
        "n_contacting_365d": 2,
        **{f"n_{b}_{w}": 1 for b in ("watching", "property_interference", "following")
           for w in ("7d", "30d", "90d", "365d")},
        "n_events_7d": 4, "n_events_30d": 4, "n_events_90d": 5, "n_events_365d": 5,
        "n_events_all": 5,
        "distinct_days_30d": 4, "distinct_days_90d": 5, "distinct_days_365d": 5,
        "distinct_channels_90d": 2,
        "weekly_trend_12w": (5.5 * 4 - 0.5 * 1) / 143,  # 45.5 days back is week x=5
        "change_30d_vs_prior_60d": 4 - 1 / 2,
        "days_since_last_event": HALF_HOUR, "history_length_days": 45.5,
        "days_since_first_threat": NAN, "days_since_first_violence": NAN,
        "days_since_first_order_breach": NAN,
        "sdash_property_interference": 1, "sdash_visits_over_3_a_week": 1,
        "sdash_prior_harassment": NAN, "sdash_substance_misuse": NAN,
        "sdash_third_party_contact": 1, "sdash_fear": NAN, "course_of_conduct": 1,
    },
    "C": {**NO_SUSPECT,
        "rel_stranger": 1, "suspect_prior_violence": 3, "suspect_substance_misuse": 1,
        "sdash_substance_misuse": 1,
        "days_since_last_event": NAN, "history_length_days": NAN,
        "days_since_first_threat": NAN, "days_since_first_violence": NAN,
        "days_since_first_order_breach": NAN,
    },
}


def test_golden_cases() -> None:
    cases = frame_cases(GOLDEN_CASES)
    built = build_features(cases, frame_events(GOLDEN_EVENTS))
    assert built["case_id"].tolist() == ["A", "B", "C"]
    expected = pd.DataFrame(
        [[GOLDEN_EXPECTED[c].get(n, 0.0) for n in feature_names()] for c in "ABC"],
        columns=feature_names(), dtype="float64")
    expected.insert(0, "case_id", pd.Series(list("ABC"), dtype="str"))
    pd.testing.assert_frame_equal(built, expected, check_exact=False, rtol=1e-12, atol=1e-12)


# --- the clock's edges ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("assessment", "cutoff", "inside", "outside"),
    [
        ("2024-07-01", "2024-07-01T23:00Z", "2024-07-01T22:30Z", "2024-07-01T23:30Z"),  # BST
        ("2024-01-15", "2024-01-16T00:00Z", "2024-01-15T23:30Z", "2024-01-16T00:30Z"),  # GMT
        ("2024-03-30", "2024-03-31T00:00Z", "2024-03-30T23:59:59Z", "2024-03-31T00:00Z"),
        ("2024-03-31", "2024-03-31T23:00Z", "2024-03-31T22:59Z", "2024-03-31T23:00Z"),
        ("2024-10-27", "2024-10-28T00:00Z", "2024-10-27T23:59Z", "2024-10-28T00:00Z"),
    ],
)
def test_clock_edges(assessment: str, cutoff: str, inside: str, outside: str) -> None:
    dates = pd.Series(pd.to_datetime([assessment])).astype("datetime64[ns]")
    assert cutoff_utc(dates).iloc[0] == pd.Timestamp(cutoff)
    assert reference_cutoff(dates.iloc[0].date()) == pd.Timestamp(cutoff).to_pydatetime()
    cases = frame_cases([dict(GOLDEN_CASES[2], case_id="K", assessment_date=assessment)])
    for t, counted in ((inside, 1.0), (outside, 0.0)):
        events = frame_events([("K", t, "contacting", "phone", None)])
        assert build_features(cases, events)["n_events_7d"].iloc[0] == counted, t
        late = frame_events([("K", inside, "contacting", "phone", t)])  # recorded at t
        assert build_features(cases, late)["n_events_all"].iloc[0] == counted, t


def test_point_in_time_rule_on_pandas_series() -> None:
    cut = utc("2024-07-01T23:00Z", "2024-07-01T23:00Z", "2024-07-01T23:00Z", None)
    t = utc("2024-07-01T22:59Z", "2024-07-01T22:59Z", "2024-07-01T23:00Z", "2024-01-01T00:00Z")
    rec = utc(None, "2024-07-01T23:00Z", None, None)
    assert known_by_cutoff(t, rec, cut).tolist() == [True, False, False, False]
    assert known_by_cutoff(t, None, cut).tolist() == [True, True, False, False]
    week = utc("2024-06-24T23:00Z", "2024-06-24T22:59:59Z", "2024-07-01T23:00Z", None)
    assert in_window(week, cut, 7).tolist() == [True, False, False, False]


# --- properties -------------------------------------------------------------------------------


@SETTINGS
@given(seed=st.integers(0, 10_000), data=st.data())
def test_events_after_the_cutoff_change_nothing(seed: int, data: st.DataObject) -> None:
    cases, events = make_caseload(15, seed, events_per_case=6)
    before = build_features(cases, events)
    cutoffs = [reference_cutoff(d.date()) for d in cases["assessment_date"]]
    extra = []
    for _ in range(data.draw(st.integers(1, 12))):
        i = data.draw(st.integers(0, len(cases) - 1))
        late = pd.Timestamp(cutoffs[i]) + pd.Timedelta(seconds=data.draw(st.integers(0, 10**8)))
        early = pd.Timestamp(cutoffs[i]) - pd.Timedelta(seconds=data.draw(st.integers(1, 10**8)))
        if data.draw(st.booleans()):  # happened after the cutoff (recorded whenever)
            t, rec = late, data.draw(st.sampled_from([None, early, late]))
        else:  # happened before, recorded after
            t, rec = early, late
        extra.append((cases["case_id"].iloc[i], t.isoformat(), data.draw(st.sampled_from(BEHAVIOURS)),
                      data.draw(st.sampled_from(CHANNELS)), None if rec is None else rec.isoformat()))
    more = pd.concat([events, frame_events(extra)], ignore_index=True)
    pd.testing.assert_frame_equal(build_features(cases, more), before, check_exact=True)


@SETTINGS
@given(seed=st.integers(0, 10_000), parts=st.integers(1, 5), data=st.data())
def test_any_partition_of_cases_builds_the_whole(seed: int, parts: int, data: st.DataObject) -> None:
    cases, events = make_caseload(30, seed, events_per_case=6)
    labels = np.array(data.draw(st.lists(st.integers(0, parts - 1), min_size=30, max_size=30)))
    whole = build_features(cases, events)
    links = LinkTable.from_cases(cases)  # the linking reads the whole table, as scoring gives each chunk
    pieces = []
    for p in range(parts):
        sub = cases[labels == p].reset_index(drop=True)
        pieces.append(build_features(sub, events[events["case_id"].isin(sub["case_id"])], links=links))
    joined = pd.concat(pieces, ignore_index=True)
    order = np.concatenate([np.flatnonzero(labels == p) for p in range(parts)])
    expected = whole.iloc[order].reset_index(drop=True)
    pd.testing.assert_frame_equal(joined, expected, check_exact=True)


def test_protected_attributes_shape_no_default_feature() -> None:
    cases, events = make_caseload(60, 3)
    changed = cases.copy()
    rng = np.random.default_rng(0)
    for column in PROTECTED_ATTRIBUTES:
        changed[column] = changed[column].iloc[rng.permutation(len(cases))].to_numpy()
    changed["victim_age"] = pd.array([None] * len(cases), dtype="Int64")
    changed["suspect_sex"] = "unknown"
    pd.testing.assert_frame_equal(build_features(changed, events), build_features(cases, events))
    # and without the protected columns at all
    pd.testing.assert_frame_equal(
        build_features(cases.drop(columns=list(PROTECTED_ATTRIBUTES)), events),
        build_features(cases, events))


def test_protected_attributes_only_when_named() -> None:
    cases = frame_cases(GOLDEN_CASES)
    cases["victim_age"] = pd.array([34, None, 71], dtype="Int64")
    built = build_features(cases, frame_events(GOLDEN_EVENTS), protected=("victim_age", "victim_sex"))
    extra = built.columns[len(feature_names()) + 1:].tolist()
    assert extra == ["victim_age", "victim_sex_female", "victim_sex_male", "victim_sex_other",
                     "victim_sex_unknown"]
    assert built["victim_age"].tolist()[::2] == [34.0, 71.0] and math.isnan(built["victim_age"][1])
    assert built["victim_sex_male"].tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="not a protected attribute"):
        build_features(cases, frame_events(GOLDEN_EVENTS), protected=("relationship",))


# --- the frame's shape ------------------------------------------------------------------------


def test_output_frame_shape_order_and_determinism() -> None:
    cases, events = make_caseload(80, 4)
    built = build_features(cases, events)
    assert built.columns.tolist() == ["case_id", *feature_names()]
    assert isinstance(built.index, pd.RangeIndex) and len(built) == len(cases)
    assert (built.dtypes.iloc[1:] == np.float64).all()
    assert built["case_id"].tolist() == cases["case_id"].tolist()
    # input order is kept, and event order does not matter (not even in the last bit)
    flip = cases.iloc[::-1].reset_index(drop=True)
    pd.testing.assert_frame_equal(build_features(flip, events),
                                  built.iloc[::-1].reset_index(drop=True), check_exact=True)
    shuffled = events.sample(frac=1.0, random_state=1).reset_index(drop=True)
    pd.testing.assert_frame_equal(build_features(cases, shuffled), built, check_exact=True)


def test_coded_event_columns_build_the_same_features() -> None:
    """Behaviour and channel as pandas categoricals (as the readers give them, with unknown
    values and categories in any order) build exactly what text builds."""
    cases, events = make_caseload(120, 6)
    events = events.copy()
    events.loc[events.index[::17], "behaviour"] = "shouting"  # not in the contract: counts as other
    events.loc[events.index[::13], "channel"] = None
    coded = events.assign(
        behaviour=pd.Categorical(events["behaviour"], categories=["shouting", *BEHAVIOURS[::-1]]),
        channel=events["channel"].astype("category"))
    pd.testing.assert_frame_equal(build_features(cases, coded), build_features(cases, events), check_exact=True)


def test_empty_inputs() -> None:
    cases, events = make_caseload(5, 5)
    no_events = build_features(cases, events.iloc[:0])
    assert (no_events["n_events_all"] == 0).all()
    assert no_events["days_since_last_event"].isna().all()
    assert (no_events["weekly_trend_12w"] == 0).all()
    none = build_features(cases.iloc[:0], events)
    assert none.columns.tolist() == ["case_id", *feature_names()] and len(none) == 0


def test_events_without_optional_columns() -> None:
    cases = frame_cases(GOLDEN_CASES)
    events = frame_events(GOLDEN_EVENTS).drop(columns=["channel", "recorded_at"])
    built = build_features(cases, events).set_index("case_id")
    # without recorded_at the late-recorded contact counts; without channels none are known
    assert built.loc["A", "n_contacting_7d"] == 1.0
    assert built.loc["B", "distinct_channels_90d"] == 0.0
    assert built.loc["B", "sdash_visits_over_3_a_week"] == 0.0


def test_naive_event_times_are_refused() -> None:
    cases = frame_cases(GOLDEN_CASES)
    events = frame_events(GOLDEN_EVENTS)
    events["event_time"] = events["event_time"].dt.tz_localize(None)
    with pytest.raises(TypeError, match="event_time"):
        build_features(cases, events)


@pytest.mark.parametrize(("last_visit", "expected"), [("2024-01-15T09:00:00Z", 0.0),
                                                      ("2024-01-15T08:59:59Z", 1.0)])
def test_visits_more_than_three_times_in_a_week_edge(last_visit: str, expected: float) -> None:
    cases = frame_cases([dict(GOLDEN_CASES[2], case_id="V", assessment_date="2024-01-20")])
    times = ["2024-01-08T09:00:00Z", "2024-01-10T09:00:00Z", "2024-01-12T09:00:00Z", last_visit]
    events = frame_events([("V", t, "contacting", "in_person", None) for t in times]
                          + [("V", "2024-01-09T09:00:00Z", "contacting", "phone", None)])
    built = build_features(cases, events)
    assert built["sdash_visits_over_3_a_week"].iloc[0] == expected
    pd.testing.assert_frame_equal(built, reference_features(cases, events))


def test_agrees_with_the_oracle_on_the_project_generator() -> None:
    synth = pytest.importorskip("stalkrisk.synth.caseload")
    data = synth.generate(200, 5)
    pd.testing.assert_frame_equal(build_features(data.cases, data.events),
                                  reference_features(data.cases, data.events),
                                  check_exact=False, rtol=1e-12, atol=1e-12)

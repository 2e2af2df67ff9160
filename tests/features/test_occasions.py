"""Course of conduct by occasions: acts associated with stalking on at least two distinct UK
calendar days (Europe/London) up to the end of the assessment day, from the feature builder."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stalkrisk.features.build import build_with_facts
from stalkrisk.features.kernels import _utc_local_day
from stalkrisk.features.asof import local_day


def caseload(events: list[tuple[str, str, str | None, str | None]], day: str = "2024-06-30"):
    cases = pd.DataFrame({"case_id": pd.Series(["A"], dtype="str"),
                          "assessment_date": pd.to_datetime([day]).astype("datetime64[ns]"),
                          "relationship": pd.Series(["stranger"], dtype="str")})
    t, b, ch, target = zip(*events) if events else ((), (), (), ())
    ev = pd.DataFrame({"case_id": pd.Series(["A"] * len(t), dtype="str"),
                       "event_time": pd.Series(pd.to_datetime(list(t), utc=True, format="ISO8601"),
                                               dtype="datetime64[ns, UTC]"),
                       "behaviour": pd.Series(b, dtype="str"), "channel": pd.Series(ch, dtype="str"),
                       "target": pd.Series(target, dtype="str")})
    features, facts = build_with_facts(cases, ev)
    return bool(features["course_of_conduct"].iloc[0]), facts.iloc[0]


def test_two_texts_a_minute_apart_are_one_occasion():
    coc, facts = caseload([("2024-06-10T21:00:00+01:00", "contacting", "text_message", "victim"),
                           ("2024-06-10T21:01:00+01:00", "contacting", "text_message", "victim")])
    assert not coc and facts["occasions"] == 1 and facts["act_days_30d"] == 1


def test_ten_threats_and_three_assaults_on_different_days_are_a_course_of_conduct():
    events = [(f"2024-06-{d:02d}T12:00:00+01:00", "threat", "phone", "victim") for d in range(1, 11)]
    events += [(f"2024-06-{d:02d}T18:00:00+01:00", "violence", "in_person", "victim") for d in (12, 15, 20)]
    coc, facts = caseload(events)
    assert coc and facts["occasions"] == 2 and facts["act_days_30d"] == 13


def test_the_uk_day_decides_not_the_utc_day():
    # 23:30 and 00:30 BST are two UK days but one UTC day (22:30 and 23:30 UTC on 10 June)
    coc, _ = caseload([("2024-06-10T22:30:00Z", "following", "in_person", None),
                       ("2024-06-10T23:30:00Z", "following", "in_person", None)])
    assert coc
    # 00:30 and 23:30 BST on 11 June: two UTC days, one UK day
    coc, _ = caseload([("2024-06-10T23:30:00Z", "following", "in_person", None),
                       ("2024-06-11T22:30:00Z", "following", "in_person", None)])
    assert not coc


def test_contact_through_third_parties_counts_and_other_behaviour_does_not():
    proxy = [(f"2024-06-{d:02d}T12:00:00+01:00", "other", "phone", "third_party") for d in range(1, 21)]
    coc, facts = caseload(proxy)
    assert coc and facts["proxy_days_30d"] == 20 and facts["act_days_30d"] == 20
    coc, facts = caseload([(t, b, ch, "victim") for t, b, ch, _ in proxy])  # "other", to the victim
    assert not coc and facts["occasions"] == 0


def test_acts_after_the_end_of_the_assessment_day_do_not_count():
    coc, _ = caseload([("2024-06-30T23:59:00+01:00", "watching", "in_person", None),
                       ("2024-07-01T00:00:00+01:00", "watching", "in_person", None)])
    assert not coc


def test_old_acts_on_two_days_count_beyond_the_day_windows():
    coc, facts = caseload([("2020-03-29T00:30:00Z", "loitering", "in_person", None),   # GMT: 29 March
                           ("2020-03-29T23:30:00Z", "loitering", "in_person", None)])  # BST: 30 March
    assert coc and facts["act_days_365d"] == 0
    coc, _ = caseload([("2020-10-24T23:30:00Z", "loitering", "in_person", None),   # BST: 25 October 00:30
                       ("2020-10-25T22:00:00Z", "loitering", "in_person", None)])  # GMT: 25 October 22:00
    assert not coc


@pytest.mark.parametrize("seed", [0, 1])
def test_the_kernels_old_day_rule_equals_the_tz_database(seed):
    rng = np.random.default_rng(seed)
    lo, hi = pd.Timestamp("1996-01-01", tz="UTC").value, pd.Timestamp("2099-12-31", tz="UTC").value
    t = rng.integers(lo, hi, 20_000)
    # and every half hour over the day of each clock change (at 01:00 UTC) and the next midnight
    changes = pd.date_range("1996-01-01", "2099-12-31", freq="D", tz="Europe/London")
    offsets = np.array([c.utcoffset().total_seconds() for c in changes])
    edge = changes[1:][np.diff(offsets) != 0].tz_convert("UTC").as_unit("ns").asi8
    t = np.concatenate([t, (edge[:, None] + np.arange(-50, 4)[None, :] * 1_800 * 10**9).ravel()])
    assert np.array_equal(np.array([_utc_local_day(int(x)) for x in t]), local_day(t))

"""Orders in force as of each assessment day: hand-worked cases, a slow per-case oracle, and
the point-in-time property (orders recorded after the assessment day change nothing)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stalkrisk.data.contract import ORDER_TYPES, SPO_TYPES
from stalkrisk.features.asof import cutoff_utc
from stalkrisk.features.orders_asof import in_force_as_known, orders_as_of

SETTINGS = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DAY0 = pd.Timestamp("2024-03-01")


def cases_frame(days: list[str], suspects: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame({"case_id": pd.Series([f"C{i}" for i in range(len(days))], dtype="str"),
                         "assessment_date": pd.to_datetime(days).astype("datetime64[ns]"),
                         "suspect_id": pd.Series(suspects, dtype=object)})


def orders_frame(rows: list[tuple]) -> pd.DataFrame:
    order_id, case_id, suspect_id, kind, made, expires, recorded = zip(*rows)
    return pd.DataFrame({
        "order_id": list(order_id), "case_id": pd.Series(case_id, dtype=object),
        "suspect_id": pd.Series(suspect_id, dtype=object), "order_type": list(kind),
        "made_on": pd.to_datetime(list(made)).astype("datetime64[ns]"),
        "expires_on": pd.to_datetime(list(expires)).astype("datetime64[ns]"),
        "recorded_at": pd.Series(pd.to_datetime(list(recorded), utc=True, format="ISO8601")).astype("datetime64[ns, UTC]"),
    })


def test_hand_worked_cases():
    cases = cases_frame(["2024-03-01", "2024-03-01", "2024-03-01", "2024-07-01"], ["S1", "S2", None, "S1"])
    orders = orders_frame([
        ("o1", "C0", None, "spo", "2024-01-01", "2024-04-10", None),      # C0: SPO, 40 days left
        ("o2", None, "S1", "dvpo", "2024-02-01", None, None),             # C0 and C3 by suspect
        ("o3", "C1", None, "spo", "2024-03-02", None, None),              # made the day after: not yet
        ("o4", "C2", None, "restraining", "2023-01-01", "2024-02-29", None),  # expired the day before
        ("o5", "C2", None, "interim_spo", "2024-02-20", "2024-03-01", "2024-03-02T00:00:00Z"),  # recorded at the cutoff: after
        ("o6", "C1", None, "interim_spo", "2024-02-20", "2024-03-01", "2024-03-01T23:59:00+01:00"),  # in time
    ])
    got = orders_as_of(cases, orders)
    assert got["order_in_force"].tolist() == [True, True, False, True]
    assert got["spo_in_force"].tolist() == [True, True, False, False]
    assert got["spo_days_left"].iloc[0] == 40 and got["spo_days_left"].iloc[1] == 0
    assert np.isnan(got["spo_days_left"].iloc[3])
    assert got["orders_in_force"].tolist() == ["spo, dvpo", "interim_spo", "", "dvpo"]


def test_no_orders_table_means_not_known():
    got = orders_as_of(cases_frame(["2024-03-01"], [None]), None)
    assert got["order_in_force"].isna().all() and got["spo_in_force"].isna().all()


def oracle(cases: pd.DataFrame, orders: pd.DataFrame) -> pd.DataFrame:
    """One case at a time, one order at a time, with the named rule on plain values."""
    rows = []
    for _, case in cases.iterrows():
        day = case["assessment_date"]
        cutoff = cutoff_utc(pd.Series([day])).iloc[0]
        live = [o for _, o in orders.iterrows()
                if (o["case_id"] == case["case_id"]
                    or (case["suspect_id"] is not None and o["suspect_id"] == case["suspect_id"]))
                and bool(in_force_as_known(o["made_on"], o["expires_on"], o["recorded_at"], day, cutoff))]
        spo = [o for o in live if o["order_type"] in SPO_TYPES]
        left = [(o["expires_on"] - day).days for o in spo if not pd.isna(o["expires_on"])]
        rows.append({"order_in_force": bool(live), "spo_in_force": bool(spo),
                     "spo_days_left": float(min(left)) if left else np.nan,
                     "orders_in_force": ", ".join(dict.fromkeys(o["order_type"] for o in live))})
    return pd.DataFrame(rows)


day_offsets = st.integers(-40, 40)


@st.composite
def caseloads(draw):
    n = draw(st.integers(1, 6))
    days = [str((DAY0 + pd.Timedelta(days=draw(day_offsets))).date()) for _ in range(n)]
    suspects = [draw(st.sampled_from([None, "S1", "S2"])) for _ in range(n)]
    rows = []
    for k in range(draw(st.integers(0, 10))):
        made = DAY0 + pd.Timedelta(days=draw(day_offsets))
        expires = draw(st.one_of(st.none(), st.integers(0, 60).map(lambda d, m=made: m + pd.Timedelta(days=d))))
        recorded = draw(st.one_of(st.none(), st.integers(-60 * 24, 60 * 24).map(
            lambda h, m=made: (m + pd.Timedelta(hours=h)).tz_localize("UTC").isoformat())))
        case = draw(st.one_of(st.none(), st.sampled_from([f"C{i}" for i in range(n)])))
        suspect = draw(st.sampled_from([None, "S1", "S2"])) if case is not None else "S1"
        rows.append((f"o{k}", case, suspect, draw(st.sampled_from(ORDER_TYPES)), str(made.date()),
                     None if expires is None else str(expires.date()), recorded))
    return cases_frame(days, suspects), orders_frame(rows) if rows else orders_frame(
        [("none", "nobody", None, "other", "1990-01-01", None, None)])


@SETTINGS
@given(caseloads())
def test_agrees_with_the_slow_oracle(data):
    cases, orders = data
    fast = orders_as_of(cases, orders)
    slow = oracle(cases, orders)
    pd.testing.assert_frame_equal(fast.astype({"order_in_force": bool, "spo_in_force": bool}), slow,
                                  check_dtype=False)


@SETTINGS
@given(caseloads(), st.integers(0, 5 * 24), st.sampled_from(ORDER_TYPES), day_offsets)
def test_orders_recorded_after_the_assessment_day_change_nothing(data, hours_late, kind, made):
    cases, orders = data
    before = orders_as_of(cases, orders)
    # recorded after the latest cutoff: a suspect's order reaches every case of that suspect
    late_at = (cutoff_utc(cases["assessment_date"]).max() + pd.Timedelta(hours=hours_late)).isoformat()
    late = [("late%d" % i, cid, sid, kind, str((DAY0 + pd.Timedelta(days=made)).date()), None, late_at)
            for i, (cid, sid) in enumerate(zip(cases["case_id"], cases["suspect_id"]))]
    after = orders_as_of(cases, pd.concat([orders, orders_frame(late)], ignore_index=True))
    pd.testing.assert_frame_equal(before, after)

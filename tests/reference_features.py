"""The slow oracle for the feature builder, and a tiny caseload generator for tests.

``reference_features`` computes every registry feature one case at a time with
plain Python loops over that case's events and ``zoneinfo`` date arithmetic: slow,
but each feature reads like its definition in docs/features.md. The fast builder
must agree with it. ``make_caseload`` makes small random caseloads (numpy only) that
hit the awkward spots: events after the cutoff or recorded after it, missing
values, DST dates, bursts of visits, events of unknown cases.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from stalkrisk.data.contract import (
    BEHAVIOURS,
    CHANNELS,
    ETHNICITIES,
    FEARS,
    ONLINE_CHANNELS,
    RELATIONSHIPS,
    SEXES,
    STATUTORY_BEHAVIOURS,
)
from stalkrisk.features.asof import known_by_cutoff
from stalkrisk.features.linking import known_link
from stalkrisk.features.registry import feature_names

LONDON = ZoneInfo("Europe/London")
DAY = timedelta(days=1)


def reference_cutoff(assessment: date) -> datetime:
    """Local midnight at the start of the next day, in UTC."""
    nxt = assessment + DAY
    return datetime(nxt.year, nxt.month, nxt.day, tzinfo=LONDON).astimezone(timezone.utc)


def _missing(value) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (
        isinstance(value, float) and value != value)


def _number(value) -> float:
    return float("nan") if _missing(value) else float(value)


def _case(case: dict, events: list[dict]) -> dict[str, float]:
    nan = float("nan")
    f: dict[str, float] = {}
    rel = case.get("relationship")
    for c in RELATIONSHIPS:
        f[f"rel_{c}"] = nan if _missing(rel) else float(rel == c)
    for column in ("suspect_prior_stalking", "suspect_prior_violence",
                   "suspect_prior_domestic_abuse", "suspect_substance_misuse",
                   "protective_order_in_force"):
        f[column] = _number(case.get(column))
    fear = case.get("victim_fear")
    f["victim_fear"] = {"not_afraid": 0.0, "afraid": 1.0, "very_afraid": 2.0}.get(fear, nan) \
        if not _missing(fear) else nan

    cutoff = reference_cutoff(case["assessment_date"].date())
    known = []
    proxies: set[int] = set()  # positions in ``known`` of events aimed at a third party
    for e in events:
        t, rec = e["event_time"], e.get("recorded_at")
        if _missing(t):
            continue
        t = t.to_pydatetime()
        rec = None if _missing(rec) else rec.to_pydatetime()
        if known_by_cutoff(t, rec, cutoff):
            b = e["behaviour"] if e["behaviour"] in BEHAVIOURS else "other"
            ch = e.get("channel")
            ch = ch if ch in CHANNELS else None
            if e.get("target") == "third_party":
                proxies.add(len(known))
            known.append((t, b, ch))

    def within(t: datetime, days: int) -> bool:
        return cutoff - timedelta(days=days) <= t < cutoff

    for b in STATUTORY_BEHAVIOURS + ("threat", "violence", "order_breach", "events"):
        for days in (7, 30, 90, 365):
            f[f"n_{b}_{days}d"] = float(sum(1 for t, eb, _ in known
                                            if within(t, days) and b in (eb, "events")))
        if b in ("threat", "violence", "order_breach", "events"):
            f[f"n_{b}_all"] = float(sum(1 for _, eb, _ in known if b in (eb, "events")))
    for days in (30, 90, 365):
        f[f"distinct_days_{days}d"] = float(len(
            {t.astimezone(LONDON).date() for t, _, _ in known if within(t, days)}))
    f["distinct_channels_90d"] = float(len(
        {ch for t, _, ch in known if within(t, 90) and ch not in (None, "unknown")}))
    recent = [(b, ch) for t, b, ch in known if within(t, 90)]
    online = [1 for b, ch in recent if ch in ONLINE_CHANNELS or b in ("monitoring_online",
                                                                        "publishing")]
    f["online_share_90d"] = len(online) / len(recent) if recent else 0.0

    weekly = []
    for k in range(12):  # week k ends 7k days before the cutoff; x runs oldest (0) to newest (11)
        end = cutoff - timedelta(days=7 * k)
        weekly.append((11 - k, sum(1 for t, _, _ in known if end - timedelta(days=7) <= t < end)))
    xm = sum(x for x, _ in weekly) / 12
    ym = sum(y for _, y in weekly) / 12
    f["weekly_trend_12w"] = (sum((x - xm) * (y - ym) for x, y in weekly)
                             / sum((x - xm) ** 2 for x, _ in weekly))
    last30 = sum(1 for t, _, _ in known if within(t, 30))
    prior60 = sum(1 for t, _, _ in known
                  if cutoff - timedelta(days=90) <= t < cutoff - timedelta(days=30))
    f["change_30d_vs_prior_60d"] = last30 - prior60 / 2

    def days_before(t: datetime) -> float:
        return (cutoff - t) / DAY

    times = [t for t, _, _ in known]
    f["days_since_last_event"] = days_before(max(times)) if times else nan
    f["history_length_days"] = days_before(min(times)) if times else nan
    for o in ("threat", "violence", "order_breach"):
        ts = [t for t, b, _ in known if b == o]
        f[f"days_since_first_{o}"] = days_before(min(ts)) if ts else nan
    new = [b for t, b, _ in known if within(t, 30)]
    old = [b for t, b, _ in known if not within(t, 30)]

    def tv_share(bs: list[str]) -> float:
        return sum(1 for b in bs if b in ("threat", "violence")) / len(bs) if bs else 0.0

    f["threat_shift_30d"] = tv_share(new) - tv_share(old)

    def ever(behaviour: str) -> float:
        return float(any(b == behaviour for _, b, _ in known))

    f["sdash_property_interference"] = ever("property_interference")
    f["sdash_loitering"] = ever("loitering")
    visits = [t for t, _, ch in known if ch == "in_person" and within(t, 90)]
    f["sdash_visits_over_3_a_week"] = float(any(
        sum(1 for u in visits if s <= u < s + timedelta(days=7)) >= 4 for s in visits))
    f["sdash_threats"] = ever("threat")
    f["sdash_violence"] = ever("violence")
    prior = f["suspect_prior_stalking"]
    f["sdash_prior_harassment"] = nan if prior != prior else float(prior > 0)
    f["sdash_substance_misuse"] = f["suspect_substance_misuse"]
    by_proxy = [ch == "third_party" or i in proxies for i, (_, _, ch) in enumerate(known)]
    f["sdash_third_party_contact"] = float(any(by_proxy))
    fv = f["victim_fear"]
    f["sdash_fear"] = nan if fv != fv else float(fv >= 1)
    # acts associated with stalking on at least two occasions: distinct UK calendar days
    acts = {t.astimezone(LONDON).date() for (t, b, _), proxy in zip(known, by_proxy)
            if b in STATUTORY_BEHAVIOURS + ("threat", "violence", "order_breach") or proxy}
    f["course_of_conduct"] = float(len(acts) >= 2)
    return f


def reference_features(cases: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """Every registry feature, one case at a time (the oracle)."""
    by_case: dict[str, list[dict]] = defaultdict(list)
    for e in events.to_dict("records"):
        by_case[e["case_id"]].append(e)
    names = feature_names()
    rows = []
    records = cases.to_dict("records")
    for case in records:
        values = {**_case(case, by_case.get(case["case_id"], [])), **reference_links(case, records)}
        assert set(values) == set(names), set(values) ^ set(names)
        rows.append([values[n] for n in names])
    out = pd.DataFrame(rows, columns=names, dtype="float64").reset_index(drop=True)
    if not rows:
        out = pd.DataFrame({n: pd.Series(dtype="float64") for n in names})
    out.insert(0, "case_id", pd.Series(cases["case_id"].to_numpy(), dtype="str"))
    return out


def reference_links(case: dict, cases: list[dict]) -> dict[str, float]:
    """The linking features of ``case`` among ``cases``, by their definitions: the other rows of the
    same suspect (a case id held once) assessed on or before this case's day."""
    names = ("linked_cases", "linked_victims", "linked_forces", "linked_cases_365d",
             "linked_cases_victim_afraid", "linked_cases_order_in_force")
    ids = [c["case_id"] for c in cases]

    def links(c: dict) -> bool:
        return not _missing(c.get("suspect_id")) and not _missing(c.get("assessment_date")) \
            and ids.count(c["case_id"]) == 1

    if not links(case):
        return {n: float("nan") for n in names}
    day = case["assessment_date"].date()
    others = [c for c in cases if links(c) and c["case_id"] != case["case_id"]
              and c["suspect_id"] == case["suspect_id"] and known_link(c["assessment_date"].date(), day)]

    def distinct(column: str) -> float:
        own = case.get(column)
        return float(len({c[column] for c in others if not _missing(c.get(column))} - {own}))

    return {
        "linked_cases": float(len(others)),
        "linked_victims": distinct("victim_id"),
        "linked_forces": distinct("force_code"),
        "linked_cases_365d": float(sum((day - c["assessment_date"].date()).days <= 365 for c in others)),
        "linked_cases_victim_afraid": float(sum(c.get("victim_fear") in ("afraid", "very_afraid") for c in others)),
        "linked_cases_order_in_force": float(sum(c.get("protective_order_in_force") is True for c in others)),
    }


# --- a tiny generator ------------------------------------------------------------------


def _maybe_missing(rng: np.random.Generator, values: np.ndarray, share: float) -> list:
    return [None if m else v for v, m in zip(values.tolist(), rng.random(len(values)) < share)]


def make_caseload(n: int, seed: int, events_per_case: float = 8.0
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` random cases and their events in the contract's normalised form."""
    rng = np.random.default_rng(seed)
    # dates cluster around the clock changes of 2024 (31 Mar, 27 Oct) and spread over 2023-25
    anchors = np.array(["2024-03-31", "2024-10-27", "2024-07-01", "2024-01-15"], dtype="datetime64[D]")
    spread = np.where(rng.random(n) < 0.5, rng.integers(-3, 4, n), rng.integers(-500, 500, n))
    dates = anchors[rng.integers(0, len(anchors), n)] + spread
    cases = pd.DataFrame({
        "case_id": pd.Series([f"C{seed}-{i:05d}" for i in range(n)], dtype="str"),
        "assessment_date": pd.Series(dates.astype("datetime64[ns]")),
        "relationship": pd.Series(_maybe_missing(rng, rng.choice(RELATIONSHIPS + ("bogus",), n),
                                                 0.03), dtype="str"),
        "victim_sex": pd.Series(rng.choice(SEXES, n), dtype="str"),
        "victim_age": pd.array(_maybe_missing(rng, rng.integers(10, 111, n), 0.1), dtype="Int64"),
        "suspect_sex": pd.Series(rng.choice(SEXES, n), dtype="str"),
        "suspect_age": pd.array(_maybe_missing(rng, rng.integers(10, 111, n), 0.1), dtype="Int64"),
        "suspect_prior_stalking": pd.array(_maybe_missing(rng, rng.poisson(0.7, n), 0.1), dtype="Int64"),
        "suspect_prior_violence": pd.array(_maybe_missing(rng, rng.poisson(0.5, n), 0.1), dtype="Int64"),
        "suspect_prior_domestic_abuse": pd.array(_maybe_missing(rng, rng.random(n) < 0.4, 0.1), dtype="boolean"),
        "suspect_substance_misuse": pd.array(_maybe_missing(rng, rng.random(n) < 0.3, 0.1), dtype="boolean"),
        "protective_order_in_force": pd.array(_maybe_missing(rng, rng.random(n) < 0.2, 0.1), dtype="boolean"),
        "victim_fear": pd.Series(_maybe_missing(rng, rng.choice(FEARS, n), 0.1), dtype="str"),
        "victim_ethnicity": pd.Series(rng.choice(ETHNICITIES, n), dtype="str"),
        "suspect_ethnicity": pd.Series(rng.choice(ETHNICITIES, n), dtype="str"),
    })
    # contract v2's person keys and force, from a stream of their own (the draws stay as they were):
    # few suspects, so cases link, some over forces and victims; some keys missing
    keys = np.random.default_rng(seed + 20_000)
    cases["suspect_id"] = pd.Series(_maybe_missing(keys, keys.integers(0, max(n // 3, 1), n).astype(str), 0.1),
                                    dtype="str")
    cases["victim_id"] = pd.Series(_maybe_missing(keys, keys.integers(0, max(n // 2, 1), n).astype(str), 0.1),
                                   dtype="str")
    cases["force_code"] = pd.Series(_maybe_missing(keys, keys.choice(["F01", "F02", "F03"], n), 0.1), dtype="str")
    per_case = rng.poisson(events_per_case, n)
    per_case[rng.random(n) < 0.1] = 0
    owner = np.repeat(np.arange(n), per_case)
    m = len(owner)
    # end of the assessment day, roughly (UTC midnight); the oracle applies the exact rule
    end = (dates + 1).astype("datetime64[s]").astype(np.int64)[owner]
    back = np.where(rng.random(m) < 0.5, rng.integers(-5 * 86400, 40 * 86400, m),
                    rng.integers(-60 * 86400, 500 * 86400, m))
    t = end - back
    # bursts of in-person visits a few hours apart
    burst = rng.random(m) < 0.15
    t[burst] = end[burst] - rng.integers(0, 10, burst.sum()) * 86400 - rng.integers(0, 9, burst.sum()) * 3600
    delay = rng.exponential(3 * 86400, m).astype(np.int64)
    rec = np.where(rng.random(m) < 0.3, np.iinfo(np.int64).min, t + delay)
    behaviour = rng.choice(BEHAVIOURS + ("bogus",), m, p=_behaviour_p())
    channel = np.where(burst, "in_person", rng.choice(CHANNELS, m)).astype(object)
    channel[rng.random(m) < 0.1] = None
    events = pd.DataFrame({
        "case_id": pd.Series(cases["case_id"].to_numpy()[owner], dtype="str"),
        "event_time": pd.Series(pd.to_datetime(t, unit="s", utc=True)).astype("datetime64[ns, UTC]"),
        "behaviour": pd.Series(behaviour, dtype="str"),
        "channel": pd.Series(channel, dtype="str"),
        "recorded_at": pd.Series((np.where(rec == np.iinfo(np.int64).min, rec, rec * 10**9))
                                 .view("datetime64[ns]")).dt.tz_localize("UTC"),
    })
    # contract v2's target, from a stream of its own (the draws above stay as they were)
    target = np.random.default_rng(seed + 10_000).choice(
        np.array(["victim", "third_party", "unknown", None], dtype=object), m, p=[0.7, 0.15, 0.05, 0.1])
    events["target"] = pd.Series(target, dtype="str")
    stray = pd.DataFrame({"case_id": pd.Series([f"X{seed}-{i}" for i in range(3)], dtype="str"),
                          "event_time": events["event_time"].iloc[:3].reset_index(drop=True)
                          if m >= 3 else pd.Series(pd.to_datetime(["2024-01-01"] * 3, utc=True)),
                          "behaviour": pd.Series(["threat"] * 3, dtype="str")})
    events = pd.concat([events, stray], ignore_index=True)
    events = events.iloc[rng.permutation(len(events))].reset_index(drop=True)
    return cases, events


def _behaviour_p() -> list[float]:
    weights = np.array([3, 6, 1, 1, 2, 1, 2, 2, 1, 1, 1, 0.2])
    return (weights / weights.sum()).tolist()

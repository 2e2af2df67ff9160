"""The generator's truth: two risk domains and their union, agreeing with the events it writes,
recomputable from what was known on the assessment day, and as hard as published tools find it."""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from stalkrisk.data import contract
from stalkrisk.synth import caseload as synth
from stalkrisk.synth import domains

LONDON = ZoneInfo(contract.LOCAL_TZ)
LABELS = {"label": "p", "label_persistence": "p_persistence", "label_harm": "p_harm"}


# ------------------------------------------------------------ oracles (slow, plain Python)
def day_end_utc(d: date) -> datetime:
    """The end of UK-local day ``d`` as an aware UTC datetime."""
    return datetime.combine(d + timedelta(days=1), time(0), tzinfo=LONDON).astimezone(timezone.utc)


def slow_labels(assessment: date, events: list[dict], horizon: int) -> dict[str, int]:
    """The label definitions in words: in the window (local dates after the assessment date, up
    to horizon days after it), persistence = acts on two or more distinct days; harm = a threat
    or violence; risk = either."""
    act_days, harm = set(), False
    for e in events:
        local_day = e["event_time"].astimezone(LONDON).date()
        if not assessment < local_day <= assessment + timedelta(days=horizon):
            continue
        if e["behaviour"] in contract.ACT_BEHAVIOURS:
            act_days.add(local_day)
        harm |= e["behaviour"] in ("threat", "violence")
    persistence = len(act_days) >= 2
    return {"label": int(persistence or harm), "label_persistence": int(persistence),
            "label_harm": int(harm)}


def slow_p(row: dict, events: list[dict]) -> dict[str, float]:
    """The mechanism written out per case from its documented definitions."""
    end = day_end_utc(row["assessment_date"])
    known = [e for e in events if e["event_time"] < end and (e["recorded_at"] is None or e["recorded_at"] < end)]

    def secs(e: dict) -> float:
        return (end - e["event_time"]).total_seconds()

    def n(days: int, behaviours: tuple[str, ...] | None = None) -> int:
        return sum(1 for e in known if secs(e) <= days * 86_400 and (behaviours is None or e["behaviour"] in behaviours))

    days_30 = {e["event_time"].astimezone(LONDON).date() for e in known if secs(e) <= 30 * 86_400}
    third = any(e["channel"] == "third_party" or e["target"] == "third_party" for e in known)
    n30, n90 = n(30), n(90)
    h30, h90 = n(30, contract.OUTCOME_BEHAVIOURS), n(90, contract.OUTCOME_BEHAVIOURS)
    rate = min(2.0, max(-2.0, math.log((n30 * 7 / 30 + 0.5) / ((n90 - n30) * 7 / 60 + 0.5))))
    shift = h30 / max(n30, 1) - (h90 - h30) / max(n90 - n30, 1)
    last = min((secs(e) for e in known), default=math.inf)
    q = {
        "act_days_30": math.log1p(len(days_30)), "contact": math.log1p(n(30, ("contacting",))),
        "third_party": float(third), "threats": math.log1p(n(90, ("threat",))),
        "violence": math.log1p(n(365, ("violence",))), "order_breach": math.log1p(n(365, ("order_breach",))),
        "escalation_rate": rate, "escalation_shift": shift,
        "prior_violence": math.log1p(row["suspect_prior_violence"] or 0),
        "prior_stalking": math.log1p(row["suspect_prior_stalking"] or 0),
        "prior_domestic_abuse": float(bool(row["suspect_prior_domestic_abuse"])),
        "substance_misuse": float(bool(row["suspect_substance_misuse"])),
        "mental_health": float(bool(row["suspect_mental_health_concern"])),
        "weapon_access": float(bool(row["suspect_weapon_access"])),
        "protective_order": float(bool(row["protective_order_in_force"])),
        "order_unbreached": float(bool(row["protective_order_in_force"]) and n(365, ("order_breach",)) == 0),
        "following_watching": math.log1p(n(90, ("following", "watching", "loitering"))),
        "online": math.log1p(n(90, ("monitoring_online", "publishing"))),
        "property": math.log1p(n(90, ("property_interference",))),
    }
    out = {}
    for d in domains.DOMAINS:
        logit = (domains.INTERCEPT[d] + domains.RELATIONSHIP_LOGIT[d][row["relationship"]]
                 + domains.FEAR_LOGIT[d][row["victim_fear"]]
                 + sum(domains.COEF[d].get(k, 0.0) * v for k, v in q.items() if k != "recency")
                 + domains.COEF[d]["recency"] * math.exp(-last / 86_400 / domains.RECENCY_DAYS[d]))
        for name, factor in domains.RELATIONSHIP_FACTOR[d].items():
            logit += domains.COEF[d][name] * q[name] * (factor[row["relationship"]] - 1)
        out[f"p_{d}"] = 1 / (1 + math.exp(-logit))
    out["p"] = 1 - (1 - out["p_persistence"]) * (1 - out["p_harm"])
    return out


def py_events(events: pd.DataFrame) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    cols = ("case_id", "event_time", "behaviour", "recorded_at", "channel", "target")
    for case_id, t, b, r, ch, tg in zip(*(events[c] for c in cols)):
        out.setdefault(case_id, []).append({
            "event_time": t.to_pydatetime(), "behaviour": b,
            "recorded_at": None if pd.isna(r) else r.to_pydatetime(),
            "channel": None if pd.isna(ch) else ch, "target": None if pd.isna(tg) else tg,
        })
    return out


def py_case(row: pd.Series) -> dict:
    d = {k: (None if pd.isna(v) else v) for k, v in row.items()}
    d["assessment_date"] = row["assessment_date"].date()
    d["victim_fear"] = d["victim_fear"] or "unknown"
    return d


# ---------------------------------------------------------------- truth and events
def test_truth_columns_and_the_union(small: synth.Caseload) -> None:
    t = small.truth
    assert list(t.columns) == ["case_id", "p", "label", "p_persistence", "label_persistence",
                               "p_harm", "label_harm"]
    np.testing.assert_allclose(t["p"], 1 - (1 - t["p_persistence"]) * (1 - t["p_harm"]), rtol=1e-12)
    assert (t["label"] == (t["label_persistence"] | t["label_harm"])).all()
    both = (t["label_persistence"] == 1) & (t["label_harm"] == 1)
    only = (t["label_persistence"] ^ t["label_harm"]) == 1
    assert both.sum() > 50 and only.sum() > 200  # every combination is drawn


def test_every_label_agrees_with_the_events_plain_python(small: synth.Caseload) -> None:
    """For every case, the three labels recomputed from the written events by the slow oracle."""
    events = py_events(small.events)
    truth = small.truth.set_index("case_id")
    for case_id, assessment in zip(small.cases["case_id"], small.cases["assessment_date"]):
        expected = slow_labels(assessment.date(), events[case_id], 90)
        assert expected == {k: int(truth.at[case_id, k]) for k in expected}, case_id


def assert_labels_agree(cl: synth.Caseload, horizon: int) -> None:
    """Vectorised: the three labels from the events' local dates in (a, a + horizon]."""
    ev = cl.events
    assessment = ev["case_id"].map(cl.cases.set_index("case_id")["assessment_date"])
    local_day = ev["event_time"].dt.tz_convert(LONDON).dt.tz_localize(None).dt.normalize()
    window = ev[(local_day > assessment) & (local_day <= assessment + pd.Timedelta(days=horizon))]
    day = local_day[window.index]
    acts = window["behaviour"].isin(contract.ACT_BEHAVIOURS)
    days = day[acts].groupby(window.loc[acts, "case_id"]).nunique()
    persistent = set(days[days >= 2].index)
    harmed = set(window.loc[window["behaviour"].isin(["threat", "violence"]), "case_id"])
    t = cl.truth
    assert t["case_id"].isin(persistent).astype(int).tolist() == t["label_persistence"].tolist()
    assert t["case_id"].isin(harmed).astype(int).tolist() == t["label_harm"].tolist()
    assert t["case_id"].isin(persistent | harmed).astype(int).tolist() == t["label"].tolist()


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 40), seed=st.integers(0, 2**32 - 1), horizon=st.integers(1, 200))
def test_labels_agree_with_events_for_any_horizon(n: int, seed: int, horizon: int) -> None:
    cl = synth.generate(n, seed, horizon_days=horizon, start="2023-03-20", end="2023-11-05")
    if n == 0:
        assert cl.events.empty and cl.truth.empty
        assert cl.events["event_time"].dtype == "datetime64[ns, UTC]"
        return
    assert_labels_agree(cl, horizon)
    assert ((cl.truth["p"] > 0) & (cl.truth["p"] < 1)).all()
    if horizon == 1:  # one day in the window: two occasions cannot happen
        assert (cl.truth["p_persistence"] == 0).all() and (cl.truth["label_persistence"] == 0).all()


def test_labels_agree_at_the_window_edges_and_across_clock_changes(large: synth.Caseload) -> None:
    assert_labels_agree(large, 90)
    # two-day windows put every act next to both edges; 2023-10-29 and 2024-03-31 change the clocks
    assert_labels_agree(synth.generate(3_000, seed=4, horizon_days=2, start="2023-10-20", end="2024-04-05"), 2)


def test_p_recomputed_from_observables_plain_python(small: synth.Caseload) -> None:
    events = py_events(small.events)
    sample = small.cases.sample(200, random_state=1)
    truth = small.truth.set_index("case_id")
    for _, row in sample.iterrows():
        got = slow_p(py_case(row), events[row["case_id"]])
        for col in ("p", "p_persistence", "p_harm"):
            assert got[col] == pytest.approx(truth.at[row["case_id"], col], rel=1e-9), (row["case_id"], col)


def test_truth_recomputed_from_frames(small: synth.Caseload) -> None:
    again = synth.truth_probabilities(small.cases, small.events)
    for col in ("p", "p_persistence", "p_harm"):
        np.testing.assert_allclose(again[col], small.truth[col], rtol=1e-12)
    for d in domains.DOMAINS:
        terms = synth.logit_terms(small.cases, small.events, d)
        assert list(terms.columns) == ["case_id", *synth.GROUPS]
        logit = domains.INTERCEPT[d] + terms[list(synth.GROUPS)].sum(axis=1)
        np.testing.assert_allclose(1 / (1 + np.exp(-logit)), small.truth[f"p_{d}"], rtol=1e-12)


def test_logit_terms_golden_case() -> None:
    """One case worked out by hand (2024-06-10 is BST: the day ends at 23:00 UTC)."""
    cases = contract.empty_frame(contract.CASES).reindex(range(1))
    cases = cases.astype({c.name: contract.PANDAS_DTYPES[c.kind] for c in contract.CASES.columns})
    cases.loc[0, ["case_id", "relationship", "victim_sex", "suspect_sex", "victim_fear"]] = [
        "K1", "ex_partner", "female", "male", "very_afraid"]
    cases["assessment_date"] = pd.to_datetime(["2024-06-10"]).astype("datetime64[ns]")
    cases["suspect_prior_violence"] = pd.array([1], dtype="Int64")
    cases["protective_order_in_force"] = pd.array([True], dtype="boolean")
    cases["suspect_weapon_access"] = pd.array([True], dtype="boolean")
    utc = lambda s: pd.Timestamp(s, tz="UTC")  # noqa: E731
    rows = [  # (event_time, behaviour, channel, recorded_at)
        (utc("2024-06-10T22:30"), "threat", None, None),                  # known, day 10 June
        (utc("2024-06-01T12:00"), "contacting", "third_party", utc("2024-06-01T15:00")),
        (utc("2024-06-05T12:00"), "contacting", None, utc("2024-06-05T15:00")),
        (utc("2024-06-05T13:00"), "other", None, None),                   # same day as the last
        (utc("2024-04-20T12:00"), "contacting", None, None),              # day 51: in 90, not 30
        (utc("2024-06-09T12:00"), "threat", None, utc("2024-06-20T09:00")),  # recorded late: unknown
        (utc("2024-06-10T23:00"), "violence", None, None),                # 00:00 BST on the 11th: after
    ]
    events = pd.DataFrame({
        "case_id": pd.array(["K1"] * len(rows), dtype="str"),
        "event_time": pd.Series([r[0] for r in rows]).astype("datetime64[ns, UTC]"),
        "behaviour": pd.array([r[1] for r in rows], dtype="str"),
        "channel": pd.array([r[2] for r in rows], dtype="str"),
        "recorded_at": pd.Series([r[3] for r in rows], dtype="datetime64[ns, UTC]"),
        "event_id": pd.array([f"e{i}" for i in range(len(rows))], dtype="str"),
    })
    per = synth.logit_terms(cases, events, "persistence").iloc[0]
    harm = synth.logit_terms(cases, events, "harm").iloc[0]
    # known: threat, 2 contacts and `other` in the last 30 days (3 distinct days: 1, 5, 10 June),
    # one contact on day 51: n30 = 4, n90 = 5, h30 = 1, h90 = 1; last event 30 minutes before the end
    rate = math.log((4 * 7 / 30 + 0.5) / (1 * 7 / 60 + 0.5))
    last_days = 30 / 60 / 24
    # ex-partner: contact counts 2.5 times for persistence, threats 2 times for harm; the part
    # beyond 1 is booked to the relationship group; the order in force has no breach
    assert per["relationship"] == pytest.approx(0.22 * math.log(3) * (2.5 - 1))
    assert per["contact_frequency"] == pytest.approx(0.34 * math.log(4) + 0.22 * math.log(3) + 0.3)
    assert per["threats"] == pytest.approx(0.1 * math.log(2))
    assert per["escalation"] == pytest.approx(0.18 * rate + 1.0 * math.exp(-last_days / 7))
    assert per["suspect_history"] == 0.0 and per["violence"] == 0.0
    assert per["protective_order"] == pytest.approx(-0.45)
    assert per["victim_fear"] == pytest.approx(0.2)
    assert harm["relationship"] == pytest.approx(0.4 + 0.37 * math.log(2) * (2.0 - 1))
    assert harm["threats"] == pytest.approx(0.37 * math.log(2))
    assert harm["contact_frequency"] == pytest.approx(0.07 * math.log(3))
    assert harm["escalation"] == pytest.approx(0.13 * rate + 0.34 * (1 / 4 - 0) + 0.72 * math.exp(-last_days / 5))
    assert harm["suspect_history"] == pytest.approx(0.23 * math.log(2) + 0.45)
    assert harm["protective_order"] == pytest.approx(0.17)
    assert harm["victim_fear"] == pytest.approx(0.27)
    assert harm["violence"] == 0 and harm["order_breach"] == 0 and harm["online"] == 0


def test_later_knowledge_does_not_change_the_truth(small: synth.Caseload) -> None:
    """Events after the assessment day, or recorded after it, never shape p."""
    cases, ev = small.cases, small.events
    end = ev["case_id"].map(cases.set_index("case_id")["assessment_date"]) + pd.Timedelta(days=1)
    end_utc = pd.DatetimeIndex(end).tz_localize(LONDON).tz_convert("UTC")
    knowable = (ev["event_time"] < end_utc) & (ev["recorded_at"].isna() | (ev["recorded_at"] < end_utc))
    assert (~knowable).sum() > len(ev) / 4
    base = synth.truth_probabilities(cases, ev)
    pd.testing.assert_frame_equal(base, synth.truth_probabilities(cases, ev[knowable.to_numpy()]))
    shifted = ev.copy()
    shifted.loc[~knowable, ["behaviour", "channel"]] = ["violence", "third_party"]
    pd.testing.assert_frame_equal(base, synth.truth_probabilities(cases, shifted))


# ------------------------------------------------------------------- difficulty and realism
def test_base_rates_and_ceilings_in_the_published_range(large: synth.Caseload) -> None:
    """ROC-AUC of the true probability against its own label: 0.70-0.82 for each domain and for
    risk (published stalking tools: about 0.66-0.76)."""
    t = large.truth
    for label, p in LABELS.items():
        assert 0.70 <= roc_auc_score(t[label], t[p]) <= 0.82, label
        assert t[p].mean() == pytest.approx(t[label].mean(), abs=0.012), label
    assert 0.32 <= t["label"].mean() <= 0.45
    assert 0.24 <= t["label_persistence"].mean() <= 0.35
    assert 0.12 <= t["label_harm"].mean() <= 0.20


def test_strangers_and_online_suspects_persist_as_often_as_ex_partners(large: synth.Caseload) -> None:
    t, rel = large.truth, large.cases["relationship"].to_numpy()
    persist = t.groupby(rel)["p_persistence"].mean()
    harm = t.groupby(rel)["p_harm"].mean()
    for other in ("stranger", "online_only", "acquaintance"):
        assert persist[other] == pytest.approx(persist["ex_partner"], abs=0.025), other
        assert harm["ex_partner"] > 2 * harm[other], other  # harm, not persistence, follows intimacy


def test_serial_suspects_have_two_to_four_victims_over_realistic_spans(large: synth.Caseload) -> None:
    cases = large.cases
    by = cases.sort_values(["suspect_id", "assessment_date"]).groupby("suspect_id")
    size = by.size()
    series = size[size > 1]
    assert set(series.unique()) <= {2, 3, 4} and {2, 3, 4} <= set(series.unique())
    assert 0.035 <= series.sum() / len(cases) <= 0.12
    members = cases[cases["suspect_id"].isin(series.index)].sort_values(["suspect_id", "assessment_date"])
    assert members["victim_id"].is_unique  # different victims
    gap = members.groupby("suspect_id")["assessment_date"].diff().dropna().dt.days
    assert gap.min() >= 1 and gap.max() <= 3 * 400 and gap.median() > 30
    g = members.groupby("suspect_id")
    assert (g["suspect_sex"].nunique() == 1).all() and (g["suspect_ethnicity"].nunique() == 1).all()
    assert (g["force_code"].nunique() > 1).mean() > 0.3  # across forces
    # a later case counts the earlier victims among the suspect's prior stalking offences
    rank = g.cumcount()
    priors = members["suspect_prior_stalking"]
    assert (priors[priors.notna()] >= rank[priors.notna()]).all()


def test_mechanism_group_weights_match_constants(large: synth.Caseload) -> None:
    assert set(synth.MECHANISM_WEIGHTS) == set(synth.OUTCOMES)
    assert synth.MECHANISM_GROUP_WEIGHTS == synth.MECHANISM_WEIGHTS["risk"]
    for outcome, weights in synth.MECHANISM_WEIGHTS.items():
        measured = synth.mechanism_group_weights(large, outcome)
        assert set(measured) == set(weights) == set(synth.GROUPS)
        for group, weight in weights.items():
            assert measured[group] == pytest.approx(weight, abs=0.03), (outcome, group)
    risk = synth.MECHANISM_GROUP_WEIGHTS
    assert min(risk.values()) > 0.02
    assert sorted(risk, key=risk.get)[-2:] == ["escalation", "contact_frequency"]
    harm = synth.MECHANISM_WEIGHTS["harm"]
    assert max(harm, key=harm.get) == "relationship"
    with pytest.raises(ValueError):
        synth.logit_terms(large.cases.iloc[:3], large.events.iloc[:0], "violence")

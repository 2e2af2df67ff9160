"""The synthetic caseload: contract shape, calibration, and a truth that agrees with the events."""

from __future__ import annotations

import math
import re
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
from stalkrisk.synth import write_caseload

LONDON = ZoneInfo(contract.LOCAL_TZ)


@pytest.fixture(scope="module")
def small() -> synth.Caseload:
    return synth.generate(2_000, seed=7)


@pytest.fixture(scope="module")
def large() -> synth.Caseload:
    return synth.generate(20_000, seed=11)


# ------------------------------------------------------------ oracles (slow, plain Python)
def day_end_utc(d: date) -> datetime:
    """The end of UK-local day ``d`` as an aware UTC datetime."""
    return datetime.combine(d + timedelta(days=1), time(0), tzinfo=LONDON).astimezone(timezone.utc)


def slow_label(assessment: date, events: list[tuple[datetime, str]], horizon: int) -> int:
    """The contract's wording: an outcome event after the assessment date, within horizon days."""
    for when, behaviour in events:
        local_day = when.astimezone(LONDON).date()
        in_window = assessment < local_day <= assessment + timedelta(days=horizon)
        if behaviour in contract.OUTCOME_BEHAVIOURS and in_window:
            return 1
    return 0


def slow_p(row: dict, events: list[dict]) -> float:
    """The mechanism written out per case, from the documented definitions."""
    end = day_end_utc(row["assessment_date"])
    known = []
    for e in events:
        rec = e["recorded_at"]
        if e["event_time"] < end and (rec is None or rec < end):
            known.append(((end - e["event_time"]).total_seconds(), e["behaviour"]))

    def n(days: int, behaviours: tuple[str, ...] | None = None) -> int:
        return sum(1 for s, b in known if s <= days * 86_400 and (behaviours is None or b in behaviours))

    c = synth.COEF
    harm = contract.OUTCOME_BEHAVIOURS
    n30, n90, h30, h90 = n(30), n(90), n(30, harm), n(90, harm)
    rate = min(2.0, max(-2.0, math.log((n30 * 7 / 30 + 0.5) / ((n90 - n30) * 7 / 60 + 0.5))))
    shift = h30 / max(n30, 1) - (h90 - h30) / max(n90 - n30, 1)
    logit = (
        synth.INTERCEPT
        + synth.RELATIONSHIP_LOGIT[row["relationship"]]
        + c["contact_frequency"] * math.log1p(n(30, ("contacting",)))
        + c["threats"] * math.log1p(n(90, ("threat",))) * synth.THREAT_RELATIONSHIP_FACTOR[row["relationship"]]
        + c["violence"] * math.log1p(n(365, ("violence",)))
        + c["order_breach"] * math.log1p(n(365, ("order_breach",)))
        + c["escalation_rate"] * rate + c["escalation_shift"] * shift
        + c["recency"] * (math.exp(-min(s for s, _ in known) / 86_400 / synth.RECENCY_DAYS) if known else 0.0)
        + c["prior_violence"] * math.log1p(row["suspect_prior_violence"] or 0)
        + c["prior_stalking"] * math.log1p(row["suspect_prior_stalking"] or 0)
        + c["prior_domestic_abuse"] * bool(row["suspect_prior_domestic_abuse"])
        + c["substance_misuse"] * bool(row["suspect_substance_misuse"])
        + c["protective_order"] * bool(row["protective_order_in_force"])
        + synth.FEAR_LOGIT[row["victim_fear"]]
        + c["following_watching"] * math.log1p(n(90, ("following", "watching", "loitering")))
        + c["online"] * math.log1p(n(90, ("monitoring_online", "publishing")))
        + c["property"] * math.log1p(n(90, ("property_interference",)))
    )
    return 1.0 / (1.0 + math.exp(-logit))


def py_events(events: pd.DataFrame) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    columns = (events[c] for c in ("case_id", "event_time", "behaviour", "recorded_at"))
    for case_id, t, b, r in zip(*columns):
        out.setdefault(case_id, []).append({
            "event_time": t.to_pydatetime(),
            "behaviour": b,
            "recorded_at": None if pd.isna(r) else r.to_pydatetime(),
        })
    return out


def py_case(row: pd.Series) -> dict:
    d = {k: (None if pd.isna(v) else v) for k, v in row.items()}
    d["assessment_date"] = row["assessment_date"].date()
    return d


# -------------------------------------------------------------------- determinism
def test_same_seed_gives_same_frames(small: synth.Caseload) -> None:
    again = synth.generate(2_000, seed=7)
    for name in ("cases", "events", "truth"):
        pd.testing.assert_frame_equal(getattr(small, name), getattr(again, name))


def test_different_seed_gives_different_frames(small: synth.Caseload) -> None:
    other = synth.generate(2_000, seed=8)
    assert not small.cases.drop(columns="case_id").equals(other.cases.drop(columns="case_id"))
    assert not np.allclose(small.truth["p"], other.truth["p"])


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_gives_same_bytes(tmp_path, fmt: str) -> None:
    a = write_caseload(synth.generate(300, seed=5), tmp_path / "a", fmt)
    b = write_caseload(synth.generate(300, seed=5), tmp_path / "b", fmt)
    c = write_caseload(synth.generate(300, seed=6), tmp_path / "c", fmt)
    assert set(a) == {"cases", "events", "orders", "truth"}
    assert a["cases"].name == f"cases.{fmt}" and a["truth"].name == "truth.csv"
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes()
        assert a[name].read_bytes() != c[name].read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == sorted(p.name for p in a.values())


# ------------------------------------------------------------------------ contract
@pytest.mark.parametrize("table", ["cases", "events", "orders"])
def test_columns_and_dtypes_match_contract(small: synth.Caseload, table: str) -> None:
    frame = getattr(small, table)
    spec = contract.TABLES[table]
    assert tuple(frame.columns) == spec.names
    for col in spec.columns:
        assert frame[col.name].dtype == contract.PANDAS_DTYPES[col.kind], col.name


def test_values_within_contract(small: synth.Caseload) -> None:
    cases, events = small.cases, small.events
    for table, frame in (("cases", cases), ("events", events), ("orders", small.orders)):
        for col in contract.TABLES[table].columns:
            values = frame[col.name].dropna()
            if col.required:
                assert frame[col.name].notna().all(), col.name
            if col.categories:
                assert set(values) <= set(col.categories), col.name
            if col.min_value is not None:
                assert values.min() >= col.min_value, col.name
            if col.max_value is not None:
                assert values.max() <= col.max_value, col.name
            if col.pattern:
                assert values.str.fullmatch(col.pattern[1:-1]).all(), col.name
            if col.unique:
                assert values.is_unique, col.name
    assert cases["case_id"].iloc[0] == "C0000001" and cases["case_id"].iloc[-1] == "C0002000"
    assert cases["force_code"].str.fullmatch(r"F(0[1-9]|[1-3]\d|4[0-3])").all()
    assert cases["label"].isna().all()
    assert events["event_id"].notna().all() and set(events["case_id"]) == set(cases["case_id"])
    assert cases["assessment_date"].between("2021-01-01", "2025-12-31").all()
    assert (cases["assessment_date"] == cases["assessment_date"].dt.normalize()).all()
    ordered = events[["case_id", "event_time"]]
    assert ordered.equals(ordered.sort_values(["case_id", "event_time"], kind="stable"))


def test_channels_follow_behaviour(small: synth.Caseload) -> None:
    ev = small.events.dropna(subset=["channel"])
    by = ev.groupby("behaviour")["channel"]
    assert set(by.get_group("violence")) <= {"in_person", "unknown"}
    assert set(by.get_group("monitoring_online")) <= {"email", "social_media", "other", "unknown"}
    assert set(by.get_group("following")) <= {"in_person", "unknown"}
    contact = by.get_group("contacting").value_counts(normalize=True)
    expected = {"phone", "text_message", "social_media", "email", "in_person", "third_party"}
    assert expected <= set(contact.index)


def test_recorded_at(small: synth.Caseload) -> None:
    ev, cases = small.events, small.cases
    assert 0.90 <= ev["recorded_at"].notna().mean() <= 0.99
    lag = (ev["recorded_at"] - ev["event_time"]).dropna()
    assert (lag > pd.Timedelta(0)).all()
    assert lag.median() < pd.Timedelta(days=1) and lag.quantile(0.9) < pd.Timedelta(days=4)
    assessment = ev["case_id"].map(cases.set_index("case_id")["assessment_date"])
    local_day = ev["event_time"].dt.tz_convert(LONDON).dt.tz_localize(None).dt.normalize()
    rec_day = ev["recorded_at"].dt.tz_convert(LONDON).dt.tz_localize(None).dt.normalize()
    before = local_day <= assessment
    late = before & (rec_day > assessment)
    assert 0.005 < late.sum() / before.sum() < 0.05
    assert 0.5 < before.mean() < 0.75  # history and follow-up both present


# --------------------------------------------------------------------- calibration
def test_relationship_sex_and_ethnicity_shares(large: synth.Caseload) -> None:
    cases = large.cases
    rel = cases["relationship"].value_counts(normalize=True)
    assert rel["ex_partner"] == pytest.approx(0.45, abs=0.03)
    others = ["current_partner", "family", "acquaintance", "colleague", "neighbour", "online_only"]
    acquainted = rel[others].sum()
    assert acquainted == pytest.approx(1 / 3, abs=0.03)
    assert cases["victim_sex"].eq("female").mean() == pytest.approx(0.70, abs=0.03)
    assert cases["suspect_sex"].eq("male").mean() > 0.7
    eth = cases["victim_ethnicity"].value_counts(normalize=True)
    assert eth["white"] == pytest.approx(0.80, abs=0.02)
    assert eth["asian"] == pytest.approx(0.09, abs=0.015)
    assert eth["black"] == pytest.approx(0.04, abs=0.01)


def test_young_victims_over_represented(large: synth.Caseload) -> None:
    age = large.cases["victim_age"].dropna()
    per_year_16_19 = age.between(16, 19).mean() / 4
    per_year_45_54 = age.between(45, 54).mean() / 10
    assert 2.5 < per_year_16_19 / per_year_45_54 < 4.5  # published prevalence ratio 8.8 / 2.6 = 3.4


def test_missingness(large: synth.Caseload) -> None:
    cases = large.cases
    assert cases["victim_age"].isna().mean() == pytest.approx(0.10, abs=0.015)
    assert cases["suspect_age"].isna().mean() == pytest.approx(0.10, abs=0.015)
    assert cases["suspect_prior_violence"].isna().mean() == pytest.approx(0.05, abs=0.01)
    assert cases["victim_fear"].eq("unknown").mean() == pytest.approx(0.10, abs=0.015)
    for col in ("suspect_prior_domestic_abuse", "suspect_substance_misuse", "protective_order_in_force"):
        assert 0.01 < cases[col].isna().mean() < 0.06


def test_event_counts_heavy_tailed(large: synth.Caseload) -> None:
    per_case = large.events.groupby("case_id").size()
    assert per_case.median() <= 15
    assert per_case.max() >= 10 * per_case.median()
    assert 15 <= per_case.mean() <= 25


def test_base_rate_and_ceiling_auc(large: synth.Caseload) -> None:
    truth = large.truth
    assert 0.15 <= truth["label"].mean() <= 0.25
    assert 0.80 <= roc_auc_score(truth["label"], truth["p"]) <= 0.93
    assert truth["p"].mean() == pytest.approx(truth["label"].mean(), abs=0.01)


# ---------------------------------------------------------------- truth and events
def test_label_agrees_with_events_plain_python(small: synth.Caseload) -> None:
    events = py_events(small.events)
    sample = small.cases.sample(400, random_state=0)
    labels = small.truth.set_index("case_id")["label"]
    for _, row in sample.iterrows():
        history = [(e["event_time"], e["behaviour"]) for e in events[row["case_id"]]]
        expected = slow_label(row["assessment_date"].date(), history, 90)
        assert expected == labels[row["case_id"]], row["case_id"]
    assert labels[sample["case_id"]].nunique() == 2


def assert_label_agrees(cl: synth.Caseload, horizon: int) -> None:
    """Vectorised: label 1 exactly when an outcome event has a local date in (a, a + horizon]."""
    ev = cl.events
    assessment = ev["case_id"].map(cl.cases.set_index("case_id")["assessment_date"])
    local_day = ev["event_time"].dt.tz_convert(LONDON).dt.tz_localize(None).dt.normalize()
    in_window = (local_day > assessment) & (local_day <= assessment + pd.Timedelta(days=horizon))
    positive = set(ev.loc[in_window & ev["behaviour"].isin(contract.OUTCOME_BEHAVIOURS), "case_id"])
    expected = cl.truth["case_id"].isin(positive).astype(int)
    assert expected.tolist() == cl.truth["label"].tolist()


@settings(max_examples=15, deadline=None)
@given(n=st.integers(0, 40), seed=st.integers(0, 2**32 - 1), horizon=st.integers(1, 200))
def test_label_agrees_with_events_for_any_horizon(n: int, seed: int, horizon: int) -> None:
    cl = synth.generate(n, seed, horizon_days=horizon, start="2023-03-20", end="2023-11-05")
    if n == 0:
        assert cl.events.empty and cl.truth.empty
        assert cl.events["event_time"].dtype == "datetime64[ns, UTC]"
        return
    assert_label_agrees(cl, horizon)
    assert ((cl.truth["p"] > 0) & (cl.truth["p"] < 1)).all()


def test_label_agrees_with_events_at_the_window_edges(large: synth.Caseload) -> None:
    assert_label_agrees(large, 90)
    # a one-day horizon puts every outcome event next to both edges of the window
    assert_label_agrees(synth.generate(3_000, seed=4, horizon_days=1), 1)


def test_p_recomputed_from_observables_plain_python(small: synth.Caseload) -> None:
    events = py_events(small.events)
    sample = small.cases.sample(200, random_state=1)
    p = small.truth.set_index("case_id")["p"]
    for _, row in sample.iterrows():
        assert slow_p(py_case(row), events[row["case_id"]]) == pytest.approx(p[row["case_id"]], rel=1e-9)


def test_logit_terms_reproduce_p(small: synth.Caseload) -> None:
    terms = synth.logit_terms(small.cases, small.events)
    assert list(terms.columns) == ["case_id", *synth.GROUPS]
    logit = synth.INTERCEPT + terms[list(synth.GROUPS)].sum(axis=1)
    np.testing.assert_allclose(1 / (1 + np.exp(-logit)), small.truth["p"], rtol=1e-12)


def test_logit_terms_golden_case() -> None:
    """One case worked out by hand (2024-06-10 is BST: the day ends at 23:00 UTC)."""
    cases = contract.empty_frame(contract.CASES).reindex(range(1))
    cases = cases.astype({c.name: contract.PANDAS_DTYPES[c.kind] for c in contract.CASES.columns})
    cases.loc[0, ["case_id", "relationship", "victim_sex", "suspect_sex", "victim_fear"]] = [
        "K1", "ex_partner", "female", "male", "very_afraid"]
    cases["assessment_date"] = pd.to_datetime(["2024-06-10"]).astype("datetime64[ns]")
    cases["suspect_prior_violence"] = pd.array([1], dtype="Int64")
    cases["protective_order_in_force"] = pd.array([True], dtype="boolean")
    utc = lambda s: pd.Timestamp(s, tz="UTC")  # noqa: E731
    rows = [  # (event_time, behaviour, recorded_at)
        (utc("2024-06-10T22:30"), "threat", None),                   # known, in 30 days
        (utc("2024-06-01T12:00"), "contacting", utc("2024-06-01T15:00")),
        (utc("2024-06-05T12:00"), "contacting", utc("2024-06-05T15:00")),
        (utc("2024-04-20T12:00"), "contacting", None),               # day 51: in 90, not 30
        (utc("2024-06-09T12:00"), "threat", utc("2024-06-20T09:00")),  # recorded late: unknown
        (utc("2024-06-10T23:00"), "violence", None),                 # 00:00 BST on the 11th: after
    ]
    events = pd.DataFrame({
        "case_id": pd.array(["K1"] * len(rows), dtype="str"),
        "event_time": pd.Series([r[0] for r in rows]).astype("datetime64[ns, UTC]"),
        "behaviour": pd.array([r[1] for r in rows], dtype="str"),
        "channel": pd.array([None] * len(rows), dtype="str"),
        "recorded_at": pd.Series([r[2] for r in rows], dtype="datetime64[ns, UTC]"),
        "event_id": pd.array([f"e{i}" for i in range(len(rows))], dtype="str"),
    })
    got = synth.logit_terms(cases, events).iloc[0]
    c = synth.COEF
    # known: threat (30d), contacting x2 (30d), contacting (90d only): n30 = 3, n90 = 4
    rate = math.log((3 * 7 / 30 + 0.5) / (1 * 7 / 60 + 0.5))
    shift = 1 / 3 - 0 / 1
    extra = c["threats"] * math.log(2) * (synth.THREAT_RELATIONSHIP_FACTOR["ex_partner"] - 1)
    assert got["relationship"] == pytest.approx(synth.RELATIONSHIP_LOGIT["ex_partner"] + extra)
    assert got["contact_frequency"] == pytest.approx(c["contact_frequency"] * math.log(3))
    assert got["threats"] == pytest.approx(c["threats"] * math.log(2))
    assert got["violence"] == 0 and got["order_breach"] == 0 and got["online"] == 0
    recency = math.exp(-(30 * 60) / 86_400 / synth.RECENCY_DAYS)  # last known event 30 minutes before the cutoff
    assert got["escalation"] == pytest.approx(
        c["escalation_rate"] * rate + c["escalation_shift"] * shift + c["recency"] * recency)
    assert got["suspect_history"] == pytest.approx(c["prior_violence"] * math.log(2))
    assert got["protective_order"] == pytest.approx(c["protective_order"])
    assert got["victim_fear"] == pytest.approx(synth.FEAR_LOGIT["very_afraid"])


def test_later_knowledge_does_not_change_terms(small: synth.Caseload) -> None:
    """Events after the assessment day, or recorded after it, never shape p."""
    cases, ev = small.cases, small.events
    end = ev["case_id"].map(cases.set_index("case_id")["assessment_date"]) + pd.Timedelta(days=1)
    end_utc = pd.DatetimeIndex(end).tz_localize(LONDON).tz_convert("UTC")
    knowable = (ev["event_time"] < end_utc) & (ev["recorded_at"].isna() | (ev["recorded_at"] < end_utc))
    assert (~knowable).sum() > len(ev) / 4
    base = synth.logit_terms(cases, ev)
    pd.testing.assert_frame_equal(base, synth.logit_terms(cases, ev[knowable.to_numpy()]))
    shifted = ev.copy()
    shifted.loc[~knowable, "behaviour"] = "violence"
    pd.testing.assert_frame_equal(base, synth.logit_terms(cases, shifted))


# ------------------------------------------------------------------------- fairness
def test_protected_attributes_have_no_direct_effect(small: synth.Caseload) -> None:
    shuffled = small.cases.copy()
    rng = np.random.default_rng(0)
    for col in contract.PROTECTED_ATTRIBUTES:
        shuffled[col] = shuffled[col].to_numpy()[rng.permutation(len(shuffled))]
    pd.testing.assert_frame_equal(synth.logit_terms(small.cases, small.events),
                                  synth.logit_terms(shuffled, small.events))


def test_p_independent_of_protected_attributes(large: synth.Caseload) -> None:
    p, cases = large.truth["p"], large.cases
    victim, suspect = cases["victim_sex"], cases["suspect_sex"]
    assert p[victim == "female"].mean() == pytest.approx(p[victim == "male"].mean(), abs=0.012)
    assert p[suspect == "male"].mean() == pytest.approx(p[suspect == "female"].mean(), abs=0.015)
    white = cases["victim_ethnicity"] == "white"
    assert p[white].mean() == pytest.approx(p[~white].mean(), abs=0.015)
    young = cases["victim_age"] < 30
    assert p[young].mean() == pytest.approx(p[cases["victim_age"] >= 30].mean(), abs=0.012)
    # ...while a real risk driver does move it
    ex = cases["relationship"] == "ex_partner"
    assert p[ex].mean() - p[cases["relationship"] == "stranger"].mean() > 0.05


# ---------------------------------------------------------------------- mechanism
def test_mechanism_group_weights_match_constant(large: synth.Caseload) -> None:
    measured = synth.mechanism_group_weights(large)
    assert set(measured) == set(synth.MECHANISM_GROUP_WEIGHTS) == set(synth.GROUPS)
    for group, weight in synth.MECHANISM_GROUP_WEIGHTS.items():
        assert measured[group] == pytest.approx(weight, abs=0.03), group
        assert weight > 0.05, group
    order = sorted(synth.GROUPS, key=synth.MECHANISM_GROUP_WEIGHTS.get)
    assert order[-2:] == ["escalation", "relationship"] and order[0] == "property"


# -------------------------------------------------------------------------- files
def test_csv_format(tmp_path) -> None:
    cl = synth.generate(200, seed=2)
    paths = write_caseload(cl, tmp_path)
    cases_lines = paths["cases"].read_text().splitlines()
    events_lines = paths["events"].read_text().splitlines()
    assert cases_lines[0] == ",".join(contract.CASES.names)
    assert events_lines[0] == ",".join(contract.EVENTS.names)
    assert len(cases_lines) == 201 and len(events_lines) == len(cl.events) + 1
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00"
    for line in events_lines[1:]:
        case_id, when, behaviour, channel, recorded, event_id, target = line.split(",")
        assert re.fullmatch(stamp, when) and (recorded == "" or re.fullmatch(stamp, recorded))
        assert behaviour in contract.BEHAVIOURS and channel in contract.CHANNELS + ("",)
        assert target in contract.TARGETS
    cols = {name: i for i, name in enumerate(contract.CASES.names)}
    for line in cases_lines[1:]:
        cells = line.split(",")
        assert re.fullmatch(r"\d{4}-\d\d-\d\d", cells[cols["assessment_date"]])
        assert cells[cols["protective_order_in_force"]] in ("true", "false", "")
        assert cells[cols["label"]] == ""
        assert re.fullmatch(r"\d*", cells[cols["victim_age"]])  # no trailing .0, empty when missing
    first = cl.events.iloc[0]
    assert events_lines[1].split(",")[1] == first["event_time"].strftime("%Y-%m-%dT%H:%M:%S+00:00")
    truth = pd.read_csv(paths["truth"])
    assert list(truth.columns) == ["case_id", "p", "label"]
    np.testing.assert_allclose(truth["p"], cl.truth["p"], rtol=1e-15)
    assert truth["label"].tolist() == cl.truth["label"].tolist()


def test_csv_quotes_values_that_need_it(tmp_path) -> None:
    cl = synth.generate(30, seed=2)
    cases = cl.cases.copy()
    cases.loc[0, "force_code"] = 'Force, "North"'
    paths = write_caseload(synth.Caseload(cases, cl.events, cl.truth), tmp_path)
    back = pd.read_csv(paths["cases"], dtype=str, keep_default_na=False)
    assert back.loc[0, "force_code"] == 'Force, "North"'
    assert back["case_id"].tolist() == cases["case_id"].tolist()


def test_parquet_round_trip(tmp_path) -> None:
    cl = synth.generate(200, seed=2)
    paths = write_caseload(cl, tmp_path, fmt="parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(paths["cases"]), cl.cases)
    pd.testing.assert_frame_equal(pd.read_parquet(paths["events"]), cl.events)


def test_rewrite_replaces_files_and_leaves_no_temporaries(tmp_path) -> None:
    write_caseload(synth.generate(50, seed=1), tmp_path)
    paths = write_caseload(synth.generate(20, seed=1), tmp_path)
    assert len(paths["cases"].read_text().splitlines()) == 21
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv", "events.csv", "orders.csv", "truth.csv"]


def test_bad_arguments(tmp_path) -> None:
    with pytest.raises(ValueError):
        synth.generate(10, start="2024-01-02", end="2024-01-01")
    with pytest.raises(ValueError):
        synth.generate(10, horizon_days=0)
    with pytest.raises(ValueError):
        write_caseload(synth.generate(5), tmp_path, fmt="xlsx")  # type: ignore[arg-type]


def test_contract_v2_is_exercised_and_the_orders_agree_with_the_cases(small: synth.Caseload) -> None:
    """Targets, the new case columns and the orders are there; the orders in force as of each
    assessment day agree with protective_order_in_force wherever it is recorded."""
    from stalkrisk.features.orders_asof import orders_as_of

    assert set(small.events["target"]) == set(contract.TARGETS)
    assert small.cases["suspect_id"].duplicated().any()  # serial suspects
    ex = small.cases["relationship"] == "ex_partner"
    assert small.cases.loc[ex, "separation_date"].notna().all()
    assert small.cases.loc[~ex, "separation_date"].isna().all()
    assert (small.cases["separation_date"][ex] < small.cases["assessment_date"][ex]).all()
    state = orders_as_of(small.cases, small.orders)
    given = small.cases["protective_order_in_force"]
    assert (given[given.notna()] == state["order_in_force"][given.notna()]).all()
    assert state["spo_in_force"].sum() > 0 and set(small.orders["order_type"]) == set(contract.ORDER_TYPES)

"""The synthetic caseload: contract shape, calibration, and a truth that agrees with the events."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from stalkrisk.data import contract
from stalkrisk.synth import caseload as synth
from stalkrisk.synth import write_caseload

LONDON = ZoneInfo(contract.LOCAL_TZ)


# -------------------------------------------------------------------- determinism
def test_same_seed_gives_same_frames(small: synth.Caseload) -> None:
    again = synth.generate(2_000, seed=7)
    for name in ("cases", "events", "truth", "orders"):
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
    assert list(truth.columns) == ["case_id", "p", "label", "p_persistence", "label_persistence",
                                   "p_harm", "label_harm"]
    for col in ("p", "p_persistence", "p_harm"):
        np.testing.assert_allclose(truth[col], cl.truth[col], rtol=1e-15)
    for col in ("label", "label_persistence", "label_harm"):
        assert truth[col].tolist() == cl.truth[col].tolist()


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

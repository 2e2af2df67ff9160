"""`audit fairness`: group metrics on labelled and unlabelled caseloads, and the proxy check."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest

from stalkrisk.audit.fairness import fairness_audit, format_fairness, proxy_checks
from stalkrisk.evaluate.fairness import check_tolerances
from stalkrisk.cli import main
from stalkrisk.synth import Caseload, write_caseload


def variant(caseload: Caseload, out: Path, n: int = 1500,
            cases: Callable[[pd.DataFrame], pd.DataFrame] = lambda c: c,
            events: Callable[[pd.DataFrame], pd.DataFrame] = lambda e: e) -> dict[str, Path]:
    """The first ``n`` cases and their events, changed by ``cases``/``events``, written to ``out``."""
    c = caseload.cases.iloc[:n].reset_index(drop=True)
    e = caseload.events.loc[caseload.events["case_id"].isin(c["case_id"])].reset_index(drop=True)
    t = caseload.truth.loc[caseload.truth["case_id"].isin(c["case_id"])].reset_index(drop=True)
    changed = dataclasses.replace(caseload, cases=cases(c.copy()), events=events(e.copy()), truth=t)
    return write_caseload(changed, out, fmt="parquet")


def all_censored(c: pd.DataFrame, last_event: pd.Timestamp) -> pd.DataFrame:
    """Every assessment on the day of the latest event: no horizon is over, no outcome known."""
    c["assessment_date"] = pd.Timestamp(last_event.tz_convert("Europe/London").date())
    return c


@pytest.fixture(scope="module")
def model_uri(trained) -> str:
    return f"models:/stalkrisk/{trained.version}"


def test_labelled_caseload_has_error_rates_with_intervals(model_uri, caseload, tmp_path) -> None:
    files = variant(caseload, tmp_path, n=2000)
    audit = fairness_audit(model_uri, files["cases"], files["events"], n_boot=30, proxy_max_rows=1500)
    assert audit.labelled and audit.n_labelled + audit.n_censored == audit.n_cases == 2000
    table = audit.report.by_group
    assert {"false_negative_rate", "false_negative_rate_ci_low", "flag_rate_ci_high"} <= set(table.columns)
    big = table.loc[~table["small"]]
    assert (big["flag_rate_ci_low"] <= big["flag_rate"]).all() and (big["flag_rate"] <= big["flag_rate_ci_high"]).all()
    assert [p["attribute"] for p in audit.proxies] == ["victim_sex", "victim_age_band", "victim_ethnicity",
                                                        "suspect_sex", "suspect_age_band", "suspect_ethnicity"]
    text = format_fairness(audit)
    assert "labelled:" in text and "proxy check" in text
    for warning in audit.warnings:  # each gap beyond tolerance is printed
        assert f"WARNING: {warning}" in text
    for note in audit.uncertain:
        assert note in text
    # clear and uncertain breaches together are exactly the gaps beyond the tolerances, each with
    # the intervals that decided it
    everything = check_tolerances(audit.report, audit.tolerances)
    assert all(" [95% intervals: " in w for w in audit.warnings + audit.uncertain)
    assert sorted(w.split(" [95% intervals: ")[0] for w in audit.warnings + audit.uncertain) == sorted(everything)
    # the intersections and the force are measured too, and reported apart from the gate
    assert set(audit.extra) == {"intersections", "per force"}
    for note in audit.noted:
        assert note in text


def test_unlabelled_caseload_shows_flag_rates_and_score_distributions(model_uri, caseload, tmp_path, capsys) -> None:
    last = caseload.events["event_time"].max()
    files = variant(caseload, tmp_path, n=1200, cases=lambda c: all_censored(c, last))
    out = tmp_path / "fair.html"
    code = main(["audit", "fairness", "--model", model_uri, "--cases", str(files["cases"]),
                 "--events", str(files["events"]), "--n-boot", "20", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "unlabelled: no outcome can be read yet (1,200 censored)" in printed
    html = out.read_text(encoding="utf-8")
    assert "Score p90" in html and "False negative rate" not in html and "<svg" in html


def test_a_hidden_proxy_is_named() -> None:
    rng = np.random.default_rng(0)
    n = 1200
    sex = pd.Series(rng.choice(["female", "male"], size=n), name="victim_sex")
    features = pd.DataFrame({"noise": rng.normal(size=n),
                             "proxy": (sex == "female").astype(float) + rng.normal(0, 0.3, size=n)})
    groups = pd.DataFrame({"victim_sex": sex, "victim_ethnicity": rng.choice(["white", "asian"], size=n)})
    results, warnings = proxy_checks(features, groups, max_rows=n)
    by = {r["attribute"]: r["auc"] for r in results}
    assert by["victim_sex"] > 0.9 and 0.35 < by["victim_ethnicity"] < 0.65
    assert len(warnings) == 1 and warnings[0].startswith("victim_sex:")

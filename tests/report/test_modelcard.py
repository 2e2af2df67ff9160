"""The model card states the flag policy in words and reads as a document."""

from __future__ import annotations

import re

import pytest

from stalkrisk.report.modelcard import policy_text


@pytest.mark.parametrize("policy,expected", [
    ({"policy": "capacity", "capacity": 0.1, "recall": 0.8, "probability": 0.3},
     "capacity: the threshold flags the highest-scoring 10% of the validation slice, the share reviewers can take"),
    ({"policy": "recall", "capacity": 0.1, "recall": 0.75},
     "recall: the threshold finds 75% of the validation slice's positive cases"),
    ({"policy": "probability", "probability": 0.3}, "probability: a fixed threshold of 0.30"),
    ({}, "capacity: the threshold flags the highest-scoring 10% of the validation slice, the share reviewers can take"),
])
def test_policy_is_told_by_the_setting_that_applies(policy, expected):
    assert policy_text(policy) == expected


def test_the_session_card_names_its_policy_and_counts_with_separators(trained):
    card = trained.model_card.with_suffix(".md").read_text(encoding="utf-8")
    assert "Flags follow the configured policy, capacity: the threshold flags the highest-scoring 10%" in card
    assert "recall: 0.8" not in card and "probability: 0.3" not in card
    assert "| Field | Entry |" in card and "| | |" not in card
    rows = re.findall(r"^\| (train|valid|test) \| [^|]+ \| ([\d,]+) \| ([\d,]+) \|$", card, flags=re.M)
    assert [r[0] for r in rows] == ["train", "valid", "test"]
    for _, cases, positives in rows:
        for shown in (cases, positives):
            assert shown == f"{int(shown.replace(',', '')):,}"
    assert int(rows[0][1].replace(",", "")) >= 1000  # so the separator is really exercised


def test_the_session_card_lists_fairness_gaps_as_lists_and_never_prints_nan(trained):
    card = trained.model_card.with_suffix(".md").read_text(encoding="utf-8")
    html = trained.model_card.read_text(encoding="utf-8")
    assert "nan" not in re.findall(r"\| ([^|]*?) \|", card)
    assert "| n/a |" in card  # the S-DASH count has no Brier score: it is not a probability
    gaps = trained.fairness_warnings + trained.fairness_uncertain
    assert gaps, "the session caseload is expected to show at least one fairness gap to list"
    for gap in gaps:
        assert f"<li>{gap.split(':')[0]}" in html.replace("&#x27;", "'")


def test_fairness_group_counts_carry_thousands_separators():
    from types import SimpleNamespace

    import pandas as pd

    from stalkrisk.report.modelcard import fairness_markdown

    by_group = pd.DataFrame({"attribute": ["victim_sex"] * 2, "group": ["female", "other"], "small": [False, True],
                             "count": [2811, 14], "flag_rate": [0.089, float("nan")]})
    text = fairness_markdown(SimpleNamespace(attributes=["victim_sex"], by_group=by_group))
    assert "| female | 2,811 | 0.089 |" in text
    assert "| other (too small to judge) | 14 | n/a |" in text


def test_capacity_turns_the_flag_rate_into_reviews_beside_the_public_spo_figure():
    from stalkrisk.report.modelcard import capacity_view

    view = capacity_view(0.08, {"cases_per_month": 250, "public_spos": {"orders": 1400, "years": 5, "forces": 40,
                                                                       "source": "a public  figure"}})
    # 8% of 250 = 20 reviews a month, 240 a year; 1,400 / (5 * 12 * 40) = 0.58 SPOs a force a month
    assert view["reviews_per_month"] == "20" and view["reviews_per_year"] == "240"
    assert view["spos_per_force_month"] == "0.6" and view["spo_source"] == "a public figure"
    assert capacity_view(float("nan"), {"cases_per_month": 250}) is None


def test_the_session_card_shows_the_spread_over_time_the_intervals_and_capacity(trained):
    card = trained.model_card.with_suffix(".md").read_text(encoding="utf-8")
    assert "### Over time: rolling-origin validation" in card
    spread = re.findall(r"^\| (ROC-AUC|PR-AUC|Recall at the flag|Expected calibration error) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$",
                        card, flags=re.M)
    assert [s[0] for s in spread] == ["ROC-AUC", "PR-AUC", "Recall at the flag", "Expected calibration error"]
    assert all(float(lo) <= float(mid) <= float(hi) for _, lo, mid, hi in spread)
    origins = re.findall(r"^\| (\d) \| (\d{4}-\d\d-\d\d) to (\d{4}-\d\d-\d\d) \|.*\| (yes|) \|$", card, flags=re.M)
    assert [o[0] for o in origins] == ["1", "2", "3"] and [o[3] for o in origins] == ["", "", "yes"]
    assert "with a gap of 90 days (the label horizon)" in card
    assert re.search(r"^\| S-DASH count \| [+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\] \(500 resamples\) \| ", card, flags=re.M)
    assert "### Capacity in people" in card and "cases a month" in card and "a public figure" in card

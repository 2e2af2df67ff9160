"""The registry is consistent, reads well for a reviewer, and its doc is up to date."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from stalkrisk.data.contract import PROTECTED_ATTRIBUTES, RELATIONSHIPS, STATUTORY_BEHAVIOURS
from stalkrisk.features.registry import (
    FAMILIES,
    FEATURES,
    FEATURES_BY_NAME,
    GROUPS,
    KINDS,
    PROTECTED_FEATURE_PREFIXES,
    feature_names,
    monotone_constraints,
    protected_features,
    registry_markdown,
    sdash_names,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "features.md"


def test_groups_are_the_agreed_reason_groups() -> None:
    assert list(GROUPS) == ["relationship", "contact_frequency", "threats", "violence",
                            "order_breach", "escalation", "suspect_history", "protective_order",
                            "victim_fear", "following_watching", "online", "property", "linked_cases"]
    assert all(label and label[0].isupper() for label in GROUPS.values())
    assert GROUPS["threats"] == "Threats"
    assert {f.group for f in FEATURES} == set(GROUPS)  # every group has a feature


def test_every_feature_is_well_formed() -> None:
    names = feature_names()
    assert len(names) == len(set(names)) == len(FEATURES_BY_NAME)
    for f in FEATURES:
        assert f.name.isidentifier() and f.name == f.name.lower(), f.name
        assert f.group in GROUPS, f.name
        assert f.family in FAMILIES, f.name
        assert f.kind in KINDS, f.name
        assert f.monotone in (-1, 0, 1), f.name
        assert f.window_days is None or f.window_days > 0, f.name
        assert f.description and not f.description[0].islower(), f.name
        assert f.sdash == f.name.startswith("sdash_"), f.name


@pytest.mark.parametrize("feature", FEATURES, ids=lambda f: f.name)
def test_every_template_formats(feature) -> None:
    for value in (0.0, 1.0, 2.0, 3.0, 0.25, -1.5, 12.7, math.nan):
        text = feature.reason(value)
        assert text and "{" not in text and "nan" not in text.lower(), (value, text)
    assert feature.template.format(value=3.0)
    for template in (feature.template_one, feature.template_zero, feature.template_negative):
        if template is not None:
            assert template.format(value=1.5)


def test_reasons_read_well() -> None:
    reason = {f.name: f.reason for f in FEATURES}
    assert reason["n_threat_30d"](3.0) == "3 threats recorded in the last 30 days"
    assert reason["n_threat_30d"](1.0) == "1 threat recorded in the last 30 days"
    assert reason["n_threat_30d"](0.0) == "No threats recorded in the last 30 days"
    assert reason["suspect_prior_violence"](2.0) == "Suspect has 2 earlier recorded violent offences"
    assert reason["rel_ex_partner"](1.0) == "Relationship: ex-partner"
    assert reason["distinct_days_90d"](12.0) == "Behaviour recorded on 12 separate days in the last 90 days"
    assert (reason["weekly_trend_12w"](1.5)
            == "Weekly recorded behaviour has been rising over the last 12 weeks (+1.5 a week)")
    assert (reason["weekly_trend_12w"](-0.5)
            == "Weekly recorded behaviour has been falling over the last 12 weeks (-0.5 a week)")
    # the wording defects of issue 18: no "-0.0 a week", no "1 days", a missing fact is "not recorded"
    assert reason["weekly_trend_12w"](-0.04) == "Weekly recorded behaviour has been steady over the last 12 weeks"
    assert reason["days_since_last_event"](1.2) == "Last recorded event 1 day before the end of the assessment day"
    assert reason["history_length_days"](1.0) == "Behaviour recorded over 1 day"
    assert reason["victim_fear"](2.0) == "Victim's fear: very afraid"
    assert reason["victim_fear"](math.nan) == "Victim's fear: not recorded"
    assert reason["days_since_first_threat"](math.nan) == "Threats: none recorded"
    assert reason["days_since_last_event"](3.0).startswith("Last recorded event")  # group: Recency and escalation
    assert reason["online_share_90d"](0.25) == "25% of events in the last 90 days were online"
    # days are whole days before the end of the assessment day: 0.9 days is the same day
    assert reason["days_since_first_threat"](0.9) == "First threat recorded on the day of the assessment"
    assert reason["days_since_first_threat"](12.4) == "First threat recorded 12 days before the assessment"


def test_feature_families_cover_the_brief() -> None:
    names = set(feature_names())
    assert {f"rel_{c}" for c in RELATIONSHIPS} <= names
    for behaviour in STATUTORY_BEHAVIOURS + ("threat", "violence", "order_breach", "events"):
        assert {f"n_{behaviour}_{d}d" for d in (7, 30, 90, 365)} <= names
    assert all(FEATURES_BY_NAME[n].monotone == 1 for n in names if n.startswith("n_"))
    assert FEATURES_BY_NAME["protective_order_in_force"].monotone == 0
    assert FEATURES_BY_NAME["course_of_conduct"].group == "contact_frequency"
    assert set(sdash_names()) == {
        "sdash_property_interference", "sdash_loitering", "sdash_visits_over_3_a_week",
        "sdash_threats", "sdash_violence", "sdash_prior_harassment", "sdash_substance_misuse",
        "sdash_third_party_contact", "sdash_fear"}
    assert monotone_constraints(["n_threat_7d", "rel_family", "days_since_last_event"]) == [1, 0, -1]
    assert len(monotone_constraints()) == len(FEATURES)


def test_no_default_feature_derives_from_a_protected_attribute() -> None:
    assert set(PROTECTED_FEATURE_PREFIXES) == set(PROTECTED_ATTRIBUTES)
    for f in FEATURES:
        assert not f.name.startswith(PROTECTED_FEATURE_PREFIXES), f.name
        assert not any(p in f.description for p in PROTECTED_ATTRIBUTES), f.name
    extra = protected_features(("suspect_age", "suspect_ethnicity"))
    assert [f.name for f in extra][:2] == ["suspect_age", "suspect_ethnicity_white"]
    assert all(f.name.startswith(PROTECTED_FEATURE_PREFIXES) for f in extra)
    assert not set(f.name for f in extra) & set(feature_names())


def test_docs_features_md_is_generated_from_the_registry() -> None:
    assert DOC.read_text(encoding="utf-8") == registry_markdown(), (
        "docs/features.md is stale: regenerate with "
        "python -c 'from stalkrisk.features.registry import registry_markdown as m; "
        "print(m(), end=\"\")' > docs/features.md")


def test_a_missing_case_fact_never_lowers_concern() -> None:
    from stalkrisk.explain.reasons import _reason_text

    assert _reason_text("victim_fear", "victim_fear", math.nan, False) == "Victim's fear: not recorded"
    assert _reason_text("suspect_history", "suspect_prior_violence", math.nan, False) == \
        "Suspect's history: not recorded"
    assert _reason_text("threats", "n_threat_30d", 0.0, False).endswith("(lowers concern)")

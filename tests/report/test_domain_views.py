"""The risk domains on a review page and in the model card: golden figures by hand."""

from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
from test_report import make_case

from stalkrisk.config import DEFAULT_TRAIN_CONFIG
from stalkrisk.model.meta import ModelMeta
from stalkrisk.report import DomainView, render_case
from stalkrisk.report.modelcard import flag_figures
from stalkrisk.training.domains import flag_by_group


def test_the_page_shows_each_domain_with_its_score_and_reasons() -> None:
    domains = (DomainView("persistence", "Persistence: acts associated with stalking on at least 2 distinct UK days",
                          0.64, ("Following: 15 in the last 30 days (raises concern)", "", "")),
               DomainView("harm", "Harm: threat or violence", 0.12, ()))
    html = render_case(make_case(domains=domains))
    table = re.search(r'<table class="domains">(.*?)</table>', html, re.S).group(1)
    rows = re.findall(r"<tr><td>(.*?)</td><td class=\"num\">(.*?)</td><td>(.*?)</td></tr>", table, re.S)
    assert [(label, pct) for label, pct, _ in rows] == [
        ("Persistence: acts associated with stalking on at least 2 distinct UK days", "64%"),
        ("Harm: threat or violence", "12%")]
    assert rows[0][2] == "<ol><li>Following: 15 in the last 30 days (raises concern)</li></ol>"
    assert rows[1][2] == "none"
    assert "This model scores one outcome" not in html


def test_a_page_of_a_one_outcome_model_says_so() -> None:
    html = render_case(make_case())
    assert '<table class="domains">' not in html and "This model scores one outcome" in html


def test_the_real_flag_per_relationship() -> None:
    y = np.array([1, 0, 1, 1, 0, 0])
    flag = np.array([True, True, False, True, False, False])
    groups = pd.Series(["ex_partner", "ex_partner", "stranger", "stranger", "stranger", None])
    rows = flag_by_group(y, flag, groups)
    assert rows == [
        {"group": "ex_partner", "cases": 2, "positives": 1, "flag_rate": 1.0, "precision": 0.5, "recall": 1.0},
        {"group": "not recorded", "cases": 1, "positives": 0, "flag_rate": 0.0, "precision": None, "recall": None},
        {"group": "stranger", "cases": 3, "positives": 2, "flag_rate": 1 / 3, "precision": 1.0, "recall": 0.5},
    ]


def test_the_card_reports_each_domain_and_the_real_flag() -> None:
    model = SimpleNamespace(outcomes=("risk", "persistence", "harm"),
                            meta=ModelMeta(label=DEFAULT_TRAIN_CONFIG["label"], label_description="x"))
    metrics = {"risk_roc_auc": 0.8, "risk_positive_rate": 0.5, "persistence_roc_auc": 0.75, "harm_brier": 0.125,
               "ceiling_roc_auc": 0.85, "harm_ceiling_roc_auc": 0.9, "harm_share_of_ceiling": 0.5,
               "flag_rate_with_conduct_gate": 0.1, "precision_at_flag": 0.875, "recall_at_flag": 0.25}
    out = flag_figures(model, metrics, [{"group": "ex_partner", "cases": 1200, "positives": 300, "flag_rate": 0.25,
                                         "precision": 0.5, "recall": None}])
    risk, persistence, harm = out["domains"]
    assert (risk["what"], risk["roc_auc"], risk["ceiling"], risk["share"]) == (
        "persistence or harm (the flag's score)", "0.800", "0.850", "n/a")
    assert persistence["what"] == "acts associated with stalking on at least 2 distinct UK days"
    assert (persistence["roc_auc"], persistence["brier"]) == ("0.750", "n/a")
    assert (harm["column"], harm["what"], harm["brier"], harm["share"]) == (
        "score_harm", "threat or violence", "0.125", "0.500")
    assert out["real_flag"] == [("Flag rate (threshold and course of conduct)", "0.100"),
                                ("Precision of the flag", "0.875"), ("Recall of the flag", "0.250")]
    assert out["flag_by_relationship"] == [{"group": "ex partner", "cases": "1,200", "positives": "300",
                                            "flag_rate": "0.250", "precision": "0.500", "recall": "n/a"}]

"""`audit record`: an ATRS-style record with the tier keys and explicit placeholders."""

from __future__ import annotations

import json

from stalkrisk.audit.record import PLACEHOLDER, TIER_2_SECTIONS
from stalkrisk.cli import main


def test_record_has_the_atrs_tiers_and_placeholders(trained, tmp_path, capsys) -> None:
    assert main(["audit", "record", "--model", f"models:/stalkrisk/{trained.version}", "--out", str(tmp_path)]) == 0
    record = json.loads((tmp_path / "atrs_record.json").read_text(encoding="utf-8"))
    assert {"name", "description", "website", "contact_email"} <= set(record["tier_1"])
    assert set(record["tier_2"]) == set(TIER_2_SECTIONS)
    assert record["tier_1"]["contact_email"] == PLACEHOLDER
    assert record["tier_2"]["owner_and_responsibility"]["senior_responsible_owner"] == PLACEHOLDER
    assert record["tier_2"]["owner_and_responsibility"]["model_registry"]["mlflow_run_id"] == trained.run_id
    spec = record["tier_2"]["technical_specification"]
    assert spec["training_run"]["params"]["label.horizon_days"] == "90"
    assert spec["performance_on_test_slice"]["roc_auc"] > 0.5
    assert "GENERATED (synthetic)" in record["tier_2"]["data"]["data_description"]
    assert record["model_card_markdown"].startswith("# Model card")
    markdown = (tmp_path / "atrs_record.md").read_text(encoding="utf-8")
    assert "## Tier 1" in markdown and "### Risks mitigations" in markdown
    assert f"**{PLACEHOLDER}**" in markdown and "****" not in markdown
    assert "atrs_record.json" in capsys.readouterr().out


def test_record_cites_the_workbench_decisions_and_says_they_are_never_labels(trained, tmp_path) -> None:
    from datetime import datetime, timezone

    from stalkrisk.workbench.db import open_database
    from stalkrisk.workbench.decisions import Shown, record_decision

    db_url = f"sqlite:///{tmp_path / 'wb.db'}"
    db = open_database(db_url)
    flagged_at = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for case, decision, reason in (("C1", "apply", "course of conduct clear"), ("C2", "no_application", "victim moved"),
                                   ("C3", "no_application", "victim moved")):
        shown = Shown("stalkrisk", str(trained.version), 0.6, "high", "consider_spo", "flagged", 0.5, "F1",
                      flagged_at, "abc")
        record_decision(db, case, "reviewer.one", decision, reason, "", shown)
    out = tmp_path / "rec"
    assert main(["audit", "record", "--model", f"models:/stalkrisk/{trained.version}", "--out", str(out),
                 "--db", db_url]) == 0
    review = json.loads((out / "atrs_record.json").read_text(encoding="utf-8"))["tier_2"]["decision_making_process"]
    appeals = review["appeals_and_review"]
    assert "never used as training labels" in appeals["decisions_as_labels"]
    assert "never used as training labels" in review["human_decisions_and_review"]
    figures = appeals["decision_figures"]
    assert (figures["flagged_cases_decided"], figures["agreed"], figures["overridden"]) == (3, 1, 2)
    assert figures["override_rate"] == 2 / 3
    assert figures["commonest_override_reasons"] == ["victim moved (2)"]
    without = tmp_path / "plain"
    assert main(["audit", "record", "--model", f"models:/stalkrisk/{trained.version}", "--out", str(without)]) == 0
    plain = json.loads((without / "atrs_record.json").read_text(encoding="utf-8"))
    assert "decision_figures" not in plain["tier_2"]["decision_making_process"]["appeals_and_review"]

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

"""`audit drift`: the same data drift nowhere; a shifted copy names the features that moved."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from stalkrisk.model.meta import ModelMeta
import pytest
from test_audit_fairness import variant

from stalkrisk.audit.rescore import AuditError
from stalkrisk.audit.drift import drift_audit, drift_table, format_drift
from stalkrisk.cli import main
from stalkrisk.evaluate.drift import reference_profile


def test_drift_table_same_and_shifted() -> None:
    rng = np.random.default_rng(1)
    f = pd.DataFrame({"n_threat_30d": rng.poisson(1.0, 2000).astype(float),
                      "victim_fear": rng.choice([0.0, 1.0, 2.0, np.nan], 2000)})
    model = SimpleNamespace(meta=ModelMeta(drift_reference=reference_profile(f)))
    same = drift_table(model, f)
    assert not same["drifted"].any() and np.allclose(same["psi"], 0.0)
    shifted = f.assign(victim_fear=2.0)
    table = drift_table(model, shifted)
    assert table.loc[table["drifted"], "feature"].tolist() == ["victim_fear"]
    assert table.iloc[0]["feature"] == "victim_fear"  # drifted first


def test_a_model_without_a_profile_is_refused() -> None:
    with pytest.raises(AuditError, match="drift reference"):
        drift_table(SimpleNamespace(meta=ModelMeta()), pd.DataFrame({"a": [1.0]}))


@pytest.fixture(scope="module")
def model_uri(trained) -> str:
    return f"models:/stalkrisk/{trained.version}"


def test_the_training_caseload_does_not_drift(model_uri, caseload_files) -> None:
    audit = drift_audit(model_uri, caseload_files["cases"], caseload_files["events"])
    assert audit.drifted == []
    assert format_drift(audit).splitlines()[-1].startswith("0 of ")


def test_a_shifted_caseload_names_its_drifted_features(model_uri, caseload, tmp_path, capsys) -> None:
    def thin(e: pd.DataFrame) -> pd.DataFrame:  # keep one event in five
        return e.iloc[::5].reset_index(drop=True)

    files = variant(caseload, tmp_path, n=1500, cases=lambda c: c.assign(victim_fear="very_afraid"), events=thin)
    out = tmp_path / "drift.html"
    assert main(["audit", "drift", "--model", model_uri, "--cases", str(files["cases"]),
                 "--events", str(files["events"]), "--out", str(out)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-2]  # the summary line, before "report: ..."
    assert " features drifted " in last
    names = last.split(": ", 1)[1].split(", ")
    assert {"victim_fear", "sdash_fear", "n_events_all"} <= set(names)
    html = out.read_text(encoding="utf-8")
    assert "victim_fear" in html and "<svg" in html

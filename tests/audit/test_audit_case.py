"""`audit case`: the smallest set of reason groups a flag rests on, checked by brute force."""

from __future__ import annotations

import itertools
import math

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stalkrisk.audit.case import (
    BELOW_THRESHOLD,
    FLAGGED,
    GATE,
    IRREDUCIBLE,
    case_audit,
    format_case_audit,
    minimal_set,
    smallest_removal,
)
from stalkrisk.outputs.case_record import CaseRecord
from stalkrisk.cli import main


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def brute_force(base: float, contributions: dict[str, float], threshold: float) -> tuple[int, list[set[str]]] | None:
    """Size of the smallest removal set and every set of that size, by trying all subsets.

    "Below the threshold" is judged on the probability, as the flag is: at the knife edge
    (a logit of -1e-94 against a threshold of 0.5) the probability rounds to 0.5, not below.
    """
    names = sorted(contributions)
    for k in range(len(names) + 1):
        hits = [set(c) for c in itertools.combinations(names, k)
                if _sigmoid(base + math.fsum(v for g, v in contributions.items() if g not in c)) < threshold]
        if hits:
            return k, hits
    return None


def test_golden_case_worked_by_hand() -> None:
    # base -2.0; total -2 + 1.5 + 1.0 + 0.3 - 0.4 = 0.4; threshold 0.5 -> logit 0.
    # Remove threats (1.5): -1.1 < 0 -> one group suffices.
    groups = {"threats": 1.5, "violence": 1.0, "escalation": 0.3, "victim_fear": -0.4}
    assert smallest_removal(-2.0, groups, 0.5) == ["threats"]
    # Threshold 0.2 -> logit -1.386: without threats -1.1 is still above; also drop violence: -2.1.
    assert smallest_removal(-2.0, groups, 0.2) == ["threats", "violence"]
    # Already below a 0.7 threshold (logit 0.847 > 0.4): nothing to remove.
    assert smallest_removal(-2.0, groups, 0.7) == []
    # Base alone above threshold: no removal can bring it below.
    assert smallest_removal(1.0, {"threats": 0.5, "victim_fear": -0.2}, 0.5) is None


@settings(max_examples=200, deadline=None)
@given(
    base=st.floats(-4, 2),
    values=st.lists(st.floats(-2, 3).filter(lambda v: abs(v) > 1e-6), min_size=1, max_size=7),
    threshold=st.floats(0.05, 0.95),
)
@example(base=-2.2376160730237236e-94, values=[1.0], threshold=0.5)  # CI found this edge
def test_smallest_removal_equals_brute_force(base: float, values: list[float], threshold: float) -> None:
    groups = {f"g{i}": v for i, v in enumerate(values)}
    mine = smallest_removal(base, groups, threshold)
    truth = brute_force(base, groups, threshold)
    if truth is None:
        assert mine is None
        return
    size, sets = truth
    assert mine is not None and len(mine) == size
    assert set(mine) in sets or math.isclose(  # a tie at the boundary may pick an equal-sized set
        base + sum(v for g, v in groups.items() if g not in mine), _logit(threshold), abs_tol=1e-9)


def _record(contribs: dict[str, float], base: float, *, flagged: bool, conduct: bool = True) -> CaseRecord:
    logit = base + sum(contribs.values())
    score = 1 / (1 + math.exp(-logit))
    scores = pd.Series({"case_id": "X-1", "status": "scored", "not_scored_reason": "", "score": score,
                        "risk_band": "high", "course_of_conduct": conduct, "consider_spo": flagged,
                        "reason_1": "Threats: 3 (raises concern)", "reason_2": "", "reason_3": "",
                        "model_name": "m", "model_version": "1"})
    rows = [{"case_id": "X-1", "feature": f"f_{g}", "group": g, "value": 1.0, "contribution": v,
             "base_value": base} for g, v in contribs.items()]
    return CaseRecord(scores=scores, explanation=pd.DataFrame(rows))


def test_minimal_set_statuses() -> None:
    groups = {"threats": 1.5, "violence": 1.0, "victim_fear": -0.4}
    flagged = minimal_set(_record(groups, -1.0, flagged=True), 0.5)
    assert flagged.status == FLAGGED and flagged.groups == ["threats"]
    assert "Threats" in flagged.text
    assert minimal_set(_record(groups, -3.0, flagged=False), 0.5).status == BELOW_THRESHOLD
    gate = minimal_set(_record(groups, -1.0, flagged=False, conduct=False), 0.5)
    assert gate.status == GATE and "course of conduct" in gate.text and gate.groups == ["threats"]
    stuck = minimal_set(_record({"threats": 0.5, "victim_fear": -0.2}, 2.0, flagged=True), 0.5)
    assert stuck.status == IRREDUCIBLE and stuck.groups == []


@pytest.fixture(scope="module")
def flagged_ids(scored_dir) -> list[str]:
    scores = pd.read_parquet(scored_dir / "scores.parquet")
    return scores.loc[scores["consider_spo"].fillna(False).to_numpy(bool), "case_id"].head(4).tolist()


def test_case_audit_on_the_session_run_matches_brute_force(scored_dir, flagged_ids) -> None:
    assert flagged_ids
    for case_id in flagged_ids:
        audit = case_audit(scored_dir, case_id)
        grouped = audit.record.grouped()
        contribs = dict(zip(grouped["group"], grouped["contribution"]))
        base = audit.record.base_value
        assert math.isclose(1 / (1 + math.exp(-(base + sum(contribs.values())))),
                            float(audit.record.scores["score"]), rel_tol=1e-9)
        truth = brute_force(base, contribs, audit.threshold)
        if truth is None:
            assert audit.minimal.status == IRREDUCIBLE
        else:
            size, sets = truth
            assert audit.minimal.status == FLAGGED
            assert len(audit.minimal.groups) == size and set(audit.minimal.groups) in sets
        text = format_case_audit(audit)
        assert f"case {case_id}: scored" in text and "what the flag rests on" in text


def test_cli_case_writes_html_and_names_the_waterfall(scored_dir, flagged_ids, tmp_path, capsys) -> None:
    out = tmp_path / "case.html"
    assert main(["audit", "case", str(scored_dir), "--case-id", flagged_ids[0], "--html", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "Content-Security-Policy" in html and "<svg" in html and "What the flag rests on" in html
    assert "flagged" in capsys.readouterr().out


def test_cli_case_unknown_id_and_missing_record_exit_2(scored_dir, tmp_path, capsys) -> None:
    assert main(["audit", "case", str(scored_dir), "--case-id", "NO-SUCH-CASE"]) == 2
    assert "NO-SUCH-CASE" in capsys.readouterr().err
    assert main(["audit", "case", str(tmp_path), "--case-id", "X"]) == 2
    assert "audit.json" in capsys.readouterr().err

"""Progress moves within a part: a caseload of one part (up to 50,000 cases) no longer sits at 0%."""

from __future__ import annotations

from stalkrisk.scoring import score_chunk


def test_score_chunk_reports_its_cases_in_steps(loaded_model, caseload):
    cases = caseload.cases.head(300)
    events = caseload.events[caseload.events["case_id"].isin(set(cases["case_id"]))]
    steps: list[int] = []
    result = score_chunk(loaded_model.model, cases, events, progress=steps.append)
    assert len(steps) == 3 and all(s > 0 for s in steps) and sum(steps) == len(cases) == len(result.scores)

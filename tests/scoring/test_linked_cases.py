"""A suspect's other cases on the scores and the review page (issue 19): a suspect with two other
victims' cases has ``linked_cases`` = 2 and the page lists them, in a chunk and through the whole
scoring run, whose chunks each see the whole cases table's links."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stalkrisk.data import contract, readers
from stalkrisk.features.linking import LinkTable
from stalkrisk.outputs.schema import SCORE_COLUMNS
from stalkrisk.pipelines import review as review_mod
from stalkrisk.report.render import render_case
from stalkrisk.scoring import score_chunk

CASES = pd.DataFrame([
    # X: the case screened; Y and Z: the same suspect's earlier cases of two other victims in two forces
    {"case_id": "X", "assessment_date": "2024-03-10", "suspect_id": "S", "victim_id": "V1", "force_code": "F1",
     "relationship": "stranger"},
    {"case_id": "Y", "assessment_date": "2024-02-01", "suspect_id": "S", "victim_id": "V2", "force_code": "F2",
     "relationship": "ex_partner"},
    {"case_id": "Z", "assessment_date": "2024-01-05", "suspect_id": "S", "victim_id": "V3", "force_code": "F1",
     "relationship": "neighbour"},
    # assessed after X: X cannot know it
    {"case_id": "W", "assessment_date": "2024-04-01", "suspect_id": "S", "victim_id": "V4", "force_code": "F3",
     "relationship": "stranger"},
    {"case_id": "N", "assessment_date": "2024-03-10", "relationship": "stranger"},  # no suspect_id
]).assign(victim_sex="female", suspect_sex="male", victim_fear="very_afraid")
EVENTS = pd.DataFrame([{"case_id": c, "event_time": f"2024-0{m}-0{d}T12:00:00", "behaviour": "following",
                        "channel": "in_person"} for c, m in (("X", 3), ("Y", 1), ("Z", 1), ("W", 3), ("N", 3))
                       for d in range(1, 5)])


def test_a_chunk_scores_linked_cases_and_the_page_lists_them(loaded_model):
    cases = readers.normalise(CASES.astype("str").replace("nan", ""), contract.CASES).frame
    events = readers.normalise(EVENTS.astype("str"), contract.EVENTS).frame
    result = score_chunk(loaded_model.model, cases, events, links=LinkTable.from_cases(cases))
    assert dict(zip(result.scores["case_id"], result.scores["linked_cases"])) == {"X": 2, "Y": 1, "Z": 0, "W": 3,
                                                                                  "N": 0}
    views = review_mod.case_views(loaded_model, result, cases, events, only_flagged=False, pick=np.array([0, 4]))
    x, n = views
    assert [(l.case_id, l.force, l.assessment_date, l.relationship, l.victim) for l in x.linked] == [
        ("Y", "F2", "2024-02-01", "ex partner", "another victim"),
        ("Z", "F1", "2024-01-05", "neighbour", "another victim")]
    html = render_case(x)
    assert "The suspect&#39;s other cases known by the assessment date" in html or \
        "The suspect's other cases known by the assessment date" in html
    assert "<td>Y</td><td>F2</td><td>2024-02-01</td>" in html and "<td>Z</td>" in html and "<td>W</td>" not in html
    assert n.linked is None and "other cases known by the assessment date" not in render_case(n)


def test_the_scoring_run_links_across_its_chunks(trained, tmp_path):
    from stalkrisk.pipelines.score import run

    CASES.to_csv(tmp_path / "cases.csv", index=False)
    EVENTS.to_csv(tmp_path / "events.csv", index=False)
    out = tmp_path / "out"
    run(tmp_path / "cases.csv", tmp_path / "events.csv", out, model=f"models:/{trained.name}/{trained.version}",
        review="all", quiet=True, chunk_size=1)  # each case in a chunk of its own
    scores = pd.read_parquet(out / "scores.parquet")
    assert tuple(scores.columns) == SCORE_COLUMNS
    assert list(scores.columns).index("linked_cases") == list(scores.columns).index("queue_reason") + 1
    assert scores["linked_cases"].tolist() == [2, 1, 0, 3, 0]
    assert pd.read_csv(out / "scores.csv")["linked_cases"].tolist() == [2, 1, 0, 3, 0]
    page = (out / "review" / "cases").glob("X*.html")
    html = next(page).read_text(encoding="utf-8")
    assert "<td>Y</td><td>F2</td><td>2024-02-01</td><td>ex partner</td><td>another victim</td>" in html
    assert "<td>Z</td><td>F1</td><td>2024-01-05</td><td>neighbour</td><td>another victim</td>" in html


@pytest.mark.parametrize("bad", ["2024-13-01"])
def test_a_case_not_scored_has_no_linked_count_but_still_links(trained, tmp_path, bad):
    from stalkrisk.pipelines.score import run

    cases = CASES.copy()
    cases.loc[cases["case_id"] == "Y", "victim_fear"] = "terrified"  # Y is quarantined, but readable
    cases.loc[cases["case_id"] == "W", "assessment_date"] = bad  # W's date cannot be read: it links to nothing
    cases.to_csv(tmp_path / "cases.csv", index=False)
    EVENTS.to_csv(tmp_path / "events.csv", index=False)
    run(tmp_path / "cases.csv", tmp_path / "events.csv", tmp_path / "out",
        model=f"models:/{trained.name}/{trained.version}", review="none", quiet=True, chunk_size=2)
    scores = pd.read_parquet(tmp_path / "out" / "scores.parquet")
    got = dict(zip(scores["case_id"], scores["linked_cases"]))
    assert got["X"] == 2 and pd.isna(got["Y"]) and pd.isna(got["W"]) and got["N"] == 0


def test_the_page_reads_the_group_sums_scoring_ranked_the_reasons_on(loaded_model):
    """Issue 17: the review page takes scoring's reason groups (``ChunkResult.grouped``), and they are
    what grouping the page's own rows again would give; the groups add up to the logit of the score."""
    from dataclasses import replace

    cases = readers.normalise(CASES.astype("str").replace("nan", ""), contract.CASES).frame
    events = readers.normalise(EVENTS.astype("str"), contract.EVENTS).frame
    result = score_chunk(loaded_model.model, cases, events, links=LinkTable.from_cases(cases))
    keys, grouped = result.grouped
    logit = np.log(result.scores["score"] / (1 - result.scores["score"])).to_numpy()
    np.testing.assert_allclose(result.explanation.base_value + grouped.sum(axis=1), logit, atol=1e-9)
    pick = np.array([0, 3, 4])
    handed = review_mod.case_views(loaded_model, result, cases, events, only_flagged=False, pick=pick)
    regrouped = review_mod.case_views(loaded_model, replace(result, grouped=None), cases, events,
                                      only_flagged=False, pick=pick)
    assert handed == regrouped
    assert [[g.group for g in v.groups] for v in handed] == [list(keys)] * len(pick)
    for v, row in zip(handed, grouped[pick]):
        assert [g.contribution for g in v.groups] == row.tolist()

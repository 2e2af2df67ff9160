"""Streaming a caseload into parts: each part holds its cases and exactly their events, and
validating part by part reaches the verdicts of validating the whole files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fixtures_messy import write_messy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stalkrisk.validation import suite as validation
from stalkrisk.data.partition import partition
from stalkrisk.data.readers import LINE
from stalkrisk.validation.parts import PartValidator

CASES = """case_id,assessment_date,relationship,victim_sex,suspect_sex
c0,2024-01-01,stranger,female,male
c1,2024-01-01,stranger,female,male
c2,2024-01-01,stranger,female,male
c3,2024-01-01,stranger,female,male
c1,2024-01-01,stranger,female,male
c5,2024-01-01,stranger,female,male
c6,2024-01-01,stranger,female,male
"""
# line:      2   3   4    5    6     7   8
EVENTS = """case_id,event_time,behaviour,event_id
c6,2023-12-01,following,e1
c0,2023-12-01,following,e2
zz,2023-12-01,following,e3
c3,2023-12-01,following,e4
c0,2023-12-02,following,e5
c1,2023-12-02,following,e6
,2023-12-02,following,e7
"""


def _lines(frame: pd.DataFrame) -> list[int]:
    return sorted(int(x) for x in frame[LINE])


def test_parts_hold_their_cases_and_exactly_their_events(tmp_path: Path) -> None:
    (tmp_path / "cases.csv").write_text(CASES)
    (tmp_path / "events.csv").write_text(EVENTS)
    parted = partition(tmp_path / "cases.csv", tmp_path / "events.csv", tmp_path / "work", chunk_size=3)
    assert parted.n_parts == 3 and parted.counts == {"cases": 7, "events": 7}
    got = {k: parted.read(k) for k in [0, 1, 2, None]}
    assert [_lines(got[k][0].frame) for k in (0, 1, 2)] == [[2, 3, 4], [5, 6, 7], [8]]
    # c1 sits in parts 0 and 1 (a duplicate), so its event (line 7) goes to both.
    assert [_lines(got[k][1].frame) for k in (0, 1, 2)] == [[3, 6, 7], [5, 7], [2]]
    assert _lines(got[None][1].frame) == [4, 8]  # naming no case, or no case id
    assert got[None][0].frame.empty
    assert parted.repeated_event_lines.tolist() == [7]
    assert _lines(parted.context["cases"]) == [3, 6]  # both rows of c1
    assert parted.context["events"].empty


def test_events_sorted_by_case_are_cut_into_the_same_parts(tmp_path: Path) -> None:
    # each part's events one run of the batch: written as slices (not gathered row by row)
    (tmp_path / "cases.csv").write_text(CASES)
    (tmp_path / "events.csv").write_text("case_id,event_time,behaviour\n" + "".join(
        f"{c},2023-12-0{d},following\n" for c, d in (("c0", 1), ("c0", 2), ("c2", 1), ("c3", 1), ("c5", 1),
                                                     ("c6", 1), ("zz", 1))))
    parted = partition(tmp_path / "cases.csv", tmp_path / "events.csv", tmp_path / "work", chunk_size=3)
    # line:  2  3  4  5  6  7  8
    assert [_lines(parted.read(k)[1].frame) for k in (0, 1, 2, None)] == [[2, 3, 4], [5, 6], [7], [8]]
    assert parted.read(0)[1].frame["event_time"].dt.day.tolist() == [1, 2, 1]  # in file order


def _combined(cases: Path, events: Path, workdir: Path, chunk_size: int) -> validation.ValidationResult:
    validator = PartValidator(partition(cases, events, workdir, chunk_size=chunk_size))
    for _ in validator:
        pass
    return validator.combined()


def _assert_same(parts: validation.ValidationResult, whole: validation.ValidationResult) -> None:
    pd.testing.assert_frame_equal(parts.failures, whole.failures)
    pd.testing.assert_frame_equal(parts.quarantine.reset_index(drop=True), whole.quarantine)
    assert parts.counts == whole.counts
    assert parts.inputs == whole.inputs


@pytest.mark.parametrize(("fmt", "chunk_size"), [("csv", 1), ("gz", 3), ("parquet", 2), ("csv", 100)])
def test_part_validation_equals_the_whole_file_on_the_messy_export(tmp_path: Path, fmt: str,
                                                                    chunk_size: int) -> None:
    paths = write_messy(tmp_path)
    cases, events = paths[f"cases_{fmt}"], paths[f"events_{fmt}"]
    _assert_same(_combined(cases, events, tmp_path / "work", chunk_size), validation.load_and_validate(cases, events))


@pytest.fixture(scope="module")
def small_caseload():
    from stalkrisk.synth import generate

    data = generate(30, seed=5)
    assert "event_id" in data.events.columns
    return data.cases, data.events


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), chunk_size=st.integers(4, 31))
def test_part_validation_equals_the_whole_file_under_damage(small_caseload, seed: int, chunk_size: int) -> None:
    """Duplicates across parts, orphans, missing ids and bad values: same verdicts either way."""
    cases, events = (f.copy() for f in small_caseload)
    rng = np.random.default_rng(seed)
    i, j = rng.choice(len(cases), 2, replace=False)
    cases.loc[j, "case_id"] = cases.loc[i, "case_id"]  # one case id twice, maybe in two parts
    a, b, c, d = rng.choice(len(events), 4, replace=False)
    events.loc[b, "event_id"] = events.loc[a, "event_id"]  # one event id on two (likely different) cases
    events.loc[c, "case_id"] = "nobody"
    events.loc[d, "behaviour"] = "shouting"
    events.loc[int(rng.integers(len(events))), "case_id"] = ""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cases.to_csv(folder / "cases.csv", index=False)
        events.to_csv(folder / "events.csv", index=False)
        whole = validation.load_and_validate(folder / "cases.csv", folder / "events.csv")
        assert len(whole.quarantine) >= 2  # the damage is seen at all
        parts = _combined(folder / "cases.csv", folder / "events.csv", folder / "work", chunk_size)
        _assert_same(parts, whole)


def test_routing_is_exact_even_when_ids_share_a_hash(tmp_path: Path, monkeypatch) -> None:
    """A deliberately weak hash (the id's length) makes every id collide: the parts and the
    duplicates found must not change."""
    import pyarrow.compute as pc

    import stalkrisk.data.ids as ids_mod

    (tmp_path / "cases.csv").write_text(CASES)
    (tmp_path / "events.csv").write_text(EVENTS)
    strong = partition(tmp_path / "cases.csv", tmp_path / "events.csv", tmp_path / "strong", chunk_size=3)
    monkeypatch.setattr(ids_mod, "hash_ids",
                        lambda ids: pc.utf8_length(ids).fill_null(0).to_numpy(zero_copy_only=False).astype(np.uint64))
    weak = partition(tmp_path / "cases.csv", tmp_path / "events.csv", tmp_path / "weak", chunk_size=3)
    for k in [0, 1, 2, None]:
        for a, b in zip(strong.read(k), weak.read(k)):
            pd.testing.assert_frame_equal(a.frame, b.frame)
    assert _lines(weak.context["cases"]) == [3, 6]
    assert weak.repeated_event_lines.tolist() == [7]

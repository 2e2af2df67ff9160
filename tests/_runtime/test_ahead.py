"""``made_ahead``: the items in order, at most one made ahead, errors raised in the caller, and a
scoring run made with it writes what the plain path writes."""

from __future__ import annotations

import threading
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalkrisk._runtime.ahead import SERIAL_ENV, made_ahead


class Counted:
    """Items 0..n-1, recording how many were made when each was handed over."""

    def __init__(self, n: int, fail_at: int | None = None):
        self.n, self.fail_at, self.made = n, fail_at, 0
        self.threads: set[str] = set()

    def __iter__(self):
        for i in range(self.n):
            if i == self.fail_at:
                raise ValueError(f"item {i} is bad")
            self.made += 1
            self.threads.add(threading.current_thread().name)
            yield i


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 12))
def test_items_come_in_order_with_at_most_one_made_ahead(n):
    source = Counted(n)
    seen = []
    for item in made_ahead(source, serial=False):
        assert source.made <= item + 2  # this one, and at most the next
        seen.append(item)
    assert seen == list(range(n))
    assert source.threads <= {"stalkrisk-ahead"}


def test_an_error_while_making_is_raised_in_the_caller_after_the_items_before_it():
    got = []
    with pytest.raises(ValueError, match="item 3 is bad"):
        for item in made_ahead(Counted(6, fail_at=3), serial=False):
            got.append(item)
    assert got == [0, 1, 2]


def test_a_caller_that_stops_early_stops_the_maker():
    source = Counted(100)
    before = threading.active_count()
    for item in made_ahead(source, serial=False):
        if item == 4:
            break
    assert source.made <= 6 and threading.active_count() == before


def test_the_plain_path_is_the_iterator_itself(monkeypatch):
    source = Counted(3)
    assert list(made_ahead(source, serial=True)) == [0, 1, 2] and source.threads == {"MainThread"}
    monkeypatch.setenv(SERIAL_ENV, "1")
    again = Counted(2)
    assert list(made_ahead(again)) == [0, 1] and again.threads == {"MainThread"}


def test_scoring_made_ahead_writes_what_the_plain_path_writes(trained, caseload_files, tmp_path, monkeypatch):
    from stalkrisk.pipelines.score import run

    outs = {}
    for serial in ("1", ""):
        monkeypatch.setenv(SERIAL_ENV, serial)
        outs[serial] = tmp_path / f"out{serial or 'ahead'}"
        run(caseload_files["cases"], caseload_files["events"], outs[serial], review="flagged", quiet=True,
            model=f"models:/{trained.name}/{trained.version}", chunk_size=700)  # several parts
    for name in ("scores.parquet", "explanations.parquet", "scores.csv"):
        assert (outs["1"] / name).read_bytes() == (outs[""] / name).read_bytes(), name
    pages = sorted(p.name for p in (outs["1"] / "review" / "cases").iterdir())
    assert pages == sorted(p.name for p in (outs[""] / "review" / "cases").iterdir()) and pages
    assert len(pd.read_parquet(outs[""] / "scores.parquet")) == len(pd.read_csv(caseload_files["cases"]))
    assert Path(outs[""] / "audit.json").is_file()

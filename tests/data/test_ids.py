"""Hashed id work is exact: it agrees with pandas on any ids, even when every hash collides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import given
from hypothesis import strategies as st

import stalkrisk.data.ids as ids_mod
from stalkrisk.data.ids import IdIndex, repeated, row_of, run_heads

id_lists = st.lists(st.one_of(st.none(), st.sampled_from(["A", "B", "AB", "BA", "C1", "é", ""])), max_size=40)


def _expected_repeats(values: list[str | None]) -> list[bool]:
    s = pd.Series(values, dtype=object)
    return (s.notna() & s.duplicated(keep=False)).tolist()


def _weak_hash(values) -> np.ndarray:
    """Every id of the same length collides."""
    return pc.utf8_length(values).fill_null(0).to_numpy(zero_copy_only=False).astype(np.uint64)


@given(id_lists)
def test_repeated_matches_pandas(values):
    assert repeated(pa.array(values, pa.large_string())).tolist() == _expected_repeats(values)


@given(id_lists)
def test_repeated_is_exact_when_hashes_collide(values):
    strong = ids_mod.hash_ids
    ids_mod.hash_ids = _weak_hash
    try:
        assert repeated(pa.array(values, pa.large_string())).tolist() == _expected_repeats(values)
        chunked = pa.chunked_array([pa.array(values[:3], pa.large_string()), pa.array(values[3:], pa.large_string())])
        assert repeated(chunked).tolist() == _expected_repeats(values)
    finally:
        ids_mod.hash_ids = strong


@given(id_lists, id_lists)
def test_first_row_finds_the_first_holder(ids, lookups):
    index = IdIndex(pa.array(ids, pa.large_string()))
    first = {}
    for i, v in enumerate(ids):
        if v is not None:
            first.setdefault(v, i)
    expected = [-1 if v is None else first.get(v, -1) for v in lookups]
    assert index.first_row(pa.array(lookups, pa.large_string())).tolist() == expected


@given(id_lists, st.lists(st.tuples(st.one_of(st.none(), st.sampled_from(["A", "B", "AB", "C1", "Z"])),
                                    st.integers(1, 5)), max_size=12), st.booleans())
def test_first_row_of_values_in_runs_is_each_values_own(ids, runs, collide):
    # events exported by case come in runs: looked up once a run, each row still gets its own answer
    lookups = [v for v, n in runs for _ in range(n)]
    strong = ids_mod.hash_ids
    if collide:
        ids_mod.hash_ids = _weak_hash
    try:
        index = IdIndex(pa.array(ids, pa.large_string()))
        got = index.first_row(pa.array(lookups, pa.large_string())).tolist()
    finally:
        ids_mod.hash_ids = strong
    assert got == [ids.index(v) if v is not None and v in ids else -1 for v in lookups]


@given(id_lists, id_lists)
def test_row_of_is_the_first_row_holding_each_value(ids, values):
    got = row_of(pd.Series(values, dtype="str"), pd.Series(ids, dtype="str"))
    want = [ids.index(v) if v is not None and v in ids else -1 for v in values]
    assert got.tolist() == want


def test_run_heads_start_each_run_and_each_missing_value():
    values = pa.array(["a", "a", None, None, "b", "a", "a"], pa.large_string())
    assert run_heads(values).tolist() == [0, 2, 3, 4, 5]
    assert run_heads(pa.array([], pa.large_string())).tolist() == []


def test_row_of_numbers_and_mixed_spellings_by_their_text():
    got = row_of(pd.Series([7, 3, None, 9], dtype=object), pd.Series(["3", "7", "3"], dtype="str"))
    assert got.tolist() == [1, 0, -1, -1]

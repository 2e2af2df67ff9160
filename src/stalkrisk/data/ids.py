"""Exact work on text ids at caseload scale: 64-bit hashes first, confirmed on the text.

A hash table of a million (or twenty million) strings costs seconds and hundreds of
megabytes; sorted 64-bit hashes cost a fraction of both. Hashes can collide, so
every match is confirmed on the ids themselves and a test forces collisions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def hash_ids(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """64-bit hashes of text ids (polars; missing ids hash to something: mask them)."""
    import polars as pl

    return pl.from_arrow(ids).hash(seed=0).to_numpy()


def repeated(ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Mask over ``ids``: present and held by more than one row."""
    out = np.zeros(len(ids), dtype=bool)
    if len(ids) < 2:
        return out
    h = hash_ids(ids)
    if ids.null_count:
        valid = pc.is_valid(ids).to_numpy(zero_copy_only=False)
        s = np.sort(h[valid])
    else:
        valid, s = True, np.sort(h)
    twice = np.unique(s[1:][s[1:] == s[:-1]])
    if len(twice) == 0:
        return out
    candidates = np.flatnonzero(valid & np.isin(h, twice))  # rows sharing a hash: now compare the text
    texts = pd.Series(ids.take(pa.array(candidates)).to_pylist(), dtype=object)
    out[candidates[texts.duplicated(keep=False).to_numpy()]] = True
    return out


def run_heads(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Positions where a run of equal consecutive ``values`` starts (each missing value starts
    one). Every distinct value first appears at a run's head, so work on each distinct value
    can be done on the heads alone: a million of them for twenty million events grouped by case."""
    m = len(values)
    if m == 0:
        return np.empty(0, dtype=np.int64)
    change = pc.not_equal(values.slice(1), values.slice(0, m - 1)).fill_null(True)
    return np.flatnonzero(np.concatenate([[True], change.to_numpy(zero_copy_only=False)]))


def row_of(values: pd.Series, ids: pd.Series) -> np.ndarray:
    """For each of ``values``, the first row of ``ids`` holding it (int64), or -1 for none.

    In Arrow, one hash table of ``ids``: pandas' ``get_indexer`` boxes every id in Python.
    Missing values name no row. (Looking up only the heads of runs of equal values saves
    nothing: building the table of the ids is most of the cost.)
    """
    row = pc.index_in(_text(values), value_set=_text(ids), skip_nulls=True).fill_null(-1)
    return row.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)


def _text(s: pd.Series) -> pa.Array | pa.ChunkedArray:
    """Ids as Arrow text (no copy for pandas text; other ids, such as numbers, as their text)."""
    if not isinstance(s.dtype, pd.StringDtype):
        s = s.astype("str")
    return pa.array(s, type=pa.large_string(), from_pandas=True)


class IdIndex:
    """Exact lookup of text ids: their 64-bit hashes sorted, confirmed on the ids themselves.

    About 16 bytes an id where a hash table of the strings costs several times more, so a
    million-case caseload is routed in a few tens of megabytes. Two different ids sharing a
    hash (about one chance in 10^7 for a million ids) are still told apart: every match is
    confirmed on the text, and an unconfirmed one is looked up among all ids of that hash.
    """

    def __init__(self, ids: pa.Array):
        self.ids = ids
        present = np.flatnonzero(pc.is_valid(ids).to_numpy(zero_copy_only=False))
        hashes = hash_ids(ids)[present]
        order = np.argsort(hashes, kind="stable")  # equal hashes keep row order: first row first
        self.rows, self.hashes = present[order], hashes[order]

    def first_row(self, values: pa.Array) -> np.ndarray:
        """The first row holding each value (-1 for missing values and ids not found).

        Values in runs (events exported by case: twenty a case) are looked up once a run."""
        heads = run_heads(values)
        if len(heads) < len(values):
            found = self._first_row(values.take(pa.array(heads)))
            return np.repeat(found, np.diff(np.append(heads, len(values))))
        return self._first_row(values)

    def _first_row(self, values: pa.Array) -> np.ndarray:
        out = np.full(len(values), -1, dtype=np.int64)
        if len(self.hashes) == 0 or len(values) == 0:
            return out
        h = hash_ids(values)
        pos = np.minimum(np.searchsorted(self.hashes, h), len(self.hashes) - 1)
        valid = pc.is_valid(values).to_numpy(zero_copy_only=False)
        hit = np.flatnonzero(valid & (self.hashes[pos] == h))
        rows = self.rows[pos[hit]]
        same = pc.equal(values.take(pa.array(hit)), self.ids.take(pa.array(rows))).to_numpy(zero_copy_only=False)
        out[hit[same]] = rows[same]
        for i in hit[~same]:  # a hash shared by different ids: check each id of that hash
            out[i] = self._scan(values[int(i)].as_py(), int(pos[i]))
        return out

    def _scan(self, value: str, pos: int) -> int:
        h = self.hashes[pos]
        while pos < len(self.hashes) and self.hashes[pos] == h:
            if self.ids[int(self.rows[pos])].as_py() == value:
                return int(self.rows[pos])
            pos += 1
        return -1

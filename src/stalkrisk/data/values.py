"""Typed values from text: trimming, categories, integers, booleans, dates and times.

The contract's value rules, vectorised: each function returns the typed column and the rows that
broke a rule, so the reader reports them (file line, case id, column, value, rule) instead of
dropping them.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from stalkrisk.data import contract
from stalkrisk.data.contract import Column

RULE_DATE = "parseable_date"
RULE_TIMESTAMP = "parseable_timestamp"
RULE_INTEGER = "integer"
RULE_BOOLEAN = "boolean"
RULE_DATE_RANGE = "date_in_range"


#: Plausible bounds for every date and time: [start, end).
DATE_BOUNDS = (pd.Timestamp("1990-01-01"), pd.Timestamp("2100-01-01"))
_INTEGER_TEXT = r"^[+-]?\d{1,18}(?:\.0*)?$"
_OFFSET_AT_END = r"\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"
_STARTS_WITH_DATE = r"^\d{4}-\d{2}-\d{2}(?:$|[T ])"


def to_utc(local: pd.Series) -> pd.Series:
    """Naive UK local wall-clock times -> ``datetime64[ns, UTC]`` by the clock rule."""
    local = local.astype("datetime64[ns]")
    first_occurrence = np.ones(len(local), dtype=bool)
    aware = local.dt.tz_localize(
        contract.LOCAL_TZ, ambiguous=first_occurrence, nonexistent=pd.Timedelta(hours=1)
    )
    return aware.dt.tz_convert("UTC")


def _is_text(col: pd.Series) -> bool:
    """Text, or a categorical of text (a Parquet dictionary column)."""
    dtype = col.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return pd.api.types.is_string_dtype(dtype.categories.dtype)
    return isinstance(dtype, pd.StringDtype)


def _blank_text(col: pd.Series) -> np.ndarray:
    """Missing or all-whitespace values (a categorical's categories are looked at once each)."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return _each_distinct(col, clean_text).isna().to_numpy(dtype=bool)
    return (col.isna() | (col.str.strip() == "")).to_numpy(dtype=bool)


def clean_text(s: pd.Series) -> pd.Series:
    """Trimmed text of any series; empty text is missing.

    Text that is tidy already (``_tidy``: the usual export) comes back as it is, uncopied.
    """
    if not isinstance(s.dtype, pd.StringDtype):
        s = s.astype("str")
    if s.dtype.storage == "pyarrow" and _tidy(s):
        return s
    s = s.str.strip()
    return s.mask(s == "")


#: Bytes that cannot begin or end a value trimming would change: printable ASCII, not space.
_PRINTABLE = (0x21, 0x7E)


def _tidy(s: pd.Series) -> bool:
    """True when no value of Arrow-backed text ``s`` is empty or begins or ends with a byte
    outside ``_PRINTABLE`` (whitespace, control, or any non-ASCII character); False when
    unsure. It looks at two bytes a value in Arrow's buffers, where trimming and masking
    would make two copies of the column."""
    import pyarrow as pa

    try:
        chunks = s.array.__arrow_array__().chunks
    except (AttributeError, TypeError, pa.ArrowException):
        return False
    lo, hi = _PRINTABLE
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        if pa.types.is_large_string(chunk.type):
            width = np.int64
        elif pa.types.is_string(chunk.type):
            width = np.int32
        else:
            return False
        _, offset_buffer, data_buffer = chunk.buffers()
        offsets = np.frombuffer(offset_buffer, dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]
        starts, ends = offsets[:-1], offsets[1:]
        filled = ends > starts
        if chunk.null_count:
            present = chunk.is_valid().to_numpy(zero_copy_only=False)
            if (present & ~filled).any():
                return False
            starts, ends = starts[filled], ends[filled]
        elif not filled.all():
            return False
        if len(starts) == 0:
            continue
        data = np.frombuffer(data_buffer, dtype=np.uint8)
        first, last = data[starts], data[ends - 1]
        if ((first < lo) | (first > hi) | (last < lo) | (last > hi)).any():
            return False
    return True


def _codes_and_distinct(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """Each row's code (-1: missing) and the distinct values the codes point to: a
    categorical's own, else pandas' factorisation."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return s.cat.codes.to_numpy(), pd.Series(s.cat.categories)
    codes, uniques = pd.factorize(s)
    return codes, pd.Series(uniques, dtype=s.dtype if len(uniques) == 0 else None)


def _each_distinct(s: pd.Series, work: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``work(s)``, computed on the distinct values of ``s`` only: rows take theirs by code
    (missing stays missing)."""
    codes, distinct = _codes_and_distinct(s)
    return pd.Series(work(distinct).array.take(codes, allow_fill=True), index=s.index, name=s.name)


def clean_category(s: pd.Series) -> pd.Series:
    """``clean_text(s).str.lower()``, cleaning each distinct value once.

    A category column holds a handful of values over millions of rows (and arrives
    as a pandas categorical when read from Parquet with a dictionary).
    """
    return _each_distinct(s, _category_text)


def _category_text(distinct: pd.Series) -> pd.Series:
    """A category's normal form: trimmed, lower-cased, empty as missing."""
    return clean_text(distinct).str.lower()


def coded_category(s: pd.Series) -> pd.Series:
    """``clean_category(s)`` as a pandas categorical of the cleaned values: rows keep codes,
    no text is made per row.

    Values that clean to the same text share a category; values that clean to nothing are
    missing. The categories are sorted, so every format and order of a file gives one frame.
    """
    codes, distinct = _codes_and_distinct(s)
    cleaned = _category_text(distinct) if len(distinct) else pd.Series([], dtype="str")
    merged, categories = pd.factorize(cleaned, sort=True)  # missing -> -1; sorted, whatever the file's order
    width = np.int8 if len(categories) < 127 else np.int16 if len(categories) < 32767 else np.int32
    recode = np.append(merged, -1).astype(width)  # a row's -1 (missing) takes the last entry
    values = pd.Categorical.from_codes(recode[codes], dtype=pd.CategoricalDtype(pd.Index(categories, dtype="str")))
    return pd.Series(values, index=s.index, name=s.name)


def _matches(text: pd.Series, pattern: str) -> pd.Series:
    """Boolean mask of ``text`` matching ``pattern`` (RE2 via pyarrow; missing -> False)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    hits = pc.match_substring_regex(pa.array(text, type=pa.string()), pattern)
    mask = hits.fill_null(False).to_numpy(zero_copy_only=False)
    return pd.Series(mask, index=text.index)


def _coerce(s: pd.Series, column: Column) -> tuple[pd.Series, list[tuple[str, pd.Series]]]:
    """Convert one column; return the values and (rule, failing-row mask) pairs."""
    kind = column.kind
    if kind == "string":
        return clean_text(s), []
    if kind == "category":
        return (coded_category(s) if column.coded else clean_category(s)), []
    if kind == "int":
        return _to_int(s)
    if kind == "bool":
        return _to_bool(s)
    if kind == "date":
        return _to_date(s)
    if kind == "timestamp":
        return _to_timestamp(s)
    raise ValueError(f"unknown kind {kind!r}")


def _to_int(s: pd.Series) -> tuple[pd.Series, list]:
    if pd.api.types.is_integer_dtype(s) and not pd.api.types.is_bool_dtype(s):
        return s.astype("Int64"), []
    if pd.api.types.is_float_dtype(s):
        x = s.astype("float64")
        whole = np.isfinite(x) & (np.floor(x) == x) & (x.abs() < 1e18)
        bad = x.notna() & ~whole
        return x.where(whole).astype("Int64"), [(RULE_INTEGER, bad)]
    text = clean_text(s)
    ok = _matches(text, _INTEGER_TEXT)
    digits = text.where(ok).str.replace(r"\.0*$", "", regex=True)
    values = pd.to_numeric(digits, errors="coerce").astype("Int64")
    return values, [(RULE_INTEGER, text.notna() & ~ok)]


def _to_bool(s: pd.Series) -> tuple[pd.Series, list]:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean"), []
    if pd.api.types.is_numeric_dtype(s):
        x = s.astype("Float64")
        values = pd.Series(pd.array([pd.NA] * len(s), dtype="boolean"), index=s.index)
        values[(x == 1).fillna(False)] = True
        values[(x == 0).fillna(False)] = False
        return values, [(RULE_BOOLEAN, x.notna() & values.isna())]
    low = clean_text(s).str.lower()
    true, false = low.isin(contract.TRUE_SPELLINGS), low.isin(contract.FALSE_SPELLINGS)
    values = pd.Series(pd.array([pd.NA] * len(s), dtype="boolean"), index=s.index)
    values[true] = True
    values[false] = False
    return values, [(RULE_BOOLEAN, low.notna() & ~true & ~false)]


def _out_of_range(x: pd.Series) -> pd.Series:
    """Present values of datetime ``x`` outside ``DATE_BOUNDS`` (missing ones compare False)."""
    naive = x.dt.tz_convert(None) if x.dt.tz is not None else x  # UTC, as the bounds are taken
    values = naive.to_numpy()
    lo, hi = (bound.to_datetime64() for bound in DATE_BOUNDS)
    return pd.Series((values < lo) | (values >= hi), index=x.index)


def _to_date(s: pd.Series) -> tuple[pd.Series, list]:
    if pd.api.types.is_datetime64_any_dtype(s):
        x = s
        if x.dt.tz is not None:
            x = x.dt.tz_convert(contract.LOCAL_TZ).dt.tz_localize(None)
        x = x.dt.normalize()
        unparseable = pd.Series(False, index=s.index)
    else:
        text = clean_text(s)
        x = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        unparseable = text.notna() & x.isna()
    out_of_range = _out_of_range(x)
    x = x.where(~out_of_range).astype("datetime64[ns]")
    return x, [(RULE_DATE, unparseable), (RULE_DATE_RANGE, out_of_range)]


def _parse_with_offset(text: pd.Series) -> pd.Series:
    """ISO 8601 with an offset -> UTC; a lower-case ``z`` or a space before the
    offset is tidied and retried, only on the rows that failed (usually none)."""
    aware = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
    retry = aware.isna()
    if retry.any():
        tidy = (text[retry].str.replace(r"\s*[zZ]$", "Z", regex=True)
                .str.replace(r"\s+([+-]\d\d(?::?\d\d)?)$", r"\1", regex=True))
        aware[retry] = pd.to_datetime(tidy, format="ISO8601", utc=True, errors="coerce")
    return aware


def _parse_local(text: pd.Series) -> pd.Series:
    return pd.to_datetime(text, format="ISO8601", errors="coerce")


def _to_timestamp(s: pd.Series) -> tuple[pd.Series, list]:
    if pd.api.types.is_datetime64_any_dtype(s):
        aware = s.dt.tz is not None
        x = s.dt.tz_convert("UTC") if aware else s
        out_of_range = _out_of_range(x)
        if out_of_range.any():  # (masked before localising: a time out of range may not localise)
            x = x.where(~out_of_range)
        x = x if aware else to_utc(x)
        return x.astype("datetime64[ns, UTC]"), [(RULE_DATE_RANGE, out_of_range)]

    text = clean_text(s)
    shaped = _matches(text, _STARTS_WITH_DATE)
    has_offset = shaped & _matches(text, _OFFSET_AT_END)
    naive_rows = shaped & ~has_offset

    utc_ns = np.full(len(s), np.datetime64("NaT"), dtype="datetime64[ns]")
    out_of_range = np.zeros(len(s), dtype=bool)
    for rows, parse in ((has_offset, _parse_with_offset), (naive_rows, _parse_local)):
        where = np.flatnonzero(rows.to_numpy())
        if len(where):
            parsed = parse(text.iloc[where])
            oor = _out_of_range(parsed).to_numpy()
            out_of_range[where[oor]] = True
            if parsed.dt.tz is None:
                parsed = to_utc(parsed.where(~oor))
            ok = parsed.where(~oor).dt.tz_convert("UTC").dt.tz_localize(None)
            utc_ns[where] = ok.astype("datetime64[ns]").to_numpy()
    result = pd.Series(utc_ns, index=s.index).dt.tz_localize("UTC")
    out_of_range = pd.Series(out_of_range, index=s.index)
    unparseable = text.notna() & result.isna() & ~out_of_range
    return result, [(RULE_TIMESTAMP, unparseable), (RULE_DATE_RANGE, out_of_range)]

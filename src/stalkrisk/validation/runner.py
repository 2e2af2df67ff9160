"""Great Expectations asked about each value once: the suites run over the tables, failures per row.

A rule on single values (not null, in a set, between, a pattern) depends on the value alone, so GX
is asked about each column's distinct values and its verdicts are mapped back to every row; the
runner remembers verdicts across the parts of a run. Every verdict is still GX's.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pyarrow as pa

from stalkrisk.text import clip
from stalkrisk.data import contract, ids, readers
from stalkrisk.data.readers import LINE, InputError

FAILURE_COLUMNS = readers.PROBLEM_COLUMNS + ("message",)


RULE_NAMES_A_CASE = "case_id_names_a_case"


_DATE_TEXT = f"{readers.DATE_BOUNDS[0]:%Y-%m-%d} to {readers.DATE_BOUNDS[1]:%Y-%m-%d}"


_MESSAGES = {
    "required": "{column} is missing",
    "allowed_value": "{column} '{value}' is not an allowed value",
    "unique": "{column} '{value}' appears more than once",
    "pattern": "{column} '{value}' is not 1-64 characters of A-Z a-z 0-9 _ . : -",
    readers.RULE_DATE: "{column} '{value}' is not a date written YYYY-MM-DD",
    readers.RULE_TIMESTAMP: "{column} '{value}' is not an ISO 8601 date or time",
    readers.RULE_INTEGER: "{column} '{value}' is not a whole number",
    readers.RULE_BOOLEAN: "{column} '{value}' is not true/false, yes/no or 1/0",
    readers.RULE_DATE_RANGE: "{column} '{value}' is outside " + _DATE_TEXT,
    RULE_NAMES_A_CASE: "case_id '{value}' names no case in the cases table",
}


@dataclass(frozen=True)
class SuiteFile:
    table: str
    path: Path
    spec: dict


def run_suites(frames: dict[str, pd.DataFrame], suites: list[SuiteFile]) -> pd.DataFrame:
    """Run the GX suites over the frames (ephemeral context); one row per failing cell."""
    return SuiteRunner(suites).run(frames)


class SuiteRunner:
    """The GX suites, built once into an ephemeral context and run over many frames.

    GX fingerprints (hashes) the whole frame each time it fetches a batch, which
    costs more than the checks themselves; so each table is validated once, with
    the expectations of all its suites combined, on only the columns they name.
    Building the context costs about half a second, so a chunked run builds it
    once and validates every chunk with the same definitions.

    Rules on single values (not null, in a set, between, matching a pattern) are
    asked of each column's distinct values, and GX's verdict on a value is
    remembered for the frames that follow: the parts of one caseload repeat their
    values, so after the first part GX is asked only about values it has not
    judged. Verdicts are shared by columns under the same rules (``case_id`` of
    cases and of events). A column with more than ``MEMO_LIMIT`` distinct values
    (an id) is remembered only within one frame, so memory stays flat.
    """

    def __init__(self, suites: list[SuiteFile]):
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        # GX sets this module's logger to INFO when imported; its temporary-folder notes are not for users.
        logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
        self._gx = gx
        self._suites = suites
        self._specs: dict[str, list[dict]] = {}
        for table in contract.TABLES:
            specs = []
            for i, suite_file in enumerate(self.suites_of(table)):
                try:  # build each suite alone first, so an error names its file
                    gx.ExpectationSuite(**suite_file.spec)
                except Exception as e:  # GX raises many types for a malformed suite
                    raise InputError(suite_file.path,
                                     f"not a valid expectation suite ({_first_line(e)})") from None
                for e in suite_file.spec["expectations"]:
                    specs.append({**e, "meta": {**(e.get("meta") or {}), _SOURCE: i, _ORDER: len(specs)}})
            self._specs[table] = specs
        self._context = gx.get_context(mode="ephemeral")
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        self._source = self._context.data_sources.add_pandas("stalkrisk")
        self._definitions: dict[tuple, object] = {}
        self._memos: dict[tuple, _ColumnMemo] = {}  # by the rules a column is under

    def suites_of(self, table: str) -> list[SuiteFile]:
        return [s for s in self._suites if s.table == table]

    def run(self, frames: dict[str, pd.DataFrame],
            same_values: dict[tuple[str, str], tuple[tuple[str, str], np.ndarray]] | None = None) -> pd.DataFrame:
        """One row per failing cell of ``frames`` (table name -> normalised frame).

        ``same_values`` may say, for a column (table, column), which of its rows hold a value
        of another column, validated before it in this run (events' case ids: the rows naming
        a case). When both columns are under the same single-value rules, GX's verdicts on the
        other column's values hold for those rows, and only the other rows' values are asked
        about, which costs less than finding the distinct values again.
        """
        parts = []
        for memo in self._memos.values():
            if not memo.open:
                memo.forget()  # ids are remembered within one frame only
        memo_of: dict[tuple[str, str], _ColumnMemo] = {}  # the memo each column used in this run
        for table in contract.TABLES:
            specs, mine = self._specs[table], self.suites_of(table)
            if not specs or table not in frames:  # (orders: an optional table, validated on its own)
                continue
            frame = frames[table]
            by_value = [e for e in specs if _value_level(e, frame)]
            by_repeat = [e for e in specs if _repeat_level(e, frame)]
            whole = [e for e in specs if not _value_level(e, frame) and not _repeat_level(e, frame)]
            found = self._value_failures(table, frame, by_value, same_values or {}, memo_of)
            for kind, group in (("repeats", by_repeat), ("rows", whole)):
                if not group:
                    continue
                batch = _repeated_rows(frame, group) if kind == "repeats" else _lean(frame, group)
                if kind == "repeats" and batch.empty:
                    continue  # no value repeats, so no uniqueness rule can fail: nothing to ask GX
                for r in self._ask(table, kind, group, batch):
                    meta = r.expectation_config.meta
                    found[meta[_ORDER]] = _expectation_failures(mine[meta[_SOURCE]], frame, r)
            parts += [found[k] for k in sorted(found)]  # the suites' own order, as written
        parts = [p for p in parts if len(p)]
        return pd.concat(parts, ignore_index=True) if parts else _empty_failures()

    def _ask(self, table: str, kind: str, group: list[dict], batch: pd.DataFrame) -> list:
        """GX's results for the expectations ``group`` on ``batch``, failing rows named by ``_line``."""
        run = self._definition(table, kind, group).run(
            batch_parameters={"dataframe": batch},
            result_format={"result_format": "COMPLETE", "unexpected_index_column_names": [LINE]},
        )
        for r in run.results:
            meta = r.expectation_config.meta
            _raise_if_not_run(self.suites_of(table)[meta[_SOURCE]], r)
        return run.results

    def _value_failures(self, table: str, frame: pd.DataFrame, specs: list[dict],
                        same_values: dict, memo_of: dict[tuple[str, str], _ColumnMemo]) -> dict[int, pd.DataFrame]:
        """Failures of the single-value rules ``specs``: GX judges the values not judged
        before under the same rules; verdicts map back to every row holding a failing value.
        ``same_values`` is ``run``'s; ``memo_of`` (filled here) names each column's memo."""
        by_column: dict[str, list[dict]] = {}
        for e in specs:
            by_column.setdefault(e["kwargs"]["column"], []).append(e)
        memos = {c: self._memos.setdefault(tuple(sorted({_rule(e) for e in rules})), _ColumnMemo())
                 for c, rules in by_column.items()}
        judged_rows = {}
        for c in by_column:
            source, rows = same_values.get((table, c), (None, None))
            if source is not None and memo_of.get(source) is memos[c]:
                judged_rows[c] = rows
            memo_of[(table, c)] = memos[c]
        asked = _unjudged(frame, by_column, memos, judged_rows)
        self._judge_values(table, by_column, memos, asked)
        suites = self.suites_of(table)
        found = {}
        for column, rules in by_column.items():
            for e in rules:
                rows = _rows_holding(frame, column, memos[column].failing.get(_rule(e), set()))
                found[e["meta"][_ORDER]] = _expectation_failures(suites[e["meta"][_SOURCE]], frame, _verdict(e, rows))
        for memo in memos.values():
            if memo.open and len(memo.seen) > MEMO_LIMIT:
                memo.open = False
        return found

    def _judge_values(self, table: str, by_column: dict[str, list[dict]], memos: dict[str, _ColumnMemo],
                      asked: dict[str, tuple[pd.Series, list]]) -> None:
        """Ask GX about the ``asked`` values of each column; record the keys each rule fails
        in the column's memo, and every asked key as judged."""
        few = {c: a for c, a in asked.items() if len(a[1]) <= MEMO_LIMIT}
        many = {c: a for c, a in asked.items() if len(a[1]) > MEMO_LIMIT}
        for batch in (few, many):  # two batches, so no column is padded to an id column's length
            if not batch:
                continue
            group = [e for column in batch for e in by_column[column]]
            spec_of = {e["meta"][_ORDER]: e for e in group}
            for r in self._ask(table, "values", group, _padded({c: v for c, (v, _) in batch.items()})):
                column = r.expectation_config.kwargs["column"]
                keys = asked[column][1]
                rows = [] if r.success else (r.result or {}).get("unexpected_index_list") or []
                # rows past a column's own values are padding: repeats of its first value
                lines = (int(d[LINE]) for d in rows)
                failing = memos[column].failing.setdefault(_rule(spec_of[r.expectation_config.meta[_ORDER]]), set())
                failing.update(keys[i] if i < len(keys) else keys[0] for i in lines)
        for column, (_, keys) in asked.items():
            memos[column].seen.update(keys)

    def _definition(self, table: str, kind: str, group: list[dict]):
        key = (table, kind, tuple(e["meta"][_ORDER] for e in group))
        if key not in self._definitions:
            gx = self._gx
            name = f"{table}_{kind}_{len(self._definitions)}"
            suite = self._context.suites.add(gx.ExpectationSuite(name=name, expectations=group))
            batch_def = self._source.add_dataframe_asset(name).add_batch_definition_whole_dataframe("all")
            self._definitions[key] = gx.ValidationDefinition(data=batch_def, suite=suite, name=name)
        return self._definitions[key]


_SOURCE = "stalkrisk_suite_index"


_ORDER = "stalkrisk_expectation_index"


#: Expectations whose verdict on a row depends on that row's value in one column alone.
#: Great Expectations runs these over each column's distinct values (a caseload repeats
#: values heavily), and the verdicts are mapped back to every row holding a failing value.
_VALUE_LEVEL = frozenset({
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_match_regex",
    "expect_column_values_to_be_between",
})


def _value_level(spec: dict, frame: pd.DataFrame) -> bool:
    kwargs = spec.get("kwargs") or {}
    return (spec.get("type") in _VALUE_LEVEL and "column" in kwargs and kwargs["column"] in frame.columns
            and not kwargs.get("mostly"))


def _repeat_level(spec: dict, frame: pd.DataFrame) -> bool:
    kwargs = spec.get("kwargs") or {}
    return (spec.get("type") == "expect_column_values_to_be_unique" and "column" in kwargs
            and kwargs["column"] in frame.columns and not kwargs.get("mostly"))


def _repeated_rows(frame: pd.DataFrame, specs: list[dict]) -> pd.DataFrame:
    """The rows whose value in a column checked for uniqueness is present and repeated.

    Uniqueness fails exactly these rows, so Great Expectations reaches the same verdicts
    on them as on the whole table (every row sharing a value is kept), without hashing
    and counting a million rows that cannot fail.
    """
    columns = list(dict.fromkeys(e["kwargs"]["column"] for e in specs))
    found = np.zeros(len(frame), dtype=bool)
    for name in columns:
        col = frame[name]
        if isinstance(col.dtype, pd.StringDtype) and col.dtype.storage == "pyarrow":
            found |= ids.repeated(pa.array(col.array))  # text: hashed in Arrow, no Python object per id
        else:
            found |= (col.notna() & col.duplicated(keep=False)).to_numpy(dtype=bool)
    return frame.loc[found, columns + [LINE]].reset_index(drop=True)


#: Distinct values of a column whose verdicts a runner remembers across frames.
MEMO_LIMIT = 4096


_NOT_NULL = "expect_column_values_to_not_be_null"


_NULL = object()  # memo key: a missing value


_PRESENT = object()  # memo key: any present value, for a column checked only for presence


@dataclass
class _ColumnMemo:
    """GX's verdicts on the values of the columns under one set of rules: every key judged,
    and the failing keys per rule. Once it outgrows ``MEMO_LIMIT`` it is no longer open:
    the runner empties it before each frame."""

    seen: set = field(default_factory=set)
    failing: dict[tuple, set] = field(default_factory=dict)
    open: bool = True

    def forget(self) -> None:
        self.seen, self.failing = set(), {}


def _rule(spec: dict) -> tuple[str, str]:
    """What a single-value expectation asks of a value, whatever column it names."""
    kwargs = {k: v for k, v in (spec.get("kwargs") or {}).items() if k != "column"}
    return spec["type"], json.dumps(kwargs, sort_keys=True, default=str)


def _column_values(col: pd.Series, presence_only: bool) -> tuple[pd.Series, list]:
    """The values of ``col`` to ask GX about, and their memo keys.

    Each distinct value once, a missing value as ``_NULL``. A column checked only for
    presence keeps one present value and one missing value: the verdict depends on nothing else.
    """
    if presence_only:
        values = pd.concat([col.dropna().head(1), col[col.isna()].head(1)])
        return values, [_NULL if missing else _PRESENT for missing in values.isna().tolist()]
    values = pd.Series(col.unique(), name=col.name)  # in order of appearance, like drop_duplicates
    if isinstance(values.dtype, pd.CategoricalDtype):  # a coded column: GX is asked about text
        values = values.astype("str")
    return values, [_NULL if missing else v for v, missing in zip(values.tolist(), values.isna().tolist())]


def _unjudged(frame: pd.DataFrame, by_column: dict[str, list[dict]], memos: dict[str, _ColumnMemo],
              judged_rows: dict[str, np.ndarray] | None = None) -> dict[str, tuple[pd.Series, list]]:
    """Per column of ``frame``, its values (and memo keys) that its memo has not judged yet;
    columns with none left out. ``judged_rows`` marks, per column, rows whose values the
    memo is known to hold: they are not looked at."""
    asked = {}
    for column, rules in by_column.items():
        col = frame[column]
        if column in (judged_rows or {}):
            col = col.iloc[np.flatnonzero(~judged_rows[column])]
        values, keys = _column_values(col, presence_only=all(e["type"] == _NOT_NULL for e in rules))
        seen = memos[column].seen
        fresh = np.array([k not in seen for k in keys], dtype=bool) if seen else np.ones(len(keys), dtype=bool)
        if fresh.any():
            asked[column] = (values[fresh].reset_index(drop=True), [k for k, f in zip(keys, fresh) if f])
    return asked


def _padded(columns: dict[str, pd.Series]) -> pd.DataFrame:
    """One frame of the columns' values, shorter columns padded by repeating their own first
    value (which changes no verdict); ``_line`` numbers the rows."""
    length = max((len(v) for v in columns.values()), default=0)
    out = {}
    for name, values in columns.items():
        pad = length - len(values)
        out[name] = pd.concat([values, values.iloc[[0] * pad]], ignore_index=True) if pad else values
    batch = pd.DataFrame(out)
    batch[LINE] = pd.array(np.arange(len(batch)), dtype="Int64")
    return batch


def _rows_holding(frame: pd.DataFrame, column: str, keys: set) -> list[dict]:
    """``{_line, column}`` for every row of ``frame`` whose value in ``column`` has a key in ``keys``.

    ``_PRESENT`` is never a failing key: it stands for the values of a column checked
    only for presence, and a present value cannot fail that check.
    """
    if not keys:
        return []
    col = frame[column]
    mask = np.zeros(len(col), dtype=bool)
    plain = [k for k in keys if k is not _NULL]
    if plain:
        mask |= col.isin(plain).to_numpy(dtype=bool)
    if _NULL in keys:
        mask |= col.isna().to_numpy(dtype=bool)
    hit = frame.loc[mask, [LINE, column]]
    return [{LINE: line, column: value} for line, value in zip(hit[LINE].tolist(), hit[column].tolist())]


def _verdict(spec: dict, rows: list[dict]) -> SimpleNamespace:
    """A GX-shaped result for expectation ``spec`` failing ``rows``."""
    config = SimpleNamespace(type=spec["type"], kwargs=spec["kwargs"], meta=spec.get("meta") or {},
                             notes=spec.get("notes"))
    return SimpleNamespace(expectation_config=config, success=not rows, exception_info=None,
                           result={"unexpected_index_list": rows})


def _lean(frame: pd.DataFrame, specs: list[dict]) -> pd.DataFrame:
    """The columns the expectations name, plus ``_line``; the whole frame if unsure."""
    wanted: list[str] = []
    for e in specs:
        columns = _columns_of(e.get("kwargs") or {})
        if not columns:
            return frame
        wanted += [c for c in columns if c not in wanted]
    if any(c not in frame.columns for c in wanted):
        return frame  # let GX report the missing column
    return frame[wanted + [LINE]]


_FAILURE_DTYPES = {"table": "str", "line": "Int64", "case_id": "str", "column": "str",
                   "value": "str", "rule": "str", "message": "str"}


_EMPTY_FAILURES = pd.DataFrame({c: pd.Series(dtype=t) for c, t in _FAILURE_DTYPES.items()})


def _empty_failures() -> pd.DataFrame:
    return _EMPTY_FAILURES.copy()


def _raise_if_not_run(suite_file: SuiteFile, r) -> None:
    """An expectation GX could not run is a fault of its suite file: say which."""
    config = r.expectation_config
    columns = _columns_of(dict(config.kwargs))
    for info in _exceptions(r.exception_info):
        raise InputError(suite_file.path,
                         f"{config.type} on {', '.join(columns) or 'the table'} could not run: "
                         f"{_first_line(info.get('exception_message'))}",
                         column=columns[0] if columns else None)


def _expectation_failures(suite_file: SuiteFile, frame: pd.DataFrame, r) -> pd.DataFrame:
    """One failure row per row GX named in result ``r`` (one row for a table-level failure)."""
    config = r.expectation_config
    kwargs = dict(config.kwargs)
    columns = _columns_of(kwargs)
    if r.success:
        return _empty_failures()
    meta = {k: v for k, v in (config.meta or {}).items() if k not in (_SOURCE, _ORDER)}
    config = SimpleNamespace(type=config.type, kwargs=kwargs, meta=meta, notes=config.notes)
    rule = meta.get("rule") or config.type
    rows = (r.result or {}).get("unexpected_index_list") or []
    column = ",".join(columns)
    if not rows:  # a table-level expectation: no row to name
        out = pd.DataFrame({"table": [suite_file.table], "line": [pd.NA], "case_id": [None],
                            "column": [column], "value": [None], "rule": [rule]})
    else:
        lines = pd.array([d[LINE] for d in rows], dtype="Int64")
        values = [_join(d, columns) for d in rows]
        case_of_line = pd.Series(frame["case_id"].to_numpy(), index=frame[LINE].to_numpy())
        out = pd.DataFrame({"table": suite_file.table, "line": lines,
                            "case_id": case_of_line.reindex(np.asarray(lines, dtype=object)).to_numpy(),
                            "column": column, "value": values, "rule": rule})
    out["message"] = _messages(out, config=config)
    return out.astype(_FAILURE_DTYPES)


def _exceptions(info: dict | None) -> list[dict]:
    """GX reports an exception either flat or keyed by metric id."""
    if not info:
        return []
    if "raised_exception" in info:
        return [info] if info["raised_exception"] else []
    return [v for v in info.values() if isinstance(v, dict) and v.get("raised_exception")]


def _columns_of(kwargs: dict) -> list[str]:
    if "column" in kwargs:
        return [kwargs["column"]]
    if "column_A" in kwargs:
        return [kwargs["column_A"], kwargs["column_B"]]
    return list(kwargs.get("column_list") or [])


def _join(d: dict, columns: list[str]) -> str | None:
    vals = [d.get(c) for c in columns]
    vals = [None if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT
            else str(v) for v in vals]
    if all(v is None for v in vals):
        return None
    return ",".join("" if v is None else v for v in vals)


def _messages(failures: pd.DataFrame, config=None) -> list[str]:
    """Plain-English message per failure row, e.g. "behaviour 'x' is not an allowed value"."""
    out = []
    for column, value, rule in zip(failures["column"], failures["value"], failures["rule"]):
        value = "" if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) else value
        value = clip(value) if isinstance(value, str) else value  # a 1 MB value is echoed as its start and a count
        if rule == "in_range" and config is not None:
            lo, hi = config.kwargs.get("min_value"), config.kwargs.get("max_value")
            bounds = (f"between {lo:g} and {hi:g}" if lo is not None and hi is not None
                      else f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
            out.append(f"{column} {value} is not {bounds}")
        elif config is not None and (config.meta or {}).get("message"):
            out.append(str(config.meta["message"]).format(column=column, value=value))
        elif rule in _MESSAGES:
            out.append(_MESSAGES[rule].format(column=column, value=value))
        else:
            notes = f" ({config.notes})" if config is not None and config.notes else ""
            out.append(f"{column} '{value}' breaks {rule}{notes}")
    return out


def _first_line(e: object) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__

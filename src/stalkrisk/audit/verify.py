"""``stalkrisk audit verify``: reproduce a scoring run byte for byte, or say what differs.

The design promises that the same inputs and model give byte-identical outputs and that
``audit.json`` records everything needed to re-run. This checks the promise against the
files as they are now: the inputs' and model's SHA-256 against the record, the outputs'
SHA-256 against the record (a file edited after the run is named), then a fresh run of
the same scoring function with the recorded config into a temporary folder, compared
byte for byte with the folder. When bytes differ, both frames are read and diffed, so
the auditor sees which cases and columns moved, not just two digests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from stalkrisk.audit.rescore import load_recorded_model, read_audit_record
from stalkrisk.defaults import DEFAULT_CHUNK_SIZE
from stalkrisk.io_utils import sha256_file
from stalkrisk.outputs.folder import private_folder
from stalkrisk.outputs.reader import read_output
from stalkrisk.outputs.schema import AUDIT_FILE, OPTIONAL_TABLE_FILES, TABLE_FILES
from stalkrisk.text import clip

VERIFY_TAG = "stalkrisk-verify"

MAX_LISTED = 10
_MISSING = "\x00missing"


@dataclass
class FrameDiff:
    """How two tables of one output differ: rows by case, and the columns that moved."""

    file: str
    rows_recorded: int
    rows_rerun: int
    cases: list[str] = field(default_factory=list)  # case ids of differing rows (all of them)
    columns: list[str] = field(default_factory=list)
    note: str = ""

    def describe(self, limit: int = MAX_LISTED) -> str:
        if self.note:
            return f"{self.file}: {self.note}"
        shown = ", ".join(self.cases[:limit]) + (f" and {len(self.cases) - limit} more" if len(self.cases) > limit else "")
        return (f"{self.file}: {len(self.cases)} case(s) differ in column(s) {', '.join(self.columns)}: {shown}")


@dataclass
class VerifyResult:
    """The outcome: ``match`` only when every check held and every byte agreed."""

    out_dir: Path
    notes: list[str]  # informational (alias moved, package versions differ)
    problems: list[str]  # each a failed check, naming the file
    diffs: list[FrameDiff]
    compared: list[str]  # files compared byte for byte

    @property
    def match(self) -> bool:
        return not self.problems and not self.diffs


# -- pure comparisons --------------------------------------------------------------------


def _cell_differs(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Elementwise: values differ (missing equals missing; floats compared exactly)."""
    na_a, na_b = a.isna().to_numpy(), b.isna().to_numpy()
    va, vb = a.astype(object).to_numpy(copy=True), b.astype(object).to_numpy(copy=True)
    va[na_a], vb[na_b] = _MISSING, _MISSING
    return np.asarray(va != vb, dtype=bool)


def diff_frames(name: str, recorded: pd.DataFrame, rerun: pd.DataFrame, key: str = "case_id") -> FrameDiff:
    """Row by row (both are in input order), the cases and columns whose values differ."""
    out = FrameDiff(name, len(recorded), len(rerun))
    if list(recorded.columns) != list(rerun.columns):
        missing = [c for c in rerun.columns if c not in recorded.columns]
        extra = [c for c in recorded.columns if c not in rerun.columns]
        out.note = f"columns differ (missing {missing}, unexpected {extra})"
        out.columns = missing + extra
        return out
    if len(recorded) != len(rerun):
        ids_a, ids_b = set(recorded[key].astype(str)), set(rerun[key].astype(str))
        only = sorted(ids_a ^ ids_b)
        out.cases = only
        out.note = (f"{len(recorded)} rows recorded, {len(rerun)} on re-run; cases in only one: "
                    + (", ".join(only[:MAX_LISTED]) or "none (rows repeated or dropped)"))
        return out
    differs = np.zeros(len(recorded), dtype=bool)
    for column in recorded.columns:
        d = _cell_differs(recorded[column].reset_index(drop=True), rerun[column].reset_index(drop=True))
        if d.any():
            out.columns.append(column)
            differs |= d
    ids = rerun[key].astype(str).to_numpy()[differs]
    out.cases = list(dict.fromkeys(ids.tolist()))
    return out


def _tree_files(root: Path) -> dict[str, Path]:
    """Every entry under ``root`` that is not a folder (files, symlinks, anything else), by relative name."""
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*"))
            if p.is_symlink() or not p.is_dir()}


def diff_review(recorded: Path, rerun: Path) -> list[str]:
    """Relative names of review files that are missing, extra or differ in bytes."""
    return diff_tree(recorded, rerun)


def diff_tree(recorded: Path, rerun: Path, skip: frozenset[str] = frozenset()) -> list[str]:
    """Relative names of files missing from the folder, extra in it, or differing in bytes."""
    a = {k: v for k, v in _tree_files(recorded).items() if k not in skip}
    b = {k: v for k, v in _tree_files(rerun).items() if k not in skip}
    out = [f"{k} (missing from the folder)" for k in sorted(set(b) - set(a))]
    out += [f"{k} (extra: not produced by the re-run)" for k in sorted(set(a) - set(b))]
    out += [k for k in sorted(set(a) & set(b))
            if a[k].is_symlink() or not a[k].is_file() or a[k].read_bytes() != b[k].read_bytes()]
    return out


#: Parts of audit.json a faithful re-run may change, and why:
#: the clock (``started_at``, ``finished_at``); the installed versions (``packages``,
#: ``stalkrisk_version``: reported as a note, since a byte-identical re-run under newer versions
#: is the reproducibility being checked); ``engine`` (a Spark run is re-run on one machine, and
#: the outputs are byte-identical by design). Everything else must be equal: model, inputs,
#: config, counts, warnings, outputs.
IGNORED_KEYS = ("started_at", "finished_at", "packages", "stalkrisk_version", "engine")


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flat(v, f"{prefix}.{k}" if prefix else str(k)))
        return out or {prefix: {}}
    return {prefix: value}


def diff_records(recorded: dict[str, Any], rerun: dict[str, Any], ignore: tuple[str, ...] = IGNORED_KEYS) -> list[str]:
    """The keys of audit.json whose values differ from the re-run's (``counts.flagged: 29 recorded, 42 on re-run``)."""
    def keep(key: str) -> bool:
        return not any(key == i or key.startswith(i + ".") for i in ignore)

    a = {k: v for k, v in _flat(recorded).items() if keep(k)}
    b = {k: v for k, v in _flat(rerun).items() if keep(k)}
    out = []
    for key in sorted(set(a) | set(b)):
        if key not in a:
            out.append(f"{key}: missing from audit.json (the re-run records {clip(repr(b[key]), 80)})")
        elif key not in b:
            out.append(f"{key}: in audit.json ({clip(repr(a[key]), 80)}) but not in the re-run's record")
        elif a[key] != b[key]:
            out.append(f"{key}: {clip(repr(a[key]), 80)} recorded, {clip(repr(b[key]), 80)} on re-run")
    return out


# -- the check -------------------------------------------------------------------------


def _check_inputs(record: dict[str, Any]) -> tuple[list[str], dict[str, Path]]:
    problems, paths = [], {}
    for name in ("cases", "events", "orders", "history", "previous"):
        if name in ("orders", "history", "previous") and name not in record["inputs"]:
            continue  # the optional tables (contract v2), the run compared with: only when given
        spec = record["inputs"].get(name) or {}
        path = Path(str(spec.get("path", "")))
        paths[name] = path
        if name == "previous":  # a folder: its audit.json stands for it (it names its outputs' SHA-256)
            path = path / AUDIT_FILE
        if not path.is_file():
            problems.append(f"input {name} file {path} is missing")
        elif sha256_file(path) != spec.get("sha256"):
            problems.append(f"input {name} file {path} changed since the run (SHA-256 differs from audit.json)")
    return problems, paths


def _check_outputs(out_dir: Path, record: dict[str, Any]) -> list[str]:
    problems = []
    for name, digest in record["outputs"].items():
        path = out_dir / name
        if not path.is_file():
            problems.append(f"output {name} is missing from {out_dir}")
        elif sha256_file(path) != digest:
            problems.append(f"output {name} changed after the run (SHA-256 differs from audit.json)")
    return problems


def _package_notes(record: dict[str, Any]) -> list[str]:
    from stalkrisk.tracking.registry import package_versions

    then, now = record.get("packages", {}), package_versions()
    moved = [f"{k} {then[k]} -> {now.get(k, 'not installed')}" for k in sorted(then) if then[k] != now.get(k)]
    return [f"package versions differ from the run: {'; '.join(moved)}"] if moved else []


def verify(out_dir: str | Path, *, keep: str | Path | None = None) -> VerifyResult:
    """Check ``out_dir`` against its ``audit.json`` and a fresh re-run of the scoring.

    ``keep``: write the re-run there instead of a temporary folder (for inspection).
    """
    from stalkrisk.pipelines import score as score_pipeline

    out_dir = Path(out_dir)
    record = read_audit_record(out_dir)
    input_problems, inputs = _check_inputs(record)
    output_problems = _check_outputs(out_dir, record)
    loaded, notes = load_recorded_model(record)
    notes += _package_notes(record)
    problems = input_problems + output_problems
    recorded_digest = record["model"].get("artifact_sha256")
    if loaded.digest != recorded_digest:
        problems.append(f"model {loaded.uri}: its SHA-256 differs from the one in audit.json "
                        "(the model was changed or replaced)")
    result = VerifyResult(out_dir, notes, problems, [], [])
    if input_problems or loaded.digest != recorded_digest:
        result.notes.append("not re-run: the recorded inputs and model are needed to reproduce the outputs")
        return result

    config = record["config"]
    # The re-run holds case data: in a private folder beside the results (removed after, and by
    # the next verify if this one is killed), never in the system temp folder.
    with private_folder(out_dir, VERIFY_TAG) as tmp:
        rerun_dir = Path(keep) if keep is not None else Path(tmp) / "rerun"
        score_pipeline.run(
            inputs["cases"], inputs["events"], rerun_dir, model=loaded.uri,
            review=config.get("review", "flagged"), quiet=True, overwrite=keep is not None,
            chunk_size=int(config.get("chunk_size", DEFAULT_CHUNK_SIZE)), method=config.get("explain_method"),
            orders=inputs.get("orders"), history=inputs.get("history"), previous=inputs.get("previous"),
            review_cap=config.get("review_cap"),
        )
        rerun_record = read_audit_record(rerun_dir)
        ignore = IGNORED_KEYS + (("model.uri",) if loaded.uri != record["model"].get("uri") else ())
        changed = diff_records(record, rerun_record, ignore)
        if changed:
            listed = "; ".join(changed[:MAX_LISTED]) + (f" and {len(changed) - MAX_LISTED} more" if len(changed) > MAX_LISTED else "")
            result.problems.append(f"audit.json differs from the re-run's record: {listed}")
        result.compared.append(AUDIT_FILE)
        files = diff_tree(out_dir, rerun_dir, skip=frozenset({AUDIT_FILE}))
        tables = TABLE_FILES + OPTIONAL_TABLE_FILES
        whole = [f for f in files if not f.startswith("review/") and f.split(" (")[0] not in tables]
        if whole:
            listed = ", ".join(whole[:MAX_LISTED]) + (f" and {len(whole) - MAX_LISTED} more" if len(whole) > MAX_LISTED else "")
            result.problems.append(f"the folder's files differ from the re-run's: {listed}")
        for name in tables:
            if name in OPTIONAL_TABLE_FILES and not (out_dir / name).is_file() and not (rerun_dir / name).is_file():
                continue
            mine, theirs = out_dir / name, rerun_dir / name
            if not mine.is_file() or not theirs.is_file():
                if mine.is_file() != theirs.is_file():
                    result.problems.append(f"output {name} is {'missing from the folder' if theirs.is_file() else 'extra (not produced by the re-run)'}")
                continue
            result.compared.append(name)
            if mine.read_bytes() == theirs.read_bytes():
                continue
            diff = diff_frames(name, read_output(mine), read_output(theirs))
            if not diff.cases and not diff.columns and not diff.note:
                diff.note = "the bytes differ but every value is equal (file encoding or metadata)"
            result.diffs.append(diff)
        if (out_dir / "review").is_dir() or (rerun_dir / "review").is_dir():
            result.compared.append("review/")
            mine = out_dir / "review"
            if not mine.is_dir():
                result.problems.append("review/ pages are missing from the folder")
            else:
                changed = diff_review(mine, rerun_dir / "review")
                if changed:
                    listed = ", ".join(changed[:MAX_LISTED]) + (f" and {len(changed) - MAX_LISTED} more" if len(changed) > MAX_LISTED else "")
                    result.problems.append(f"review pages differ from the re-run: {listed}")
    return result


def format_verify(result: VerifyResult) -> str:
    """``MATCH`` (with the notes), or every failed check and differing case."""
    lines = [f"note: {n}" for n in result.notes]
    if result.match:
        lines.append(f"MATCH: {', '.join(result.compared)} reproduced byte for byte from the recorded inputs and model")
        return "\n".join(lines)
    lines.append("MISMATCH")
    lines += [f"  - {p}" for p in result.problems]
    lines += [f"  - {d.describe()}" for d in result.diffs]
    return "\n".join(lines)

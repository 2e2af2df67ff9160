"""The generated history table (``synth.history``): valid under the contract, its as-of counts equal the
export on each suspect's first case, and it holds rows recorded after the assessment (which must
shape nothing); ``stalkrisk synth`` writes it beside the caseload."""

from __future__ import annotations

import pandas as pd

from stalkrisk.cli import main
from stalkrisk.data import contract, readers
from stalkrisk.features.history_asof import with_history
from stalkrisk.synth import generate
from stalkrisk.synth.history import make_history


def test_history_counts_as_of_the_first_case_equal_the_export():
    cases = generate(1500, seed=4).cases
    read = readers.normalise(make_history(cases, 4).astype(str), contract.HISTORY)
    assert read.problems.empty and set(read.frame["offence"]) <= set(contract.OFFENCES)
    built = with_history(cases, read.frame)
    first = cases.sort_values("assessment_date", kind="stable").drop_duplicates("suspect_id").index
    for column in ("suspect_prior_stalking", "suspect_prior_violence"):
        exported = cases.loc[first, column].fillna(0).astype(int)
        assert (built.loc[first, column].astype(int) == exported).all()
    assert built["suspect_prior_stalking"].sum() >= cases["suspect_prior_stalking"].fillna(0).sum() * 0.9
    earliest = cases.groupby("suspect_id")["assessment_date"].min()
    ends = read.frame["suspect_id"].map(earliest) + pd.Timedelta(days=1)
    assert (read.frame["recorded_at"].dt.tz_localize(None) > ends).sum() > 50  # rows recorded later


def test_the_synth_command_writes_a_history_that_validates(tmp_path, capsys):
    assert main(["synth", "--cases", "300", "--seed", "2", "--out", str(tmp_path)]) == 0
    assert "history:" in capsys.readouterr().out
    assert main(["validate", "--cases", str(tmp_path / "cases.csv"), "--events", str(tmp_path / "events.csv"),
                 "--history", str(tmp_path / "history.csv")]) == 0
    assert "history: " in capsys.readouterr().out and len(pd.read_csv(tmp_path / "history.csv")) > 100

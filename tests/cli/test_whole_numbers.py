"""The whole-number options: one parser, a minimum, and 'none' where unbounded is allowed."""

from __future__ import annotations

import argparse

import pytest
from hypothesis import given, strategies as st

from stalkrisk.cli.commands import build_parser, whole_number

BASE = ["score", "--cases", "c.csv", "--events", "e.csv", "--model", "m", "--out", "o"]


@given(st.integers(-1000, 1000))
def test_a_number_at_or_over_the_minimum_is_kept_and_under_it_refused(n):
    parse = whole_number(3)
    if n >= 3:
        assert parse(str(n)) == n
    else:
        with pytest.raises(argparse.ArgumentTypeError, match=f"at least 3 \\(got {n}\\)"):
            parse(str(n))


def test_unbounded_words_only_where_allowed():
    assert whole_number(0, unbounded=("none", "all"))(" None ") is None
    with pytest.raises(argparse.ArgumentTypeError, match="not a whole number: 'none'"):
        whole_number(1)("none")
    with pytest.raises(argparse.ArgumentTypeError, match="or 'none' / 'all'"):
        whole_number(0, unbounded=("none", "all"))("many")


@pytest.mark.parametrize("argv, expected", [
    (["--review-cap", "none"], ("review_cap", None)),
    (["--review-cap", "0"], ("review_cap", 0)),
    (["--chunk-size", "5000"], ("chunk_size", 5000)),
])
def test_score_options_parse(argv, expected):
    args = build_parser().parse_args(BASE + argv)
    assert getattr(args, expected[0]) == expected[1]


@pytest.mark.parametrize("argv, message", [
    (["--review-cap", "-1"], "must be at least 0 (got -1)"),
    (["--chunk-size", "0"], "must be at least 1 (got 0)"),
    (["--chunk-size", "all"], "not a whole number: 'all'"),
])
def test_score_options_refused_in_one_line_with_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(BASE + argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err

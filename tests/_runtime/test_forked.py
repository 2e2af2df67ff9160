"""A call in a forked child: its result or its exception comes back; a stopped child stops."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stalkrisk._runtime.forked import ChildError, in_child
from stalkrisk.data.readers import InputError


def _child_pid_and_sum(values: np.ndarray) -> tuple[int, float]:
    return os.getpid(), float(values.sum())


def test_the_child_reads_the_parents_array_and_sends_back_the_result():
    values = np.arange(1_000_000, dtype=np.float64)
    pid, total = in_child(_child_pid_and_sum, values).result()
    assert pid != os.getpid()  # it really ran elsewhere
    assert total == 499999500000.0  # sum of 0 .. 999,999, by hand: n (n - 1) / 2


def _scribble(values: np.ndarray) -> float:
    values[:] = -1.0
    return float(values.sum())


def test_what_the_child_writes_stays_in_the_child():
    values = np.ones(10)
    assert in_child(_scribble, values).result() == -10.0
    assert values.tolist() == [1.0] * 10


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(-10**6, 10**6), max_size=50), st.integers(-5, 5))
def test_the_result_is_the_call_made_here(xs, k):
    assert in_child(sorted, [x * k for x in xs], reverse=k < 0).result() == sorted([x * k for x in xs],
                                                                                   reverse=k < 0)


def _fail_with_input_error(path: str) -> None:
    raise InputError(path, "expectation suite not found", column="case_id")


def test_an_input_error_comes_back_whole_with_the_childs_traceback():
    with pytest.raises(InputError) as caught:
        in_child(_fail_with_input_error, "/x/cases.json").result()
    e = caught.value
    assert str(e) == "cases.json: expectation suite not found"
    assert (str(e.path), e.message, e.column) == ("/x/cases.json", "expectation suite not found", "case_id")
    assert "raised in stalkrisk-_fail_with_input_error" in "".join(e.__notes__)
    assert "_fail_with_input_error" in e.__notes__[0].split("\n", 1)[1]  # the child's own traceback


def _die() -> None:
    os._exit(3)


def test_a_child_that_dies_is_reported_with_its_exit_code():
    with pytest.raises(ChildError, match=r"died \(exit code 3\)"):
        in_child(_die).result()


def _unpicklable():
    return lambda: None


def test_a_result_that_cannot_be_sent_back_is_an_error_not_a_hang():
    with pytest.raises(ChildError, match="could not be sent back"):
        in_child(_unpicklable).result()


def test_leaving_the_block_stops_a_child_still_running():
    started = time.perf_counter()
    with in_child(time.sleep, 60) as pending:
        process = pending._process
        assert process.is_alive()
    assert not process.is_alive()
    assert time.perf_counter() - started < 10


def _write_after(path: str, seconds: float) -> str:
    time.sleep(seconds)
    with open(path, "w") as f:
        f.write("done")
    return path


def test_settle_waits_for_the_child_to_finish_its_work_and_swallows_its_error(tmp_path):
    target = tmp_path / "made-by-child"
    pending = in_child(_write_after, str(target), 0.5)
    pending.settle()
    assert target.read_text() == "done"  # not stopped half way
    assert pending.result() == str(target)  # asked twice: the same answer

    failing = in_child(_fail_with_input_error, "/x/events.json")
    failing.settle()  # no exception here
    with pytest.raises(InputError):
        failing.result()

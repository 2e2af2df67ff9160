"""The generated caseloads the generator's tests read, made once for the whole session."""

from __future__ import annotations

import pytest

from stalkrisk.synth import caseload as synth


@pytest.fixture(scope="session")
def small() -> synth.Caseload:
    return synth.generate(2_000, seed=7)


@pytest.fixture(scope="session")
def large() -> synth.Caseload:
    return synth.generate(20_000, seed=11)

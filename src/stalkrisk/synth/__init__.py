"""Synthetic caseloads calibrated to public figures, with the truth the generator used."""

from stalkrisk.synth.caseload import MECHANISM_GROUP_WEIGHTS, Caseload, generate
from stalkrisk.synth.files import write_caseload

__all__ = ["MECHANISM_GROUP_WEIGHTS", "Caseload", "generate", "write_caseload"]

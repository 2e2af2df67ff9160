"""stalkrisk: screen stalking caseloads for cases where an SPO should be considered."""

__version__ = "0.1.0"

"""Audit: reproduce a run, and inspect one case, fairness, drift and the transparency record."""
